#include "linkage/link.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <tuple>

#include "core/crypto.hpp"
#include "linkage/dice.hpp"

namespace casebridge::linkage {
namespace {

class disjoint_sets {
public:
    explicit disjoint_sets(std::size_t n) : parent_(n), members_(n), agencies_(n) {
        std::iota(parent_.begin(), parent_.end(), 0U);
    }
    void init(std::uint32_t i, std::uint16_t agency) {
        members_[i] = {i};
        agencies_[i] = {agency};
    }
    std::uint32_t find(std::uint32_t i) {
        while (parent_[i] != i) {
            parent_[i] = parent_[parent_[i]];
            i = parent_[i];
        }
        return i;
    }
    /// Agencies both sets hold.
    std::vector<std::uint16_t> shared_agencies(std::uint32_t ra, std::uint32_t rb) const {
        std::vector<std::uint16_t> shared;
        std::set_intersection(
            agencies_[ra].begin(),
            agencies_[ra].end(),
            agencies_[rb].begin(),
            agencies_[rb].end(),
            std::back_inserter(shared)
        );
        return shared;
    }
    std::uint32_t member_of(std::uint32_t root, std::uint16_t agency, const record_set& r) const {
        for (const auto m : members_[root]) {
            if (r.agency(m) == agency) {
                return m;
            }
        }
        return root;
    }
    void unite(std::uint32_t ra, std::uint32_t rb) {
        if (members_[ra].size() < members_[rb].size()) {
            std::swap(ra, rb);
        }
        parent_[rb] = ra;
        members_[ra].insert(members_[ra].end(), members_[rb].begin(), members_[rb].end());
        std::vector<std::uint16_t> merged;
        std::set_union(
            agencies_[ra].begin(),
            agencies_[ra].end(),
            agencies_[rb].begin(),
            agencies_[rb].end(),
            std::back_inserter(merged)
        );
        agencies_[ra] = std::move(merged);
        members_[rb].clear();
        members_[rb].shrink_to_fit();
        agencies_[rb].clear();
    }
    std::vector<std::uint32_t>& members(std::uint32_t root) { return members_[root]; }

private:
    std::vector<std::uint32_t> parent_;
    std::vector<std::vector<std::uint32_t>> members_;
    std::vector<std::vector<std::uint16_t>> agencies_;
};

std::string derived_ref(const std::string& key) {
    return "C" + crypto::sha256_hex(key).substr(0, 16);
}

}  // namespace

void prepare_scoring(record_set& records, const linkage_schema& schema) {
    if (schema.similarity.measure == similarity::frequency_weighted_dice) {
        records.weigh_positions(schema.similarity.prior_records);
    }
}

namespace {

double weighted_dice(const record_set& records, std::uint32_t a, std::uint32_t b) noexcept {
    const double totals = records.weight_total(a) + records.weight_total(b);
    if (totals <= 0) {
        return 0;
    }
    const auto common = weighted_and_popcount(
        records.filter(a),
        records.filter(b),
        records.weight_slice(0),
        record_set::weight_bits,
        records.words()
    );
    return 2 * static_cast<double>(common) / totals;
}

}  // namespace

float score_pair(
    const record_set& records, const linkage_schema& schema, std::uint32_t a, std::uint32_t b
) noexcept {
    double score = 0;
    if (records.weighted()) {
        score = weighted_dice(records, a, b);
    } else {
        const auto both = and_popcount(records.filter(a), records.filter(b), records.words());
        score = dice_from_counts(both, records.bit_count(a), records.bit_count(b));
    }
    const auto ta = records.tokens(a);
    const auto tb = records.tokens(b);
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < ta.size() && j < tb.size()) {
        if (ta[i].kind < tb[j].kind) {
            ++i;
        } else if (tb[j].kind < ta[i].kind) {
            ++j;
        } else {
            const auto kind = ta[i].kind;
            bool equal = false;
            while (i < ta.size() && ta[i].kind == kind) {
                for (std::size_t k = j; k < tb.size() && tb[k].kind == kind; ++k) {
                    equal = equal || ta[i].value == tb[k].value;
                }
                ++i;
            }
            while (j < tb.size() && tb[j].kind == kind) {
                ++j;
            }
            if (kind < schema.identifiers.size()) {
                score += equal ? schema.identifiers[kind].agree : schema.identifiers[kind].disagree;
            }
        }
    }
    return static_cast<float>(score);
}

