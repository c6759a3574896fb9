// The adapter contract: transport, auth, paging and identity for one external system.
#pragma once

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
    std::string remote_id;   ///< The remote's id; empty when creating.
    std::string updated_at;  ///< RFC 3339 from the remote; drives cursors.
    bool disabled = false;   ///< The remote marks the record disabled (soft-deleted).
    /// For creates: a stable key of (flow, source system, source id). The adapter derives
    /// the remote's idempotency key from it (Primero: a UUIDv5 as `data.id`).
    std::string source_key;
    rapidjson::Document body;  ///< Only the mapper looks inside.
};

/// One step of an incremental listing.
struct pull_page {
    std::vector<external_record> records;
    /// Where to continue. Store it once every record of this page is settled.
    std::string next_cursor;
    /// False: caught up for now (`next_cursor` is where the next run starts).
    bool has_more = false;
};

class adapter {
public:
    virtual ~adapter() = default;
    /// Key used in config, in mappings/<id>.*.json and in every audit row.
    virtual std::string_view system_id() const noexcept = 0;
    /// Records changed at or after `cursor` (opaque to the engine; nullopt: full sync).
    /// Errors: remote_unavailable, rate_limited, remote_rejected, auth_failed, bad_payload.
    /// Never retries or sleeps: the engine does, after a transient error.
    virtual awaitable<remote_result<pull_page>> pull(std::optional<std::string> cursor) = 0;
    /// Creates (remote_id empty) or updates one mapped and redacted record; returns the
    /// remote id. Idempotent for the same (source_key or remote_id, body): the engine retries.
    virtual awaitable<remote_result<std::string>> push(external_record record) = 0;
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
};

}  // namespace casebridge
