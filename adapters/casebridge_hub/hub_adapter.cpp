#include "casebridge_hub/hub_adapter.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "core/result.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "net/remote_text.hpp"
#include "net/url.hpp"

namespace casebridge::casebridge_hub {
namespace {

using rapidjson::Document;
using rapidjson::Value;

constexpr std::string_view api = "/hub/v1";
constexpr std::size_t max_pseudonym = 128;

// The contract's error codes: anything else the hub says is not repeated.
constexpr std::string_view hub_codes[] = {
    "unauthenticated",
    "not_found",
    "method_not_allowed",
    "too_large",
    "malformed",
    "field_not_allowed",
    "schema_version",
    "internal"};

bool pseudonym_ok(std::string_view p) {
    return !p.empty() && p.size() <= max_pseudonym && std::all_of(p.begin(), p.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ':' || c == '.' || c == '_' || c == '-';
    });
}

bool lower_hex16(std::string_view v) {
    return v.size() == 16 && std::all_of(v.begin(), v.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::string str(const Value& v) {
    return {v.GetString(), v.GetStringLength()};
}

// "at /records/3/filter: ..." → "/records/3/filter": a JSON Pointer into what was sent, which
// holds no value (the hub's messages name pointers, never values; anything else is dropped).
std::string pointer_in(std::string_view message) {
    const auto at = message.find("at /");
    if (at == std::string_view::npos) {
        return {};
    }
    std::string out;
    for (std::size_t i = at + 3; i < message.size() && out.size() < 200; ++i) {
        const char c = message[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' || c == '~' ||
                        c == '.';
        if (!ok) {
            break;
        }
        out += c;
    }
    return out;
}

// An error answer as a remote_error: the status's class, the hub's code when it is one of the
// contract's, the pointer its message names and the names of our own fields it mentions.
remote_error hub_error(const http_response& r, std::string_view request_body) {
    remote_error e = error_from_status(r);
    std::string code;
    std::string message;
    std::optional<std::int64_t> expected;
    std::optional<std::int64_t> received;
    if (auto doc = json::parse(r.body);
        doc && doc->IsObject() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
        const Value& err = (*doc)["error"];
        if (err.HasMember("code") && err["code"].IsString()) {
            const std::string c = str(err["code"]);
            if (std::find(std::begin(hub_codes), std::end(hub_codes), c) != std::end(hub_codes)) {
                code = c;
            }
        }
        if (err.HasMember("message") && err["message"].IsString()) {
            message = str(err["message"]);
        }
        const auto number = [&](const char* name) -> std::optional<std::int64_t> {
            for (const Value* v : {static_cast<const Value*>(&*doc), &err}) {
                if (v->HasMember(name) && (*v)[name].IsInt64()) {
                    return (*v)[name].GetInt64();
                }
            }
            return std::nullopt;
        };
        expected = number("expected");
        received = number("received");
    }
    if (r.status == 409 || code == "schema_version") {
        // The hub compares encodings of one linkage schema only: nothing is stored until the
        // agency's profile and the hub agree, so retrying cannot help.
        e.code = make_error_code(errc::invalid_config);
        e.detail = "the hub refused the linkage schema version (schema_version)";
        if (expected && received) {
            e.detail = "the hub expects linkage_schema_version " + std::to_string(*expected) +
                       " but received " + std::to_string(*received) +
                       " (the agency's profile and the hub must use the same linkage schema)";
        }
        return e;
    }
    if (r.status == 413) {
        e.code = make_error_code(errc::too_large);
    }
    e.detail = "hub";
    if (!code.empty()) {
        e.detail += " " + code;
    }
    if (const auto p = pointer_in(message); !p.empty()) {
        e.detail += " at " + p;
    }
    // Names of our own request's members the message mentions (a coarse field not allowed).
    field_names names;
    collect_field_names(request_body, {}, names);
    const std::string kept = allowed_remote_text(message, {}, names);
    if (const auto open = kept.find(" ["); open != std::string::npos) {
        e.detail += kept.substr(open);
    }
    return e;
}

}  // namespace

struct hub_adapter::impl {
    settings cfg;
    adapter_env env;
    std::optional<hub_schema> checked;  // the hub's schema, once read

    struct pending_record {
        std::string pseudonym;
        int schema_version = 0;
        std::size_t filter_bytes = 0;
        std::vector<std::string> coarse_keys;
        Document record;  // as the contract has it
    };
    std::vector<pending_record> records;
    std::map<std::string, std::size_t> record_index;  // pseudonym → position in records
    std::vector<std::string> withdrawals;
    std::set<std::string> withdrawal_set;

    impl(settings s, adapter_env e) : cfg(std::move(s)), env(std::move(e)) {}

    awaitable<remote_result<http_response>> call(
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

    static remote_result<Document> object_of(const http_response& r) {
        auto doc = json::parse(r.body);
        if (!doc || !doc->IsObject()) {
            return make_remote_error(
                errc::bad_payload, "hub answer is not a JSON object", r.status
            );
        }
        return std::move(*doc);
    }

    awaitable<remote_result<hub_schema>> fetch_schema() {
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
    remote_result<void> check_against(const hub_schema& s) const {
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
                        " bytes but the profile's linkage step makes " +
                        std::to_string(r.filter_bytes)
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

    std::size_t batch_limit() const {
        const std::size_t hub = checked ? checked->max_batch_records : cfg.batch_size;
        return std::max<std::size_t>(1, std::min(cfg.batch_size, hub));
    }

    awaitable<remote_result<void>> send_records() {
        while (!records.empty()) {
            const std::size_t n = std::min(batch_limit(), records.size());
            Document body(rapidjson::kObjectType);
            auto& a = body.GetAllocator();
            body.AddMember("linkage_schema_version", records.front().schema_version, a);
            Value list(rapidjson::kArrayType);
            for (std::size_t i = 0; i < n; ++i) {
                list.PushBack(Value(records[i].record, a), a);
            }
            body.AddMember("records", list, a);
            auto r = co_await call("POST", "/records", json::to_string(body));
            if (!r) {
                if (r.error().code == make_error_code(errc::invalid_config)) {
                    checked.reset();  // read the hub's schema again before the next batch
                }
                co_return r.error();
            }
            auto doc = object_of(*r);
            if (!doc) {
                co_return doc.error();
            }
            const Value& d = *doc;
            if (!d.HasMember("stored") || !d["stored"].IsUint64() || !d.HasMember("unchanged") ||
                !d["unchanged"].IsUint64() ||
                d["stored"].GetUint64() + d["unchanged"].GetUint64() != n) {
                co_return make_remote_error(
                    errc::bad_payload,
                    "hub answer to a batch does not count every record sent (stored + unchanged)",
                    r->status
                );
            }
            env.log.info(
                "hub.records_sent",
                "batch of encoded records taken by the hub",
                {.counts =
                     {{"records", static_cast<std::int64_t>(n)},
                      {"stored", static_cast<std::int64_t>(d["stored"].GetUint64())},
                      {"unchanged", static_cast<std::int64_t>(d["unchanged"].GetUint64())}}}
            );
            records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(n));
            record_index.clear();
            for (std::size_t i = 0; i < records.size(); ++i) {
                record_index.emplace(records[i].pseudonym, i);
            }
        }
        co_return remote_result<void>{};
    }

    awaitable<remote_result<void>> send_withdrawals() {
        while (!withdrawals.empty()) {
            const std::size_t n = std::min(batch_limit(), withdrawals.size());
            Document body(rapidjson::kObjectType);
            auto& a = body.GetAllocator();
            Value list(rapidjson::kArrayType);
            for (std::size_t i = 0; i < n; ++i) {
                list.PushBack(Value(withdrawals[i].c_str(), a), a);
            }
            body.AddMember("pseudonyms", list, a);
            body.AddMember("reason", "consent_withdrawn", a);
            auto r = co_await call("POST", "/withdrawals", json::to_string(body));
            if (!r) {
                co_return r.error();
            }
            auto doc = object_of(*r);
            if (!doc) {
                co_return doc.error();
            }
            const Value& d = *doc;
            if (!d.HasMember("withdrawn") || !d["withdrawn"].IsUint64() ||
                !d.HasMember("unknown") || !d["unknown"].IsUint64() ||
                d["withdrawn"].GetUint64() + d["unknown"].GetUint64() != n) {
                co_return make_remote_error(
                    errc::bad_payload,
                    "hub answer to withdrawals does not count every pseudonym sent",
                    r->status
                );
            }
            // "unknown": withdrawn before, or never received; either way the hub holds nothing.
            env.log.info(
                "hub.withdrawals_sent",
                "withdrawals taken by the hub",
                {.counts =
                     {{"pseudonyms", static_cast<std::int64_t>(n)},
                      {"withdrawn", static_cast<std::int64_t>(d["withdrawn"].GetUint64())},
                      {"unknown", static_cast<std::int64_t>(d["unknown"].GetUint64())}}}
            );
            for (std::size_t i = 0; i < n; ++i) {
                withdrawal_set.erase(withdrawals[i]);
            }
            withdrawals.erase(
                withdrawals.begin(), withdrawals.begin() + static_cast<std::ptrdiff_t>(n)
            );
        }
        co_return remote_result<void>{};
    }

    // The mapped record plus the profile's encoding, checked member by member and rebuilt in
    // the contract's shape: nothing that is not named here goes.
    remote_result<pending_record> prepare(const Value& body) const {
        const auto bad = [](std::string what) {
            return make_remote_error(errc::mapping_failed, std::move(what));
        };
        if (!body.IsObject()) {
            return bad("record body is not an object");
        }
        for (const auto& m : body.GetObject()) {
            const std::string_view name(m.name.GetString(), m.name.GetStringLength());
            if (name != "pseudonym" && name != "coarse" && name != "linkage") {
                return bad(
                    "/" + std::string(name) +
                    ": not part of a hub record (pseudonym, coarse, linkage)"
                );
            }
        }
        pending_record p;
        if (!body.HasMember("pseudonym") || !body["pseudonym"].IsString() ||
            !pseudonym_ok(str(body["pseudonym"]))) {
            return bad("/pseudonym: missing, or not 1 to 128 characters of A-Z a-z 0-9 : . _ -");
        }
        p.pseudonym = str(body["pseudonym"]);
        if (!body.HasMember("linkage") || !body["linkage"].IsObject()) {
            return bad("/linkage: the record carries no encoding (the profile needs a linkage step)"
            );
        }
        const Value& l = body["linkage"];
        if (!l.HasMember("schema_version") || !l["schema_version"].IsInt() ||
            l["schema_version"].GetInt() < 1) {
            return bad("/linkage/schema_version: missing or not a positive integer");
        }
        p.schema_version = l["schema_version"].GetInt();
        if (!l.HasMember("filter") || !l["filter"].IsString()) {
            return bad("/linkage/filter: missing or not base64");
        }
        const auto filter = base64_decode(str(l["filter"]));
        if (!filter || filter->empty() || filter->size() % 8 != 0) {
            return bad("/linkage/filter: not base64 of whole 64-bit words");
        }
        p.filter_bytes = filter->size();
        if (!l.HasMember("tokens") || !l["tokens"].IsArray()) {
            return bad("/linkage/tokens: missing or not an array");
        }
        auto& a = p.record.GetAllocator();
        p.record.SetObject();
        p.record.AddMember("pseudonym", Value(p.pseudonym.c_str(), a), a);
        p.record.AddMember("filter", Value(l["filter"], a), a);
        Value tokens(rapidjson::kArrayType);
        std::int64_t last_kind = -1;
        for (const auto& t : l["tokens"].GetArray()) {
            if (!t.IsObject() || !t.HasMember("kind") || !t["kind"].IsUint() ||
                !t.HasMember("value") || !t["value"].IsString() || !lower_hex16(str(t["value"])) ||
                static_cast<std::int64_t>(t["kind"].GetUint()) <= last_kind) {
                return bad(
                    "/linkage/tokens: each is {kind, value: 16 lower-case hex digits}, sorted by "
                    "kind, at most one per kind"
                );
            }
            last_kind = t["kind"].GetUint();
            Value token(rapidjson::kObjectType);
            token.AddMember("kind", t["kind"].GetUint(), a);
            token.AddMember("value", Value(t["value"], a), a);
            tokens.PushBack(token, a);
        }
        p.record.AddMember("tokens", tokens, a);
        Value coarse(rapidjson::kObjectType);
        if (body.HasMember("coarse")) {
            if (!body["coarse"].IsObject()) {
                return bad("/coarse: not an object");
            }
            for (const auto& m : body["coarse"].GetObject()) {
                const std::string key = str(m.name);
                if (!m.value.IsString()) {
                    return bad("/coarse/" + key + ": not a string");
                }
                p.coarse_keys.push_back(key);
                coarse.AddMember(Value(key.c_str(), a), Value(m.value, a), a);
            }
        }
        p.record.AddMember("coarse", coarse, a);
        return p;
    }
};

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://[^/]+$"},
    "token_file": {"type": "string", "minLength": 1},
    "token_env": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 10000}
  }
})";
}

