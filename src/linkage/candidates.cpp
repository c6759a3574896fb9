#include "linkage/candidates.hpp"

#include <algorithm>
#include <numeric>
#include <random>

namespace casebridge::linkage {
namespace {

struct keyed_index {
    std::uint64_t key;
    std::uint32_t index;
};

// Emits every pair of each run of equal keys (skipping runs longer than `max_bucket`).
void emit_runs(
    std::vector<keyed_index>& items,
    const record_set& records,
    const candidate_options& options,
    std::size_t max_bucket,
    std::vector<std::uint64_t>& pairs
) {
    std::sort(items.begin(), items.end(), [](const keyed_index& x, const keyed_index& y) {
        return x.key < y.key || (x.key == y.key && x.index < y.index);
    });
    std::size_t start = 0;
    while (start < items.size()) {
        std::size_t end = start + 1;
        while (end < items.size() && items[end].key == items[start].key) {
            ++end;
        }
        if (end - start > 1 && end - start <= max_bucket) {
            for (std::size_t i = start; i < end; ++i) {
                for (std::size_t j = i + 1; j < end; ++j) {
                    const auto a = items[i].index;
                    const auto b = items[j].index;
                    if (options.cross_agency_only && records.agency(a) == records.agency(b)) {
                        continue;
                    }
                    pairs.push_back((std::uint64_t{a} << 32U) | b);
                }
            }
        }
        start = end;
    }
}

}  // namespace

std::vector<std::vector<std::uint32_t>> lsh_bands(const linkage_schema& schema) {
    std::mt19937_64 rng(schema.lsh.seed);  // the standard fixes mt19937_64's sequence
    const auto bits = static_cast<std::uint32_t>(schema.encoded_bits());
    std::vector<std::uint32_t> all(bits);
    std::iota(all.begin(), all.end(), 0U);
    std::vector<std::vector<std::uint32_t>> bands;
    for (unsigned b = 0; b < schema.lsh.bands; ++b) {
        // Partial Fisher–Yates: the first bits_per_band positions are a uniform sample.
        for (std::uint32_t i = 0; i < schema.lsh.bits_per_band; ++i) {
            const auto j = i + static_cast<std::uint32_t>(rng() % (bits - i));
            std::swap(all[i], all[j]);
        }
        bands.emplace_back(all.begin(), all.begin() + schema.lsh.bits_per_band);
        std::sort(bands.back().begin(), bands.back().end());
    }
    return bands;
}

std::vector<candidate_pair> generate_candidates(
    const record_set& records, const linkage_schema& schema, candidate_options options
) {
    std::vector<std::uint64_t> pairs;
    const auto n = static_cast<std::uint32_t>(records.size());
    std::vector<keyed_index> items;
    items.reserve(n);
    if (options.use_tokens) {
        for (std::uint32_t kind = 0; kind < schema.identifiers.size(); ++kind) {
            if (!schema.identifiers[kind].candidates) {
                continue;
            }
            items.clear();
            for (std::uint32_t i = 0; i < n; ++i) {
                for (const auto& t : records.tokens(i)) {
                    if (t.kind == kind) {
                        items.push_back({t.value, i});
                    }
                }
            }
            emit_runs(items, records, options, schema.lsh.max_bucket, pairs);
        }
    }
    if (options.use_lsh) {
        for (const auto& band : lsh_bands(schema)) {
            items.clear();
            for (std::uint32_t i = 0; i < n; ++i) {
                const std::uint64_t* f = records.filter(i);
                std::uint64_t key = 0;
                for (const auto pos : band) {
                    key = (key << 1U) | ((f[pos / 64] >> (pos % 64)) & 1U);
                }
                items.push_back({key, i});
            }
            emit_runs(items, records, options, schema.lsh.max_bucket, pairs);
        }
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    std::vector<candidate_pair> out;
    out.reserve(pairs.size());
    for (const auto p : pairs) {
        out.push_back({static_cast<std::uint32_t>(p >> 32U), static_cast<std::uint32_t>(p)});
    }
    return out;
}

}  // namespace casebridge::linkage
