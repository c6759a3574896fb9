// The casebridge_hub adapter's inside, shared by its source files (not part of its interface):
// the hub's error answers, and the adapter's state with its steps, defined in transport.cpp
// (calls, the linkage schema check), batches.cpp (records and withdrawals sent in batches) and
// hub_adapter.cpp (the adapter interface).
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "casebridge_hub/hub_adapter.hpp"
#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "core/result.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "net/remote_text.hpp"
#include "net/url.hpp"

namespace casebridge::casebridge_hub {

using rapidjson::Document;
using rapidjson::Value;
inline constexpr std::string_view api = "/hub/v1";
inline constexpr std::size_t max_pseudonym = 128;

// The contract's error codes: anything else the hub says is not repeated.
inline constexpr std::string_view hub_codes[] = {
    "unauthenticated",
    "not_found",
    "method_not_allowed",
    "too_large",
    "malformed",
    "field_not_allowed",
    "schema_version",
    "internal"};

bool pseudonym_ok(std::string_view p);

bool lower_hex16(std::string_view v);

std::string str(const Value& v);

// "at /records/3/filter: ..." → "/records/3/filter": a JSON Pointer into what was sent, which
// holds no value (the hub's messages name pointers, never values; anything else is dropped).
std::string pointer_in(std::string_view message);

// An error answer as a remote_error: the status's class, the hub's code when it is one of the
// contract's, the pointer its message names and the names of our own fields it mentions.
remote_error hub_error(const http_response& r, std::string_view request_body);

bool serves(std::string_view stream);

remote_error target_only();

struct hub_adapter::impl {
    settings cfg;
    adapter_env env;
    std::optional<hub_schema> checked;  // the hub's schema, once read

    struct pending_record {
        std::string pseudonym;
        int schema_version = 0;
        std::size_t filter_bytes = 0;
        std::vector<std::string> coarse_keys;
        Document record;  // as the contract has it
    };

    std::vector<pending_record> records;
    std::map<std::string, std::size_t> record_index;  // pseudonym → position in records
    std::vector<std::string> withdrawals;
    std::set<std::string> withdrawal_set;

    impl(settings s, adapter_env e) : cfg(std::move(s)), env(std::move(e)) {}

    awaitable<remote_result<http_response>> call(
        std::string method, std::string path, std::string body
    );

    static remote_result<Document> object_of(const http_response& r);

    awaitable<remote_result<hub_schema>> fetch_schema();

    // Every queued record against the hub's schema: a difference is a configuration problem
    // (agency and hub out of step), never a problem of one record.
    remote_result<void> check_against(const hub_schema& s) const;

    std::size_t batch_limit() const;

    awaitable<remote_result<void>> send_records();

    awaitable<remote_result<void>> send_withdrawals();

    // The mapped record plus the profile's encoding, checked member by member and rebuilt in
    // the contract's shape: nothing that is not named here goes.
    remote_result<pending_record> prepare(const Value& body) const;
};

}  // namespace casebridge::casebridge_hub
