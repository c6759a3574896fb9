// Sector reports for the CPSS IMO: report definitions kept as data, the tables they make from
// unique children (one per hub cluster), protected by report/disclosure.hpp and written as
// CSV, XLSX and one self-contained HTML page. Counts only: no pseudonym, reference or record id
// reaches a report.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/disclosure.hpp"

namespace casebridge::report {

/// One table of a report: the dimensions it crosses (a name may appear twice: the agency
/// overlap matrix is "agency" × "agency"), with a fixed category order where given.
struct table_spec {
    std::string id;
    std::string title;
    std::vector<std::string> dimensions;
};

/// A dimension's categories in published order and their labels (English, Bengali).
struct dimension_spec {
    std::string name;
    std::string title;
    std::vector<std::string> categories;  ///< Empty: the values found, sorted.
    std::map<std::string, std::string> labels_en;
    std::map<std::string, std::string> labels_bn;
    bool multi_valued = false;
};

/// What a report counts.
enum class report_measure {
    unique_children,  ///< One per hub cluster (or per child of a --children file).
    events,           ///< Sharing events of one agency's own transfer log (events_from_log).
};

struct report_spec {
    std::string id;
    std::string title;
    report_measure measure = report_measure::unique_children;
    int k = 5;  ///< Smallest count published; 1..k−1 are withheld.
    std::vector<dimension_spec> dimensions;
    std::vector<table_spec> tables;

    const dimension_spec* dimension(const std::string& name) const;
};

/// Reads report definitions (a JSON file: {"reports": [...]}) and checks them: unique ids,
/// k ≥ 2, every table's dimensions declared. Throws std::runtime_error naming the file and
/// the JSON pointer of the first fault.
std::vector<report_spec> load_report_specs(const std::filesystem::path& file);

/// A unique child as the report counts it: for each dimension, its value(s). A single-valued
/// dimension has at most one value; none: the child is in no cell of tables crossing it.
struct child {
    std::map<std::string, std::vector<std::string>> values;
};

/// A report made and protected, ready to write.
struct built_report {
    report_spec spec;
    std::string period;
    std::vector<table> tables;
    std::vector<std::string> titles;
    suppression protection;
    std::vector<exposure> exposures;  ///< The audit's findings: must be empty to publish.
    std::size_t children = 0;
};

/// Counts `children` into the report's tables, protects them (k) and audits the result.
built_report build_report(
    const report_spec& spec, const std::vector<child>& children, std::string period
);

/// The symbol that stands for a withheld cell, explained in each output's footnote.
inline constexpr const char* withheld_symbol = "x";

/// One table as CSV: UTF-8 with BOM, CRLF, one row per cell (its categories, "Total" for a
/// margin, the count or the withheld symbol), a footnote row.
std::string render_csv(const built_report& r, std::size_t table_index);

/// The whole report as one HTML page: tables and inline SVG charts, no scripts, no fonts or
/// images from elsewhere; withheld cells are shown as the symbol and never drawn.
std::string render_html(const built_report& r);

/// Writes the CSVs, report.xlsx (one sheet per table), report.html and manifest.json (the
/// tables' files and dimensions, k: what `report audit` needs) into `dir`, each atomically;
/// refuses (std::runtime_error) when the audit found an exposed cell.
void write_report(const built_report& r, const std::filesystem::path& dir);

/// Reads unique children from a JSON Lines file: one object per line, each member a
/// dimension's value (a string) or values (an array of strings); other members are refused.
/// Throws std::runtime_error naming the file, line and member (never a value).
std::vector<child> load_children(const std::filesystem::path& file);

/// The unique children of an IMO hub's store (read only): one per cluster of active records.
/// A child's `agency` values are the agencies holding a record of it; `month` is the month
/// (YYYY-MM) the hub first received one of them; any other single-valued dimension takes the
/// value of the cluster's most recently updated record that has it, and a multi-valued one the
/// union of its records' values (a coarse value may list several, separated by ';'). Records
/// not yet linked count as children of their own. Throws std::runtime_error naming the file.
std::vector<child> children_from_hub(
    const std::filesystem::path& hub_store, const report_spec& spec
);

/// The sharing events of an agency's own casebridge store (read only) in `period` (YYYY-MM or
/// YYYY), each counted as one unit of an `events` report: every outbound transfer-log entry,
/// with the dimensions `recipient` (target system), `purpose`, `outcome`, `flow` and `month`;
/// `basis` (the legitimate basis, "none" without one; "not_sent" for other outcomes),
/// `withheld_reason` ("not_withheld" for other outcomes), `withdrawn` (the recipient told of a
/// consent withdrawal; "no_withdrawal") and `override` (the reason code of an operator's
/// override of a record sent; "no_override"): every event is in every table, so the tables
/// share their totals as linked tables must. Ids are never read.
/// Throws std::runtime_error naming the file or the period.
std::vector<child> events_from_log(
    const std::filesystem::path& store_file, const std::string& period
);

/// What the published files of a report folder reveal, re-derived from them alone.
struct folder_audit {
    std::string report;
    std::string period;
    int k = 0;
    std::size_t tables = 0;
    std::size_t cells = 0;
    std::size_t withheld = 0;
    std::size_t programmes = 0;
    /// Withheld cells narrower than k: "table: categories [low, high]".
    std::vector<std::string> exposed;
};

/// Reads manifest.json and the CSVs of a report folder, rebuilds the tables with the withheld
/// cells unknown, and re-derives each one's interval from the published cells and margins.
/// Throws std::runtime_error naming the file (and line) when the folder cannot be read.
folder_audit audit_folder(const std::filesystem::path& dir);

}  // namespace casebridge::report