settings settings_from_json(const rapidjson::Value& config) {
    settings s;
    s.base_url = config["base_url"].GetString();
    if (config.HasMember("token_file")) {
        s.token.file = config["token_file"].GetString();
    }
    if (config.HasMember("token_env")) {
        s.token.env = config["token_env"].GetString();
    }
    if (s.token.file.empty() == s.token.env.empty()) {
        throw std::invalid_argument(
            "casebridge_hub: the agency's token comes from exactly one of token_file or token_env"
        );
    }
    if (config.HasMember("batch_size")) {
        s.batch_size = config["batch_size"].GetUint();
    }
    return s;
}

namespace {
std::unique_ptr<adapter> create_adapter(const rapidjson::Value& config, adapter_env env) {
    return std::make_unique<hub_adapter>(settings_from_json(config), std::move(env));
}
}  // namespace

adapter_factory make_factory() {
    return adapter_factory{"casebridge_hub", config_schema(), &create_adapter};
}

hub_adapter::hub_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.http != nullptr);
    if (impl_->cfg.batch_size < 1) {
        throw std::invalid_argument("casebridge_hub: batch_size must be at least 1");
    }
    while (!impl_->cfg.base_url.empty() && impl_->cfg.base_url.back() == '/') {
        impl_->cfg.base_url.pop_back();
    }
}

