// The casebridge_hub adapter: an agency's target that sends encoded records to the CPSS IMO hub
// (docs/imo.md, the hub ingest API): the schema check, batched upserts, withdrawals; and the
// source of the hub's notices about the agency's own records. See README.md.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapter/adapter.hpp"
#include "adapter/secret.hpp"

namespace casebridge::casebridge_hub {

/// The one stream the hub receives: encoded records (and their withdrawals).
inline constexpr std::string_view records_stream = "records";
/// The stream the hub sends back: its notices about this agency's records (pull only).
inline constexpr std::string_view notices_stream = "notices";

struct settings {
    std::string base_url;  ///< "https://hub.example.org" (the adapter adds /hub/v1/...).
    secret_source token;   ///< This agency's bearer token: token_file or token_env.
    /// Records per POST /hub/v1/records; capped at the hub's max_batch_records.
    std::size_t batch_size = 200;
};

/// Parses an adapter config block (already schema-validated). Throws std::invalid_argument on
/// an unusable value (startup).
settings settings_from_json(const rapidjson::Value& config);

/// The JSON Schema of the config block.
std::string_view config_schema();

/// The factory registered by register_builtin_adapters.
adapter_factory make_factory();

/// What GET /hub/v1/schema answers.
struct hub_schema {
    std::string agency;  ///< The agency the hub took the token for.
    int linkage_schema_version = 0;
    std::size_t encoded_words = 0;
    std::size_t max_batch_records = 0;
    std::vector<std::string> coarse_fields;
};

class hub_adapter final : public adapter {
public:
    hub_adapter(settings s, adapter_env env);
    ~hub_adapter() override;

    // adapter
    std::string_view system_id() const noexcept override { return "casebridge_hub"; }
    /// The notices stream: GET /hub/v1/notices?after=<cursor> (from the start without one).
    /// Each notice is a record {stream "notices", remote_id: its id, updated_at "", body: the
    /// notice object}; next_cursor and has_more are the hub's `next` and `has_more`. Other
    /// streams: not_found. Errors: auth_failed (401/403), rate_limited (429),
    /// remote_unavailable (5xx, no answer), remote_rejected (other 4xx), bad_payload (an
    /// answer without the contract's members, or a notice without a string id).
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override;
    /// Nothing is read one by one from the hub: not_found (notices too).
    awaitable<remote_result<external_record>> fetch(std::string stream, std::string remote_id)
        override;
    /// The notice a record of the notices stream carries; nullopt when its body is not one
    /// (an unknown kind, a missing or malformed member, a possible_duplicate naming no other
    /// agency, a retraction naming one).
    std::optional<duplicate_notice> notice_of(const external_record& record) const override;
    /// Checks one encoded record ({"pseudonym", "coarse", "linkage"}: the mapped record and the
    /// profile's encoding) and queues it for the next flush; returns its pseudonym (the hub's
    /// key). Errors (permanent): mapping_failed naming the member that is missing or malformed.
    /// Nothing is sent here.
    awaitable<remote_result<std::string>> push(external_record record) override;
    /// Upserts by pseudonym: a repeated record stores nothing twice.
    bool idempotent_create() const noexcept override { return true; }
    bool can_notify_withdrawal(std::string_view stream) const noexcept override;
    /// Queues a withdrawal (reason consent_withdrawn) of `shared_remote_id`, the pseudonym the
    /// record was sent under; returns "withdrawal:<pseudonym>". Sent by the next flush.
    awaitable<remote_result<std::string>> notify_withdrawal(
        std::string stream,
        std::string shared_remote_id,
        std::string source_key,
        std::string version
    ) override;
    /// Checks the hub's schema (once, and again after the hub answers schema_version), then
    /// sends the queued records in batches and the queued withdrawals. A batch the hub stored is
    /// dropped from the queue, so a flush retried after a transient error goes on from the
    /// batch that failed. Errors: invalid_config (linkage schema version or encoding length
    /// differs from the hub's, a coarse field the hub does not take, or the hub answered
    /// schema_version), auth_failed (401/403), remote_rejected (400, 413, other 4xx),
    /// remote_unavailable (5xx, no answer) and rate_limited (429) are transient, bad_payload
    /// (an answer that does not account for the batch).
    awaitable<remote_result<void>> flush() override;
    void discard_pending() noexcept override;
    std::optional<std::string> credential_fingerprint() const override;
    /// GET /hub/v1/schema with this agency's token.
    awaitable<remote_result<void>> probe() override;

    /// GET /hub/v1/schema, read fresh. Errors as flush, bad_payload for an answer without the
    /// contract's members.
    awaitable<remote_result<hub_schema>> schema();
    /// Records and withdrawals queued for the next flush.
    std::size_t pending_records() const noexcept;
    std::size_t pending_withdrawals() const noexcept;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::casebridge_hub
