#include "adapter/secret.hpp"

#include <cstdlib>

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

}  // namespace
}  // namespace casebridge
