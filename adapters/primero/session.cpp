// Auth and calls: basic, session cookie with CSRF token, JWT with one refresh, bearer; one API
// call with one login retry.
#include "primero/adapter_impl.hpp"

namespace casebridge::primero {

void primero_adapter::impl::store_cookies(const http_response& r) {
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

remote_result<std::vector<http_header>> primero_adapter::impl::auth_headers(
    const std::string& method
) {
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
                return make_remote_error(errc::auth_failed, "bearer token file is not readable");
            }
            h.push_back({"Authorization", "Bearer " + *token});
            break;
        }
    }
    return h;
}

// POST /api/v2/tokens. A refused login is tried once more (with the secret read again),
// then never again until the secret changes: six refusals lock the account for 30 min.
awaitable<remote_result<void>> primero_adapter::impl::login() {
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
awaitable<bool> primero_adapter::impl::refresh_jwt() {
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
awaitable<remote_result<http_response>> primero_adapter::impl::call(
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

}  // namespace casebridge::primero
