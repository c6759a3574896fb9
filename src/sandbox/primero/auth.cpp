// Answers in Primero's shapes, logins (basic, session cookie with CSRF token, JWT), sessions
// and the user's scope.
#include "sandbox/primero/sandbox_impl.hpp"

namespace casebridge::sandbox {

std::string primero_sandbox::impl::new_uuid() {
    return synthetic_uuid(rng);
}

std::string primero_sandbox::impl::now_text() const {
    return format_rfc3339(clock->now(), 3);
}

const account& primero_sandbox::impl::main_account() const {
    return accounts.at(settings.user_name);
}

std::string primero_sandbox::impl::path_of(const request& req) {
    return std::string(target_path(req.target));
}

std::string primero_sandbox::impl::random_hex(std::mt19937_64& r, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[r() & 15];
    }
    return out;
}

// Responses ----------------------------------------------------------------------------
response primero_sandbox::impl::json_response(unsigned status, const Value& v) {
    response r;
    r.status = status;
    r.body = render(v);
    return r;
}

// One object of an `errors` array: status, resource, detail (if any), message (§1.3).
Value primero_sandbox::impl::error_object(
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
Value primero_sandbox::impl::refusal_object(
    const refusal& r, const std::string& resource, rapidjson::Document::AllocatorType& a
) {
    Value detail(r.detail.c_str(), a);
    Value msg(rapidjson::kArrayType);
    msg.PushBack(Value(r.message.c_str(), a), a);
    return error_object(r.status, resource, "", &detail, &msg, a);
}

response primero_sandbox::impl::error(
    unsigned status,
    const std::string& resource,
    const std::string& message,
    const Value* detail,
    const Value* message_array
) {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value errors(rapidjson::kArrayType);
    errors.PushBack(error_object(status, resource, message, detail, message_array, a), a);
    d.AddMember("errors", errors, a);
    return json_response(status, d);
}

response primero_sandbox::impl::refused(const refusal& r, const std::string& resource) {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value errors(rapidjson::kArrayType);
    errors.PushBack(refusal_object(r, resource, a), a);
    d.AddMember("errors", errors, a);
    return json_response(r.status, d);
}

// CanCan::AccessDenied.
response primero_sandbox::impl::forbidden(const std::string& resource) {
    return error(403, resource, "Forbidden");
}

response primero_sandbox::impl::error_detail(
    unsigned status,
    const std::string& resource,
    const std::string& message,
    const std::string& detail
) {
    Value d(detail.c_str(), static_cast<rapidjson::SizeType>(detail.size()));
    return error(status, resource, message, &d);
}

response primero_sandbox::impl::devise_401(const char* text) {
    response r;
    r.status = 401;
    r.body = std::string(R"({"error":")") + text + "\"}";
    r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="Primero" charset="UTF8")");
    return r;
}

response primero_sandbox::impl::not_found(const std::string& resource, const std::string& id) {
    return error_detail(404, resource, "Not Found", "Couldn't find Child with 'id'=" + id);
}

// Auth ---------------------------------------------------------------------------------
std::map<std::string, std::string> primero_sandbox::impl::cookies(const request& req) {
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
std::optional<response> primero_sandbox::impl::check_password(
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

std::optional<response> primero_sandbox::impl::authenticate(const request& req, auth_result& out) {
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

response primero_sandbox::impl::login(const request& req) {
    const auto now = clock->now();
    ++logins;
    // Legacy refresh: a still-valid bearer token and no credentials.
    const auto auth = req.headers.find("authorization");
    if (settings.legacy_jwt && auth != req.headers.end() && auth->second.rfind("Bearer ", 0) == 0 &&
        req.body.find("password") == std::string::npos) {
        const auto it = jwts.find(auth->second.substr(7));
        if (it == jwts.end() || now >= it->second.expires || accounts.count(it->second.user) == 0) {
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
Document primero_sandbox::impl::login_body(const account& acc, const std::string* token) {
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

response primero_sandbox::impl::issue_jwt(const account& acc) {
    const std::string token = "eyJhbGciOiJIUzI1NiJ9." + random_hex(secret_rng, 40);
    jwts[token] = jwt_state{acc.spec.user_name, clock->now() + settings.session_timeout};
    response r = json_response(200, login_body(acc, &token));
    r.headers.emplace_back("Authorization", "Bearer " + token);
    return r;
}

// Scope and permissions -----------------------------------------------------------------

// User#permitted_to_access_record?: scope `all`, or the user is among the record's
// associated users (owner and assigned).
bool primero_sandbox::impl::in_scope(const account& me, const Value& rec) {
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

bool primero_sandbox::impl::can_read(const account& me, const Value& rec) {
    return me.can("read") && in_scope(me, rec);
}

// UserTransitionService: an enabled, non-system user other than the sender whose role
// receives this kind of transition.
bool primero_sandbox::impl::can_receive(
    const std::string& to, const std::string& type, const account& sender
) const {
    const auto it = accounts.find(to);
    if (it == accounts.end() || it->second.spec.system_account || to == sender.spec.user_name) {
        return false;
    }
    return it->second.can(type == "Referral" ? "receive_referral" : "receive_transfer");
}

}  // namespace casebridge::sandbox
