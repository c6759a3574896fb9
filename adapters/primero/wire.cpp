// Primero's paths, messages, flag and cursor helpers (adapter_impl.hpp).
#include "primero/adapter_impl.hpp"

namespace casebridge::primero {

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

field_names names_in(std::string_view request_body) {
    field_names out(std::begin(primero_names), std::end(primero_names));
    collect_field_names(request_body, {}, out);
    return out;
}

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

bool serves(std::string_view stream) {
    return stream == "cases";
}

}  // namespace casebridge::primero
