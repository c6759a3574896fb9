#include "primero/primero_adapter.hpp"

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

namespace casebridge::primero {
namespace {

using rapidjson::Document;
using rapidjson::Value;

constexpr std::string_view epoch_start = "0000-01-01T00:00:00Z";
constexpr int tie_page_size = 1000;
constexpr int max_login_refusals = 2;  // one login and one retry, then stop (lockout is 6)

// Path segments and query values as Primero's clients write them: ':' stays readable in
// RFC 3339 times, everything but unreserved characters is escaped ('+' too).
std::string url_encode(std::string_view s) {
    return percent_encode(s, ":");
}

std::string second_of(std::string_view ts) {
    std::string s(ts.substr(0, 19));
    return s + "Z";
}

std::optional<std::string> plus_seconds(const std::string& ts, std::chrono::seconds d) {
    const auto t = parse_rfc3339(ts);
    if (!t) {
        return std::nullopt;
    }
    return format_rfc3339(std::chrono::floor<std::chrono::seconds>(*t) + d);
}

// What Primero says in errors (reference/primero-v2-api.md §1.3), as phrases of
// allowed_remote_text: i18n keys, fixed texts, field names and JSON pointers to them. Anything
// else (an exception message may quote a value) is withheld.
constexpr std::string_view primero_phrases[] = {
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
constexpr std::string_view primero_names[] = {
    "id", "data", "attachment", "consent", "status", "transitioned_to", "unflag_message"};

field_names names_in(std::string_view request_body) {
    field_names out(std::begin(primero_names), std::end(primero_names));
    collect_field_names(request_body, {}, out);
    return out;
}

// A string, or the strings of an array, each reduced to a known phrase; ", " between them.
std::string allowed_text(const Value& v, const field_names& fields) {
    std::string out;
    const auto add = [&](const Value& item) {
        if (item.IsString()) {
            const auto kept = allowed_remote_text(
                std::string_view(item.GetString(), item.GetStringLength()), primero_phrases, fields
            );
            if (!kept.empty()) {
                out += (out.empty() ? "" : ", ") + kept;
            }
        }
    };
    if (v.IsArray()) {
        for (const auto& item : v.GetArray()) {
            add(item);
        }
    } else {
        add(v);
    }
    return out;
}

// Primero's own message from an error body: errors[0].message [+ detail], or Devise's
// {"error": text}, reduced to known phrases. A 500's message is exception text and is left out.
std::string remote_message(const http_response& r, const field_names& fields) {
    if (r.status == 500) {
        return {};  // exception text, not a message meant for clients
    }
    auto doc = json::parse(r.body);
    if (!doc || !doc->IsObject()) {
        return {};
    }
    if (doc->HasMember("errors") && (*doc)["errors"].IsArray() && !(*doc)["errors"].Empty()) {
        const Value& e = (*doc)["errors"][0];
        if (!e.IsObject()) {
            return {};
        }
        std::string msg = e.HasMember("message") ? allowed_text(e["message"], fields) : "";
        if (e.HasMember("detail")) {
            const std::string d = allowed_text(e["detail"], fields);
            if (!d.empty()) {
                msg += " [" + d + "]";
            }
        }
        return msg;
    }
    if (doc->HasMember("error") && (*doc)["error"].IsString()) {
        return allowed_text((*doc)["error"], fields);
    }
    return {};
}

remote_error with_record(remote_error e, const std::string& id) {
    e.record_id = id;
    return e;
}

std::string transitions_path(const std::string& id, transition_kind kind) {
    return "/api/v2/cases/" + url_encode(id) +
           (kind == transition_kind::referral ? "/referrals" : "/transfers");
}

// /api/v2/cases/<case>/flags[/<flag>], each id one percent-encoded path segment (Boost.URL).
std::string flags_path(const std::string& case_id, const std::string* flag_id) {
    boost::urls::url u;
    u.set_path_absolute(true);
    auto segments = u.segments();
    for (const char* s : {"api", "v2", "cases"}) {
        segments.push_back(s);
    }
    segments.push_back(case_id);
    segments.push_back("flags");
    if (flag_id != nullptr) {
        segments.push_back(*flag_id);
    }
    return std::string(u.buffer());
}

// The three members of a flag casebridge reads: id (an integer, kept as decimal text),
// message and removed. Nothing else of the object (the case's name, owner...) is read.
std::optional<record_flag> flag_of(const Value& v) {
    if (!v.IsObject()) {
        return std::nullopt;
    }
    const auto id = v.FindMember("id");
    if (id == v.MemberEnd() || !(id->value.IsUint64() || id->value.IsInt64())) {
        return std::nullopt;
    }
    record_flag f;
    f.id = id->value.IsUint64() ? std::to_string(id->value.GetUint64())
                                : std::to_string(id->value.GetInt64());
    const auto message = v.FindMember("message");
    if (message != v.MemberEnd()) {
        if (message->value.IsString()) {
            f.message.assign(message->value.GetString(), message->value.GetStringLength());
        } else if (!message->value.IsNull()) {
            return std::nullopt;
        }
    }
    const auto removed = v.FindMember("removed");
    if (removed != v.MemberEnd()) {
        if (removed->value.IsBool()) {
            f.removed = removed->value.GetBool();
        } else if (!removed->value.IsNull()) {
            return std::nullopt;
        }
    }
    return f;
}

remote_error flag_stream_error() {
    return make_remote_error(errc::invalid_config, "the Primero adapter flags stream cases only");
}

// Subform rows (arrays of objects) without a unique_id get one derived from the record key,
// the subform name and the row's position: the same on every retry.
void stabilise_rows(Value& data, const std::string& key, Document::AllocatorType& a) {
    if (!data.IsObject()) {
        return;
    }
    for (auto& m : data.GetObject()) {
        if (!m.value.IsArray()) {
            continue;
        }
        rapidjson::SizeType i = 0;
        for (auto& row : m.value.GetArray()) {
            if (row.IsObject() && !row.HasMember("unique_id")) {
                const std::string uid =
                    uuid_v5(key + "/" + m.name.GetString() + "/" + std::to_string(i));
                row.AddMember("unique_id", Value(uid.c_str(), a), a);
            }
            ++i;
        }
    }
}

struct cursor_state {
    bool tie_phase = false;
    std::string from;  // main: inclusive lower bound; tie: the second being walked
    std::string end;   // inclusive upper bound of the window ("" = not fixed yet)
    int page = 1;
};

std::string encode(const cursor_state& c) {
    return std::string("v1|") + (c.tie_phase ? "tie" : "main") + "|" + c.from + "|" + c.end + "|" +
           std::to_string(c.page);
}

std::optional<cursor_state> decode(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const auto bar = text.find('|', start);
        parts.push_back(text.substr(start, bar - start));
        if (bar == std::string::npos) {
            break;
        }
        start = bar + 1;
    }
    if (parts.size() != 5 || parts[0] != "v1" || (parts[1] != "main" && parts[1] != "tie")) {
        return std::nullopt;
    }
    cursor_state c;
    c.tie_phase = parts[1] == "tie";
    c.from = parts[2];
    c.end = parts[3];
    if (c.from.size() < 19 || (!c.end.empty() && !parse_rfc3339(c.end))) {
        return std::nullopt;
    }
    c.page = std::atoi(parts[4].c_str());
    if (c.page < 1) {
        return std::nullopt;
    }
    return c;
}

}  // namespace

struct primero_adapter::impl {
    settings cfg;
    adapter_env env;
    std::map<std::string, std::string> cookies;  // session mode
    std::string jwt;                             // jwt mode
    bool logged_in = false;
    int login_refusals = 0;
    std::string refused_secret;  // the password refused last (re-enabled when it changes)