std::vector<scored_pair> score_pairs(
    const record_set& records,
    const linkage_schema& schema,
    std::span<const candidate_pair> pairs,
    float min_score
) {
    if (schema.similarity.measure == similarity::frequency_weighted_dice && !records.weighted()) {
        throw std::logic_error("score_pairs: the record set was not prepared for the schema");
    }
    std::vector<scored_pair> out;
    for (const auto& p : pairs) {
        const float s = score_pair(records, schema, p.a, p.b);
        if (s >= min_score) {
            out.push_back({p.a, p.b, s});
        }
    }
    return out;
}

std::string ref_key(const record_set& records, std::uint32_t i) {
    std::string key = records.agency_name(records.agency(i));
    key += '\0';
    key += records.key(i);
    return key;
}

linkage_result link_records(
    const record_set& records,
    std::vector<scored_pair> pairs,
    const threshold_spec& thresholds,
    const previous_refs* previous,
    std::span<const std::pair<std::uint32_t, std::uint32_t>> apart
) {
    const auto n = static_cast<std::uint32_t>(records.size());
    // Records a person decided are not the same child: never in one cluster, whatever links
    // through a third record would join them.
    std::vector<std::vector<std::uint32_t>> kept_apart(n);
    for (const auto& [a, b] : apart) {
        if (a < n && b < n && a != b) {
            kept_apart[a].push_back(b);
            kept_apart[b].push_back(a);
        }
    }
    for (auto& p : pairs) {
        if (p.a > p.b) {
            std::swap(p.a, p.b);
        }
    }
    std::sort(pairs.begin(), pairs.end(), [](const scored_pair& x, const scored_pair& y) {
        return std::tie(y.score, x.a, x.b) < std::tie(x.score, y.a, y.b);
    });
    pairs.erase(
        std::unique(
            pairs.begin(),
            pairs.end(),
            [](const scored_pair& x, const scored_pair& y) { return x.a == y.a && x.b == y.b; }
        ),
        pairs.end()
    );

    linkage_result result;
    disjoint_sets sets(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        sets.init(i, records.agency(i));
    }
    struct pending_duplicate {
        std::uint32_t a;
        std::uint32_t b;
        float score;
    };
    std::vector<pending_duplicate> duplicates;
    // Scores are floats: compare with the thresholds as floats, so "at the threshold" holds.
    const auto upper = static_cast<float>(thresholds.upper);
    const auto lower = static_cast<float>(thresholds.lower);
    const auto keep =
        std::max(lower, static_cast<float>(thresholds.upper - thresholds.keep_margin));
    // Each record's previous ref, when the previous run had one.
    std::vector<const std::string*> ref_before(previous != nullptr ? n : 0, nullptr);
    for (std::uint32_t i = 0; i < ref_before.size(); ++i) {
        if (const auto it = previous->find(ref_key(records, i)); it != previous->end()) {
            ref_before[i] = &it->second;
        }
    }
    const auto linked_before = [&](const scored_pair& p) {
        return !ref_before.empty() && ref_before[p.a] != nullptr && ref_before[p.b] != nullptr &&
               *ref_before[p.a] == *ref_before[p.b];
    };
    for (const auto& p : pairs) {
        const bool cross = records.agency(p.a) != records.agency(p.b);
        if (p.score < upper && !(p.score >= keep && linked_before(p))) {
            if (p.score >= lower && cross && sets.find(p.a) != sets.find(p.b)) {
                result.review.push_back(p);
            }
            continue;
        }
        const auto ra = sets.find(p.a);
        const auto rb = sets.find(p.b);
        if (ra == rb) {
            continue;
        }
        const auto shared = sets.shared_agencies(ra, rb);
        if (!shared.empty()) {
            for (const auto agency : shared) {
                auto x = sets.member_of(ra, agency, records);
                auto y = sets.member_of(rb, agency, records);
                duplicates.push_back({std::min(x, y), std::max(x, y), p.score});
            }
            if (cross) {
                result.review.push_back(p);
            }
            continue;
        }
        // A decision that two records are not the same child stops the merge of their
        // clusters: the link goes to a person instead (it contradicts that decision).
        const bool a_smaller = sets.members(ra).size() <= sets.members(rb).size();
        const auto& smaller = sets.members(a_smaller ? ra : rb);
        const auto other = a_smaller ? rb : ra;
        const bool contradicts = std::any_of(smaller.begin(), smaller.end(), [&](std::uint32_t m) {
            return std::any_of(kept_apart[m].begin(), kept_apart[m].end(), [&](std::uint32_t q) {
                return sets.find(q) == other;
            });
        });
        if (contradicts) {
            if (cross) {
                result.review.push_back(p);
            }
            continue;
        }
        sets.unite(ra, rb);
        ++result.auto_links;
    }
    // Review items decided by later links (both ends now in one cluster) are dropped.
    std::erase_if(result.review, [&](const scored_pair& p) {
        return sets.find(p.a) == sets.find(p.b);
    });

    result.cluster_of.assign(n, 0);
    for (std::uint32_t i = 0; i < n; ++i) {
        if (sets.find(i) == i) {
            auto members = std::move(sets.members(i));
            std::sort(members.begin(), members.end());
            result.clusters.push_back({{}, std::move(members)});
        }
    }
    std::sort(
        result.clusters.begin(),
        result.clusters.end(),
        [](const cluster& x, const cluster& y) { return x.members.front() < y.members.front(); }
    );
    for (std::uint32_t c = 0; c < result.clusters.size(); ++c) {
        for (const auto m : result.clusters[c].members) {
            result.cluster_of[m] = c;
        }
    }

    // References: previous ones kept by the largest share of their members, new ones derived.
    std::set<std::string> taken;
    if (previous != nullptr) {
        struct claim {
            std::size_t count;
            std::string ref;
            std::uint32_t cluster;
        };
        std::vector<claim> claims;
        for (std::uint32_t c = 0; c < result.clusters.size(); ++c) {
            std::map<std::string, std::size_t> counts;
            for (const auto m : result.clusters[c].members) {
                if (const auto it = previous->find(ref_key(records, m)); it != previous->end()) {
                    ++counts[it->second];
                }
            }
            for (auto& [ref, count] : counts) {
                claims.push_back({count, ref, c});
            }
        }
        std::sort(claims.begin(), claims.end(), [](const claim& x, const claim& y) {
            return std::tie(y.count, x.ref, x.cluster) < std::tie(x.count, y.ref, y.cluster);
        });
        for (const auto& cl : claims) {
            auto& target = result.clusters[cl.cluster];
            if (target.ref.empty() && !taken.contains(cl.ref)) {
                target.ref = cl.ref;
                taken.insert(cl.ref);
            }
        }
    }
    for (auto& c : result.clusters) {
        if (!c.ref.empty()) {
            continue;
        }
        std::string smallest = ref_key(records, c.members.front());
        for (const auto m : c.members) {
            smallest = std::min(smallest, ref_key(records, m));
        }
        auto ref = derived_ref(smallest);
        for (int suffix = 2; taken.contains(ref); ++suffix) {
            ref = derived_ref(smallest) + "-" + std::to_string(suffix);
        }
        taken.insert(ref);
        c.ref = std::move(ref);
    }

    for (const auto& d : duplicates) {
        result.duplicates.push_back({d.a, d.b, d.score, result.clusters[result.cluster_of[d.a]].ref}
        );
    }

    if (previous != nullptr) {
        std::map<std::string, std::set<std::string>> after_of_before;
        for (const auto& c : result.clusters) {
            std::set<std::string> before;
            for (const auto m : c.members) {
                if (const auto it = previous->find(ref_key(records, m)); it != previous->end()) {
                    before.insert(it->second);
                    after_of_before[it->second].insert(c.ref);
                }
            }
            if (before.size() > 1) {
                result.events.push_back(
                    {cluster_event::kind::merged, {before.begin(), before.end()}, {c.ref}}
                );
            }
        }
        for (const auto& [before, after] : after_of_before) {
            if (after.size() > 1) {
                result.events.push_back(
                    {cluster_event::kind::split, {before}, {after.begin(), after.end()}}
                );
            }
        }
    }
    return result;
}

}  // namespace casebridge::linkage