hub_adapter::~hub_adapter() = default;

namespace {
bool serves(std::string_view stream) {
    return stream.empty() || stream == records_stream;
}
remote_error target_only() {
    return make_remote_error(
        errc::not_found,
        "the hub adapter receives records (stream records) and gives notices (stream notices, "
        "pull only)"
    );
}
}  // namespace

awaitable<remote_result<pull_page>> hub_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    if (stream != notices_stream) {
        co_return target_only();
    }
    std::string path = "/notices";
    if (cursor && !cursor->empty()) {
        path += "?after=" + percent_encode(*cursor);
    }
    auto r = co_await impl_->call("GET", path, {});
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::object_of(*r);
    if (!doc) {
        co_return doc.error();
    }
    const Value& d = *doc;
    if (!d.HasMember("notices") || !d["notices"].IsArray() || !d.HasMember("next") ||
        !d["next"].IsString() || !d.HasMember("has_more") || !d["has_more"].IsBool()) {
        co_return make_remote_error(
            errc::bad_payload, "hub notices answer lacks notices, next or has_more", r->status
        );
    }
    pull_page page;
    for (const auto& n : d["notices"].GetArray()) {
        if (!n.IsObject() || !n.HasMember("id") || !n["id"].IsString() ||
            n["id"].GetStringLength() == 0) {
            co_return make_remote_error(
                errc::bad_payload, "hub notice without a string id", r->status
            );
        }
        external_record rec;
        rec.stream = std::string(notices_stream);
        rec.remote_id = str(n["id"]);
        rec.body.CopyFrom(n, rec.body.GetAllocator());
        page.records.push_back(std::move(rec));
    }
    page.next_cursor = str(d["next"]);
    page.has_more = d["has_more"].GetBool();
    impl_->env.log.debug(
        "hub.notices_pulled",
        "notices read from the hub",
        {.counts = {{"notices", static_cast<std::int64_t>(page.records.size())}}}
    );
    co_return page;
}

