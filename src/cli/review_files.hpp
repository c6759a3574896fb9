// The review files people edit between two commands: the caseload-transfer review
// (`caseload-transfer plan` writes it, `execute` reads it) and the hub's duplicate review
// (`hub review export` writes it, `hub review decide` reads it). Each row carries a keyed check
// of the columns a reviewer must not edit; the key stays in the store. Reading is all or
// nothing: any refused row refuses the file, and every problem names the file and its line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exchange/csv.hpp"
#include "hub/hub_store.hpp"
#include "store/crypto.hpp"
#include "sync/flow_runner.hpp"

namespace casebridge::cli {

/// The caseload review's columns, in order.
const exchange::csv_row& caseload_review_header();

/// Binds a caseload row to its plan: a keyed hash of flow, record and decision.
std::string caseload_row_check(
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& id,
    const std::string& decision
);

/// A record confirmed for hand-over that is not handed over by this run, and why.
struct not_handed_over {
    std::string source_id;
    std::string status;  ///< The plan's decision, or later this run's outcome.
    std::string reason;
};

/// What a caseload review file asks for.
struct caseload_review {
    std::vector<sync::flow_runner::selected> chosen;
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

/// The hub review's columns, in order.
const exchange::csv_row& hub_review_header();

/// Binds a hub review row to this hub and pair: a keyed hash of the ids and the score.
std::string hub_review_check(const std::string& key, const exchange::csv_row& row);

/// What a hub review file decides.
struct hub_review {
    std::vector<hub::pair_decision> decisions;
    std::size_t undecided = 0;
    /// "origin:line: what" for each refused row, or one for the file; empty: accepted.
    std::vector<std::string> problems;
};

/// The file's CSV and header only. Empty when it can be read; otherwise the problem.
std::string hub_review_shape(std::string_view text, std::string_view origin);

/// Reads a hub review file against the hub store's review key.
hub_review read_hub_review(std::string_view text, std::string_view origin, const std::string& key);

}  // namespace casebridge::cli
