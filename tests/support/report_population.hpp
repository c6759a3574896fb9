// Unique children as a hub would report them after linkage (one per cluster), for the sector
// report tests and the report benchmark: camps of very different sizes (so that small cells
// occur), a few children with two protection concerns or two agencies, and registrations
// spread over the months before the report's period.
#pragma once

#include <algorithm>
#include <array>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "report/report.hpp"

namespace casebridge::test {

struct report_population_shape {
    int camps = 6;     ///< Camp names CXB-201 onwards; the first ones are the largest.
    int agencies = 3;  ///< agency-a, agency-b, ...
    int months = 2;    ///< Registered in one of the `months` months ending with `last_month`.
    int last_year = 2026;
    int last_month = 11;
};

/// `n` children drawn from `seed`; the same seed and shape give the same children.
inline std::vector<report::child> report_population(
    unsigned seed, int n, const report_population_shape& shape = {}
) {
    std::mt19937 rng(seed);
    const std::array<const char*, 4> concerns{"neglect", "child_labour", "separated", "violence"};
    const auto camp_name = [](int i) { return "CXB-" + std::to_string(201 + i); };
    const auto agency_name = [](int i) { return std::string("agency-") + char('a' + i); };
    const auto month_name = [&](int back) {
        int y = shape.last_year;
        int m = shape.last_month - back;
        while (m < 1) {
            m += 12;
            --y;
        }
        std::array<char, 16> buf{};  // room for any int pair, as the compiler checks
        std::snprintf(buf.data(), buf.size(), "%04d-%02d", y % 10000, m % 100);
        return std::string(buf.data());
    };
    const auto draw = [&](int bound) {
        return static_cast<int>(rng() % static_cast<unsigned>(bound));
    };
    std::vector<report::child> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        report::child c;
        // The smallest of three draws: low-numbered camps are large, the last ones small.
        c.values["location"] = {
            camp_name(std::min({draw(shape.camps), draw(shape.camps), draw(shape.camps)}))};
        c.values["sex"] = {draw(50) == 0 ? "other" : (draw(2) == 0 ? "female" : "male")};
        c.values["age_band"] = {std::array<const char*, 3>{"0-5", "6-11", "12-17"}[draw(3)]};
        std::set<std::string> cs{concerns[static_cast<std::size_t>(draw(4))]};
        if (draw(3) == 0) {
            cs.insert(concerns[static_cast<std::size_t>(draw(4))]);
        }
        c.values["protection_concern"].assign(cs.begin(), cs.end());
        c.values["risk_level"] = {std::array<const char*, 3>{"high", "medium", "low"}[draw(3)]};
        std::set<std::string> ag{agency_name(draw(shape.agencies))};
        if (draw(8) == 0) {
            ag.insert(agency_name(draw(shape.agencies)));
        }
        c.values["agency"].assign(ag.begin(), ag.end());
        c.values["month"] = {month_name(draw(shape.months))};
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace casebridge::test
