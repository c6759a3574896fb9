// The hub's ingest API (docs/hub-api.md): bearer tokens per agency (and client certificate
// names with a client CA), checked before any body is read; upserts all or nothing per
// request; withdrawals; the linkage schema version; notices from a cursor; malformed bodies
// named by JSON pointer; an agency reads and changes only its own records and notices.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hub/hub_store.hpp"
#include "net/http_server.hpp"

namespace casebridge::hub {

/// An agency as the API knows it: its id, token and expected certificate name.
struct agency_credentials {
    std::string id;
    std::string token;             ///< The bearer token (a secret; compared in constant time).
    std::string certificate_name;  ///< Required client certificate CN; empty: not checked.
    /// The name other agencies' notices give it (hub config display_name; default the id).
    std::string display_name;
};

/// Runs `job` on the store's thread (the API hands its answer back through a handoff and
/// waits without blocking the server).
using store_runner = std::function<void(std::function<void(hub_store&)> job)>;

struct ingest_context {
    std::vector<agency_credentials> agencies;
    int schema_version = 0;
    std::size_t encoded_words = 0;
    std::size_t identifier_kinds = 0;  ///< Tokens' kinds are 0 .. identifier_kinds - 1.
    std::vector<std::string> coarse_fields;
    std::size_t max_batch_records = 500;  ///< Also the most notices in one answer.
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    store_runner run_on_store;
    /// Called after a batch changed what the hub holds (linkage is due).
    std::function<void()> linkage_due;
    /// Called with (agency, route, counts) after each accepted request, for the log.
    std::function<void(const std::string&, const std::string&, std::int64_t, std::int64_t)>
        on_accepted;
};

/// The API as a service for httpd::server. `ctx` must outlive the server.
httpd::service ingest_service(std::shared_ptr<const ingest_context> ctx);

/// A JSON error answer: {"error":{"code":…,"message":…}}.
httpd::response error_response(unsigned status, std::string_view code, std::string_view message);

}  // namespace casebridge::hub
