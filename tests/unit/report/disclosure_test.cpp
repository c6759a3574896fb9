// Disclosure control: counting with margins, primary and secondary suppression, and the audit
// that re-derives what the published cells reveal. The audit is checked against hand-worked
// patterns (a weak pattern must be caught), and protect() against random tables of several
// shapes and seeds: whatever it publishes must pass the audit.
#include "report/disclosure.hpp"

#include <random>
#include <set>

#include <gtest/gtest.h>

namespace casebridge::report {
namespace {

dimension dim(std::string name, std::initializer_list<const char*> cats, bool multi = false) {
    dimension d;
    d.name = std::move(name);
    for (const char* c : cats) {
        d.categories.emplace_back(c);
    }
    d.multi_valued = multi;
    return d;
}

/// A rows × columns table filled from `interior` (row-major), margins summed.
table grid(const std::vector<std::vector<std::int64_t>>& interior) {
    dimension r{"row", {}, false};
    dimension c{"col", {}, false};
    for (std::size_t i = 0; i < interior.size(); ++i) {
        r.categories.push_back("r" + std::to_string(i));
    }
    for (std::size_t j = 0; j < interior.front().size(); ++j) {
        c.categories.push_back("c" + std::to_string(j));
    }
    table t("grid", {r, c});
    for (std::uint32_t i = 0; i < interior.size(); ++i) {
        for (std::uint32_t j = 0; j < interior[i].size(); ++j) {
            for (std::int64_t n = 0; n < interior[i][j]; ++n) {
                t.add(unit{{{i}, {j}}});
            }
        }
    }
    return t;
}

std::size_t at(const table& t, std::uint32_t i, std::uint32_t j) {
    return t.cell_at({i, j});
}

TEST(report_table, counts_units_in_their_cells_and_every_margin) {
    table t("t", {dim("sex", {"F", "M"}), dim("age", {"0-5", "6-11", "12-17"})});
    t.add(unit{{{0}, {1}}});
    t.add(unit{{{0}, {1}}});
    t.add(unit{{{1}, {2}}});
    t.add(unit{{{}, {0}}});  // no sex recorded: in no cell of this table
    EXPECT_EQ(t.size(), 3u * 4u);
    EXPECT_EQ(t.count(t.cell_at({0, 1})), 2);
    EXPECT_EQ(t.count(t.cell_at({0, 3})), 2);  // F, all ages
    EXPECT_EQ(t.count(t.cell_at({2, 1})), 2);  // all, 6-11
    EXPECT_EQ(t.count(t.cell_at({2, 3})), 3);  // grand total
    EXPECT_EQ(t.key(t.cell_at({0, 1})), "age=6-11|sex=F");
    EXPECT_EQ(t.key(t.cell_at({2, 3})), "");
}

TEST(report_table, a_multi_valued_dimension_counts_a_unit_once_per_category) {
    table t(
        "t", {dim("concern", {"neglect", "labour", "separated"}, true), dim("sex", {"F", "M"})}
    );
    t.add(unit{{{0, 2}, {0}}});
    t.add(unit{{{0}, {1}}});
    EXPECT_EQ(t.count(t.cell_at({0, 2})), 2);  // neglect, both sexes
    EXPECT_EQ(t.count(t.cell_at({2, 0})), 1);
    EXPECT_EQ(t.count(t.cell_at({3, 2})), 2);  // total children, not a sum of concerns
}

TEST(report_audit, a_lone_suppressed_cell_is_recomputed_from_its_margins) {
    const table t = grid({{7, 1, 9}, {8, 12, 6}, {10, 11, 13}});
    std::vector<std::vector<bool>> s(1, std::vector<bool>(t.size(), false));
    s[0][at(t, 0, 1)] = true;  // only the primary cell: row 0's total gives it away
    const auto found = audit({t}, s, 5);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].cell, at(t, 0, 1));
    EXPECT_DOUBLE_EQ(found[0].low, 1.0);
    EXPECT_DOUBLE_EQ(found[0].high, 1.0);
}

