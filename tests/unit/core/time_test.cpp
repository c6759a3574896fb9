#include "core/time.hpp"

#include <cstdint>

#include <gtest/gtest.h>

namespace casebridge {
namespace {

using namespace std::chrono;

TEST(time, formats_utc_with_fractions) {
    const time_point t =
        sys_days{year{2025} / 3 / 1} + hours{8} + minutes{15} + seconds{30} + milliseconds{123};
    EXPECT_EQ(format_rfc3339(t), "2025-03-01T08:15:30Z");
    EXPECT_EQ(format_rfc3339(t, 3), "2025-03-01T08:15:30.123Z");
    EXPECT_EQ(format_rfc3339(t, 6), "2025-03-01T08:15:30.123000Z");
}

TEST(time, pads_every_part_with_zeros) {
    const time_point t =
        sys_days{year{1901} / 1 / 2} + hours{3} + minutes{4} + seconds{5} + microseconds{6'007};
    EXPECT_EQ(format_rfc3339(t), "1901-01-02T03:04:05Z");
    EXPECT_EQ(format_rfc3339(t, 3), "1901-01-02T03:04:05.006Z");
    EXPECT_EQ(format_rfc3339(t, 6), "1901-01-02T03:04:05.006007Z");
    const time_point last = sys_days{year{2099} / 12 / 31} + hours{23} + minutes{59} + seconds{59} +
                            microseconds{999'999};
    EXPECT_EQ(format_rfc3339(last, 6), "2099-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(last, 3), "2099-12-31T23:59:59.999Z");
}

// Whatever it formats, it reads back as the same instant (to the digits written), over the
// years a time_point holds, with three seeds.
TEST(time, formats_what_it_parses_back_across_the_range) {
    const auto first = sys_days{year{1678} / 1 / 1}.time_since_epoch();
    const auto last = sys_days{year{2261} / 12 / 31}.time_since_epoch();
    for (const std::uint64_t seed : {1U, 2026U, 77777U}) {
        std::uint64_t x = seed;
        for (int i = 0; i < 2000; ++i) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            const auto span = static_cast<std::uint64_t>((last - first).count());
            const time_point t{first + nanoseconds{static_cast<long long>((x >> 1) % span)}};
            for (const int digits : {0, 3, 6}) {
                const auto text = format_rfc3339(t, digits);
                ASSERT_EQ(text.size(), digits == 0 ? 20U : 21U + static_cast<unsigned>(digits));
                const auto back = parse_rfc3339(text);
                ASSERT_TRUE(back) << text;
                const long long unit = digits == 0   ? 1'000'000'000
                                       : digits == 3 ? 1'000'000
                                                     : 1'000;
                const long long within = (t - floor<seconds>(t)).count();
                EXPECT_EQ(*back, floor<seconds>(t) + nanoseconds{within - within % unit}) << text;
            }
        }
    }
}

TEST(time, parses_offsets_into_utc) {
    const auto a = parse_rfc3339("2025-03-01T14:15:30+06:00");  // Dhaka
    const auto b = parse_rfc3339("2025-03-01T08:15:30Z");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(*a, *b);
    const auto c = parse_rfc3339("2025-03-01T03:15:30.5-05:00");
    ASSERT_TRUE(c);
    EXPECT_EQ(format_rfc3339(*c, 3), "2025-03-01T08:15:30.500Z");
}

TEST(time, round_trips) {
    for (const char* s :
         {"1999-12-31T23:59:59Z", "2024-02-29T00:00:00.001Z", "2038-01-19T03:14:08Z"}) {
        const auto t = parse_rfc3339(s);
        ASSERT_TRUE(t) << s;
        EXPECT_EQ(
            format_rfc3339(*t, std::string_view(s).find('.') != std::string_view::npos ? 3 : 0), s
        );
    }
}

TEST(time, rejects_malformed) {
    for (const char* s :
         {"",
          "2025-03-01",
          "2025-02-30T00:00:00Z",
          "2025-03-01T24:00:00Z",
          "2025-03-01T08:15:30",
          "2025-03-01T08:15:30+0600",
          "2025-3-01T08:15:30Z",
          "2025-03-01T08:15:30.Z",
          "2025-03-01T08:15:30Zjunk"}) {
        EXPECT_FALSE(parse_rfc3339(s)) << s;
    }
}

TEST(time, dates_outside_what_a_time_point_holds_are_refused) {
    // Nanoseconds in 64 bits end in 2262; 2850 used to wrap around (UBSan: signed overflow).
    EXPECT_FALSE(parse_date("2850-03-01"));
    EXPECT_FALSE(parse_date("1600-01-01"));
    EXPECT_FALSE(parse_rfc3339("2850-03-01T08:00:00+06:00"));
    EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59Z"));
    ASSERT_TRUE(parse_date("2261-12-31"));
    ASSERT_TRUE(parse_date("1678-01-01"));
    EXPECT_EQ(format_rfc3339(*parse_date("2261-12-31")), "2261-12-31T00:00:00Z");
    ASSERT_TRUE(parse_rfc3339("1678-01-01T00:00:00+14:00"));
}

TEST(time, parses_dates) {
    ASSERT_TRUE(parse_date("2010-06-15"));
    EXPECT_EQ(format_rfc3339(*parse_date("2010-06-15")), "2010-06-15T00:00:00Z");
    EXPECT_FALSE(parse_date("2010-13-01"));
    EXPECT_FALSE(parse_date("15/06/2010"));
}

}  // namespace
}  // namespace casebridge
