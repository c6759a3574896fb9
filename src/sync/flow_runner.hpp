// The flow runner: fetch a page → map in → consent gate and redaction → map out → deliver →
// log, with the page settled as a unit before its cursor moves (docs/sync.md).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "adapter/adapter.hpp"
#include "core/clock.hpp"
#include "core/histogram.hpp"
#include "core/result.hpp"
#include "log/log.hpp"
#include "net/async.hpp"
#include "store/store.hpp"
#include "sync/notices.hpp"
#include "sync/retry.hpp"
#include "sync/run_report.hpp"

namespace casebridge {
struct closure_rule;
}
namespace casebridge::mapping {
class compiled_mapping;
}
namespace casebridge::policy {
struct profile;
}
namespace casebridge::store {
class store_thread;
class keyed_hasher;
}  // namespace casebridge::store

namespace casebridge::sync {

/// Which rows of `one_record_per_row_of` a flow sends: those whose `field` (a JSON pointer
/// inside the row, e.g. "/service_implementing_agency") holds one of `values` as a string;
/// a row that is not an object is never sent.
struct row_filter {
    std::string field;
    std::vector<std::string> values;
};

/// Everything one flow needs. The pointers are owned elsewhere and outlive the runner.
struct flow_binding {
    store::token flow{"unset"};
    store::token purpose{"unset"};
    store::token source_system{"unset"};  ///< Config ids of the systems (not their kinds).
    std::string source_stream;
    store::token target_system{"unset"};
    std::string target_stream;
    adapter* source = nullptr;
    adapter* target = nullptr;
    const mapping::compiled_mapping* map_in = nullptr;   ///< Source shape → canonical.
    const mapping::compiled_mapping* map_out = nullptr;  ///< Canonical → target shape.
    const policy::profile* profile = nullptr;
    /// Which canonical values mean closed (the catalogue's `closure`): each record's closure
    /// or reopening is recorded with its page, for retention. Without it nothing is recorded.
    const closure_rule* closure = nullptr;
    /// Keys personal identifiers for identity links; without it no identity check is made.
    const store::keyed_hasher* identities = nullptr;
    /// Canonical identifier fields that name one person (the catalogue's `one_person`
    /// fields): two source records with the same value are a conflict for review, never "take
    /// the first".
    std::vector<std::string> identity_fields;
    /// When set (e.g. "/services_section"), each row of this subform is sent as its own record
    /// (a referral or an event), with id "<record id>~<row unique_id>".
    std::string one_record_per_row_of;
    /// With one_record_per_row_of: only the rows it matches are sent; the others are not part
    /// of the flow (no delivery, no log entry). Applied to the rows as the source has them.
    std::optional<row_filter> only_rows_where;
    /// False: a record with no linked target is dead-lettered (not_found), never created.
    bool create = true;
    /// The source stream acknowledges events sent earlier (a DSS inbox): each record becomes
    /// an inbound log entry about the record that was sent, and links the DSS reference to the
    /// case in `target_system`. No mappings, profile or target adapter are used.
    bool acknowledgements = false;
    /// The source stream is the IMO hub's possible-duplicate notices (a casebridge_hub
    /// system): each notice raises, updates or resolves a flag, with these texts, on the case in
    /// `target_system` that was sent to the hub under the notice's pseudonym (docs/imo.md). No
    /// mappings or profile are used.
    std::optional<flag_texts> notices;
    int concurrency = 4;
    retry_policy retry;
};

struct run_options {
    bool dry_run = false;     ///< Read and decide; write nothing upstream or to the store.
    bool from_start = false;  ///< Ignore the stored cursor (a plan over every record).
    bool keep_records = false;
    /// A caseload hand-over: a record counts as done only when its current version was
    /// delivered (and acknowledged, where the target acknowledges); one withheld, held or
    /// failed before is decided again from its current state.
    bool handover = false;
    std::optional<std::int64_t> max_pages;
    /// Stopped when the daemon stops or the flow is paused: checked between pages, it ends
    /// the waits before retries and the requests in flight at once (net/stop.hpp). A page cut
    /// short is left unsettled, as after a crash; the next run resolves what is in flight.
    std::stop_token stop;
    /// Seeds the backoff jitter (tests); unset: a random seed.
    std::optional<std::uint32_t> jitter_seed;
};

/// Counters the admin API reads (relaxed atomics; one writer, the runner).
struct flow_metrics {
    std::atomic<std::int64_t> fetched{0}, sent{0}, withheld{0}, withdrawn{0}, dead{0}, skipped{0},
        retries{0}, runs{0}, failed_runs{0};
    std::atomic<std::int64_t> last_success_unix{0};
    /// 1 while a system of the flow refuses the credentials it would be sent (not retried).
    std::atomic<std::int64_t> credentials_refused{0};
    std::atomic<std::int64_t> last_run_millis{0};
    duration_histogram run_duration{0.1, 0.5, 1, 5, 10, 30, 60, 300};
};

/// One record (or row) as the flow would decide it now, for a reconciliation. The body stays
/// in memory; nothing of it is logged or stored.
struct prepared_record {
    std::string source_id;     ///< The store's id: "<record id>" or "<record id>~<row unique_id>".
    std::string version;       ///< The source version as a delivery row records it.
    std::string decision;      ///< send | withhold | dead
    std::string reason;        ///< Why withheld or held (a reason code).
    std::string source_key;    ///< What the target's creates and look-ups are keyed by.
    rapidjson::Document body;  ///< The record as it would be sent (decision send).
    std::vector<std::string> fields_sent;
};

class flow_runner {
public:
    flow_runner(
        flow_binding binding,
        store::store_thread& st,
        const clock_source& clock,
        logger log,
        flow_metrics* metrics = nullptr
    );
    ~flow_runner();
    flow_runner(const flow_runner&) = delete;
    flow_runner& operator=(const flow_runner&) = delete;

    const flow_binding& binding() const noexcept;

    /// One run: pages from the flow's cursor until caught up, an error, a stop request or
    /// `max_pages`. Each page is settled and committed with its cursor move.
    awaitable<run_report> run_once(run_options options);

    /// Re-reads the dead letter's record from its source (never a stored payload), runs it
    /// through the consent gate and delivers it again; the dead letter is settled by the
    /// outcome. Errors: not_found (no such dead letter or not this flow's), store_failed,
    /// and the source's error when the record cannot be fetched.
    awaitable<result<record_report>> retry_dead_letter(std::int64_t dead_letter_id);

    /// One record (or row, "<id>~<row>") chosen by a person, with an override of a missing
    /// basis when they gave one.
    struct selected {
        std::string source_id;
        std::optional<std::string> override_actor;
        std::optional<std::string> override_reason;
    };
    /// Fetches the chosen records fresh from the source and runs exactly those rows through
    /// the pipeline (the cursor does not move) with the hand-over rule of run_options::handover:
    /// records delivered at their current version are skipped, so running the same selection
    /// twice sends nothing twice, and records withheld or held before are decided again. `progress`
    /// is called after each record with (done, total).
    awaitable<run_report> run_selected(
        std::vector<selected> records, std::function<void(std::size_t, std::size_t)> progress = {}
    );

    /// Maps, decides and maps out one source record as a run would, sending nothing.
    std::vector<prepared_record> prepare(const external_record& record) const;

    /// Fetches the records of `source_ids` (rows "<id>~<row>" allowed) fresh from the source
    /// and runs exactly those through the pipeline even when their current version was
    /// delivered before (a repair after a reconciliation): consent is decided again, and each
    /// outcome is logged as in a run. The cursor does not move.
    awaitable<run_report> redeliver(std::vector<std::string> source_ids);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::sync
