// The progres_ping adapter's inside, shared by its source files (not part of its interface):
// PING's paths and phrases, the JSON and cursor helpers, and the adapter's state with its
// steps, defined in token.cpp (auth and calls), query.cpp (retrieval), ingest.cpp (writes and
// their status) and progres_ping_adapter.cpp (the adapter interface).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>
#include <rapidjson/document.h>

#include "core/crypto.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/uuid.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "net/remote_text.hpp"
#include "net/url.hpp"
#include "progres_ping/ping_status.hpp"
#include "progres_ping/progres_ping_adapter.hpp"

namespace casebridge::progres_ping {

using rapidjson::Document;
using rapidjson::Value;
using steady = std::chrono::steady_clock;

inline constexpr std::string_view retrieve_path = "/primes/fetch/paging/v3/retrievedatawithpaging";
inline constexpr std::string_view check_status_path = "/primes/ingestion/checkstatus/v1/pingdata";
inline constexpr std::string_view no_data = "No Data Available";
inline constexpr std::string_view nil_guid = "00000000-0000-0000-0000-000000000000";
inline constexpr int max_token_refusals = 2;
inline constexpr int max_fetch_pages = 1000;

/// `e` naming record `id` unless it names one already.
remote_error with_record(remote_error e, const std::string& id);

remote_error record_error(
    errc code, std::string detail, const std::string& id, unsigned status = 0
);

// What PING, its API management and Dataverse say in error messages and status items, as
// phrases of allowed_remote_text: anything else is withheld, as a gateway may echo a value.
inline constexpr std::string_view ping_phrases[] = {
    // API management.
    "Unauthorized. Access token is missing or invalid.",
    "Access denied due to missing subscription key. Make sure to include subscription key when "
    "making requests to an API.",
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an "
    "active subscription.",
    "Rate limit is exceeded. Try again in <n> seconds.",
    "Resource not found",
    // PING.
    "The request body is not valid JSON.",
    "Partner is not authorised for this shipping process.",
    "Unsupported APIVersion.",
    "QueryParameters must be a list.",
    "Unknown query parameter for this shipping process.",
    "Query parameter value is not a valid date and time.",
    "Query parameter <field> is required.",
    "Query params fails",
    "Invalid ShippingProcessId.",
    "Data must be a non-empty list.",
    "Data items must be objects.",
    "Transaction not found.",
    // Ingestion items.
    "Record created.",
    "Record updated.",
    "Queued for processing.",
    "Fields is required.",
    "A field has no Name.",
    "Field <field> is not defined for shipping process SHP-<n>.",
    "Field <field> is given twice.",
    "Field <field> has a value of an unsupported type.",
    "<field> does not name a business unit of this partner.",
    "<field> does not name this partner's organisation.",
    "<field> does not match the record.",
    "<field> is required.",
    "<field> is not a valid date.",
    "No record found for key <field>.",
    "Value '<value>' is not a valid option for <field>.",
};

// Where a PING request carries field names as values: its field list and its query
// parameters. An attachment's "Name" is a file name, a value, and is not among them.
inline constexpr name_list name_lists[] = {
    {"Fields", "Name"}, {"QueryParameters", "ParameterName"}};

// The OAuth error codes of a refused token request (RFC 6749 §5.2), the only ones kept.
inline constexpr std::string_view oauth_errors[] = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "server_error",
    "temporarily_unavailable",
};

std::string text_of(const Value* v);

const Value* member(const Value& obj, std::string_view name);

// A member whose name matches without regard to case (.NET serialisers are case-insensitive).
const Value* member_ci(const Value& obj, std::string_view name);

// The remote's own message from an error body (API management's `message` or PING's
// `ErrorMessage`), reduced to a known phrase.
std::string remote_message(const http_response& r, const field_names& fields);

// Modified times as PING renders them: RFC 3339, a date, or a UTC time without a zone.
std::optional<time_point> parse_modified(std::string text);

// Cursor ---------------------------------------------------------------------------------------
struct cursor_state {
    std::string since;  // lower bound of this walk (RFC 3339)
    int page = 1;       // PING page to ask for next
    std::string cookie;
    std::string max;   // newest modified time returned in this walk
    std::string skip;  // id of a record read whole already; its rows on the next page are dropped
};

std::string encode(const cursor_state& c);

std::optional<cursor_state> decode(const std::string& text);

// One retrieval page.
struct page_result {
    Document doc;  // the whole answer; rows() points into it
    bool more = false;
    std::string cookie;
    const Value* rows() const {
        const Value* d = member_ci(doc, "Data");
        return d != nullptr && d->IsArray() ? d : nullptr;
    }
};

// The outcome of one ingestion item.
struct write_outcome {
    item_state state = item_state::unknown;
    std::string id;       // result_id_field from the status Data, when present
    std::string message;  // the item's Message, cleaned
};

struct progres_ping_adapter::impl {
    settings cfg;
    adapter_env env;
    std::string token;
    steady::time_point token_renew_at{};
    int token_refusals = 0;
    std::string refused_secret;

