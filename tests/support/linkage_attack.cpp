#include "support/linkage_attack.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "linkage/encoder.hpp"
#include "linkage/normalise.hpp"

namespace casebridge::test::linkage_attack {
namespace {

// One bit set per record, for a filter position or a pattern.
using bitset = std::vector<std::uint64_t>;

std::size_t count_and(const std::uint64_t* a, const std::uint64_t* b, std::size_t words) {
    std::size_t c = 0;
    for (std::size_t i = 0; i < words; ++i) {
        c += static_cast<std::size_t>(std::popcount(a[i] & b[i]));
    }
    return c;
}

// Phi coefficients of every pair of filter positions over the first `n` records, indexed by
// distance: at(d, p) is phi(p, p + d mod m) for 1 ≤ d ≤ m/2, so the pairs of a progression
// of step d lie in one row.
class correlations {
public:
    correlations(const linkage::record_set& hub, std::size_t n) : m_(hub.words() * 64) {
        const std::size_t rw = (n + 63) / 64;
        std::vector<std::uint64_t> columns(m_ * rw, 0);
        for (std::size_t r = 0; r < n; ++r) {
            const auto* f = hub.filter(static_cast<std::uint32_t>(r));
            for (std::size_t w = 0; w < hub.words(); ++w) {
                auto x = f[w];
                while (x != 0) {
                    const auto p = w * 64 + static_cast<std::size_t>(std::countr_zero(x));
                    columns[p * rw + r / 64] |= std::uint64_t{1} << (r % 64);
                    x &= x - 1;
                }
            }
        }
        std::vector<double> freq(m_);
        for (std::size_t p = 0; p < m_; ++p) {
            std::size_t c = 0;
            for (std::size_t w = 0; w < rw; ++w) {
                c += static_cast<std::size_t>(std::popcount(columns[p * rw + w]));
            }
            freq[p] = double(c) / double(n);
        }
        phi_.assign((m_ / 2 + 1) * m_, 0.0F);
        for (std::size_t p = 0; p < m_; ++p) {
            const double fp = freq[p];
            if (fp <= 0 || fp >= 1) {
                continue;
            }
            for (std::size_t d = 1; d <= m_ / 2; ++d) {
                const std::size_t q = (p + d) % m_;
                const double fq = freq[q];
                if (fq <= 0 || fq >= 1) {
                    continue;
                }
                const double both =
                    double(count_and(&columns[p * rw], &columns[q * rw], rw)) / double(n);
                phi_[d * m_ + p] =
                    static_cast<float>((both - fp * fq) / std::sqrt(fp * (1 - fp) * fq * (1 - fq)));
            }
        }
    }
    const float* row(std::size_t d) const { return phi_.data() + d * m_; }
    std::size_t bits() const { return m_; }

private:
    std::size_t m_;
    std::vector<float> phi_;
};

struct candidate {
    std::vector<std::size_t> positions;  // sorted
    double strength = 0;                 // mean phi of consecutive positions
};

// Step 1: progressions of exactly `k` positions whose consecutive pairs are correlated: the
// mean phi clears `threshold`; the end pairs are as strong as the inner ones (not a shorter
// token padded with unrelated positions); the pairs just outside are not (not a window of a
// longer token, or a shifted one). `sigma` is the noise of one phi. Overlapping candidates
// keep the strongest.
std::vector<std::vector<std::size_t>> mine_patterns(
    const correlations& phi, unsigned k, double threshold, double sigma
) {
    const std::size_t m = phi.bits();
    std::vector<candidate> found;
    std::vector<float> e(k + 1);
    for (std::size_t d = 1; d <= m / 2; ++d) {
        const float* row = phi.row(d);
        for (std::size_t a = 0; a < m; ++a) {
            double sum = 0;
            for (unsigned i = 0; i + 1 < k; ++i) {
                e[i] = row[(a + i * d) % m];
                sum += e[i];
            }
            const double mean = sum / (k - 1);
            if (mean < threshold) {
                continue;
            }
            const double inner = (sum - e[0] - e[k - 2]) / (k - 3);
            const double weak_end = std::min(inner - 3 * sigma, inner / 3);
            if (e[0] < weak_end || e[k - 2] < weak_end) {
                continue;
            }
            const double strong_outside = std::max(3 * sigma, mean / 3);
            if (row[(a + m - d) % m] >= strong_outside ||
                row[(a + (k - 1) * d) % m] >= strong_outside) {
                continue;
            }
            candidate c;
            for (unsigned i = 0; i < k; ++i) {
                c.positions.push_back((a + i * d) % m);
            }
            std::sort(c.positions.begin(), c.positions.end());
            if (std::adjacent_find(c.positions.begin(), c.positions.end()) != c.positions.end()) {
                continue;
            }
            c.strength = mean;
            found.push_back(std::move(c));
        }
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& x, const auto& y) {
        return x.strength > y.strength;
    });
    std::vector<std::vector<std::size_t>> out;
    std::vector<std::size_t> owner(m, 0);  // how many kept patterns hold each position
    for (auto& c : found) {
        std::size_t shared = 0;
        for (const auto p : c.positions) {
            shared += owner[p] > 0 ? 1 : 0;
        }
        if (shared * 2 >= k) {
            continue;
        }
        for (const auto p : c.positions) {
            ++owner[p];
        }
        out.push_back(std::move(c.positions));
    }
    return out;
}

struct public_side {
    std::vector<std::string> names;                 // normalised, most frequent first
    std::vector<double> weight;                     // sums to 1
    std::vector<std::string> bigrams;               // most frequent first
    std::vector<double> freq;                       // per bigram
    std::vector<std::vector<std::size_t>> of_name;  // bigram indexes of each name
};

public_side public_knowledge(const knowledge& k, double min_frequency) {
    std::map<std::string, double> merged;
    double total = 0;
    for (const auto& n : k.names) {
        merged[normalise_name(*k.variants, n.name, k.collapse_repeats)] += n.weight;
        total += n.weight;
    }
    public_side s;
    std::vector<std::pair<std::string, double>> sorted(merged.begin(), merged.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) {
        return x.second > y.second;
    });
    std::map<std::string, double> bigram_freq;
    std::vector<std::set<std::string>> grams;
    for (const auto& [name, w] : sorted) {
        s.names.push_back(name);
        s.weight.push_back(w / total);
        std::set<std::string> g;
        for (const auto& word : linkage::split_words(name)) {
            for (auto& b : linkage::padded_bigrams(word)) {
                g.insert(std::move(b));
            }
        }
        for (const auto& b : g) {
            bigram_freq[b] += w / total;
        }
        grams.push_back(std::move(g));
    }
    std::vector<std::pair<std::string, double>> bs(bigram_freq.begin(), bigram_freq.end());
    std::stable_sort(bs.begin(), bs.end(), [](const auto& x, const auto& y) {
        return x.second > y.second;
    });
    std::unordered_map<std::string, std::size_t> index;
    for (const auto& [b, f] : bs) {
        if (f < min_frequency) {
            break;
        }
        index[b] = s.bigrams.size();
        s.bigrams.push_back(b);
        s.freq.push_back(f);
    }
    for (const auto& g : grams) {
        std::vector<std::size_t> ids;
        for (const auto& b : g) {
            if (const auto it = index.find(b); it != index.end()) {
                ids.push_back(it->second);
            }
        }
        s.of_name.push_back(std::move(ids));
    }
    return s;
}

}  // namespace