    impl(settings s, adapter_env e) : cfg(std::move(s)), env(std::move(e)) {}

    void store_cookies(const http_response& r) {
        for (auto sc : r.headers_named("set-cookie")) {
            const auto semi = sc.find(';');
            const auto pair = sc.substr(0, semi);
            const auto eq = pair.find('=');
            if (eq == std::string_view::npos) {
                continue;
            }
            cookies[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
        }
    }

    remote_result<std::vector<http_header>> auth_headers(const std::string& method) {
        std::vector<http_header> h;
        switch (cfg.auth) {
            case auth_mode::basic: {
                const auto pw = read_secret(cfg.password);
                if (!pw) {
                    return make_remote_error(errc::auth_failed, "password secret is not readable");
                }
                h.push_back({"Authorization", "Basic " + base64_encode(cfg.user_name + ":" + *pw)});
                break;
            }
            case auth_mode::session: {
                std::string jar;
                for (const auto& [k, v] : cookies) {
                    jar += (jar.empty() ? "" : "; ") + k + "=" + v;
                }
                if (!jar.empty()) {
                    h.push_back({"Cookie", jar});
                }
                const auto csrf = cookies.find("CSRF-TOKEN");
                if (method != "GET" && csrf != cookies.end()) {
                    h.push_back({"X-CSRF-Token", csrf->second});
                }
                break;
            }
            case auth_mode::jwt:
                h.push_back({"Authorization", "Bearer " + jwt});
                break;
            case auth_mode::bearer: {
                const auto token = read_secret(secret_source{cfg.token_file, {}});
                if (!token || token->empty()) {
                    return make_remote_error(
                        errc::auth_failed, "bearer token file is not readable"
                    );
                }
                h.push_back({"Authorization", "Bearer " + *token});
                break;
            }
        }
        return h;
    }

    // POST /api/v2/tokens. A refused login is tried once more (with the secret read again),
    // then never again until the secret changes: six refusals lock the account for 30 min.
    awaitable<remote_result<void>> login() {
        for (int attempt = 0; attempt < 2; ++attempt) {
            const auto pw = read_secret(cfg.password);
            if (!pw) {
                co_return make_remote_error(errc::auth_failed, "password secret is not readable");
            }
            if (login_refusals >= max_login_refusals && *pw == refused_secret) {
                co_return make_remote_error(
                    errc::auth_failed,
                    "login refused twice; not trying again until the password changes"
                );
            }
            Document body(rapidjson::kObjectType);
            auto& a = body.GetAllocator();
            Value user(rapidjson::kObjectType);
            user.AddMember("user_name", Value(cfg.user_name.c_str(), a), a);
            user.AddMember("password", Value(pw->c_str(), a), a);
            body.AddMember("user", user, a);
            http_request req;
            req.method = "POST";
            req.url = cfg.base_url + "/api/v2/tokens";
            req.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
            req.body = json::to_string(body);
            auto r = co_await env.http->send(std::move(req));
            if (!r) {
                co_return r.error();
            }
            if (r->status == 200) {
                login_refusals = 0;
                refused_secret.clear();
                if (cfg.auth == auth_mode::session) {
                    cookies.clear();
                    store_cookies(*r);
                    if (cookies.count("_app_session") == 0) {
                        co_return make_remote_error(
                            errc::bad_payload, "login answered without a session cookie", 200
                        );
                    }
                } else {
                    auto doc = json::parse(r->body);
                    if (!doc || !doc->IsObject() || !doc->HasMember("token") ||
                        !(*doc)["token"].IsString()) {
                        co_return make_remote_error(
                            errc::bad_payload, "login answered without a token", 200
                        );
                    }
                    jwt = (*doc)["token"].GetString();
                }
                logged_in = true;
                env.log.info("primero.login", "logged in");
                co_return remote_result<void>{};
            }
            remote_error e = error_from_status(*r);
            e.detail = remote_message(*r, names_in({}));
            if (r->status != 401) {
                co_return e;  // 429 (login throttle), 503 lock...: the engine retries later
            }
            ++login_refusals;
            refused_secret = *pw;
            env.log.warn("primero.login_refused", "login refused", {.error = e.code});
            if (attempt == 1 || login_refusals >= max_login_refusals) {
                co_return e;
            }
        }
        co_return make_remote_error(errc::auth_failed, "login refused");
    }

    // Legacy JWT refresh: POST /api/v2/tokens with the still-valid token, no credentials.
    awaitable<bool> refresh_jwt() {
        if (jwt.empty()) {
            co_return false;
        }
        http_request req;
        req.method = "POST";
        req.url = cfg.base_url + "/api/v2/tokens";
        req.headers = {
            {"Accept", "application/json"},
            {"Content-Type", "application/json"},
            {"Authorization", "Bearer " + jwt}};
        req.body = "{}";
        auto r = co_await env.http->send(std::move(req));
        if (!r || r->status != 200) {
            co_return false;
        }
        auto doc = json::parse(r->body);
        if (!doc || !doc->IsObject() || !doc->HasMember("token") || !(*doc)["token"].IsString()) {
            co_return false;
        }
        jwt = (*doc)["token"].GetString();
        co_return true;
    }

    // One API call with auth; on 401 one re-authentication and one resend. Any other status
    // >= 400 becomes a remote_error carrying Primero's message and `record_id`.
    awaitable<remote_result<http_response>> call(
        std::string method, std::string path, std::string body, std::string record_id
    ) {
        std::string last_token;
        for (int attempt = 0; attempt < 2; ++attempt) {
            if ((cfg.auth == auth_mode::session || cfg.auth == auth_mode::jwt) && !logged_in) {
                auto l = co_await login();
                if (!l) {
                    co_return with_record(l.error(), record_id);
                }
            }
            auto headers = auth_headers(method);
            if (!headers) {
                co_return with_record(headers.error(), record_id);
            }
            http_request req;
            req.method = method;
            req.url = cfg.base_url + path;
            req.headers = std::move(*headers);
            req.headers.push_back({"Accept", "application/json"});
            if (!body.empty()) {
                req.headers.push_back({"Content-Type", "application/json"});
                req.body = body;
            }
            auto r = co_await env.http->send(std::move(req));
            if (!r) {
                co_return with_record(r.error(), record_id);
            }
            if (cfg.auth == auth_mode::session) {
                store_cookies(*r);
            }
            if (r->status == 401 && attempt == 0 && cfg.auth != auth_mode::basic) {
                if (cfg.auth == auth_mode::bearer) {
                    // Re-read the token file once: a rotated token gets one more try.
                    const auto token = read_secret(secret_source{cfg.token_file, {}});
                    if (attempt == 0 && token && !token->empty()) {
                        last_token = *token;
                        continue;
                    }
                } else {
                    env.log.info("primero.reauth", "session or token expired; logging in again");
                    logged_in = false;
                    if (cfg.auth == auth_mode::jwt) {
                        const bool refreshed = co_await refresh_jwt();
                        logged_in = refreshed;
                    }
                    continue;
                }
            }
            if (r->status >= 400) {
                remote_error e = error_from_status(*r);
                e.detail = remote_message(*r, names_in(body));
                e.record_id = record_id;
                co_return e;
            }
            co_return std::move(*r);
        }
        co_return make_remote_error(errc::auth_failed, "authentication failed after a retry");
    }

    // The `data` object of a transition answer, as its own document.
    static remote_result<Document> transition_data(
        const remote_result<http_response>& r, const std::string& id
    ) {
        if (!r) {
            return r.error();
        }
        auto doc = parse_body(*r, id);
        if (!doc) {
            return doc.error();
        }
        if (!doc->HasMember("data") || !(*doc)["data"].IsObject()) {
            return with_record(
                make_remote_error(errc::bad_payload, "transition without data", 200), id
            );
        }
        Document out;
        out.CopyFrom((*doc)["data"], out.GetAllocator());
        return out;
    }

    static remote_result<Document> parse_body(const http_response& r, const std::string& id) {
        auto doc = json::parse(r.body);
        if (!doc || !doc->IsObject()) {
            remote_error e =
                make_remote_error(errc::bad_payload, "response is not a JSON object", r.status);
            e.record_id = id;
            return e;
        }
        return std::move(*doc);
    }

    static remote_result<external_record> to_record(const Value& v) {
        if (!v.IsObject() || !v.HasMember("id") || !v["id"].IsString()) {
            return make_remote_error(errc::bad_payload, "a case without a string id");
        }
        external_record rec;
        rec.stream = "cases";
        rec.remote_id = v["id"].GetString();
        if (!v.HasMember("last_updated_at") || !v["last_updated_at"].IsString() ||
            !parse_rfc3339(v["last_updated_at"].GetString())) {
            remote_error e =
                make_remote_error(errc::bad_payload, "a case without a valid last_updated_at");
            e.record_id = rec.remote_id;
            return e;
        }
        rec.updated_at = v["last_updated_at"].GetString();
        const bool enabled =
            !v.HasMember("enabled") || !v["enabled"].IsBool() || v["enabled"].GetBool();
        const bool state = !v.HasMember("record_state") || !v["record_state"].IsBool() ||
                           v["record_state"].GetBool();
        rec.disabled = !enabled || !state;
        rec.body.CopyFrom(v, rec.body.GetAllocator());
        return rec;
    }

    std::string window_end() const {
        const auto now = std::chrono::floor<std::chrono::seconds>(env.clock->now());
        return format_rfc3339(now - std::chrono::seconds(1));
    }

    awaitable<remote_result<pull_page>> pull(std::optional<std::string> cursor) {
        cursor_state c;
        if (cursor) {
            auto decoded = decode(*cursor);
            if (!decoded) {
                co_return make_remote_error(errc::invalid_config, "unrecognised Primero cursor");
            }
            c = *decoded;
        } else {
            c.from = std::string(epoch_start);
        }
        if (!c.tie_phase && c.end.empty()) {
            c.end = window_end();
            if (second_of(c.from) > second_of(c.end)) {
                pull_page caught_up;
                c.end.clear();
                caught_up.next_cursor = encode(c);
                co_return caught_up;
            }
        }
        const int per = c.tie_phase ? tie_page_size : cfg.per_page;
        std::string path = "/api/v2/cases?last_updated_at=" + url_encode(c.from) + ".." +
                           url_encode(c.tie_phase ? c.from : c.end);
        path += c.tie_phase ? "&order_by=case_id&order=asc" : "&order_by=last_updated_at&order=asc";
        path += "&per=" + std::to_string(per) + "&page=" + std::to_string(c.page);
        auto r = co_await call("GET", path, {}, {});
        if (!r) {
            co_return r.error();
        }
        auto doc = parse_body(*r, {});
        if (!doc) {
            co_return doc.error();
        }
        const Value& d = *doc;
        if (!d.HasMember("data") || !d["data"].IsArray() || !d.HasMember("metadata") ||
            !d["metadata"].IsObject() || !d["metadata"].HasMember("total") ||
            !d["metadata"]["total"].IsUint64()) {
            co_return make_remote_error(
                errc::bad_payload, "list without data or metadata.total", 200
            );
        }
        const auto total = d["metadata"]["total"].GetUint64();
        const auto& data = d["data"].GetArray();
        std::vector<external_record> records;
        for (const auto& item : data) {
            auto rec = to_record(item);
            if (!rec) {
                co_return rec.error();
            }
            records.push_back(std::move(*rec));
        }
        pull_page page;
        if (c.tie_phase) {
            // Every case of one second, ordered by the unique case_id: offsets are stable.
            page.records = std::move(records);
            if (static_cast<std::uint64_t>(c.page) * static_cast<std::uint64_t>(per) < total) {
                ++c.page;
            } else {
                const auto next = plus_seconds(c.from, std::chrono::seconds(1));
                if (!next) {
                    co_return make_remote_error(
                        errc::invalid_config, "unrecognised Primero cursor"
                    );
                }
                c = cursor_state{false, *next, c.end, 1};
            }
            page.has_more = true;
            page.next_cursor = encode(c);
            co_return page;
        }
        if (total <= static_cast<std::uint64_t>(per) &&
            records.size() == static_cast<std::size_t>(total)) {
            // The whole window fitted: the next run starts after it.
            page.records = std::move(records);
            const auto next = plus_seconds(c.end, std::chrono::seconds(1) - cfg.overlap);
            page.next_cursor = encode(cursor_state{false, *next, {}, 1});
            page.has_more = false;
            co_return page;
        }
        if (records.empty()) {
            co_return make_remote_error(
                errc::bad_payload, "list reports more cases than it returns", 200
            );
        }
        // A full page of a larger window: keep the cases of earlier seconds; the last second
        // may continue on the next page (Primero sorts without a tie-breaker), so the next
        // page starts at that second and reads it again from its first case. Only a page that
        // holds nothing but one second cannot move on that way: that second is then walked
        // whole, ordered by case id (the tie phase), so however many cases share a second,
        // none is missed, and a second is read twice only where a page ends inside it.
        const std::string last = second_of(records.back().updated_at);
        for (auto& rec : records) {
            if (second_of(rec.updated_at) < last) {
                page.records.push_back(std::move(rec));
            }
        }
        page.next_cursor = encode(
            page.records.empty() ? cursor_state{true, last, c.end, 1}
                                 : cursor_state{false, last, c.end, 1}
        );
        page.has_more = true;
        co_return page;
    }
};

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url", "auth"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://[^/]+$"},
    "auth": {
      "type": "object",
      "additionalProperties": false,
      "required": ["mode"],
      "properties": {
        "mode": {"enum": ["basic", "session", "jwt", "bearer"]},
        "user_name": {"type": "string", "minLength": 1},
        "password_env": {"type": "string", "minLength": 1},
        "password_file": {"type": "string", "minLength": 1},
        "token_file": {"type": "string", "minLength": 1}
      }
    },
    "per_page": {"type": "integer", "minimum": 1, "maximum": 1000},
    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400}
  }
})";
}

