// A small HTTP/1.1 server for casebridge's own APIs (the admin API, later the hub): its own
// thread, a cap on concurrent connections, deadlines on reading the header and the body and on
// idle keep-alive connections, an admission step that sees the header before any body is read
// (authentication, method, per-route body limit), 431 for an oversized header, 413 for an
// oversized body, asynchronous handlers, and nothing kept per request once it is answered.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/async.hpp"

namespace casebridge::httpd {

/// A request as received. Header names are lower-cased; the body is empty in admit().
struct request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;

    /// The header's value, or empty.
    std::string header(const std::string& lower_case_name) const;
};

struct response {
    unsigned status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string content_type = "application/json; charset=utf-8";
};

/// What admit() decides from the header alone.
struct admission {
    std::optional<response> refuse;  ///< Answered at once; the body is never read.
    std::size_t body_limit = 0;      ///< Larger bodies get 413 and the connection is closed.
};

struct service {
    /// Runs after the header is read, before any body byte: authenticate, check the method,
    /// choose the body limit. Called on the server's thread; must not block.
    std::function<admission(const request& head)> admit;
    /// Answers an admitted request, on the server's thread. It may wait (co_await) on other
    /// threads' work without blocking other connections.
    std::function<awaitable<response>(request req)> handle;
};

struct server_settings {
    std::size_t max_connections = 64;  ///< Further connections are closed at once.
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  ///< Whole header.
    std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};    ///< Whole body.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};    ///< Between requests.
    std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
    std::size_t max_header_bytes = 16 * 1024;
};

class server {
public:
    /// Listens on `address:port` (port 0: chosen by the system) and serves on its own thread.
    /// Throws on a bad address or a port in use (startup).
    server(const std::string& address, unsigned short port, service svc, server_settings s = {});
    /// Stops accepting, closes every connection and joins the thread; handlers still waiting
    /// are abandoned (their work elsewhere must not depend on them).
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    unsigned short port() const noexcept { return port_; }
    /// http://ADDRESS:PORT (IPv6 in brackets).
    std::string base_url() const;
    /// Connections open now (for tests and metrics).
    std::size_t open_connections() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
    std::string address_;
    unsigned short port_ = 0;
};

}  // namespace casebridge::httpd
