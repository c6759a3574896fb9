// A Google Benchmark reporter that prints as usual and keeps each benchmark's items/s, so a
// benchmark's main can print the ratio of two benchmarks measured in the same run. With
// --benchmark_repetitions it keeps the median of the repetitions.
#pragma once

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

namespace casebridge::bench {

class rate_reporter : public benchmark::ConsoleReporter {
public:
    /// `counter`: the counter that holds the rate ("items_per_second", or a user counter).
    explicit rate_reporter(std::string counter = "items_per_second")
        : counter_(std::move(counter)) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            const auto it = r.counters.find(counter_);
            if (it == r.counters.end() || r.error_occurred) {
                continue;
            }
            const auto& n = r.run_name;
            const auto name = n.args.empty() ? n.function_name : n.function_name + "/" + n.args;
            if (r.run_type == Run::RT_Iteration) {
                samples_[name].push_back(it->second.value);
            } else if (r.aggregate_name == "median") {
                medians_[name] = it->second.value;  // --benchmark_report_aggregates_only
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }

    /// The median rate of the benchmark called `name` ("function/args" for one with
    /// arguments), or 0 when it did not run.
    double rate(const std::string& name) const {
        if (const auto m = medians_.find(name); m != medians_.end()) {
            return m->second;
        }
        const auto it = samples_.find(name);
        if (it == samples_.end() || it->second.empty()) {
            return 0;
        }
        auto v = it->second;
        std::sort(v.begin(), v.end());
        const auto n = v.size();
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

private:
    std::string counter_;
    std::map<std::string, std::vector<double>> samples_;
    std::map<std::string, double> medians_;
};

/// Prints the rates of `base` and `other` (benchmark names, shown as the labels) and the ratio
/// other ÷ base against `goal`, when both ran.
inline void print_ratio(
    const rate_reporter& r,
    const char* base,
    const char* base_label,
    const char* other,
    const char* other_label,
    const char* ratio_label,
    double goal
) {
    const double b = r.rate(base);
    const double o = r.rate(other);
    if (b > 0 && o > 0) {
        std::printf("%-21s%.0f records/s\n", base_label, b);
        std::printf("%-21s%.0f records/s\n", other_label, o);
        std::printf("%-21s%.2f (goal >= %.2f)\n", ratio_label, o / b, goal);
    }
}

}  // namespace casebridge::bench
