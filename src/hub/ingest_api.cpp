#include "hub/ingest_api.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <variant>

#include <openssl/crypto.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/encoding.hpp"
#include "json/json.hpp"
#include "net/handoff.hpp"
#include "net/url.hpp"

namespace casebridge::hub {

namespace {

constexpr std::string_view base_path = "/hub/v1/";

std::string json_text(const rapidjson::Document& d) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

httpd::response json_response(unsigned status, const rapidjson::Document& d) {
    httpd::response r;
    r.status = status;
    r.body = json_text(d);
    return r;
}

/// A refusal of the request: status, code and a message naming a pointer or field.
struct refusal {
    unsigned status = 400;
    std::string code = "malformed";
    std::string message;
    std::optional<std::pair<int, int>> versions;  ///< schema_version: expected, received.

    httpd::response answer() const {
        if (!versions) {
            return error_response(status, code, message);
        }
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        rapidjson::Value e(rapidjson::kObjectType);
        e.AddMember("code", rapidjson::Value(code.c_str(), a), a);
        e.AddMember("message", rapidjson::Value(message.c_str(), a), a);
        d.AddMember("error", e, a);
        d.AddMember("expected", versions->first, a);
        d.AddMember("received", versions->second, a);
        return json_response(status, d);
    }
};

refusal malformed(const std::string& pointer, const std::string& what) {
    return refusal{
        400, "malformed", "at " + (pointer.empty() ? std::string("/") : pointer) + ": " + what, {}};
}

bool is_pseudonym(const rapidjson::Value& v) {
    if (!v.IsString() || v.GetStringLength() == 0 || v.GetStringLength() > 128) {
        return false;
    }
    const std::string_view s(v.GetString(), v.GetStringLength());
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ':' || c == '.' || c == '_' || c == '-';
    });
}

constexpr const char* pseudonym_rule =
    "expected a pseudonym: 1 to 128 characters of A-Z a-z 0-9 : . _ -";

std::optional<std::uint64_t> parse_hex64(const rapidjson::Value& v) {
    if (!v.IsString() || v.GetStringLength() != 16) {
        return std::nullopt;
    }
    std::uint64_t out = 0;
    for (rapidjson::SizeType i = 0; i < 16; ++i) {
        const char c = v.GetString()[i];
        unsigned d = 0;
        if (c >= '0' && c <= '9') {
            d = static_cast<unsigned>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = static_cast<unsigned>(c - 'a' + 10);
        } else {
            return std::nullopt;
        }
        out = (out << 4) | d;
    }
    return out;
}

/// Members of `v` other than `allowed` are refused: a misspelt member is an error, not data.
std::optional<refusal> only_members(
    const rapidjson::Value& v,
    const std::string& at,
    std::initializer_list<std::string_view> allowed
) {
    for (const auto& m : v.GetObject()) {
        const std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            return malformed(
                at + "/" + json::escape_pointer_token(std::string(name)), "unknown member"
            );
        }
    }
    return std::nullopt;
}

struct records_request {
    int schema_version = 0;
    std::vector<incoming_record> records;
};

