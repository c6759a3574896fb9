// The admin API: health, readiness, Prometheus metrics, flows (status, run now, pause,
// resume), transfer-log queries, dead letters (list, retry) and review items. Bearer token
// on every route; answers hold ids, codes, counts and field names only, never a field value.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.hpp"
#include "sandbox/http_server.hpp"

namespace casebridge::app {

class engine;

/// What the API acts on. `current` gives the engine in use (null while reloading).
struct admin_context {
    std::string token;  ///< The bearer token (read from admin.token_file).
    std::function<std::shared_ptr<engine>()> current;
    /// Starts a run of `flow_id` now; false when it is running already or unknown.
    std::function<bool(const std::string& flow_id)> run_now;
    /// Retries dead letter `id`; returns the JSON answer body, or empty when not found.
    std::function<std::string(std::int64_t id, unsigned& status)> retry_dead_letter;
    const clock_source* clock = nullptr;
};

/// Answers one request (called on the admin server's thread).
sandbox::response handle_admin(const sandbox::request& req, admin_context& ctx);

}  // namespace casebridge::app
