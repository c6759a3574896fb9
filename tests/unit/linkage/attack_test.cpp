// The re-identification attack of docs/imo.md on generated caseloads: the hub's filters plus a
// public list of common given names (counted on another seed's caseload), without the secret.
// On a field-level filter of the given name alone the attack must clearly beat guessing the
// commonest name (so it is a real attack). On the version 1 encoding it does too: the
// positions of a token form an arithmetic progression (double hashing), which XOR-folding
// keeps, so the attack finds the given-name bigrams' patterns without the secret. The shipped
// encoding (version 2) draws each position independently from the keyed hash: there the
// attack must do no better than guessing the commonest name (docs/imo.md).
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "linkage/schema.hpp"
#include "support/linkage_attack.hpp"

namespace casebridge::linkage {
namespace {

namespace attack = test::linkage_attack;

const linkage_schema& shipped() {
    static const linkage_schema s = linkage_schema::load(
        std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" /
        "linkage-schema.json"
    );
    return s;
}

constexpr std::size_t children = 2000;  // about 3,300 records

attack::score measure(attack::setting s, std::uint64_t seed) {
    const auto e = attack::run_experiment(
        attack::schema_for(shipped(), s), shipped().variants, seed, children
    );
    std::printf(
        "[ attack   ] %s, seed %llu: %zu records, %zu patterns, %zu bigrams aligned; given name "
        "re-identified %zu (%.3f), baseline %zu (%.3f)\n",
        attack::setting_name(s),
        static_cast<unsigned long long>(seed),
        e.result.records,
        e.attack.patterns,
        e.attack.aligned,
        e.result.correct,
        e.result.accuracy(),
        e.result.baseline_correct,
        e.result.baseline()
    );
    return e.result;
}

class linkage_attack : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(linkage_attack, reidentifies_given_names_from_a_field_level_filter) {
    const auto s = measure(attack::setting::given_name_only, GetParam());
    ASSERT_GT(s.records, 3000U);
    // Measured 0.66 and 0.26 against baselines of 0.09 (seeds 1, 2).
    EXPECT_GE(s.accuracy(), s.baseline() + 0.10)
        << "the attack is not clearly better than guessing the commonest name";
}

// The weakness of schema version 1 (measured 0.36 and 0.21 against 0.09), kept so that the
// attack stays aimed at what it broke.
TEST_P(linkage_attack, the_version_1_encoding_leaks_given_names) {
    const auto s = measure(attack::setting::folded_double_hash, GetParam());
    ASSERT_GT(s.records, 3000U);
    EXPECT_GE(s.accuracy(), s.baseline() + 0.05);
}

// The goal (issue 17): without the secret, no better than guessing the commonest name.
TEST_P(linkage_attack, shipped_encoding_gives_no_more_than_the_baseline) {
    const auto s = measure(attack::setting::shipped, GetParam());
    ASSERT_GT(s.records, 3000U);
    EXPECT_LE(s.accuracy(), s.baseline() + 0.02);
}

INSTANTIATE_TEST_SUITE_P(linkage_seeds, linkage_attack, ::testing::Values(1U, 2U));

}  // namespace
}  // namespace casebridge::linkage
