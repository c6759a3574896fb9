// Stopping a run: a std::stop_token (one per flow run, stopped when the daemon stops or the
// flow is paused) ends the run's waits and its requests in flight, instead of letting them run
// to their deadlines.
//
// - wait_unless_stopped: a backoff or Retry-After wait on the injected clock that ends when
//   the token is stopped.
// - stoppable: runs one operation (an adapter call) in a child coroutine whose Asio
//   cancellation slot is emitted when the token is stopped; the HTTP client ends what it has
//   in hand with errc::cancelled, closing the connection (docs/architecture.md, "Stopping").
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include "core/clock.hpp"
#include "net/async.hpp"

namespace casebridge {

/// While the returned callback lives, a stop of `stop` posts `act(object)` to `ex` (the
/// object's executor: Asio objects are touched on their own thread). The object is held
/// weakly, so a post that runs after the awaiting frame is gone does nothing.
template <typename Object, typename Action>
[[nodiscard]] auto post_on_stop(
    std::stop_token stop, net::any_io_executor ex, const std::shared_ptr<Object>& object, Action act
) {
    return std::stop_callback(stop, [ex, weak = std::weak_ptr(object), act] {
        net::post(ex, [weak, act] {
            if (auto o = weak.lock()) {
                act(*o);
            }
        });
    });
}

/// Waits `d` as `clock` counts it (clock_source::wait_time) and returns true; returns false
/// at once when `stop` is or becomes stopped. Runs on the calling coroutine's executor.
awaitable<bool> wait_unless_stopped(
    const clock_source& clock, std::chrono::nanoseconds d, std::stop_token stop
);

/// Awaits `op` so that stopping `stop` cancels what it is waiting for (a terminal
/// cancellation of its Asio operations). Without a stoppable token, `op` is awaited as is.
/// Operations inside see this_coro::throw_if_cancelled(false): a cancelled wait returns its
/// error code (the HTTP client turns it into errc::cancelled), it does not throw.
template <typename T>
awaitable<T> stoppable(std::stop_token stop, awaitable<T> op) {
    if (!stop.stop_possible()) {
        co_return co_await std::move(op);
    }
    auto ex = co_await net::this_coro::executor;
    auto signal = std::make_shared<net::cancellation_signal>();
    const auto on_stop = post_on_stop(stop, ex, signal, [](net::cancellation_signal& s) {
        s.emit(net::cancellation_type::terminal);
    });
    auto child = [](awaitable<T> inner) -> awaitable<T> {
        co_await net::this_coro::throw_if_cancelled(false);
        co_return co_await std::move(inner);
    };
    co_return co_await net::co_spawn(
        ex, child(std::move(op)), net::bind_cancellation_slot(signal->slot(), net::use_awaitable)
    );
}

}  // namespace casebridge
