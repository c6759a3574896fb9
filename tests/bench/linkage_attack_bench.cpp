// The re-identification attack of docs/imo.md at scale: for each seed, one generated caseload
// encoded four ways (given name alone, record-level unfolded, version 1, shipped), attacked with
// the hub's filters and a public list of common given names only; prints the given names
// re-identified against the baseline of guessing the commonest name for every record.
//   build/release/tests/bench/casebridge_linkage_attack_bench
//   CASEBRIDGE_ATTACK_CHILDREN (default 10000), CASEBRIDGE_ATTACK_SEEDS (default 3: seeds 1..n).
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "linkage/schema.hpp"
#include "support/linkage_attack.hpp"

namespace {

using namespace casebridge;
namespace attack = casebridge::test::linkage_attack;

std::size_t env_size(const char* name, std::size_t fallback) {
    const char* v = std::getenv(name);
    return v == nullptr ? fallback : std::stoul(v);
}

}  // namespace

int main() {
    const auto shipped = linkage::linkage_schema::load(
        std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" /
        "linkage-schema.json"
    );
    const std::size_t children = env_size("CASEBRIDGE_ATTACK_CHILDREN", 10000);
    const std::size_t seeds = env_size("CASEBRIDGE_ATTACK_SEEDS", 3);
    std::printf(
        "Re-identification of given names without the secret, %zu children per seed\n", children
    );
    std::printf(
        "  %-36s %5s %7s %9s %8s %10s %9s %10s %7s\n",
        "setting",
        "seed",
        "records",
        "patterns",
        "aligned",
        "correct",
        "share",
        "baseline",
        "share"
    );
    const std::array settings = {
        attack::setting::given_name_only,
        attack::setting::record_level_unfolded,
        attack::setting::folded_double_hash,
        attack::setting::shipped};
    for (const auto s : settings) {
        const auto schema = attack::schema_for(shipped, s);
        for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
            const auto start = std::chrono::steady_clock::now();
            const auto e = attack::run_experiment(schema, shipped.variants, seed, children);
            const double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::printf(
                "  %-36s %5llu %7zu %9zu %8zu %10zu %9.3f %10zu %7.3f  (%.1f s)\n",
                attack::setting_name(s),
                static_cast<unsigned long long>(seed),
                e.result.records,
                e.attack.patterns,
                e.attack.aligned,
                e.result.correct,
                e.result.accuracy(),
                e.result.baseline_correct,
                e.result.baseline(),
                secs
            );
        }
    }
    return 0;
}
