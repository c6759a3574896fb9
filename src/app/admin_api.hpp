// The admin API: health, readiness, Prometheus metrics, flows (status, run now, pause,
// resume, dry run, caseload hand-over), transfer-log queries, dead letters (list, retry) and
// review items, and the web
// console's files (app/console.hpp). Bearer token on every route but /healthz, /readyz and the
// console's files (which reveal nothing), checked before any body is read; answers hold ids,
// codes, counts and field names only, never a field value.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.hpp"
#include "net/async.hpp"
#include "net/http_server.hpp"

namespace casebridge::app {

class engine;
struct flow_slot;
struct caseload_jobs;

/// What the API acts on. `current` gives the engine in use (null while reloading).
struct admin_context {
    std::string token;  ///< The bearer token (read from admin.token_file).
    std::function<std::shared_ptr<engine>()> current;
    /// Starts a run of `flow_id` now; false when it is running already or unknown.
    std::function<bool(const std::string& flow_id)> run_now;
    /// Where the engine's work runs (a dead-letter retry): never the admin server's thread.
    /// Without one, a retry is answered 503.
    net::any_io_executor engine_executor;
    /// Takes a flow for one thing (false: a run, a reconciliation or a retry holds it), and
    /// gives it back; from any thread. The daemon counts what is held, so a shutdown awaits a
    /// retry like a run.
    std::function<bool(flow_slot*)> claim_flow;
    std::function<void(flow_slot*)> release_flow;
    const clock_source* clock = nullptr;
    /// Caseload hand-overs started through the API, the latest of each flow (made on first
    /// use, on the admin server's thread).
    std::shared_ptr<caseload_jobs> caseloads;
};

/// Decides from the header alone (before any body is read): the token, the route, the method
/// (405 with Allow) and the body limit. Called on the admin server's thread.
httpd::admission admit_admin(const httpd::request& head, const admin_context& ctx);

/// Answers one admitted request (on the admin server's thread; a retry waits without
/// blocking it).
awaitable<httpd::response> handle_admin(httpd::request req, admin_context& ctx);

/// The admin API as a service for httpd::server.
httpd::service admin_service(admin_context& ctx);

}  // namespace casebridge::app