settings settings_from_json(const rapidjson::Value& config) {
    settings s;
    s.base_url = config["base_url"].GetString();
    const auto& auth = config["auth"];
    const std::string mode = auth["mode"].GetString();
    s.auth = mode == "session"  ? auth_mode::session
             : mode == "jwt"    ? auth_mode::jwt
             : mode == "bearer" ? auth_mode::bearer
                                : auth_mode::basic;
    const auto str = [&](const char* k) {
        return auth.HasMember(k) ? std::string(auth[k].GetString()) : std::string{};
    };
    s.user_name = str("user_name");
    s.password.env = str("password_env");
    s.password.file = str("password_file");
    s.token_file = str("token_file");
    if (s.auth == auth_mode::bearer && s.token_file.empty()) {
        throw std::invalid_argument("primero: auth mode bearer needs token_file");
    }
    if (s.auth != auth_mode::bearer &&
        (s.user_name.empty() || (s.password.env.empty() && s.password.file.empty()))) {
        throw std::invalid_argument(
            "primero: auth mode " + mode + " needs user_name and password_env or password_file"
        );
    }
    if (config.HasMember("per_page")) {
        s.per_page = config["per_page"].GetInt();
    }
    if (config.HasMember("overlap_seconds")) {
        s.overlap = std::chrono::seconds(config["overlap_seconds"].GetInt());
    }
    return s;
}

