#include "support/child_process.hpp"

#include <csignal>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace casebridge::test {
namespace {

// A child that writes far more to stderr than a pipe holds (64 KiB on Linux) before its
// first line of stdout: without draining stderr while waiting, the child blocks and the first
// line never comes.
TEST(child_process, a_chatty_child_never_blocks_on_its_stderr) {
    auto c = child_process::start(
        "/bin/sh",
        {"-c",
         "i=0; while [ $i -lt 4000 ]; do echo \"log line $i of a chatty child, padded to be "
         "long enough\" >&2; i=$((i+1)); done; echo ready; exec sleep 60"}
    );
    ASSERT_TRUE(c.running());
    EXPECT_EQ(c.line(), "ready");
    std::string logs;
    const int status = c.stop(SIGTERM, &logs);
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
    EXPECT_GT(logs.size(), 200'000u);
    EXPECT_NE(logs.find("log line 3999 of a chatty child"), std::string::npos);
}

TEST(child_process, lines_exit_status_and_the_end_of_stdout) {
    auto c = child_process::start("/bin/sh", {"-c", "echo one; echo two; echo oops >&2; exit 3"});
    ASSERT_TRUE(c.running());
    EXPECT_EQ(c.line(), "one");
    EXPECT_EQ(c.line(), "two");
    EXPECT_EQ(c.line(), "");  // stdout closed
    std::string logs;
    const int status = c.stop(0, &logs);  // signal 0: nothing sent, only reaped
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
    EXPECT_EQ(logs, "oops\n");
}

TEST(child_process, a_child_left_running_is_killed_and_reaped) {
    pid_t pid = -1;
    {
        auto c = child_process::start("/bin/sh", {"-c", "echo up; exec sleep 60"});
        ASSERT_EQ(c.line(), "up");
        pid = c.pid();
        auto moved = std::move(c);
        EXPECT_FALSE(c.running());  // NOLINT(bugprone-use-after-move): the moved-from state
        EXPECT_TRUE(moved.running());
    }
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), -1);  // gone, and reaped (no zombie left to signal)
}

}  // namespace
}  // namespace casebridge::test
