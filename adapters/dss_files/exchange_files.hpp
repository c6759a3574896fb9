// The DSS file exchange: outbound batches (a CSV in an AES-256 ZIP plus a manifest, written
// atomically into an outbox) and inbound acknowledgement files. No network: files only.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "core/clock.hpp"
#include "exchange/csv.hpp"

namespace casebridge::dss_files::files {

using exchange::csv_record;
using exchange::csv_row;

/// One outbound batch, ready to write.
struct batch {
    std::string id;              ///< Batch id: names the files (`<id>.zip`, `<id>.manifest.json`).
    std::string schema_version;  ///< Version of the column set (the mapping's version).
    std::string sender;          ///< Sending organisation id.
    csv_row header;              ///< Stable machine names.
    std::vector<csv_row> rows;   ///< One row per referral/transfer event.
    /// Optional data dictionary (CSV text) written beside the ZIP as `<id>.dictionary.csv`.
    std::string dictionary;
};

/// What was written.
struct written_batch {
    std::filesystem::path zip;
    std::filesystem::path manifest;
    std::size_t rows = 0;
    std::string zip_sha256;            ///< Of the ZIP file's bytes, as in the manifest.
    std::string csv_sha256;            ///< Of the CSV inside, as in the manifest.
    std::filesystem::path dictionary;  ///< Empty when the batch has none.
};

/// Writes `<outbox>/<id>.dictionary.csv` (when the batch has a dictionary), then
/// `<outbox>/<id>.zip` (holding `<id>.csv`, AES-256, passphrase from `passphrase`) and then
/// `<outbox>/<id>.manifest.json` (file, rows, sha256, csv_file, csv_sha256, dictionary_file,
/// dictionary_sha256, schema_version, created_at, sender), each atomically with mode 0600.
/// The manifest is written last, so its presence means the batch is complete. Errors:
/// invalid_config (bad id, rows that do not match the header), and the errno of a failed
/// write.
boost::system::result<written_batch> write_batch(
    const std::filesystem::path& outbox, const batch& b, std::string_view passphrase, time_point now
);

/// What an acknowledgement's reason becomes when it is free text rather than a code.
inline constexpr std::string_view free_text_reason = "<text>";

/// One line of an acknowledgement file from DSS.
struct acknowledgement {
    std::string exchange_id;    ///< The row's exchange id (UUID) from the batch.
    std::string status;         ///< accepted | rejected | error
    std::string dss_reference;  ///< DSS's own reference, when accepted.
    std::string reason;         ///< A reason code; free text is replaced by "<text>".
    std::size_t line = 0;
};

/// Why an acknowledgement file was refused: "file:line:column: message" (for a field:
/// "file:line:column: column NAME: message").
struct ack_error {
    std::string message;
};

/// Where the columns of an acknowledgement file are.
struct ack_columns {
    std::size_t id = 0;
    std::size_t status = 0;
    std::optional<std::size_t> reference;
    std::optional<std::size_t> reason;
};

/// The columns named by an acknowledgement file's header (exchange_id and status required).
boost::system::result<ack_columns, ack_error> ack_columns_of(
    const csv_row& header, std::string_view origin
);

/// One row read as an acknowledgement: a UUID exchange id, a known status, a code-like
/// reference; a free-text reason becomes "<text>". Finding a repeated id is the caller's part.
boost::system::result<acknowledgement, ack_error> acknowledgement_of(
    const ack_columns& cols, const csv_row& header, const csv_record& row, std::string_view origin
);

/// The message for a row whose exchange id was already acknowledged in the same file.
std::string acknowledged_twice(
    const csv_row& header, const ack_columns& cols, const csv_record& row, std::string_view origin
);

/// Parses an acknowledgement CSV (columns exchange_id, status, dss_reference, reason, in any
/// order; more columns are ignored). Every row must have a UUID exchange id seen once and a
/// known status; otherwise nothing in the file is accepted.
boost::system::result<std::vector<acknowledgement>, ack_error> parse_acknowledgements(
    std::string_view text, std::string_view origin
);

/// The acknowledgements whose exchange id is not in `known` (to be reported, not ignored).
std::vector<acknowledgement> unknown_acknowledgements(
    const std::vector<acknowledgement>& acks, const std::set<std::string, std::less<>>& known
);

/// Moves `file` into the subfolder `folder` of its own folder (created when missing), under
/// its own name or, when that is taken, `<name>.1`, `<name>.2`, ...; both folders are fsynced.
/// Returns the new path. Errors carry the errno of the step that failed.
boost::system::result<std::filesystem::path> move_aside(
    const std::filesystem::path& file, std::string_view folder
);

/// Moves an unreadable inbound file into `<folder>/rejected/` and writes `<name>.reason.txt`
/// beside it with `reason` (which names the line and column). Returns the new path. The
/// reason is written first: a crash between the steps leaves the file where it was.
boost::system::result<std::filesystem::path> quarantine(
    const std::filesystem::path& file, std::string_view reason
);

/// True for a UUID written as 8-4-4-4-12 hex digits.
bool is_uuid(std::string_view s) noexcept;

}  // namespace casebridge::dss_files::files