namespace {
std::unique_ptr<adapter> create_adapter(const rapidjson::Value& config, adapter_env env) {
    return std::make_unique<primero_adapter>(settings_from_json(config), std::move(env));
}
}  // namespace

adapter_factory make_factory() {
    return adapter_factory{"primero", config_schema(), &create_adapter};
}

primero_adapter::primero_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.http != nullptr && impl_->env.clock != nullptr);
    if (impl_->cfg.per_page < 1 || impl_->cfg.per_page > 1000) {
        throw std::invalid_argument("primero: per_page must be 1..1000");
    }
    while (!impl_->cfg.base_url.empty() && impl_->cfg.base_url.back() == '/') {
        impl_->cfg.base_url.pop_back();
    }
}

primero_adapter::~primero_adapter() = default;

std::string primero_adapter::client_id_for(std::string_view source_key) {
    return uuid_v5(std::string("primero/case/") + std::string(source_key));
}

namespace {
bool serves(std::string_view stream) {
    return stream == "cases";
}
}  // namespace

awaitable<remote_result<pull_page>> primero_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    co_return co_await impl_->pull(std::move(cursor));
}

awaitable<remote_result<external_record>> primero_adapter::fetch(
    std::string stream, std::string remote_id
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    co_return co_await show(std::move(remote_id));
}

