#include "adapter/secret.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace casebridge {
namespace {

TEST(secret, the_first_line_of_a_file_without_trailing_cr_and_spaces) {
    test::temp_dir dir;
    const auto f = dir.write("pw", "s3cret-value \r\nsecond line\n");
    EXPECT_EQ(read_secret(secret_source{f, {}}), "s3cret-value");
    EXPECT_EQ(read_first_line(f), "s3cret-value");
    // A named file wins over a variable.
    ::setenv("CASEBRIDGE_SECRET_TEST", "from-env", 1);
    EXPECT_EQ(read_secret(secret_source{f, "CASEBRIDGE_SECRET_TEST"}), "s3cret-value");
    ::unsetenv("CASEBRIDGE_SECRET_TEST");
}

TEST(secret, an_environment_variable) {
    ::setenv("CASEBRIDGE_SECRET_TEST", "from-env", 1);
    EXPECT_EQ(read_secret(secret_source{{}, "CASEBRIDGE_SECRET_TEST"}), "from-env");
    ::setenv("CASEBRIDGE_SECRET_TEST", "", 1);
    EXPECT_EQ(read_secret(secret_source{{}, "CASEBRIDGE_SECRET_TEST"}), std::nullopt);
    ::unsetenv("CASEBRIDGE_SECRET_TEST");
    EXPECT_EQ(read_secret(secret_source{{}, "CASEBRIDGE_SECRET_TEST"}), std::nullopt);
}

TEST(secret, missing_empty_or_unnamed_is_not_a_secret) {
    test::temp_dir dir;
    EXPECT_EQ(read_secret(secret_source{dir / "absent", {}}), std::nullopt);
    EXPECT_EQ(read_first_line(dir / "absent"), std::nullopt);
    const auto blank = dir.write("blank", " \r\nnext\n");
    EXPECT_EQ(read_first_line(blank), "");
    EXPECT_EQ(read_secret(secret_source{blank, {}}), std::nullopt);
    EXPECT_EQ(read_first_line(dir.write("none", "")), std::nullopt);
    EXPECT_EQ(read_secret(secret_source{}), std::nullopt);
    EXPECT_TRUE(secret_source{}.empty());
}

/// Rewrites `path` in place (same inode), as an editor or `echo > file` does.
void rewrite(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
}

// Secrets are read on every request, and a rotation is seen at once, even when the new secret
// has the same length and the file was rewritten in place a moment after it was read: where
// timestamps are coarser than that, the file keeps its size and times, and only the rule that
// a file written in the last two seconds is always read again sees the change.
TEST(secret, a_file_rewritten_at_once_with_the_same_size_is_read_again) {
    test::temp_dir dir;
    const auto numbered = [](int i) {
        const auto digits = std::to_string(i);
        return "pw-" + std::string(4 - digits.size(), '0') + digits;  // always seven bytes
    };
    const auto f = dir.write("pw", numbered(0) + "\n");
    for (int i = 1; i <= 50; ++i) {
        ASSERT_EQ(read_secret(secret_source{f, {}}), numbered(i - 1));
        rewrite(f, numbered(i) + "\n");
    }
    EXPECT_EQ(read_first_line(f), numbered(50));
}

// A file last written more than two seconds ago is answered from memory while it stays as it
// is; each way it can change is seen on the next read.
TEST(secret, a_settled_file_is_read_again_whenever_it_changes) {
    test::temp_dir dir;
    const auto f = dir.write("pw", "first-secret\n");
    const auto other = dir.write("other", "renamed-over\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(3100));  // both settle
    EXPECT_EQ(read_first_line(f), "first-secret");
    EXPECT_EQ(read_first_line(f), "first-secret");
    rewrite(f, "other-secret\n");  // same size, in place
    EXPECT_EQ(read_first_line(f), "other-secret");
    std::filesystem::rename(other, f);  // replaced by another file
    EXPECT_EQ(read_first_line(f), "renamed-over");
    std::filesystem::remove(f);
    EXPECT_EQ(read_first_line(f), std::nullopt);
    EXPECT_EQ(read_secret(secret_source{f, {}}), std::nullopt);
    rewrite(f, "\n");  // back, without a secret in it
    EXPECT_EQ(read_secret(secret_source{f, {}}), std::nullopt);
}

}  // namespace
}  // namespace casebridge
