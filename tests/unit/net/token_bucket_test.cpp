// The request-rate limit (net/token_bucket.hpp) on a virtual clock: no sleeps, no wall-clock
// bounds.
#include "net/token_bucket.hpp"

#include <gtest/gtest.h>

namespace casebridge::net_limits {
namespace {

using namespace std::chrono_literals;
using clock_t_ = std::chrono::steady_clock;

/// Asks for a token at `now` until one is given, moving the virtual clock by each wait;
/// returns when the token was taken.
clock_t_::time_point take_at(token_bucket& b, clock_t_::time_point now) {
    for (int i = 0; i < 1000; ++i) {
        const auto wait = b.take(now);
        if (wait == clock_t_::duration::zero()) {
            return now;
        }
        EXPECT_GT(wait, clock_t_::duration::zero());
        now += wait;
    }
    ADD_FAILURE() << "no token after 1000 waits";
    return now;
}

TEST(token_bucket, a_burst_of_rate_tokens_then_one_every_period) {
    token_bucket b(20);  // burst 20, then one every 50 ms
    const clock_t_::time_point t0{};
    auto now = t0 + 1h;
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(b.take(now), clock_t_::duration::zero()) << i;
    }
    const auto wait = b.take(now);
    EXPECT_GE(wait, 49ms);
    EXPECT_LE(wait, 51ms);
    // Thirty requests at once take 10 × 50 ms after the burst.
    token_bucket c(20);
    const auto start = t0 + 1h;
    auto at = start;
    for (int i = 0; i < 30; ++i) {
        at = take_at(c, at);
    }
    EXPECT_GE(at - start, 499ms);
    EXPECT_LE(at - start, 501ms);
}

TEST(token_bucket, an_idle_bucket_refills_up_to_its_burst_only) {
    token_bucket b(5);
    auto now = clock_t_::time_point{} + 1h;
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(b.take(now), clock_t_::duration::zero());
    }
    now += 1h;  // a long idle time gives back five tokens, not 18,000
    int taken = 0;
    while (b.take(now) == clock_t_::duration::zero()) {
        ++taken;
    }
    EXPECT_EQ(taken, 5);
}

TEST(token_bucket, a_rate_below_one_still_gives_one_token_at_a_time) {
    token_bucket b(0.5);  // one every two seconds, burst one
    auto now = clock_t_::time_point{} + 1h;
    EXPECT_EQ(b.take(now), clock_t_::duration::zero());
    const auto wait = b.take(now);
    EXPECT_GE(wait, 1999ms);
    EXPECT_LE(wait, 2001ms);
    EXPECT_EQ(b.take(now + wait), clock_t_::duration::zero());
}

TEST(token_bucket, no_rate_means_no_limit_and_time_going_backwards_gives_nothing) {
    token_bucket none(0);
    const auto now = clock_t_::time_point{} + 1h;
    for (int i = 0; i < 10000; ++i) {
        ASSERT_EQ(none.take(now), clock_t_::duration::zero());
    }
    token_bucket b(1);
    ASSERT_EQ(b.take(now), clock_t_::duration::zero());
    EXPECT_GT(b.take(now - 10s), clock_t_::duration::zero());
    EXPECT_GT(b.take(now), clock_t_::duration::zero());
}

}  // namespace
}  // namespace casebridge::net_limits