awaitable<remote_result<std::string>> primero_adapter::push(external_record record) {
    if (!record.stream.empty() && !serves(record.stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    if (!record.body.IsObject()) {
        co_return make_remote_error(errc::mapping_failed, "record body is not an object");
    }
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(record.body, a);
    if (record.remote_id.empty()) {
        if (record.source_key.empty()) {
            co_return make_remote_error(errc::mapping_failed, "create without a source key");
        }
        const std::string id = client_id_for(record.source_key);
        data.RemoveMember("id");
        data.AddMember("id", Value(id.c_str(), a), a);
        stabilise_rows(data, id, a);
        payload.AddMember("data", data, a);
        auto r = co_await impl_->call("POST", "/api/v2/cases", json::to_string(payload), id);
        if (r) {
            co_return id;  // 200/204: created
        }
        if (r.error().http_status != 409) {
            co_return r.error();
        }
        // The case exists already (a lost answer, a lost link): this body may be newer than
        // what it holds, so it goes in as the update it is, subform rows keyed as for any
        // update of this id. The engine logs the outcome of this PATCH.
        payload["data"].RemoveMember("id");
        auto u = co_await impl_->call(
            "PATCH", "/api/v2/cases/" + url_encode(id), json::to_string(payload), id
        );
        if (!u) {
            impl_->env.log.warn(
                "primero.create_exists_update_failed",
                "create answered 409 (the case exists); the update that follows failed",
                {.record = record_ref{"primero", id}, .error = u.error().code}
            );
            co_return u.error();
        }
        impl_->env.log.info(
            "primero.create_exists_updated",
            "create answered 409 (the case exists); sent as an update",
            {.record = record_ref{"primero", id}, .counts = {{"http_status", u->status}}}
        );
        co_return id;
    }
    data.RemoveMember("id");
    stabilise_rows(data, record.remote_id, a);
    payload.AddMember("data", data, a);
    auto r = co_await impl_->call(
        "PATCH",
        "/api/v2/cases/" + url_encode(record.remote_id),
        json::to_string(payload),
        record.remote_id
    );
    if (!r) {
        co_return r.error();
    }
    co_return record.remote_id;
}

awaitable<remote_result<std::optional<std::string>>> primero_adapter::lookup(
    std::string stream, std::string source_key
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    const std::string id = client_id_for(source_key);
    auto r = co_await impl_->call("GET", "/api/v2/cases/" + url_encode(id), {}, id);
    if (r) {
        co_return std::optional<std::string>(id);
    }
    if (r.error().http_status == 404) {
        co_return std::optional<std::string>();
    }
    co_return r.error();
}

awaitable<remote_result<std::optional<external_record>>> primero_adapter::lookup_record(
    std::string stream, std::string source_key
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    // The record's id is derived from the source key, so one GET both finds and reads it.
    auto got = co_await show(client_id_for(source_key));
    if (!got) {
        if (got.error().http_status == 404) {
            co_return std::optional<external_record>();
        }
        co_return got.error();
    }
    co_return std::optional<external_record>(std::move(*got));
}

std::vector<std::string> primero_adapter::remote_assigned_fields(std::string_view stream) const {
    if (!serves(stream)) {
        return {};
    }
    return {
        "id",
        "unique_identifier",
        "case_id",
        "case_id_display",
        "short_id",
        "created_at",
        "created_by",
        "posted_at",
        "last_updated_at",
        "last_updated_by",
        "owned_by",
        "associated_user_names"};
}

std::optional<std::string> primero_adapter::credential_fingerprint() const {
    auto pw = read_secret(impl_->cfg.password);
    if (!pw) {
        return std::nullopt;
    }
    return crypto::sha256_hex("primero\n" + impl_->cfg.user_name + "\n" + *pw);
}

bool primero_adapter::can_flag(std::string_view stream) const noexcept {
    return serves(stream);
}

awaitable<remote_result<std::vector<record_flag>>> primero_adapter::list_flags(
    std::string stream, std::string remote_id
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    auto r = co_await impl_->call("GET", flags_path(remote_id, nullptr), {}, remote_id);
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::parse_body(*r, remote_id);
    if (!doc) {
        co_return doc.error();
    }
    if (!doc->HasMember("data") || !(*doc)["data"].IsArray()) {
        co_return with_record(
            make_remote_error(errc::bad_payload, "flags without a data array", r->status), remote_id
        );
    }
    std::vector<record_flag> out;
    for (const auto& item : (*doc)["data"].GetArray()) {
        auto f = flag_of(item);
        if (!f) {
            co_return with_record(
                make_remote_error(errc::bad_payload, "a flag without an integer id", r->status),
                remote_id
            );
        }
        out.push_back(std::move(*f));
    }
    impl_->env.log.debug(
        "primero.flags_listed",
        "flags of a case read",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"flags", static_cast<std::int64_t>(out.size())}}}
    );
    co_return out;
}

