// Stopping a run (net/stop.hpp): waits on the injected clock that a stop ends, and requests in
// flight that a stop cancels, over plain HTTP and TLS on loopback, with the client usable after.
#include "net/stop.hpp"

#include <chrono>
#include <stop_token>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "net/http_client.hpp"
#include "support/fake_http_server.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"

namespace casebridge {
namespace {

using namespace std::chrono_literals;
using test::fake_http_server;
using test::fault;
using test::reply;

TEST(wait_unless_stopped, a_wait_on_a_clock_that_moves_on_waits_takes_the_clock_time_only) {
    manual_clock clock(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1));
    clock.move_on_waits();
    const auto before = clock.steady_now();
    const auto wall = clock.now();
    const auto started = std::chrono::steady_clock::now();
    const bool full = test::run_awaitable(wait_unless_stopped(clock, 5min, std::stop_token{}));
    EXPECT_TRUE(full);
    EXPECT_EQ(clock.steady_now() - before, 5min);
    EXPECT_EQ(clock.now() - wall, 5min);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(wait_unless_stopped, a_manual_clock_not_told_to_move_waits_in_real_time_and_stays) {
    manual_clock clock(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1));
    const auto before = clock.steady_now();
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(test::run_awaitable(wait_unless_stopped(clock, 50ms, std::stop_token{})));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
    EXPECT_EQ(clock.steady_now(), before);
}

TEST(wait_unless_stopped, a_stop_ends_a_long_wait_at_once) {
    std::stop_source stop;
    std::thread stopper([&] {
        std::this_thread::sleep_for(100ms);
        stop.request_stop();
    });
    const auto started = std::chrono::steady_clock::now();
    const bool full = test::run_awaitable(
        wait_unless_stopped(system_clock_source::instance(), 10min, stop.get_token())
    );
    stopper.join();
    EXPECT_FALSE(full);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST(wait_unless_stopped, an_already_stopped_token_does_not_wait) {
    std::stop_source stop;
    stop.request_stop();
    manual_clock clock(std::chrono::sys_days(std::chrono::year(2026) / 1 / 1));
    clock.move_on_waits();
    const auto before = clock.steady_now();
    EXPECT_FALSE(test::run_awaitable(wait_unless_stopped(clock, 1h, stop.get_token())));
    EXPECT_EQ(clock.steady_now(), before) << "no time passes for a wait that did not happen";
}

http_client_settings settings() {
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    s.max_requests_per_second = 0;
    s.connect_timeout = 5s;
    s.request_timeout = 120s;  // far past the test: only the stop can end the request
    return s;
}

struct outcome {
    remote_result<http_response> held;
    remote_result<http_response> after;
    std::chrono::steady_clock::duration took{};
};

// Sends one request that the server holds, stops it after `stop_after`, then sends another
// with the same client (which the server answers).
outcome stop_a_held_request(
    fake_http_server& server, http_client_settings s, std::chrono::milliseconds stop_after
) {
    return test::run_awaitable_with(
        [&](net::any_io_executor ex) -> awaitable<outcome> {
            auto client = http_client::create(ex, s, system_clock_source::instance());
            EXPECT_TRUE(client) << client.error().describe();
            std::stop_source stop;
            std::thread stopper([&] {
                while (server.request_count() == 0) {
                    std::this_thread::sleep_for(5ms);
                }
                std::this_thread::sleep_for(stop_after);
                stop.request_stop();
            });
            http_request req;
            req.url = server.base_url() + "/held";
            const auto t0 = std::chrono::steady_clock::now();
            // Named results, no co_await in an aggregate's braces (GCC 12 miscompiles that).
            auto held = co_await stoppable(stop.get_token(), (*client)->send(req));
            const auto took = std::chrono::steady_clock::now() - t0;
            stopper.join();
            req.url = server.base_url() + "/after";
            auto after = co_await stoppable(std::stop_token{}, (*client)->send(req));
            co_return outcome{std::move(held), std::move(after), took};
        },
        60s
    );
}

TEST(stoppable, a_stop_cancels_a_request_in_flight_and_the_client_goes_on) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    server.inject(fault::delayed(5min), 1);
    const auto o = stop_a_held_request(server, settings(), 100ms);
    ASSERT_FALSE(o.held) << "the held request was answered";
    EXPECT_EQ(o.held.error().code, make_error_code(errc::cancelled)) << o.held.error().describe();
    EXPECT_FALSE(o.held.error().transient()) << "a cancelled request is never retried";
    EXPECT_LT(o.took, 10s);
    ASSERT_TRUE(o.after) << o.after.error().describe();
    EXPECT_EQ(o.after->status, 200u);
    EXPECT_EQ(server.connection_count(), 2u) << "the cancelled connection was reused";
}

TEST(stoppable, a_stop_cancels_a_request_in_flight_over_tls) {
    test::temp_dir dir;
    test::test_ca ca(dir.path(), "stop-root");
    const auto leaf = ca.issue({}, "server");
    fake_http_server server(
        [](const test::recorded_request&) {
            return reply{200, "{}"};
        },
        test::fake_tls{leaf.cert, leaf.key, {}}
    );
    server.inject(fault::delayed(5min), 1);
    auto s = settings();
    s.allow_plain_http_loopback = false;
    s.tls.ca_file = ca.cert_file();
    const auto o = stop_a_held_request(server, s, 100ms);
    ASSERT_FALSE(o.held);
    EXPECT_EQ(o.held.error().code, make_error_code(errc::cancelled)) << o.held.error().describe();
    EXPECT_LT(o.took, 10s);
    ASSERT_TRUE(o.after) << o.after.error().describe();
    EXPECT_EQ(o.after->status, 200u);
}

TEST(stoppable, a_request_without_a_stop_is_answered_as_usual) {
    fake_http_server server([](const test::recorded_request&) { return reply{201, "{\"a\":1}"}; });
    server.inject(fault::delayed(200ms), 1);
    std::stop_source never;
    auto r = test::run_awaitable_with(
        [&](net::any_io_executor ex) -> awaitable<remote_result<http_response>> {
            auto client = http_client::create(ex, settings(), system_clock_source::instance());
            http_request req;
            req.url = server.base_url() + "/x";
            co_return co_await stoppable(never.get_token(), (*client)->send(req));
        }
    );
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->status, 201u);
    EXPECT_EQ(r->body, "{\"a\":1}");
}

}  // namespace
}  // namespace casebridge