/// Parses and checks an upsert body; every refusal names the first bad place.
std::variant<records_request, refusal> parse_records(
    const std::string& body, const ingest_context& ctx
) {
    auto doc = json::parse(body);
    if (!doc) {
        return malformed(doc.error().pointer, "not valid JSON (" + doc.error().message + ")");
    }
    const rapidjson::Value& root = *doc;
    if (!root.IsObject()) {
        return malformed("", "expected an object");
    }
    if (auto r = only_members(root, "", {"linkage_schema_version", "records"})) {
        return *r;
    }
    const auto ver = root.FindMember("linkage_schema_version");
    if (ver == root.MemberEnd()) {
        return malformed("/linkage_schema_version", "missing member");
    }
    if (!ver->value.IsInt()) {
        return malformed("/linkage_schema_version", "expected an integer");
    }
    records_request out;
    out.schema_version = ver->value.GetInt();
    if (out.schema_version != ctx.schema_version) {
        refusal r{
            409,
            "schema_version",
            "linkage_schema_version " + std::to_string(out.schema_version) + " is not the hub's " +
                std::to_string(ctx.schema_version) + ": re-encode with the hub's linkage schema",
            std::pair{ctx.schema_version, out.schema_version}};
        return r;
    }
    const auto recs = root.FindMember("records");
    if (recs == root.MemberEnd()) {
        return malformed("/records", "missing member");
    }
    if (!recs->value.IsArray()) {
        return malformed("/records", "expected an array");
    }
    if (recs->value.Size() > ctx.max_batch_records) {
        return refusal{
            413,
            "too_large",
            "at /records: " + std::to_string(recs->value.Size()) + " records, more than " +
                std::to_string(ctx.max_batch_records) + " in one request",
            {}};
    }
    const std::size_t filter_bytes = ctx.encoded_words * 8;
    std::map<std::string, std::size_t> seen;
    for (rapidjson::SizeType i = 0; i < recs->value.Size(); ++i) {
        const auto& rec = recs->value[i];
        const std::string at = "/records/" + std::to_string(i);
        if (!rec.IsObject()) {
            return malformed(at, "expected an object");
        }
        if (auto r = only_members(rec, at, {"pseudonym", "filter", "tokens", "coarse"})) {
            return *r;
        }
        incoming_record in;
        const auto p = rec.FindMember("pseudonym");
        if (p == rec.MemberEnd()) {
            return malformed(at + "/pseudonym", "missing member");
        }
        if (!is_pseudonym(p->value)) {
            return malformed(at + "/pseudonym", pseudonym_rule);
        }
        in.pseudonym.assign(p->value.GetString(), p->value.GetStringLength());
        if (const auto [it, fresh] = seen.emplace(in.pseudonym, i); !fresh) {
            return malformed(
                at + "/pseudonym",
                "the same pseudonym as /records/" + std::to_string(it->second) + "/pseudonym"
            );
        }
        const auto f = rec.FindMember("filter");
        if (f == rec.MemberEnd()) {
            return malformed(at + "/filter", "missing member");
        }
        const std::string expect = "expected base64 of " + std::to_string(filter_bytes) + " bytes";
        if (!f->value.IsString()) {
            return malformed(at + "/filter", expect);
        }
        auto bytes =
            base64_decode(std::string_view(f->value.GetString(), f->value.GetStringLength()));
        if (!bytes || bytes->size() != filter_bytes) {
            return malformed(at + "/filter", expect);
        }
        in.filter.assign(ctx.encoded_words, 0);
        for (std::size_t w = 0; w < ctx.encoded_words; ++w) {
            for (std::size_t b = 0; b < 8; ++b) {
                in.filter[w] |= std::uint64_t{static_cast<unsigned char>((*bytes)[w * 8 + b])}
                                << (8 * b);
            }
        }
        if (const auto t = rec.FindMember("tokens"); t != rec.MemberEnd()) {
            if (!t->value.IsArray()) {
                return malformed(at + "/tokens", "expected an array");
            }
            for (rapidjson::SizeType k = 0; k < t->value.Size(); ++k) {
                const auto& tok = t->value[k];
                const std::string tat = at + "/tokens/" + std::to_string(k);
                if (!tok.IsObject()) {
                    return malformed(tat, "expected an object");
                }
                if (auto r = only_members(tok, tat, {"kind", "value"})) {
                    return *r;
                }
                const auto kind = tok.FindMember("kind");
                const auto value = tok.FindMember("value");
                if (kind == tok.MemberEnd() || value == tok.MemberEnd()) {
                    return malformed(
                        tat + (kind == tok.MemberEnd() ? "/kind" : "/value"), "missing member"
                    );
                }
                if (!kind->value.IsUint() || kind->value.GetUint() >= ctx.identifier_kinds) {
                    return malformed(
                        tat + "/kind",
                        "expected an identifier index from 0 to " +
                            std::to_string(ctx.identifier_kinds - 1)
                    );
                }
                const auto v = parse_hex64(value->value);
                if (!v) {
                    return malformed(tat + "/value", "expected 16 lower-case hex digits");
                }
                linkage::id_token it{kind->value.GetUint(), *v};
                if (!in.tokens.empty() && in.tokens.back().kind >= it.kind) {
                    return malformed(
                        tat + "/kind", "tokens must be sorted by kind, at most one per kind"
                    );
                }
                in.tokens.push_back(it);
            }
        }
        if (const auto c = rec.FindMember("coarse"); c != rec.MemberEnd()) {
            if (!c->value.IsObject()) {
                return malformed(at + "/coarse", "expected an object");
            }
            for (const auto& m : c->value.GetObject()) {
                const std::string name(m.name.GetString(), m.name.GetStringLength());
                const std::string cat = at + "/coarse/" + json::escape_pointer_token(name);
                if (std::find(ctx.coarse_fields.begin(), ctx.coarse_fields.end(), name) ==
                    ctx.coarse_fields.end()) {
                    return refusal{
                        400,
                        "field_not_allowed",
                        "at " + cat + ": the hub does not accept the coarse field " + name,
                        {}};
                }
                if (!m.value.IsString() || m.value.GetStringLength() == 0 ||
                    m.value.GetStringLength() > 64) {
                    return malformed(cat, "expected a code of 1 to 64 characters");
                }
                in.coarse.emplace_back(
                    name, std::string(m.value.GetString(), m.value.GetStringLength())
                );
            }
            std::sort(in.coarse.begin(), in.coarse.end());
        }
        out.records.push_back(std::move(in));
    }
    return out;
}

