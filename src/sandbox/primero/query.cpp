// Query parsing and matching as Primero's Rails controllers do it (sandbox_impl.hpp).
#include "sandbox/primero/sandbox_impl.hpp"

namespace casebridge::sandbox {

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

std::string render(const Value& v) {
    return json::to_string(v);
}

std::string lower_ascii(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return s;
}

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

}  // namespace casebridge::sandbox
