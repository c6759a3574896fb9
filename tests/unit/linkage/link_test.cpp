#include "linkage/link.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace casebridge::linkage {
namespace {

// Records with one-word filters; scores are given directly.
struct fixture {
    record_set records{1};
    std::uint32_t add(std::string_view agency, std::string key) {
        return records.add(agency, std::move(key), encoded_record{{0}, {}});
    }
};

const threshold_spec thresholds{0.9, 0.7};

std::vector<std::uint32_t> members_with(const linkage_result& r, std::uint32_t i) {
    return r.clusters[r.cluster_of[i]].members;
}

TEST(linkage_link, thresholds_split_links_reviews_and_nothing) {
    fixture f;
    const auto a1 = f.add("a", "1");
    const auto b1 = f.add("b", "1");
    const auto c1 = f.add("c", "1");
    const auto a2 = f.add("a", "2");
    const auto b2 = f.add("b", "2");
    const auto r = link_records(
        f.records, {{a1, b1, 0.95F}, {b1, c1, 0.90F}, {a2, b2, 0.8F}, {a1, b2, 0.5F}}, thresholds
    );
    EXPECT_EQ(members_with(r, a1), (std::vector<std::uint32_t>{a1, b1, c1}));  // 0.90 is "at"
    EXPECT_EQ(members_with(r, a2), (std::vector<std::uint32_t>{a2}));
    EXPECT_EQ(r.clusters.size(), 3U);
    ASSERT_EQ(r.review.size(), 1U);
    EXPECT_EQ(r.review[0].a, a2);
    EXPECT_EQ(r.review[0].b, b2);
    EXPECT_TRUE(r.duplicates.empty());
    EXPECT_EQ(r.auto_links, 2U);
}

// A person decided that x@a and y@b are not the same child: a third record z@c that links
// to both above the upper threshold must not join them through itself. The weaker link goes
// to review (it contradicts the decision); the stronger one stands.
TEST(linkage_link, a_not_same_decision_is_not_undone_through_a_third_record) {
    fixture f;
    const auto x = f.add("a", "x");
    const auto y = f.add("b", "y");
    const auto z = f.add("c", "z");
    const std::vector<scored_pair> pairs{{x, z, 0.95F}, {y, z, 0.93F}};
    const std::pair<std::uint32_t, std::uint32_t> apart[] = {{x, y}};
    const auto r = link_records(f.records, pairs, thresholds, nullptr, apart);
    EXPECT_NE(r.cluster_of[x], r.cluster_of[y]) << "two records decided apart were merged";
    EXPECT_EQ(members_with(r, x), (std::vector<std::uint32_t>{x, z}));
    EXPECT_EQ(members_with(r, y), (std::vector<std::uint32_t>{y}));
    ASSERT_EQ(r.review.size(), 1U);
    EXPECT_EQ(r.review[0].a, y);
    EXPECT_EQ(r.review[0].b, z);
    EXPECT_EQ(r.auto_links, 1U);
    // Without the decision the three are one child.
    const auto merged = link_records(f.records, pairs, thresholds);
    EXPECT_EQ(merged.cluster_of[x], merged.cluster_of[y]);
}

TEST(linkage_link, same_agency_records_are_reported_never_merged) {
    fixture f;
    const auto a1 = f.add("a", "1");
    const auto a2 = f.add("a", "2");
    const auto b1 = f.add("b", "1");
    // Direct: two records of agency a.
    auto r = link_records(f.records, {{a1, a2, 0.97F}}, thresholds);
    EXPECT_EQ(r.clusters.size(), 3U);
    ASSERT_EQ(r.duplicates.size(), 1U);
    EXPECT_EQ(r.duplicates[0].a, a1);
    EXPECT_EQ(r.duplicates[0].b, a2);
    EXPECT_EQ(r.duplicates[0].cluster_ref, r.clusters[r.cluster_of[a1]].ref);
    EXPECT_TRUE(r.review.empty());
    // Through another agency: b1 links to both a1 (stronger) and a2.
    r = link_records(f.records, {{a2, b1, 0.92F}, {a1, b1, 0.96F}}, thresholds);
    EXPECT_EQ(members_with(r, a1), (std::vector<std::uint32_t>{a1, b1}));
    EXPECT_EQ(members_with(r, a2), (std::vector<std::uint32_t>{a2}));
    ASSERT_EQ(r.duplicates.size(), 1U);
    EXPECT_EQ(r.duplicates[0].a, a1);
    EXPECT_EQ(r.duplicates[0].b, a2);
    ASSERT_EQ(r.review.size(), 1U);  // and the weaker cross-agency link goes to review
    EXPECT_EQ(r.review[0].a, a2);
    for (const auto& c : r.clusters) {
        for (std::size_t i = 0; i + 1 < c.members.size(); ++i) {
            EXPECT_NE(f.records.agency(c.members[i]), f.records.agency(c.members[i + 1]));
        }
    }
}

TEST(linkage_link, refs_are_stable_under_rerun_and_input_order) {
    fixture f;
    const auto a1 = f.add("a", "1");
    const auto b1 = f.add("b", "1");
    const auto c1 = f.add("c", "1");
    const auto a2 = f.add("a", "2");
    std::vector<scored_pair> pairs = {{a1, b1, 0.95F}, {c1, b1, 0.93F}, {a2, c1, 0.91F}};
    const auto r1 = link_records(f.records, pairs, thresholds);
    std::reverse(pairs.begin(), pairs.end());
    const auto r2 = link_records(f.records, pairs, thresholds);
    ASSERT_EQ(r1.clusters.size(), r2.clusters.size());
    for (std::uint32_t i = 0; i < f.records.size(); ++i) {
        EXPECT_EQ(r1.clusters[r1.cluster_of[i]].ref, r2.clusters[r2.cluster_of[i]].ref);
    }
    EXPECT_EQ(r1.clusters[r1.cluster_of[a1]].ref.size(), 17U);
    EXPECT_EQ(r1.clusters[r1.cluster_of[a1]].ref[0], 'C');
}

TEST(linkage_link, previous_refs_survive_growth_and_report_merges_and_splits) {
    fixture f;
    const auto a1 = f.add("a", "1");
    const auto b1 = f.add("b", "1");
    const auto c1 = f.add("c", "1");
    const auto d1 = f.add("d", "1");
    const auto first = link_records(f.records, {{a1, b1, 0.95F}, {c1, d1, 0.95F}}, thresholds);
    previous_refs before;
    for (std::uint32_t i = 0; i < f.records.size(); ++i) {
        before[ref_key(f.records, i)] = first.clusters[first.cluster_of[i]].ref;
    }
    const auto ref_ab = first.clusters[first.cluster_of[a1]].ref;
    const auto ref_cd = first.clusters[first.cluster_of[c1]].ref;
    // A new record joins: refs unchanged, no events.
    const auto e1 = f.add("e", "1");
    auto r = link_records(
        f.records, {{a1, b1, 0.95F}, {c1, d1, 0.95F}, {e1, a1, 0.92F}}, thresholds, &before
    );
    EXPECT_EQ(r.clusters[r.cluster_of[e1]].ref, ref_ab);
    EXPECT_EQ(r.clusters[r.cluster_of[c1]].ref, ref_cd);
    EXPECT_TRUE(r.events.empty());
    // The two clusters merge: one ref survives, a merge event names both.
    r = link_records(
        f.records, {{a1, b1, 0.95F}, {c1, d1, 0.95F}, {b1, c1, 0.91F}}, thresholds, &before
    );
    EXPECT_EQ(r.cluster_of[a1], r.cluster_of[d1]);
    ASSERT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].what, cluster_event::kind::merged);
    EXPECT_EQ(
        r.events[0].before,
        (std::vector<std::string>{std::min(ref_ab, ref_cd), std::max(ref_ab, ref_cd)})
    );
    // A split: a1 and b1 no longer linked; one side keeps the ref, the other gets a new one.
    r = link_records(f.records, {{c1, d1, 0.95F}}, thresholds, &before);
    ASSERT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].what, cluster_event::kind::split);
    EXPECT_EQ(r.events[0].before, (std::vector<std::string>{ref_ab}));
    const auto ra = r.clusters[r.cluster_of[a1]].ref;
    const auto rb = r.clusters[r.cluster_of[b1]].ref;
    EXPECT_NE(ra, rb);
    EXPECT_TRUE(ra == ref_ab || rb == ref_ab);
}