struct withdrawals_request {
    std::vector<std::string> pseudonyms;
    withdrawal_reason reason = withdrawal_reason::consent_withdrawn;
};

std::variant<withdrawals_request, refusal> parse_withdrawals(
    const std::string& body, const ingest_context& ctx
) {
    auto doc = json::parse(body);
    if (!doc) {
        return malformed(doc.error().pointer, "not valid JSON (" + doc.error().message + ")");
    }
    const rapidjson::Value& root = *doc;
    if (!root.IsObject()) {
        return malformed("", "expected an object");
    }
    if (auto r = only_members(root, "", {"pseudonyms", "reason"})) {
        return *r;
    }
    withdrawals_request out;
    const auto reason = root.FindMember("reason");
    if (reason == root.MemberEnd()) {
        return malformed("/reason", "missing member");
    }
    const auto parsed = reason->value.IsString()
                            ? parse_withdrawal_reason(std::string_view(
                                  reason->value.GetString(), reason->value.GetStringLength()
                              ))
                            : std::nullopt;
    if (!parsed) {
        return malformed("/reason", "expected consent_withdrawn, case_closed or retention");
    }
    out.reason = *parsed;
    const auto list = root.FindMember("pseudonyms");
    if (list == root.MemberEnd()) {
        return malformed("/pseudonyms", "missing member");
    }
    if (!list->value.IsArray()) {
        return malformed("/pseudonyms", "expected an array");
    }
    if (list->value.Size() > ctx.max_batch_records) {
        return refusal{
            413,
            "too_large",
            "at /pseudonyms: " + std::to_string(list->value.Size()) + " pseudonyms, more than " +
                std::to_string(ctx.max_batch_records) + " in one request",
            {}};
    }
    for (rapidjson::SizeType i = 0; i < list->value.Size(); ++i) {
        if (!is_pseudonym(list->value[i])) {
            return malformed("/pseudonyms/" + std::to_string(i), pseudonym_rule);
        }
        out.pseudonyms.emplace_back(list->value[i].GetString(), list->value[i].GetStringLength());
    }
    return out;
}

