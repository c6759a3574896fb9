// The daemon's configuration (config/casebridge.example.jsonc, docs/configuration.md): loaded,
// validated and cross-checked once at startup, without network traffic.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapter/secret.hpp"
#include "sync/notices.hpp"

namespace casebridge {
class adapter_registry;
}

namespace casebridge::app {

struct store_config {
    std::filesystem::path path;
    std::filesystem::path signing_key_file;     ///< Ed25519 private key (PEM) for checkpoints.
    std::filesystem::path identifier_key_file;  ///< HMAC key for personal identifiers at rest.
    std::filesystem::path witness_file;         ///< Checkpoint copy outside the store (optional).
    int checkpoint_every = 1000;
    int retention_days = 365;
    int purge_every_hours = 24;  ///< The daemon's retention purge interval.
};

struct admin_config {
    std::string listen;       ///< "127.0.0.1:8470" or "[::1]:8470", as written
    std::string host;         ///< The address part, without brackets: "127.0.0.1", "::1"
    unsigned short port = 0;  ///< 0: a port chosen by the system
    std::filesystem::path token_file;
};

struct tls_config {
    std::filesystem::path ca_file;
    std::filesystem::path client_cert_file;
    std::filesystem::path client_key_file;
    bool allow_plain_http_on_loopback = false;
};

struct limits_config {
    int max_connections = 20;         ///< Primero's stock nginx allows 20 per client.
    double requests_per_second = 50;  ///< ... and 50 requests per second.
    int timeout_seconds = 30;
};

struct system_config {
    std::string id;
    std::string kind;  ///< primero | progres_ping | dss_files
    std::string description;
    rapidjson::Document settings;  ///< The adapter's own block, checked by its schema.
    tls_config tls;
    limits_config limits;
};

struct flow_config {
    std::string id;
    std::string description;
    std::string from_system;
    std::string from_stream;
    std::string to_system;
    std::string to_stream;
    std::string purpose;
    std::string profile;
    std::filesystem::path mapping_in;
    std::filesystem::path mapping_out;
    int every_seconds = 300;
    bool paused = false;
    int batch_size = 100;
    int concurrency = 4;
    int max_attempts = 8;
    std::string one_record_per_row_of;  ///< "/services_section": one record per row.
    /// With one_record_per_row_of: only rows whose field `only_rows_field` (a canonical pointer
    /// inside that subform) holds one of `only_rows_values` are sent; empty: every row.
    std::string only_rows_field;
    std::vector<std::string> only_rows_values;
    bool create = true;  ///< false: only update records already linked.
    /// The daemon's sampled reconciliation of the flow (docs/configuration.md); nullopt: off.
    struct reconcile_schedule {
        int every_hours = 24;  ///< Hours between the end of one reconciliation and the next.
        int sample = 459;      ///< Records checked per run (459: a 1 % divergence, 99 %).
    };
    std::optional<reconcile_schedule> reconcile;
    /// A duplicate_notice flow: the flag texts, with {reference} ("ref:" and the IMO's
    /// cluster reference) and {agencies} (the other agencies' display names).
    std::string flag_message = std::string(sync::default_flag_message);
    std::string flag_resolved_message = std::string(sync::default_flag_resolved_message);
};

/// One agency the IMO hub accepts records from (docs/configuration.md, `hub.agencies`).
struct hub_agency_config {
    std::string id;  ///< Its records are keyed by (id, pseudonym); also its log actor.
    /// For people: `hub stats`, and the name the hub's notices give this agency when they tell
    /// OTHER agencies that one of their records may be the same child as one of this agency's
    /// (GET /hub/v1/notices). Default: the id.
    std::string display_name;
    secret_source token;  ///< Its bearer token: a file (first line) or an env variable.
    /// With hub.tls.client_ca_file: the subject CN its client certificate must carry
    /// (default: the agency id).
    std::string certificate_name;
};

/// The IMO hub (`casebridge hub serve`): its listener, store, linkage and agencies.
struct hub_config {
    std::string listen;                    ///< "0.0.0.0:8443", as written
    std::string host;                      ///< The address part, without brackets
    unsigned short port = 0;               ///< 0: a port chosen by the system
    std::filesystem::path cert_file;       ///< Server certificate chain (PEM); empty: plain HTTP.
    std::filesystem::path key_file;        ///< Its private key (a secret file).
    std::filesystem::path client_ca_file;  ///< Set: client certificates are required.
    bool allow_plain_http_on_loopback = false;
    std::filesystem::path store_path;
    std::filesystem::path linkage_schema;   ///< Default: the shipped linkage schema.
    std::optional<double> upper_threshold;  ///< Overrides the schema's thresholds.
    std::optional<double> lower_threshold;
    std::vector<std::string> coarse_fields;  ///< Coarse fields accepted (default: all six).
    int max_batch_records = 500;
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    std::vector<hub_agency_config> agencies;

    bool tls() const noexcept { return !cert_file.empty(); }
    const hub_agency_config* find_agency(std::string_view id) const noexcept;
};

/// The coarse fields an agency may send to the hub (the contract's list).
const std::vector<std::string>& hub_coarse_field_names();

/// Sector and DPISP reports (docs/reports.md, `reports`): the definitions, the folder reports
/// are written into (one folder per report and period), and those made each month.
struct reports_config {
    std::filesystem::path definitions;
    std::filesystem::path out_dir;
    std::vector<std::string> monthly;  ///< Report ids made for the month before...
    int day = 1;                       ///< ...from this day of the month on (1 to 28).
};

struct config {
    std::filesystem::path file;
    std::string log_level = "info";
    std::filesystem::path catalogue;
    std::filesystem::path policies;
    store_config store;
    std::optional<admin_config> admin;
    std::vector<system_config> systems;
    std::vector<flow_config> flows;
    /// The IMO hub, when this casebridge runs one.
    std::optional<hub_config> hub;
    std::optional<reports_config> reports;
    /// False for a hub-only configuration (no store, policies, systems or flows).
    bool has_flows = true;
    /// What could not be checked (for `check` to print), e.g. a kind with no adapter yet.
    std::vector<std::string> notes;

    const system_config* find_system(std::string_view id) const noexcept;
    const flow_config* find_flow(std::string_view id) const noexcept;
};

/// Loads `path` and checks everything that can be checked without the network: the schema;
/// that flows name existing systems and existing profiles of the same purpose; that the
/// catalogue and policies load; that mapping files exist; that every secret file exists and
/// is not readable by group or others, and every secret environment variable is set; that the
/// store's folder is writable. Relative paths are taken from the config file's folder.
/// With `adapters`, each system's `settings` are checked against its adapter's schema; a kind
/// with no adapter in this build is noted in `config::notes`.
/// Throws json::file_error "file:line:column: at POINTER: message" on the first problem.
///
/// A configuration may hold flows (store, policies, systems and flows, all four), a `hub`
/// section, or both. `need` says what the caller runs: `flows` refuses a hub-only file,
/// `hub` a file without a hub section, `any` neither (`check`).
enum class config_need { flows, hub, any };
config load_config(
    const std::filesystem::path& path,
    const adapter_registry* adapters = nullptr,
    config_need need = config_need::flows
);

/// The JSON Schema of the configuration file, embedded.
}  // namespace casebridge::app

namespace casebridge {
std::string_view config_schema_text() noexcept;
}  // namespace casebridge