TEST(linkage_link, a_link_of_the_previous_run_is_kept_within_the_margin) {
    fixture f;
    const auto a1 = f.add("a", "1");
    const auto b1 = f.add("b", "1");
    const auto a2 = f.add("a", "2");
    const auto b2 = f.add("b", "2");
    threshold_spec th{0.9, 0.7, 0.02};
    const auto first = link_records(f.records, {{a1, b1, 0.91F}, {a2, b2, 0.85F}}, th);
    ASSERT_EQ(first.cluster_of[a1], first.cluster_of[b1]);
    ASSERT_NE(first.cluster_of[a2], first.cluster_of[b2]);
    previous_refs before;
    for (std::uint32_t i = 0; i < f.records.size(); ++i) {
        before[ref_key(f.records, i)] = first.clusters[first.cluster_of[i]].ref;
    }
    // Scores moved a little (the hub's population grew): a1-b1 fell just below upper, a2-b2
    // rose to just below it. The link stays; no new one is made from below upper.
    auto r = link_records(f.records, {{a1, b1, 0.89F}, {a2, b2, 0.895F}}, th, &before);
    EXPECT_EQ(r.cluster_of[a1], r.cluster_of[b1]);
    EXPECT_NE(r.cluster_of[a2], r.cluster_of[b2]);
    EXPECT_TRUE(r.events.empty());
    ASSERT_EQ(r.review.size(), 1U);  // a2-b2 is still for a person to decide
    EXPECT_EQ(r.review[0].a, a2);
    // Beyond the margin the link goes (a split, logged), and becomes a review item.
    r = link_records(f.records, {{a1, b1, 0.87F}}, th, &before);
    EXPECT_NE(r.cluster_of[a1], r.cluster_of[b1]);
    ASSERT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].what, cluster_event::kind::split);
    EXPECT_EQ(r.review.size(), 1U);
    // Without a previous run, or with no margin, 0.89 is below upper.
    EXPECT_NE(
        link_records(f.records, {{a1, b1, 0.89F}}, th).cluster_of[a1],
        link_records(f.records, {{a1, b1, 0.89F}}, th).cluster_of[b1]
    );
    th.keep_margin = 0;
    r = link_records(f.records, {{a1, b1, 0.89F}}, th, &before);
    EXPECT_NE(r.cluster_of[a1], r.cluster_of[b1]);
    // The margin never takes a kept link below lower.
    th = {0.9, 0.88, 0.05};
    r = link_records(f.records, {{a1, b1, 0.87F}}, th, &before);
    EXPECT_NE(r.cluster_of[a1], r.cluster_of[b1]);
}

