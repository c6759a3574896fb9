// log verify, export and show read a store without writing it, and say what is wrong with a
// file that is not a store they can read.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/cli.hpp"
#include "core/time.hpp"
#include "store/migrations.hpp"
#include "store/store.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"
#include "unit/store/test_util.hpp"

namespace casebridge::cli {
namespace {

namespace fs = std::filesystem;
using test::run_cli;

std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class log_readers : public ::testing::Test {
protected:
    void SetUp() override {
        manual_clock clock(*parse_rfc3339("2025-03-01T08:00:00Z"));
        auto s = store::store::open(path_, {}, clock);
        ASSERT_TRUE(s);
        for (int n = 1; n <= 3; ++n) {
            store::page_commit p;
            p.entries.push_back(store::testing::sample_entry(n));
            ASSERT_TRUE(s->commit_page(p));
        }
    }

    /// Runs `sql` on the store with a plain read-write connection.
    void alter(const std::string& sql) {
        auto d = store::db::open(path_);
        ASSERT_TRUE(d);
        ASSERT_TRUE(d->exec(sql)) << d->last_error();
    }

    /// Every log reader refuses the store with a message holding `says`, exit 1.
    void expect_refused(const std::string& store_file, const std::string& says) {
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"log", "verify", "--store", store_file},
                 {"log", "export", "--store", store_file},
                 {"log", "show", "--store", store_file, "--record", "primero:case-1"}}) {
            const auto r = run_cli(args);
            EXPECT_EQ(r.code, exit_error) << args[1] << ": " << r.out;
            EXPECT_NE(r.err.find(store_file + ": " + says), std::string::npos)
                << args[1] << ": " << r.err;
            EXPECT_TRUE(r.out.empty()) << args[1] << ": " << r.out;
        }
    }

    test::temp_dir dir_;
    std::string path_ = (dir_ / "s.db").string();
};

TEST_F(log_readers, an_empty_file_is_named_and_left_empty) {
    const auto empty = dir_.write("empty.db", "");
    expect_refused(empty.string(), "the file is empty (0 bytes): not a casebridge store");
    EXPECT_EQ(fs::file_size(empty), 0u);
}

TEST_F(log_readers, a_schema_version_this_build_does_not_know_is_refused) {
    alter("PRAGMA user_version = 999");
    expect_refused(
        path_,
        "schema version 999 is newer than this casebridge reads (" +
            std::to_string(store::schema_version()) +
            "): use the casebridge that wrote it, or a newer one"
    );
    alter("PRAGMA user_version = 0");
    expect_refused(path_, "not a casebridge store (no schema version)");
}

TEST_F(log_readers, a_missing_table_is_named) {
    alter("DROP TABLE checkpoints");
    expect_refused(
        path_,
        "schema version " + std::to_string(store::schema_version()) +
            " but no table checkpoints: a damaged store, or not a casebridge store"
    );
}

TEST_F(log_readers, a_file_that_is_not_sqlite_is_named) {
    const auto text = dir_.write("notes.db", std::string(8192, 'x'));
    expect_refused(text.string(), "not a readable SQLite database (file is not a database)");
    EXPECT_EQ(bytes_of(text), std::string(8192, 'x'));
}

TEST_F(log_readers, readers_never_write_the_store_file) {
    // Everything committed is in the main file once the writer is gone; a reader must leave
    // its bytes exactly as they were.
    alter("PRAGMA wal_checkpoint(TRUNCATE)");
    const std::string before = bytes_of(path_);
    EXPECT_EQ(run_cli({"log", "verify", "--store", path_}).code, exit_ok);
    EXPECT_EQ(run_cli({"log", "export", "--store", path_}).code, exit_ok);
    EXPECT_EQ(
        run_cli({"log", "show", "--store", path_, "--record", "primero:case-1"}).code, exit_ok
    );
    EXPECT_EQ(bytes_of(path_), before);
}

}  // namespace
}  // namespace casebridge::cli
