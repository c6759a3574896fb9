// The Primero sandbox's inside, shared by its source files (not part of its interface): query
// parsing and matching helpers, accounts and sessions, and the sandbox's state with its handlers,
// defined in query.cpp (helpers), auth.cpp (answers, logins, sessions, JWTs, scope), cases.cpp
// (index, show, create, update, disable), transitions.cpp (referrals, transfers, assignments,
// flags), router.cpp (the routes) and primero_sandbox.cpp (the sandbox interface).
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include <rapidjson/document.h>

#include "core/encoding.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "net/url.hpp"
#include "sandbox/primero/case_form.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "sandbox/primero/synthetic_cases.hpp"

namespace casebridge::sandbox {

using rapidjson::Document;
using rapidjson::Value;
using param_list = std::vector<std::pair<std::string, std::string>>;

// "status[0]=open&status[1]=closed" → ("status","open,closed"); other pairs as given. A '+'
// is a space, as Rails reads it. nullopt for a bad percent-escape.
std::optional<param_list> rails_params(std::string_view q);

std::string param(const param_list& p, std::string_view name);

std::vector<std::string> split(const std::string& s, char sep);

bool is_uuid(std::string_view s);

std::string to_text(const Value& v);

// Second precision, time zone ignored: TO_TIMESTAMP(value, 'YYYY-MM-DD"T"HH24:MI:SS').
std::string second_key(std::string s);

bool is_time_field(std::string_view name);

bool is_date_field(std::string_view name);

const std::set<std::string, std::less<>> reserved_params = {
    "page",
    "per",
    "order_by",
    "order",
    "fields",
    "total",
    "format",
    "query",
    "id_search",
    "phonetic",
    "phone_number",
    "query_scope",
    "remote"};

// A pre-parsed `<time field>=from..to` filter, compared at second precision.
struct time_range {
    std::string from;  // 19 chars or empty (open)
    std::string to;
};

std::optional<time_range> time_range_of(const std::string& name, const std::string& value);

bool in_range(const Value& rec, const std::string& name, const time_range& r);

// One filter of the index grammar (§1.6).
bool matches(const Value& rec, const std::string& name, const std::string& value);

int compare_values(const Value* a, const Value* b);

const std::vector<std::string> short_fields = {
    "created_at",
    "owned_by",
    "owned_by_agency_id",
    "flag_count",
    "status",
    "record_in_scope",
    "short_id",
    "alert_count",
    "case_id_display",
    "name",
    "survivor_code_no",
    "age",
    "sex",
    "registration_date",
    "hidden_name",
    "workflow",
    "case_status_reopened",
    "module_id",
    "registry_record_id",
    "client_code",
    "gender",
    "reporting_location_hierarchy",
    "location_current"};

const std::set<std::string, std::less<>> immutable_fields = {
    "id",
    "unique_identifier",
    "short_id",
    "created_at",
    "created_by",
    "case_id",
    "case_id_display",
    "enabled"};

struct transition {
    std::string id;
    std::string type;  // Referral | Transfer | TransferRequest
    std::string status;
    std::string record_id;
    std::string transitioned_by;
    std::string transitioned_to;
    std::string transitioned_to_agency;
    std::string transitioned_to_remote;
    std::string notes;
    std::string service;
    std::string rejected_reason;
    std::string created_at;
    std::string responded_at;
    bool remote = false;
    bool consent_overridden = false;
    bool consent_individual_transfer = false;
};

// A user, its role's case permissions and scope, and its lockout state.
struct account {
    primero_user spec;
    int id = 0;
    int failed_attempts = 0;
    time_point locked_until{};

    bool can(std::string_view action) const {
        const auto& a = spec.case_actions;
        return std::find(a.begin(), a.end(), "manage") != a.end() ||
               std::find(a.begin(), a.end(), action) != a.end();
    }
    bool sees_all() const { return spec.scope == "all"; }
};

// The fields a `record_action` lets a user without `write` change (§1.7).
const std::vector<std::string>* record_action_fields(const std::string& action);

struct session_state {
    std::string user;
    std::string csrf;
    time_point last_seen;
};

struct jwt_state {
    std::string user;
    time_point expires;
};

enum class auth_kind { none, basic, session, jwt, idp };

struct auth_result {
    auth_kind kind = auth_kind::none;
    std::string session_id;
    const account* user = nullptr;
};

// Why a transition was refused: the error object's status, detail and message key.
struct refusal {
    unsigned status = 422;
    std::string detail;
    std::string message;
};

std::string render(const Value& v);

std::string lower_ascii(std::string s);

// A password for a named account: deterministic by seed and name.
std::string derived_password(std::uint64_t seed, const std::string& name);

struct primero_sandbox::impl {
    primero_settings settings;
    const clock_source* clock;
    mutable std::mutex mutex;
    std::map<std::string, Document> cases;
    std::vector<std::string> order;

