#include "progres_ping/progres_ping_adapter.hpp"

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

namespace casebridge::progres_ping {
namespace {

using rapidjson::Document;
using rapidjson::Value;
using steady = std::chrono::steady_clock;

constexpr std::string_view retrieve_path = "/primes/fetch/paging/v3/retrievedatawithpaging";
constexpr std::string_view check_status_path = "/primes/ingestion/checkstatus/v1/pingdata";
constexpr std::string_view no_data = "No Data Available";
constexpr std::string_view nil_guid = "00000000-0000-0000-0000-000000000000";
constexpr int max_token_refusals = 2;
constexpr int max_fetch_pages = 1000;

remote_error with_record(remote_error e, const std::string& id) {
    if (e.record_id.empty()) {
        e.record_id = id;
    }
    return e;
}

remote_error record_error(
    errc code, std::string detail, const std::string& id, unsigned status = 0
) {
    auto e = make_remote_error(code, std::move(detail), status);
    e.record_id = id;
    return e;
}

// What PING, its API management and Dataverse say in error messages and status items, as
// phrases of allowed_remote_text: anything else is withheld, as a gateway may echo a value.
constexpr std::string_view ping_phrases[] = {
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

// Members of a PING request whose string values are field names.
constexpr std::string_view name_members[] = {"Name", "ParameterName"};

// The OAuth error codes of a refused token request (RFC 6749 §5.2), the only ones kept.
constexpr std::string_view oauth_errors[] = {
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

std::string text_of(const Value* v) {
    if (v == nullptr) {
        return {};
    }
    if (v->IsString()) {
        return {v->GetString(), v->GetStringLength()};
    }
    if (v->IsNumber()) {
        return json::to_string(*v);
    }
    return {};
}

const Value* member(const Value& obj, std::string_view name) {
    if (!obj.IsObject()) {
        return nullptr;
    }
    const auto it =
        obj.FindMember(Value(name.data(), static_cast<rapidjson::SizeType>(name.size())));
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

// A member whose name matches without regard to case (.NET serialisers are case-insensitive).
const Value* member_ci(const Value& obj, std::string_view name) {
    if (const Value* v = member(obj, name)) {
        return v;
    }
    if (!obj.IsObject()) {
        return nullptr;
    }
    for (const auto& m : obj.GetObject()) {
        const std::string_view k(m.name.GetString(), m.name.GetStringLength());
        if (k.size() == name.size() &&
            std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            return &m.value;
        }
    }
    return nullptr;
}

// The remote's own message from an error body (API management's `message` or PING's
// `ErrorMessage`), reduced to a known phrase.
std::string remote_message(const http_response& r, const field_names& fields) {
    if (r.status >= 500) {
        return {};
    }
    auto doc = json::parse(r.body);
    if (!doc || !doc->IsObject()) {
        return {};
    }
    for (const char* name : {"ErrorMessage", "message"}) {
        if (const Value* m = member_ci(*doc, name); m != nullptr && m->IsString()) {
            return allowed_remote_text(
                std::string_view(m->GetString(), m->GetStringLength()), ping_phrases, fields
            );
        }
    }
    return {};
}

// Modified times as PING renders them: RFC 3339, a date, or a UTC time without a zone.
std::optional<time_point> parse_modified(std::string text) {
    if (text.size() == 10) {
        return parse_date(text);
    }
    if (auto t = parse_rfc3339(text)) {
        return t;
    }
    if (text.size() >= 19 && text.find_first_of("Zz+", 19) == std::string::npos &&
        text.find('-', 19) == std::string::npos) {
        return parse_rfc3339(text + "Z");
    }
    return std::nullopt;
}

// Cursor ---------------------------------------------------------------------------------------

struct cursor_state {
    std::string since;  // lower bound of this walk (RFC 3339)
    int page = 1;       // PING page to ask for next
    std::string cookie;
    std::string max;   // newest modified time returned in this walk
    std::string skip;  // id of a record read whole already; its rows on the next page are dropped
};

std::string encode(const cursor_state& c) {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("v", 1, a);
    d.AddMember("since", Value(c.since.c_str(), a), a);
    d.AddMember("page", c.page, a);
    if (!c.cookie.empty()) {
        d.AddMember("cookie", Value(c.cookie.c_str(), a), a);
    }
    if (!c.max.empty()) {
        d.AddMember("max", Value(c.max.c_str(), a), a);
    }
    if (!c.skip.empty()) {
        d.AddMember("skip", Value(c.skip.c_str(), a), a);
    }
    return json::to_string(d);
}

std::optional<cursor_state> decode(const std::string& text) {
    auto d = json::parse(text);
    if (!d || !d->IsObject()) {
        return std::nullopt;
    }
    const Value* v = member(*d, "v");
    const Value* since = member(*d, "since");
    const Value* page = member(*d, "page");
    if (v == nullptr || !v->IsInt() || v->GetInt() != 1 || since == nullptr || !since->IsString() ||
        page == nullptr || !page->IsInt() || page->GetInt() < 1) {
        return std::nullopt;
    }
    cursor_state c;
    c.since = since->GetString();
    c.page = page->GetInt();
    for (auto [name, out] : {std::pair{"cookie", &c.cookie}, {"max", &c.max}, {"skip", &c.skip}}) {
        if (const Value* m = member(*d, name)) {
            if (!m->IsString()) {
                return std::nullopt;
            }
            *out = m->GetString();
        }
    }
    if (!parse_rfc3339(c.since) || (!c.max.empty() && !parse_rfc3339(c.max))) {
        return std::nullopt;
    }
    return c;
}

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

}  // namespace

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

    // The configured names plus those of a request sent (member names, field-list names).
    field_names names_in(std::string_view request_body) const {
        field_names out = config_names;
        collect_field_names(request_body, name_members, out);
        return out;
    }

    const stream_settings* stream(const std::string& name) const {
        const auto it = cfg.streams.find(name);
        return it == cfg.streams.end() ? nullptr : &it->second;
    }

    // Auth -------------------------------------------------------------------------------------

    // A usable token: the current one, the one a request in flight brings, or a new one.
    // Errors: those of request_token (the same error for every caller waiting on it);
    // remote_unavailable when a wait is cancelled or its request is abandoned.
    awaitable<remote_result<void>> ensure_token() {
        for (;;) {
            if (!token.empty() && env.clock->steady_now() < token_renew_at) {
                co_return remote_result<void>{};
            }
            if (!renewing) {
                break;
            }
            const std::shared_ptr<renewal> r = renewing;
            co_await r->done.async_wait(use_nothrow);
            if (!r->outcome) {
                co_return make_remote_error(errc::remote_unavailable, "token request abandoned");
            }
            if (!*r->outcome) {
                co_return *r->outcome;
            }
            // Got one: check it again (a 401 may have dropped it since).
        }
        const auto r = std::make_shared<renewal>(env.executor);
        renewing = r;
        // Ends the renewal however this frame ends (also when destroyed while suspended), so
        // no waiter is left behind.
        struct finish {
            impl* self;
            std::shared_ptr<renewal> r;
            ~finish() {
                if (!r->outcome) {
                    r->outcome =
                        make_remote_error(errc::remote_unavailable, "token request abandoned");
                }
                if (self->renewing == r) {
                    self->renewing.reset();
                }
                r->done.cancel();
            }
        } guard{this, r};
        r->outcome = co_await request_token();
        co_return *r->outcome;
    }

    awaitable<remote_result<void>> request_token() {
        token.clear();
        const auto pw = read_secret(cfg.password);
        if (!pw) {
            co_return make_remote_error(errc::auth_failed, "password secret is not readable");
        }
        if (token_refusals >= max_token_refusals && *pw == refused_secret) {
            co_return make_remote_error(
                errc::auth_failed,
                "token request refused twice; not trying again until the password changes"
            );
        }
        query_params form = {
            {"grant_type", "password"},
            {"client_id", cfg.client_id},
            {"username", cfg.user_name},
            {"password", *pw},
            {"scope", cfg.scope},
            {"response_type", "token"}};
        if (!cfg.client_secret.empty()) {
            const auto secret = read_secret(cfg.client_secret);
            if (!secret) {
                co_return make_remote_error(errc::auth_failed, "client secret is not readable");
            }
            form.emplace_back("client_secret", *secret);
        }
        std::string body = form_encode(form);
        http_request req;
        req.method = "POST";
        req.url = cfg.token_url;
        req.headers = {
            {"Accept", "application/json"}, {"Content-Type", "application/x-www-form-urlencoded"}};
        if (!cfg.token_geo.empty()) {
            req.headers.push_back({"Cookie", "x-ms-cpim-geo=" + cfg.token_geo});
        }
        req.body = std::move(body);
        auto r = co_await env.http->send(std::move(req));
        if (!r) {
            co_return r.error();
        }
        if (r->status == 400 || r->status == 401) {
            // B2C: {"error": "invalid_grant", "error_description": "AADB2C90225: ..."}
            std::string code;
            if (auto doc = json::parse(r->body); doc && doc->IsObject()) {
                const std::string sent = text_of(member(*doc, "error"));
                if (std::find(std::begin(oauth_errors), std::end(oauth_errors), sent) !=
                    std::end(oauth_errors)) {
                    code = sent;  // a code from the list, never other text of the answer
                }
            }
            if (code.empty() || code == "invalid_grant" || r->status == 401) {
                ++token_refusals;
                refused_secret = *pw;
            }
            env.log.warn(
                "ping.token_refused",
                "token request refused",
                {.error = make_error_code(errc::auth_failed),
                 .counts = {{"http_status", r->status}}}
            );
            co_return make_remote_error(
                errc::auth_failed,
                "token request refused" + (code.empty() ? std::string{} : " (" + code + ")"),
                r->status
            );
        }
        if (status_errc(r->status, r->retry_after.has_value())) {
            co_return error_from_status(*r);
        }
        auto doc = json::parse(r->body);
        const Value* access = doc && doc->IsObject() ? member(*doc, "access_token") : nullptr;
        if (access == nullptr || !access->IsString() || access->GetStringLength() == 0) {
            co_return make_remote_error(
                errc::bad_payload, "token answer without an access_token", r->status
            );
        }
        long long lifetime = 3600;
        if (const Value* e = member(*doc, "expires_in")) {
            if (e->IsInt64()) {
                lifetime = e->GetInt64();
            } else if (e->IsString()) {
                char* end = nullptr;
                lifetime = std::strtoll(e->GetString(), &end, 10);
                if (end == e->GetString() || *end != '\0') {
                    lifetime = -1;
                }
            } else {
                lifetime = -1;
            }
        }
        if (lifetime <= 0) {
            co_return make_remote_error(
                errc::bad_payload, "token answer with an unusable expires_in", r->status
            );
        }
        const auto life = std::chrono::seconds(lifetime);
        const auto margin = std::min<std::chrono::seconds>(cfg.renew_before, life / 2);
        token = access->GetString();
        token_renew_at = env.clock->steady_now() + life - margin;
        token_refusals = 0;
        refused_secret.clear();
        env.log.info(
            "ping.token", "access token obtained", {.counts = {{"expires_in_s", lifetime}}}
        );
        co_return remote_result<void>{};
    }

    // One API call (POST, JSON). A 401 drops the token: one new token, one resend (API
    // management refuses before PING sees the request, so the resend cannot write twice).
    awaitable<remote_result<http_response>> call(
        std::string_view path, std::string body, const std::string& record_id
    ) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto t = co_await ensure_token();
            if (!t) {
                co_return with_record(t.error(), record_id);
            }
            const auto key = read_secret(cfg.subscription_key);
            if (!key) {
                co_return record_error(
                    errc::auth_failed, "subscription key secret is not readable", record_id
                );
            }
            const std::string used = token;
            http_request req;
            req.method = "POST";
            req.url = cfg.base_url + std::string(path);
            req.headers = {
                {"Authorization", "Bearer " + used},
                {"Ocp-Apim-Subscription-Key", *key},
                {"Accept", "application/json"},
                {"Content-Type", "application/json"}};
            req.body = body;
            auto r = co_await env.http->send(std::move(req));
            if (!r) {
                co_return with_record(r.error(), record_id);
            }
            if (r->status == 401 && attempt == 0) {
                env.log.info("ping.reauth", "refused with 401; renewing the token once");
                if (token == used) {
                    token.clear();  // not when another call has renewed it meanwhile
                }
                continue;
            }
            if (status_errc(r->status, r->retry_after.has_value())) {
                remote_error e = error_from_status(*r);
                e.detail = remote_message(*r, names_in(body));
                co_return with_record(std::move(e), record_id);
            }
            co_return std::move(*r);
        }
        co_return record_error(errc::auth_failed, "refused after a new token", record_id, 401);
    }

