#include "sandbox/primero/primero_sandbox.hpp"

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
#include "sandbox/primero/synthetic_cases.hpp"

namespace casebridge::sandbox {
namespace {

using rapidjson::Document;
using rapidjson::Value;
using param_list = std::vector<std::pair<std::string, std::string>>;

// "status[0]=open&status[1]=closed" → ("status","open,closed"); other pairs as given. A '+'
// is a space, as Rails reads it. nullopt for a bad percent-escape.
std::optional<param_list> rails_params(std::string_view q) {
    auto decoded = parse_query(q, plus_sign::space);
    if (!decoded) {
        return std::nullopt;
    }
    param_list raw;
    for (auto& [name, value] : *decoded) {
        std::string key = std::move(name);
        const std::size_t br = key.find('[');
        if (br != std::string::npos && key.back() == ']') {
            const std::string inner = key.substr(br + 1, key.size() - br - 2);
            if (!inner.empty() && std::all_of(inner.begin(), inner.end(), ::isdigit)) {
                key = key.substr(0, br);
                auto it = std::find_if(raw.begin(), raw.end(), [&](const auto& p) {
                    return p.first == key;
                });
                if (it != raw.end()) {
                    it->second += "," + value;
                    continue;
                }
            }
        }
        raw.emplace_back(std::move(key), std::move(value));
    }
    return raw;
}

std::string param(const param_list& p, std::string_view name) {
    for (const auto& [k, v] : p) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const std::size_t pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string::npos) {
            return out;
        }
        start = pos + 1;
    }
}

bool is_uuid(std::string_view s) {
    if (s.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return false;
            }
        } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

std::string to_text(const Value& v) {
    if (v.IsString()) {
        return std::string(v.GetString(), v.GetStringLength());
    }
    if (v.IsBool()) {
        return v.GetBool() ? "true" : "false";
    }
    if (v.IsNumber() || v.IsNull()) {
        return json::to_string(v);
    }
    return {};
}

// Second precision, time zone ignored: TO_TIMESTAMP(value, 'YYYY-MM-DD"T"HH24:MI:SS').
std::string second_key(std::string s) {
    if (s.size() == 10) {
        s += "T00:00:00";
    }
    if (s.size() > 10) {
        s[10] = 'T';
    }
    return s.substr(0, 19);
}

bool is_time_field(std::string_view name) {
    return name == "last_updated_at" || name == "created_at" || name == "posted_at";
}

bool is_date_field(std::string_view name) {
    return name == "registration_date" || name == "date_of_birth" || name == "date_closure";
}

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

std::optional<time_range> time_range_of(const std::string& name, const std::string& value) {
    const auto dots = value.find("..");
    if (!is_time_field(name) || dots == std::string::npos) {
        return std::nullopt;
    }
    time_range r;
    const std::string from = value.substr(0, dots);
    const std::string to = value.substr(dots + 2);
    r.from = from.empty() ? std::string{} : second_key(from);
    r.to = to.empty() ? std::string{} : second_key(to);
    return r;
}

bool in_range(const Value& rec, const std::string& name, const time_range& r) {
    const auto it = rec.FindMember(name.c_str());
    if (it == rec.MemberEnd() || !it->value.IsString()) {
        return false;
    }
    const std::string_view v(
        it->value.GetString(), std::min<std::size_t>(19, it->value.GetStringLength())
    );
    return (r.from.empty() || v >= r.from) && (r.to.empty() || v <= r.to);
}

// One filter of the index grammar (§1.6).
bool matches(const Value& rec, const std::string& name, const std::string& value) {
    if (name == "id") {
        const auto ids = split(value, ',');
        const std::string id = rec["id"].GetString();
        return std::find(ids.begin(), ids.end(), id) != ids.end();
    }
    const auto it = rec.FindMember(name.c_str());
    const Value* field = it == rec.MemberEnd() ? nullptr : &it->value;
    if (const auto dots = value.find(".."); dots != std::string::npos) {
        const std::string from = value.substr(0, dots);
        const std::string to = value.substr(dots + 2);
        if (field == nullptr || field->IsNull()) {
            return false;
        }
        if (is_time_field(name) || is_date_field(name)) {
            if (!field->IsString()) {
                return false;
            }
            const bool secs = is_time_field(name);
            const std::string v =
                secs ? second_key(std::string(
                           field->GetString(), std::min<std::size_t>(19, field->GetStringLength())
                       ))
                     : std::string(field->GetString()).substr(0, 10);
            const std::string f = secs ? second_key(from) : from.substr(0, 10);
            const std::string t = secs ? second_key(to) : to.substr(0, 10);
            return (from.empty() || v >= f) && (to.empty() || v <= t);
        }
        if (!field->IsNumber()) {
            return false;
        }
        const double v = field->GetDouble();
        char* end = nullptr;
        const double f = from.empty() ? 0 : std::strtod(from.c_str(), &end);
        const double t = to.empty() ? 0 : std::strtod(to.c_str(), &end);
        return (from.empty() || v >= f) && (to.empty() || v <= t);
    }
    if (value == "true" || value == "false") {
        const bool want = value == "true";
        const bool is_true = field != nullptr && ((field->IsBool() && field->GetBool()) ||
                                                  (field->IsString() && to_text(*field) == "true"));
        return want ? is_true : !is_true;
    }
    if (field == nullptr) {
        return false;
    }
    const auto wanted = split(value, ',');
    if (field->IsArray()) {
        for (const auto& item : field->GetArray()) {
            if (std::find(wanted.begin(), wanted.end(), to_text(item)) != wanted.end()) {
                return true;
            }
        }
        return false;
    }
    return std::find(wanted.begin(), wanted.end(), to_text(*field)) != wanted.end();
}

int compare_values(const Value* a, const Value* b) {
    const bool na = a == nullptr || a->IsNull();
    const bool nb = b == nullptr || b->IsNull();
    if (na || nb) {
        return na == nb ? 0 : (na ? 1 : -1);  // NULLS LAST
    }
    if (a->IsNumber() && b->IsNumber()) {
        const double x = a->GetDouble();
        const double y = b->GetDouble();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a->IsString() && b->IsString()) {
        const std::string_view x(a->GetString(), a->GetStringLength());
        const std::string_view y(b->GetString(), b->GetStringLength());
        return x < y ? -1 : (x == y ? 0 : 1);
    }
    const std::string x = to_text(*a);
    const std::string y = to_text(*b);
    return x.compare(y) < 0 ? -1 : (x == y ? 0 : 1);
}

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
const std::vector<std::string>* record_action_fields(const std::string& action) {
    static const std::vector<std::string> close = {"status", "date_closure", "closure_reason"};
    static const std::vector<std::string> reopen = {"status", "case_status_reopened"};
    static const std::vector<std::string> enable = {"record_state"};
    if (action == "close") {
        return &close;
    }
    if (action == "reopen") {
        return &reopen;
    }
    if (action == "enable_disable_record") {
        return &enable;
    }
    return nullptr;
}

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

std::string render(const Value& v) {
    return json::to_string(v);
}

std::string lower_ascii(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return s;
}

