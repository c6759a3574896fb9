// The CPSS monthly report over a sector's caseload: unique children of twelve months of
// registrations in many camps, counted, protected (primary and secondary suppression, the
// audit's linear programmes), written (CSV, XLSX, HTML) and audited again from the folder, as
// `casebridge report run` and `report audit` do. Two sizes side by side in one run, so that the
// growth from one to the other shows whatever the machine's speed:
//   build/release/tests/bench/casebridge_report_bench [CHILDREN] [CAMPS]   (default: 200000 34)
// Prints each phase's wall time, the cells and withheld cells, and the process's peak memory.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "report/report.hpp"
#include "support/report_population.hpp"

namespace fs = std::filesystem;
using namespace casebridge;

namespace {

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

long peak_rss_mb() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

void run(const report::report_spec& spec, int children, int camps, const fs::path& dir) {
    test::report_population_shape shape;
    shape.camps = camps;
    shape.agencies = 6;
    shape.months = 12;
    auto t0 = std::chrono::steady_clock::now();
    const auto population = test::report_population(2026u, children, shape);
    const double generate = seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    const auto built = report::build_report(spec, population, "2026-11");
    const double build = seconds_since(t0);
    std::size_t cells = 0;
    for (const auto& t : built.tables) {
        cells += t.size();
    }

    t0 = std::chrono::steady_clock::now();
    report::write_report(built, dir);
    const double write = seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    const auto audit = report::audit_folder(dir);
    const double reaudit = seconds_since(t0);

    std::printf(
        "%9d children %3d camps | count+protect+audit %7.2f s | write %6.2f s | "
        "audit of the folder %6.2f s | %zu cells, %zu withheld (%zu primary), %zu exposed | "
        "peak RSS so far %ld MB  (generating the children: %.2f s)\n",
        children,
        camps,
        build,
        write,
        reaudit,
        cells,
        audit.withheld,
        built.protection.primary_count,
        audit.exposed.size(),
        peak_rss_mb(),
        generate
    );
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
        std::printf("usage: casebridge_report_bench [CHILDREN] [CAMPS]   (default: 200000 34)\n");
        return 0;
    }
    const int children = argc > 1 ? std::atoi(argv[1]) : 200000;
    const int camps = argc > 2 ? std::atoi(argv[2]) : 34;
    if (children < 10 || camps < 1 || camps > 99) {
        std::fprintf(stderr, "casebridge_report_bench: CHILDREN must be >= 10, CAMPS 1 to 99\n");
        return 2;
    }
    const auto specs = report::load_report_specs(source_dir / "config/reports.json");
    const auto dir =
        fs::temp_directory_path() / ("casebridge-report-bench-" + std::to_string(::getpid()));
    // A tenth of the caseload first, then the whole: the second line's times over the first's
    // show how the cost grows with the caseload.
    run(specs.at(0), children / 10, camps, dir / "tenth");
    run(specs.at(0), children, camps, dir / "whole");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