    static remote_result<Document> parse_object(const http_response& r, const std::string& id) {
        auto doc = json::parse(r.body);
        if (!doc || !doc->IsObject()) {
            return record_error(errc::bad_payload, "answer is not a JSON object", id, r.status);
        }
        return std::move(*doc);
    }

    // Retrieval --------------------------------------------------------------------------------

    awaitable<remote_result<page_result>> retrieve(
        const std::string& shipping_process,
        const std::vector<query_parameter>& parameters,
        int page,
        const std::string& cookie,
        const std::string& record_id
    ) {
        Document body(rapidjson::kObjectType);
        auto& a = body.GetAllocator();
        body.AddMember("ShippingProcessId", Value(shipping_process.c_str(), a), a);
        body.AddMember("PartnerId", Value(cfg.partner_id.c_str(), a), a);
        body.AddMember("InteropID", Value(cfg.interop_id.c_str(), a), a);
        body.AddMember("APIVersion", Value(cfg.retrieve_api_version.c_str(), a), a);
        Value params(rapidjson::kArrayType);
        for (const auto& p : parameters) {
            Value item(rapidjson::kObjectType);
            item.AddMember("ParameterName", Value(p.name.c_str(), a), a);
            item.AddMember("Value", Value(p.value.c_str(), a), a);
            params.PushBack(item, a);
        }
        body.AddMember("QueryParameters", params, a);
        body.AddMember("PageNumber", page, a);
        if (cookie.empty()) {
            body.AddMember("PagingCookie", Value(rapidjson::kNullType), a);
        } else {
            body.AddMember("PagingCookie", Value(cookie.c_str(), a), a);
        }
        const std::string text = json::to_string(body);
        auto r = co_await call(retrieve_path, text, record_id);
        if (!r) {
            co_return r.error();
        }
        auto doc = parse_object(*r, record_id);
        if (!doc) {
            co_return doc.error();
        }
        page_result out;
        out.doc = std::move(*doc);
        if (const Value* m = member_ci(out.doc, "ErrorMessage");
            m != nullptr && m->IsString() && m->GetStringLength() > 0) {
            co_return record_error(
                errc::remote_rejected,
                allowed_remote_text(
                    std::string_view(m->GetString(), m->GetStringLength()),
                    ping_phrases,
                    names_in(text)
                ),
                record_id,
                r->status
            );
        }
        const Value* data = member_ci(out.doc, "Data");
        if (data != nullptr && data->IsString()) {
            std::string_view s(data->GetString(), data->GetStringLength());
            while (!s.empty() && s.back() == ' ') {
                s.remove_suffix(1);
            }
            if (s.size() != no_data.size() ||
                !std::equal(s.begin(), s.end(), no_data.begin(), [](char x, char y) {
                    return std::tolower(static_cast<unsigned char>(x)) ==
                           std::tolower(static_cast<unsigned char>(y));
                })) {
                co_return record_error(
                    errc::bad_payload,
                    "Data is neither rows nor \"No Data Available\"",
                    record_id,
                    r->status
                );
            }
        } else if (data != nullptr && data->IsArray()) {
            for (const auto& row : data->GetArray()) {
                if (!row.IsObject()) {
                    co_return record_error(
                        errc::bad_payload, "a row that is not an object", record_id, r->status
                    );
                }
            }
        } else if (data != nullptr && !data->IsNull()) {
            co_return record_error(
                errc::bad_payload, "Data of an unknown shape", record_id, r->status
            );
        }
        if (const Value* ps = member_ci(out.doc, "PagingSummary");
            ps != nullptr && ps->IsObject()) {
            if (const Value* more = member_ci(*ps, "IsMoreRecordsAvailable")) {
                out.more = more->IsBool() && more->GetBool();
            }
            out.cookie = text_of(member_ci(*ps, "PagingCookie"));
        }
        if (out.more && (out.rows() == nullptr || out.rows()->Empty())) {
            co_return record_error(
                errc::bad_payload,
                "more records announced after an empty page",
                record_id,
                r->status
            );
        }
        co_return out;
    }

