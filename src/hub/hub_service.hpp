// The IMO hub as a running service (`casebridge hub serve`): its store on its own thread, the
// ingest API on casebridge's HTTP server (TLS), and linkage on a worker thread after each
// accepted batch (a full re-link of the active records, coalesced: while one runs, further
// batches ask for one more run, not one each).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "app/config.hpp"
#include "core/clock.hpp"
#include "hub/hub_store.hpp"
#include "linkage/schema.hpp"
#include "log/log.hpp"

namespace casebridge::hub {

/// The linkage schema a hub configuration names (the shipped one by default), with the
/// configuration's thresholds applied. Throws json::file_error (startup), or
/// std::runtime_error when the thresholds conflict (apply_hub_thresholds).
linkage::linkage_schema load_hub_schema(const app::hub_config& cfg);

/// The configuration's hub.thresholds over a linkage schema's own. Throws
/// std::invalid_argument when the lower is then above the upper; its message says so and
/// names the schema's threshold that took part ("the lower threshold is above the upper one
/// (with the linkage schema's upper threshold, 0.73)").
linkage::threshold_spec apply_hub_thresholds(
    const app::hub_config& cfg, linkage::threshold_spec own
);

/// The own thresholds of the linkage schema load_hub_schema would load, read without writing
/// the compiled-in copy out (for `casebridge check`); nullopt when it cannot be read.
std::optional<linkage::threshold_spec> hub_schema_thresholds(const app::hub_config& cfg);

/// Re-links every active record of the schema's version: reads them and the previous refs,
/// finds candidates, scores, clusters, and saves refs, review items, duplicates and the log
/// entries. For `hub link` (and the service's worker, which runs the reading and saving on
/// the store's thread and the rest on its own).
result<linkage_summary> relink(hub_store& store, const linkage::linkage_schema& schema);

/// What a linkage run computes from the records, between reading and saving.
struct linkage_work {
    std::vector<active_record> records;
    linkage::previous_refs refs;
    /// Remembered review decisions: a pair decided the same child is linked (scored above
    /// the upper threshold), one decided not the same is never linked nor reviewed again.
    std::vector<pair_decision> decisions;
};

/// Reads what a linkage run needs from the store (records, refs, decisions).
result<linkage_work> read_linkage_work(hub_store& store, int schema_version);
struct linkage_outcome {
    std::unique_ptr<linkage::record_set> set;
    linkage::linkage_result result;
};
linkage_outcome compute_linkage(const linkage_work& work, const linkage::linkage_schema& schema);

class service {
public:
    /// Loads the schema, reads every agency's token (errors name the agency and the file or
    /// variable, never the token), opens the store and listens. Throws std::runtime_error or
    /// json::file_error on any startup problem.
    service(const app::hub_config& cfg, const clock_source& clock, const logger& log);
    /// Stops listening, lets a linkage run in progress or asked for finish, closes the store.
    ~service();
    service(const service&) = delete;
    service& operator=(const service&) = delete;

    std::string base_url() const;
    unsigned short port() const;

    /// Asks the linker for a run (a review decision recorded through the admin API); returns
    /// at once. Any thread.
    void request_linkage();
    /// Blocks until no linkage is waiting or running (tests, `hub serve` at shutdown).
    void wait_for_linkage();
    /// Linkage runs finished since start (successful or not).
    std::size_t linkage_runs() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::hub