/// Constant-time equality of two secrets (the length is not hidden, the content is).
bool same_secret(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

enum class auth_result { ok, missing, not_recognised };

/// The agency the request authenticates as. Every agency's token is compared (no early exit).
std::pair<auth_result, const agency_credentials*> authenticate(
    const httpd::request& req, const ingest_context& ctx
) {
    const std::string h = req.header("authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (h.size() <= scheme.size() || h.compare(0, scheme.size(), scheme) != 0) {
        return {auth_result::missing, nullptr};
    }
    const std::string_view presented = std::string_view(h).substr(scheme.size());
    const agency_credentials* found = nullptr;
    for (const auto& a : ctx.agencies) {
        if (same_secret(presented, a.token)) {
            found = &a;
        }
    }
    if (found == nullptr) {
        return {auth_result::not_recognised, nullptr};
    }
    if (!found->certificate_name.empty() && req.peer_common_name != found->certificate_name) {
        return {auth_result::not_recognised, nullptr};
    }
    return {auth_result::ok, found};
}

enum class route { schema, records, withdrawals, notices, none };

route route_of(const std::string& target) {
    const std::string path(target_path(target));
    if (path.rfind(base_path, 0) != 0) {
        return route::none;
    }
    const std::string rest = path.substr(base_path.size());
    if (rest == "schema") {
        return route::schema;
    }
    if (rest == "records") {
        return route::records;
    }
    if (rest == "withdrawals") {
        return route::withdrawals;
    }
    if (rest == "notices") {
        return route::notices;
    }
    return route::none;
}

httpd::response unauthenticated(auth_result r) {
    auto resp = error_response(
        401,
        "unauthenticated",
        r == auth_result::missing ? "missing bearer token" : "bearer token not recognised"
    );
    resp.headers.emplace_back("WWW-Authenticate", "Bearer");
    return resp;
}

/// The first refusal admit() would give, or nothing (then `limit` is the body limit).
std::optional<httpd::response> check_head(
    const httpd::request& head, const ingest_context& ctx, std::size_t& limit
) {
    limit = 0;
    const auto [auth, agency] = authenticate(head, ctx);
    if (auth != auth_result::ok) {
        return unauthenticated(auth);
    }
    const route r = route_of(head.target);
    switch (r) {
        case route::none:
            return error_response(404, "not_found", "no such path under /hub/v1");
        case route::schema:
        case route::notices:
            if (head.method != "GET") {
                auto resp = error_response(405, "method_not_allowed", "GET only");
                resp.headers.emplace_back("Allow", "GET");
                return resp;
            }
            return std::nullopt;
        case route::records:
        case route::withdrawals:
            if (head.method != "POST") {
                auto resp = error_response(405, "method_not_allowed", "POST only");
                resp.headers.emplace_back("Allow", "POST");
                return resp;
            }
            limit = ctx.max_body_bytes;
            return std::nullopt;
    }
    return std::nullopt;
}

std::string media_type(const std::string& content_type) {
    std::string t = content_type.substr(0, content_type.find(';'));
    while (!t.empty() && t.back() == ' ') {
        t.pop_back();
    }
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return t;
}

httpd::response schema_answer(const ingest_context& ctx, const agency_credentials& agency) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("agency", rapidjson::Value(agency.id.c_str(), a), a);
    d.AddMember("linkage_schema_version", ctx.schema_version, a);
    d.AddMember("encoded_words", static_cast<std::uint64_t>(ctx.encoded_words), a);
    d.AddMember("max_batch_records", static_cast<std::uint64_t>(ctx.max_batch_records), a);
    rapidjson::Value fields(rapidjson::kArrayType);
    for (const auto& f : ctx.coarse_fields) {
        fields.PushBack(rapidjson::Value(f.c_str(), a), a);
    }
    d.AddMember("coarse_fields", fields, a);
    return json_response(200, d);
}

httpd::response counts_answer(const char* k1, std::int64_t v1, const char* k2, std::int64_t v2) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember(rapidjson::StringRef(k1), v1, a);
    d.AddMember(rapidjson::StringRef(k2), v2, a);
    return json_response(200, d);
}

/// Runs `job` on the store's thread and waits for its answer without blocking the server.
template <typename T>
awaitable<T> on_store(std::shared_ptr<const ingest_context> ctx, std::function<T(hub_store&)> job) {
    auto h = std::make_shared<handoff<T>>();
    ctx->run_on_store([h, job = std::move(job)](hub_store& s) { h->set(job(s)); });
    co_return co_await handoff<T>::wait(h, std::chrono::milliseconds(2));
}

/// What a POST route that changes the hub's holdings needs: how to parse its body, what to do
/// on the store's thread, and how to answer. `first` counts what changed (linkage is due when
/// it is above 0), `second` what did not. Literals and pointers only: trivially copied into
/// the coroutine frame (GCC 12 frees a temporary with string members twice there).
template <typename Request, typename Counts>
struct change_route {
    const char* name;  ///< "records", "withdrawals": for on_accepted.
    std::variant<Request, refusal> (*parse)(const std::string&, const ingest_context&);
    result<Counts> (*apply)(hub_store&, const std::string& agency, const Request&);
    const char* failure;  ///< The 500's message: nothing was changed.
    const char* first_name;
    std::int64_t Counts::*first;
    const char* second_name;
    std::int64_t Counts::*second;
};