    // Every row of one record by id, walking the fetch query's pages.
    awaitable<remote_result<Document>> fetch_rows(const stream_settings& s, const std::string& id) {
        Document rows(rapidjson::kArrayType);
        auto params = s.fetch->parameters;
        params.push_back({s.fetch->id_parameter, id});
        std::string cookie;
        for (int page = 1; page <= max_fetch_pages; ++page) {
            auto r = co_await retrieve(s.fetch->shipping_process_id, params, page, cookie, id);
            if (!r) {
                co_return r.error();
            }
            if (const Value* data = r->rows()) {
                for (const auto& row : data->GetArray()) {
                    if (text_of(member(row, s.id_field)) == id) {
                        rows.PushBack(Value(row, rows.GetAllocator()), rows.GetAllocator());
                    }
                }
            }
            if (!r->more) {
                co_return rows;
            }
            cookie = r->cookie;
        }
        co_return record_error(errc::bad_payload, "record spans too many pages", id);
    }

    // Builds one record from rows of one id (deduplicated; an array for grouped streams).
    remote_result<external_record> to_record(
        const std::string& stream_name,
        const stream_settings& s,
        const std::vector<const Value*>& rows
    ) const {
        external_record rec;
        rec.stream = stream_name;
        rec.remote_id = text_of(member(*rows.front(), s.id_field));
        std::optional<time_point> newest;
        std::set<std::string> seen;
        std::vector<const Value*> distinct;
        for (const Value* row : rows) {
            if (text_of(member(*row, s.id_field)) != rec.remote_id) {
                return record_error(
                    errc::bad_payload, "rows of one group name different records", rec.remote_id
                );
            }
            const auto t = parse_modified(text_of(member(*row, s.modified_field)));
            if (!t) {
                return record_error(
                    errc::bad_payload, "a row without a valid " + s.modified_field, rec.remote_id
                );
            }
            newest = newest ? std::max(*newest, *t) : *t;
            if (seen.insert(json::canonical(*row)).second) {
                distinct.push_back(row);
            }
        }
        rec.updated_at = format_rfc3339(*newest);
        auto& a = rec.body.GetAllocator();
        if (!s.group_field.empty()) {
            rec.body.SetArray();
            for (const Value* row : distinct) {
                rec.body.PushBack(Value(*row, a), a);
            }
        } else {
            if (distinct.size() != 1) {
                return record_error(
                    errc::bad_payload, "several different rows for one record", rec.remote_id
                );
            }
            rec.body.CopyFrom(*distinct.front(), a);
        }
        return rec;
    }

