// http_client: HTTPS (Beast over OpenSSL) for every adapter. Verifies certificates and host
// names, reuses keep-alive connections per host, limits connections and request rate per
// host, enforces deadlines and body limits, and never logs or reports a body.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "core/clock.hpp"
#include "net/async.hpp"
#include "net/remote_error.hpp"

namespace casebridge {

class duration_histogram;

/// TLS settings of one client. Verification of the chain and of the host name is always on.
struct tls_settings {
    std::filesystem::path ca_file;           ///< PEM bundle; empty: the system trust store.
    std::filesystem::path client_cert_file;  ///< PEM chain for mTLS; empty: no client cert.
    std::filesystem::path client_key_file;   ///< PEM key for mTLS (with client_cert_file).
};

struct http_client_settings {
    tls_settings tls;
    /// Allows `http://` URLs, and only to loopback hosts (tests, the local sandbox).
    bool allow_plain_http_loopback = false;
    std::size_t max_connections_per_host = 20;          ///< Primero's stock nginx `limit_conn 20`.
    double max_requests_per_second = 50;                ///< Primero's stock nginx `rate=50r/s`.
    std::size_t max_idle_per_host = 8;                  ///< Keep-alive connections kept for reuse.
    std::chrono::milliseconds idle_timeout{30'000};     ///< Older idle connections are closed.
    std::chrono::milliseconds connect_timeout{10'000};  ///< Resolve + TCP connect + TLS.
    std::chrono::milliseconds request_timeout{60'000};  ///< Write request + read response.
    std::size_t max_body_bytes = 64 * 1024 * 1024;      ///< Response body (after gunzip).
    bool accept_gzip = true;                            ///< Send Accept-Encoding: gzip.
    std::string user_agent = "casebridge";
    /// When set, every send() is observed here: from the call until the response is read or
    /// the request failed, waits for a connection slot and the rate limit included. Not
    /// owned; must outlive the client.
    duration_histogram* request_durations = nullptr;
};

struct http_header {
    std::string name;
    std::string value;
};

struct http_request {
    std::string method = "GET";
    std::string url;  ///< Absolute: https://host[:port]/path?query
    std::vector<http_header> headers;
    std::string body;  ///< Sent with Content-Length when not empty (or for POST/PATCH/PUT).
};

struct http_response {
    unsigned status = 0;
    std::vector<http_header> headers;  ///< Names lower-cased, in arrival order.
    std::string body;                  ///< Decoded (gzip removed).
    std::optional<std::chrono::seconds> retry_after;

    /// The first header named `name` (lower case).
    std::optional<std::string_view> header(std::string_view name) const;
    /// Every header named `name` (lower case), e.g. set-cookie.
    std::vector<std::string_view> headers_named(std::string_view name) const;
};

/// The errc for an HTTP status, or nullopt for success (1xx-3xx). 429 and 503 with
/// Retry-After → rate_limited; 408, 502, 503, 504 → remote_unavailable; 401/403 → auth_failed;
/// 404 → not_found; 409 → conflict; other 4xx and 5xx → remote_rejected.
std::optional<errc> status_errc(unsigned status, bool has_retry_after);

/// A remote_error for a non-success response: code, status and Retry-After; no body text.
remote_error error_from_status(const http_response& response);

/// Parses a Retry-After value: delta-seconds or an HTTP-date (relative to `now`, never < 0).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, time_point now);

/// Inflates a gzip body, refusing output over `limit` bytes.
std::optional<std::string> gunzip(std::string_view data, std::size_t limit);

/// Counters, for tests and metrics.
struct http_client_stats {
    std::size_t requests = 0;
    std::size_t connections_opened = 0;
    std::size_t max_concurrent_connections = 0;  ///< Highest open count on any one host.
};

class http_client {
public:
    /// Builds the client and its TLS context. Errors (remote_error.code): invalid_config for
    /// unreadable CA/cert/key files or a key that does not match the certificate.
    static remote_result<std::unique_ptr<http_client>> create(
        net::any_io_executor executor, http_client_settings settings, const clock_source& clock
    );
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    /// Sends one request and reads the whole response; any HTTP status is a response.
    /// Errors: invalid_config (bad URL, plain http not allowed), remote_unavailable
    /// (resolve/connect/reset/timeout), tls_failed (detail names the verification reason),
    /// too_large (body limit), bad_payload (malformed HTTP or gzip). Must run on the client's
    /// executor; not safe to use after the client is destroyed.
    awaitable<remote_result<http_response>> send(http_request request);

    http_client_stats stats() const;

    struct impl;

private:
    explicit http_client(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge
