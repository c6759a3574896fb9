// End to end on generated caseloads: encode at each agency, generate candidates, score and
// cluster at the hub, and compare with the generator's truth. Several seeds: the schema is
// not tuned to one.
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "linkage/candidates.hpp"
#include "linkage/encoder.hpp"
#include "linkage/link.hpp"
#include "sandbox/population.hpp"

namespace casebridge::linkage {
namespace {

const linkage_schema& shipped() {
    static const linkage_schema s = linkage_schema::load(
        std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" /
        "linkage-schema.json"
    );
    return s;
}

struct run {
    sandbox::population::caseload load;
    record_set records{shipped().encoded_words()};
    std::vector<candidate_pair> candidates;
    linkage_result result;
};

run link_generated(std::uint64_t seed, std::size_t children) {
    run r;
    r.load = sandbox::population::generate({.seed = seed, .children = children});
    encoder enc(shipped(), "test-linkage-secret-" + std::to_string(seed * 7919));
    for (const auto& rec : r.load.records) {
        r.records.add(rec.agency, rec.key, enc.encode(sandbox::population::to_canonical(rec)));
    }
    r.candidates = generate_candidates(r.records, shipped());
    prepare_scoring(r.records, shipped());
    auto scored = score_pairs(
        r.records, shipped(), r.candidates, static_cast<float>(shipped().thresholds.lower)
    );
    r.result = link_records(r.records, std::move(scored), shipped().thresholds);
    return r;
}

class linkage_quality : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(linkage_quality, precision_and_f1_at_default_thresholds) {
    const auto r = link_generated(GetParam(), 1000);
    const auto q = sandbox::population::evaluate(r.load.records, r.result);
    ASSERT_GT(q.true_pairs, 300U);
    EXPECT_GE(q.precision(), 0.99)
        << "pairs " << q.predicted_pairs << " correct " << q.correct_pairs;
    // The goal is F1 >= 0.95 with precision >= 0.99 at 10,000 children (the benchmark, six
    // seeds: 0.948-0.957, mean 0.952). At 1,000 children one seed varies more: 0.948-0.961
    // measured for seeds 1-3, so the bar per seed is 0.94.
    EXPECT_GE(q.f1(), 0.94) << "recall " << q.recall() << " precision " << q.precision();

    // Candidate generation keeps (nearly) every true pair.
    std::set<std::pair<std::uint32_t, std::uint32_t>> kept;
    for (const auto& p : r.candidates) {
        kept.emplace(p.a, p.b);
    }
    std::size_t true_pairs = 0;
    std::size_t found = 0;
    for (std::uint32_t i = 0; i < r.load.records.size(); ++i) {
        for (std::uint32_t j = i + 1; j < r.load.records.size(); ++j) {
            if (r.load.records[i].child == r.load.records[j].child) {
                ++true_pairs;
                found += kept.contains({i, j}) ? 1 : 0;
            }
        }
    }
    EXPECT_GE(double(found) / double(true_pairs), 0.99) << found << " of " << true_pairs;
    // Far fewer comparisons than all pairs.
    const auto n = r.load.records.size();
    EXPECT_LT(r.candidates.size(), n * (n - 1) / 2 / 10);
}

TEST_P(linkage_quality, within_agency_duplicates_are_reported) {
    const auto r = link_generated(GetParam(), 1000);
    std::size_t correct = 0;
    for (const auto& d : r.result.duplicates) {
        EXPECT_EQ(r.load.records[d.a].agency, r.load.records[d.b].agency);
        correct += r.load.records[d.a].child == r.load.records[d.b].child ? 1 : 0;
    }
    std::size_t planted = 0;  // pairs of one child at one agency
    for (std::uint32_t i = 0; i < r.load.records.size(); ++i) {
        for (std::uint32_t j = i + 1; j < r.load.records.size(); ++j) {
            const auto& x = r.load.records[i];
            const auto& y = r.load.records[j];
            planted += x.child == y.child && x.agency == y.agency ? 1 : 0;
        }
    }
    ASSERT_GT(planted, 5U);
    EXPECT_GE(double(correct) / double(planted), 0.5) << correct << " of " << planted;
    for (const auto& c : r.result.clusters) {
        std::set<std::uint16_t> agencies;
        for (const auto m : c.members) {
            EXPECT_TRUE(agencies.insert(r.records.agency(m)).second);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(linkage_seeds, linkage_quality, ::testing::Values(1U, 2U, 3U));

}  // namespace
}  // namespace casebridge::linkage
