#include "core/error.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

#include "core/result.hpp"

namespace casebridge {
namespace {

result<int> fails_with_location() {
    CASEBRIDGE_RETURN_ERROR(errc::unmapped_value);
}

TEST(error, category_and_names) {
    const boost::system::error_code ec = errc::multiple_matches;
    EXPECT_STREQ(ec.category().name(), "casebridge");
    EXPECT_EQ(error_name(ec), "casebridge:multiple_matches");
    EXPECT_EQ(ec.message(), "several records match one identity");
}

TEST(error, every_code_has_a_name_and_message) {
    for (int v = static_cast<int>(errc::usage); v <= static_cast<int>(errc::cancelled); ++v) {
        const boost::system::error_code ec(v, casebridge_category());
        EXPECT_NE(error_name(ec), "casebridge:" + std::to_string(v)) << v;
        EXPECT_EQ(ec.message().find("unknown"), std::string::npos) << v;
    }
}

TEST(error, transient_classification) {
    EXPECT_TRUE(is_transient(errc::remote_unavailable));
    EXPECT_TRUE(is_transient(errc::rate_limited));
    EXPECT_TRUE(is_transient(boost::asio::error::connection_reset));
    EXPECT_TRUE(is_transient(boost::asio::error::timed_out));
    EXPECT_FALSE(is_transient(errc::remote_rejected));
    EXPECT_FALSE(is_transient(errc::unmapped_value));
    EXPECT_FALSE(is_transient(errc::auth_failed));
    EXPECT_FALSE(is_transient(errc::multiple_matches));
}

TEST(error, return_error_records_source_location) {
    const auto r = fails_with_location();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::unmapped_value);
    ASSERT_TRUE(r.error().has_location());
    EXPECT_NE(
        std::string(r.error().location().file_name()).find("error_test.cpp"), std::string::npos
    );
}

}  // namespace
}  // namespace casebridge
