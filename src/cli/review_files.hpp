// The hub's duplicate review file (`hub review export` writes it, `hub review decide` reads
// it; the caseload-transfer review is in sync/caseload.hpp). Each row carries a keyed check of
// the columns a reviewer must not edit; the key stays in the hub store. Reading is all or
// nothing: any refused row refuses the file, and every problem names the file and its line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exchange/csv.hpp"
#include "hub/hub_store.hpp"

namespace casebridge::cli {

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
