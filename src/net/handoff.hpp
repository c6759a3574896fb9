// A result handed from one thread (an engine's io_context) to a coroutine waiting on another
// (the admin server's), without either blocking and without either outliving the other: the
// shared state holds no executor, so a result set after the waiter is gone is simply dropped.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "net/async.hpp"

namespace casebridge {

template <typename T>
class handoff {
public:
    /// Called once, from any thread.
    void set(T value) {
        std::lock_guard lock(mutex_);
        value_ = std::move(value);
    }

    /// Waits (polling every `tick`, on the caller's executor) until set() was called. Ends
    /// with the caller's io_context: a stopped server abandons the wait.
    static awaitable<T> wait(
        std::shared_ptr<handoff> self,
        std::chrono::milliseconds tick = std::chrono::milliseconds(20)
    ) {
        net::steady_timer timer(co_await net::this_coro::executor);
        for (;;) {
            {
                std::lock_guard lock(self->mutex_);
                if (self->value_) {
                    co_return std::move(*self->value_);
                }
            }
            timer.expires_after(tick);
            co_await timer.async_wait(use_nothrow);
        }
    }

private:
    std::mutex mutex_;
    std::optional<T> value_;
};

}  // namespace casebridge
