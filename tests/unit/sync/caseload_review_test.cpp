// A caseload review file's rows are bound to their plan by a keyed check over flow, record,
// decision and the plan's reason: the reason a receipt repeats for a record not handed over
// is the plan's own code, never text written into the file.
#include <string>

#include <gtest/gtest.h>

#include "exchange/csv.hpp"
#include "store/crypto.hpp"
#include "sync/caseload.hpp"

namespace casebridge::sync {
namespace {

const store::keyed_hasher key("caseload-test-identifier-key-0123456789");

run_report two_withheld() {
    run_report report;
    record_report held;
    held.source_id = "case-1";
    held.outcome = "dead";
    held.reason = "remote_rejected";
    record_report withheld;
    withheld.source_id = "case-2";
    withheld.outcome = "withheld";
    withheld.reason = "consent_refused";
    report.records = {held, withheld};
    return report;
}

exchange::csv_table rows_of(const std::string& csv) {
    auto t = exchange::parse_csv(csv);
    EXPECT_TRUE(t);
    return std::move(*t);
}

std::string csv_of(const exchange::csv_table& t) {
    exchange::csv_writer w;
    w.row(t.header);
    for (const auto& r : t.rows) {
        w.row(r);
    }
    return w.text();
}

TEST(caseload_review, an_unconfirmed_record_keeps_the_plans_reason) {
    const auto plan = make_caseload_plan(two_withheld(), key, "handover", "cpims-b", false);
    const auto r = read_caseload_review(plan.csv, "review.csv", key, "handover", "officer-1");
    ASSERT_TRUE(r.problems.empty()) << r.problems.front();
    ASSERT_EQ(r.left.size(), 2u);
    EXPECT_EQ(r.left[0].status, "held");
    EXPECT_EQ(r.left[0].reason, "remote_rejected");
    EXPECT_EQ(r.left[1].status, "withheld");
    EXPECT_EQ(r.left[1].reason, "consent_refused");
}

TEST(caseload_review, a_reason_written_over_the_plans_is_refused) {
    const auto plan = make_caseload_plan(two_withheld(), key, "handover", "cpims-b", false);
    auto table = rows_of(plan.csv);
    table.rows[1][2] = "Amina_Begum_moved_to_camp_4";
    const auto r = read_caseload_review(csv_of(table), "review.csv", key, "handover", "officer-1");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(
        r.problems.front(),
        "review.csv:3: source_id, decision or reason edited, or the row is not from a plan of "
        "this flow"
    );
    for (const auto& l : r.left) {
        EXPECT_EQ(l.reason.find("Amina"), std::string::npos);
    }
}

// A plan written before the reason was bound is still read; its reason column is not
// repeated, whatever it holds.
TEST(caseload_review, an_older_plans_reason_column_is_not_repeated) {
    auto table = rows_of(make_caseload_plan(two_withheld(), key, "handover", "cpims-b", false).csv);
    for (auto& row : table.rows) {
        row[8] = caseload_row_check_without_reason(key, "handover", row[0], row[1]);
    }
    table.rows[0][2] = "Amina_Begum_moved_to_camp_4";
    const auto r = read_caseload_review(csv_of(table), "review.csv", key, "handover", "officer-1");
    ASSERT_TRUE(r.problems.empty()) << r.problems.front();
    ASSERT_EQ(r.left.size(), 2u);
    EXPECT_EQ(r.left[0].reason, "not_confirmed");
    EXPECT_EQ(r.left[1].reason, "not_confirmed");
}

}  // namespace
}  // namespace casebridge::sync
