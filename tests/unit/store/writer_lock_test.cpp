#include "store/writer_lock.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(writer_lock, a_second_writer_is_refused_and_told_who_holds_the_store) {
    test::temp_dir dir;
    const auto store_file = dir / "s.db";
    auto first = writer_lock::try_acquire(store_file, "casebridge run --config /etc/cb.json");
    ASSERT_TRUE(first.held()) << first.error();
    EXPECT_EQ(first.file(), fs::canonical(dir.path()) / "s.db.lock");
    first.set_admin_url("http://127.0.0.1:8089");

    // A second open file description conflicts, even in the same process (flock semantics).
    const auto second = writer_lock::try_acquire(store_file, "casebridge flow run x");
    EXPECT_FALSE(second.held());
    EXPECT_TRUE(second.error().empty()) << second.error();
    ASSERT_TRUE(second.holder());
    EXPECT_EQ(second.holder()->pid, static_cast<long>(::getpid()));
    EXPECT_EQ(second.holder()->command, "casebridge run --config /etc/cb.json");
    EXPECT_EQ(second.holder()->admin_url, "http://127.0.0.1:8089");
    EXPECT_FALSE(second.holder()->since.empty());
    const auto why = second.describe_refusal(store_file);
    EXPECT_NE(why.find("in use by another writer"), std::string::npos) << why;
    EXPECT_NE(why.find("pid " + std::to_string(::getpid())), std::string::npos) << why;
    EXPECT_NE(why.find("(casebridge run --config /etc/cb.json)"), std::string::npos) << why;
    EXPECT_NE(why.find("s.db.lock"), std::string::npos) << why;

    // Released with its owner: the next writer gets it and rewrites the file.
    { const writer_lock gone = std::move(first); }
    auto third = writer_lock::try_acquire(store_file, "casebridge store purge");
    ASSERT_TRUE(third.held()) << third.error();
    const auto fourth = writer_lock::try_acquire(store_file, "x");
    ASSERT_TRUE(fourth.holder());
    EXPECT_EQ(fourth.holder()->command, "casebridge store purge");
    EXPECT_TRUE(fourth.holder()->admin_url.empty());
}

TEST(writer_lock, two_names_of_one_store_share_one_lock) {
    test::temp_dir dir;
    dir.write("real.db", "");
    fs::create_symlink(dir / "real.db", dir / "alias.db");
    const auto a = writer_lock::try_acquire(dir / "real.db", "a");
    ASSERT_TRUE(a.held());
    const auto b = writer_lock::try_acquire(dir / "alias.db", "b");
    EXPECT_FALSE(b.held());
    const auto c = writer_lock::try_acquire(dir / "sub/../real.db", "c");
    EXPECT_FALSE(c.held());
}

TEST(writer_lock, a_holder_killed_with_sigkill_releases_the_lock) {
    // Another process takes the same flock on the lock file, writes its pid the way casebridge
    // does, and keeps the descriptor while it sleeps (exec keeps the pid and the descriptor).
    test::temp_dir dir;
    const auto store_file = dir / "s.db";
    const auto lock_file = writer_lock::lock_file_of(store_file);
    auto holder = test::child_process::start(
        "/bin/sh",
        {"-c",
         "exec 9<>\"$1\" && flock -x 9 && printf 'pid %s\\ncommand holder-test\\n' $$ >&9 && "
         "echo locked && exec sleep 120",
         "sh",
         lock_file.string()}
    );
    ASSERT_TRUE(holder.running());
    ASSERT_EQ(holder.line(), "locked");

    const auto refused = writer_lock::try_acquire(store_file, "casebridge flow run x");
    EXPECT_FALSE(refused.held());
    ASSERT_TRUE(refused.holder());
    EXPECT_EQ(refused.holder()->pid, static_cast<long>(holder.pid()));
    EXPECT_EQ(refused.holder()->command, "holder-test");

    const int status = holder.stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status));
    const auto after = writer_lock::try_acquire(store_file, "casebridge flow run x");
    EXPECT_TRUE(after.held()) << after.error();
}

TEST(writer_lock, a_lock_file_that_cannot_be_opened_is_named) {
    test::temp_dir dir;
    const auto l = writer_lock::try_acquire(dir / "no-such-folder/s.db", "x");
    EXPECT_FALSE(l.held());
    EXPECT_FALSE(l.holder());
    EXPECT_NE(l.error().find("no-such-folder/s.db.lock"), std::string::npos) << l.error();
    EXPECT_NE(
        l.describe_refusal(dir / "no-such-folder/s.db").find("cannot be locked"), std::string::npos
    );
}

TEST(writer_lock, parse_lock_holder_reads_known_lines_only) {
    const auto h =
        parse_lock_holder("pid 42\ncommand casebridge run --config a b\njunk\nsince T\n");
    EXPECT_EQ(h.pid, 42);
    EXPECT_EQ(h.command, "casebridge run --config a b");
    EXPECT_EQ(h.since, "T");
    EXPECT_EQ(parse_lock_holder("pid -3\n").pid, 0);
    EXPECT_EQ(parse_lock_holder("pid 12x\n").pid, 0);
    EXPECT_EQ(parse_lock_holder("").pid, 0);
}

}  // namespace
}  // namespace casebridge::store
