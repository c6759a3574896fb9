#include "core/time.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace casebridge {
namespace {

using namespace std::chrono;

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) {
        return false;
    }
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

/// Writes `v` as `width` decimal digits, zero-padded, at `at` (room already there).
void put_digits(char* at, long long v, int width) {
    for (int i = width - 1; i >= 0; --i) {
        at[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
}

/// Writes "YYYY-MM-DD" (10 characters) at `at`, for a year in 0-9999.
void put_ymd(char* at, const year_month_day& d) {
    at[4] = '-';
    at[7] = '-';
    put_digits(at, static_cast<int>(d.year()), 4);
    put_digits(at + 5, static_cast<unsigned>(d.month()), 2);
    put_digits(at + 8, static_cast<unsigned>(d.day()), 2);
}

}  // namespace

std::string format_ymd(const year_month_day& d) {
    const int y = static_cast<int>(d.year());
    if (y < 0 || y > 9999) {
        std::array<char, 24> buf{};
        const int n = std::snprintf(
            buf.data(),
            buf.size(),
            "%04d-%02u-%02u",
            y,
            static_cast<unsigned>(d.month()),
            static_cast<unsigned>(d.day())
        );
        return {buf.data(), static_cast<std::size_t>(n)};
    }
    // Without printf: this runs for every date and date-time a mapping writes, and showed in
    // its profile.
    std::string out(10, '0');
    put_ymd(out.data(), d);
    return out;
}

std::optional<year_month_day> parse_ymd(std::string_view s) {
    int y = 0;
    int mo = 0;
    int d = 0;
    if (s.size() != 10 || !read_digits(s, 0, 4, y) || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
        s[7] != '-' || !read_digits(s, 8, 2, d)) {
        return std::nullopt;
    }
    const year_month_day ymd{
        year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return ymd;
}

std::size_t format_rfc3339_to(
    time_point t, int fraction_digits, std::array<char, rfc3339_max>& out
) {
    // A time_point (nanoseconds in 64 bits) lies in the years 1677-2262: four digits.
    const auto day_start = floor<days>(t);
    const year_month_day ymd{day_start};
    const hh_mm_ss hms{floor<microseconds>(t - day_start)};
    char* const at = out.data();
    put_ymd(at, ymd);
    at[10] = 'T';
    at[13] = ':';
    at[16] = ':';
    put_digits(at + 11, hms.hours().count(), 2);
    put_digits(at + 14, hms.minutes().count(), 2);
    put_digits(at + 17, hms.seconds().count(), 2);
    std::size_t n = 19;
    if (fraction_digits == 3 || fraction_digits == 6) {
        const auto us = hms.subseconds().count();
        out[n++] = '.';
        put_digits(at + n, fraction_digits == 3 ? us / 1000 : us, fraction_digits);
        n += static_cast<std::size_t>(fraction_digits);
    }
    out[n++] = 'Z';
    return n;
}

std::string format_rfc3339(time_point t, int fraction_digits) {
    std::array<char, rfc3339_max> buf{};
    return {buf.data(), format_rfc3339_to(t, fraction_digits, buf)};
}

std::optional<time_point> parse_date(std::string_view s) {
    const auto ymd = parse_ymd(s);
    if (!ymd) {
        return std::nullopt;
    }
    // A time_point counts nanoseconds in 64 bits: 1677-09-21 to 2262-04-11. A date outside
    // those years (with a margin for an offset) is refused, not wrapped around (found by the
    // admin_api and record fuzz targets: UBSan, signed overflow).
    const int y = static_cast<int>(ymd->year());
    if (y < 1678 || y > 2261) {
        return std::nullopt;
    }
    return time_point{sys_days{*ymd}};
}

std::optional<time_point> parse_rfc3339(std::string_view s) {
    if (s.size() < 20) {
        return std::nullopt;
    }
    const auto date = parse_date(s.substr(0, 10));
    const char sep = s[10];
    if (!date || (sep != 'T' && sep != 't' && sep != ' ')) {
        return std::nullopt;
    }
    int hh = 0;
    int mm = 0;
    int ss = 0;
    if (!read_digits(s, 11, 2, hh) || s[13] != ':' || !read_digits(s, 14, 2, mm) || s[16] != ':' ||
        !read_digits(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    nanoseconds fraction{0};
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        long long value = 0;
        int digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (digits < 9) {
                value = value * 10 + (s[pos] - '0');
                ++digits;
            }
            ++pos;
        }
        if (pos == start) {
            return std::nullopt;
        }
        for (int i = digits; i < 9; ++i) {
            value *= 10;
        }
        fraction = nanoseconds{value};
    }
    if (pos >= s.size()) {
        return std::nullopt;
    }
    minutes offset{0};
    const char z = s[pos];
    if (z == 'Z' || z == 'z') {
        ++pos;
    } else if (z == '+' || z == '-') {
        int oh = 0;
        int om = 0;
        if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
            !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset = hours{oh} + minutes{om};
        if (z == '-') {
            offset = -offset;
        }
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    // A leap second (:60) is folded into the next second, as most systems do.
    const auto t = *date + hours{hh} + minutes{mm} + seconds{ss} - offset;
    return time_point{duration_cast<time_point::duration>(t.time_since_epoch() + fraction)};
}

}  // namespace casebridge
