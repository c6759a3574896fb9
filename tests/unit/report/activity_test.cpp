// The DPISP activity report: an agency's sharing events read from its own transfer log (a real
// SQLite store written through the store's page commits), counted and protected like every
// report. No record id may reach a unit.
#include <chrono>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "report/report.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::report {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

struct event {
    const char* target;
    const char* purpose;
    store::outcome result;
    const char* basis;     // sent
    const char* reason;    // withheld
    const char* override;  // sent on an override
    int count;
};

class activity_report : public ::testing::Test {
protected:
    test::temp_dir dir;
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 11 / 2) + 8h};
    std::size_t next_id = 0;

    void write(store::store& s, const std::vector<event>& events, bool inbound = false) {
        store::page_commit page;
        for (const auto& ev : events) {
            for (int i = 0; i < ev.count; ++i) {
                store::log_entry_input e{};
                e.flow.emplace("flow-x");
                e.dir = inbound ? store::direction::inbound : store::direction::outbound;
                e.purpose = *store::token::make(ev.purpose);
                const std::string id = "case-secret-" + std::to_string(next_id++);
                e.source = store::record_id{"cpims", *store::token::make(id)};
                e.target = store::record_id{*store::token::make(ev.target), "target-secret-id"};
                e.result = ev.result;
                if (ev.basis != nullptr) {
                    e.legitimate_basis = *store::token::make(ev.basis);
                }
                if (ev.reason != nullptr) {
                    e.reason = *store::token::make(ev.reason);
                }
                if (ev.override != nullptr) {
                    e.override_reason = *store::token::make(ev.override);
                }
                page.entries.push_back(std::move(e));
            }
        }
        ASSERT_TRUE(s.commit_page(page));
    }

    fs::path make_store() {
        const auto path = dir / "agency.db";
        auto s = store::store::open(path, {}, clock);
        EXPECT_TRUE(s) << s.error().message();
        write(
            *s,
            {{"progres", "referral", store::outcome::sent, "consent", nullptr, nullptr, 37},
             {"progres", "referral", store::outcome::sent, "vital_interest", nullptr, nullptr, 2},
             {"imo-hub", "report", store::outcome::sent, "public_interest", nullptr, nullptr, 12},
             {"progres", "referral", store::outcome::withheld, nullptr, "no_basis", nullptr, 8},
             {"imo-hub", "report", store::outcome::withheld, nullptr, "no_basis", nullptr, 6},
             {"progres",
              "referral",
              store::outcome::withheld,
              nullptr,
              "unmapped_value",
              nullptr,
              3},
             {"imo-hub", "report", store::outcome::consent_withdrawn, nullptr, nullptr, nullptr, 5},
             {"dss",
              "transfer",
              store::outcome::sent,
              "consent",
              nullptr,
              "caseworker_confirmed",
              3}}
        );
        // Received, not shared: not part of the activity.
        write(
            *s,
            {{"cpims", "decision", store::outcome::acknowledged, nullptr, nullptr, nullptr, 9}},
            true
        );
        // Next month: outside the period.
        clock.advance(std::chrono::hours(24 * 30));
        write(*s, {{"progres", "referral", store::outcome::sent, "consent", nullptr, nullptr, 4}});
        return path;
    }
};

std::map<std::string, int> tally(const std::vector<child>& units, const std::string& dim) {
    std::map<std::string, int> out;
    for (const auto& u : units) {
        const auto it = u.values.find(dim);
        if (it != u.values.end()) {
            for (const auto& v : it->second) {
                ++out[v];
            }
        }
    }
    return out;
}

TEST_F(activity_report, counts_the_agencys_own_sharing_events_of_the_period) {
    const auto path = make_store();
    const auto units = events_from_log(path, "2026-11");
    ASSERT_EQ(units.size(), 76u);  // every outbound entry of November, no inbound one
    EXPECT_EQ(
        tally(units, "basis"),
        (std::map<std::string, int>{
            {"consent", 40}, {"public_interest", 12}, {"vital_interest", 2}, {"not_sent", 22}})
    );
    EXPECT_EQ(
        tally(units, "withheld_reason"),
        (std::map<std::string, int>{{"no_basis", 14}, {"unmapped_value", 3}, {"not_withheld", 59}})
    );
    EXPECT_EQ(
        tally(units, "withdrawn"),
        (std::map<std::string, int>{{"imo-hub", 5}, {"no_withdrawal", 71}})
    );
    EXPECT_EQ(
        tally(units, "override"),
        (std::map<std::string, int>{{"caseworker_confirmed", 3}, {"no_override", 73}})
    );
    EXPECT_EQ(tally(units, "month"), (std::map<std::string, int>{{"2026-11", 76}}));
    EXPECT_EQ(events_from_log(path, "2026-12").size(), 4u);
    EXPECT_EQ(events_from_log(path, "2026").size(), 80u);
    // Codes only: no record id of either side in any unit.
    for (const auto& u : units) {
        for (const auto& [dim, values] : u.values) {
            for (const auto& v : values) {
                EXPECT_EQ(v.find("secret"), std::string::npos) << dim;
            }
        }
    }
}

TEST_F(activity_report, the_shipped_report_is_protected_and_passes_its_audit) {
    const auto path = make_store();
    const auto specs = load_report_specs(source_dir / "config/reports.json");
    const report_spec* spec = nullptr;
    for (const auto& s : specs) {
        if (s.id == "dpisp-activity") {
            spec = &s;
        }
    }
    ASSERT_NE(spec, nullptr);
    const auto r = build_report(*spec, events_from_log(path, "2026-11"), "2026-11");
    EXPECT_TRUE(r.exposures.empty());
    // The overrides (3) and the vital-interest referrals (2) are small counts: withheld.
    EXPECT_GE(r.protection.primary_count, 2u);
    std::size_t overrides = 0;
    for (std::size_t t = 0; t < r.tables.size(); ++t) {
        if (r.tables[t].id() != "overrides") {
            continue;
        }
        for (std::size_t cell = 0; cell < r.tables[t].size(); ++cell) {
            if (r.tables[t].count(cell) == 3) {
                ++overrides;
                EXPECT_TRUE(r.protection.suppressed[t][cell]);
            }
        }
    }
    EXPECT_GT(overrides, 0u);
    write_report(r, dir / "out");
    const auto audit = audit_folder(dir / "out");
    EXPECT_TRUE(audit.exposed.empty());
    EXPECT_EQ(audit.report, "dpisp-activity");
}

TEST_F(activity_report, a_period_it_cannot_bound_is_refused_by_name) {
    const auto path = make_store();
    for (const char* bad : {"2026-13", "november", "2026-1", ""}) {
        try {
            (void)events_from_log(path, bad);
            ADD_FAILURE() << bad;
        } catch (const std::runtime_error& e) {
            EXPECT_NE(
                std::string(e.what()).find("period '" + std::string(bad) + "'"), std::string::npos
            ) << e.what();
        }
    }
    EXPECT_THROW((void)events_from_log(dir / "missing.db", "2026-11"), std::runtime_error);
}

}  // namespace
}  // namespace casebridge::report