namespace {
// The flag of a write's answer ({"data": flag}), or bad_payload.
remote_result<record_flag> written_flag(const http_response& r, const std::string& id) {
    auto doc = json::parse(r.body);
    const Value* data =
        doc && doc->IsObject() && doc->HasMember("data") ? &(*doc)["data"] : nullptr;
    auto f = data != nullptr ? flag_of(*data) : std::nullopt;
    if (!f) {
        return with_record(
            make_remote_error(errc::bad_payload, "flag answer without a flag", r.status), id
        );
    }
    return std::move(*f);
}

std::string flag_body(const char* member, const std::string& text, const std::string* date) {
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(rapidjson::kObjectType);
    data.AddMember(rapidjson::StringRef(member), Value(text.c_str(), a), a);
    if (date != nullptr) {
        data.AddMember("date", Value(date->c_str(), a), a);
    }
    payload.AddMember("data", data, a);
    return json::to_string(payload);
}
}  // namespace

awaitable<remote_result<std::string>> primero_adapter::raise_flag(
    std::string stream, std::string remote_id, std::string message, std::string date
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    auto r = co_await impl_->call(
        "POST", flags_path(remote_id, nullptr), flag_body("message", message, &date), remote_id
    );
    if (!r) {
        co_return r.error();
    }
    auto f = written_flag(*r, remote_id);
    if (!f) {
        co_return f.error();
    }
    impl_->env.log.info(
        "primero.flag_raised",
        "flag raised on a case",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"http_status", static_cast<std::int64_t>(r->status)}}}
    );
    co_return std::move(f->id);
}