std::optional<duplicate_notice> hub_adapter::notice_of(const external_record& record) const {
    const Value& b = record.body;
    if (!b.IsObject()) {
        return std::nullopt;
    }
    const auto text = [&b](const char* name) -> std::optional<std::string> {
        if (!b.HasMember(name) || !b[name].IsString() || b[name].GetStringLength() == 0) {
            return std::nullopt;
        }
        return str(b[name]);
    };
    const auto id = text("id");
    const auto kind = text("kind");
    const auto pseudonym = text("pseudonym");
    const auto reference = text("reference");
    if (!id || !kind || !pseudonym || !reference || !b.HasMember("other_agencies") ||
        !b["other_agencies"].IsArray()) {
        return std::nullopt;
    }
    const auto digits = [](const std::string& s) {
        return s.size() <= 19 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const auto ref_ok = [](const std::string& s) {
        return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '_' || c == '-';
               });
    };
    if (!digits(*id) || !pseudonym_ok(*pseudonym) || !ref_ok(*reference)) {
        return std::nullopt;
    }
    duplicate_notice out;
    if (*kind == "possible_duplicate") {
        out.what = duplicate_notice::kind::possible_duplicate;
    } else if (*kind == "retraction") {
        out.what = duplicate_notice::kind::retraction;
    } else {
        return std::nullopt;
    }
    out.id = *id;
    out.pseudonym = *pseudonym;
    out.reference = *reference;
    for (const auto& a : b["other_agencies"].GetArray()) {
        if (!a.IsObject() || !a.HasMember("id") || !a["id"].IsString() ||
            a["id"].GetStringLength() == 0 || !a.HasMember("name") || !a["name"].IsString() ||
            a["name"].GetStringLength() == 0 || a["name"].GetStringLength() > 200) {
            return std::nullopt;
        }
        out.other_agencies.push_back({str(a["id"]), str(a["name"])});
    }
    const bool dup = out.what == duplicate_notice::kind::possible_duplicate;
    if (dup == out.other_agencies.empty()) {
        return std::nullopt;  // a possible duplicate names others; a retraction names none
    }
    std::sort(
        out.other_agencies.begin(),
        out.other_agencies.end(),
        [](const auto& x, const auto& y) { return x.id < y.id; }
    );
    return out;
}

