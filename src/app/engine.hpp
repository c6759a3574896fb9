// The engine: everything a configuration describes, built and wired — the store, one HTTP
// client and adapter per system, mappings and profiles, and one flow runner per flow.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.hpp"
#include "core/clock.hpp"
#include "core/histogram.hpp"
#include "log/log.hpp"
#include "net/async.hpp"
#include "sync/flow_runner.hpp"
#include "sync/reconcile.hpp"

namespace casebridge {
class adapter_registry;
}
namespace casebridge::store {
class store_thread;
class keyed_hasher;
}  // namespace casebridge::store

namespace casebridge::app {

struct engine_options {
    /// Open the store only if it exists; otherwise use a throw-away one (dry runs write
    /// nothing to the configured store).
    bool read_only_store = false;
    /// Allows http:// to loopback hosts (the sandboxes of the demo and the tests).
    bool allow_plain_http_loopback = false;
};

/// What the daemon's last scheduled reconciliation of a flow found (gauges; read by the admin
/// API's thread).
struct reconcile_metrics {
    /// Records of the last finished reconciliation per class (sync::verdict order).
    std::array<std::atomic<std::int64_t>, sync::verdict_count> records{};
    std::atomic<std::int64_t> checked{0};
    /// End of the last reconciliation that ran to its end; 0: none yet in this process.
    std::atomic<std::int64_t> last_run_unix{0};
};

/// One configured flow with its runner and counters.
struct flow_slot {
    const flow_config* cfg = nullptr;
    std::unique_ptr<sync::flow_runner> runner;
    sync::flow_metrics metrics;
    reconcile_metrics reconciled;
    std::atomic<bool> paused{false};
    std::atomic<bool> running{false};

    /// Pauses or resumes the flow; a pause stops the run or reconciliation in hand (its waits
    /// and requests end at once; what it had not settled stays in flight). Any thread.
    void set_paused(bool p);
    /// Ties `s` to the thing the flow is doing now, so that a pause stops it; `nullptr`
    /// when it ends. Any thread.
    void attach_stop(const std::stop_source* s);

private:
    std::mutex stop_mutex_;
    std::stop_source run_stop_{std::nostopstate};
};

/// Counters of one configured system (its HTTP client).
struct system_metrics {
    std::string id;
    /// Every HTTP request to the system, queueing for a connection and the rate limit
    /// included.
    duration_histogram request_duration{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
};

class engine {
public:
    /// Builds everything from `cfg` (already checked by load_config). Throws
    /// std::runtime_error naming the system, flow or file on a startup failure (an unreadable
    /// key, an adapter that refuses its settings, a store that cannot be opened).
    engine(
        config cfg,
        const adapter_registry& adapters,
        net::any_io_executor executor,
        const clock_source& clock,
        logger log,
        engine_options options = {}
    );
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    const config& cfg() const noexcept;
    std::vector<std::unique_ptr<flow_slot>>& flows() noexcept;
    flow_slot* find(std::string_view flow_id) noexcept;
    /// One entry per system that has an HTTP client, in configuration order.
    const std::vector<std::unique_ptr<system_metrics>>& systems() const noexcept;
    store::store_thread& store() noexcept;
    /// The store's identifier key (store.identifier_key_file): keyed ids and review checks.
    const store::keyed_hasher& identities() const noexcept;
    /// The throw-away store folder of a read-only run without a store (a fresh mode 0700
    /// folder under the temp directory, removed with the engine); nullopt otherwise.
    std::optional<std::filesystem::path> scratch_dir() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::app
