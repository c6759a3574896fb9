#include "linkage/record_set.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace casebridge::linkage {

record_set::record_set(std::size_t words) : words_(words) {}

void record_set::reserve(std::size_t n) {
    filters_.reserve(n * words_);
    counts_.reserve(n);
    agency_.reserve(n);
    keys_.reserve(n);
    token_start_.reserve(n + 1);
}

std::uint32_t record_set::add(
    std::string_view agency, std::string key, const encoded_record& record
) {
    if (record.filter.size() != words_) {
        throw std::invalid_argument("encoding length differs from the linkage schema's");
    }
    auto it = std::find(agencies_.begin(), agencies_.end(), agency);
    if (it == agencies_.end()) {
        if (agencies_.size() >= 0xFFFF) {
            throw std::invalid_argument("too many agencies");
        }
        agencies_.emplace_back(agency);
        it = agencies_.end() - 1;
    }
    weights_.clear();
    weight_slices_.clear();
    weight_totals_.clear();
    const auto index = static_cast<std::uint32_t>(agency_.size());
    agency_.push_back(static_cast<std::uint16_t>(it - agencies_.begin()));
    std::uint32_t count = 0;
    for (const auto w : record.filter) {
        count += static_cast<std::uint32_t>(std::popcount(w));
    }
    filters_.insert(filters_.end(), record.filter.begin(), record.filter.end());
    counts_.push_back(count);
    keys_.push_back(std::move(key));
    auto sorted = record.tokens;
    std::sort(sorted.begin(), sorted.end(), [](const id_token& a, const id_token& b) {
        return a.kind < b.kind || (a.kind == b.kind && a.value < b.value);
    });
    tokens_.insert(tokens_.end(), sorted.begin(), sorted.end());
    token_start_.push_back(static_cast<std::uint32_t>(tokens_.size()));
    return index;
}

void record_set::weigh_positions(double prior_records) {
    const std::size_t bits = words_ * 64;
    const auto n = static_cast<double>(size());
    std::vector<std::uint32_t> counts(bits, 0);
    double set_bits = 0;
    for (std::uint32_t r = 0; r < size(); ++r) {
        const auto* f = filter(r);
        for (std::size_t w = 0; w < words_; ++w) {
            for (auto word = f[w]; word != 0; word &= word - 1) {
                ++counts[w * 64 + static_cast<std::size_t>(std::countr_zero(word))];
            }
        }
        set_bits += counts_[r];
    }
    // The mean density, never 0 (an empty hub or empty filters) and never 1.
    const double density =
        std::clamp(n == 0 ? 0.5 : set_bits / (n * double(bits)), 1.0 / double(bits), 0.5);
    weights_.assign(bits, 0.0F);
    float largest = 0;
    for (std::size_t k = 0; k < bits; ++k) {
        weights_[k] = static_cast<float>(
            std::log((n + prior_records) / (double(counts[k]) + prior_records * density))
        );
        largest = std::max(largest, weights_[k]);
    }
    constexpr unsigned top = (1U << weight_bits) - 1;
    std::vector<unsigned> level(bits, 0);
    weight_slices_.assign(std::size_t{weight_bits} * words_, 0);
    for (std::size_t k = 0; k < bits; ++k) {
        // Every weight is > 0; keep every level ≥ 1 so that no set position counts for nothing.
        level[k] =
            std::clamp(static_cast<unsigned>(std::lround(weights_[k] / largest * top)), 1U, top);
        for (unsigned b = 0; b < weight_bits; ++b) {
            if ((level[k] >> b) & 1U) {
                weight_slices_[b * words_ + k / 64] |= std::uint64_t{1} << (k % 64);
            }
        }
    }
    weight_totals_.assign(size(), 0.0);
    for (std::uint32_t r = 0; r < size(); ++r) {
        const auto* f = filter(r);
        double total = 0;
        for (std::size_t w = 0; w < words_; ++w) {
            for (auto word = f[w]; word != 0; word &= word - 1) {
                total += level[w * 64 + static_cast<std::size_t>(std::countr_zero(word))];
            }
        }
        weight_totals_[r] = total;
    }
}

std::size_t record_set::memory_bytes() const noexcept {
    std::size_t bytes =
        filters_.capacity() * sizeof(std::uint64_t) + counts_.capacity() * sizeof(std::uint32_t) +
        agency_.capacity() * sizeof(std::uint16_t) + keys_.capacity() * sizeof(std::string) +
        tokens_.capacity() * sizeof(id_token) + token_start_.capacity() * sizeof(std::uint32_t) +
        weights_.capacity() * sizeof(float) + weight_slices_.capacity() * sizeof(std::uint64_t) +
        weight_totals_.capacity() * sizeof(double);
    for (const auto& k : keys_) {
        if (k.capacity() > 15) {  // beyond the small-string buffer
            bytes += k.capacity() + 1;
        }
    }
    return bytes;
}

}  // namespace casebridge::linkage
