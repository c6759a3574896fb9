#include "core/clock.hpp"

#include <gtest/gtest.h>

#include "core/time.hpp"

namespace casebridge {
namespace {

TEST(manual_clock, moves_only_when_told) {
    manual_clock clock(*parse_rfc3339("2025-01-01T00:00:00Z"));
    const auto s0 = clock.steady_now();
    EXPECT_EQ(format_rfc3339(clock.now()), "2025-01-01T00:00:00Z");
    clock.advance(std::chrono::seconds(90));
    EXPECT_EQ(format_rfc3339(clock.now()), "2025-01-01T00:01:30Z");
    EXPECT_EQ(clock.steady_now() - s0, std::chrono::seconds(90));
    clock.set(*parse_rfc3339("2024-12-31T23:00:00Z"));  // wall clock stepped back
    EXPECT_EQ(format_rfc3339(clock.now()), "2024-12-31T23:00:00Z");
    EXPECT_EQ(clock.steady_now() - s0, std::chrono::seconds(90));  // steady clock did not
}

TEST(system_clock_source, is_close_to_the_system_clock) {
    const auto& c = system_clock_source::instance();
    const auto d = c.now() - std::chrono::system_clock::now();
    EXPECT_LT(std::chrono::abs(d), std::chrono::seconds(5));
}

}  // namespace
}  // namespace casebridge