awaitable<remote_result<void>> primero_adapter::update_flag(
    std::string stream, std::string remote_id, std::string flag_id, std::string message
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    // Primero replaces both message and date on an update (a missing date fails its
    // validation): the flag is dated the day its text changed.
    const std::string today = format_rfc3339(impl_->env.clock->now()).substr(0, 10);
    auto r = co_await impl_->call(
        "PATCH", flags_path(remote_id, &flag_id), flag_body("message", message, &today), remote_id
    );
    if (!r) {
        co_return r.error();
    }
    if (auto f = written_flag(*r, remote_id); !f) {
        co_return f.error();
    }
    impl_->env.log.info(
        "primero.flag_updated",
        "flag text replaced",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"http_status", static_cast<std::int64_t>(r->status)}}}
    );
    co_return remote_result<void>{};
}

awaitable<remote_result<void>> primero_adapter::resolve_flag(
    std::string stream, std::string remote_id, std::string flag_id, std::string unflag_message
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    auto r = co_await impl_->call(
        "PATCH",
        flags_path(remote_id, &flag_id),
        flag_body("unflag_message", unflag_message, nullptr),
        remote_id
    );
    if (!r) {
        co_return r.error();
    }
    auto f = written_flag(*r, remote_id);
    if (!f) {
        co_return f.error();
    }
    if (!f->removed) {
        co_return with_record(
            make_remote_error(errc::bad_payload, "resolved flag not marked removed", r->status),
            remote_id
        );
    }
    impl_->env.log.info(
        "primero.flag_resolved",
        "flag resolved",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"http_status", static_cast<std::int64_t>(r->status)}}}
    );
    co_return remote_result<void>{};
}