    // Creates without a definite answer, by (stream, source_key).
    struct pending_write {
        std::string transaction;  // SPHTransactionId; empty when the answer was lost
        steady::time_point since{};
        std::string found;  // the record it turned out to have written (kept: a later push
                            // for the same key answers with it instead of writing again)
    };

    std::map<std::pair<std::string, std::string>, pending_write> pending;

    // One token request at a time. Callers that need a token while one is requested wait for
    // that request and take its outcome; each waiter holds the renewal it waits for, so the
    // outcome it reads is that request's, whatever happens to the adapter's state meanwhile.
    struct renewal {
        net::steady_timer done;  // waits end when the request ends (cancel)
        std::optional<remote_result<void>> outcome;
        explicit renewal(const net::any_io_executor& ex)
            : done(ex, net::steady_timer::time_point::max()) {}
    };

    std::shared_ptr<renewal> renewing;  // the request in flight, if any

    // Field names an error message may name: every name in the configuration.
    field_names config_names;

    impl(settings s, adapter_env e) : cfg(std::move(s)), env(std::move(e)) {
        for (const auto& [name, st] : cfg.streams) {
            config_names.insert({st.id_field, st.group_field, st.modified_field});
            const auto add = [&](const std::vector<query_parameter>& list) {
                for (const auto& q : list) {
                    config_names.insert(q.name);
                }
            };
            if (st.pull) {
                add(st.pull->parameters);
                config_names.insert(st.pull->since_parameter);
            }
            if (st.fetch) {
                add(st.fetch->parameters);
                config_names.insert(st.fetch->id_parameter);
            }
            if (st.push) {
                config_names.insert({st.push->result_id_field, st.push->correlation_field});
                add(st.push->set_fields);
                if (st.push->lookup) {
                    add(st.push->lookup->parameters);
                    config_names.insert(st.push->lookup->key_parameter);
                }
            }
        }
        config_names.erase(std::string{});
    }

    // The configured names plus those of a request sent (member names, field-list names):
    // the only names a remote message may repeat.
    field_names names_in(std::string_view request_body) const;
    field_names names_of(const Value& request) const;

    const stream_settings* stream(const std::string& name) const;

    // Auth -------------------------------------------------------------------------------------

    // A usable token: the current one, the one a request in flight brings, or a new one.
    // Errors: those of request_token (the same error for every caller waiting on it);
    // remote_unavailable when a wait is cancelled or its request is abandoned.
    awaitable<remote_result<void>> ensure_token();

    awaitable<remote_result<void>> request_token();

    // One API call (POST, JSON). A 401 drops the token: one new token, one resend (API
    // management refuses before PING sees the request, so the resend cannot write twice).
    awaitable<remote_result<http_response>> call(
        std::string_view path, std::string body, const std::string& record_id
    );

    static remote_result<Document> parse_object(const http_response& r, const std::string& id);

    // Retrieval --------------------------------------------------------------------------------
    awaitable<remote_result<page_result>> retrieve(
        const std::string& shipping_process,
        const std::vector<query_parameter>& parameters,
        int page,
        const std::string& cookie,
        const std::string& record_id
    );

    // Every row of one record by id, walking the fetch query's pages.
    awaitable<remote_result<Document>> fetch_rows(const stream_settings& s, const std::string& id);

    // Builds one record from rows of one id (deduplicated; an array for grouped streams).
    remote_result<external_record> to_record(
        const std::string& stream_name,
        const stream_settings& s,
        const std::vector<const Value*>& rows
    ) const;

    awaitable<remote_result<pull_page>> pull(
        const std::string& stream_name, const stream_settings& s, std::optional<std::string> cursor
    );

    // Writes -----------------------------------------------------------------------------------

    // The outcome of the item written as `external_id` in a status answer. Its message may
    // name the configured fields and those of `request` (the write it is about; none when
    // null), which are collected only when there is a message.
    remote_result<write_outcome> outcome_of(
        const Value& answer,
        const push_settings& p,
        const std::string& external_id,
        const std::string& record_id,
        const Value* request
    ) const;

    awaitable<remote_result<write_outcome>> check_status(
        const push_settings& p,
        const std::string& transaction,
        const std::string& record_id,
        const Value* request
    );

    // The result id: from the status, else from the written fields.
    static std::string result_id(
        const write_outcome& o, const Value& fields, const push_settings& p
    );

    awaitable<remote_result<std::optional<std::string>>> find_by_key(
        const push_settings& p, const std::string& key
    );

    // What an earlier create without a definite answer became. nullopt: nothing was written
    // (or the wait is over); an error: still unknown.
    awaitable<remote_result<std::optional<std::string>>> settle_pending(
        const std::string& stream_name,
        const push_settings& p,
        const std::string& source_key,
        const std::string& key
    );

    awaitable<remote_result<std::string>> push(
        const std::string& stream_name, const push_settings& p, external_record record
    );
};

}  // namespace casebridge::progres_ping
