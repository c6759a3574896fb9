// A re-identification attack on the hub's encodings without the linkage secret (test code,
// docs/imo.md "Re-identification attack"): pattern mining on the filters (Christen et al.
// 2017, 2018) using only what the schema makes public (filter length, hashes per field,
// double hashing, the variant table) and a list of common given names with their frequencies.
//   1. Pattern mining: a token of the given-name field sets `hashes` bits at positions
//      h1 + i·h2 (mod the filter length; XOR-folding keeps that shape, mod half). Bit pairs are
//      correlated over the records (phi coefficient); an arithmetic progression of exactly
//      `hashes` positions whose consecutive pairs are correlated, whose end pairs are as
//      strong as the inner ones (not a shorter token) and whose pairs just outside are not
//      (not a window of a longer token of another field) is a bigram's pattern.
//   2. Alignment: the public list gives each bigram's frequency and each pair's joint
//      frequency; bigrams are assigned to patterns greedily, most frequent first, by support
//      and co-occurrence with the patterns already assigned, then refined.
//   3. Re-identification: each record's guess is the public name whose aligned bigrams best
//      match the patterns present in the record (fewest mismatches; ties: the commoner name).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "linkage/record_set.hpp"
#include "linkage/schema.hpp"
#include "linkage/variants.hpp"
#include "sandbox/population.hpp"

namespace casebridge::test::linkage_attack {

/// A given name of the public list and its relative frequency.
struct public_name {
    std::string name;
    double weight = 0;
};

/// What the attacker knows: public, or in the schema (which the hub holds); not the secret.
struct knowledge {
    std::vector<public_name> names;                    ///< The most common given names.
    const linkage::variant_table* variants = nullptr;  ///< The schema's variant table.
    unsigned hashes = 12;           ///< Bits per token of the given-name field (schema).
    bool collapse_repeats = false;  ///< The given-name field's normalisation (schema).
};

struct options {
    double z = 6.0;  ///< Pattern threshold: mean phi ≥ z / sqrt((hashes − 1) · records).
    std::size_t max_sample = 4096;        ///< Records used for the correlations (the first ones).
    double min_bigram_frequency = 0.002;  ///< Public bigrams rarer than this are not aligned.
    unsigned refine_passes = 3;
};

struct outcome {
    std::size_t patterns = 0;          ///< Patterns found (maximal progressions).
    std::size_t aligned = 0;           ///< Bigrams assigned to a pattern.
    std::vector<std::string> guesses;  ///< Per record: the normalised given name guessed.
};

/// Runs the attack on the filters the hub holds.
outcome attack(const linkage::record_set& hub, const knowledge& k, const options& o = {});

/// The attacker's (and the scorer's) form of a name: folded text, each word as the encoder
/// reads it (variant_table::fold_word, with the field's collapse_repeats), words joined by one
/// space. The schema is public, so the attacker normalises as the agencies do.
std::string normalise_name(
    const linkage::variant_table& variants, std::string_view name, bool collapse_repeats
);

/// The public list: the children's true given names in a caseload (another seed than the
/// attacked one), counted after normalisation, most frequent first.
std::vector<public_name> name_frequencies(
    const std::vector<sandbox::population::record>& records,
    const linkage::variant_table& variants,
    bool collapse_repeats
);

struct score {
    std::size_t records = 0;
    std::size_t correct = 0;           ///< Guessed given name = the child's true given name.
    std::size_t baseline_correct = 0;  ///< The most frequent public name for every record.
    double accuracy() const { return records == 0 ? 0 : double(correct) / double(records); }
    double baseline() const {
        return records == 0 ? 0 : double(baseline_correct) / double(records);
    }
};

/// `records[i]` must be the record added as index i of the attacked record set.
score evaluate(
    const std::vector<sandbox::population::record>& records,
    const outcome& result,
    const knowledge& k
);

/// The encodings the experiment compares, all of the same caseload.
enum class setting {
    given_name_only,        ///< (i) A field-level filter of the given name, not folded.
    record_level_unfolded,  ///< (ii) The record-level filter of the schema, not folded.
    folded_double_hash,     ///< (iii) Record-level, XOR-folded, double hashing (schema v1).
    shipped,                ///< (iv) The schema as shipped (v2: random hashing, folded).
};
const char* setting_name(setting s);

/// The schema of a setting, derived from the shipped one; (i) to (iii) use double hashing,
/// the classic construction the attack is aimed at.
linkage::linkage_schema schema_for(const linkage::linkage_schema& shipped, setting s);

struct experiment {
    score result;
    outcome attack;
};

/// Generates `children` children (seed), encodes them under `schema` with a secret the attack
/// never sees, builds the public list from another seed's caseload of `reference_children`
/// children, attacks and scores.
experiment run_experiment(
    const linkage::linkage_schema& schema,
    const linkage::variant_table& variants,
    std::uint64_t seed,
    std::size_t children,
    std::size_t reference_children = 5000
);

}  // namespace casebridge::test::linkage_attack
