// The CPIMS+ (Primero v2) adapter: auth (Basic, session + CSRF, legacy JWT, IdP bearer),
// incremental listing by last_updated_at, show, idempotent create, PATCH update, referrals,
// transfers, the mark_synced write-back and case flags. Facts:
// ../shared/reference/primero-v2-api.md.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "adapter/adapter.hpp"
#include "adapter/secret.hpp"
#include "net/http_client.hpp"

namespace casebridge::primero {

enum class auth_mode {
    basic,    ///< HTTP Basic on every request (all v2 versions; the default).
    session,  ///< POST /api/v2/tokens → `_app_session` cookie + CSRF token (v2.11+).
    jwt,      ///< POST /api/v2/tokens → JWT in the body (v2.0 – v2.10); refreshed on 401.
    bearer,   ///< An identity provider's token, read from a file on use.
};

/// Where a secret comes from (adapter/secret.hpp).
using casebridge::secret_source;

struct settings {
    std::string base_url;  ///< "https://primero.example.org" (no trailing /api/v2).
    auth_mode auth = auth_mode::basic;
    std::string user_name;
    secret_source password;            ///< basic, session, jwt.
    std::filesystem::path token_file;  ///< bearer.
    int per_page = 1000;               ///< 1..1000 (Primero clamps at 1000; default 20).
    std::chrono::seconds overlap{0};   ///< Next window starts this much before the last end.
};

/// Parses and checks an adapter config block (already schema-validated). Throws
/// std::invalid_argument on an unusable value (startup).
settings settings_from_json(const rapidjson::Value& config);

/// The JSON Schema of the config block.
std::string_view config_schema();

/// The factory registered by register_builtin_adapters.
adapter_factory make_factory();

enum class transition_kind { referral, transfer };

class primero_adapter final : public adapter {
public:
    primero_adapter(settings s, adapter_env env);
    ~primero_adapter() override;

    // adapter
    std::string_view system_id() const noexcept override { return "primero"; }
    /// Stream "cases" only. One Primero page per call. Cursor: a closed window
    /// [from .. end] walked by second; see README.md.
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override;
    /// GET /cases/:id (stream "cases").
    awaitable<remote_result<external_record>> fetch(std::string stream, std::string remote_id)
        override;
    /// remote_id empty: create with `data.id` = UUIDv5(source_key); a 409 (the case exists:
    /// a lost answer or a lost link) is followed by a PATCH of that id with the same body, and
    /// its outcome is the result. Else PATCH. Subform rows without unique_id get stable ones.
    awaitable<remote_result<std::string>> push(external_record record) override;
    /// The case created for `source_key` (its deterministic id), if it exists: one GET.
    awaitable<remote_result<std::optional<std::string>>> lookup(
        std::string stream, std::string source_key
    ) override;
    /// Ids, audit stamps and the owner, which Primero sets on every create or update.
    std::vector<std::string> remote_assigned_fields(std::string_view stream) const override;
    /// The case created for `source_key`, read: the same one GET as lookup.
    awaitable<remote_result<std::optional<external_record>>> lookup_record(
        std::string stream, std::string source_key
    ) override;
    /// True for "cases" (the flags API, reference §1.9; the account's role needs `flag`).
    bool can_flag(std::string_view stream) const noexcept override;
    /// GET /cases/:id/flags. Of each flag only id (Primero's integer, as decimal text),
    /// message and removed are read; the case's name and other members are never kept.
    /// Errors: auth_failed (401 after a new login, 403 without `flag`), not_found (no case),
    /// rate_limited, remote_unavailable, bad_payload; invalid_config for another stream.
    awaitable<remote_result<std::vector<record_flag>>> list_flags(
        std::string stream, std::string remote_id
    ) override;
    /// POST /cases/:id/flags {"data":{"message","date"}}; the new flag's id. Errors as
    /// list_flags, remote_rejected for a refused message or date.
    awaitable<remote_result<std::string>> raise_flag(
        std::string stream, std::string remote_id, std::string message, std::string date
    ) override;
    /// PATCH /cases/:id/flags/:flag_id {"data":{"message","date"}} (today: Primero replaces
    /// both). Errors as raise_flag; not_found for an unknown flag.
    awaitable<remote_result<void>> update_flag(
        std::string stream, std::string remote_id, std::string flag_id, std::string message
    ) override;
    /// PATCH /cases/:id/flags/:flag_id {"data":{"unflag_message"}}; a blank one is refused by
    /// Primero (remote_rejected). Errors as update_flag.
    awaitable<remote_result<void>> resolve_flag(
        std::string stream, std::string remote_id, std::string flag_id, std::string unflag_message
    ) override;
    /// Authenticated GET of one case summary.
    awaitable<remote_result<void>> probe() override;
    std::optional<std::string> credential_fingerprint() const override;

    // Primero-specific operations.
    awaitable<remote_result<external_record>> show(std::string id);
    /// DELETE: Primero never deletes, it sets record_state false.
    awaitable<remote_result<void>> disable(std::string id);
    /// GET /cases/:id/referrals|transfers → the `data` array.
    awaitable<remote_result<rapidjson::Document>> list_transitions(
        std::string id, transition_kind kind
    );
    /// POST /cases/:id/referrals|transfers with `data` = `body`; returns the transition.
    awaitable<remote_result<rapidjson::Document>> create_transition(
        std::string id, transition_kind kind, rapidjson::Document body
    );
    /// PATCH /cases/:id/referrals|transfers/:tid {status, rejected_reason}.
    awaitable<remote_result<rapidjson::Document>> update_transition(
        std::string id,
        transition_kind kind,
        std::string transition_id,
        std::string status,
        std::string rejected_reason
    );
    /// The webhook acknowledgement: PATCH {mark_synced, mark_synced_url, mark_synced_status}.
    awaitable<remote_result<void>> mark_synced(std::string id, std::string url, std::string status);

    /// The deterministic Primero id of a create for `source_key`.
    static std::string client_id_for(std::string_view source_key);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::primero
