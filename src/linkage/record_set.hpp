// The hub's in-memory view of encoded records: filters in one contiguous array (so comparing
// walks memory in order), their bit counts, identifier tokens, agency and pseudonym.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "linkage/encoder.hpp"

namespace casebridge::linkage {

/// Encoded records of any number of agencies, indexed 0..size()-1 in insertion order.
class record_set {
public:
    /// `words`: 64-bit words per filter (linkage_schema::encoded_words()).
    explicit record_set(std::size_t words);

    /// Adds a record; returns its index. Throws std::invalid_argument when the filter length
    /// differs from the set's (another schema version).
    std::uint32_t add(std::string_view agency, std::string key, const encoded_record& record);
    void reserve(std::size_t n);

    std::size_t size() const noexcept { return agency_.size(); }
    std::size_t words() const noexcept { return words_; }
    const std::uint64_t* filter(std::uint32_t i) const noexcept {
        return filters_.data() + std::size_t{i} * words_;
    }
    const std::uint64_t* filters() const noexcept { return filters_.data(); }
    std::uint32_t bit_count(std::uint32_t i) const noexcept { return counts_[i]; }
    const std::vector<std::uint32_t>& bit_counts() const noexcept { return counts_; }
    std::uint16_t agency(std::uint32_t i) const noexcept { return agency_[i]; }
    const std::string& agency_name(std::uint16_t a) const { return agencies_[a]; }
    std::size_t agency_count() const noexcept { return agencies_.size(); }
    const std::string& key(std::uint32_t i) const { return keys_[i]; }
    std::span<const id_token> tokens(std::uint32_t i) const noexcept {
        return {tokens_.data() + token_start_[i], tokens_.data() + token_start_[i + 1]};
    }
    /// Weighs each bit position by how rare it is among the records held:
    /// w = ln((n + prior) / (count + prior · mean density)), so a position every record sets
    /// weighs little, and with few records (n ≪ prior) every weight is near ln(1 / density).
    /// Scores use the weights quantised to `weight_bits` bits (levels 0..63 of the largest
    /// weight), held bit-sliced: slice b marks the positions whose level has bit b set, so
    /// the weight two filters share is Σ_b 2^b · popcount(A ∧ B ∧ slice_b), with no branch
    /// per position. Also sums each record's levels. Call after the last add (add() drops
    /// the weights).
    void weigh_positions(double prior_records);
    bool weighted() const noexcept { return !weights_.empty(); }
    /// The exact weights, one per position (tests and diagnostics).
    const float* position_weights() const noexcept { return weights_.data(); }
    static constexpr unsigned weight_bits = 6;
    /// Slice b (0 ≤ b < weight_bits) of the quantised weights: words() words.
    const std::uint64_t* weight_slice(unsigned b) const noexcept {
        return weight_slices_.data() + std::size_t{b} * words_;
    }
    /// Sum of the record's quantised weights.
    double weight_total(std::uint32_t i) const noexcept { return weight_totals_[i]; }

    /// Heap bytes held (filters, counts, tokens, keys, indexes).
    std::size_t memory_bytes() const noexcept;

private:
    std::size_t words_;
    std::vector<std::uint64_t> filters_;
    std::vector<std::uint32_t> counts_;
    std::vector<std::uint16_t> agency_;
    std::vector<std::string> agencies_;
    std::vector<std::string> keys_;
    std::vector<id_token> tokens_;
    std::vector<std::uint32_t> token_start_{0};
    std::vector<float> weights_;                // per bit position, when weighed
    std::vector<std::uint64_t> weight_slices_;  // weight_bits × words_, when weighed
    std::vector<double> weight_totals_;         // per record, when weighed
};

}  // namespace casebridge::linkage