std::string normalise_name(
    const linkage::variant_table& variants, std::string_view name, bool collapse_repeats
) {
    std::string out;
    for (const auto& w : linkage::split_words(linkage::fold_text(name))) {
        out += out.empty() ? "" : " ";
        out += variants.fold_word(w, collapse_repeats);
    }
    return out;
}

std::vector<public_name> name_frequencies(
    const std::vector<sandbox::population::record>& records,
    const linkage::variant_table& variants,
    bool collapse_repeats
) {
    std::map<std::string, double> counts;
    for (const auto& r : records) {
        counts[normalise_name(variants, r.true_given, collapse_repeats)] += 1;
    }
    std::vector<public_name> out;
    for (const auto& [name, c] : counts) {
        out.push_back({name, c / double(records.size())});
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
        return x.weight > y.weight;
    });
    return out;
}

outcome attack(const linkage::record_set& hub, const knowledge& k, const options& o) {
    outcome result;
    const std::size_t n = hub.size();
    if (n == 0 || k.variants == nullptr || k.hashes < 4) {
        return result;
    }
    const std::size_t sample = std::min(n, o.max_sample);
    const double sigma = 1 / std::sqrt(double(sample));
    const double threshold = o.z * sigma / std::sqrt(double(k.hashes - 1));

    // 1. Patterns, and the records each is present in (most of its positions set).
    std::vector<std::vector<std::size_t>> patterns;
    {
        const correlations phi(hub, sample);
        patterns = mine_patterns(phi, k.hashes, threshold, sigma);
    }
    result.patterns = patterns.size();
    const std::size_t rw = (n + 63) / 64;
    const unsigned present_at = (k.hashes * 11 + 19) / 20;  // ≥ 55 % of the positions
    std::vector<bitset> present(patterns.size(), bitset(rw, 0));
    std::vector<double> support(patterns.size(), 0);
    for (std::size_t p = 0; p < patterns.size(); ++p) {
        std::size_t c = 0;
        for (std::size_t r = 0; r < n; ++r) {
            const auto* f = hub.filter(static_cast<std::uint32_t>(r));
            unsigned set = 0;
            for (const auto pos : patterns[p]) {
                set += static_cast<unsigned>((f[pos / 64] >> (pos % 64)) & 1U);
            }
            if (set >= present_at) {
                present[p][r / 64] |= std::uint64_t{1} << (r % 64);
                ++c;
            }
        }
        support[p] = double(c) / double(n);
    }
    std::vector<std::vector<double>> joint(patterns.size(), std::vector<double>(patterns.size()));
    for (std::size_t p = 0; p < patterns.size(); ++p) {
        for (std::size_t q = p; q < patterns.size(); ++q) {
            joint[p][q] = joint[q][p] =
                double(count_and(present[p].data(), present[q].data(), rw)) / double(n);
        }
    }

    // 2. Alignment of public bigrams with patterns.
    const auto pub = public_knowledge(k, o.min_bigram_frequency);
    const std::size_t g_count = std::min(pub.bigrams.size(), patterns.size());
    std::vector<std::vector<double>> pub_joint(g_count, std::vector<double>(g_count, 0));
    for (std::size_t i = 0; i < pub.names.size(); ++i) {
        for (const auto g : pub.of_name[i]) {
            for (const auto h : pub.of_name[i]) {
                if (g < g_count && h < g_count) {
                    pub_joint[g][h] += pub.weight[i];
                }
            }
        }
    }
    constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    std::vector<std::size_t> assigned(g_count, none);  // bigram → pattern
    std::vector<bool> used(patterns.size(), false);
    auto cost = [&](std::size_t g, std::size_t p) {
        double c = std::abs(support[p] - pub.freq[g]);
        double co = 0;
        std::size_t terms = 0;
        for (std::size_t h = 0; h < g_count; ++h) {
            if (h == g || assigned[h] == none) {
                continue;
            }
            co += std::abs(joint[p][assigned[h]] - pub_joint[g][h]);
            ++terms;
        }
        return terms == 0 ? c : c + co / double(terms) * 4;
    };
    auto choose = [&](std::size_t g) {
        std::size_t best = none;
        double best_cost = std::numeric_limits<double>::max();
        for (std::size_t p = 0; p < patterns.size(); ++p) {
            if (used[p]) {
                continue;
            }
            const double c = cost(g, p);
            if (c < best_cost) {
                best_cost = c;
                best = p;
            }
        }
        return best;
    };
    for (std::size_t g = 0; g < g_count; ++g) {
        assigned[g] = choose(g);
        used[assigned[g]] = true;
    }
    for (unsigned pass = 0; pass < o.refine_passes; ++pass) {
        for (std::size_t g = 0; g < g_count; ++g) {
            used[assigned[g]] = false;
            assigned[g] = none;
            assigned[g] = choose(g);
            used[assigned[g]] = true;
        }
    }
    result.aligned = g_count;

    // 3. Re-identification: the public name whose aligned bigrams best explain the record.
    const std::size_t gw = (g_count + 63) / 64;
    std::vector<bitset> expected(pub.names.size(), bitset(gw, 0));
    for (std::size_t i = 0; i < pub.names.size(); ++i) {
        for (const auto g : pub.of_name[i]) {
            if (g < g_count) {
                expected[i][g / 64] |= std::uint64_t{1} << (g % 64);
            }
        }
    }
    result.guesses.resize(n);
    bitset seen(gw);
    for (std::size_t r = 0; r < n; ++r) {
        std::fill(seen.begin(), seen.end(), 0);
        for (std::size_t g = 0; g < g_count; ++g) {
            if (((present[assigned[g]][r / 64] >> (r % 64)) & 1U) != 0) {
                seen[g / 64] |= std::uint64_t{1} << (g % 64);
            }
        }
        std::size_t best = 0;
        std::size_t best_miss = std::numeric_limits<std::size_t>::max();
        for (std::size_t i = 0; i < pub.names.size(); ++i) {  // most frequent first
            std::size_t miss = 0;
            for (std::size_t w = 0; w < gw; ++w) {
                miss += static_cast<std::size_t>(std::popcount(seen[w] ^ expected[i][w]));
            }
            if (miss < best_miss) {
                best_miss = miss;
                best = i;
            }
        }
        result.guesses[r] = pub.names.empty() ? std::string() : pub.names[best];
    }
    return result;
}

