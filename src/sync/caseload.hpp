// A caseload hand-over at project end (Cox's Bazar SOP §4.6), shared by the command line
// (`caseload-transfer plan|execute`) and the admin API the console uses: the plan written as a
// review file, the review file read back, and the receipt of an execution. The review file
// holds ids, decision codes, bases and field counts, never a field value; each row carries a
// keyed check of the columns a reviewer must not edit, and the key stays in the store. Reading
// is all or nothing: any refused row refuses the file, and every problem names the file and
// its line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exchange/csv.hpp"
#include "store/crypto.hpp"
#include "sync/flow_runner.hpp"
#include "sync/run_report.hpp"

namespace casebridge::sync {

/// The caseload review's columns, in order.
const exchange::csv_row& caseload_review_header();

/// Binds a caseload row to its plan: a keyed hash of flow, record, decision and the plan's
/// reason (the `reason` column, which the receipt repeats for a record not handed over).
std::string caseload_row_check(
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& id,
    const std::string& decision,
    const std::string& reason
);

/// The check of plans written before the reason was bound (flow, record and decision only):
/// still accepted, but the reason column of such a row is not repeated in the receipt.
std::string caseload_row_check_without_reason(
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& id,
    const std::string& decision
);

/// Whether the flow's DPISP profile lets a person confirm consent for a record withheld for
/// want of a basis (override_rules.allowed).
bool caseload_override_allowed(const flow_runner& runner);

/// The hand-over decision for a record from its dry-run outcome (run_options::handover):
/// transfer, already_transferred, awaiting_acknowledgement, held,
/// needs_consent_confirmation (only where the profile allows an override) or withheld.
std::string caseload_plan_decision(const record_report& r, bool override_allowed);

/// A plan as a review file, with the number of records per decision.
struct caseload_plan {
    std::string csv;
    std::map<std::string, std::int64_t> counts;
    std::size_t records = 0;
};

/// The review file of a hand-over dry run (run_options: dry_run, keep_records, from_start,
/// handover) of `flow` to `receiving_system`.
caseload_plan make_caseload_plan(
    const run_report& report,
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& receiving_system,
    bool override_allowed
);

/// A record confirmed for hand-over that is not handed over by this run, and why.
struct not_handed_over {
    std::string source_id;
    std::string status;  ///< The plan's decision, or later this run's outcome.
    std::string reason;
};

/// What a caseload review file asks for.
struct caseload_review {
    std::vector<flow_runner::selected> chosen;
    std::vector<std::pair<std::string, std::string>> overrides;  ///< id, hex SHA-256 of reason
    std::vector<not_handed_over> left;  ///< Not confirmed (and not already transferred).
    std::size_t not_confirmed = 0;
    /// "origin:line: what" for each refused row, or one for the file; empty: accepted.
    std::vector<std::string> problems;
};

/// The file's CSV and header only (checked before anything is loaded). Empty when it can be
/// read; otherwise "origin:line:column: what".
std::string caseload_review_shape(std::string_view text, std::string_view origin);

/// Reads a caseload review file for `flow`; `actor` is who confirms overrides.
caseload_review read_caseload_review(
    std::string_view text,
    std::string_view origin,
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& actor
);

/// Where a receipt comes from: the flow, its two systems, when and from which review file,
/// and the transfer log's latest signed checkpoint as JSON (empty: none yet).
struct caseload_receipt_context {
    std::string flow;
    std::string from_system;
    std::string to_system;
    std::string executed_at;
    std::string review_file;
    std::string checkpoint_json;
};

/// The outcome of an execution: every confirmed record in exactly one count (transferred,
/// already_transferred, awaiting_acknowledgement, withheld, held, not_processed), so the
/// counts add up to `confirmed`; what was not handed over and why; and the receipt (JSON,
/// `casebridge-caseload-transfer/v2`) the receiving side verifies.
struct caseload_outcome {
    std::map<std::string, std::int64_t> counts;
    std::vector<not_handed_over> left;
    std::string receipt;
};

/// Settles `review` (moved from: its `left` is extended) against the report of
/// flow_runner::run_selected over its chosen records.
caseload_outcome settle_caseload(
    caseload_review review, const run_report& report, const caseload_receipt_context& context
);

}  // namespace casebridge::sync