// A password for a named account: deterministic by seed and name.
std::string derived_password(std::uint64_t seed, const std::string& name) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : name) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    }
    std::mt19937_64 r(seed ^ h ^ 0x5bd1e995);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "sbx-";
    for (int i = 0; i < 16; ++i) {
        out += digits[r() & 15];
    }
    return out;
}

}  // namespace

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

    const std::vector<std::pair<std::string, std::string>>& updated_index() {
        if (indexed_generation != generation) {
            by_updated.clear();
            by_updated.reserve(cases.size());
            for (const auto& [id, rec] : cases) {
                const auto it = rec.FindMember("last_updated_at");
                if (it != rec.MemberEnd() && it->value.IsString()) {
                    by_updated.emplace_back(
                        std::string(
                            it->value.GetString(),
                            std::min<std::size_t>(19, it->value.GetStringLength())
                        ),
                        id
                    );
                }
            }
            std::sort(by_updated.begin(), by_updated.end());
            indexed_generation = generation;
        }
        return by_updated;
    }
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

    static std::string random_hex(std::mt19937_64& r, std::size_t n) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        for (std::size_t i = 0; i < n; ++i) {
            out += digits[r() & 15];
        }
        return out;
    }

    std::string new_uuid() { return synthetic_uuid(rng); }
    std::string now_text() const { return format_rfc3339(clock->now(), 3); }

    // Responses ----------------------------------------------------------------------------

    static response json_response(unsigned status, const Value& v) {
        response r;
        r.status = status;
        r.body = render(v);
        return r;
    }

    // One object of an `errors` array: status, resource, detail (if any), message (§1.3).
    static Value error_object(
        unsigned status,
        const std::string& resource,
        const std::string& message,
        const Value* detail,
        const Value* message_array,
        rapidjson::Document::AllocatorType& a
    ) {
        Value e(rapidjson::kObjectType);
        e.AddMember("status", status, a);
        e.AddMember("resource", Value(resource.c_str(), a), a);
        if (detail != nullptr) {
            e.AddMember("detail", Value(*detail, a), a);
        }
        if (message_array != nullptr) {
            e.AddMember("message", Value(*message_array, a), a);
        } else {
            e.AddMember("message", Value(message.c_str(), a), a);
        }
        return e;
    }

    // A model validation error of a transition: detail = field, message = [key].
    static Value refusal_object(
        const refusal& r, const std::string& resource, rapidjson::Document::AllocatorType& a
    ) {
        Value detail(r.detail.c_str(), a);
        Value msg(rapidjson::kArrayType);
        msg.PushBack(Value(r.message.c_str(), a), a);
        return error_object(r.status, resource, "", &detail, &msg, a);
    }

    static response error(
        unsigned status,
        const std::string& resource,
        const std::string& message,
        const Value* detail = nullptr,
        const Value* message_array = nullptr
    ) {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        Value errors(rapidjson::kArrayType);
        errors.PushBack(error_object(status, resource, message, detail, message_array, a), a);
        d.AddMember("errors", errors, a);
        return json_response(status, d);
    }

    static response refused(const refusal& r, const std::string& resource) {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        Value errors(rapidjson::kArrayType);
        errors.PushBack(refusal_object(r, resource, a), a);
        d.AddMember("errors", errors, a);
        return json_response(r.status, d);
    }

    // CanCan::AccessDenied.
    static response forbidden(const std::string& resource) {
        return error(403, resource, "Forbidden");
    }

    static response error_detail(
        unsigned status,
        const std::string& resource,
        const std::string& message,
        const std::string& detail
    ) {
        Value d(detail.c_str(), static_cast<rapidjson::SizeType>(detail.size()));
        return error(status, resource, message, &d);
    }

    static response devise_401(const char* text) {
        response r;
        r.status = 401;
        r.body = std::string(R"({"error":")") + text + "\"}";
        r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="Primero" charset="UTF8")");
        return r;
    }

    // Auth ---------------------------------------------------------------------------------

    static std::map<std::string, std::string> cookies(const request& req) {
        std::map<std::string, std::string> out;
        const auto it = req.headers.find("cookie");
        if (it == req.headers.end()) {
            return out;
        }
        for (auto& part : split(it->second, ';')) {
            std::size_t b = part.find_first_not_of(' ');
            if (b == std::string::npos) {
                continue;
            }
            part = part.substr(b);
            const auto eq = part.find('=');
            if (eq != std::string::npos) {
                out[part.substr(0, eq)] = part.substr(eq + 1);
            }
        }
        return out;
    }

    // Checks credentials; the error response when refused. Lockout is per account.
    std::optional<response> check_password(
        const std::string& user, const std::string& pass, const account*& out
    ) {
        const auto it = accounts.find(user);
        if (it == accounts.end()) {
            return devise_401("Invalid User name or password.");
        }
        account& acc = it->second;
        if (clock->now() < acc.locked_until) {
            return devise_401("Your account is locked.");
        }
        if (pass != acc.spec.password) {
            if (++acc.failed_attempts >= 6) {
                acc.locked_until = clock->now() + std::chrono::minutes(30);
                acc.failed_attempts = 0;
            }
            return devise_401("Invalid User name or password.");
        }
        acc.failed_attempts = 0;
        out = &acc;
        return std::nullopt;
    }

    const account& main_account() const { return accounts.at(settings.user_name); }

    std::optional<response> authenticate(const request& req, auth_result& out) {
        const auto now = clock->now();
        const auto auth = req.headers.find("authorization");
        if (auth != req.headers.end()) {
            const std::string& h = auth->second;
            if (h.rfind("Basic ", 0) == 0) {
                const auto decoded = base64_decode(h.substr(6));
                const auto colon = decoded ? decoded->find(':') : std::string::npos;
                if (colon == std::string::npos) {
                    return devise_401("Invalid User name or password.");
                }
                if (auto refused = check_password(
                        decoded->substr(0, colon), decoded->substr(colon + 1), out.user
                    )) {
                    return refused;
                }
                out.kind = auth_kind::basic;
                return std::nullopt;
            }
            if (h.rfind("Bearer ", 0) == 0) {
                const std::string token = h.substr(7);
                if (!settings.idp_token.empty() && token == settings.idp_token) {
                    out.kind = auth_kind::idp;
                    out.user = &main_account();
                    return std::nullopt;
                }
                const auto it = jwts.find(token);
                if (it == jwts.end()) {
                    return error(401, path_of(req), "Not enough or too many segments");
                }
                if (now >= it->second.expires) {
                    return error(401, path_of(req), "Signature has expired");
                }
                const auto acc = accounts.find(it->second.user);
                if (acc == accounts.end()) {
                    return error(401, path_of(req), "Signature has expired");
                }
                out.kind = auth_kind::jwt;
                out.user = &acc->second;
                return std::nullopt;
            }
            return devise_401("You need to sign in or sign up before continuing.");
        }
        const auto jar = cookies(req);
        const auto sid = jar.find("_app_session");
        if (sid != jar.end()) {
            const auto it = sessions.find(sid->second);
            if (it != sessions.end() && now - it->second.last_seen <= settings.session_timeout &&
                accounts.count(it->second.user) != 0) {
                it->second.last_seen = now;
                out.kind = auth_kind::session;
                out.session_id = sid->second;
                out.user = &accounts.at(it->second.user);
                if (req.method != "GET" && req.method != "HEAD") {
                    const auto token = req.headers.find("x-csrf-token");
                    if (token == req.headers.end() || token->second != it->second.csrf) {
                        return error(403, path_of(req), "Can't verify CSRF token authenticity.");
                    }
                }
                return std::nullopt;
            }
            if (it != sessions.end()) {
                sessions.erase(it);
            }
        }
        return devise_401("You need to sign in or sign up before continuing.");
    }

    static std::string path_of(const request& req) { return std::string(target_path(req.target)); }

    response login(const request& req) {
        const auto now = clock->now();
        ++logins;
        // Legacy refresh: a still-valid bearer token and no credentials.
        const auto auth = req.headers.find("authorization");
        if (settings.legacy_jwt && auth != req.headers.end() &&
            auth->second.rfind("Bearer ", 0) == 0 &&
            req.body.find("password") == std::string::npos) {
            const auto it = jwts.find(auth->second.substr(7));
            if (it == jwts.end() || now >= it->second.expires ||
                accounts.count(it->second.user) == 0) {
                ++failed_logins;
                return error(401, "/api/v2/tokens", "Signature has expired");
            }
            return issue_jwt(accounts.at(it->second.user));
        }
        auto doc = json::parse(req.body);
        std::string user;
        std::string pass;
        if (doc && doc->IsObject() && doc->HasMember("user") && (*doc)["user"].IsObject()) {
            const Value& u = (*doc)["user"];
            if (u.HasMember("user_name") && u["user_name"].IsString()) {
                user = u["user_name"].GetString();
            }
            if (u.HasMember("password") && u["password"].IsString()) {
                pass = u["password"].GetString();
            }
        }
        // Rack::Attack: 6 logins per user name per minute.
        auto& times = login_times[user];
        while (!times.empty() && now - times.front() >= std::chrono::minutes(1)) {
            times.pop_front();
        }
        if (times.size() >= 6) {
            ++failed_logins;
            response r;
            r.status = 429;
            r.content_type = "text/plain";
            r.body = "Retry later\n";
            r.headers.emplace_back("Retry-After", "60");
            return r;
        }
        times.push_back(now);
        const account* acc = nullptr;
        if (auto refused = check_password(user, pass, acc)) {
            ++failed_logins;
            return *refused;
        }
        if (settings.legacy_jwt) {
            return issue_jwt(*acc);
        }
        const std::string sid = random_hex(secret_rng, 32);
        const std::string csrf = base64_encode(random_hex(secret_rng, 24));
        // A new login ends the user's other sessions.
        std::erase_if(sessions, [&](const auto& s) { return s.second.user == user; });
        sessions[sid] = session_state{user, csrf, now};
        response r = json_response(200, login_body(*acc, nullptr));
        r.headers.emplace_back(
            "Set-Cookie", "_app_session=" + sid + "; path=/; HttpOnly; SameSite=Lax"
        );
        r.headers.emplace_back("Set-Cookie", "CSRF-TOKEN=" + csrf + "; path=/; SameSite=Strict");
        return r;
    }

    // `{"id","user_name","group_permission"}`, plus `token` for a legacy JWT login.
    static Document login_body(const account& acc, const std::string* token) {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("id", acc.id, a);
        d.AddMember("user_name", Value(acc.spec.user_name.c_str(), a), a);
        if (token != nullptr) {
            d.AddMember("token", Value(token->c_str(), a), a);
        } else {
            d.AddMember("group_permission", Value(acc.spec.scope.c_str(), a), a);
        }
        return d;
    }

    response issue_jwt(const account& acc) {
        const std::string token = "eyJhbGciOiJIUzI1NiJ9." + random_hex(secret_rng, 40);
        jwts[token] = jwt_state{acc.spec.user_name, clock->now() + settings.session_timeout};
        response r = json_response(200, login_body(acc, &token));
        r.headers.emplace_back("Authorization", "Bearer " + token);
        return r;
    }

    // Scope and permissions -----------------------------------------------------------------

    // User#permitted_to_access_record?: scope `all`, or the user is among the record's
    // associated users (owner and assigned).
    static bool in_scope(const account& me, const Value& rec) {
        if (me.sees_all()) {
            return true;
        }
        const auto it = rec.FindMember("associated_user_names");
        if (it == rec.MemberEnd() || !it->value.IsArray()) {
            return false;
        }
        for (const auto& u : it->value.GetArray()) {
            if (u.IsString() && me.spec.user_name == u.GetString()) {
                return true;
            }
        }
        return false;
    }

    static bool can_read(const account& me, const Value& rec) {
        return me.can("read") && in_scope(me, rec);
    }

    // UserTransitionService: an enabled, non-system user other than the sender whose role
    // receives this kind of transition.
    bool can_receive(const std::string& to, const std::string& type, const account& sender) const {
        const auto it = accounts.find(to);
        if (it == accounts.end() || it->second.spec.system_account || to == sender.spec.user_name) {
            return false;
        }
        return it->second.can(type == "Referral" ? "receive_referral" : "receive_transfer");
    }

    // Records ------------------------------------------------------------------------------

    Value render_record(
        const Document& rec,
        const std::vector<std::string>* fields,
        rapidjson::Document::AllocatorType& a
    ) const {
        Value out(rapidjson::kObjectType);
        out.AddMember("id", Value(rec["id"], a), a);
        const bool enabled = !rec.HasMember("record_state") || !rec["record_state"].IsBool() ||
                             rec["record_state"].GetBool();
        out.AddMember("enabled", enabled, a);
        for (const auto& m : rec.GetObject()) {
            const std::string name = m.name.GetString();
            if (name == "id") {
                continue;
            }
            if (fields != nullptr && name != "last_updated_at" &&
                std::find(fields->begin(), fields->end(), name) == fields->end()) {
                continue;
            }
            out.AddMember(Value(m.name, a), Value(m.value, a), a);
        }
        if (!out.HasMember("alert_count") &&
            (fields == nullptr ||
             std::find(fields->begin(), fields->end(), "alert_count") != fields->end())) {
            out.AddMember("alert_count", 0, a);
        }
        return out;
    }

    // `query=`: a case-insensitive substring of one of the filterable id fields (§1.6).
    static bool matches_query(const Value& rec, const std::string& query) {
        const std::string q = lower_ascii(query);
        for (const auto& m : rec.GetObject()) {
            if (m.value.IsString() &&
                is_filterable_id_field(
                    std::string_view(m.name.GetString(), m.name.GetStringLength())
                ) &&
                lower_ascii(m.value.GetString()).find(q) != std::string::npos) {
                return true;
            }
        }
        return false;
    }

    // `loc:<field>=<code>[,<code>]`: the field is one of the codes or below one of them.
    static bool matches_location(const Value& rec, const std::string& name, const std::string& v) {
        const auto it = rec.FindMember(name.c_str());
        if (it == rec.MemberEnd()) {
            return false;
        }
        const auto within = [&](const Value& code) {
            if (!code.IsString()) {
                return false;
            }
            const std::string_view c(code.GetString(), code.GetStringLength());
            for (const auto& wanted : split(v, ',')) {
                if (is_location_within(c, wanted)) {
                    return true;
                }
            }
            return false;
        };
        if (it->value.IsArray()) {
            return std::any_of(it->value.Begin(), it->value.End(), within);
        }
        return within(it->value);
    }

    response index(const request& req, const account& me) {
        const auto q = req.target.find('?');
        const auto parsed = rails_params(
            q == std::string::npos ? std::string_view{} : std::string_view(req.target).substr(q + 1)
        );
        if (!parsed) {
            return error(400, path_of(req), "Bad Request");  // Rack: invalid %-encoding
        }
        const param_list& params = *parsed;
        struct filter {
            std::string name;
            std::string value;
            bool location;
        };
        std::vector<filter> filters;
        std::vector<std::pair<std::string, time_range>> ranges;
        for (const auto& [k, v] : params) {
            const bool location = k.rfind("loc:", 0) == 0;
            std::string name = location ? k.substr(4) : k;
            if (reserved_params.count(name) != 0) {
                continue;
            }
            if (auto r = location ? std::nullopt : time_range_of(name, v)) {
                ranges.emplace_back(std::move(name), std::move(*r));
            } else {
                filters.push_back({std::move(name), v, location});
            }
        }
        // id_search with `search_owned_by_others` looks beyond the user's scope; every item
        // then says whether the user may open it.
        const bool id_search = param(params, "id_search") == "true";
        const bool widened = id_search && me.can("search_owned_by_others");
        const std::string query = param(params, "query");
        std::string order_by = param(params, "order_by");
        if (order_by.empty()) {
            order_by = "created_at";
        }
        const std::string dir = param(params, "order");
        const bool desc = dir.empty() || dir == "desc";
        // No tie-breaker, as in Primero: equal keys come out in an order that changes per
        // request.
        const std::uint64_t salt = ++request_no * 0x9E3779B97F4A7C15ULL;
        struct entry {
            const Value* key;
            std::uint64_t tie;
            const Document* doc;
            bool in_scope;
        };
        std::vector<entry> hits;
        // With a last_updated_at range, only the cases the index puts in it are looked at.
        const std::vector<std::string>* candidates = &order;
        std::vector<std::string> in_window;
        for (const auto& [name, range] : ranges) {
            if (name != "last_updated_at") {
                continue;
            }
            const auto& idx = updated_index();
            auto lo = range.from.empty()
                          ? idx.begin()
                          : std::lower_bound(
                                idx.begin(), idx.end(), std::make_pair(range.from, std::string())
                            );
            for (; lo != idx.end() && (range.to.empty() || lo->first <= range.to); ++lo) {
                in_window.push_back(lo->second);
            }
            candidates = &in_window;
            break;
        }
        for (const auto& id : *candidates) {
            const Document& rec = cases.at(id);
            const bool mine = in_scope(me, rec);
            if (!mine && !widened) {
                continue;
            }
            bool ok = query.empty() || matches_query(rec, query);
            for (const auto& [name, range] : ranges) {
                if (!ok) {
                    break;
                }
                ok = in_range(rec, name, range);
            }
            for (const auto& f : filters) {
                if (!ok) {
                    break;
                }
                ok = f.location ? matches_location(rec, f.name, f.value)
                                : matches(rec, f.name, f.value);
            }
            if (!ok) {
                continue;
            }
            const auto k = rec.FindMember(order_by.c_str());
            std::uint64_t h = salt;
            for (char c : id) {
                h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
            }
            hits.push_back({k == rec.MemberEnd() ? nullptr : &k->value, h, &rec, mine});
        }
        long per = 20;
        if (const auto p = param(params, "per"); !p.empty()) {
            per = std::strtol(p.c_str(), nullptr, 10);
            if (per <= 0) {
                per = 20;
            }
            per = std::min(per, 1000L);
        }
        long page = 1;
        if (const auto p = param(params, "page"); !p.empty()) {
            page = std::max(1L, std::strtol(p.c_str(), nullptr, 10));
        }
        // Hits read from the index are in order of their second already: ordered ascending by
        // last_updated_at, only the seconds up to the end of the page need sorting.
        auto sorted_end = hits.end();
        if (candidates == &in_window && order_by == "last_updated_at" && !desc) {
            const auto need = static_cast<std::size_t>(page * per);
            if (need < hits.size()) {
                const auto second = [](const entry& e) {
                    return e.key == nullptr || !e.key->IsString()
                               ? std::string_view{}
                               : std::string_view(e.key->GetString(), e.key->GetStringLength())
                                     .substr(0, 19);
                };
                auto end = hits.begin() + static_cast<std::ptrdiff_t>(need);
                const auto last = second(*(end - 1));
                while (end != hits.end() && second(*end) == last) {
                    ++end;
                }
                sorted_end = end;
            }
        }
        std::sort(hits.begin(), sorted_end, [desc](const entry& a, const entry& b) {
            int c = compare_values(a.key, b.key);
            if (desc) {
                c = -c;
            }
            if (c != 0) {
                return c < 0;
            }
            return a.tie < b.tie;
        });
        std::vector<std::string> field_list;
        const std::string fields = param(params, "fields");
        if (fields == "short") {
            field_list = short_fields;
        } else if (!fields.empty()) {
            field_list = split(fields, ',');
        }
        const bool show_scope =
            id_search ||
            std::find(field_list.begin(), field_list.end(), "record_in_scope") != field_list.end();
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        Value data(rapidjson::kArrayType);
        const std::size_t offset = static_cast<std::size_t>((page - 1) * per);
        for (std::size_t i = offset; i < hits.size() && i < offset + static_cast<std::size_t>(per);
             ++i) {
            // A record found outside the scope shows its summary only.
            const std::vector<std::string>* selected =
                !hits[i].in_scope ? &short_fields : (fields.empty() ? nullptr : &field_list);
            Value item = render_record(*hits[i].doc, selected, a);
            if (show_scope && !item.HasMember("record_in_scope")) {
                item.AddMember("record_in_scope", hits[i].in_scope, a);
            }
            data.PushBack(item, a);
        }
        d.AddMember("data", data, a);
        Value meta(rapidjson::kObjectType);
        meta.AddMember("total", static_cast<std::uint64_t>(hits.size()), a);
        meta.AddMember("per", static_cast<std::int64_t>(per), a);
        meta.AddMember("page", static_cast<std::int64_t>(page), a);
        d.AddMember("metadata", meta, a);
        return json_response(200, d);
    }

    response show(const request& req, const std::string& id, const account& me) {
        const auto it = cases.find(id);
        if (it == cases.end()) {
            return not_found(path_of(req), id);
        }
        if (!can_read(me, it->second)) {
            return forbidden(path_of(req));
        }
        Document d(rapidjson::kObjectType);
        d.AddMember("data", render_record(it->second, nullptr, d.GetAllocator()), d.GetAllocator());
        return json_response(200, d);
    }

    static response not_found(const std::string& resource, const std::string& id) {
        return error_detail(404, resource, "Not Found", "Couldn't find Child with 'id'=" + id);
    }

    // Gives every subform row a unique_id.
    void assign_row_ids(Value& data, rapidjson::Document::AllocatorType& a) {
        for (auto& m : data.GetObject()) {
            if (!m.value.IsArray()) {
                continue;
            }
            for (auto& row : m.value.GetArray()) {
                if (row.IsObject() && !row.HasMember("unique_id")) {
                    row.AddMember("unique_id", Value(new_uuid().c_str(), a), a);
                }
            }
        }
    }

    // JSON-schema and model validation of a write; the error response if refused.
    std::optional<response> validate(const Value& data, const std::string& resource, bool create) {
        if (create && data.HasMember("id") &&
            (!data["id"].IsString() || !is_uuid(data["id"].GetString()))) {
            Value detail(rapidjson::kArrayType);
            Document tmp;
            detail.PushBack("/id", tmp.GetAllocator());
            return error(422, resource, "Invalid Record JSON", &detail);
        }
        for (const char* num : {"age"}) {
            if (data.HasMember(num) && !data[num].IsNull() && !data[num].IsInt()) {
                Document tmp;
                Value detail(rapidjson::kArrayType);
                detail.PushBack(
                    Value((std::string("/") + num).c_str(), tmp.GetAllocator()), tmp.GetAllocator()
                );
                return error(422, resource, "Invalid Record JSON", &detail);
            }
        }
        for (const char* flag : {"record_state", "consent_for_services", "disclosure_other_orgs"}) {
            if (data.HasMember(flag) && !data[flag].IsBool()) {
                Document tmp;
                Value detail(rapidjson::kArrayType);
                detail.PushBack(
                    Value((std::string("/") + flag).c_str(), tmp.GetAllocator()), tmp.GetAllocator()
                );
                return error(422, resource, "Invalid Record JSON", &detail);
            }
        }
        for (const char* date : {"date_of_birth", "registration_date"}) {
            if (data.HasMember(date) && !data[date].IsNull() &&
                (!data[date].IsString() || !parse_date(data[date].GetString()))) {
                Document tmp;
                Value detail(date, tmp.GetAllocator());
                Value msg(rapidjson::kArrayType);
                msg.PushBack(
                    Value((std::string("errors.models.child.") + date).c_str(), tmp.GetAllocator()),
                    tmp.GetAllocator()
                );
                return error(422, resource, "", &detail, &msg);
            }
        }
        return std::nullopt;
    }

    response create(const request& req, const account& me) {
        const std::string resource = "/api/v2/cases";
        if (!me.can("create")) {
            return forbidden(resource);
        }
        auto body = json::parse(req.body);
        if (!body || !body->IsObject() || !body->HasMember("data") || !(*body)["data"].IsObject()) {
            return error(422, resource, "param is missing or the value is empty: data");
        }
        Value& data = (*body)["data"];
        if (auto refused = validate(data, resource, true)) {
            return *refused;
        }
        const bool client_id = data.HasMember("id");
        const std::string id = client_id ? data["id"].GetString() : new_uuid();
        if (cases.count(id) != 0) {
            ++repeated_creates;
            return error(409, resource, "Conflict: A record with this id already exists");
        }
        Document rec(rapidjson::kObjectType);
        auto& a = rec.GetAllocator();
        rec.AddMember("id", Value(id.c_str(), a), a);
        for (auto& m : data.GetObject()) {
            const std::string name = m.name.GetString();
            // Fields no form of the configuration has are dropped, as strong params do.
            if (immutable_fields.count(name) != 0 || !is_case_form_field(name)) {
                continue;
            }
            rec.AddMember(Value(m.name, a), Value(m.value, a), a);
        }
        assign_row_ids(rec, a);
        const std::string now = now_text();
        const std::string uid = new_uuid();
        const auto set = [&](const char* k, Value v) {
            if (rec.HasMember(k)) {
                rec[k] = v;
            } else {
                rec.AddMember(Value(k, a), v, a);
            }
        };
        const auto set_default = [&](const char* k, Value v) {
            if (!rec.HasMember(k)) {
                rec.AddMember(Value(k, a), v, a);
            }
        };
        set_default("record_state", Value(true));
        set_default("status", Value("open", a));
        set_default("workflow", Value("new", a));
        set_default("module_id", Value("primeromodule-cp", a));
        set_default("registration_date", Value(now.substr(0, 10).c_str(), a));
        set("unique_identifier", Value(uid.c_str(), a));
        set("case_id", Value(uid.c_str(), a));
        set("short_id", Value(uid.substr(uid.size() - 7).c_str(), a));
        set("case_id_display", Value(uid.substr(uid.size() - 7).c_str(), a));
        const std::string& user = me.spec.user_name;
        set("owned_by", Value(user.c_str(), a));
        set("created_by", Value(user.c_str(), a));
        set("created_at", Value(now.c_str(), a));
        set("posted_at", Value(now.c_str(), a));
        set("last_updated_at", Value(now.c_str(), a));
        set("last_updated_by", Value(user.c_str(), a));
        Value assoc(rapidjson::kArrayType);
        assoc.PushBack(Value(user.c_str(), a), a);
        set("associated_user_names", std::move(assoc));
        if (!rec.HasMember("name")) {
            std::string name;
            for (const char* part : {"name_first", "name_middle", "name_last"}) {
                if (rec.HasMember(part) && rec[part].IsString() &&
                    rec[part].GetStringLength() > 0) {
                    name += (name.empty() ? "" : " ") + std::string(rec[part].GetString());
                }
            }
            if (!name.empty()) {
                rec.AddMember("name", Value(name.c_str(), a), a);
            }
        }
        order.push_back(id);
        auto& stored = cases[id];
        stored.Swap(rec);
        if (client_id) {
            response r;
            r.status = 204;
            r.content_type = "application/json";
            return r;
        }
        Document d(rapidjson::kObjectType);
        d.AddMember("data", render_record(stored, nullptr, d.GetAllocator()), d.GetAllocator());
        return json_response(200, d);
    }

    // RecordMergeDataHashService: hashes merge, subform rows merge by unique_id (rows with
    // "_destroy": true removed), arrays of scalars are replaced.
    static void merge(Value& target, const Value& patch, rapidjson::Document::AllocatorType& a) {
        for (const auto& m : patch.GetObject()) {
            auto it = target.FindMember(m.name);
            if (it == target.MemberEnd()) {
                Value v(m.value, a);
                if (v.IsArray()) {
                    // New subform: drop rows marked for removal.
                    Value rows(rapidjson::kArrayType);
                    for (auto& row : v.GetArray()) {
                        if (!(row.IsObject() && row.HasMember("_destroy") &&
                              row["_destroy"].IsBool() && row["_destroy"].GetBool())) {
                            rows.PushBack(Value(row, a), a);
                        }
                    }
                    v = rows;
                }
                target.AddMember(Value(m.name, a), v, a);
                continue;
            }
            Value& cur = it->value;
            const bool subform = m.value.IsArray() && !m.value.Empty() && m.value[0].IsObject();
            if (subform && cur.IsArray()) {
                for (const auto& row : m.value.GetArray()) {
                    if (!row.IsObject()) {
                        continue;
                    }
                    const bool destroy = row.HasMember("_destroy") && row["_destroy"].IsBool() &&
                                         row["_destroy"].GetBool();
                    Value* match = nullptr;
                    rapidjson::SizeType index = 0;
                    if (row.HasMember("unique_id") && row["unique_id"].IsString()) {
                        for (rapidjson::SizeType i = 0; i < cur.Size(); ++i) {
                            if (cur[i].IsObject() && cur[i].HasMember("unique_id") &&
                                cur[i]["unique_id"] == row["unique_id"]) {
                                match = &cur[i];
                                index = i;
                            }
                        }
                    }
                    if (destroy) {
                        if (match != nullptr) {
                            cur.Erase(cur.Begin() + index);
                        }
                        continue;
                    }
                    if (match != nullptr) {
                        merge(*match, row, a);
                    } else {
                        cur.PushBack(Value(row, a), a);
                    }
                }
            } else if (m.value.IsObject() && cur.IsObject()) {
                merge(cur, m.value, a);
            } else {
                cur.CopyFrom(m.value, a);
            }
        }
    }

    response update(const request& req, const std::string& id, const account& me) {
        const std::string resource = path_of(req);
        const auto it = cases.find(id);
        if (it == cases.end()) {
            return not_found(resource, id);
        }
        Document& rec = it->second;
        if (!in_scope(me, rec)) {
            return forbidden(resource);
        }
        auto body = json::parse(req.body);
        if (!body || !body->IsObject() || !body->HasMember("data") || !(*body)["data"].IsObject()) {
            return error(422, resource, "param is missing or the value is empty: data");
        }
        // Without `write`, a `record_action` the role has lets the user change that action's
        // fields only.
        const std::vector<std::string>* only = nullptr;
        if (!me.can("write")) {
            const auto ra = body->FindMember("record_action");
            const std::string action =
                ra != body->MemberEnd() && ra->value.IsString() ? ra->value.GetString() : "";
            only = record_action_fields(action);
            if (only == nullptr || !me.can(action)) {
                return forbidden(resource);
            }
        }
        Value& data = (*body)["data"];
        if (auto refused = validate(data, resource, false)) {
            return *refused;
        }
        auto& a = rec.GetAllocator();
        Document d(rapidjson::kObjectType);
        auto& da = d.GetAllocator();
        Value out(rapidjson::kObjectType);
        // The sync write-back: not stored, sets the computed sync status (an audit row in Primero).
        bool synced = false;
        if (data.HasMember("mark_synced")) {
            synced = me.can("sync_external") && data["mark_synced"].IsBool() &&
                     data["mark_synced"].GetBool();
            data.RemoveMember("mark_synced");
            data.RemoveMember("mark_synced_url");
            data.RemoveMember("mark_synced_status");
        }
        Value patch(rapidjson::kObjectType);
        for (auto& m : data.GetObject()) {
            const std::string name = m.name.GetString();
            // Unknown fields are dropped (strong params), as are the ids that never change.
            if (immutable_fields.count(name) != 0 || !is_case_form_field(name) ||
                (only != nullptr && std::find(only->begin(), only->end(), name) == only->end())) {
                continue;
            }
            patch.AddMember(Value(m.name, a), Value(m.value, a), a);
        }
        if (synced) {
            ++mark_synced[id];
            const std::string now = now_text();
            for (const char* k : {"sync_status", "synced_at"}) {
                Value v(std::string(k) == "sync_status" ? "synced" : now.c_str(), a);
                if (rec.HasMember(k)) {
                    rec[k] = v;
                } else {
                    rec.AddMember(Value(k, a), v, a);
                }
            }
        }
        if (patch.MemberCount() > 0) {
            merge(rec, patch, a);
            assign_row_ids(rec, a);
            const std::string now = now_text();
            rec["last_updated_at"].SetString(now.c_str(), a);
            if (rec.HasMember("last_updated_by")) {
                rec["last_updated_by"].SetString(me.spec.user_name.c_str(), a);
            }
        }
        out.AddMember("id", Value(id.c_str(), da), da);
        const bool enabled = !rec["record_state"].IsBool() || rec["record_state"].GetBool();
        out.AddMember("enabled", enabled, da);
        out.AddMember("last_updated_at", Value(rec["last_updated_at"], da), da);
        for (const auto& m : patch.GetObject()) {
            if (!out.HasMember(m.name) && rec.HasMember(m.name)) {
                out.AddMember(Value(m.name, da), Value(rec[m.name], da), da);
            }
        }
        d.AddMember("data", out, da);
        return json_response(200, d);
    }

    response disable(const request& req, const std::string& id, const account& me) {
        const auto it = cases.find(id);
        if (it == cases.end()) {
            return not_found(path_of(req), id);
        }
        Document& rec = it->second;
        if (!me.can("enable_disable_record") || !in_scope(me, rec)) {
            return forbidden(path_of(req));
        }
        rec["record_state"].SetBool(false);
        rec["last_updated_at"].SetString(now_text().c_str(), rec.GetAllocator());
        Document d(rapidjson::kObjectType);
        Value data(rapidjson::kObjectType);
        data.AddMember("id", Value(id.c_str(), d.GetAllocator()), d.GetAllocator());
        d.AddMember("data", data, d.GetAllocator());
        return json_response(200, d);
    }

    // Transitions --------------------------------------------------------------------------

    Value render_transition(
        const transition& t,
        const account& me,
        bool with_record,
        rapidjson::Document::AllocatorType& a
    ) {
        Value v(rapidjson::kObjectType);
        const auto str = [&](const char* k, const std::string& s) {
            if (!s.empty()) {
                v.AddMember(Value(k, a), Value(s.c_str(), a), a);
            }
        };
        str("id", t.id);
        str("type", t.type);
        str("status", t.status);
        str("record_id", t.record_id);
        v.AddMember("record_type", "case", a);
        str("transitioned_by", t.transitioned_by);
        str("transitioned_to", t.transitioned_to);
        str("transitioned_to_agency", t.transitioned_to_agency);
        str("transitioned_to_remote", t.transitioned_to_remote);
        str("notes", t.notes);
        str("service", t.service);
        str("rejected_reason", t.rejected_reason);
        str("created_at", t.created_at);
        if (t.responded_at.empty()) {
            v.AddMember("responded_at", Value(rapidjson::kNullType), a);
        } else {
            str("responded_at", t.responded_at);
        }
        v.AddMember("remote", t.remote, a);
        v.AddMember("consent_overridden", t.consent_overridden, a);
        if (t.type != "Referral") {
            v.AddMember("consent_individual_transfer", t.consent_individual_transfer, a);
        }
        const Document& rec = cases.at(t.record_id);
        const bool readable = can_read(me, rec);
        v.AddMember("record_access_denied", !readable, a);
        v.AddMember(
            "user_can_accept_or_reject",
            !t.remote && t.status == "in_progress" && t.transitioned_to == me.spec.user_name,
            a
        );
        if (with_record && readable) {
            Value r(rapidjson::kObjectType);
            r.AddMember("id", Value(rec["id"], a), a);
            r.AddMember(
                "enabled", rec["record_state"].IsBool() ? rec["record_state"].GetBool() : true, a
            );
            r.AddMember("last_updated_at", Value(rec["last_updated_at"], a), a);
            v.AddMember("record", r, a);
        }
        return v;
    }

    static void set_string_array(
        Document& rec, const char* key, const std::vector<std::string>& values
    ) {
        auto& a = rec.GetAllocator();
        Value arr(rapidjson::kArrayType);
        for (const auto& s : values) {
            arr.PushBack(Value(s.c_str(), a), a);
        }
        if (rec.HasMember(key)) {
            rec[key] = arr;
        } else {
            rec.AddMember(Value(key, a), arr, a);
        }
    }

    static std::vector<std::string> string_array(const Document& rec, const char* key) {
        std::vector<std::string> out;
        if (rec.HasMember(key) && rec[key].IsArray()) {
            for (const auto& s : rec[key].GetArray()) {
                if (s.IsString()) {
                    out.emplace_back(s.GetString());
                }
            }
        }
        return out;
    }

    void assign(Document& rec, const std::string& user, bool add) {
        auto assigned = string_array(rec, "assigned_user_names");
        assigned.erase(std::remove(assigned.begin(), assigned.end(), user), assigned.end());
        if (add) {
            assigned.push_back(user);
        }
        set_string_array(rec, "assigned_user_names", assigned);
        std::vector<std::string> assoc;
        if (rec.HasMember("owned_by") && rec["owned_by"].IsString()) {
            assoc.emplace_back(rec["owned_by"].GetString());
        }
        assoc.insert(assoc.end(), assigned.begin(), assigned.end());
        set_string_array(rec, "associated_user_names", assoc);
    }

    void touch(Document& rec) {
        rec["last_updated_at"].SetString(now_text().c_str(), rec.GetAllocator());
    }

    static bool flag(const Document& rec, const char* key) {
        return rec.HasMember(key) && rec[key].IsBool() && rec[key].GetBool();
    }

    response transitions_list(
        const request& req, const std::string& id, const std::string& type, const account& me
    ) {
        if (!can_read(me, cases.at(id))) {
            return forbidden(path_of(req));
        }
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        Value data(rapidjson::kArrayType);
        for (const auto& t : transitions[id]) {
            if (t.type == type) {
                data.PushBack(render_transition(t, me, false, a), a);
            }
        }
        d.AddMember("data", data, a);
        return json_response(200, d);
    }

    static const Value* data_of(const json::json_result<Document>& body) {
        if (!body || !body->IsObject()) {
            return nullptr;
        }
        const auto it = body->FindMember("data");
        return it != body->MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
    }

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
    ) {
        const auto get = [&](const char* k) -> std::string {
            return data.HasMember(k) && data[k].IsString() ? data[k].GetString() : std::string{};
        };
        const auto get_bool = [&](const char* k) {
            return data.HasMember(k) && data[k].IsBool() && data[k].GetBool();
        };
        t.id = new_uuid();
        t.type = type;
        t.status = "in_progress";
        t.record_id = id;
        t.transitioned_by = sender.spec.user_name;
        t.transitioned_to = get("transitioned_to");
        t.transitioned_to_agency = get("transitioned_to_agency");
        t.transitioned_to_remote = get("transitioned_to_remote");
        t.notes = get("notes");
        t.service = get("service");
        t.remote = get_bool("remote");
        t.consent_overridden = get_bool("consent_overridden");
        t.consent_individual_transfer = get_bool("consent_individual_transfer");
        t.created_at = now_text();
        if (!t.remote && !can_receive(t.transitioned_to, type, sender)) {
            return refusal{422, "transitioned_to", "transition.errors.to_user_can_receive"};
        }
        Document& rec = cases.at(id);
        const bool consent = type == "Transfer" ? flag(rec, "disclosure_other_orgs")
                                                : flag(rec, "disclosure_other_orgs") &&
                                                      flag(rec, "consent_for_services");
        if (!consent && !t.consent_overridden) {
            return refusal{422, "consent", "transition.errors.consent"};
        }
        if (!t.remote) {
            assign(rec, t.transitioned_to, true);
        }
        if (type == "Transfer") {
            auto& a = rec.GetAllocator();
            if (rec.HasMember("transfer_status")) {
                rec["transfer_status"].SetString("in_progress", a);
            } else {
                rec.AddMember("transfer_status", "in_progress", a);
            }
            if (t.remote) {
                rec["status"].SetString("transferred", a);
            }
        }
        touch(rec);
        transitions[id].push_back(t);
        return std::nullopt;
    }

    static const char* permission_of(const std::string& type) {
        return type == "Referral" ? "referral" : "transfer";
    }

    response transition_create(
        const request& req, const std::string& id, const std::string& type, const account& me
    ) {
        const std::string resource = path_of(req);
        if (!me.can(permission_of(type)) || !in_scope(me, cases.at(id))) {
            return forbidden(resource);
        }
        const auto body = json::parse(req.body);
        const Value* data = data_of(body);
        if (data == nullptr) {
            return error(422, resource, "param is missing or the value is empty: data");
        }
        transition t;
        if (auto r = start_transition(id, type, *data, me, t)) {
            return refused(*r, resource);
        }
        Document d(rapidjson::kObjectType);
        d.AddMember("data", render_transition(t, me, true, d.GetAllocator()), d.GetAllocator());
        return json_response(200, d);
    }

    // POST /api/v2/cases/transfers|referrals {"data":{"ids":[...], ...}}: authorised for
    // every case or for none (authorize_all!), then one transition per case in the order
    // given. A case the transition is refused for (consent, recipient) gets an error object
    // whose resource is that case's own transitions path; the others go ahead.
    response transition_bulk(const request& req, const std::string& type, const account& me) {
        const std::string resource = path_of(req);
        const auto body = json::parse(req.body);
        const Value* data = data_of(body);
        if (data == nullptr || !data->HasMember("ids") || !(*data)["ids"].IsArray() ||
            (*data)["ids"].Empty()) {
            return error(422, resource, "param is missing or the value is empty: ids");
        }
        std::vector<std::string> ids;
        for (const auto& v : (*data)["ids"].GetArray()) {
            if (!v.IsString()) {
                return error(422, resource, "param is missing or the value is empty: ids");
            }
            ids.emplace_back(v.GetString(), v.GetStringLength());
        }
        for (const auto& id : ids) {
            if (cases.count(id) == 0) {
                return not_found(resource, id);
            }
        }
        for (const auto& id : ids) {
            if (!me.can(permission_of(type)) || !in_scope(me, cases.at(id))) {
                return forbidden(resource);
            }
        }
        const std::string segment = type == "Referral" ? "/referrals" : "/transfers";
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        Value out(rapidjson::kArrayType);
        Value errors(rapidjson::kArrayType);
        for (const auto& id : ids) {
            transition t;
            if (auto r = start_transition(id, type, *data, me, t)) {
                errors.PushBack(refusal_object(*r, "/api/v2/cases/" + id + segment, a), a);
            } else {
                out.PushBack(render_transition(t, me, true, a), a);
            }
        }
        d.AddMember("data", out, a);
        if (!errors.Empty()) {
            d.AddMember("errors", errors, a);
        }
        return json_response(200, d);
    }

    // A transfer request: a user (needing `request_transfer`, not access to the case) asks
    // the case's owner to transfer it to them. No consent rule; the owner must be able to
    // receive transfers.
    response transfer_request_create(const request& req, const std::string& id, const account& me) {
        const std::string resource = path_of(req);
        if (!me.can("request_transfer")) {
            return forbidden(resource);
        }
        const auto body = json::parse(req.body);
        const Value* data = data_of(body);
        if (data == nullptr) {
            return error(422, resource, "param is missing or the value is empty: data");
        }
        Document& rec = cases.at(id);
        transition t;
        t.id = new_uuid();
        t.type = "TransferRequest";
        t.status = "in_progress";
        t.record_id = id;
        t.transitioned_by = me.spec.user_name;
        t.transitioned_to = rec.HasMember("owned_by") && rec["owned_by"].IsString()
                                ? rec["owned_by"].GetString()
                                : "";
        if (data->HasMember("notes") && (*data)["notes"].IsString()) {
            t.notes = (*data)["notes"].GetString();
        }
        t.consent_individual_transfer = data->HasMember("consent_individual_transfer") &&
                                        (*data)["consent_individual_transfer"].IsBool() &&
                                        (*data)["consent_individual_transfer"].GetBool();
        t.created_at = now_text();
        if (!can_receive(t.transitioned_to, "TransferRequest", me)) {
            return refused(
                refusal{422, "transitioned_to", "transition.errors.to_user_can_receive"}, resource
            );
        }
        touch(rec);
        transitions[id].push_back(t);
        Document d(rapidjson::kObjectType);
        d.AddMember("data", render_transition(t, me, true, d.GetAllocator()), d.GetAllocator());
        return json_response(200, d);
    }

    response transition_update(
        const request& req,
        const std::string& id,
        const std::string& type,
        const std::string& tid,
        bool revoke,
        const account& me
    ) {
        const std::string resource = path_of(req);
        Document& rec = cases.at(id);
        if (!can_read(me, rec) || (revoke && !me.can("write"))) {
            return forbidden(resource);
        }
        auto& list = transitions[id];
        const auto it = std::find_if(list.begin(), list.end(), [&](const transition& t) {
            return t.id == tid && t.type == type;
        });
        if (it == list.end()) {
            return error_detail(
                404, resource, "Not Found", "Couldn't find Transition with 'id'=" + tid
            );
        }
        std::string status = "revoked";
        std::string reason;
        if (!revoke) {
            auto body = json::parse(req.body);
            if (!body || !body->IsObject() || !body->HasMember("data") ||
                !(*body)["data"].IsObject() || !(*body)["data"].HasMember("status") ||
                !(*body)["data"]["status"].IsString()) {
                return error(422, resource, "param is missing or the value is empty: status");
            }
            status = (*body)["data"]["status"].GetString();
            if ((*body)["data"].HasMember("rejected_reason") &&
                (*body)["data"]["rejected_reason"].IsString()) {
                reason = (*body)["data"]["rejected_reason"].GetString();
            }
        }
        const std::set<std::string, std::less<>> allowed =
            type == "Referral"
                ? std::set<std::string, std::less<>>{"accepted", "rejected", "done", "revoked"}
            : type == "Transfer"
                ? std::set<std::string, std::less<>>{"accepted", "rejected", "revoked"}
                : std::set<std::string, std::less<>>{"accepted", "rejected"};
        if (allowed.count(status) == 0) {
            return error_detail(422, resource, "transition.errors.invalid_status", "status");
        }
        // A transfer (or transfer request) is accepted or rejected by its recipient or by a
        // manager with accept_or_reject_transfer.
        if (type != "Referral" && (status == "accepted" || status == "rejected") &&
            me.spec.user_name != it->transitioned_to && !me.can("accept_or_reject_transfer")) {
            return forbidden(resource);
        }
        auto& a = rec.GetAllocator();
        if (type == "TransferRequest") {
            if (status == "accepted") {
                // The owner transfers the case to the requester.
                const auto owner = accounts.find(it->transitioned_to);
                if (owner == accounts.end()) {
                    return refused(
                        refusal{422, "transitioned_by", "transition.errors.to_user_can_receive"},
                        resource
                    );
                }
                Value ask(rapidjson::kObjectType);
                ask.AddMember("transitioned_to", Value(it->transitioned_by.c_str(), a), a);
                ask.AddMember("consent_individual_transfer", it->consent_individual_transfer, a);
                transition created;
                const std::string request_id = it->id;
                if (auto r = start_transition(id, "Transfer", ask, owner->second, created)) {
                    return refused(*r, resource);
                }
                // start_transition appended to the list: find the request again.
                const auto again = std::find_if(list.begin(), list.end(), [&](const auto& t) {
                    return t.id == request_id;
                });
                again->status = status;
                again->responded_at = now_text();
                Document d(rapidjson::kObjectType);
                d.AddMember(
                    "data", render_transition(*again, me, true, d.GetAllocator()), d.GetAllocator()
                );
                return json_response(200, d);
            }
            it->status = status;
            it->rejected_reason = reason;
            it->responded_at = now_text();
            touch(rec);
            Document d(rapidjson::kObjectType);
            d.AddMember(
                "data", render_transition(*it, me, true, d.GetAllocator()), d.GetAllocator()
            );
            return json_response(200, d);
        }
        it->status = status;
        it->rejected_reason = reason;
        it->responded_at = status == "revoked" ? std::string{} : now_text();
        if (status == "rejected" || status == "revoked") {
            assign(rec, it->transitioned_to, false);
        }
        if (type == "Transfer") {
            if (rec.HasMember("transfer_status")) {
                rec["transfer_status"].SetString(status.c_str(), a);
            }
            if (status == "accepted") {
                const std::string previous = rec["owned_by"].GetString();
                rec["owned_by"].SetString(it->transitioned_to.c_str(), a);
                if (rec.HasMember("previously_owned_by")) {
                    rec["previously_owned_by"].SetString(previous.c_str(), a);
                } else {
                    rec.AddMember("previously_owned_by", Value(previous.c_str(), a), a);
                }
                // The new owner is no longer an assigned user; the old one loses access
                // unless their scope covers the case anyway.
                assign(rec, it->transitioned_to, false);
            }
        }
        touch(rec);
        Document d(rapidjson::kObjectType);
        d.AddMember("data", render_transition(*it, me, true, d.GetAllocator()), d.GetAllocator());
        return json_response(200, d);
    }

    // Flags (flags.cpp): the `flag` permission and the case in scope, then the flag book.
    response flags(
        const request& req,
        const std::string& id,
        const std::optional<std::string>& flag_id,
        const account& me
    ) {
        const std::string resource = path_of(req);
        Document& rec = cases.at(id);
        if (!me.can("flag") || !in_scope(me, rec)) {
            return forbidden(resource);
        }
        auto answer =
            flag_book.handle(req.method, flag_id, req.body, rec, me.spec.user_name, now_text());
        if (answer.status != 200) {
            if (!answer.validation_key.empty()) {
                return refused(
                    refusal{answer.status, answer.detail, answer.validation_key}, resource
                );
            }
            return answer.detail.empty()
                       ? error(answer.status, resource, answer.message)
                       : error_detail(answer.status, resource, answer.message, answer.detail);
        }
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        Value data(answer.data, a);
        if (answer.changed) {
            touch(rec);
            data.AddMember("record", render_record(rec, &short_fields, a), a);
        }
        d.AddMember("data", data, a);
        return json_response(200, d);
    }

    // Routing ------------------------------------------------------------------------------

    response handle(const request& req) {
        std::lock_guard lock(mutex);
        if (req.method != "GET" && req.method != "HEAD") {
            ++generation;
        }
        const std::string path = path_of(req);
        if (path == "/health") {
            return response{200, "{}"};
        }
        if (path == "/api/v2/primero" && req.method == "GET") {
            return response{
                200,
                R"({"data":{"sandbox_ui":true,"config_ui":"full","allow_self_registration":false,)"
                R"("locales":["en","bn"],"webpush_enabled":false,"agencies":[]}})"};
        }
        if (path == "/api/v2/tokens" && req.method == "POST") {
            return login(req);
        }
        auth_result who;
        if (auto refused = authenticate(req, who)) {
            return *refused;
        }
        const account& me = *who.user;
        if (locked) {
            response r = error_detail(503, path, "Service Unavailable", "Retry-After: 60");
            r.headers.emplace_back("Retry-After", "60");
            return r;
        }
        if (path == "/api/v2/tokens" && req.method == "DELETE") {
            if (who.kind == auth_kind::session) {
                sessions.erase(who.session_id);
            }
            return response{200, "{}"};
        }
        const std::string prefix = "/api/v2/cases";
        if (path.rfind(prefix, 0) != 0) {
            return error(404, path, "Not Found");
        }
        std::vector<std::string> parts;
        if (path.size() > prefix.size()) {
            if (path[prefix.size()] != '/') {
                return error(404, path, "Not Found");
            }
            parts = split(path.substr(prefix.size() + 1), '/');
        }
        if (parts.empty()) {
            if (req.method == "GET") {
                return me.can("read") ? index(req, me) : forbidden(path);
            }
            if (req.method == "POST") {
                return create(req, me);
            }
            return error(404, path, "Not Found");
        }
        if (parts.size() == 1 && req.method == "POST" &&
            (parts[0] == "transfers" || parts[0] == "referrals")) {
            return transition_bulk(req, parts[0] == "transfers" ? "Transfer" : "Referral", me);
        }
        const std::string& id = parts[0];
        if (cases.count(id) == 0) {
            return not_found(path, id);
        }
        if (parts.size() == 1) {
            if (req.method == "GET") {
                return show(req, id, me);
            }
            if (req.method == "PATCH" || req.method == "PUT") {
                return update(req, id, me);
            }
            if (req.method == "DELETE") {
                return disable(req, id, me);
            }
            return error(404, path, "Not Found");
        }
        if (parts[1] == "flags" && parts.size() <= 3) {
            return flags(req, id, parts.size() == 3 ? std::optional(parts[2]) : std::nullopt, me);
        }
        const std::string type = parts[1] == "referrals"           ? "Referral"
                                 : parts[1] == "transfers"         ? "Transfer"
                                 : parts[1] == "transfer_requests" ? "TransferRequest"
                                                                   : "";
        if (type.empty() || parts.size() > 3) {
            return error(404, path, "Not Found");
        }
        if (parts.size() == 2) {
            if (req.method == "GET") {
                return transitions_list(req, id, type, me);
            }
            if (req.method == "POST") {
                return type == "TransferRequest" ? transfer_request_create(req, id, me)
                                                 : transition_create(req, id, type, me);
            }
            return error(404, path, "Not Found");
        }
        if (req.method == "PATCH") {
            return transition_update(req, id, type, parts[2], false, me);
        }
        if (req.method == "DELETE" && type == "Referral") {
            return transition_update(req, id, type, parts[2], true, me);
        }
        return error(404, path, "Not Found");
    }
};

