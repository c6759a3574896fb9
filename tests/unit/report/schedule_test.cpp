// Monthly reports (report/schedule.hpp): the period, the day rule, once a month, caught up
// after a missed day, and the list of folders written. Real files, a real store.
#include "report/schedule.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>

#include <gtest/gtest.h>

#include "store/store.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::report {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

time_point at(int y, unsigned m, unsigned d, int h = 10) {
    return std::chrono::sys_days(std::chrono::year(y) / m / d) + std::chrono::hours(h);
}

TEST(report_schedule, a_monthly_report_covers_the_month_before) {
    EXPECT_EQ(previous_month(at(2026, 12, 3)), "2026-11");
    EXPECT_EQ(previous_month(at(2027, 1, 1, 0)), "2026-12");
    EXPECT_EQ(previous_month(at(2026, 3, 31, 23)), "2026-02");
    EXPECT_EQ(report_dir("/r", "cpss-monthly", "2026-11"), fs::path("/r/cpss-monthly/2026-11"));
}

TEST(report_schedule, made_once_a_month_from_its_day_and_listed) {
    test::temp_dir dir;
    // An agency's store with sharing events in November.
    manual_clock clock(at(2026, 11, 12));
    {
        auto s = store::store::open(dir / "agency.db", {}, clock);
        ASSERT_TRUE(s);
        store::page_commit page;
        for (int i = 0; i < 12; ++i) {
            store::log_entry_input e;
            e.flow = store::token("flow-x");
            e.dir = store::direction::outbound;
            e.purpose = store::token("referral");
            e.source = store::record_id{"cpims", *store::token::make("c" + std::to_string(i))};
            e.target = store::record_id{"progres", "r"};
            e.legitimate_basis = store::token("consent");
            page.entries.push_back(std::move(e));
        }
        ASSERT_TRUE(s->commit_page(page));
    }
    report_sources src;
    src.store = dir / "agency.db";
    const auto defs = source_dir / "config/reports.json";
    const auto out = dir / "reports";
    // Before its day: nothing.
    EXPECT_TRUE(run_monthly(defs, {"dpisp-activity"}, 5, src, out, at(2026, 12, 4)).empty());
    EXPECT_TRUE(list_reports(out).empty());
    // On its day (or later, after a missed day): made for November.
    auto made = run_monthly(defs, {"dpisp-activity"}, 5, src, out, at(2026, 12, 9));
    ASSERT_EQ(made.size(), 1u);
    EXPECT_TRUE(made[0].written) << made[0].error;
    EXPECT_EQ(made[0].period, "2026-11");
    EXPECT_EQ(made[0].units, 12u);
    // Once: the folder holds its manifest.
    EXPECT_TRUE(run_monthly(defs, {"dpisp-activity"}, 5, src, out, at(2026, 12, 20)).empty());
    const auto listed = list_reports(out);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].id, "dpisp-activity");
    EXPECT_EQ(listed[0].period, "2026-11");
    EXPECT_FALSE(listed[0].title.empty());
    EXPECT_FALSE(listed[0].written_at.empty());
    EXPECT_NE(
        std::find(listed[0].files.begin(), listed[0].files.end(), "report.html"),
        listed[0].files.end()
    );
    // A report without its source, and an unknown id, are reported, not written.
    made = run_monthly(defs, {"cpss-monthly", "nope"}, 1, src, out, at(2027, 1, 2));
    ASSERT_EQ(made.size(), 2u);
    EXPECT_FALSE(made[0].written);
    EXPECT_NE(made[0].error.find("hub's store"), std::string::npos) << made[0].error;
    EXPECT_FALSE(made[1].written);
    EXPECT_NE(made[1].error.find("no report with this id"), std::string::npos);
    // A folder without a manifest (a report being written) is not listed.
    fs::create_directories(out / "cpss-monthly/2026-12");
    std::ofstream(out / "cpss-monthly/2026-12/report.html") << "<html>";
    EXPECT_EQ(list_reports(out).size(), 1u);
}

}  // namespace
}  // namespace casebridge::report
