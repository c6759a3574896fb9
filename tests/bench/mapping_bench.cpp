// Mapping cost against the parse+serialise it sits between, on a full CPIMS+ case (~5 KB:
// identity, consent, protection, and services, family, case plan and follow-up subforms).
//   build/<preset>/tests/bench/casebridge_mapping_bench
// Prints records/s for parse+serialise and for parse+map+serialise, then their ratio
// (goal >= 0.7: mapping costs less than half the parse+serialise around it). With
// --benchmark_repetitions=N the ratio is of the medians.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <benchmark/benchmark.h>

#include "canonical/canonical_case.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "policy/decision.hpp"
#include "policy/policy.hpp"
#include "rate_reporter.hpp"
#include "support/json_member.hpp"

namespace {

using namespace casebridge;

const std::filesystem::path source_dir = CASEBRIDGE_SOURCE_DIR;

const std::string& case_text() {
    static const std::string text =
        json::read_file(source_dir / "tests/golden/primero.case/in-full-case.input.json").value();
    return text;
}

const mapping::compiled_mapping& primero_mapping() {
    static const canonical_catalogue cat =
        canonical_catalogue::load(source_dir / "mappings/canonical-case.json");
    static const auto m =
        mapping::compiled_mapping::load(source_dir / "mappings/primero.case.json", cat);
    return m;
}

void parse_serialise(benchmark::State& state) {
    const auto& text = case_text();
    for (auto _ : state) {
        auto doc = json::parse(text);
        auto out = json::to_string(*doc);
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

void parse_map_serialise(benchmark::State& state) {
    const auto& text = case_text();
    const auto& m = primero_mapping();
    mapping::map_context ctx;
    for (auto _ : state) {
        auto doc = json::parse(text);
        auto canonical = m.map_in(*doc, ctx);
        if (!canonical) {
            state.SkipWithError("mapping failed");
            break;
        }
        auto out = json::to_string(*canonical);
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

void parse_map_out_serialise(benchmark::State& state) {
    const auto& text = case_text();
    const auto& m = primero_mapping();
    mapping::map_context ctx;
    const auto canonical = m.map_in(*json::parse(text), ctx).value();
    const auto canonical_text = json::to_string(canonical);
    for (auto _ : state) {
        auto doc = json::parse(canonical_text);
        auto system = m.map_out(*doc, ctx);
        auto out = json::to_string(*system);
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations());
}

// Gives the mapped case the consents every shipped profile reads (config/policies.json):
// services, sharing with the authorities (caseload-dss) besides its own recipients, and
// reporting (imo-harmonisation). Without them a profile has no basis and decides nothing.
void consent_to_every_purpose(rapidjson::Document& c) {
    using casebridge::test::set_member;
    auto& a = c.GetAllocator();
    set_member(c, "consent_for_services", rapidjson::Value(true));
    set_member(c, "consent_reporting", rapidjson::Value(true));
    if (!c.HasMember("consent_info_sharing") || !c["consent_info_sharing"].IsArray()) {
        set_member(c, "consent_info_sharing", rapidjson::Value(rapidjson::kArrayType));
    }
    auto& sharing = c["consent_info_sharing"];
    bool authorities = false;
    for (const auto& v : sharing.GetArray()) {
        authorities =
            authorities || (v.IsString() && std::string_view(v.GetString()) == "authorities");
    }
    if (!authorities) {
        sharing.PushBack(rapidjson::StringRef("authorities"), a);
    }
}

// The DPISP decision on the mapped case, for each profile that shares records: the redacted
// payload and the lists of fields sent, withheld, pseudonymised and generalised (the sync
// makes one per record and direction; printed apart, not part of the ratio).
void decide(benchmark::State& state, const char* profile_id) {
    ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "bench-key-0123456789abcdef0123456789abcdef", 1);
    ::setenv("CASEBRIDGE_LINKAGE_SECRET", "bench-linkage-secret-0123456789abcdef", 1);
    static const canonical_catalogue cat =
        canonical_catalogue::load(source_dir / "mappings/canonical-case.json");
    static const auto policies = policy::policy_set::load(source_dir / "config/policies.json", cat);
    const auto* p = policies.find(profile_id);
    mapping::map_context ctx;
    auto canonical = primero_mapping().map_in(*json::parse(case_text()), ctx).value();
    consent_to_every_purpose(canonical);
    const auto now = std::chrono::system_clock::now();
    if (p == nullptr) {
        state.SkipWithError("no such profile");
        return;
    }
    const auto first = policy::decide(*p, canonical, now, std::nullopt);
    if (!first) {
        state.SkipWithError("the profile refused the case");
        return;
    }
    if (first->fields_sent.empty()) {
        // A profile with no basis for this case decides in no time and measures nothing.
        state.SkipWithError("the profile shares no field of this case");
        return;
    }
    std::size_t fields = 0;
    for (auto _ : state) {
        auto d = policy::decide(*p, canonical, now, std::nullopt);
        fields += d->fields_sent.size() + d->fields_withheld.size();
        benchmark::DoNotOptimize(d);
    }
    state.counters["fields"] =
        static_cast<double>(fields) / static_cast<double>(state.iterations());
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(parse_serialise);
BENCHMARK(parse_map_serialise);
BENCHMARK(parse_map_out_serialise);
BENCHMARK_CAPTURE(decide, referral_unhcr, "referral-unhcr");
BENCHMARK_CAPTURE(decide, caseload_dss, "caseload-dss");
BENCHMARK_CAPTURE(decide, imo_harmonisation, "imo-harmonisation");

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    casebridge::bench::rate_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    std::printf("case size: %zu bytes\n", case_text().size());
    casebridge::bench::print_ratio(
        reporter,
        "parse_serialise",
        "parse+serialise:",
        "parse_map_serialise",
        "parse+map+serialise:",
        "ratio:",
        0.7
    );
    benchmark::Shutdown();
    return 0;
}