score evaluate(
    const std::vector<sandbox::population::record>& records,
    const outcome& result,
    const knowledge& k
) {
    score s;
    std::string most_frequent;
    double top = -1;
    std::map<std::string, double> merged;
    for (const auto& n : k.names) {
        merged[normalise_name(*k.variants, n.name, k.collapse_repeats)] += n.weight;
    }
    for (const auto& [name, w] : merged) {
        if (w > top) {
            top = w;
            most_frequent = name;
        }
    }
    for (std::size_t i = 0; i < records.size() && i < result.guesses.size(); ++i) {
        const auto truth = normalise_name(*k.variants, records[i].true_given, k.collapse_repeats);
        ++s.records;
        s.correct += result.guesses[i] == truth ? 1 : 0;
        s.baseline_correct += most_frequent == truth ? 1 : 0;
    }
    return s;
}

const char* setting_name(setting s) {
    switch (s) {
        case setting::given_name_only:
            return "given name only, not folded";
        case setting::record_level_unfolded:
            return "record-level, not folded";
        case setting::folded_double_hash:
            return "record-level, XOR-folded, double hashing (schema v1)";
        case setting::shipped:
            return "shipped (record-level, XOR-folded, random hashing)";
    }
    return "";
}

linkage::linkage_schema schema_for(const linkage::linkage_schema& shipped, setting s) {
    auto out = shipped;
    if (s == setting::given_name_only) {
        std::erase_if(out.fields, [](const linkage::field_spec& f) {
            return f.name != "given_name";
        });
    }
    if (s == setting::given_name_only || s == setting::record_level_unfolded) {
        out.harden = linkage::hardening::none;
    }
    if (s != setting::shipped) {
        out.hash = linkage::hashing::double_hash;
    }
    return out;
}

experiment run_experiment(
    const linkage::linkage_schema& schema,
    const linkage::variant_table& variants,
    std::uint64_t seed,
    std::size_t children,
    std::size_t reference_children
) {
    const auto load = sandbox::population::generate({.seed = seed, .children = children});
    const auto reference =
        sandbox::population::generate({.seed = seed + 1000, .children = reference_children});
    knowledge k{.variants = &variants};
    for (const auto& f : schema.fields) {
        if (f.name == "given_name") {
            k.hashes = f.hashes;
            k.collapse_repeats = f.collapse_repeats;
        }
    }
    k.names = name_frequencies(reference.records, variants, k.collapse_repeats);
    linkage::encoder enc(schema, "attack-experiment-secret-" + std::to_string(seed * 104729));
    linkage::record_set hub(schema.encoded_words());
    hub.reserve(load.records.size());
    for (const auto& r : load.records) {
        hub.add(r.agency, r.key, enc.encode(sandbox::population::to_canonical(r)));
    }
    experiment e;
    e.attack = attack(hub, k);  // the filters and the public knowledge only
    e.result = evaluate(load.records, e.attack, k);
    return e;
}

}  // namespace casebridge::test::linkage_attack
