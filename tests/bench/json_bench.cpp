// Guarded parsing (iterative, depth limit, duplicate-key check) against RapidJSON's plain
// parse of the same ~5 KB case, side by side in one run, and the guarded parse of one object
// with up to 1 million keys (the duplicate-key check must stay linear), and the located parse
// (positions for error messages) of a 70 KB and a 7 MB file, with the bytes its positions take:
//   build/release/tests/bench/casebridge_bench --benchmark_filter=json
// and prints the guarded parse's rate over the plain one (the medians, with
// --benchmark_repetitions=N).
#include <string>

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>

#include "json/json.hpp"
#include "rate_reporter.hpp"

namespace {

// A synthetic case of about 5 KB: identity, consent, protection fields, three subforms.
std::string sample_case() {
    std::string s =
        R"({"id":"3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","case_id":"CPIMS-803-100000519",)"
        R"("name_first":"রহিম","name_last":"Uddin","sex":"male","date_of_birth":"2012-04-03",)"
        R"("age":13,"consent_for_services":true,"disclosure_other_orgs":true,)"
        R"("consent_info_sharing":["unhcr","authorities"],"risk_level":"high",)"
        R"("protection_concerns":["unaccompanied","separated"],"record_state":true,)"
        R"("last_updated_at":"2025-03-01T08:15:30.123Z",)";
    for (int i = 0; i < 60; ++i) {
        s += "\"custom_field_" + std::to_string(i) + "\":\"value " + std::to_string(i * 7) + "\",";
    }
    for (const char* sub :
         {"services_section", "family_details_section", "followup_subform_section"}) {
        s += '"';
        s += sub;
        s += "\":[";
        for (int r = 0; r < 4; ++r) {
            s += R"({"unique_id":"a1b2c3d4-0000-4000-8000-00000000000)" + std::to_string(r) +
                 R"(","type":"education_formal","date":"2025-01-0)" + std::to_string(r + 1) +
                 R"(","note_id":"n)" + std::to_string(r) + R"(","status":"open"})";
            s += r < 3 ? "," : "";
        }
        s += "],";
    }
    s += R"("owned_by":"cp_worker_1"})";
    return s;
}

void json_plain_rapidjson(benchmark::State& state) {
    const std::string text = sample_case();
    for (auto _ : state) {
        rapidjson::Document d;
        d.Parse(text.c_str(), text.size());
        benchmark::DoNotOptimize(d.MemberCount());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["records/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void json_guarded_parse(benchmark::State& state) {
    const std::string text = sample_case();
    for (auto _ : state) {
        auto d = casebridge::json::parse(text);
        benchmark::DoNotOptimize(d.has_value());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["records/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// One object of state.range(0) keys ("k0", "k1", ...), about 14 bytes each, all distinct: the
// whole object is checked for duplicates. keys/s should not fall as the object grows.
void json_guarded_many_keys(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::string text = "{";
    text.reserve(n * 14 + 2);
    for (std::size_t i = 0; i < n; ++i) {
        text += "\"k" + std::to_string(i) + "\":0";
        text += i + 1 < n ? "," : "";
    }
    text += '}';
    const casebridge::json::parse_limits limits{.max_depth = 64, .max_bytes = 64 << 20};
    for (auto _ : state) {
        auto d = casebridge::json::parse(text, casebridge::json::dialect::strict, limits);
        if (!d) {
            state.SkipWithError("parse failed");
            break;
        }
        benchmark::DoNotOptimize(d->MemberCount());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["keys/s"] = benchmark::Counter(
        static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate
    );
}

// A file of about state.range(0) bytes shaped like the one whose located parse once took
// 327 MB for 70 KB: 32 levels of 60-byte keys (a 2 KB path), then small values under them.
std::string deep_and_wide(std::size_t bytes) {
    std::string text = "{";
    for (int depth = 0; depth < 32; ++depth) {
        text += "\"level_" + std::to_string(depth) + std::string(50, 'k') + "\": {";
    }
    text += "\"rows\": [";
    for (std::size_t i = 0; text.size() + 64 < bytes; ++i) {
        text += (i == 0 ? "" : ",\n");
        text += R"({"id": )" + std::to_string(i) + R"(, "v": [1, 2]})";
    }
    text += "]" + std::string(33, '}');
    return text;
}

void json_located_parse(benchmark::State& state) {
    const std::string text = deep_and_wide(static_cast<std::size_t>(state.range(0)));
    std::size_t position_bytes = 0;
    for (auto _ : state) {
        auto d = casebridge::json::parse_located(text);
        if (!d) {
            state.SkipWithError("parse failed");
            break;
        }
        position_bytes = d->position_bytes();
        benchmark::DoNotOptimize(d->doc.MemberCount());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["input_bytes"] = static_cast<double>(text.size());
    state.counters["position_bytes"] = static_cast<double>(position_bytes);
}

BENCHMARK(json_plain_rapidjson);
BENCHMARK(json_guarded_parse);
BENCHMARK(json_guarded_many_keys)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(json_located_parse)->Arg(70'000)->Arg(7'000'000)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    casebridge::bench::rate_reporter reporter("records/s");
    benchmark::RunSpecifiedBenchmarks(&reporter);
    casebridge::bench::print_ratio(
        reporter,
        "json_plain_rapidjson",
        "plain RapidJSON:",
        "json_guarded_parse",
        "guarded parse:",
        "guarded / plain:",
        0.8
    );
    benchmark::Shutdown();
    return 0;
}