TEST(report_audit, a_rectangle_of_small_partners_still_narrows_the_cell) {
    // The classic pattern, but the partners are small: the cell moves by at most 2.
    const table t = grid({{7, 1, 2}, {8, 2, 9}, {10, 11, 13}});
    std::vector<std::vector<bool>> s(1, std::vector<bool>(t.size(), false));
    for (const auto& [i, j] : {std::pair{0u, 1u}, {0u, 2u}, {1u, 1u}, {1u, 2u}}) {
        s[0][at(t, i, j)] = true;
    }
    const auto found = audit({t}, s, 5);
    ASSERT_FALSE(found.empty());
    for (const auto& e : found) {
        EXPECT_LT(e.high - e.low, 5.0);
    }
    // The same rectangle over large partners protects the cell.
    const table ok = grid({{7, 1, 12}, {8, 14, 9}, {10, 11, 13}});
    std::vector<std::vector<bool>> s2(1, std::vector<bool>(ok.size(), false));
    for (const auto& [i, j] : {std::pair{0u, 1u}, {0u, 2u}, {1u, 1u}, {1u, 2u}}) {
        s2[0][at(ok, i, j)] = true;
    }
    EXPECT_TRUE(audit({ok}, s2, 5).empty());
}

// Zeros are always published, so a reader knows every withheld count is at least 1. With all
// four interior cells of a 2 × 2 table withheld and the margins published, the cell of 1 lies
// in [1, 5] (width 4 < k = 5), not in [0, 6].
TEST(report_audit, a_withheld_count_is_known_to_be_at_least_one) {
    const table t = grid({{1, 5}, {5, 5}});
    std::vector<std::vector<bool>> s(1, std::vector<bool>(t.size(), false));
    for (const auto& [i, j] : {std::pair{0u, 0u}, {0u, 1u}, {1u, 0u}, {1u, 1u}}) {
        s[0][at(t, i, j)] = true;
    }
    const auto found = audit({t}, s, 5);
    ASSERT_EQ(found.size(), 4u) << "every cell of the square moves with the others";
    for (const auto& e : found) {
        EXPECT_DOUBLE_EQ(e.high - e.low, 4.0);
        EXPECT_GE(e.low, 1.0);
    }
    // protect() withholds more (margins) until the audit, with the same knowledge, passes.
    const auto p = protect({t}, 5);
    EXPECT_GT(p.secondary_count, 3u);
    EXPECT_TRUE(audit({t}, p.suppressed, 5).empty());
}

TEST(report_audit, a_cell_published_in_a_linked_table_counts_as_published) {
    // Children by sex appear in both tables; withholding F in one but not the other hides
    // nothing.
    table a("a", {dim("sex", {"F", "M"}), dim("camp", {"C1", "C2"})});
    table b("b", {dim("sex", {"F", "M"}), dim("age", {"0-5", "6-17"})});
    std::mt19937 rng(5);
    for (int n = 0; n < 60; ++n) {
        const std::uint32_t sex = rng() % 2;
        a.add(unit{{{sex}, {static_cast<std::uint32_t>(rng() % 2)}}});
        b.add(unit{
            {{static_cast<std::uint32_t>(rng() % 2)}, {static_cast<std::uint32_t>(rng() % 2)}}});
    }
    // b drew its own sexes, so it disagrees with a; b2 is built from a's sex counts.
    const auto f_total = a.count(a.cell_at({0, 2}));
    const auto m_total = a.count(a.cell_at({1, 2}));
    table b2("b", {dim("sex", {"F", "M"}), dim("age", {"0-5", "6-17"})});
    for (std::int64_t n = 0; n < f_total; ++n) {
        b2.add(unit{{{0}, {static_cast<std::uint32_t>(n % 2)}}});
    }
    for (std::int64_t n = 0; n < m_total; ++n) {
        b2.add(unit{{{1}, {static_cast<std::uint32_t>(n % 2)}}});
    }
    std::vector<std::vector<bool>> s{
        std::vector<bool>(a.size(), false), std::vector<bool>(b2.size(), false)};
    s[0][a.cell_at({0, 2})] = true;  // F total withheld in a only
    s[0][a.cell_at({0, 0})] = true;
    s[0][a.cell_at({0, 1})] = true;
    const auto found = audit({a, b2}, s, 5);
    EXPECT_FALSE(found.empty()) << "b publishes F's total, which pins a's withheld F cells";
    // Tables that disagree on a shared cell are refused.
    EXPECT_THROW(audit({a, b}, s, 5), std::invalid_argument);
}

