// Linkage core (docs/imo.md), side by side in one run:
//   - Dice comparisons per second: popcount over 64-bit words against a byte-at-a-time
//     table loop (the baseline), one query against a block of stored filters;
//   - quality: precision, recall and F1 per upper threshold on generated children (a table);
//   - candidate generation on two agencies' caseloads: wall time, pairs, share of true pairs
//     kept, memory per record.
//   build/release/tests/bench/casebridge_linkage_bench
//   CASEBRIDGE_LINKAGE_CHILDREN=10000 (quality set), CASEBRIDGE_LINKAGE_SCALE=50000 (records
//   per agency in the candidate run; 100000 needs several GB for the candidate pairs) change
//   the sizes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "linkage/candidates.hpp"
#include "linkage/dice.hpp"
#include "linkage/encoder.hpp"
#include "linkage/link.hpp"
#include "sandbox/population.hpp"

namespace {

using namespace casebridge;
using namespace casebridge::linkage;

const linkage_schema& schema() {
    static const linkage_schema s = linkage_schema::load(
        std::getenv("CASEBRIDGE_LINKAGE_SCHEMA") != nullptr
            ? linkage_schema::default_path()
            : std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" /
                  "linkage-schema.json"
    );
    return s;
}

std::size_t env_size(const char* name, std::size_t fallback) {
    const char* v = std::getenv(name);
    return v == nullptr ? fallback : std::stoul(v);
}

// Filters with the density of real encodings (balanced: half the bits set).
struct filter_block {
    std::size_t words;
    std::size_t n;
    std::vector<std::uint64_t> data;
    std::vector<std::uint32_t> counts;
    filter_block(std::size_t w, std::size_t count) : words(w), n(count), data(w * count) {
        std::mt19937_64 rng(42);
        for (auto& x : data) {
            x = rng();
        }
        for (std::size_t r = 0; r < n; ++r) {
            std::uint32_t c = 0;
            for (std::size_t k = 0; k < words; ++k) {
                c += static_cast<std::uint32_t>(std::popcount(data[r * words + k]));
            }
            counts.push_back(c);
        }
    }
};

void BM_linkage_dice_popcount(benchmark::State& state) {
    const filter_block block(schema().encoded_words(), 4096);
    std::vector<float> out(block.n);
    std::size_t q = 0;
    for (auto _ : state) {
        const auto* query = block.data.data() + (q++ % block.n) * block.words;
        dice_one_to_many(
            query,
            block.counts[q % block.n],
            block.data.data(),
            block.counts.data(),
            block.words,
            block.n,
            out.data()
        );
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * block.n));
    state.SetLabel(std::to_string(block.words * 64) + "-bit filters, comparisons/s");
}
BENCHMARK(BM_linkage_dice_popcount);

void BM_linkage_dice_byte_loop(benchmark::State& state) {
    const filter_block block(schema().encoded_words(), 4096);
    std::vector<float> out(block.n);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(block.data.data());
    const std::size_t stride = block.words * 8;
    std::size_t q = 0;
    for (auto _ : state) {
        const auto* query = bytes + (q++ % block.n) * stride;
        for (std::size_t r = 0; r < block.n; ++r) {
            out[r] = static_cast<float>(dice_bytes(query, bytes + r * stride, stride));
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * block.n));
    state.SetLabel("baseline: byte loop with a 256-entry bit-count table");
}
BENCHMARK(BM_linkage_dice_byte_loop);

// The shipped score: Dice weighted by position rarity (and identifier agreement), one pair at a
// time as the hub scores candidates, over the same kind of filters.
void BM_linkage_weighted_dice(benchmark::State& state) {
    const filter_block block(schema().encoded_words(), 4096);
    record_set set(block.words);
    for (std::size_t r = 0; r < block.n; ++r) {
        // Three random words ANDed: 1/8 of the bits set, about the density of real encodings
        // (a score's cost grows with the bits two filters share).
        encoded_record e;
        for (std::size_t k = 0; k < block.words; ++k) {
            e.filter.push_back(
                block.data[r * block.words + k] &
                block.data[((r + 1) % block.n) * block.words + k] &
                block.data[((r + 2) % block.n) * block.words + k]
            );
        }
        set.add("agency", std::to_string(r), e);
    }
    set.weigh_positions(schema().similarity.prior_records);
    std::vector<float> out(block.n);
    std::uint32_t q = 0;
    for (auto _ : state) {
        const auto query = q++ % static_cast<std::uint32_t>(block.n);
        for (std::uint32_t r = 0; r < block.n; ++r) {
            out[r] = score_pair(set, schema(), query, r);
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * block.n));
    state.SetLabel("frequency-weighted Dice (the shipped score), filters 1/8 full");
}
BENCHMARK(BM_linkage_weighted_dice);