awaitable<remote_result<void>> primero_adapter::probe() {
    auto r = co_await impl_->call("GET", "/api/v2/cases?fields=short&per=1", {}, {});
    if (!r) {
        co_return r.error();
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<external_record>> primero_adapter::show(std::string id) {
    auto r = co_await impl_->call("GET", "/api/v2/cases/" + url_encode(id), {}, id);
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::parse_body(*r, id);
    if (!doc) {
        co_return doc.error();
    }
    if (!doc->HasMember("data")) {
        co_return with_record(make_remote_error(errc::bad_payload, "show without data", 200), id);
    }
    co_return impl::to_record((*doc)["data"]);
}

awaitable<remote_result<void>> primero_adapter::disable(std::string id) {
    auto r = co_await impl_->call("DELETE", "/api/v2/cases/" + url_encode(id), {}, id);
    if (!r) {
        co_return r.error();
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<Document>> primero_adapter::list_transitions(
    std::string id, transition_kind kind
) {
    auto r = co_await impl_->call("GET", transitions_path(id, kind), {}, id);
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::parse_body(*r, id);
    if (!doc) {
        co_return doc.error();
    }
    if (!doc->HasMember("data") || !(*doc)["data"].IsArray()) {
        co_return with_record(make_remote_error(errc::bad_payload, "list without data", 200), id);
    }
    Document out;
    out.CopyFrom((*doc)["data"], out.GetAllocator());
    co_return out;
}

awaitable<remote_result<Document>> primero_adapter::create_transition(
    std::string id, transition_kind kind, Document body
) {
    Document payload(rapidjson::kObjectType);
    Value data(body, payload.GetAllocator());
    payload.AddMember("data", data, payload.GetAllocator());
    auto r = co_await impl_->call("POST", transitions_path(id, kind), json::to_string(payload), id);
    co_return impl::transition_data(r, id);
}

awaitable<remote_result<Document>> primero_adapter::update_transition(
    std::string id,
    transition_kind kind,
    std::string transition_id,
    std::string status,
    std::string rejected_reason
) {
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(rapidjson::kObjectType);
    data.AddMember("status", Value(status.c_str(), a), a);
    if (!rejected_reason.empty()) {
        data.AddMember("rejected_reason", Value(rejected_reason.c_str(), a), a);
    }
    payload.AddMember("data", data, a);
    auto r = co_await impl_->call(
        "PATCH",
        transitions_path(id, kind) + "/" + url_encode(transition_id),
        json::to_string(payload),
        id
    );
    co_return impl::transition_data(r, id);
}

awaitable<remote_result<void>> primero_adapter::mark_synced(
    std::string id, std::string url, std::string status
) {
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(rapidjson::kObjectType);
    data.AddMember("mark_synced", true, a);
    data.AddMember("mark_synced_url", Value(url.c_str(), a), a);
    data.AddMember("mark_synced_status", Value(status.c_str(), a), a);
    payload.AddMember("data", data, a);
    auto r = co_await impl_->call(
        "PATCH", "/api/v2/cases/" + url_encode(id), json::to_string(payload), id
    );
    if (!r) {
        co_return r.error();
    }
    co_return remote_result<void>{};
}

}  // namespace casebridge::primero