awaitable<remote_result<external_record>> hub_adapter::fetch(std::string, std::string) {
    co_return target_only();
}

awaitable<remote_result<std::string>> hub_adapter::push(external_record record) {
    if (!serves(record.stream)) {
        co_return target_only();
    }
    auto p = impl_->prepare(record.body);
    if (!p) {
        co_return p.error();
    }
    std::string id = p->pseudonym;
    // A record queued twice before a flush goes once, in its newest form.
    if (const auto at = impl_->record_index.find(id); at != impl_->record_index.end()) {
        impl_->records[at->second] = std::move(*p);
    } else {
        impl_->record_index.emplace(id, impl_->records.size());
        impl_->records.push_back(std::move(*p));
    }
    co_return id;
}

bool hub_adapter::can_notify_withdrawal(std::string_view stream) const noexcept {
    return serves(stream);
}

awaitable<remote_result<std::string>> hub_adapter::notify_withdrawal(
    std::string stream, std::string shared_remote_id, std::string, std::string
) {
    if (!serves(stream)) {
        co_return target_only();
    }
    if (!pseudonym_ok(shared_remote_id)) {
        co_return make_remote_error(
            errc::mapping_failed, "a withdrawal needs the pseudonym the record was sent under"
        );
    }
    if (impl_->withdrawal_set.insert(shared_remote_id).second) {
        impl_->withdrawals.push_back(shared_remote_id);
    }
    co_return "withdrawal:" + shared_remote_id;
}

awaitable<remote_result<void>> hub_adapter::flush() {
    auto& m = *impl_;
    if (m.records.empty() && m.withdrawals.empty()) {
        co_return remote_result<void>{};
    }
    if (!m.checked) {
        auto s = co_await m.fetch_schema();
        if (!s) {
            co_return s.error();
        }
        m.checked = std::move(*s);
        m.env.log.info(
            "hub.schema_checked",
            "hub schema read",
            {.counts =
                 {{"linkage_schema_version", m.checked->linkage_schema_version},
                  {"max_batch_records", static_cast<std::int64_t>(m.checked->max_batch_records)}}}
        );
    }
    if (auto ok = m.check_against(*m.checked); !ok) {
        m.checked.reset();  // read again next time: the hub or the profile may change
        m.env.log.error(
            "hub.schema_mismatch",
            "the hub's linkage schema differs from the profile's; nothing sent",
            {.error = ok.error().code}
        );
        co_return ok.error();
    }
    auto sent = co_await m.send_records();
    if (!sent) {
        co_return sent.error();
    }
    co_return co_await m.send_withdrawals();
}

void hub_adapter::discard_pending() noexcept {
    impl_->records.clear();
    impl_->record_index.clear();
    impl_->withdrawals.clear();
    impl_->withdrawal_set.clear();
}

std::optional<std::string> hub_adapter::credential_fingerprint() const {
    const auto token = read_secret(impl_->cfg.token);
    if (!token) {
        return std::nullopt;
    }
    return crypto::sha256_hex("casebridge_hub\n" + *token);
}

awaitable<remote_result<void>> hub_adapter::probe() {
    auto s = co_await impl_->fetch_schema();
    if (!s) {
        co_return s.error();
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<hub_schema>> hub_adapter::schema() {
    co_return co_await impl_->fetch_schema();
}

std::size_t hub_adapter::pending_records() const noexcept {
    return impl_->records.size();
}

std::size_t hub_adapter::pending_withdrawals() const noexcept {
    return impl_->withdrawals.size();
}

}  // namespace casebridge::casebridge_hub
