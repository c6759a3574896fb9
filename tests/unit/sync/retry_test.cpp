// The one retry loop (sync/retry.hpp): the backoff it waits, when it gives up, and that the
// caller's wait can end it. No HTTP, no store: scripted results.
#include "sync/retry.hpp"

#include <deque>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/run_awaitable.hpp"

namespace casebridge::sync {
namespace {

using namespace std::chrono_literals;

retry_policy policy() {
    retry_policy p;
    p.max_attempts = 4;
    p.initial = 100ms;
    p.max = 1s;
    p.max_retry_after = 30s;
    return p;
}

remote_error transient(std::optional<std::chrono::seconds> retry_after = std::nullopt) {
    auto e = make_remote_error(errc::remote_unavailable, "503", 503);
    e.retry_after = retry_after;
    return e;
}

TEST(retry, backoff_doubles_up_to_its_cap_with_jitter_between_half_and_whole) {
    const auto p = policy();
    EXPECT_EQ(backoff_delay(p, 1, std::nullopt, 1.0), 100ms);
    EXPECT_EQ(backoff_delay(p, 2, std::nullopt, 1.0), 200ms);
    EXPECT_EQ(backoff_delay(p, 3, std::nullopt, 1.0), 400ms);
    EXPECT_EQ(backoff_delay(p, 5, std::nullopt, 1.0), 1s);   // capped
    EXPECT_EQ(backoff_delay(p, 40, std::nullopt, 1.0), 1s);  // no overflow
    EXPECT_EQ(backoff_delay(p, 3, std::nullopt, 0.0), 200ms);
    EXPECT_EQ(backoff_delay(p, 3, std::nullopt, -3.0), 200ms);  // jitter clamped
    EXPECT_EQ(backoff_delay(p, 1, 7s, 0.5), 7s);                // Retry-After is a floor
    EXPECT_EQ(backoff_delay(p, 5, std::chrono::seconds(0), 1.0), 1s);
}

TEST(retry, retries_only_transient_errors_within_attempts_and_retry_after) {
    const auto p = policy();
    EXPECT_TRUE(may_retry(p, 1, transient()));
    EXPECT_TRUE(may_retry(p, 3, transient()));
    EXPECT_FALSE(may_retry(p, 4, transient()));  // the fourth attempt was the last
    EXPECT_FALSE(may_retry(p, 1, make_remote_error(errc::remote_rejected, "422", 422)));
    EXPECT_FALSE(may_retry(p, 1, make_remote_error(errc::auth_failed, "401", 401)));
    EXPECT_TRUE(may_retry(p, 1, transient(30s)));
    EXPECT_FALSE(may_retry(p, 1, transient(31s)));  // longer than a run waits
}

struct script {
    std::deque<remote_result<int>> results;
    std::vector<int> attempts;
    std::vector<int> waits;
    bool keep_going = true;

    awaitable<remote_result<int>> run(const retry_policy& p) {
        co_return co_await with_retries<int>(
            p,
            [this](int attempt) -> awaitable<remote_result<int>> {
                attempts.push_back(attempt);
                auto r = results.front();
                results.pop_front();
                co_return r;
            },
            [this](int attempt, const remote_error&) -> awaitable<bool> {
                waits.push_back(attempt);
                co_return keep_going;
            }
        );
    }
};

TEST(retry, the_loop_stops_at_success_a_permanent_error_the_last_attempt_or_a_stop) {
    const auto p = policy();
    {
        script s;
        s.results = {transient(), transient(), 42};
        const auto r = test::run_awaitable(s.run(p));
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, 42);
        EXPECT_EQ(s.attempts, (std::vector<int>{1, 2, 3}));
        EXPECT_EQ(s.waits, (std::vector<int>{1, 2}));
    }
    {
        script s;
        s.results = {transient(), make_remote_error(errc::remote_rejected, "422", 422), 7};
        const auto r = test::run_awaitable(s.run(p));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().http_status, 422u);
        EXPECT_EQ(s.attempts.size(), 2u);
    }
    {
        script s;
        s.results = {transient(), transient(), transient(), transient(), 1};
        const auto r = test::run_awaitable(s.run(p));
        ASSERT_FALSE(r);
        EXPECT_EQ(s.attempts.size(), 4u);  // max_attempts, the first included
        EXPECT_EQ(s.waits.size(), 3u);
    }
    {
        script s;
        s.keep_going = false;  // the wait was cut short: the last error stands
        s.results = {transient(), 1};
        const auto r = test::run_awaitable(s.run(p));
        ASSERT_FALSE(r);
        EXPECT_EQ(s.attempts.size(), 1u);
    }
    {
        script s;
        s.results = {transient(std::chrono::minutes(10)), 1};
        const auto r = test::run_awaitable(s.run(p));
        ASSERT_FALSE(r);  // a Retry-After of ten minutes is not waited for within a run
        EXPECT_TRUE(s.waits.empty());
    }
}

}  // namespace
}  // namespace casebridge::sync