    awaitable<remote_result<pull_page>> pull(
        const std::string& stream_name, const stream_settings& s, std::optional<std::string> cursor
    ) {
        cursor_state c;
        if (cursor) {
            auto decoded = decode(*cursor);
            if (!decoded) {
                co_return make_remote_error(errc::invalid_config, "unrecognised PING cursor");
            }
            c = std::move(*decoded);
        } else {
            c.since = s.pull->initial_since;
        }
        auto params = s.pull->parameters;
        if (!s.pull->since_parameter.empty()) {
            params.push_back({s.pull->since_parameter, c.since});
        }
        auto r = co_await retrieve(s.pull->shipping_process_id, params, c.page, c.cookie, {});
        if (!r) {
            co_return r.error();
        }
        const bool grouped = !s.group_field.empty();
        // Rows by record, in order of first appearance; rows of the record read whole on the
        // previous call are dropped.
        std::vector<std::string> order;
        std::unordered_map<std::string, std::vector<const Value*>> groups;
        std::string last_id;
        if (const Value* rows = r->rows()) {
            for (const auto& row : rows->GetArray()) {
                const std::string id = text_of(member(row, s.id_field));
                if (id.empty()) {
                    co_return make_remote_error(
                        errc::bad_payload, "a row without " + s.id_field, 200
                    );
                }
                if (grouped && text_of(member(row, s.group_field)).empty()) {
                    co_return record_error(
                        errc::bad_payload, "a row without " + s.group_field, id, 200
                    );
                }
                last_id = id;
                if (id == c.skip) {
                    continue;
                }
                auto [it, fresh] = groups.try_emplace(id);
                if (fresh) {
                    order.push_back(id);
                }
                it->second.push_back(&row);
            }
        }
        std::string skip;
        Document reread;
        if (r->more && grouped) {
            if (last_id == c.skip) {
                skip = c.skip;  // the whole page continued that record
            } else {
                // The last record's rows may continue on the next page: read it whole now and
                // drop its rows there.
                auto whole = co_await fetch_rows(s, last_id);
                if (!whole) {
                    co_return whole.error();
                }
                reread = std::move(*whole);
                auto& rows = groups[last_id];
                rows.clear();
                for (const auto& row : reread.GetArray()) {
                    rows.push_back(&row);
                }
                if (rows.empty()) {
                    env.log.warn(
                        "ping.record_gone",
                        "a record on a page boundary is no longer readable; left out",
                        {.record = record_ref{"progres_ping", last_id}}
                    );
                    order.erase(std::remove(order.begin(), order.end(), last_id), order.end());
                }
                skip = last_id;
            }
        }
        pull_page page;
        for (const auto& id : order) {
            auto rec = to_record(stream_name, s, groups[id]);
            if (!rec) {
                co_return rec.error();
            }
            if (c.max.empty() || rec->updated_at > c.max) {
                c.max = rec->updated_at;
            }
            page.records.push_back(std::move(*rec));
        }
        env.log.debug(
            "ping.page",
            "page read",
            {.counts =
                 {{"page", c.page},
                  {"records", static_cast<std::int64_t>(page.records.size())},
                  {"more", r->more ? 1 : 0}}}
        );
        if (r->more) {
            c.page += 1;
            c.cookie = r->cookie;
            c.skip = skip;
            page.has_more = true;
        } else {
            if (!c.max.empty()) {
                const auto next = *parse_rfc3339(c.max) - cfg.overlap;
                c.since = std::max(c.since, format_rfc3339(next));
            }
            c = cursor_state{c.since, 1, {}, {}, {}};
            page.has_more = false;
        }
        page.next_cursor = encode(c);
        co_return page;
    }

