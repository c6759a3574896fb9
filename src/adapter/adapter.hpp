// The adapter contract: transport, auth, paging and identity for one external system.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <rapidjson/document.h>

#include "core/clock.hpp"
#include "log/log.hpp"
#include "net/async.hpp"
#include "net/remote_error.hpp"

namespace casebridge {

class http_client;

/// A record in the remote system's own shape.
struct external_record {
    /// The record stream ("cases", "referrals", "decisions", "events"): a flow's from/to stream.
    std::string stream;
    std::string remote_id;   ///< The remote's id; empty when creating.
    std::string updated_at;  ///< RFC 3339 from the remote; drives cursors.
    bool disabled = false;   ///< The remote marks the record disabled (soft-deleted).
    /// For creates: a stable key of (flow, source system, source id). The adapter derives
    /// the remote's idempotency key from it (Primero: a UUIDv5 as `data.id`).
    std::string source_key;
    rapidjson::Document body;  ///< Only the mapper looks inside.
    /// What `body`'s values and allocator may live in: the document of the page the record
    /// came in, shared by the page's records and kept alive with each of them, so a record
    /// need not be copied out of its page. Moving `body` alone out of the record would leave
    /// it dangling; the record moves whole. The page's records share one allocator, so they
    /// are changed on one thread at a time.
    std::shared_ptr<rapidjson::Document> body_memory;
};

/// One step of an incremental listing.
struct pull_page {
    std::vector<external_record> records;
    /// Where to continue. Store it once every record of this page is settled.
    std::string next_cursor;
    /// False: caught up for now (`next_cursor` is where the next run starts).
    bool has_more = false;
};

/// A receiver's answer to one record it was sent, read from an acknowledgement stream.
struct acknowledgement {
    enum class verdict { accepted, rejected, error };
    std::string exchange_id;  ///< The id of the record acknowledged, as it was sent.
    verdict status = verdict::error;
    std::string reference;  ///< The receiver's own reference when it accepted; may be empty.
    /// Why it was refused: a code (letters, digits, - _ . /), or empty; free text is never
    /// kept, only `free_text_reason` is set.
    std::string reason_code;
    bool free_text_reason = false;
    /// False when the id is not one this sender wrote (to be reviewed, never applied).
    bool known = false;
};

/// The latest acknowledgement of one sent record, and how many distinct receiver references
/// accepted it (adapter::acknowledgements_for).
struct acknowledgement_summary {
    acknowledgement latest;
    std::size_t accepted_references = 0;
};

/// A flag on a record (CPIMS+ case flags), as much as the engine needs: the remote's id, the
/// text and whether it was resolved. Never the record's name or other fields the remote returns
/// with a flag.
struct record_flag {
    std::string id;        ///< The remote's flag id.
    std::string message;   ///< The flag's text, as written by casebridge or a person.
    bool removed = false;  ///< Resolved (unflagged).
};

/// What the IMO hub tells one agency about one of its own records (the casebridge_hub
/// adapter's `notices` stream), typed: never anything about another agency's record.
struct duplicate_notice {
    enum class kind {
        possible_duplicate,  ///< The record is in a cluster with records of other agencies.
        retraction,          ///< A notice of this record and reference no longer holds.
    };
    struct agency {
        std::string id;
        std::string display_name;
    };
    std::string id;  ///< The hub's notice id for this agency (decimal, ascending).
    kind what = kind::possible_duplicate;
    std::string pseudonym;  ///< The agency's own record at the hub, as it sent it.
    std::string reference;  ///< The cluster's reference, without "ref:" (same for all members).
    std::vector<agency> other_agencies;  ///< Sorted by id; empty for a retraction.
};

class adapter {
public:
    virtual ~adapter() = default;
    /// Key used in config, in mappings/<id>.*.json and in every audit row.
    virtual std::string_view system_id() const noexcept = 0;
    /// Records of `stream` changed at or after `cursor` (opaque to the engine; nullopt: full
    /// sync). Errors: remote_unavailable, rate_limited, remote_rejected, auth_failed,
    /// bad_payload; not_found for a stream the adapter does not serve.
    /// Never retries or sleeps: the engine does, after a transient error.
    virtual awaitable<remote_result<pull_page>> pull(
        std::string stream, std::optional<std::string> cursor
    ) = 0;
    /// One record of `stream` by its remote id, read fresh: retries and replays never use a
    /// stored payload. Errors as pull; not_found when the record does not exist.
    virtual awaitable<remote_result<external_record>> fetch(
        std::string stream, std::string remote_id
    ) = 0;
    /// Creates (remote_id empty) or updates one mapped and redacted record of
    /// `record.stream`; returns the remote id. Idempotent for the same (source_key or
    /// remote_id, body) when `idempotent_create()`; otherwise the engine calls `lookup` after
    /// an ambiguous outcome before pushing again.
    virtual awaitable<remote_result<std::string>> push(external_record record) = 0;
    /// True when a repeated create with the same source_key cannot make a second record (a
    /// client-chosen id, an exchange id the receiver de-duplicates on).
    virtual bool idempotent_create() const noexcept { return true; }
    /// False for streams whose records cannot be changed once written (a PING referral): the
    /// engine then never re-sends a linked record of that stream when its source changes.
    virtual bool can_update(std::string_view /*stream*/) const noexcept { return true; }
    /// True when pulling past a cursor changes the source (a file inbox moves settled files
    /// aside): a dry run then reads one page only.
    virtual bool pull_has_side_effects() const noexcept { return false; }
    /// Drops what was pushed since the last successful flush (the engine calls it when a flush
    /// fails; it sends those records again later, after a fresh consent check).
    virtual void discard_pending() noexcept {}
    /// The remote id of the record created earlier for `source_key` in `stream`, or nullopt
    /// when there is none. Adapters whose creates are not idempotent must implement it.
    virtual awaitable<remote_result<std::optional<std::string>>> lookup(
        std::string stream, std::string source_key
    );
    /// The record created earlier for `source_key` in `stream`, read fresh, or nullopt when
    /// there is none; errors as lookup. The default calls lookup and then fetch; an adapter
    /// whose look-up already reads the record answers in one request.
    virtual awaitable<remote_result<std::optional<external_record>>> lookup_record(
        std::string stream, std::string source_key
    );
    /// Fields of `stream` that the remote sets itself whatever a write carried (its ids, audit
    /// stamps, owner): a reconciliation does not compare them with what was sent.
    virtual std::vector<std::string> remote_assigned_fields(std::string_view /*stream*/) const {
        return {};
    }
    /// True when the receiver answers each record of `stream` with an acknowledgement, read
    /// back by an acknowledgement flow (DSS events): a caseload hand-over counts such a record
    /// as transferred only once its current version is acknowledged.
    virtual bool acknowledges(std::string_view /*stream*/) const noexcept { return false; }
    /// The acknowledgement a record of an acknowledgement stream carries, typed; nullopt when
    /// `record` is not one (the engine then reports it as unreadable, never guesses).
    virtual std::optional<acknowledgement> acknowledgement_of(const external_record& /*record*/
    ) const {
        return std::nullopt;
    }
    /// What the receiver has acknowledged of the records sent to `stream` (an acknowledging
    /// stream) under `remote_ids`, read fresh in one pass: for each id that has any, its latest
    /// acknowledgement and how many distinct references the receiver accepted it under (two or
    /// more: the receiver made two records of one). Ids without an acknowledgement are absent.
    /// Default: not supported (not_found).
    virtual awaitable<remote_result<std::map<std::string, acknowledgement_summary>>>
    acknowledgements_for(std::string stream, std::vector<std::string> remote_ids);
    /// True when `stream` has a consent-withdrawal notice (notify_withdrawal).
    virtual bool can_notify_withdrawal(std::string_view /*stream*/) const noexcept { return false; }
    /// Tells the receiver that consent for a record it received (`shared_remote_id`) was
    /// withdrawn at the source; the notice carries that id and nothing of the record. Same
    /// `source_key` and `version`, same notice (idempotent). Returns the notice's id. Batched
    /// like push: durable after flush. Default: not supported (invalid_config).
    virtual awaitable<remote_result<std::string>> notify_withdrawal(
        std::string stream,
        std::string shared_remote_id,
        std::string source_key,
        std::string version
    );
    /// Makes the pushes since the last flush durable on the remote side (a batched file
    /// exchange writes its file here). The engine logs a page's sends only after this
    /// succeeds. Default: nothing to do.
    virtual awaitable<remote_result<void>> flush();
    /// True when records of `stream` can carry flags (list_flags, raise_flag, ...).
    virtual bool can_flag(std::string_view /*stream*/) const noexcept { return false; }
    /// The flags on the record `remote_id` of `stream`, read fresh (resolved ones too).
    /// Errors as fetch; not_found when the record does not exist; auth_failed when the account
    /// may not flag. Default: not supported (invalid_config).
    virtual awaitable<remote_result<std::vector<record_flag>>> list_flags(
        std::string stream, std::string remote_id
    );
    /// Raises a flag with `message` dated `date` (YYYY-MM-DD) on the record; returns the new
    /// flag's id. Not idempotent: the engine lists the flags first. Errors as list_flags.
    virtual awaitable<remote_result<std::string>> raise_flag(
        std::string stream, std::string remote_id, std::string message, std::string date
    );
    /// Replaces the text of an active flag. Errors as list_flags (not_found: no such flag).
    virtual awaitable<remote_result<void>> update_flag(
        std::string stream, std::string remote_id, std::string flag_id, std::string message
    );
    /// Resolves a flag with `unflag_message`. Errors as update_flag.
    virtual awaitable<remote_result<void>> resolve_flag(
        std::string stream, std::string remote_id, std::string flag_id, std::string unflag_message
    );
    /// The IMO hub's notice a record of a notices stream carries, typed; nullopt when `record`
    /// is not one (the engine then reports it as unreadable, never guesses).
    virtual std::optional<duplicate_notice> notice_of(const external_record& /*record*/) const {
        return std::nullopt;
    }
    /// SHA-256 (hex) of the credentials the adapter would present now, read fresh from their
    /// file or variable; nullopt when it has none or cannot read them. The engine remembers a
    /// refused fingerprint (a keyed hash of it) and sends nothing to the system again until the
    /// fingerprint changes. Never the secret itself.
    virtual std::optional<std::string> credential_fingerprint() const { return std::nullopt; }
    /// Auth + reachability check, for startup and /healthz.
    virtual awaitable<remote_result<void>> probe() = 0;
};

/// All an adapter may use; it owns no threads, files or database handles.
struct adapter_env {
    net::any_io_executor executor;
    http_client* http = nullptr;  ///< TLS, deadlines, body limits; never logs bodies.
    const clock_source* clock = nullptr;
    logger log;  ///< Pre-tagged with the system id.
};

struct adapter_factory {
    std::string_view system_id;
    std::string_view config_schema;  ///< JSON Schema (draft-04) for the adapter's config block.
    /// Builds the adapter from a config block already validated against `config_schema`.
    /// May throw at startup (e.g. an unreadable secret file).
    std::unique_ptr<adapter> (*create)(const rapidjson::Value& config, adapter_env env) = nullptr;
    /// What the schema cannot say (a password for basic auth, one token source, distinct
    /// folders): reads a config block already validated against `config_schema`, touching no
    /// file, and throws std::invalid_argument with a message that names the setting. Run by
    /// `casebridge check` and at start-up, before any adapter is built.
    void (*check)(const rapidjson::Value& config) = nullptr;
};

/// The factory of adapter `A`, whose settings `read` takes from a configuration block (the
/// adapter's settings_from_json): `create` builds an A from them, `check` reads them and
/// drops them.
template <typename A, auto read>
adapter_factory factory_of(std::string_view system_id, std::string_view config_schema) {
    return adapter_factory{
        system_id,
        config_schema,
        [](const rapidjson::Value& config, adapter_env env) -> std::unique_ptr<adapter> {
            return std::make_unique<A>(read(config), std::move(env));
        },
        [](const rapidjson::Value& config) { (void)read(config); }};
}

}  // namespace casebridge
