// The proGres v4 adapter, through UNHCR's PING gateway: Azure AD B2C password-grant token
// plus the API-management subscription key; shipping-process queries walked page by page with
// the paging cookie, joined rows kept together per record; field-list writes, synchronous or
// asynchronous with a status check; look-up by correlation key after an ambiguous write.
// Facts: ../shared/reference/progres-ping-dss-dpisp.md §1–2. Every PING id comes from the
// config block; see README.md.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/fwd.h>

#include "adapter/adapter.hpp"
#include "adapter/secret.hpp"

namespace casebridge::progres_ping {

/// Where a secret comes from (adapter/secret.hpp).
using casebridge::secret_source;

/// One PING query parameter ({"ParameterName": name, "Value": value}).
struct query_parameter {
    std::string name;
    std::string value;
};

/// The query that lists a stream's records changed since a time.
struct pull_settings {
    std::string shipping_process_id;
    std::vector<query_parameter> parameters;  ///< Sent as given on every page.
    std::string since_parameter;  ///< Receives the lower bound (RFC 3339); empty: none sent.
    std::string initial_since = "1900-01-01T00:00:00Z";  ///< Lower bound of a full sync.
};

/// The query that reads one record (all its rows) by id.
struct fetch_settings {
    std::string shipping_process_id;
    std::string id_parameter = "{record_ids}";
    std::vector<query_parameter> parameters;
};

/// The query that finds records written earlier by their correlation key.
struct lookup_settings {
    std::string shipping_process_id;
    std::string key_parameter = "{correlation_key}";
    std::vector<query_parameter> parameters;
};

enum class write_kind {
    create,  ///< Each write makes a new proGres record: not idempotent, needs a correlation key.
    update,  ///< Each write sets fields of a record named by key fields: repeating it is safe.
};

enum class write_mode { sync, async };

struct push_settings {
    std::string shipping_process_id;
    write_kind writes = write_kind::update;
    write_mode mode = write_mode::sync;
    /// The field naming the written record: read from the status item's Data, else from the
    /// written Fields. Its value is push()'s result.
    std::string result_id_field;
    /// create: the field that carries the correlation key (added by the adapter).
    std::string correlation_field;
    std::optional<lookup_settings> lookup;  ///< create: required.
    /// Fields set on every written item (deployment GUIDs: business unit, organisation);
    /// they replace a field of the same name that the mapping produced.
    std::vector<query_parameter> set_fields;
};

struct stream_settings {
    std::string id_field;        ///< Column holding the record id (pull, fetch).
    std::string group_field;     ///< Joined rows: column that groups rows into one record.
    std::string modified_field;  ///< Column with the record's modified time (pull, fetch).
    std::optional<pull_settings> pull;
    std::optional<fetch_settings> fetch;
    std::optional<push_settings> push;
};

struct settings {
    std::string base_url;   ///< The API-management host, e.g. "https://ping.example.org".
    std::string token_url;  ///< The B2C policy's token endpoint.
    std::string client_id;
    secret_source client_secret;  ///< Optional (public clients have none).
    std::string scope;
    std::string token_geo;  ///< Optional: sent as cookie x-ms-cpim-geo on token requests.
    std::string user_name;
    secret_source password;
    secret_source subscription_key;  ///< Ocp-Apim-Subscription-Key.
    std::string partner_id;
    std::string interop_id;
    std::string retrieve_api_version = "V3";
    std::string ingest_api_version = "V2";
    std::chrono::seconds renew_before{300};  ///< Renew the token this long before it expires.
    std::chrono::seconds overlap{60};        ///< The next walk starts this much before the last.
    int status_checks = 10;                  ///< checkstatus calls per async write.
    std::chrono::milliseconds status_interval{2000};  ///< Between checkstatus calls.
    /// After an async write whose answer was lost, lookup reports "wait" (rate_limited) for
    /// this long while the key is not found, as PING may still be processing it.
    std::chrono::seconds async_grace{600};
    std::map<std::string, stream_settings> streams;  ///< referrals, decisions, transfer_status.
};

/// Parses and checks a config block (already schema-validated). Throws std::invalid_argument
/// on an unusable combination (startup).
settings settings_from_json(const rapidjson::Value& config);

/// The JSON Schema (draft-04) of the config block.
std::string_view config_schema();

/// The factory registered by register_builtin_adapters.
adapter_factory make_factory();

class progres_ping_adapter final : public adapter {
public:
    progres_ping_adapter(settings s, adapter_env env);
    ~progres_ping_adapter() override;

    std::string_view system_id() const noexcept override { return "progres_ping"; }
    /// One PING page per call (plus a fresh read of a record whose rows may continue on the
    /// next page). Records of a grouped stream have an array of joined rows as body.
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override;
    /// All rows of one record, read fresh with the stream's fetch query.
    awaitable<remote_result<external_record>> fetch(std::string stream, std::string remote_id)
        override;
    /// Writes one field list ({"ExternalId", "Fields": [{"Name", "Value"}]}); returns the id
    /// named by result_id_field.
    awaitable<remote_result<std::string>> push(external_record record) override;
    /// PING writes carry no idempotency key.
    bool idempotent_create() const noexcept override { return false; }
    /// False for streams configured with `"writes": "create"` (interoperability referrals).
    bool can_update(std::string_view stream) const noexcept override;
    /// create streams: the record written for `source_key`, found by its correlation key;
    /// update streams: always nullopt (repeating an update is safe).
    awaitable<remote_result<std::optional<std::string>>> lookup(
        std::string stream, std::string source_key
    ) override;
    /// A token, then one fetch query for a record that cannot exist.
    awaitable<remote_result<void>> probe() override;
    std::optional<std::string> credential_fingerprint() const override;

    /// The correlation key written with a create for `source_key` (a UUIDv5; no personal data).
    static std::string correlation_key_for(std::string_view stream, std::string_view source_key);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::progres_ping