    // Writes -----------------------------------------------------------------------------------

    // The outcome of the item written as `external_id` in a status answer.
    remote_result<write_outcome> outcome_of(
        const Value& answer,
        const push_settings& p,
        const std::string& external_id,
        const std::string& record_id,
        const field_names& fields
    ) const {
        const Value* data = member_ci(answer, "Data");
        if (data == nullptr || data->IsNull()) {
            return write_outcome{item_state::pending, {}};  // no status yet
        }
        std::optional<std::vector<status_item>> items;
        if (data->IsString()) {
            items = read_status(std::string_view(data->GetString(), data->GetStringLength()));
        } else {
            items = read_status(*data);
        }
        if (!items) {
            return record_error(errc::bad_payload, "status Data cannot be read", record_id, 200);
        }
        if (items->empty()) {
            return write_outcome{item_state::pending, {}};
        }
        const status_item* item = &items->front();
        for (const auto& i : *items) {
            if (i.external_id == external_id) {
                item = &i;
            }
        }
        write_outcome out;
        out.state = item->state;
        out.message = allowed_remote_text(item->message, ping_phrases, fields);
        if (item->data.IsObject()) {
            out.id = text_of(member(item->data, p.result_id_field));
        }
        return out;
    }

    awaitable<remote_result<write_outcome>> check_status(
        const push_settings& p,
        const std::string& transaction,
        const std::string& record_id,
        const field_names& fields
    ) {
        Document body(rapidjson::kObjectType);
        auto& a = body.GetAllocator();
        body.AddMember("ShippingProcessId", Value(p.shipping_process_id.c_str(), a), a);
        body.AddMember("InteropID", Value(cfg.interop_id.c_str(), a), a);
        body.AddMember("PartnerId", Value(cfg.partner_id.c_str(), a), a);
        body.AddMember("SPHTransactionId", Value(transaction.c_str(), a), a);
        auto r = co_await call(check_status_path, json::to_string(body), record_id);
        if (!r) {
            co_return r.error();
        }
        auto doc = parse_object(*r, record_id);
        if (!doc) {
            co_return doc.error();
        }
        co_return outcome_of(*doc, p, {}, record_id, fields);
    }

