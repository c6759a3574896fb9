// The DSS file-exchange adapter: outbound referral/transfer event rows written as encrypted
// batches into an outbox; inbound acknowledgement and case files read from an inbox. Files
// only, no network. Format: exchange_files.hpp; see README.md beside this file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapter/adapter.hpp"

namespace casebridge::dss_files {

/// The streams this adapter serves.
inline constexpr std::string_view events_stream = "events";                      ///< push only
inline constexpr std::string_view acknowledgements_stream = "acknowledgements";  ///< pull
inline constexpr std::string_view cases_stream = "cases";                        ///< pull

struct settings {
    std::filesystem::path outbox;           ///< Batches are written here for DSS to collect.
    std::filesystem::path inbox;            ///< DSS delivers ack*.csv and case*.csv here.
    std::filesystem::path sent_register;    ///< The exchange ids of every batch written.
    std::filesystem::path passphrase_file;  ///< The ZIP passphrase (first line), mode 0600.
    std::string sender;                     ///< Sending organisation id: manifest, file names.
    std::size_t max_rows_per_batch = 1000;  ///< Rows per batch file; more pending make more.
    std::size_t max_file_bytes = 64 * 1024 * 1024;  ///< Larger inbound files are refused.
    /// Records returned per pull: a large inbound file is read in pages of this many rows.
    std::size_t max_rows_per_page = 500;
    /// Files in `inbox/processed/` delivered longer ago than this are removed; 0: kept.
    unsigned processed_retention_days = 0;
    /// The reason codes DSS's acknowledgements may carry that are kept as they are; any other
    /// reason, however code-like ("2015-03-02", a surname), is recorded as free text only.
    std::set<std::string, std::less<>> ack_reason_codes;
};

/// Parses and checks an adapter config block (already schema-validated). Throws
/// std::invalid_argument on an unusable value (startup), e.g. two settings naming one folder.
settings settings_from_json(const rapidjson::Value& config);

/// The JSON Schema of the config block.
std::string_view config_schema();

/// The factory registered by register_builtin_adapters.
adapter_factory make_factory();

class dss_files_adapter final : public adapter {
public:
    dss_files_adapter(settings s, adapter_env env);
    ~dss_files_adapter() override;

    // adapter
    std::string_view system_id() const noexcept override { return "dss_files"; }
    /// "acknowledgements" or "cases": one inbox file per page, in name order. The cursor names
    /// the last file returned and a digest of its bytes; a pull with that cursor first moves
    /// that file (when it is still the same) into `inbox/processed/`. An unreadable file is moved
    /// into `inbox/rejected/` with a reason file and reported as bad_payload (record_id: the file
    /// name); the next pull goes on with the next file. Errors: not_found (other streams),
    /// invalid_config (a foreign cursor), remote_unavailable (a folder or file that cannot be read
    /// or moved), bad_payload.
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override;
    /// "cases" by DSS reference, "acknowledgements" by exchange id: read again from the files in
    /// the inbox and `inbox/processed/` (the newest version). Errors: not_found.
    awaitable<remote_result<external_record>> fetch(std::string stream, std::string remote_id)
        override;
    /// Stream "events": adds one mapped row (column → text) to the pending batch under its
    /// exchange id, UUIDv5 of `source_key + "@" + updated_at`, and returns that id. A row with
    /// an exchange id already pending replaces it. Errors: not_found (other streams),
    /// mapping_failed (no source_key or updated_at, a column not in the data dictionary, a
    /// value that is not text).
    awaitable<remote_result<std::string>> push(external_record record) override;
    /// Stream "events": the acknowledgements of `remote_ids` in the inbox and
    /// `inbox/processed/`, read in one pass over the acknowledgement files; the latest per id
    /// (newest version, then the later file) and the distinct DSS references that accepted it.
    awaitable<remote_result<std::map<std::string, acknowledgement_summary>>> acknowledgements_for(
        std::string stream, std::vector<std::string> remote_ids
    ) override;
    /// True: DSS keeps one row per exchange id, and a re-sent event has the same one.
    bool idempotent_create() const noexcept override { return true; }
    /// DSS answers each event row in an acknowledgement file (accepted, rejected, error).
    std::optional<acknowledgement> acknowledgement_of(const external_record& record) const override;
    bool acknowledges(std::string_view stream) const noexcept override {
        return stream == "events";
    }
    /// Stream "events" has a consent-withdrawal notice: a row whose only cells are its own
    /// exchange id (UUIDv5 of `source_key + "#consent-withdrawn@" + version`) and
    /// `withdraws_exchange_id` = the event DSS received; written by the next flush.
    bool can_notify_withdrawal(std::string_view stream) const noexcept override {
        return stream == "events";
    }
    awaitable<remote_result<std::string>> notify_withdrawal(
        std::string stream,
        std::string shared_remote_id,
        std::string source_key,
        std::string version
    ) override;
    /// Pulling past a file moves it to processed/.
    bool pull_has_side_effects() const noexcept override { return true; }
    /// Drops the rows not yet written (after a failed flush).
    void discard_pending() noexcept override;
    /// Stream "events": the exchange id last written for `source_key`, from the register.
    awaitable<remote_result<std::optional<std::string>>> lookup(
        std::string stream, std::string source_key
    ) override;
    /// Writes the pending rows as batches of at most max_rows_per_batch rows (register entry,
    /// data dictionary, AES-256 ZIP, manifest; each atomically) and forgets the rows written.
    /// Nothing pending: writes nothing. Errors: auth_failed (passphrase file unreadable or
    /// empty), remote_unavailable (a write failed; the rows not written stay pending).
    awaitable<remote_result<void>> flush() override;
    /// The three folders exist and are writable; the passphrase file is readable by its owner
    /// only and not empty. Errors: remote_unavailable, auth_failed.
    awaitable<remote_result<void>> probe() override;

    /// Rows pushed and not yet written.
    std::size_t pending_rows() const noexcept;

    /// The exchange id of the event that `source_key` has at version `updated_at`.
    static std::string exchange_id_for(std::string_view source_key, std::string_view updated_at);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::dss_files
