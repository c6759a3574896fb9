// What a flow run reports: per-record outcomes (ids, codes and field names only) and counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace casebridge::sync {

/// What happened to one record (or row) in a run; ids, codes and field names only.
struct record_report {
    std::string source_id;
    std::string outcome;  ///< sent | withheld | consent_withdrawn | dead | skipped (dry run:
                          ///< would_send for sent); in a hand-over also
                          ///< awaiting_acknowledgement | rejected_by_receiver
    /// The record's state in this flow before the run (delivered, withheld, dead, in_flight;
    /// empty when the flow never saw it).
    std::string prior;
    std::string basis;
    std::string reason;
    std::string target_id;
    std::vector<std::string> fields_sent;
    std::vector<std::string> fields_withheld;
    int attempts = 0;
};

struct run_counts {
    std::int64_t pages = 0;
    std::int64_t fetched = 0;
    std::int64_t sent = 0;
    std::int64_t withheld = 0;
    std::int64_t withdrawn = 0;
    std::int64_t dead = 0;
    std::int64_t skipped = 0;
    std::int64_t retries = 0;
    std::int64_t acknowledged = 0;  ///< Acknowledgement flows: events DSS accepted...
    std::int64_t rejected = 0;      ///< ...and rejected or could not process.
    std::int64_t notices = 0;       ///< Consent-withdrawal notices sent (of `withdrawn`).
    /// Hand-overs: records delivered but not yet acknowledged by a receiver that acknowledges,
    /// or rejected by it (both also counted in `skipped`: nothing is sent again).
    std::int64_t awaiting_acknowledgement = 0;
    std::int64_t rejected_by_receiver = 0;
    /// Duplicate-notice flows: flags raised, updated (the other agencies changed) and resolved.
    std::int64_t flags_raised = 0;
    std::int64_t flags_updated = 0;
    std::int64_t flags_resolved = 0;
};

struct run_report {
    run_counts counts;
    std::vector<record_report> records;  ///< Filled when run_options::keep_records.
    bool caught_up = false;              ///< The source had nothing more.
    std::optional<std::string> error;    ///< What stopped the run early (describe()).
    bool stopped = false;                ///< A stop was requested and honoured.
    std::optional<std::string> note;     ///< Why a run ended early without an error.
    /// Nothing was sent: a system refused these credentials before (store/credential_refusals).
    bool credentials_refused = false;
};

}  // namespace casebridge::sync