    // The result id: from the status, else from the written fields.
    static std::string result_id(
        const write_outcome& o, const Value& fields, const push_settings& p
    ) {
        if (!o.id.empty()) {
            return o.id;
        }
        for (const auto& f : fields.GetArray()) {
            if (text_of(member(f, "Name")) == p.result_id_field) {
                return text_of(member(f, "Value"));
            }
        }
        return {};
    }

    awaitable<remote_result<std::optional<std::string>>> find_by_key(
        const push_settings& p, const std::string& key
    ) {
        auto params = p.lookup->parameters;
        params.push_back({p.lookup->key_parameter, key});
        auto r = co_await retrieve(p.lookup->shipping_process_id, params, 1, {}, key);
        if (!r) {
            co_return r.error();
        }
        std::set<std::string> ids;
        if (const Value* rows = r->rows()) {
            for (const auto& row : rows->GetArray()) {
                if (const Value* f = member(row, p.correlation_field);
                    f != nullptr && text_of(f) != key) {
                    continue;  // a row for another key
                }
                const std::string id = text_of(member(row, p.result_id_field));
                if (id.empty()) {
                    co_return record_error(
                        errc::bad_payload, "a look-up row without " + p.result_id_field, key, 200
                    );
                }
                ids.insert(id);
            }
        }
        if (ids.empty()) {
            co_return std::optional<std::string>{};
        }
        if (ids.size() > 1) {
            co_return record_error(
                errc::multiple_matches, "several records carry one correlation key", key
            );
        }
        co_return std::optional<std::string>(*ids.begin());
    }

    // What an earlier create without a definite answer became. nullopt: nothing was written
    // (or the wait is over); an error: still unknown.
    awaitable<remote_result<std::optional<std::string>>> settle_pending(
        const std::string& stream_name,
        const push_settings& p,
        const std::string& source_key,
        const std::string& key
    ) {
        const std::pair<std::string, std::string> slot{stream_name, source_key};
        std::string transaction;
        if (const auto it = pending.find(slot); it != pending.end()) {
            if (!it->second.found.empty()) {
                co_return std::optional<std::string>(it->second.found);
            }
            transaction = it->second.transaction;
        }
        if (!transaction.empty()) {
            auto st = co_await check_status(p, transaction, key, config_names);
            if (!st) {
                co_return st.error();
            }
            // Other calls may have changed `pending` while this one waited: the entry is found
            // again, and changed only while it still stands for the transaction checked.
            const auto it = pending.find(slot);
            const bool same = it != pending.end() && it->second.transaction == transaction;
            if (st->state == item_state::succeeded && !st->id.empty()) {
                if (same) {
                    it->second.found = st->id;
                }
                co_return std::optional<std::string>(st->id);
            }
            if (st->state == item_state::failed) {
                if (same) {
                    pending.erase(it);
                }
                co_return std::optional<std::string>{};
            }
            if (st->state != item_state::succeeded) {
                co_return record_error(
                    errc::remote_unavailable, "ingestion still in progress", key
                );
            }
            // Succeeded without naming the record: find it by its key below.
        }
        auto found = co_await find_by_key(p, key);
        if (!found) {
            co_return found.error();
        }
        if (*found) {
            if (auto p2 = pending.find(slot); p2 != pending.end()) {
                p2->second.found = **found;
            }
            co_return found;
        }
        const auto again = pending.find(slot);
        if (again != pending.end()) {
            const auto waited = env.clock->steady_now() - again->second.since;
            if (p.mode == write_mode::async && waited < cfg.async_grace) {
                auto e = record_error(
                    errc::rate_limited, "an earlier write may still be in PING's queue", key
                );
                e.retry_after = std::chrono::ceil<std::chrono::seconds>(cfg.async_grace - waited);
                co_return e;
            }
            pending.erase(again);
        }
        co_return std::optional<std::string>{};
    }

