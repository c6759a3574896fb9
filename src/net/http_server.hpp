// A small HTTP/1.1 server for casebridge's own APIs (the admin API, later the hub): its own
// thread, a cap on concurrent connections, deadlines on reading the header and the body and on
// idle keep-alive connections, an admission step that sees the header before any body is read
// (authentication, method, per-route body limit), 431 for an oversized header, 413 for an
// oversized body, asynchronous handlers, and nothing kept per request once it is answered.
// Optionally TLS (1.2 or later) from certificate and key files, with client certificates
// verified against a CA file; the verified peer's subject CN is given to admit() and handle().
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
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
    /// The subject CN of the client certificate the server verified (TLS with a client CA);
    /// empty over plain HTTP or without a client certificate.
    std::string peer_common_name;
    /// Which accepted connection carried the request (from 1, in the order accepted).
    std::size_t connection = 0;

    /// The header's value, or empty.
    std::string header(const std::string& lower_case_name) const;
};

/// How a connection ends instead of carrying a whole answer: for the sandboxes' fault
/// injection (a reset, a body cut short); casebridge's own services always answer.
enum class connection_ending {
    answer,          ///< The response, as usual.
    reset,           ///< No answer: the connection is closed with a TCP reset.
    truncated_body,  ///< The header for the whole body, half of the body, then close.
};

struct response {
    unsigned status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string content_type = "application/json; charset=utf-8";
    connection_ending ending = connection_ending::answer;
};

/// What admit() decides from the header alone.
struct admission {
    std::optional<response> refuse;  ///< Answered at once; the body is never read.
    std::size_t body_limit = 0;      ///< Larger bodies get 413 and the connection is closed.
    /// The 413 answer for a body over `body_limit`; unset: {"error":"body_too_large"}.
    std::optional<response> too_large;
};

struct service {
    /// Runs after the header is read, before any body byte: authenticate, check the method,
    /// choose the body limit. Called on the server's thread; must not block.
    std::function<admission(const request& head)> admit;
    /// Answers an admitted request, on the server's thread. It may wait (co_await) on other
    /// threads' work without blocking other connections.
    std::function<awaitable<response>(request req)> handle;
};

/// Server TLS. Certificates and keys are PEM files; the key file is a secret.
struct server_tls {
    std::filesystem::path cert_file;  ///< The server's certificate chain (leaf first).
    std::filesystem::path key_file;   ///< Its private key.
    /// When set, every client must present a certificate signed by this CA (PEM bundle);
    /// the handshake fails without one.
    std::filesystem::path client_ca_file;
};

struct server_settings {
    std::size_t max_connections = 64;  ///< Further connections are closed at once.
    std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  ///< Whole header.
    std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};    ///< Whole body.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};    ///< Between requests.
    std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
    std::size_t max_header_bytes = 16 * 1024;
    /// Set: HTTPS only (TLS 1.2 minimum); unset: plain HTTP.
    std::optional<server_tls> tls;
};

class server {
public:
    /// Listens on `address:port` (port 0: chosen by the system) and serves on its own thread.
    /// Throws on a bad address or a port in use, and std::runtime_error naming the file for
    /// an unreadable certificate, key or CA file or a key that does not match (startup).
    server(const std::string& address, unsigned short port, service svc, server_settings s = {});
    /// Stops accepting, closes every connection and joins the thread; handlers still waiting
    /// are abandoned (their work elsewhere must not depend on them).
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    unsigned short port() const noexcept { return port_; }
    /// http://ADDRESS:PORT or https://ADDRESS:PORT (IPv6 in brackets).
    std::string base_url() const;
    /// Connections open now (for tests and metrics).
    std::size_t open_connections() const;
    /// Connections accepted since the start (those refused over the cap are not counted).
    std::size_t accepted_connections() const;
    /// TLS handshakes that failed (no, an untrusted or an expired client certificate, an old
    /// protocol).
    std::size_t failed_handshakes() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
    std::string address_;
    unsigned short port_ = 0;
    bool tls_ = false;
};

}  // namespace casebridge::httpd