std::vector<primero_user> default_primero_users() {
    std::vector<primero_user> users(4);
    users[0].user_name = "cp_worker_2";
    users[0].scope = "self";
    users[0].case_actions = {
        "read",
        "create",
        "write",
        "enable_disable_record",
        "close",
        "reopen",
        "referral",
        "transfer",
        "receive_referral",
        "receive_transfer",
        "request_transfer"};
    users[1].user_name = "cp_manager";
    users[1].scope = "all";
    users[1].case_actions = {
        "read",
        "write",
        "close",
        "reopen",
        "referral",
        "transfer",
        "receive_referral",
        "receive_transfer",
        "accept_or_reject_transfer",
        "search_owned_by_others"};
    users[2].user_name = "cp_user_admin";
    users[2].scope = "all";
    users[3].user_name = "system_sync";
    users[3].scope = "all";
    users[3].case_actions = {"read"};
    users[3].system_account = true;
    return users;
}

primero_settings population_sandbox_settings(
    const population::options& options, std::string agency, double without_consent
) {
    primero_settings s;
    primero_population p;
    p.options = options;
    p.agency = std::move(agency);
    p.cases.without_consent = without_consent;
    s.population = std::move(p);
    return s;
}

primero_sandbox::primero_sandbox(primero_settings settings, const clock_source& clock)
    : impl_(std::make_unique<impl>(std::move(settings), clock)) {
    const auto add = [this](Document rec) {
        const std::string id = rec["id"].GetString();
        impl_->order.push_back(id);
        impl_->cases[id].Swap(rec);
    };
    if (const auto& p = impl_->settings.population) {
        const auto& agencies = p->options.agencies;
        if (std::find(agencies.begin(), agencies.end(), p->agency) == agencies.end()) {
            throw std::invalid_argument("the population has no agency '" + p->agency + "'");
        }
        auto options = p->cases;
        options.owner = impl_->settings.user_name;
        auto share =
            population::primero_cases(population::generate(p->options), p->agency, options);
        for (auto& rec : share.cases) {
            add(std::move(rec));
        }
        impl_->child_of = std::move(share.child_of);
        impl_->without_consent = std::move(share.without_consent);
    } else {
        generate_cases(impl_->settings.seed, impl_->settings.cases, impl_->settings.user_name, add);
    }
    impl_->server = std::make_unique<http_server>(
        impl_->settings.listen_address,
        impl_->settings.port,
        [p = impl_.get()](const request& req) { return p->handle(req); }
    );
    impl_->server->set_rules(impl_->settings.faults);
}

