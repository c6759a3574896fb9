// The data dictionaries of the DSS file exchange: one row per CSV column with its machine
// name, English and Bengali labels, type, format and allowed codes. The sources are
// mappings/dictionaries/dss.event.csv and mappings/dictionaries/dss.case.csv, embedded at build
// time; the event dictionary also fixes the column order of outbound batches.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace casebridge::dss_files {

/// One column of a DSS exchange file.
struct dictionary_entry {
    std::string column;    ///< Machine name, as in the file's header.
    std::string label_en;  ///< English label.
    std::string label_bn;  ///< Bengali label (Bengali script).
    std::string type;      ///< uuid, text, code, code_list, boolean, integer, date, datetime.
    std::string format;    ///< How values are written (English).
    /// The allowed codes in order, each as `code = English / Bengali`; empty: any value of
    /// the type.
    std::vector<std::string> code_labels;
    /// Just the codes of `code_labels`.
    std::vector<std::string> codes;
};

/// A parsed dictionary, in file order.
struct data_dictionary {
    std::vector<dictionary_entry> entries;

    /// The machine names, in file order.
    std::vector<std::string> columns() const;
    /// The entry of `column`, or nullptr.
    const dictionary_entry* find(std::string_view column) const noexcept;
    /// The dictionary as shipped to DSS: UTF-8 with BOM, CRLF, RFC 4180 quoting, header
    /// `column,label_en,label_bn,type,format,codes` (codes joined by " | ").
    std::string to_csv() const;
};

/// Parses a dictionary text (CSV with the header above). Checks: unique machine names
/// (lower-case letters, digits, '_'), both labels present and the Bengali one in Bengali script,
/// a known type, and codes written as `code = English / Bengali`. Errors read
/// "origin:line:column: message".
boost::system::result<data_dictionary, std::string> parse_dictionary(
    std::string_view text, std::string_view origin
);

/// mappings/dictionaries/dss.event.csv: outbound event rows (exchange_id first).
const data_dictionary& event_dictionary();
/// mappings/dictionaries/dss.case.csv: inbound case files from DSS.
const data_dictionary& case_dictionary();

/// The embedded source texts (generated from mappings/ at build time).
std::string_view event_dictionary_text() noexcept;
std::string_view case_dictionary_text() noexcept;

}  // namespace casebridge::dss_files