// Records whose one-word filter has `bits` set.
encoded_record with_bits(std::initializer_list<unsigned> bits) {
    std::uint64_t w = 0;
    for (const auto b : bits) {
        w |= std::uint64_t{1} << b;
    }
    return {{w}, {}};
}

TEST(linkage_link, rare_positions_weigh_more_than_common_ones) {
    record_set set{1};
    // 200 records: bit 0 in all, bit 1 in half, bits 5 and 7 in two records each.
    for (unsigned i = 0; i < 196; ++i) {
        set.add("a", "r" + std::to_string(i), i % 2 == 0 ? with_bits({0, 1}) : with_bits({0}));
    }
    const auto x = set.add("b", "x", with_bits({0, 5}));
    const auto y = set.add("c", "y", with_bits({0, 5}));
    const auto z = set.add("c", "z", with_bits({0, 7}));
    (void)set.add("a", "last", with_bits({7}));

    linkage_schema schema;
    schema.similarity.measure = similarity::frequency_weighted_dice;
    EXPECT_THROW(
        (void)score_pairs(set, schema, std::vector<candidate_pair>{{x, y}}, 0), std::logic_error
    );
    prepare_scoring(set, schema);
    ASSERT_TRUE(set.weighted());
    const float* w = set.position_weights();
    EXPECT_LT(w[0], w[1]);
    EXPECT_LT(w[1], w[5]);
    EXPECT_FLOAT_EQ(w[5], w[7]);
    EXPECT_GT(w[0], 0.0F);

    EXPECT_FLOAT_EQ(score_pair(set, schema, x, y), 1.0F);
    // x and z share only the position every record has: plain Dice says 0.5, weighted much less.
    const float weighted = score_pair(set, schema, x, z);
    EXPECT_LT(weighted, 0.2F);
    // Scores use the weights in 6-bit levels: within a level of the exact figure.
    EXPECT_NEAR(weighted, 2 * w[0] / (2 * w[0] + w[5] + w[7]), 0.02);
    const auto scored = score_pairs(set, schema, std::vector<candidate_pair>{{x, y}, {x, z}}, 0.5F);
    ASSERT_EQ(scored.size(), 1U);
    EXPECT_EQ(scored[0].b, y);

    // A record added afterwards drops the weights (they no longer describe the set).
    (void)set.add("a", "later", with_bits({1}));
    EXPECT_FALSE(set.weighted());
    linkage_schema plain;  // plain Dice needs no preparation
    EXPECT_FLOAT_EQ(score_pair(set, plain, x, z), 0.5F);
}

