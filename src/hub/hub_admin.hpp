// The hub's admin API, for the CPSS IMO and for probes: on the configuration's `admin`
// listener (loopback unless admin.allow_beyond_loopback), apart from the agencies' ingest API.
//   GET /healthz            no token: the process answers
//   GET /readyz             no token: the hub store can be read (503 otherwise)
//   GET /hub/stats          bearer token: counts only (records per agency, clusters,
//                           automatic matches, review items, within-agency duplicates)
//   GET /hub/reviews        bearer token: the pairs waiting for a person (pseudonyms, scores)
//   POST /hub/reviews/ID/decide
//                           bearer token: same or not_same for a named pair, then a re-link
//   GET /hub/reports        bearer token: the reports written under reports.out_dir
//   GET /hub/reports/ID/PERIOD/FILE
//                           bearer token: one of their files, as a download
//   GET /console/           the web console (docs/console.md), in its hub mode
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hub/hub_store.hpp"
#include "net/http_server.hpp"

namespace casebridge::hub {

struct admin_context {
    std::string token;                  ///< admin.token_file's first line.
    std::filesystem::path store_path;   ///< The hub's SQLite file (read on the admin thread).
    std::vector<std::string> agencies;  ///< Configured agency ids: each listed, 0 when silent.
    std::filesystem::path reports_dir;  ///< reports.out_dir; empty: no reports configured.
    /// Asks the hub's linker for a run (after a review decision); unset: none is asked (the
    /// next batch or `hub link` follows the decision).
    std::function<void()> request_linkage;
};

/// The JSON both `casebridge hub stats --json` and GET /hub/stats answer: every configured
/// agency with its active and withdrawn records, then the linkage counts. Counts only.
std::string stats_json(const hub_stats& st, const std::vector<std::string>& agencies);

/// The admin API as a service for httpd::server. The context is copied into the service.
httpd::service admin_service(admin_context ctx);

}  // namespace casebridge::hub
