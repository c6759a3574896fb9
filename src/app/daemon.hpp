// The daemon: one io_context, one scheduler coroutine per flow (single flight), SIGTERM/SIGINT
// finish the pages in hand and exit, SIGHUP re-reads the configuration, and the admin API.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "core/clock.hpp"
#include "log/log.hpp"

namespace casebridge {
class adapter_registry;
}

namespace casebridge::app {

struct daemon_options {
    /// After SIGTERM, runs in hand get this long to settle their page; then the process
    /// exits anyway (every committed page is consistent: cursors move with their log).
    std::chrono::seconds shutdown_grace{30};
    /// Allows http:// to loopback hosts (the demo's sandboxes).
    bool allow_plain_http_loopback = false;
    /// Called once the admin API listens (its base URL), e.g. to print it.
    std::function<void(const std::string&)> on_admin_listening;
    /// Called once every flow is scheduled.
    std::function<void()> on_started;
};

/// Runs until SIGTERM or SIGINT. Returns the exit code: 0 after a clean shutdown, 1 when the
/// configuration or the store could not be used at startup (the message goes to `err`).
int run_daemon(
    const std::filesystem::path& config_file,
    const adapter_registry& adapters,
    const clock_source& clock,
    logger log,
    std::ostream& err,
    daemon_options options = {}
);

}  // namespace casebridge::app