primero_sandbox::~primero_sandbox() {
    impl_->server.reset();
}

std::string primero_sandbox::base_url() const {
    return impl_->server->base_url();
}
const std::string& primero_sandbox::user_name() const {
    return impl_->settings.user_name;
}
const std::string& primero_sandbox::password() const {
    return impl_->settings.password;
}
std::optional<std::string> primero_sandbox::password_of(const std::string& user_name) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->accounts.find(user_name);
    if (it == impl_->accounts.end()) {
        return std::nullopt;
    }
    return it->second.spec.password;
}
http_server& primero_sandbox::server() {
    return *impl_->server;
}
void primero_sandbox::set_locked(bool locked) {
    std::lock_guard lock(impl_->mutex);
    impl_->locked = locked;
}
void primero_sandbox::expire_sessions() {
    std::lock_guard lock(impl_->mutex);
    impl_->sessions.clear();
    impl_->jwts.clear();
}
std::size_t primero_sandbox::case_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->cases.size();
}
std::optional<std::string> primero_sandbox::case_json(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return std::nullopt;
    }
    return json::to_string(it->second);
}
std::vector<std::string> primero_sandbox::case_ids() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->order;
}
void primero_sandbox::set_last_updated(const std::string& id, const std::string& timestamp) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    auto& rec = impl_->cases.at(id);
    rec["last_updated_at"].SetString(timestamp.c_str(), rec.GetAllocator());
}
std::size_t primero_sandbox::logins() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->logins;
}
std::size_t primero_sandbox::failed_logins() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->failed_logins;
}
std::size_t primero_sandbox::repeated_creates() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->repeated_creates;
}
std::size_t primero_sandbox::mark_synced_count(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->mark_synced.find(id);
    return it == impl_->mark_synced.end() ? 0 : it->second;
}