    awaitable<remote_result<std::string>> push(
        const std::string& stream_name, const push_settings& p, external_record record
    ) {
        const Value& body = record.body;
        const Value* fields = member(body, "Fields");
        if (!body.IsObject() || fields == nullptr || !fields->IsArray()) {
            co_return record_error(
                errc::mapping_failed, "record body is not a PING field list", record.remote_id
            );
        }
        for (const auto& f : fields->GetArray()) {
            if (!f.IsObject() || member(f, "Name") == nullptr || !member(f, "Name")->IsString()) {
                co_return record_error(
                    errc::mapping_failed, "a field without a Name", record.remote_id
                );
            }
        }
        const bool create = p.writes == write_kind::create;
        std::string key;
        if (create && !record.remote_id.empty()) {
            co_return record_error(
                errc::invalid_config,
                "this PING stream only creates records; an existing one cannot be updated",
                record.remote_id
            );
        }
        if (create) {
            if (record.source_key.empty()) {
                co_return record_error(
                    errc::mapping_failed, "create without a source key", record.remote_id
                );
            }
            key = progres_ping_adapter::correlation_key_for(stream_name, record.source_key);
            if (pending.count({stream_name, record.source_key}) != 0) {
                auto settled = co_await settle_pending(stream_name, p, record.source_key, key);
                if (!settled) {
                    co_return settled.error();
                }
                if (*settled) {
                    co_return **settled;
                }
            }
        }
        Document payload(rapidjson::kObjectType);
        auto& a = payload.GetAllocator();
        Value item(rapidjson::kObjectType);
        std::string external_id = text_of(member(body, "ExternalId"));
        if (external_id.empty()) {
            external_id = create ? key : record.remote_id;
        }
        const std::string record_id = !record.remote_id.empty() ? record.remote_id
                                      : !key.empty()            ? key
                                                                : external_id;
        item.AddMember("ExternalId", Value(external_id.c_str(), a), a);
        if (p.mode == write_mode::async && create) {
            item.AddMember("ExternalGUID", Value(key.c_str(), a), a);
        }
        const Value* attachments = member(body, "Attachments");
        item.AddMember(
            "Attachments",
            attachments != nullptr && attachments->IsArray() ? Value(*attachments, a)
                                                             : Value(rapidjson::kArrayType),
            a
        );
        Value out_fields(rapidjson::kArrayType);
        for (const auto& f : fields->GetArray()) {
            const std::string name = text_of(member(f, "Name"));
            if (create && name == p.correlation_field) {
                co_return record_error(
                    errc::mapping_failed,
                    "the mapping writes the correlation field " + p.correlation_field,
                    record_id
                );
            }
            const bool replaced = std::any_of(
                p.set_fields.begin(),
                p.set_fields.end(),
                [&](const query_parameter& s) { return s.name == name; }
            );
            if (!replaced) {
                out_fields.PushBack(Value(f, a), a);
            }
        }
        const auto add_field = [&](const std::string& name, const std::string& value) {
            Value f(rapidjson::kObjectType);
            f.AddMember("Name", Value(name.c_str(), a), a);
            f.AddMember("Value", Value(value.c_str(), a), a);
            out_fields.PushBack(f, a);
        };
        for (const auto& s : p.set_fields) {
            add_field(s.name, s.value);
        }
        if (create) {
            add_field(p.correlation_field, key);
        }
        item.AddMember("Fields", out_fields, a);
        Value data(rapidjson::kArrayType);
        data.PushBack(item, a);
        payload.AddMember("ShippingProcessId", Value(p.shipping_process_id.c_str(), a), a);
        const bool async = p.mode == write_mode::async;
        payload.AddMember(async ? "InteropID" : "InteropId", Value(cfg.interop_id.c_str(), a), a);
        if (async) {
            payload.AddMember("APIVersion", Value(cfg.ingest_api_version.c_str(), a), a);
        }
        payload.AddMember("Data", data, a);
        const std::string path =
            "/api/ingestion/v2/" + cfg.partner_id + (async ? "/asyncdata" : "/data");
        const auto sent_at = env.clock->steady_now();
        const std::string payload_text = json::to_string(payload);
        const field_names names = names_in(payload_text);
        auto r = co_await call(path, payload_text, record_id);
        if (!r) {
            if (create && r.error().http_status == 0 && r.error().transient()) {
                // Sent, maybe applied, no answer: lookup decides before anything is sent again.
                pending[{stream_name, record.source_key}] = pending_write{{}, sent_at};
            }
            co_return r.error();
        }
        const Value& written = payload["Data"][0]["Fields"];
        auto doc = parse_object(*r, record_id);
        if (!doc) {
            if (create) {
                pending[{stream_name, record.source_key}] = pending_write{{}, sent_at};
            }
            co_return doc.error();
        }
        const std::string transaction = text_of(member_ci(*doc, "SPHTransactionId"));
        write_outcome outcome;
        if (!async) {
            auto o = outcome_of(*doc, p, external_id, record_id, names);
            if (!o) {
                co_return o.error();
            }
            outcome = *o;
            if (outcome.state == item_state::pending && transaction.empty()) {
                // A synchronous write that answers without a status: PING took it.
                outcome.state = item_state::succeeded;
            }
        } else {
            if (transaction.empty()) {
                if (create) {
                    pending[{stream_name, record.source_key}] = pending_write{{}, sent_at};
                }
                co_return record_error(
                    errc::bad_payload,
                    "asyncdata answered without SPHTransactionId",
                    record_id,
                    r->status
                );
            }
            outcome.state = item_state::pending;
            for (int i = 0; i < cfg.status_checks && outcome.state == item_state::pending; ++i) {
                if (i > 0 && cfg.status_interval.count() > 0) {
                    net::steady_timer timer(env.executor, cfg.status_interval);
                    co_await timer.async_wait(use_nothrow);
                }
                auto st = co_await check_status(p, transaction, record_id, names);
                if (!st) {
                    if (create) {
                        pending[{stream_name, record.source_key}] =
                            pending_write{transaction, sent_at};
                    }
                    co_return st.error();
                }
                outcome = *st;
            }
        }
        switch (outcome.state) {
            case item_state::succeeded: {
                const std::string id = result_id(outcome, written, p);
                if (id.empty()) {
                    if (create) {
                        pending[{stream_name, record.source_key}] =
                            pending_write{transaction, sent_at};
                    }
                    co_return record_error(
                        errc::bad_payload, "the status names no " + p.result_id_field, record_id
                    );
                }
                pending.erase({stream_name, record.source_key});
                env.log.debug(
                    "ping.written", "write applied", {.record = record_ref{"progres_ping", id}}
                );
                co_return id;
            }
            case item_state::failed:
                pending.erase({stream_name, record.source_key});
                co_return record_error(
                    errc::remote_rejected,
                    "PING reports the write as failed" +
                        (outcome.message.empty() ? std::string{} : ": " + outcome.message),
                    record_id,
                    r->status
                );
            case item_state::pending:
            case item_state::unknown:
                if (create) {
                    pending[{stream_name, record.source_key}] = pending_write{transaction, sent_at};
                }
                co_return record_error(
                    errc::remote_unavailable,
                    outcome.state == item_state::pending ? "ingestion still in progress"
                                                         : "ingestion status not recognised",
                    record_id
                );
        }
        co_return record_error(errc::bad_payload, "ingestion status not recognised", record_id);
    }
};

namespace {
std::unique_ptr<adapter> create_adapter(const rapidjson::Value& config, adapter_env env) {
    return std::make_unique<progres_ping_adapter>(settings_from_json(config), std::move(env));
}
}  // namespace

adapter_factory make_factory() {
    return adapter_factory{"progres_ping", config_schema(), &create_adapter};
}

progres_ping_adapter::progres_ping_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.http != nullptr && impl_->env.clock != nullptr);
    while (!impl_->cfg.base_url.empty() && impl_->cfg.base_url.back() == '/') {
        impl_->cfg.base_url.pop_back();
    }
    if (impl_->cfg.status_checks < 1) {
        throw std::invalid_argument("progres_ping: status_checks must be at least 1");
    }
}

