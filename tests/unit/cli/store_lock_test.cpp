#include "cli/store_lock.hpp"

#include <sstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "cli/args.hpp"
#include "core/time.hpp"
#include "store/store.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"
#include "unit/store/test_util.hpp"

namespace casebridge::cli {
namespace {

using test::run_cli;

std::string refusal(const std::filesystem::path& store_file, const store_writer& who) {
    std::ostringstream out;
    std::ostringstream err;
    command_io io{out, err};
    EXPECT_FALSE(lock_store(store_file, who, io));
    EXPECT_TRUE(out.str().empty());
    return err.str();
}

TEST(store_lock, a_refused_flow_run_is_told_the_daemons_run_route) {
    test::temp_dir dir;
    const auto store_file = dir / "s.db";
    auto daemon =
        store::writer_lock::try_acquire(store_file, "casebridge run --config /etc/cb.json");
    ASSERT_TRUE(daemon.held());
    daemon.set_admin_url("http://127.0.0.1:8089");
    const auto err = refusal(store_file, {.command = "flow run", .config = "c.json", .flow = "f1"});
    EXPECT_EQ(err.rfind("casebridge flow run: the store ", 0), 0u) << err;
    EXPECT_NE(err.find("pid " + std::to_string(::getpid())), std::string::npos) << err;
    EXPECT_NE(err.find("casebridge run --config /etc/cb.json"), std::string::npos) << err;
    EXPECT_NE(err.find("send records twice"), std::string::npos) << err;
    EXPECT_NE(err.find("POST http://127.0.0.1:8089/flows/f1/run"), std::string::npos) << err;

    // A second daemon is told to use the first; purge and execute to stop it first.
    EXPECT_NE(
        refusal(store_file, {.command = "run", .config = "c.json"}).find("A daemon already runs"),
        std::string::npos
    );
    EXPECT_NE(
        refusal(store_file, {.command = "store purge"}).find("Stop the daemon first"),
        std::string::npos
    );
}

TEST(store_lock, a_demo_serving_its_daemon_is_asked_like_the_daemon) {
    test::temp_dir dir;
    const auto store_file = dir / "state.db";
    auto demo = store::writer_lock::try_acquire(store_file, "casebridge demo --config /d/c.json");
    ASSERT_TRUE(demo.held());
    auto err = refusal(store_file, {.command = "flow run", .config = "c.json", .flow = "f"});
    EXPECT_NE(err.find("Wait until that process has finished"), std::string::npos) << err;
    demo.set_admin_url("http://127.0.0.1:4000");
    err = refusal(store_file, {.command = "flow run", .config = "c.json", .flow = "f"});
    EXPECT_NE(err.find("POST http://127.0.0.1:4000/flows/f/run"), std::string::npos) << err;
}

TEST(store_lock, a_writer_that_is_not_the_daemon_is_waited_for) {
    test::temp_dir dir;
    const auto store_file = dir / "s.db";
    auto other = store::writer_lock::try_acquire(
        store_file, "casebridge caseload-transfer execute --config /x/c.json"
    );
    ASSERT_TRUE(other.held());
    const auto err = refusal(store_file, {.command = "flow run", .config = "c.json", .flow = "f"});
    EXPECT_NE(err.find("caseload-transfer execute"), std::string::npos) << err;
    EXPECT_NE(err.find("Wait until that process has finished"), std::string::npos) << err;
    EXPECT_EQ(err.find("POST"), std::string::npos) << err;
}

TEST(store_lock, the_lock_file_names_the_command_and_its_configuration) {
    test::temp_dir dir;
    const auto store_file = dir / "s.db";
    std::ostringstream out;
    std::ostringstream err;
    command_io io{out, err};
    const auto held =
        lock_store(store_file, {.command = "flow run", .config = dir / "c.json", .flow = "f"}, io);
    ASSERT_TRUE(held) << err.str();
    const auto seen = store::writer_lock::try_acquire(store_file, "x");
    ASSERT_TRUE(seen.holder());
    EXPECT_EQ(
        seen.holder()->command, "casebridge flow run f --config " + (dir / "c.json").string()
    );
}

class store_purge_lock : public ::testing::Test {
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
    test::temp_dir dir_;
    std::string path_ = (dir_ / "s.db").string();
};

TEST_F(store_purge_lock, purge_is_refused_while_another_writer_holds_the_store_readers_are_not) {
    auto other = store::writer_lock::try_acquire(path_, "casebridge flow run f --config /c.json");
    ASSERT_TRUE(other.held());

    const auto purge = run_cli({"store", "purge", "--store", path_, "--retention-days", "30"});
    EXPECT_EQ(purge.code, exit_error);
    EXPECT_NE(purge.err.find("in use by another writer"), std::string::npos) << purge.err;
    EXPECT_NE(purge.err.find("pid " + std::to_string(::getpid())), std::string::npos);
    EXPECT_NE(purge.err.find("casebridge flow run f --config /c.json"), std::string::npos);
    EXPECT_TRUE(purge.out.empty()) << purge.out;

    // Readers work meanwhile, and the refused purge logged nothing.
    const auto verify = run_cli({"log", "verify", "--store", path_});
    EXPECT_EQ(verify.code, exit_ok) << verify.err;
    EXPECT_NE(verify.out.find("3 entries"), std::string::npos) << verify.out;
    EXPECT_EQ(run_cli({"log", "export", "--store", path_}).code, exit_ok);
    EXPECT_EQ(
        run_cli({"log", "show", "--store", path_, "--record", "primero:case-1"}).code, exit_ok
    );

    { const store::writer_lock gone = std::move(other); }
    const auto again = run_cli({"store", "purge", "--store", path_, "--retention-days", "30"});
    EXPECT_EQ(again.code, exit_ok) << again.err;
    const auto after = run_cli({"log", "verify", "--store", path_});
    EXPECT_NE(after.out.find("4 entries"), std::string::npos) << after.out;
}

}  // namespace
}  // namespace casebridge::cli
