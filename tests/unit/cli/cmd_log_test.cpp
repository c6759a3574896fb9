#include <sstream>

#include <gtest/gtest.h>

#include "cli/cli.hpp"
#include "core/time.hpp"
#include "store/store.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"
#include "unit/store/test_util.hpp"

namespace casebridge::cli {
namespace {

using test::run_cli;

class log_commands : public ::testing::Test {
protected:
    void SetUp() override {
        key_ = store::testing::write_key(dir_, "k");
        manual_clock clock(*parse_rfc3339("2025-03-01T08:00:00Z"));
        auto s = store::store::open(path_, {key_, dir_ / "witness.json", 3}, clock);
        ASSERT_TRUE(s);
        for (int n = 1; n <= 6; ++n) {
            store::page_commit p;
            p.entries.push_back(store::testing::sample_entry(n));
            ASSERT_TRUE(s->commit_page(p));
            clock.advance(std::chrono::hours(1));
        }
        ASSERT_TRUE(s->end_run());
    }
    test::temp_dir dir_;
    std::string path_ = (dir_ / "s.db").string();
    std::filesystem::path key_;
};

TEST_F(log_commands, verify_passes_then_names_the_tampered_entry) {
    const auto ok = run_cli(
        {"log",
         "verify",
         "--store",
         path_,
         "--public-key",
         (dir_ / "k.pub.pem").string(),
         "--checkpoint",
         (dir_ / "witness.json").string()}
    );
    EXPECT_EQ(ok.code, exit_ok) << ok.err;
    EXPECT_NE(ok.out.find("ok: 6 entries and 3 checkpoints verified"), std::string::npos) << ok.out;
    {
        auto d = store::db::open(path_);
        ASSERT_TRUE(d);
        ASSERT_TRUE(d->exec("UPDATE transfer_log SET outcome = 'rejected' WHERE seq = 5"));
    }
    const auto bad = run_cli({"log", "verify", "--store", path_});
    EXPECT_EQ(bad.code, exit_error);
    EXPECT_NE(bad.err.find("FAILED at entry 5"), std::string::npos) << bad.err;
    EXPECT_NE(bad.out.find("verified 4 entries"), std::string::npos) << bad.out;
}

TEST_F(log_commands, verify_refuses_a_missing_store_without_creating_it) {
    const auto r = run_cli({"log", "verify", "--store", (dir_ / "nope.db").string()});
    EXPECT_EQ(r.code, exit_error);
    EXPECT_NE(r.err.find("no such store file"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "nope.db"));
    EXPECT_EQ(run_cli({"log", "verify"}).code, exit_usage);
}

TEST_F(log_commands, export_json_and_csv_with_a_time_window) {
    const auto json = run_cli(
        {"log",
         "export",
         "--store",
         path_,
         "--since",
         "2025-03-01T09:00:00Z",
         "--until",
         "2025-03-01T11:00:00Z"}
    );
    EXPECT_EQ(json.code, exit_ok) << json.err;
    EXPECT_NE(json.out.find("\"seq\":2"), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"seq\":3"), std::string::npos);
    EXPECT_EQ(json.out.find("\"seq\":1,"), std::string::npos);
    EXPECT_EQ(json.out.find("\"seq\":4"), std::string::npos);
    EXPECT_NE(json.out.find("\"entry_hash\":"), std::string::npos);
    const auto csv = run_cli({"log", "export", "--store", path_, "--format", "csv"});
    EXPECT_EQ(csv.code, exit_ok);
    EXPECT_EQ(csv.out.rfind("seq,ts,kind,flow,", 0), 0u) << csv.out;
    EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 7);  // header + 6
    EXPECT_NE(
        csv.out.find("\"[\"\"sex\"\",\"\"age\"\",\"\"protection_concerns\"\"]\""), std::string::npos
    );
    EXPECT_EQ(run_cli({"log", "export", "--store", path_, "--format", "xml"}).code, exit_usage);
    EXPECT_EQ(
        run_cli({"log", "export", "--store", path_, "--since", "yesterday"}).code, exit_usage
    );
}

TEST_F(log_commands, show_lists_the_history_of_one_record) {
    const auto r = run_cli({"log", "show", "--store", path_, "--record", "progres:guid-4"});
    EXPECT_EQ(r.code, exit_ok) << r.err;
    EXPECT_NE(r.out.find("#4 "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("primero:case-4 -> progres:guid-4"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 entries"), std::string::npos);
    EXPECT_EQ(r.out.find("#3 "), std::string::npos);
    EXPECT_EQ(run_cli({"log", "show", "--store", path_, "--record", "nocolon"}).code, exit_usage);
}

TEST_F(log_commands, purge_logs_a_chained_entry_and_public_key_exports) {
    const auto r = run_cli({"store", "purge", "--store", path_, "--retention-days", "30"});
    EXPECT_EQ(r.code, exit_ok) << r.err;
    EXPECT_NE(r.out.find("purged 0 links and 0 deliveries"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(log entry 7)"), std::string::npos) << r.out;
    EXPECT_EQ(run_cli({"log", "verify", "--store", path_}).code, exit_ok);
    EXPECT_EQ(
        run_cli({"store", "purge", "--store", path_, "--retention-days", "-3"}).code, exit_usage
    );
    const auto pk = run_cli({"log", "public-key", "--signing-key", key_.string()});
    EXPECT_EQ(pk.code, exit_ok);
    EXPECT_EQ(pk.out.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
    EXPECT_EQ(
        run_cli({"log", "public-key", "--signing-key", (dir_ / "k.pub.pem").string()}).code,
        exit_error
    );
}

}  // namespace
}  // namespace casebridge::cli