std::vector<primero_flag> primero_sandbox::flags_of(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->flag_book.of(id);
}
bool primero_sandbox::set_case_actions(
    const std::string& user_name, std::vector<std::string> actions
) {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->accounts.find(user_name);
    if (it == impl_->accounts.end()) {
        return false;
    }
    it->second.spec.case_actions = std::move(actions);
    return true;
}
std::map<std::string, std::uint32_t> primero_sandbox::population_truth() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->child_of;
}
std::set<std::string> primero_sandbox::cases_without_consent() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->without_consent;
}

bool primero_sandbox::edit_case(const std::string& id, const std::string& fields_json) {
    auto fields = json::parse(fields_json);
    if (!fields || !fields->IsObject()) {
        return false;
    }
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return false;
    }
    auto& rec = it->second;
    auto& a = rec.GetAllocator();
    for (auto& m : fields->GetObject()) {
        rec.RemoveMember(m.name.GetString());
        if (!m.value.IsNull()) {
            rec.AddMember(Value(m.name, a), Value(m.value, a), a);
        }
    }
    rec.RemoveMember("last_updated_at");
    rec.AddMember("last_updated_at", Value(impl_->now_text().c_str(), a), a);
    return true;
}
bool primero_sandbox::replace_case(const std::string& id, const std::string& case_json) {
    auto doc = json::parse(case_json);
    if (!doc || !doc->IsObject()) {
        return false;
    }
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return false;
    }
    it->second.Swap(*doc);
    return true;
}
bool primero_sandbox::delete_case(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    if (impl_->cases.erase(id) == 0) {
        return false;
    }
    std::erase(impl_->order, id);
    return true;
}
std::optional<std::string> primero_sandbox::duplicate_case(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return std::nullopt;
    }
    const std::string copy_id = impl_->new_uuid();
    Document copy;
    copy.CopyFrom(it->second, copy.GetAllocator());
    copy["id"].SetString(copy_id.c_str(), copy.GetAllocator());
    impl_->order.push_back(copy_id);
    impl_->cases[copy_id].Swap(copy);
    return copy_id;
}

}  // namespace casebridge::sandbox
