// Calls to the hub (bearer token, client certificate) and the linkage schema it expects.
#include "casebridge_hub/adapter_impl.hpp"

namespace casebridge::casebridge_hub {

awaitable<remote_result<http_response>> hub_adapter::impl::call(
    std::string method, std::string path, std::string body
) {
    const auto token = read_secret(cfg.token);
    if (!token || token->empty()) {
        co_return make_remote_error(errc::auth_failed, "hub token is not readable");
    }
    http_request req;
    req.method = std::move(method);
    req.url = cfg.base_url + std::string(api) + path;
    req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
    if (!body.empty()) {
        req.headers.push_back({"Content-Type", "application/json"});
    }
    req.body = body;
    auto r = co_await env.http->send(std::move(req));
    if (!r) {
        co_return r.error();
    }
    if (r->status >= 400) {
        auto e = hub_error(*r, body);
        env.log.warn(
            "hub.request_refused",
            "the hub refused a request",
            {.error = e.code, .counts = {{"http_status", r->status}}}
        );
        co_return e;
    }
    co_return std::move(*r);
}

remote_result<Document> hub_adapter::impl::object_of(const http_response& r) {
    auto doc = json::parse(r.body);
    if (!doc || !doc->IsObject()) {
        return make_remote_error(errc::bad_payload, "hub answer is not a JSON object", r.status);
    }
    return std::move(*doc);
}

awaitable<remote_result<hub_schema>> hub_adapter::impl::fetch_schema() {
    auto r = co_await call("GET", "/schema", {});
    if (!r) {
        co_return r.error();
    }
    auto doc = object_of(*r);
    if (!doc) {
        co_return doc.error();
    }
    const Value& d = *doc;
    const auto positive = [&](const char* name) {
        return d.HasMember(name) && d[name].IsUint64() && d[name].GetUint64() > 0;
    };
    if (!positive("linkage_schema_version") || !positive("encoded_words") ||
        !positive("max_batch_records") || !d.HasMember("coarse_fields") ||
        !d["coarse_fields"].IsArray()) {
        co_return make_remote_error(
            errc::bad_payload,
            "hub schema answer lacks linkage_schema_version, encoded_words, max_batch_records "
            "or coarse_fields",
            r->status
        );
    }
    hub_schema s;
    if (d.HasMember("agency") && d["agency"].IsString()) {
        s.agency = str(d["agency"]);
    }
    s.linkage_schema_version = static_cast<int>(d["linkage_schema_version"].GetUint64());
    s.encoded_words = static_cast<std::size_t>(d["encoded_words"].GetUint64());
    s.max_batch_records = static_cast<std::size_t>(d["max_batch_records"].GetUint64());
    for (const auto& f : d["coarse_fields"].GetArray()) {
        if (f.IsString()) {
            s.coarse_fields.push_back(str(f));
        }
    }
    co_return s;
}

// Every queued record against the hub's schema: a difference is a configuration problem
// (agency and hub out of step), never a problem of one record.
remote_result<void> hub_adapter::impl::check_against(const hub_schema& s) const {
    for (const auto& r : records) {
        if (r.schema_version != s.linkage_schema_version) {
            return make_remote_error(
                errc::invalid_config,
                "the hub expects linkage_schema_version " +
                    std::to_string(s.linkage_schema_version) +
                    " but the profile's linkage step encodes under version " +
                    std::to_string(r.schema_version) +
                    " (the agency's profile and the hub must use the same linkage schema)"
            );
        }
        if (r.filter_bytes != s.encoded_words * 8) {
            return make_remote_error(
                errc::invalid_config,
                "the hub expects encodings of " + std::to_string(s.encoded_words * 8) +
                    " bytes but the profile's linkage step makes " + std::to_string(r.filter_bytes)
            );
        }
        for (const auto& k : r.coarse_keys) {
            if (std::find(s.coarse_fields.begin(), s.coarse_fields.end(), k) ==
                s.coarse_fields.end()) {
                return make_remote_error(
                    errc::invalid_config,
                    "the hub does not take the coarse field " + k +
                        " (the outbound mapping writes it under /coarse)"
                );
            }
        }
    }
    return {};
}

}  // namespace casebridge::casebridge_hub
