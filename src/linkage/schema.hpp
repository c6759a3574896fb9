// The linkage schema: which canonical fields an agency encodes for the IMO hub, and how
// (normalisation, tokens, weights, filter length, hashing, hardening, LSH, similarity,
// thresholds). Data,
// not code: mappings/linkage/linkage-schema.json, checked when it loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "json/json.hpp"
#include "linkage/variants.hpp"

namespace casebridge::linkage {

/// How a field's text is cleaned before it is cut into tokens.
enum class normalisation {
    name,  ///< Text folding (case, punctuation, diacritics) then the variant table per word.
    text,  ///< Text folding without the variant table.
    code,  ///< Upper-case letters and digits only (location codes).
};

/// How a field becomes tokens for the Bloom filter.
enum class tokenisation {
    bigrams,   ///< Padded character bigrams of each word (code points, not bytes).
    exact,     ///< The whole normalised value is one token.
    date,      ///< Year, two overlapping two-year buckets, unordered (month, day) pair.
    prefixes,  ///< Prefixes of the normalised code of the listed lengths (camp, block).
};

/// Transformation of the raw filter against frequency attacks.
enum class hardening {
    none,      ///< The plain CLK.
    balance,   ///< Filter followed by its complement, then a keyed permutation (2 × bits).
    xor_fold,  ///< First half XOR second half (bits / 2).
};

/// How a token's k bit positions are derived from its keyed hash.
enum class hashing {
    /// h1 + i·h2 from one HMAC (Kirsch–Mitzenmacher): the positions of a token form an
    /// arithmetic progression, which a pattern-mining attack finds without the secret
    /// (docs/imo.md, "Re-identification attack"). Schema version 1.
    double_hash,
    /// Each position drawn independently from HMAC output (32 bits each, counter blocks):
    /// nothing links a token's positions but their co-occurrence. Schema version 2.
    random,
};

/// One field of the record-level Bloom filter (CLK).
struct field_spec {
    std::string name;                  ///< Domain separator of its tokens; unique.
    std::string subform;               ///< "" or a JSON Pointer to a subform (rows).
    std::string row_filter;            ///< Row field (pointer) that must be true, or "".
    std::vector<std::string> sources;  ///< JSON Pointers (in the record or in the row).
    normalisation norm = normalisation::text;
    tokenisation tokens = tokenisation::bigrams;
    unsigned hashes = 10;  ///< Bits set per token: the field's weight.
    /// For name and text fields: collapse_repeats() on each word (after the variant table,
    /// which is also tried on the collapsed word). Schema version 3.
    bool collapse_repeats = false;
    std::vector<std::size_t> prefixes;  ///< For tokenisation::prefixes.
    /// For dates: bits per token kind (0: `hashes`). Chance agreement differs by kind: a
    /// (month, day) pair agrees by chance about once in 180, a year once in 18, and the
    /// two-year buckets only repeat the year (they are there to survive a year off by one).
    unsigned year_hashes = 0;
    unsigned two_year_hashes = 0;
    unsigned month_day_hashes = 0;
    std::string estimated_flag;               ///< For dates: boolean pointer marking an estimate.
    std::vector<std::string> estimated_days;  ///< For dates: "MM-DD" values taken as estimates.
};

/// An identifier: a keyed exact token, compared for equality only.
struct identifier_spec {
    std::string name;        ///< Domain separator; unique.
    std::string source;      ///< JSON Pointer in the record.
    double agree = 0;        ///< Added to the score when both records have it and it is equal.
    double disagree = 0;     ///< Added (negative) when both have it and it differs.
    bool candidates = true;  ///< Whether sharing it makes a candidate pair.
};

/// Bit-sampling LSH for Hamming distance: `bands` keys of `bits_per_band` sampled bits.
struct lsh_spec {
    unsigned bands = 32;
    unsigned bits_per_band = 24;
    std::uint64_t seed = 1;         ///< Chooses the sampled bits; public (the hub has no secret).
    std::size_t max_bucket = 2000;  ///< Larger buckets are skipped (uninformative).
};

/// How the hub compares two encodings.
enum class similarity {
    /// 2·|A∩B| / (|A|+|B|): every bit position counts the same.
    dice,
    /// Dice with each bit position weighted by how rare it is among the hub's records
    /// (log of the inverse of its frequency, shrunk towards the mean for small hubs): agreeing
    /// on the bits of a name half the children share counts for less than agreeing on rare
    /// ones. Schema version 3.
    frequency_weighted_dice,
};

struct similarity_spec {
    similarity measure = similarity::dice;
    /// Pseudo-records of the shrinkage: with fewer records than this the weights stay near
    /// uniform (plain Dice); with many more they follow the observed frequencies.
    double prior_records = 100;
};

/// The score thresholds the hub uses unless its configuration says otherwise.
struct threshold_spec {
    double upper = 0.9;  ///< At or above: linked automatically.
    double lower = 0.8;  ///< At or above (and below upper): a review item.
    /// A link the previous run made is kept while its score stays at or above
    /// upper − keep_margin (never below lower): scores that move a little as the hub's
    /// population changes (frequency weights) do not make clusters, and the flags they
    /// send to the agencies, flap between runs. 0: no such margin.
    double keep_margin = 0;
};

/// A loaded, checked linkage schema.
struct linkage_schema {
    int version = 0;                 ///< linkage_schema_version: agencies and hub must agree.
    std::size_t filter_bits = 1024;  ///< Length of the raw CLK (a multiple of 64).
    hardening harden = hardening::none;
    hashing hash = hashing::double_hash;
    std::vector<field_spec> fields;
    std::vector<identifier_spec> identifiers;
    lsh_spec lsh;
    similarity_spec similarity;
    threshold_spec thresholds;
    variant_table variants;

    /// Bits of the encoding the hub receives (after hardening).
    std::size_t encoded_bits() const noexcept;
    std::size_t encoded_words() const noexcept { return encoded_bits() / 64; }

    /// Loads `path` and the variant table it names (relative to it). Throws json::file_error
    /// "file:line:column: at POINTER: message" (a startup error); never quotes a value.
    static linkage_schema load(const std::filesystem::path& path);
    /// As load, from a parsed document; `variants_dir` resolves the variant table's file.
    static linkage_schema from_document(
        const json::located_document& file,
        std::string_view origin,
        const std::filesystem::path& variants_dir
    );
    /// mappings/linkage/linkage-schema.json, or CASEBRIDGE_LINKAGE_SCHEMA when set.
    static std::filesystem::path default_path();
};

}  // namespace casebridge::linkage