TEST(report_protect, withholds_small_counts_and_enough_partners_to_pass_the_audit) {
    const table t = grid({{7, 1, 9}, {8, 12, 6}, {10, 11, 13}});
    const auto s = protect({t}, 5);
    EXPECT_EQ(s.primary_count, 1u);
    EXPECT_TRUE(s.primary[0][at(t, 0, 1)]);
    EXPECT_TRUE(s.suppressed[0][at(t, 0, 1)]);
    EXPECT_GE(s.secondary_count, 3u);
    EXPECT_TRUE(audit({t}, s.suppressed, 5).empty());
    for (const auto& e : intervals({t}, s.suppressed)) {
        EXPECT_GE(e.high - e.low, 5.0) << "cell " << e.cell;
        EXPECT_LE(e.low, static_cast<double>(t.count(e.cell)));
        EXPECT_GE(e.high, static_cast<double>(t.count(e.cell)));
    }
}

TEST(report_protect, a_population_smaller_than_k_is_withheld_whole) {
    const table t = grid({{1, 0}, {0, 2}});
    const auto s = protect({t}, 5);
    for (std::size_t c = 0; c < t.size(); ++c) {
        EXPECT_EQ(s.suppressed[0][c], t.count(c) > 0) << "cell " << c;
    }
    EXPECT_TRUE(audit({t}, s.suppressed, 5).empty());
}

// Random tables of 2 and 3 dimensions, many small counts, several seeds and k: every count in
// 1..k−1 is withheld, zeros are published, and the pattern passes the exact audit.
TEST(report_protect, random_tables_pass_the_audit) {
    for (const unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
        std::mt19937 rng(seed);
        const int k = seed % 2 == 0 ? 5 : 3;
        std::vector<dimension> dims{
            dim("camp", {"C1", "C2", "C3", "C4"}),
            dim("sex", {"F", "M"}),
            dim("age", {"0-5", "6-11", "12-17"})};
        if (seed % 3 == 0) {
            dims.pop_back();
        }
        table t("random", dims);
        const int units = 40 + static_cast<int>(rng() % 120);
        for (int n = 0; n < units; ++n) {
            unit u;
            // Skewed: most children in the first camps, so the last ones have small cells.
            const auto camp = static_cast<std::uint32_t>(std::min(rng() % 4, rng() % 4));
            u.categories.push_back({camp});
            u.categories.push_back({static_cast<std::uint32_t>(rng() % 2)});
            if (dims.size() == 3) {
                u.categories.push_back({static_cast<std::uint32_t>(rng() % 3)});
            }
            t.add(u);
        }
        const auto s = protect({t}, k);
        for (std::size_t c = 0; c < t.size(); ++c) {
            const auto n = t.count(c);
            if (n > 0 && n < k) {
                EXPECT_TRUE(s.suppressed[0][c]) << "seed " << seed << " cell " << t.key(c);
            }
            if (n == 0) {
                EXPECT_FALSE(s.suppressed[0][c]) << "seed " << seed << " zero withheld";
            }
        }
        EXPECT_TRUE(audit({t}, s.suppressed, k).empty()) << "seed " << seed;
    }
}

TEST(report_protect, linked_tables_with_a_multi_valued_dimension_pass_together) {
    table a("camp_sex", {dim("camp", {"C1", "C2", "C3"}), dim("sex", {"F", "M"})});
    table b(
        "concern_sex",
        {dim("concern", {"neglect", "labour", "separated"}, true), dim("sex", {"F", "M"})}
    );
    std::mt19937 rng(11);
    for (int n = 0; n < 70; ++n) {
        const auto sex = static_cast<std::uint32_t>(rng() % 2);
        a.add(unit{{{static_cast<std::uint32_t>(std::min(rng() % 3, rng() % 3))}, {sex}}});
        std::vector<std::uint32_t> concerns{static_cast<std::uint32_t>(rng() % 3)};
        if (rng() % 4 == 0) {
            concerns.push_back(static_cast<std::uint32_t>(rng() % 3));
        }
        b.add(unit{{concerns, {sex}}});
    }
    const auto s = protect({a, b}, 5);
    EXPECT_TRUE(audit({a, b}, s.suppressed, 5).empty());
    // Shared cells (children by sex, the total) are withheld in both or in neither.
    for (std::size_t c = 0; c < a.size(); ++c) {
        for (std::size_t d = 0; d < b.size(); ++d) {
            if (a.key(c) == b.key(d)) {
                EXPECT_EQ(s.suppressed[0][c], s.suppressed[1][d]) << a.key(c);
            }
        }
    }
}

TEST(report_protect, refuses_a_k_below_two) {
    const table t = grid({{3, 4}, {5, 6}});
    EXPECT_THROW(protect({t}, 1), std::invalid_argument);
}

}  // namespace
}  // namespace casebridge::report
