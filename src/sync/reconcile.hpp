// Reconciliation: checks what the store says a flow delivered (or withheld) against what the
// target really holds, and classifies each record (docs/operations.md, reconciliation). It reads
// the source and the target and writes one transfer-log entry of counts per run; `repair`
// re-delivers the records whose class makes that safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "core/clock.hpp"
#include "log/log.hpp"
#include "net/async.hpp"
#include "store/types.hpp"
#include "sync/flow_runner.hpp"

namespace casebridge::store {
class store_thread;
}

namespace casebridge::sync {

/// The class of one record after a reconciliation.
enum class verdict : std::uint8_t {
    match,              ///< The target holds what the flow would send now (or, withheld: nothing).
    stale_at_target,    ///< The target holds a version older than the last one logged as sent.
    differs,            ///< The target's record differs in the named fields (changed there).
    missing_at_target,  ///< Logged as delivered; the target holds no such record.
    duplicated_at_target,  ///< Two or more target records for one source record.
    unexpected_at_target,  ///< The target holds a record for it that this store never sent.
    withheld_but_present,  ///< Logged as withheld or withdrawn; the target holds the record.
    pending,               ///< The source changed since it was settled: the next run handles it.
    unchecked,             ///< Could not be checked (the source or the target did not answer).
};
inline constexpr std::size_t verdict_count = 9;
std::string_view to_string(verdict v);
/// The classes that mean the log and the target disagree (exit code 4 of `reconcile`).
bool is_divergence(verdict v);

struct reconcile_options {
    /// Check this many records drawn at random from those the store says were delivered or
    /// withheld; nullopt: every record of the source (a full walk, which also finds records
    /// the target holds that this store never sent).
    std::optional<std::size_t> sample;
    std::uint64_t seed = 0;  ///< 0: a random seed.
    /// A target record older than the last `sent` entry by more than this is stale; one newer
    /// (or within it) that differs was changed at the target.
    std::chrono::seconds stale_tolerance{5};
    store::token actor{"casebridge"};
    /// Write the run's transfer-log entry (a reconciliation without it is a dry look).
    bool write_log = true;
    /// Stopped when the daemon stops or the flow is paused: checked between records, and it
    /// ends a wait before a retry or a read in flight at once (counts so far are logged).
    std::stop_token stop;
};

/// One record's result: ids, the class, field names (differs) and a reason code. No values.
struct reconcile_row {
    std::string source_id;
    std::vector<std::string> target_ids;  ///< Every target record found for it.
    verdict v = verdict::match;
    std::vector<std::string> fields;  ///< differs / stale_at_target: top-level field names.
    std::string note;                 ///< A reason code (unchecked: the error's name).
};

struct reconcile_report {
    std::array<std::int64_t, verdict_count> counts{};
    std::int64_t population = 0;  ///< Records the check was drawn from.
    std::int64_t checked = 0;     ///< Records classified (unchecked included).
    std::optional<std::int64_t> sample_size;
    std::vector<reconcile_row> rows;       ///< One per record checked, in source id order.
    std::optional<std::string> error;      ///< What stopped the run (describe()).
    boost::system::error_code error_code;  ///< ... as a code, for a log line (no text).
    bool stopped = false;
    std::int64_t log_seq = 0;  ///< The run's transfer-log entry (0: none written).
    int mapping_in_version = 0;
    int mapping_out_version = 0;

    std::int64_t count(verdict v) const { return counts[static_cast<std::size_t>(v)]; }
    /// Records in a divergence class.
    std::int64_t divergences() const;
};

/// Reconciles `runner`'s flow (Primero and PING targets; DSS and acknowledgement flows are
/// refused with report.error). Reads are made through the flow's adapters, so each system's
/// rate limit and connection cap hold.
awaitable<reconcile_report> reconcile(
    const flow_runner& runner,
    store::store_thread& st,
    const clock_source& clock,
    logger log,
    reconcile_options options
);

/// What a repair did.
struct repair_report {
    std::int64_t redelivered = 0;   ///< stale and missing records sent again (and logged).
    std::int64_t withheld_now = 0;  ///< ... of which the consent check withheld (logged).
    std::int64_t failed = 0;        ///< ... of which could not be delivered (dead letters).
    std::int64_t reviews = 0;       ///< duplicated / withheld_but_present raised for review.
    std::int64_t left = 0;          ///< Other divergences, left to a person (differs, unexpected).
    std::optional<std::string> error;
};

/// Repairs what a reconciliation found: stale_at_target and missing_at_target records are
/// re-delivered through the flow (a lost link is dropped first, so the record is created
/// again; consent is decided again and every outcome is logged); duplicated_at_target and
/// withheld_but_present become review items (never deleted). The caller holds the writer lock.
awaitable<repair_report> repair(
    flow_runner& runner, store::store_thread& st, const reconcile_report& found
);

}  // namespace casebridge::sync
