// Auth and calls: the OAuth token (one request at a time), one API call with one resend
// after a 401, the object an answer must be.
#include "progres_ping/adapter_impl.hpp"

namespace casebridge::progres_ping {

// The configured names plus those of a request sent (member names, field-list names).
field_names progres_ping_adapter::impl::names_in(std::string_view request_body) const {
    field_names out = config_names;
    collect_field_names(request_body, name_lists, out);
    return out;
}

field_names progres_ping_adapter::impl::names_of(const Value& request) const {
    field_names out = config_names;
    collect_field_names(request, name_lists, out);
    return out;
}

const stream_settings* progres_ping_adapter::impl::stream(const std::string& name) const {
    const auto it = cfg.streams.find(name);
    return it == cfg.streams.end() ? nullptr : &it->second;
}

// Auth -------------------------------------------------------------------------------------

// A usable token: the current one, the one a request in flight brings, or a new one.
// Errors: those of request_token (the same error for every caller waiting on it);
// remote_unavailable when a wait is cancelled or its request is abandoned.
awaitable<remote_result<void>> progres_ping_adapter::impl::ensure_token() {
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
                r->outcome = make_remote_error(errc::remote_unavailable, "token request abandoned");
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

awaitable<remote_result<void>> progres_ping_adapter::impl::request_token() {
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
            {.error = make_error_code(errc::auth_failed), .counts = {{"http_status", r->status}}}
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
    env.log.info("ping.token", "access token obtained", {.counts = {{"expires_in_s", lifetime}}});
    co_return remote_result<void>{};
}

// One API call (POST, JSON). A 401 drops the token: one new token, one resend (API
// management refuses before PING sees the request, so the resend cannot write twice).
awaitable<remote_result<http_response>> progres_ping_adapter::impl::call(
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

remote_result<Document> progres_ping_adapter::impl::parse_object(
    const http_response& r, const std::string& id
) {
    auto doc = json::parse(r.body);
    if (!doc || !doc->IsObject()) {
        return record_error(errc::bad_payload, "answer is not a JSON object", id, r.status);
    }
    return std::move(*doc);
}

}  // namespace casebridge::progres_ping
