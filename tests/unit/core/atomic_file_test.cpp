// Durable file writes: a replacing write and one that never replaces an existing file.
#include "core/atomic_file.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/temp_dir.hpp"

namespace casebridge {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(atomic_file, replacing_write_replaces) {
    test::temp_dir dir;
    const auto p = dir / "a.json";
    ASSERT_TRUE(write_file_atomically(p, "one"));
    ASSERT_TRUE(write_file_atomically(p, "two"));
    EXPECT_EQ(slurp(p), "two");
}

TEST(atomic_file, a_new_file_is_never_written_over) {
    test::temp_dir dir;
    const auto p = dir / "receipt.json";
    ASSERT_TRUE(write_new_file(p, "first receipt", 0640));
    EXPECT_EQ(slurp(p), "first receipt");
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);

    auto again = write_new_file(p, "second receipt");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().value(), EEXIST);
    EXPECT_EQ(slurp(p), "first receipt");
    // No temporary file is left behind.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++files;
    }
    EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace casebridge
