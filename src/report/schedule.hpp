// Reports made on a schedule and found again (docs/reports.md): one folder per report and
// period under the configured output folder, the monthly rule, and the list the admin API
// serves. Counts only; a report's own files are written by report::write_report.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "report/report.hpp"

namespace casebridge::report {

/// Where a report's units come from.
struct report_sources {
    std::optional<std::filesystem::path> hub_store;  ///< unique_children reports.
    std::optional<std::filesystem::path> store;      ///< events reports (an agency's store).
};

/// What one report run came to.
struct made_report {
    std::string id;
    std::string period;
    std::filesystem::path dir;
    std::size_t units = 0;  ///< Children or events counted.
    std::size_t withheld = 0;
    bool written = false;
    std::string error;  ///< Why it was not written (no case value).
};

/// Counts, protects, audits and writes report `spec` of `period` into `out`, from the source
/// its measure needs. Never throws: a failure is in `error`.
made_report make_report(
    const report_spec& spec,
    const report_sources& sources,
    const std::string& period,
    const std::filesystem::path& out
);

/// "YYYY-MM" of the month before the one `now` falls in (UTC).
std::string previous_month(time_point now);

/// The folder of report `id` for `period` under `out_dir`: out_dir/id/period.
std::filesystem::path report_dir(
    const std::filesystem::path& out_dir, const std::string& id, const std::string& period
);

/// Makes each of `ids` (from `definitions`) for the month before `now`, when the day of the
/// month is `day` or later and its folder holds no manifest.json yet: a report is made once
/// per month, and a day missed (the daemon down) is caught up at the next start.
std::vector<made_report> run_monthly(
    const std::filesystem::path& definitions,
    const std::vector<std::string>& ids,
    int day,
    const report_sources& sources,
    const std::filesystem::path& out_dir,
    time_point now
);

/// A report folder found under the output folder.
struct written_report {
    std::string id;
    std::string period;
    std::string title;
    std::filesystem::path dir;
    std::vector<std::string> files;  ///< File names in the folder, sorted.
    std::string written_at;          ///< RFC 3339 (UTC) of manifest.json's modification.
};

/// Every folder out_dir/ID/PERIOD holding a manifest.json, by id and period.
std::vector<written_report> list_reports(const std::filesystem::path& out_dir);

/// The reports under `out_dir` as the admin APIs list them: a JSON array of {id, period,
/// title, written_at, files}; never a figure. "[]" for an empty `out_dir`.
std::string report_list_json(const std::filesystem::path& out_dir);

}  // namespace casebridge::report