record_set encode_all(const std::vector<sandbox::population::record>& records) {
    record_set set(schema().encoded_words());
    set.reserve(records.size());
    encoder enc(schema(), "benchmark-linkage-secret-0123456789");
    for (const auto& r : records) {
        set.add(r.agency, r.key, enc.encode(sandbox::population::to_canonical(r)));
    }
    prepare_scoring(set, schema());
    return set;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Precision, recall and F1 of automatic links for a range of upper thresholds.
void print_quality_table() {
    const std::size_t children = env_size("CASEBRIDGE_LINKAGE_CHILDREN", 10000);
    for (const std::uint64_t seed : {11U, 12U}) {
        const auto load = sandbox::population::generate({.seed = seed, .children = children});
        const auto records = encode_all(load.records);
        const auto candidates = generate_candidates(records, schema());
        const auto scored = score_pairs(records, schema(), candidates, 0.5F);
        std::printf(
            "\nquality: %zu children, %zu records of 3 agencies, seed %llu, %zu true cross-agency "
            "pairs, %zu candidate pairs\n",
            children,
            load.records.size(),
            static_cast<unsigned long long>(seed),
            sandbox::population::true_cross_pairs(load.records),
            candidates.size()
        );
        std::printf("  upper   links  precision  recall     F1  review(lower=upper-0.08)\n");
        for (int step = 0; step <= 12; ++step) {
            const double upper = 0.65 + 0.02 * step;
            const auto result = link_records(records, scored, threshold_spec{upper, upper - 0.08});
            const auto q = sandbox::population::evaluate(load.records, result);
            std::printf(
                "  %.2f%s %7zu     %.4f  %.4f  %.4f  %zu\n",
                upper,
                std::abs(upper - schema().thresholds.upper) < 1e-9 ? "*" : " ",
                q.predicted_pairs,
                q.precision(),
                q.recall(),
                q.f1(),
                result.review.size()
            );
        }
    }
    std::printf("  * the schema's default upper threshold\n");
}

// The default thresholds over more seeds (each with its own secret), and on caseloads with
// every field error half as frequent again: how far one seed's figure is from another's.
void print_default_thresholds() {
    const std::size_t children = env_size("CASEBRIDGE_LINKAGE_CHILDREN", 10000);
    const auto& th = schema().thresholds;
    for (const bool harder : {false, true}) {
        std::printf(
            "\ndefault thresholds (upper %.2f, lower %.2f), %zu children%s\n  seed  precision  "
            "recall      F1  review\n",
            th.upper,
            th.lower,
            children,
            harder ? ", every field error x1.5 (proGres recorded 40 %)" : ""
        );
        double sum = 0;
        double worst = 1;
        double worst_precision = 1;
        int runs = 0;
        for (std::uint64_t seed = 11; seed <= 16; ++seed) {
            sandbox::population::options o{.seed = seed, .children = children};
            if (harder) {
                o.name_variant *= 1.5;
                o.misspelling *= 1.5;
                o.family_missing *= 1.5;
                o.dob_estimated *= 1.5;
                o.dob_swapped *= 1.5;
                o.year_off *= 1.5;
                o.block_move *= 1.5;
                o.caregiver_missing *= 1.5;
                o.sex_error *= 1.5;
                o.progres_recorded = 0.4;
            }
            const auto load = sandbox::population::generate(o);
            record_set records(schema().encoded_words());
            encoder enc(schema(), "benchmark-secret-of-seed-" + std::to_string(seed * 7919));
            for (const auto& r : load.records) {
                records.add(r.agency, r.key, enc.encode(sandbox::population::to_canonical(r)));
            }
            const auto candidates = generate_candidates(records, schema());
            prepare_scoring(records, schema());
            const auto result = link_records(
                records,
                score_pairs(records, schema(), candidates, static_cast<float>(th.lower)),
                th
            );
            const auto q = sandbox::population::evaluate(load.records, result);
            std::printf(
                "  %4llu     %.4f  %.4f  %.4f  %zu\n",
                static_cast<unsigned long long>(seed),
                q.precision(),
                q.recall(),
                q.f1(),
                result.review.size()
            );
            sum += q.f1();
            worst = std::min(worst, q.f1());
            worst_precision = std::min(worst_precision, q.precision());
            ++runs;
        }
        std::printf(
            "  F1 mean %.4f, lowest %.4f; lowest precision %.4f\n",
            sum / runs,
            worst,
            worst_precision
        );
    }
}

// Two agencies of `scale` records each, overlapping by about a third.
void print_candidate_run() {
    const std::size_t scale = env_size("CASEBRIDGE_LINKAGE_SCALE", 50000);
    sandbox::population::options o;
    o.seed = 99;
    o.agencies = {"agency_a", "agency_b"};
    o.coverage = {0.6, 0.6};
    o.duplicate_rate = 0;
    o.children = static_cast<std::size_t>(double(scale) / 0.6 * 0.8);
    auto t0 = std::chrono::steady_clock::now();
    const auto load = sandbox::population::generate(o);
    const double t_gen = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const auto records = encode_all(load.records);
    const double t_encode = seconds_since(t0);
    std::size_t na = 0;
    for (const auto& r : load.records) {
        na += r.agency == "agency_a" ? 1 : 0;
    }
    t0 = std::chrono::steady_clock::now();
    const auto candidates = generate_candidates(records, schema(), {.cross_agency_only = true});
    const double t_cand = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const auto scored =
        score_pairs(records, schema(), candidates, static_cast<float>(schema().thresholds.lower));
    const double t_score = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const auto result = link_records(records, scored, schema().thresholds);
    const double t_link = seconds_since(t0);

    std::size_t kept = 0;
    std::size_t kept_linkable = 0;
    std::size_t linkable = 0;
    {
        std::vector<std::uint64_t> keys;
        keys.reserve(candidates.size());
        for (const auto& p : candidates) {
            keys.push_back((std::uint64_t{p.a} << 32U) | p.b);
        }
        std::vector<std::vector<std::uint32_t>> by_child(o.children);
        for (std::uint32_t i = 0; i < load.records.size(); ++i) {
            by_child[load.records[i].child].push_back(i);
        }
        for (const auto& members : by_child) {
            for (std::size_t i = 0; i < members.size(); ++i) {
                for (std::size_t j = i + 1; j < members.size(); ++j) {
                    const auto a = std::min(members[i], members[j]);
                    const auto b = std::max(members[i], members[j]);
                    const bool found =
                        std::binary_search(keys.begin(), keys.end(), (std::uint64_t{a} << 32U) | b);
                    kept += found ? 1 : 0;
                    // Pairs whose full score reaches the review threshold: what linking could use.
                    if (score_pair(records, schema(), a, b) >= schema().thresholds.lower) {
                        ++linkable;
                        kept_linkable += found ? 1 : 0;
                    }
                }
            }
        }
    }
    const auto truth = sandbox::population::true_cross_pairs(load.records);
    const auto q = sandbox::population::evaluate(load.records, result);
    std::printf(
        "\ncandidates: %zu vs %zu records (two agencies), %zu true pairs\n"
        "  generate %.2f s, encode %.2f s (%.0f records/s)\n"
        "  candidate generation %.2f s: %zu pairs (%.2e of all %.2e), true pairs kept %.4f "
        "(%zu of %zu); of those scoring >= lower: %.4f (%zu of %zu)\n"
        "  scoring %.2f s (%.1f M pairs/s), clustering %.2f s; auto-link precision %.4f recall "
        "%.4f "
        "F1 %.4f\n"
        "  memory: %.0f bytes per record in the record set (filter %zu bytes)\n",
        na,
        load.records.size() - na,
        truth,
        t_gen,
        t_encode,
        double(load.records.size()) / t_encode,
        t_cand,
        candidates.size(),
        double(candidates.size()) / (double(na) * double(load.records.size() - na)),
        double(na) * double(load.records.size() - na),
        double(kept) / double(truth),
        kept,
        truth,
        linkable == 0 ? 1.0 : double(kept_linkable) / double(linkable),
        kept_linkable,
        linkable,
        t_score,
        double(candidates.size()) / t_score / 1e6,
        t_link,
        q.precision(),
        q.recall(),
        q.f1(),
        double(records.memory_bytes()) / double(records.size()),
        records.words() * 8
    );
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (std::getenv("CASEBRIDGE_LINKAGE_SKIP_QUALITY") == nullptr) {
        print_quality_table();
        print_default_thresholds();
    }
    if (std::getenv("CASEBRIDGE_LINKAGE_SKIP_CANDIDATES") == nullptr) {
        print_candidate_run();
    }
    return 0;
}
