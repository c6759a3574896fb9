// The sandbox systems' HTTP server, built on casebridge's own (net/http_server): answers
// through a handler on the server's thread, records the newest requests (bounded, without
// bodies or credentials), and injects faults (latency, error status, 429 + Retry-After,
// reset, truncated body, malformed JSON, a lost answer) by queue or by plan.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace casebridge::sandbox {

/// A request as received. Header names are lower-cased.
struct request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
};

struct response {
    unsigned status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string content_type = "application/json; charset=utf-8";
};

enum class fault_kind {
    none,
    delay,
    status,
    rate_limit,
    reset,           ///< Close with a TCP reset before handling the request.
    truncate_body,   ///< Handle the request, send half of the body, close.
    malformed_json,  ///< Answer 200 with invalid JSON.
    lost_response,   ///< Handle the request (its effect stays), then reset: an ambiguous outcome.
};

struct fault {
    fault_kind kind = fault_kind::none;
    std::chrono::milliseconds delay{0};
    unsigned status = 500;
    std::string retry_after;

    static fault delayed(std::chrono::milliseconds d) { return {fault_kind::delay, d, 200, {}}; }
    static fault error(unsigned s, std::string ra = {}) {
        return {fault_kind::status, {}, s, std::move(ra)};
    }
    static fault too_many_requests(std::string ra) {
        return {fault_kind::rate_limit, {}, 429, std::move(ra)};
    }
    static fault reset() { return {fault_kind::reset, {}, 0, {}}; }
    static fault truncated() { return {fault_kind::truncate_body, {}, 200, {}}; }
    static fault malformed() { return {fault_kind::malformed_json, {}, 200, {}}; }
    static fault lost() { return {fault_kind::lost_response, {}, 0, {}}; }
};

/// Parses a fault rule "KIND[:EVERY]" (KIND: latency=MS, 500, 502, 503, 429, reset, truncate,
/// malformed, lost); EVERY defaults to 10. Returns false for anything else.
struct fault_rule {
    fault f;
    std::size_t every = 10;
};
bool parse_fault_rule(const std::string& text, fault_rule& out);

class http_server {
public:
    using handler = std::function<response(const request&)>;

    /// Listens on `address:port` (port 0: chosen by the system) and serves on its own thread.
    /// Throws on a bad address or a port in use (startup).
    http_server(const std::string& address, unsigned short port, handler h);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string base_url() const;

    /// The next `times` requests get `f`.
    void inject(fault f, std::size_t times = 1);
    /// Every `every`-th request gets the rule's fault (after queued ones).
    void set_rules(std::vector<fault_rule> rules);
    /// The newest `log_limit` requests since clear_requests(), without bodies and with the
    /// values of credential headers removed (Authorization keeps its scheme only): memory
    /// stays bounded however long a sandbox serves.
    std::vector<request> requests() const;
    /// Requests since clear_requests(), including those no longer in requests().
    std::size_t request_count() const;
    /// Benchmarks only: from now on, also keep every request whole (body and credentials
    /// included, without limit) until recording() takes them, so that a minimal client can
    /// send the very same requests again (the wire floor of tests/bench/e2e_bench.cpp).
    void record_whole_requests();
    /// The requests kept whole since record_whole_requests() (or the last call), in arrival
    /// order; they are given away.
    std::vector<request> recording();
    void clear_requests();
    static constexpr std::size_t log_limit = 10000;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
    std::string address_;
    unsigned short port_ = 0;
};

}  // namespace casebridge::sandbox
