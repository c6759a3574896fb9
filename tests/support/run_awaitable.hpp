// Runs a coroutine to completion on a fresh io_context, failing (not hanging) past a deadline.
#pragma once

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "net/async.hpp"

namespace casebridge::test {

/// Thrown when the coroutine has not finished by its deadline.
class deadline_exceeded : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Runs the awaitable that `make(executor)` returns; returns its result or rethrows its
/// exception. Throws deadline_exceeded if it has not finished within `limit`.
template <typename Factory>
auto run_awaitable_with(Factory make, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    net::io_context ctx;
    auto future = net::co_spawn(ctx, make(ctx.get_executor()), net::use_future);
    ctx.run_for(limit);
    if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        throw deadline_exceeded(
            "coroutine did not finish within " + std::to_string(limit.count()) + " ms"
        );
    }
    return future.get();
}

/// As run_awaitable_with, for an awaitable that needs no executor of its own.
template <typename T>
T run_awaitable(net::awaitable<T> op, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    net::io_context ctx;
    auto future = net::co_spawn(ctx, std::move(op), net::use_future);
    ctx.run_for(limit);
    if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        throw deadline_exceeded(
            "coroutine did not finish within " + std::to_string(limit.count()) + " ms"
        );
    }
    return future.get();
}

/// Runs `op` on `ctx`, the context a fixture's adapters, servers and clients already use,
/// until it finishes; returns its result or rethrows its exception. Throws deadline_exceeded
/// when `ctx` has had nothing to do for `idle` while `op` is unfinished (a hang), instead of
/// blocking on the result.
template <typename T>
T run_on(
    net::io_context& ctx,
    net::awaitable<T> op,
    std::chrono::milliseconds idle = std::chrono::seconds(20)
) {
    auto future = net::co_spawn(ctx, std::move(op), net::use_future);
    ctx.restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        if (ctx.run_one_for(idle) == 0) {
            throw deadline_exceeded(
                "the operation made no progress for " + std::to_string(idle.count()) + " ms"
            );
        }
    }
    return future.get();
}

}  // namespace casebridge::test