    /// Bumped by every change that may move a case's last_updated_at (a request other than
    /// GET, a test's edit), so that the index below is rebuilt only when it is stale.
    std::uint64_t generation = 0;

    std::uint64_t indexed_generation = ~std::uint64_t{0};

    /// Cases by the second of their last_updated_at (the filter's precision): a list filtered
    /// by a last_updated_at range reads only the cases in it, as Primero's database index
    /// does, so a page costs the same at 1,000 cases as at 100,000.
    std::vector<std::pair<std::string, std::string>> by_updated;

    const std::vector<std::pair<std::string, std::string>>& updated_index();

    /// One list query's matches (its filters but the last_updated_at range), as positions in
    /// `by_updated`, with whether each is in the user's scope: the next page of the same
    /// query, asked from a later last_updated_at, is then read in time that does not grow
    /// with the cases before or after it. Valid for one generation.
    struct filtered_view {
        std::uint64_t generation = 0;
        std::vector<std::size_t> at;
        std::vector<bool> mine;
    };
    std::map<std::string, filtered_view> filtered_views;  ///< By the query's other terms.

    std::map<std::string, std::vector<transition>> transitions;
    std::map<std::string, session_state> sessions;
    std::map<std::string, jwt_state> jwts;
    std::map<std::string, account, std::less<>> accounts;
    std::mt19937_64 rng;
    std::mt19937_64 secret_rng;
    bool locked = false;
    std::size_t logins = 0;
    std::size_t failed_logins = 0;
    std::size_t repeated_creates = 0;
    std::map<std::string, std::deque<time_point>> login_times;  // per user name
    std::map<std::string, std::size_t> mark_synced;
    primero_flag_book flag_book;
    std::map<std::string, std::uint32_t> child_of;  // population truth: case id → child
    std::set<std::string> without_consent;          // population cases without consent
    std::uint64_t request_no = 0;
    std::unique_ptr<http_server> server;

    impl(primero_settings s, const clock_source& c)
        : settings(std::move(s)),
          clock(&c),
          rng(settings.seed ^ 0x9E3779B97F4A7C15ULL),  // not the generator's stream
          secret_rng(settings.seed ^ 0x5bd1e995) {
        if (settings.password.empty()) {
            settings.password = "sbx-" + random_hex(secret_rng, 16);
        }
        account main;
        main.spec.user_name = settings.user_name;
        main.spec.password = settings.password;
        main.spec.scope = "all";
        main.spec.case_actions = {"manage"};
        main.id = 1;
        accounts.emplace(settings.user_name, std::move(main));
        int next_id = 2;
        for (const auto& u : settings.users) {
            if (u.user_name.empty() || accounts.count(u.user_name) != 0) {
                continue;
            }
            account acc;
            acc.spec = u;
            if (acc.spec.password.empty()) {
                acc.spec.password = derived_password(settings.seed, u.user_name);
            }
            acc.id = next_id++;
            accounts.emplace(u.user_name, std::move(acc));
        }
    }

    static std::string random_hex(std::mt19937_64& r, std::size_t n);

    std::string new_uuid();

    std::string now_text() const;

    // Responses ----------------------------------------------------------------------------
    static response json_response(unsigned status, const Value& v);

    // One object of an `errors` array: status, resource, detail (if any), message (§1.3).
    static Value error_object(
        unsigned status,
        const std::string& resource,
        const std::string& message,
        const Value* detail,
        const Value* message_array,
        rapidjson::Document::AllocatorType& a
    );

    // A model validation error of a transition: detail = field, message = [key].
    static Value refusal_object(
        const refusal& r, const std::string& resource, rapidjson::Document::AllocatorType& a
    );

    static response error(
        unsigned status,
        const std::string& resource,
        const std::string& message,
        const Value* detail = nullptr,
        const Value* message_array = nullptr
    );

    static response refused(const refusal& r, const std::string& resource);

    // CanCan::AccessDenied.
    static response forbidden(const std::string& resource);

    static response error_detail(
        unsigned status,
        const std::string& resource,
        const std::string& message,
        const std::string& detail
    );

    static response devise_401(const char* text);

    // Auth ---------------------------------------------------------------------------------
    static std::map<std::string, std::string> cookies(const request& req);

