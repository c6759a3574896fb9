#include "linkage/record_set.hpp"

#include <algorithm>
#include <bit>
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

std::size_t record_set::memory_bytes() const noexcept {
    std::size_t bytes =
        filters_.capacity() * sizeof(std::uint64_t) + counts_.capacity() * sizeof(std::uint32_t) +
        agency_.capacity() * sizeof(std::uint16_t) + keys_.capacity() * sizeof(std::string) +
        tokens_.capacity() * sizeof(id_token) + token_start_.capacity() * sizeof(std::uint32_t);
    for (const auto& k : keys_) {
        if (k.capacity() > 15) {  // beyond the small-string buffer
            bytes += k.capacity() + 1;
        }
    }
    return bytes;
}

}  // namespace casebridge::linkage
