// The store on its own thread: the io_context thread never blocks on SQLite or fsync.
#pragma once

#include <future>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/thread_name.hpp"
#include "net/async.hpp"
#include "store/store.hpp"

namespace casebridge::store {

/// Owns a store and the one thread that uses its connection. Callers `co_await run(f)`: `f`
/// runs on the store thread and the caller resumes on its own executor (STYLE.md §6.4 rule 3).
class store_thread {
public:
    /// Starts the thread; `s` is used only on it from now on.
    explicit store_thread(store s)
        : store_(std::move(s)), guard_(net::make_work_guard(ctx_)), thread_([this] {
              // Named, so that `top -H` and /proc/PID/task/*/comm tell it from the run's thread.
              name_this_thread("cb-store");
              ctx_.run();
          }) {}
    store_thread(const store_thread&) = delete;
    store_thread& operator=(const store_thread&) = delete;
    /// Finishes the work already posted, then joins the thread.
    ~store_thread() {
        guard_.reset();
        thread_.join();
    }

    /// The store thread's executor.
    net::io_context::executor_type executor() noexcept { return ctx_.get_executor(); }
    /// The store thread's id (tests).
    std::thread::id thread_id() const noexcept { return thread_.get_id(); }

    /// Runs `f(store&)` on the store thread and returns its value. `f` must not block on the
    /// caller's thread and must not capture references that may dangle. Not cancellable once
    /// started: the SQLite transaction it runs either commits or rolls back.
    template <typename F>
    awaitable<std::invoke_result_t<F&, store&>> run(F f) {
        using value_type = std::invoke_result_t<F&, store&>;
        co_return co_await net::co_spawn(
            ctx_.get_executor(), call<value_type, F>(this, std::move(f)), net::use_awaitable
        );
    }

    /// Runs `f(store&)` on the store thread and blocks until it returns. For threads that are
    /// not coroutines (the admin API's server thread); never call it on the store thread.
    template <typename F>
    std::invoke_result_t<F&, store&> call(F f) {
        using value_type = std::invoke_result_t<F&, store&>;
        std::promise<value_type> done;
        auto fut = done.get_future();
        net::post(ctx_, [this, &f, &done] { done.set_value(f(store_)); });
        return fut.get();
    }

private:
    template <typename R, typename F>
    static awaitable<R> call(store_thread* self, F f) {
        co_return f(self->store_);
    }

    store store_;
    net::io_context ctx_;
    net::executor_work_guard<net::io_context::executor_type> guard_;
    std::thread thread_;
};

}  // namespace casebridge::store
