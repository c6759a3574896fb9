// A caseload review file (CSV) edited as a person would in a spreadsheet, for the tests that
// hand a caseload over.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "exchange/csv.hpp"

namespace casebridge::test {

/// The review file `csv` with each row edited by `edit(row)` (a row left as it is keeps the
/// plan); empty, with a test failure, when `csv` does not parse.
template <typename Edit>
std::string edited_review(const std::string& csv, Edit edit) {
    auto table = exchange::parse_csv(csv);
    EXPECT_TRUE(table);
    if (!table) {
        return {};
    }
    exchange::csv_writer w;
    w.row(table->header);
    for (auto& row : table->rows) {
        edit(row);
        w.row(row);
    }
    return w.text();
}

}  // namespace casebridge::test