/// Parse → refusal → the change on the store's thread (all or nothing) → 500 → on_accepted →
/// linkage_due → the counts.
template <typename Request, typename Counts>
awaitable<httpd::response> change(
    std::shared_ptr<const ingest_context> ctx,
    std::string agency_id,
    std::string body,
    change_route<Request, Counts> route
) {
    auto parsed = route.parse(body, *ctx);
    if (auto* bad = std::get_if<refusal>(&parsed)) {
        co_return bad->answer();
    }
    auto request = std::make_shared<Request>(std::move(std::get<Request>(parsed)));
    const auto apply = route.apply;
    std::function<result<Counts>(hub_store&)> job = [request, agency_id, apply](hub_store& s) {
        return apply(s, agency_id, *request);
    };
    auto counts = co_await on_store<result<Counts>>(ctx, std::move(job));
    if (!counts) {
        co_return error_response(500, "internal", route.failure);
    }
    const std::int64_t changed = (*counts).*route.first;
    const std::int64_t other = (*counts).*route.second;
    if (ctx->on_accepted) {
        ctx->on_accepted(agency_id, std::string(route.name), changed, other);
    }
    if (changed > 0 && ctx->linkage_due) {
        ctx->linkage_due();
    }
    co_return counts_answer(route.first_name, changed, route.second_name, other);
}

result<upsert_counts> apply_records(
    hub_store& s, const std::string& agency, const records_request& r
) {
    return s.upsert(agency, r.schema_version, r.records);
}

result<withdraw_counts> apply_withdrawals(
    hub_store& s, const std::string& agency, const withdrawals_request& w
) {
    return s.withdraw(agency, w.pseudonyms, w.reason);
}

struct notices_request {
    std::int64_t after = 0;
    std::size_t limit = 0;
};

