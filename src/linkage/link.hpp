// Scoring of candidate pairs (Dice of the encodings plus identifier agreement) and clustering
// with two thresholds: auto-links above the upper one, review items between the two,
// within-agency duplicates reported, never merged. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "linkage/candidates.hpp"
#include "linkage/record_set.hpp"
#include "linkage/schema.hpp"

namespace casebridge::linkage {

struct scored_pair {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    float score = 0;
};

/// Readies `records` for scoring under `schema`: weighs the bit positions when the schema's
/// similarity is frequency_weighted_dice (record_set::weigh_positions). Call after the last
/// record is added; the scores then depend on every record the set holds.
void prepare_scoring(record_set& records, const linkage_schema& schema);

/// Score of one pair: Dice of the filters (weighted when the set is weighed) plus, for each
/// identifier both records hold, its `agree` weight when the tokens are equal or its
/// `disagree` weight when they differ.
float score_pair(
    const record_set& records, const linkage_schema& schema, std::uint32_t a, std::uint32_t b
) noexcept;

/// Scores of `pairs` at or above `min_score` (in the order of `pairs`). Throws
/// std::logic_error when the schema asks for weights and the set was not prepared.
std::vector<scored_pair> score_pairs(
    const record_set& records,
    const linkage_schema& schema,
    std::span<const candidate_pair> pairs,
    float min_score
);

/// One child as the hub sees it: the records of it, at most one per agency.
struct cluster {
    std::string ref;                     ///< Stable reference shared with the agencies.
    std::vector<std::uint32_t> members;  ///< Record indexes, ascending.
};

/// Two records of one agency that the evidence puts together: reported, not merged.
struct duplicate_report {
    std::uint32_t a = 0;  ///< The record already in the cluster.
    std::uint32_t b = 0;  ///< The record the link would have added (same agency as a).
    float score = 0;      ///< Score of the link that would have joined them.
    std::string cluster_ref;
};

/// A change of cluster membership against the previous run, to be logged by the hub.
struct cluster_event {
    enum class kind { merged, split };
    kind what = kind::merged;
    std::vector<std::string> before;  ///< Refs before (merged: several; split: one).
    std::vector<std::string> after;   ///< Refs after (merged: one; split: several).
};

struct linkage_result {
    std::vector<cluster> clusters;          ///< Every record is in exactly one (singletons too).
    std::vector<std::uint32_t> cluster_of;  ///< Record index → index into clusters.
    std::vector<scored_pair> review;        ///< Cross-agency pairs for a person to decide.
    std::vector<duplicate_report> duplicates;
    std::vector<cluster_event> events;  ///< Empty without previous refs.
    std::size_t auto_links = 0;         ///< Links above the upper threshold that were applied.
};

/// Record key ("agency\0pseudonym") → cluster ref, from the previous run.
using previous_refs = std::unordered_map<std::string, std::string>;

/// The key a record's ref is remembered under.
std::string ref_key(const record_set& records, std::uint32_t i);

/// Clusters `records` from scored pairs. Links are applied greedily from the highest score;
/// a pair whose records shared a cluster in `previous` is linked from upper − keep_margin
/// (not below lower), so a link does not come and go with small moves of its score;
/// a link that would put two records of one agency in a cluster is not applied: it becomes a
/// duplicate report (and, between agencies, a review item). Refs: a cluster keeps the
/// previous ref most of its members had (ties: the smaller ref); otherwise
/// "C" + 16 hex digits of SHA-256 of its smallest member's key, so re-running gives the same
/// refs. Deterministic for the same input in any order.
/// `apart`: pairs of records a person decided are not the same child. No cluster ever holds
/// both ends of one: a link that would merge their clusters (through a third record) is not
/// applied and becomes a review item, as it contradicts the decision.
linkage_result link_records(
    const record_set& records,
    std::vector<scored_pair> pairs,
    const threshold_spec& thresholds,
    const previous_refs* previous = nullptr,
    std::span<const std::pair<std::uint32_t, std::uint32_t>> apart = {}
);

}  // namespace casebridge::linkage