    // Checks credentials; the error response when refused. Lockout is per account.
    std::optional<response> check_password(
        const std::string& user, const std::string& pass, const account*& out
    );

    const account& main_account() const;

    std::optional<response> authenticate(const request& req, auth_result& out);

    static std::string path_of(const request& req);

    response login(const request& req);

    // `{"id","user_name","group_permission"}`, plus `token` for a legacy JWT login.
    static Document login_body(const account& acc, const std::string* token);

    response issue_jwt(const account& acc);

    // Scope and permissions -----------------------------------------------------------------

    // User#permitted_to_access_record?: scope `all`, or the user is among the record's
    // associated users (owner and assigned).
    static bool in_scope(const account& me, const Value& rec);

    static bool can_read(const account& me, const Value& rec);

    // UserTransitionService: an enabled, non-system user other than the sender whose role
    // receives this kind of transition.
    bool can_receive(const std::string& to, const std::string& type, const account& sender) const;

    // Records ------------------------------------------------------------------------------
    Value render_record(
        const Document& rec,
        const std::vector<std::string>* fields,
        rapidjson::Document::AllocatorType& a
    ) const;

    // `query=`: a case-insensitive substring of one of the filterable id fields (§1.6).
    static bool matches_query(const Value& rec, const std::string& query);

    // `loc:<field>=<code>[,<code>]`: the field is one of the codes or below one of them.
    static bool matches_location(const Value& rec, const std::string& name, const std::string& v);

    response index(const request& req, const account& me);

    response show(const request& req, const std::string& id, const account& me);

    static response not_found(const std::string& resource, const std::string& id);

    // Gives every subform row a unique_id.
    void assign_row_ids(Value& data, rapidjson::Document::AllocatorType& a);

    // JSON-schema and model validation of a write; the error response if refused.
    std::optional<response> validate(const Value& data, const std::string& resource, bool create);

    response create(const request& req, const account& me);

    // RecordMergeDataHashService: hashes merge, subform rows merge by unique_id (rows with
    // "_destroy": true removed), arrays of scalars are replaced.
    static void merge(Value& target, const Value& patch, rapidjson::Document::AllocatorType& a);

    response update(const request& req, const std::string& id, const account& me);

    response disable(const request& req, const std::string& id, const account& me);

    // Transitions --------------------------------------------------------------------------
    Value render_transition(
        const transition& t,
        const account& me,
        bool with_record,
        rapidjson::Document::AllocatorType& a
    );

    static void set_string_array(
        Document& rec, const char* key, const std::vector<std::string>& values
    );

    static std::vector<std::string> string_array(const Document& rec, const char* key);

    void assign(Document& rec, const std::string& user, bool add);

    void touch(Document& rec);

    static bool flag(const Document& rec, const char* key);

    response transitions_list(
        const request& req, const std::string& id, const std::string& type, const account& me
    );

    static const Value* data_of(const json::json_result<Document>& body);

    // Starts a referral or transfer of case `id` from `sender` as `data` asks: the recipient
    // must be able to receive it and the consent rule must hold unless overridden
    // (Transition#consent_given_or_overridden). On success the transition is stored, the
    // case changed, and `t` filled in.
    std::optional<refusal> start_transition(
        const std::string& id,
        const std::string& type,
        const Value& data,
        const account& sender,
        transition& t
    );

    static const char* permission_of(const std::string& type);

    response transition_create(
        const request& req, const std::string& id, const std::string& type, const account& me
    );

    // POST /api/v2/cases/transfers|referrals {"data":{"ids":[...], ...}}: authorised for
    // every case or for none (authorize_all!), then one transition per case in the order
    // given. A case the transition is refused for (consent, recipient) gets an error object
    // whose resource is that case's own transitions path; the others go ahead.
    response transition_bulk(const request& req, const std::string& type, const account& me);

    // A transfer request: a user (needing `request_transfer`, not access to the case) asks
    // the case's owner to transfer it to them. No consent rule; the owner must be able to
    // receive transfers.
    response transfer_request_create(const request& req, const std::string& id, const account& me);

    response transition_update(
        const request& req,
        const std::string& id,
        const std::string& type,
        const std::string& tid,
        bool revoke,
        const account& me
    );

    // Flags (flags.cpp): the `flag` permission and the case in scope, then the flag book.
    response flags(
        const request& req,
        const std::string& id,
        const std::optional<std::string>& flag_id,
        const account& me
    );

    // Routing ------------------------------------------------------------------------------
    response handle(const request& req);
};

}  // namespace casebridge::sandbox