/// A decimal number of digits only (no sign, no space) that fits `T`.
template <typename T>
std::optional<T> decimal(std::string_view text) {
    if (text.empty() || text.size() > 19 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    T v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

/// The query of GET /hub/v1/notices: `after` (a notice id, default 0) and `limit` (1 to
/// max_batch_records, default max_batch_records). A refusal names the parameter, never its
/// value.
std::variant<notices_request, refusal> parse_notices_query(
    const std::string& target, const ingest_context& ctx
) {
    const auto bad = [](std::string message) {
        return refusal{400, "malformed", std::move(message), {}};
    };
    auto parsed = parse_request_target(target, plus_sign::literal);
    if (!parsed) {
        return bad("the query string is not valid (percent-escapes)");
    }
    notices_request out;
    out.limit = ctx.max_batch_records;
    bool seen_after = false;
    bool seen_limit = false;
    const std::string limit_rule = "query parameter limit: expected a number from 1 to " +
                                   std::to_string(ctx.max_batch_records);
    for (const auto& [name, value] : parsed->query) {
        if (name == "after") {
            const auto v = decimal<std::int64_t>(value);
            if (seen_after || !v) {
                return bad(
                    seen_after ? "query parameter after: given twice"
                               : "query parameter after: expected a decimal notice id (0 or more)"
                );
            }
            seen_after = true;
            out.after = *v;
        } else if (name == "limit") {
            const auto v = decimal<std::size_t>(value);
            if (seen_limit) {
                return bad("query parameter limit: given twice");
            }
            if (!v || *v < 1 || *v > ctx.max_batch_records) {
                return bad(limit_rule);
            }
            seen_limit = true;
            out.limit = *v;
        } else {
            return bad("unknown query parameter: only after and limit are taken");
        }
    }
    return out;
}

/// The display name of an agency id: its configured name, or the id itself.
std::string display_name_of(const ingest_context& ctx, const std::string& id) {
    for (const auto& a : ctx.agencies) {
        if (a.id == id) {
            return a.display_name.empty() ? a.id : a.display_name;
        }
    }
    return id;
}

httpd::response notices_answer(
    const ingest_context& ctx, const notices_request& asked, const notice_page& page
) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    const auto text = [&a](const std::string& s) { return rapidjson::Value(s.c_str(), a); };
    rapidjson::Value list(rapidjson::kArrayType);
    for (const auto& n : page.notices) {
        rapidjson::Value o(rapidjson::kObjectType);
        o.AddMember("id", text(std::to_string(n.id)), a);
        const auto kind = to_string(n.kind);
        o.AddMember(
            "kind",
            rapidjson::StringRef(kind.data(), static_cast<rapidjson::SizeType>(kind.size())),
            a
        );
        o.AddMember("pseudonym", text(n.pseudonym), a);
        o.AddMember("reference", text(n.reference), a);
        rapidjson::Value others(rapidjson::kArrayType);
        for (const auto& id : n.other_agencies) {
            rapidjson::Value agency(rapidjson::kObjectType);
            agency.AddMember("id", text(id), a);
            agency.AddMember("name", text(display_name_of(ctx, id)), a);
            others.PushBack(agency, a);
        }
        o.AddMember("other_agencies", others, a);
        list.PushBack(o, a);
    }
    d.AddMember("notices", list, a);
    const std::int64_t next = page.notices.empty() ? asked.after : page.notices.back().id;
    d.AddMember("next", text(std::to_string(next)), a);
    d.AddMember("has_more", page.has_more, a);
    return json_response(200, d);
}

awaitable<httpd::response> notices(
    std::shared_ptr<const ingest_context> ctx, std::string agency_id, std::string target
) {
    auto parsed = parse_notices_query(target, *ctx);
    if (auto* bad = std::get_if<refusal>(&parsed)) {
        co_return bad->answer();
    }
    const notices_request asked = std::get<notices_request>(parsed);
    std::function<result<notice_page>(hub_store&)> job = [asked, agency_id](hub_store& s) {
        return s.notices(agency_id, asked.after, asked.limit);
    };
    auto page = co_await on_store<result<notice_page>>(ctx, std::move(job));
    if (!page) {
        co_return error_response(500, "internal", "the hub could not read the notices");
    }
    co_return notices_answer(*ctx, asked, *page);
}

awaitable<httpd::response> handle(std::shared_ptr<const ingest_context> ctx, httpd::request req) {
    const auto [auth, agency] = authenticate(req, *ctx);
    if (auth != auth_result::ok) {
        co_return unauthenticated(auth);
    }
    const route r = route_of(req.target);
    if (r == route::schema) {
        co_return schema_answer(*ctx, *agency);
    }
    const std::string agency_id = agency->id;
    if (r == route::notices) {
        co_return co_await notices(ctx, agency_id, req.target);
    }
    if (media_type(req.header("content-type")) != "application/json") {
        co_return error_response(400, "malformed", "Content-Type must be application/json");
    }
    if (r == route::records) {
        const change_route<records_request, upsert_counts> records{
            "records",
            &parse_records,
            &apply_records,
            "the hub could not store the batch; nothing was stored",
            "stored",
            &upsert_counts::stored,
            "unchanged",
            &upsert_counts::unchanged};
        co_return co_await change(ctx, agency_id, std::move(req.body), records);
    }
    const change_route<withdrawals_request, withdraw_counts> withdrawals{
        "withdrawals",
        &parse_withdrawals,
        &apply_withdrawals,
        "the hub could not record the withdrawals; nothing was changed",
        "withdrawn",
        &withdraw_counts::withdrawn,
        "unknown",
        &withdraw_counts::unknown};
    co_return co_await change(ctx, agency_id, std::move(req.body), withdrawals);
}

}  // namespace

httpd::response error_response(unsigned status, std::string_view code, std::string_view message) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    rapidjson::Value e(rapidjson::kObjectType);
    e.AddMember(
        "code", rapidjson::Value(code.data(), static_cast<rapidjson::SizeType>(code.size()), a), a
    );
    e.AddMember(
        "message",
        rapidjson::Value(message.data(), static_cast<rapidjson::SizeType>(message.size()), a),
        a
    );
    d.AddMember("error", e, a);
    return json_response(status, d);
}

httpd::service ingest_service(std::shared_ptr<const ingest_context> ctx) {
    httpd::service s;
    s.admit = [ctx](const httpd::request& head) {
        httpd::admission a;
        a.refuse = check_head(head, *ctx, a.body_limit);
        a.too_large = error_response(
            413, "too_large", "the body is over " + std::to_string(ctx->max_body_bytes) + " bytes"
        );
        return a;
    };
    s.handle = [ctx](httpd::request req) { return handle(ctx, std::move(req)); };
    return s;
}

}  // namespace casebridge::hub
