// PING's JSON, message and cursor helpers (adapter_impl.hpp).
#include "progres_ping/adapter_impl.hpp"

namespace casebridge::progres_ping {

remote_error with_record(remote_error e, const std::string& id) {
    if (e.record_id.empty()) {
        e.record_id = id;
    }
    return e;
}

remote_error record_error(errc code, std::string detail, const std::string& id, unsigned status) {
    auto e = make_remote_error(code, std::move(detail), status);
    e.record_id = id;
    return e;
}

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

}  // namespace casebridge::progres_ping
