#include "support/run_awaitable.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace casebridge::test {
namespace {

net::awaitable<int> sleepy(std::chrono::milliseconds d) {
    net::steady_timer t(co_await net::this_coro::executor, d);
    co_await t.async_wait(net::use_awaitable);
    co_return 7;
}

net::awaitable<void> throws() {
    co_await sleepy(std::chrono::milliseconds(1));
    throw std::logic_error("bug");
}

TEST(run_awaitable, returns_the_result) {
    EXPECT_EQ(run_awaitable(sleepy(std::chrono::milliseconds(5))), 7);
}

TEST(run_awaitable, a_hung_coroutine_fails_instead_of_hanging) {
    EXPECT_THROW(
        run_awaitable(sleepy(std::chrono::hours(1)), std::chrono::milliseconds(50)),
        deadline_exceeded
    );
}

TEST(run_awaitable, rethrows_exceptions) {
    EXPECT_THROW(run_awaitable(throws()), std::logic_error);
}

TEST(run_on, runs_on_the_given_context_and_returns_the_result) {
    net::io_context ctx;
    EXPECT_EQ(run_on(ctx, sleepy(std::chrono::milliseconds(5))), 7);
    // Again on the same context (fixtures call it many times).
    EXPECT_EQ(run_on(ctx, sleepy(std::chrono::milliseconds(1))), 7);
}

TEST(run_on, an_idle_hang_fails_instead_of_hanging) {
    net::io_context ctx;
    EXPECT_THROW(
        run_on(ctx, sleepy(std::chrono::hours(1)), std::chrono::milliseconds(50)), deadline_exceeded
    );
}

TEST(run_on, rethrows_exceptions) {
    net::io_context ctx;
    EXPECT_THROW(run_on(ctx, throws()), std::logic_error);
}

TEST(temp_dir, is_created_and_removed) {
    std::filesystem::path p;
    {
        temp_dir d;
        p = d.path();
        const auto f = d.write("sub/file.txt", "x");
        EXPECT_TRUE(std::filesystem::exists(f));
        EXPECT_EQ(
            std::filesystem::status(f).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none
        );
    }
    EXPECT_FALSE(std::filesystem::exists(p));
}

}  // namespace
}  // namespace casebridge::test
