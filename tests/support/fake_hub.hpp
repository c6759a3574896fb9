// A stateful fake of the CPSS IMO hub's ingest API (docs/imo.md, the hub contract) on top of
// fake_http_server: bearer token, GET /hub/v1/schema, POST /hub/v1/records (all-or-nothing,
// upsert by pseudonym), POST /hub/v1/withdrawals. For the agency side's tests; the real hub is
// src/hub.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "support/fake_http_server.hpp"

namespace casebridge::test {

struct fake_hub_settings {
    std::string token = "hub-token-of-agency-a-0123456789abcdef";
    std::string agency = "agency-a";
    int schema_version = 3;
    std::size_t encoded_words = 32;
    std::size_t max_batch_records = 500;
    std::vector<std::string> coarse_fields = {
        "age_band", "sex", "location", "protection_status", "risk_level", "status"};
    std::optional<fake_tls> tls;  ///< Set: HTTPS (and client certificates when it names a CA).
};

/// One record as the fake hub holds it.
struct hub_record {
    std::string filter;  ///< base64, as received
    std::vector<std::pair<std::uint32_t, std::string>> tokens;
    std::map<std::string, std::string> coarse;
    bool withdrawn = false;
    int receipts = 0;  ///< Times it was received (new, changed or unchanged).
};

/// An error answer the fake hub gives once: to the request to `path` that follows `after`
/// requests to it answered normally.
struct hub_failure {
    std::string path = "/hub/v1/records";
    unsigned status = 503;
    std::string retry_after;  ///< Retry-After header, when not empty.
    std::size_t after = 0;
    std::string code = "internal";  ///< The contract's error code and message.
    std::string message = "try again later";
};

class fake_hub {
public:
    explicit fake_hub(fake_hub_settings s = {});
    ~fake_hub();
    fake_hub(const fake_hub&) = delete;
    fake_hub& operator=(const fake_hub&) = delete;

    std::string base_url() const;
    fake_http_server& server() noexcept;
    const fake_hub_settings& settings() const noexcept;

    /// Changes what GET /hub/v1/schema says and what POST /records accepts.
    void set_schema_version(int v);
    void set_max_batch_records(std::size_t n);
    /// Answers one later request to `failure.path` with an error, storing nothing.
    void fail_next(hub_failure failure);

    /// Records by pseudonym (withdrawn ones keep only their tombstone: no filter, tokens or
    /// coarse fields).
    std::map<std::string, hub_record> records() const;
    /// Pseudonyms in the order of every withdrawal request received, with their reason.
    std::vector<std::pair<std::string, std::string>> withdrawals() const;
    /// Bodies of every request received (any route, any answer).
    std::vector<std::string> bodies() const;
    /// Requests to a path ("/hub/v1/records"), whatever the answer.
    std::size_t requests_to(const std::string& method, const std::string& path) const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::test
