#include "support/fake_hub.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <set>

#include <rapidjson/document.h>

#include "core/encoding.hpp"
#include "json/json.hpp"

namespace casebridge::test {
namespace {

reply error_reply(unsigned status, const std::string& code, const std::string& message) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    rapidjson::Value e(rapidjson::kObjectType);
    e.AddMember("code", rapidjson::Value(code.c_str(), a), a);
    e.AddMember("message", rapidjson::Value(message.c_str(), a), a);
    d.AddMember("error", e, a);
    return reply{status, json::to_string(d)};
}

bool pseudonym_ok(const std::string& p) {
    return !p.empty() && p.size() <= 128 && std::all_of(p.begin(), p.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.' ||
               c == '_' || c == '-';
    });
}

bool hex16(const std::string& v) {
    return v.size() == 16 && std::all_of(v.begin(), v.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

}  // namespace

struct fake_hub::impl {
    fake_hub_settings cfg;
    mutable std::mutex mutex;
    std::map<std::string, hub_record> records;
    std::vector<std::pair<std::string, std::string>> withdrawals;
    std::deque<hub_failure> failures;
    std::unique_ptr<fake_http_server> server;

    reply handle(const recorded_request& req) {
        std::lock_guard lock(mutex);
        const auto auth = req.headers.find("authorization");
        if (auth == req.headers.end() || auth->second != "Bearer " + cfg.token) {
            return error_reply(
                401,
                "unauthenticated",
                auth == req.headers.end() ? "missing token" : "token not recognised"
            );
        }
        for (auto it = failures.begin(); it != failures.end(); ++it) {
            if (it->path != req.target) {
                continue;
            }
            if (it->after > 0) {
                --it->after;
                break;  // this one is answered normally
            }
            reply r = error_reply(it->status, it->code, it->message);
            if (!it->retry_after.empty()) {
                r.headers.emplace_back("Retry-After", it->retry_after);
            }
            failures.erase(it);
            return r;
        }
        if (req.target == "/hub/v1/schema") {
            if (req.method != "GET") {
                return error_reply(405, "method_not_allowed", "GET only");
            }
            rapidjson::Document d(rapidjson::kObjectType);
            auto& a = d.GetAllocator();
            d.AddMember("agency", rapidjson::Value(cfg.agency.c_str(), a), a);
            d.AddMember("linkage_schema_version", cfg.schema_version, a);
            d.AddMember("encoded_words", static_cast<std::uint64_t>(cfg.encoded_words), a);
            d.AddMember("max_batch_records", static_cast<std::uint64_t>(cfg.max_batch_records), a);
            rapidjson::Value fields(rapidjson::kArrayType);
            for (const auto& f : cfg.coarse_fields) {
                fields.PushBack(rapidjson::Value(f.c_str(), a), a);
            }
            d.AddMember("coarse_fields", fields, a);
            return reply{200, json::to_string(d)};
        }
        if (req.target == "/hub/v1/records") {
            return req.method == "POST" ? records_post(req.body)
                                        : error_reply(405, "method_not_allowed", "POST only");
        }
        if (req.target == "/hub/v1/withdrawals") {
            return req.method == "POST" ? withdrawals_post(req.body)
                                        : error_reply(405, "method_not_allowed", "POST only");
        }
        return error_reply(404, "not_found", "no such route");
    }

    reply records_post(const std::string& body) {
        auto doc = json::parse(body);
        if (!doc || !doc->IsObject()) {
            return error_reply(400, "malformed", "at : not a JSON object");
        }
        const auto& d = *doc;
        if (!d.HasMember("linkage_schema_version") || !d["linkage_schema_version"].IsInt()) {
            return error_reply(400, "malformed", "at /linkage_schema_version: expected an integer");
        }
        if (d["linkage_schema_version"].GetInt() != cfg.schema_version) {
            reply r = error_reply(409, "schema_version", "linkage schema version differs");
            auto e = json::parse(r.body);
            auto& a = e->GetAllocator();
            e->AddMember("expected", cfg.schema_version, a);
            e->AddMember("received", d["linkage_schema_version"].GetInt(), a);
            r.body = json::to_string(*e);
            return r;
        }
        if (!d.HasMember("records") || !d["records"].IsArray()) {
            return error_reply(400, "malformed", "at /records: expected an array");
        }
        const auto& list = d["records"];
        if (list.Size() > cfg.max_batch_records) {
            return error_reply(413, "too_large", "more than max_batch_records records");
        }
        std::map<std::string, hub_record> batch;
        for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
            const std::string at = "at /records/" + std::to_string(i);
            const auto& r = list[i];
            if (!r.IsObject()) {
                return error_reply(400, "malformed", at + ": expected an object");
            }
            for (const auto& m : r.GetObject()) {
                const std::string n = m.name.GetString();
                if (n != "pseudonym" && n != "filter" && n != "tokens" && n != "coarse") {
                    return error_reply(400, "malformed", at + "/" + n + ": unexpected member");
                }
            }
            if (!r.HasMember("pseudonym") || !r["pseudonym"].IsString() ||
                !pseudonym_ok(r["pseudonym"].GetString())) {
                return error_reply(400, "malformed", at + "/pseudonym: expected a pseudonym");
            }
            hub_record rec;
            if (!r.HasMember("filter") || !r["filter"].IsString()) {
                return error_reply(400, "malformed", at + "/filter: expected base64");
            }
            const auto bytes = base64_decode(r["filter"].GetString());
            if (!bytes || bytes->size() != cfg.encoded_words * 8) {
                return error_reply(
                    400,
                    "malformed",
                    at + "/filter: expected base64 of " + std::to_string(cfg.encoded_words * 8) +
                        " bytes"
                );
            }
            rec.filter = r["filter"].GetString();
            if (!r.HasMember("tokens") || !r["tokens"].IsArray()) {
                return error_reply(400, "malformed", at + "/tokens: expected an array");
            }
            std::int64_t last = -1;
            for (const auto& t : r["tokens"].GetArray()) {
                if (!t.IsObject() || !t.HasMember("kind") || !t["kind"].IsUint() ||
                    !t.HasMember("value") || !t["value"].IsString() ||
                    !hex16(t["value"].GetString()) ||
                    static_cast<std::int64_t>(t["kind"].GetUint()) <= last) {
                    return error_reply(400, "malformed", at + "/tokens: expected id tokens");
                }
                last = t["kind"].GetUint();
                rec.tokens.emplace_back(t["kind"].GetUint(), t["value"].GetString());
            }
            if (r.HasMember("coarse")) {
                if (!r["coarse"].IsObject()) {
                    return error_reply(400, "malformed", at + "/coarse: expected an object");
                }
                for (const auto& m : r["coarse"].GetObject()) {
                    const std::string key = m.name.GetString();
                    if (std::find(cfg.coarse_fields.begin(), cfg.coarse_fields.end(), key) ==
                        cfg.coarse_fields.end()) {
                        return error_reply(
                            400, "field_not_allowed", at + "/coarse: field " + key + " not accepted"
                        );
                    }
                    if (!m.value.IsString()) {
                        return error_reply(
                            400, "malformed", at + "/coarse/" + key + ": expected a string"
                        );
                    }
                    rec.coarse[key] = m.value.GetString();
                }
            }
            batch[r["pseudonym"].GetString()] = std::move(rec);
        }
        // All or nothing: only now is anything stored.
        std::uint64_t stored = 0;
        std::uint64_t unchanged = 0;
        for (auto& [p, rec] : batch) {
            auto& held = records[p];
            const bool same = !held.withdrawn && held.receipts > 0 && held.filter == rec.filter &&
                              held.tokens == rec.tokens && held.coarse == rec.coarse;
            rec.receipts = held.receipts + 1;
            held = std::move(rec);
            ++(same ? unchanged : stored);
        }
        return reply{
            200,
            R"({"stored":)" + std::to_string(stored) + R"(,"unchanged":)" +
                std::to_string(unchanged) + "}"};
    }

    reply withdrawals_post(const std::string& body) {
        auto doc = json::parse(body);
        if (!doc || !doc->IsObject() || !(*doc).HasMember("pseudonyms") ||
            !(*doc)["pseudonyms"].IsArray() || !(*doc).HasMember("reason") ||
            !(*doc)["reason"].IsString()) {
            return error_reply(400, "malformed", "at /pseudonyms: expected an array");
        }
        const std::string reason = (*doc)["reason"].GetString();
        if (reason != "consent_withdrawn" && reason != "case_closed" && reason != "retention") {
            return error_reply(400, "malformed", "at /reason: expected a reason");
        }
        std::uint64_t withdrawn = 0;
        std::uint64_t unknown = 0;
        for (const auto& p : (*doc)["pseudonyms"].GetArray()) {
            if (!p.IsString()) {
                return error_reply(400, "malformed", "at /pseudonyms: expected strings");
            }
        }
        for (const auto& p : (*doc)["pseudonyms"].GetArray()) {
            const std::string name = p.GetString();
            withdrawals.emplace_back(name, reason);
            auto it = records.find(name);
            if (it == records.end() || it->second.withdrawn) {
                ++unknown;
                continue;
            }
            it->second.withdrawn = true;
            it->second.filter.clear();
            it->second.tokens.clear();
            it->second.coarse.clear();
            ++withdrawn;
        }
        return reply{
            200,
            R"({"withdrawn":)" + std::to_string(withdrawn) + R"(,"unknown":)" +
                std::to_string(unknown) + "}"};
    }
};

