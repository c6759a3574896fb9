// The primero adapter's inside, shared by its source files (not part of its interface): paths,
// messages, flags and cursor helpers, and the adapter's state with its steps, defined in
// session.cpp (auth and calls), query.cpp (answers and the pull cursor), flags.cpp (case flags)
// and primero_adapter.cpp (the adapter interface).
#pragma once

#include <cstdlib>
#include <iterator>
#include <stdexcept>

#include <boost/url/url.hpp>

#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/uuid.hpp"
#include "json/json.hpp"
#include "net/remote_text.hpp"
#include "net/url.hpp"
#include "primero/primero_adapter.hpp"

namespace casebridge::primero {

using rapidjson::Document;
using rapidjson::Value;
inline constexpr std::string_view epoch_start = "0000-01-01T00:00:00Z";
inline constexpr int tie_page_size = 1000;
inline constexpr int max_login_refusals = 2;  // one login and one retry, then stop (lockout is 6)

// Path segments and query values as Primero's clients write them: ':' stays readable in
// RFC 3339 times, everything but unreserved characters is escaped ('+' too).
std::string url_encode(std::string_view s);

std::string second_of(std::string_view ts);

std::optional<std::string> plus_seconds(const std::string& ts, std::chrono::seconds d);

// What Primero says in errors (reference/primero-v2-api.md §1.3), as phrases of
// allowed_remote_text: i18n keys, fixed texts, field names and JSON pointers to them. Anything
// else (an exception message may quote a value) is withheld.
inline constexpr std::string_view primero_phrases[] = {
    "<key>",
    "Forbidden",
    "Not Found",
    "Conflict: A record with this id already exists",
    "Invalid Record JSON",
    "Invalid Attachment JSON",
    "Service Unavailable",
    "Signature has expired",
    "Not enough or too many segments",
    "Can't verify CSRF token authenticity.",
    "Invalid User name or password.",
    "You need to sign in or sign up before continuing.",
    "Your account is locked.",
    "param is missing or the value is empty: <field>",
    "Retry-After: <n>",
    "Couldn't find Child with 'id'=<value>",
    "Couldn't find Transition with 'id'=<value>",
    "Couldn't find Flag with 'id'=<value>",
    "<field>",
    "/<field>",
    "/<field>/<n>",
    "/<field>/<n>/<field>",
};

// Names Primero's errors use as `detail` besides the fields of the request.
inline constexpr std::string_view primero_names[] = {
    "id", "data", "attachment", "consent", "status", "transitioned_to", "unflag_message"};

field_names names_in(std::string_view request_body);

// A string, or the strings of an array, each reduced to a known phrase; ", " between them.
std::string allowed_text(const Value& v, const field_names& fields);

// Primero's own message from an error body: errors[0].message [+ detail], or Devise's
// {"error": text}, reduced to known phrases. A 500's message is exception text and is left out.
std::string remote_message(const http_response& r, const field_names& fields);

remote_error with_record(remote_error e, const std::string& id);

std::string transitions_path(const std::string& id, transition_kind kind);

// /api/v2/cases/<case>/flags[/<flag>], each id one percent-encoded path segment (Boost.URL).
std::string flags_path(const std::string& case_id, const std::string* flag_id);

// The three members of a flag casebridge reads: id (an integer, kept as decimal text),
// message and removed. Nothing else of the object (the case's name, owner...) is read.
std::optional<record_flag> flag_of(const Value& v);

remote_error flag_stream_error();

// Subform rows (arrays of objects) without a unique_id get one derived from the record key,
// the subform name and the row's position: the same on every retry.
void stabilise_rows(Value& data, const std::string& key, Document::AllocatorType& a);

struct cursor_state {
    bool tie_phase = false;
    std::string from;  // main: inclusive lower bound; tie: the second being walked
    std::string end;   // inclusive upper bound of the window ("" = not fixed yet)
    int page = 1;
};

std::string encode(const cursor_state& c);

std::optional<cursor_state> decode(const std::string& text);

bool serves(std::string_view stream);

struct primero_adapter::impl {
    settings cfg;
    adapter_env env;
    std::map<std::string, std::string> cookies;  // session mode
    std::string jwt;                             // jwt mode
    bool logged_in = false;
    int login_refusals = 0;
    std::string refused_secret;  // the password refused last (re-enabled when it changes)

    impl(settings s, adapter_env e) : cfg(std::move(s)), env(std::move(e)) {}

    void store_cookies(const http_response& r);

    remote_result<std::vector<http_header>> auth_headers(const std::string& method);

    // POST /api/v2/tokens. A refused login is tried once more (with the secret read again),
    // then never again until the secret changes: six refusals lock the account for 30 min.
    awaitable<remote_result<void>> login();

    // Legacy JWT refresh: POST /api/v2/tokens with the still-valid token, no credentials.
    awaitable<bool> refresh_jwt();

    // One API call with auth; on 401 one re-authentication and one resend. Any other status
    // >= 400 becomes a remote_error carrying Primero's message and `record_id`.
    awaitable<remote_result<http_response>> call(
        std::string method, std::string path, std::string body, std::string record_id
    );

    // The `data` object of a transition answer, as its own document.
    static remote_result<Document> transition_data(
        const remote_result<http_response>& r, const std::string& id
    );

    static remote_result<Document> parse_body(const http_response& r, const std::string& id);

    /// The case `v`, a value of `page`, taken out of it: the record's body keeps `page` alive
    /// instead of copying the case (`v` is left null), and allocates from the page's pool.
    static remote_result<external_record> to_record(
        Value& v, const std::shared_ptr<Document>& page
    );

    std::string window_end() const;

    awaitable<remote_result<pull_page>> pull(std::optional<std::string> cursor);
};

}  // namespace casebridge::primero
