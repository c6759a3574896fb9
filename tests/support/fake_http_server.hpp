// An HTTP/1.1 server on 127.0.0.1:0 for tests, built on casebridge's own (net/http_server):
// answers through a handler, records every request, and injects faults (delay, error status,
// 429 + Retry-After, reset, truncated body, malformed JSON, no answer) on request. Runs on its
// own thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace casebridge::test {

/// A request as the server received it. Header names are lower-cased.
struct recorded_request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
    std::size_t connection = 0;  ///< Which accepted connection carried it (from 1).
    std::string client_cn;       ///< TLS: the client certificate's common name, when one came.
};

/// TLS for a fake server: its certificate chain and key (tests/support/test_certs.hpp), and a
/// CA whose client certificates it requires when set.
struct fake_tls {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    std::filesystem::path client_ca_file;
};

/// What the handler answers.
struct reply {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

enum class fault_kind {
    none,
    delay,          ///< Wait `delay`, then answer normally.
    status,         ///< Answer `status` (e.g. 500, 503) with an error body, and Retry-After if set.
    rate_limit,     ///< Answer 429 with `retry_after` as the Retry-After header.
    reset,          ///< Read the request, then close the connection with a TCP reset.
    truncate_body,  ///< Send headers for the full body, then half of it, then close.
    malformed_json,  ///< Answer 200 with a body that is not valid JSON (correct Content-Length).
    stall,           ///< Read the request and never answer (until the server stops).
};

struct fault {
    fault_kind kind = fault_kind::none;
    std::chrono::milliseconds delay{0};
    unsigned status = 500;
    std::string retry_after;  ///< Header value: delta-seconds ("2") or an HTTP-date.

    static fault none() { return {}; }
    static fault delayed(std::chrono::milliseconds d) { return {fault_kind::delay, d, 200, {}}; }
    static fault error(unsigned status, std::string retry_after = {}) {
        return {fault_kind::status, {}, status, std::move(retry_after)};
    }
    static fault too_many_requests(std::string retry_after) {
        return {fault_kind::rate_limit, {}, 429, std::move(retry_after)};
    }
    static fault reset() { return {fault_kind::reset, {}, 0, {}}; }
    static fault truncated() { return {fault_kind::truncate_body, {}, 200, {}}; }
    static fault malformed() { return {fault_kind::malformed_json, {}, 200, {}}; }
    static fault stalled() { return {fault_kind::stall, {}, 0, {}}; }
};

class fake_http_server {
public:
    using handler = std::function<reply(const recorded_request&)>;
    /// Chooses a fault for the n-th request (from 0); called on the server thread.
    using fault_plan = std::function<fault(std::size_t index, const recorded_request&)>;

    /// Starts listening on 127.0.0.1 with a port chosen by the system.
    explicit fake_http_server(handler h);
    /// As above, over TLS: base_url() is "https://127.0.0.1:PORT" (the test certificates carry
    /// that address). A failed handshake is counted and the connection closed.
    fake_http_server(handler h, fake_tls tls);
    ~fake_http_server();
    fake_http_server(const fake_http_server&) = delete;
    fake_http_server& operator=(const fake_http_server&) = delete;

    unsigned short port() const noexcept { return port_; }
    /// "http://127.0.0.1:PORT", or "https://127.0.0.1:PORT" with TLS.
    std::string base_url() const;

    /// The next `times` requests get `f` (queued after faults already injected).
    void inject(fault f, std::size_t times = 1);
    /// Consulted for each request when no injected fault is queued.
    void set_fault_plan(fault_plan plan);
    /// Replaces the handler.
    void set_handler(handler h);

    std::vector<recorded_request> requests() const;
    std::size_t request_count() const;
    std::size_t connection_count() const;
    /// TLS handshakes that failed (e.g. no or an unknown client certificate).
    std::size_t failed_handshakes() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
    unsigned short port_ = 0;
};

}  // namespace casebridge::test