fake_hub::fake_hub(fake_hub_settings s) : impl_(std::make_unique<impl>()) {
    impl_->cfg = std::move(s);
    auto h = [this](const recorded_request& r) { return impl_->handle(r); };
    impl_->server = impl_->cfg.tls ? std::make_unique<fake_http_server>(h, *impl_->cfg.tls)
                                   : std::make_unique<fake_http_server>(h);
}

fake_hub::~fake_hub() {
    impl_->server.reset();  // stops the server thread before the state goes
}

std::string fake_hub::base_url() const {
    return impl_->server->base_url();
}

fake_http_server& fake_hub::server() noexcept {
    return *impl_->server;
}

const fake_hub_settings& fake_hub::settings() const noexcept {
    return impl_->cfg;
}

void fake_hub::set_schema_version(int v) {
    std::lock_guard lock(impl_->mutex);
    impl_->cfg.schema_version = v;
}

void fake_hub::set_max_batch_records(std::size_t n) {
    std::lock_guard lock(impl_->mutex);
    impl_->cfg.max_batch_records = n;
}

void fake_hub::fail_next(hub_failure failure) {
    std::lock_guard lock(impl_->mutex);
    impl_->failures.push_back(std::move(failure));
}

std::map<std::string, hub_record> fake_hub::records() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->records;
}

std::vector<std::pair<std::string, std::string>> fake_hub::withdrawals() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->withdrawals;
}

std::vector<std::string> fake_hub::bodies() const {
    std::vector<std::string> out;
    for (const auto& r : impl_->server->requests()) {
        out.push_back(r.body);
    }
    return out;
}

std::size_t fake_hub::requests_to(const std::string& method, const std::string& path) const {
    const auto all = impl_->server->requests();
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& r) {
        return r.method == method && r.target == path;
    }));
}

}  // namespace casebridge::test
