// Asio/Beast aliases and completion tokens shared by every coroutine in casebridge.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

// Declared here so that the alias below needs no Beast HTTP header: a file that includes this
// one without the precompiled header compiles too.
namespace boost::beast::http {}

namespace casebridge {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

/// Completion token for I/O whose failure is expected: `auto [ec, n] = co_await op(use_nothrow)`.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

/// A TCP stream whose operations default to `use_nothrow` (the Beast 1.81 flex pattern).
using tcp_stream = net::as_tuple_t<net::use_awaitable_t<>>::as_default_on_t<beast::tcp_stream>;

template <typename T = void>
using awaitable = net::awaitable<T>;
}  // namespace casebridge