TEST(linkage_link, bit_sliced_weights_agree_with_the_exact_sum) {
    constexpr std::size_t words = 4;
    record_set set{words};
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    auto next = [&] {  // xorshift64*: a fixed, portable sequence
        state ^= state >> 12U;
        state ^= state << 25U;
        state ^= state >> 27U;
        return state * 0x2545F4914F6CDD1DULL;
    };
    for (unsigned r = 0; r < 300; ++r) {
        encoded_record e;
        for (std::size_t q = 0; q < words; ++q) {
            // Sparse, with some positions far commoner than others.
            e.filter.push_back((next() & next() & next()) | (q == 0 ? (next() & 0xFFU) : 0U));
        }
        set.add(r % 2 == 0 ? "a" : "b", std::to_string(r), e);
    }
    set.weigh_positions(100);
    const float* w = set.position_weights();
    double worst = 0;
    for (std::uint32_t a = 0; a < 60; ++a) {
        for (std::uint32_t b = a + 1; b < 60; ++b) {
            double common = 0;
            double ta = 0;
            double tb = 0;
            for (std::size_t k = 0; k < words * 64; ++k) {
                const bool in_a = (set.filter(a)[k / 64] >> (k % 64)) & 1U;
                const bool in_b = (set.filter(b)[k / 64] >> (k % 64)) & 1U;
                common += in_a && in_b ? w[k] : 0;
                ta += in_a ? w[k] : 0;
                tb += in_b ? w[k] : 0;
            }
            const double exact = 2 * common / (ta + tb);
            worst = std::max(worst, std::abs(exact - score_pair(set, linkage_schema{}, a, b)));
        }
    }
    EXPECT_LT(worst, 0.01);
    EXPECT_GT(worst, 0.0);  // the levels are not the exact weights: the test compares two ways
}

TEST(linkage_link, a_small_hub_weighs_positions_nearly_alike) {
    record_set set{1};
    const auto a = set.add("a", "1", with_bits({0, 1, 2}));
    const auto b = set.add("b", "1", with_bits({0, 3, 4}));
    set.weigh_positions(100);
    const float* w = set.position_weights();
    // Bit 0 is in both records, bit 3 in one, bit 9 in none. The prior is 100 pseudo-records at
    // the mean density (6 bits of 2 × 64): w = ln((2 + 100) / (count + 100 · 6/128)).
    const double prior_count = 100.0 * 6 / 128;
    EXPECT_NEAR(w[9], std::log(102 / prior_count), 1e-5);
    EXPECT_NEAR(w[3], std::log(102 / (1 + prior_count)), 1e-5);
    EXPECT_NEAR(w[0], std::log(102 / (2 + prior_count)), 1e-5);
    // Two records move the weights little, so the score stays close to plain Dice (1/3).
    EXPECT_LT((w[9] - w[0]) / w[9], 0.15F);
    EXPECT_NEAR(score_pair(set, linkage_schema{}, a, b), 1.0 / 3.0, 0.02);
}

}  // namespace
}  // namespace casebridge::linkage