progres_ping_adapter::~progres_ping_adapter() = default;

std::string progres_ping_adapter::correlation_key_for(
    std::string_view stream, std::string_view source_key
) {
    return uuid_v5("progres_ping/" + std::string(stream) + "/" + std::string(source_key));
}

awaitable<remote_result<pull_page>> progres_ping_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->pull) {
        co_return make_remote_error(errc::not_found, "this PING stream is not configured for pull");
    }
    co_return co_await impl_->pull(stream, *s, std::move(cursor));
}

awaitable<remote_result<external_record>> progres_ping_adapter::fetch(
    std::string stream, std::string remote_id
) {
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->fetch) {
        co_return record_error(
            errc::not_found, "this PING stream is not configured for fetch", remote_id
        );
    }
    auto rows = co_await impl_->fetch_rows(*s, remote_id);
    if (!rows) {
        co_return rows.error();
    }
    if (rows->Empty()) {
        co_return record_error(errc::not_found, "no such record", remote_id);
    }
    std::vector<const Value*> list;
    for (const auto& row : rows->GetArray()) {
        list.push_back(&row);
    }
    co_return impl_->to_record(stream, *s, list);
}

awaitable<remote_result<std::string>> progres_ping_adapter::push(external_record record) {
    const std::string stream = record.stream;
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->push) {
        co_return record_error(
            errc::not_found, "this PING stream is not configured for push", record.remote_id
        );
    }
    co_return co_await impl_->push(stream, *s->push, std::move(record));
}

bool progres_ping_adapter::can_update(std::string_view stream) const noexcept {
    const stream_settings* s = impl_->stream(std::string(stream));
    return s == nullptr || !s->push || s->push->writes != write_kind::create;
}

awaitable<remote_result<std::optional<std::string>>> progres_ping_adapter::lookup(
    std::string stream, std::string source_key
) {
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->push) {
        co_return make_remote_error(errc::not_found, "this PING stream is not configured for push");
    }
    if (s->push->writes == write_kind::update) {
        co_return std::optional<std::string>{};
    }
    const std::string key = correlation_key_for(stream, source_key);
    co_return co_await impl_->settle_pending(stream, *s->push, source_key, key);
}

std::optional<std::string> progres_ping_adapter::credential_fingerprint() const {
    auto pw = read_secret(impl_->cfg.password);
    if (!pw) {
        return std::nullopt;
    }
    // The password grant is what a lockout counts; the client secret and the subscription
    // key are part of what was presented, so a change to either also allows a new attempt.
    const auto secret = read_secret(impl_->cfg.client_secret).value_or("");
    const auto key = read_secret(impl_->cfg.subscription_key).value_or("");
    return crypto::sha256_hex(
        "progres_ping\n" + impl_->cfg.user_name + "\n" + *pw + "\n" + secret + "\n" + key
    );
}

awaitable<remote_result<void>> progres_ping_adapter::probe() {
    auto t = co_await impl_->ensure_token();
    if (!t) {
        co_return t.error();
    }
    for (const auto& [name, s] : impl_->cfg.streams) {
        if (s.fetch) {
            auto rows = co_await impl_->fetch_rows(s, std::string(nil_guid));
            if (!rows) {
                co_return rows.error();
            }
            break;
        }
    }
    co_return remote_result<void>{};
}

}  // namespace casebridge::progres_ping
