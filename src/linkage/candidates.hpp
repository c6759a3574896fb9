// Candidate pairs for linking, so the hub does not compare every record with every other:
// records sharing a keyed identifier token, and records colliding in a band of bit-sampling
// LSH (Hamming distance) of their encodings, so one wrong field does not hide a pair.
#pragma once

#include <cstdint>
#include <vector>

#include "linkage/record_set.hpp"
#include "linkage/schema.hpp"

namespace casebridge::linkage {

/// Two record indexes, a < b.
struct candidate_pair {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    friend bool operator==(const candidate_pair&, const candidate_pair&) = default;
};

struct candidate_options {
    bool use_tokens = true;          ///< Pairs sharing an identifier token (schema decides which).
    bool use_lsh = true;             ///< Pairs colliding in an LSH band.
    bool cross_agency_only = false;  ///< Leave out pairs of one agency (no duplicate search).
};

/// Deduplicated candidate pairs, sorted. Deterministic for a given set, schema and options.
std::vector<candidate_pair> generate_candidates(
    const record_set& records, const linkage_schema& schema, candidate_options options = {}
);

/// The bit positions each LSH band samples (derived from the schema's public seed).
std::vector<std::vector<std::uint32_t>> lsh_bands(const linkage_schema& schema);

}  // namespace casebridge::linkage
