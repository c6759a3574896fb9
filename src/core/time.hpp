// RFC 3339 timestamps: formatting in UTC and strict parsing with offsets.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace casebridge {

/// "2025-03-01T08:15:30Z", or with `fraction_digits` (0, 3 or 6) "…30.123Z". Always UTC.
std::string format_rfc3339(time_point t, int fraction_digits = 0);

/// The longest text format_rfc3339 writes ("YYYY-MM-DDTHH:MM:SS.ffffffZ").
inline constexpr std::size_t rfc3339_max = 27;

/// format_rfc3339 written into `out` (no heap); returns the length written.
std::size_t format_rfc3339_to(
    time_point t, int fraction_digits, std::array<char, rfc3339_max>& out
);

/// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"; 't'/'z' and a space separator are
/// accepted. Returns nullopt for anything else, including out-of-range fields.
std::optional<time_point> parse_rfc3339(std::string_view text);

/// "YYYY-MM-DD" of a day (years 0-9999 with four digits).
std::string format_ymd(const std::chrono::year_month_day& d);

/// Parses "YYYY-MM-DD", any year 0000-9999; nullopt for anything else or a day that does not
/// exist.
std::optional<std::chrono::year_month_day> parse_ymd(std::string_view text);

/// Parses "YYYY-MM-DD" as midnight UTC of that day.
std::optional<time_point> parse_date(std::string_view text);

}  // namespace casebridge
