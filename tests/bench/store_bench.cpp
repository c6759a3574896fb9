// Transfer log appends per second on a real file (WAL, synchronous=FULL): one transaction per
// entry against group commit of 100 and 1000 entries, side by side in one run:
//   build/release/tests/bench/casebridge_bench --benchmark_filter=log_append
#include <filesystem>
#include <string>

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include "core/clock.hpp"
#include "store/store.hpp"

namespace {

using namespace casebridge::store;

log_entry_input entry(std::int64_t n) {
    log_entry_input e;
    e.flow = token("primero_to_ping");
    e.dir = direction::outbound;
    e.purpose = token("referral");
    e.profile_id = token("unhcr_referral");
    e.profile_version = 3;
    e.profile_hash = sha256("profile");
    e.legitimate_basis = token("consent");
    e.consent = {{token("consent_info_sharing"), {token("unhcr")}}};
    e.source = record_id{token("primero"), *token::make("case-" + std::to_string(n))};
    e.target = record_id{token("progres"), *token::make("guid-" + std::to_string(n))};
    e.fields_sent = {token("sex"), token("age"), token("protection_concerns")};
    e.fields_withheld = {token("name_first")};
    e.payload_sha256 = sha256(std::to_string(n));
    e.result = outcome::acknowledged;
    e.http_status = 201;
    e.attempt = 1;
    return e;
}

void log_append(benchmark::State& state) {
    const auto group = static_cast<std::int64_t>(state.range(0));
    std::string pattern = (std::filesystem::temp_directory_path() / "cb-bench-XXXXXX").string();
    const std::filesystem::path dir = ::mkdtemp(pattern.data());
    {
        auto s = store::open(dir / "bench.db", {}, casebridge::system_clock_source::instance());
        if (!s) {
            state.SkipWithError("cannot open the store");
            return;
        }
        std::int64_t n = 0;
        for (auto _ : state) {
            page_commit page;
            page.entries.reserve(static_cast<std::size_t>(group));
            for (std::int64_t i = 0; i < group; ++i) {
                page.entries.push_back(entry(++n));
            }
            page.cursor_move = {token("primero_to_ping"), "p" + std::to_string(n)};
            if (!s->commit_page(page)) {
                state.SkipWithError("commit failed");
                break;
            }
        }
        state.SetItemsProcessed(n);
        state.counters["entries_per_txn"] = static_cast<double>(group);
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(log_append)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
