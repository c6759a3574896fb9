// The closed set of named transforms, and the check of canonical values against their type.
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "core/time.hpp"
#include "mapping/program.hpp"

namespace casebridge::mapping {

namespace {

using alloc_t = rapidjson::Document::AllocatorType;

std::string_view as_view(const rapidjson::Value& v) {
    return {v.GetString(), v.GetStringLength()};
}

rapidjson::Value make_string(std::string_view s, alloc_t& a) {
    return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

std::string_view trim_view(std::string_view s) {
    const auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    };
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

bool is_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::chrono::year_month_day day_of(time_point t) {
    return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)};
}

/// A date from "YYYY-MM-DD", an RFC 3339 date-time (its UTC day) or "DD/MM/YYYY".
std::optional<std::chrono::year_month_day> parse_any_date(std::string_view s, date_format f) {
    s = trim_view(s);
    switch (f) {
        case date_format::date:
            return parse_ymd(s);
        case date_format::datetime: {
            const auto t = parse_rfc3339(s);
            return t ? std::optional(day_of(*t)) : std::nullopt;
        }
        case date_format::date_or_datetime: {
            if (s.size() == 10) {
                return parse_ymd(s);
            }
            const auto t = parse_rfc3339(s);
            return t ? std::optional(day_of(*t)) : std::nullopt;
        }
        case date_format::dmy: {
            if (s.size() != 10 || s[2] != '/' || s[5] != '/') {
                return std::nullopt;
            }
            std::string iso;
            iso.append(s.substr(6, 4))
                .append("-")
                .append(s.substr(3, 2))
                .append("-")
                .append(s.substr(0, 2));
            return parse_ymd(iso);
        }
    }
    return std::nullopt;
}

std::string format_date_as(const std::chrono::year_month_day& d, date_format f) {
    const auto iso = format_ymd(d);
    switch (f) {
        case date_format::date:
        case date_format::date_or_datetime:
            return iso;
        case date_format::datetime:
            return iso + "T00:00:00Z";
        case date_format::dmy:
            return iso.substr(8, 2) + "/" + iso.substr(5, 2) + "/" + iso.substr(0, 4);
    }
    return iso;
}

/// A local time "YYYY-MM-DD[ T]HH:MM[:SS]" without offset, read at `offset_minutes` east of UTC.
std::optional<time_point> parse_local(std::string_view s, int offset_minutes) {
    std::string text(s);
    if (text.size() == 16) {
        text += ":00";
    }
    char sign = offset_minutes < 0 ? '-' : '+';
    const int m = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    char off[24];
    std::snprintf(off, sizeof off, "%c%02d:%02d", sign, m / 60, m % 60);
    return parse_rfc3339(text + off);
}

std::string format_local(time_point t, int offset_minutes) {
    const auto local = t + std::chrono::minutes(offset_minutes);
    auto text = format_rfc3339(local, 0);  // "YYYY-MM-DDTHH:MM:SSZ"
    text.pop_back();
    text[10] = ' ';
    return text;
}

std::string value_text(const rapidjson::Value& v) {
    if (v.IsString()) {
        return std::string(as_view(v));
    }
    if (v.IsInt64()) {
        return std::to_string(v.GetInt64());
    }
    if (v.IsUint64()) {
        return std::to_string(v.GetUint64());
    }
    if (v.IsBool()) {
        return v.GetBool() ? "true" : "false";
    }
    if (v.IsDouble()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", v.GetDouble());
        return buf;
    }
    return {};
}

std::string html_to_text(std::string_view html) {
    std::string out;
    out.reserve(html.size());
    std::size_t i = 0;
    while (i < html.size()) {
        const char c = html[i];
        if (c == '<') {
            const auto close = html.find('>', i);
            if (close == std::string_view::npos) {
                break;  // an unterminated tag: drop the rest
            }
            std::string tag(html.substr(i + 1, close - i - 1));
            std::transform(tag.begin(), tag.end(), tag.begin(), [](unsigned char ch) {
                return static_cast<char>(std::tolower(ch));
            });
            if (tag.rfind("br", 0) == 0 || tag == "/p" || tag == "/div" || tag == "/li") {
                out += '\n';
            }
            i = close + 1;
            continue;
        }
        if (c == '&') {
            static constexpr std::pair<std::string_view, std::string_view> entities[] = {
                {"&amp;", "&"},
                {"&lt;", "<"},
                {"&gt;", ">"},
                {"&quot;", "\""},
                {"&#39;", "'"},
                {"&apos;", "'"},
                {"&nbsp;", " "},
            };
            bool matched = false;
            for (const auto& [name, text] : entities) {
                if (html.substr(i, name.size()) == name) {
                    out += text;
                    i += name.size();
                    matched = true;
                    break;
                }
            }
            if (matched) {
                continue;
            }
        }
        out += c;
        ++i;
    }
    // Collapse runs of blank lines and trim each line's ends.
    std::string result;
    std::size_t start = 0;
    bool pending_newline = false;
    while (start <= out.size()) {
        auto end = out.find('\n', start);
        if (end == std::string::npos) {
            end = out.size();
        }
        const auto line = trim_view(std::string_view(out).substr(start, end - start));
        if (!line.empty()) {
            if (pending_newline && !result.empty()) {
                result += '\n';
            }
            result.append(line);
            pending_newline = false;
        }
        pending_newline = pending_newline || end < out.size();
        start = end + 1;
    }
    return result;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool present(const rapidjson::Value* v) {
    return v != nullptr && !v->IsNull() && !(v->IsString() && v->GetStringLength() == 0) &&
           !(v->IsArray() && v->Empty());
}

/// The arguments of apply_transform, bundled so that every transform has the same signature.
struct transform_args {
    const transform_spec& spec;
    bool in;                        ///< direction::in: system → canonical.
    const rapidjson::Value* value;  ///< The first input (nullptr when there is none).
    std::span<const rapidjson::Value* const> inputs;
    const rapidjson::Value* record;
    std::span<rapidjson::Value> outputs;
    rapidjson::Value& out;  ///< outputs.front()
    alloc_t& alloc;
    const map_context& ctx;
    std::string& reason;
};

using transform_fn = bool (*)(const transform_args& a);

bool apply_none(const transform_args& a) {
    a.out = deep_copy(*a.value, a.alloc);
    return true;
}

/// trim, lower and upper.
bool apply_trim_case(const transform_args& a) {
    if (!a.value->IsString()) {
        a.reason = "is not a string";
        return false;
    }
    std::string s(trim_view(as_view(*a.value)));
    if (a.spec.kind != transform_kind::trim) {
        const bool lower = a.spec.kind == transform_kind::lower;
        std::transform(s.begin(), s.end(), s.begin(), [lower](unsigned char ch) {
            return static_cast<char>(lower ? std::tolower(ch) : std::toupper(ch));
        });
    }
    if (!s.empty()) {
        a.out = make_string(s, a.alloc);
    }
    return true;
}

bool apply_html_to_text(const transform_args& a) {
    if (!a.value->IsString()) {
        a.reason = "is not a string";
        return false;
    }
    if (a.in) {
        const auto text = html_to_text(as_view(*a.value));
        if (!text.empty()) {
            a.out = make_string(text, a.alloc);
        }
    } else {
        a.out = deep_copy(*a.value, a.alloc);
    }
    return true;
}

/// to_integer and to_string.
bool apply_integer_text(const transform_args& a) {
    // to_integer: in makes an integer, out makes text; to_string the reverse.
    const bool make_int = (a.spec.kind == transform_kind::to_integer) == a.in;
    if (make_int) {
        if (a.value->IsInt64()) {
            a.out.SetInt64(a.value->GetInt64());
            return true;
        }
        if (a.value->IsString()) {
            const auto s = trim_view(as_view(*a.value));
            const bool neg = !s.empty() && s.front() == '-';
            if (is_digits(neg ? s.substr(1) : s) && s.size() < 19) {
                a.out.SetInt64(std::stoll(std::string(s)));
                return true;
            }
        }
        a.reason = "is not a whole number";
        return false;
    }
    if (!a.value->IsString() && !a.value->IsNumber() && !a.value->IsBool()) {
        a.reason = "is not a scalar";
        return false;
    }
    a.out = make_string(value_text(*a.value), a.alloc);
    return true;
}

bool apply_to_boolean(const transform_args& a) {
    if (!a.in) {
        if (!a.value->IsBool()) {
            a.reason = "is not a boolean";
            return false;
        }
        a.out = make_string(
            a.value->GetBool() ? a.spec.true_values.front() : a.spec.false_values.front(), a.alloc
        );
        return true;
    }
    if (a.value->IsBool()) {
        a.out.SetBool(a.value->GetBool());
        return true;
    }
    std::string s = value_text(*a.value);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) {
        return static_cast<char>(std::tolower(ch));
    });
    for (const auto& tv : a.spec.true_values) {
        if (iequals(s, tv)) {
            a.out.SetBool(true);
            return true;
        }
    }
    for (const auto& fv : a.spec.false_values) {
        if (iequals(s, fv)) {
            a.out.SetBool(false);
            return true;
        }
    }
    a.reason = "is not one of the boolean spellings of the transform";
    return false;
}

/// concat, and name_split outbound (its parts joined with a space).
bool apply_concat(const transform_args& a) {
    std::string joined;
    const std::string sep = a.spec.kind == transform_kind::name_split ? " " : a.spec.separator;
    for (const auto* part : a.inputs) {
        if (!present(part)) {
            continue;
        }
        if (!part->IsString() && !part->IsNumber()) {
            a.reason = "has a part that is not text";
            return false;
        }
        const auto text = value_text(*part);
        const auto trimmed = trim_view(text);
        if (trimmed.empty()) {
            continue;
        }
        if (!joined.empty()) {
            joined += sep;
        }
        joined.append(trimmed);
    }
    if (!joined.empty()) {
        a.out = make_string(joined, a.alloc);
    }
    return true;
}

bool apply_name_split(const transform_args& a) {
    if (a.in) {
        // One full name → first, middle, last (outputs 0, 1, 2).
        if (!a.value->IsString()) {
            a.reason = "is not a string";
            return false;
        }
        std::vector<std::string_view> parts;
        auto s = trim_view(as_view(*a.value));
        while (!s.empty()) {
            const auto sp = s.find_first_of(" \t");
            parts.push_back(s.substr(0, sp));
            s = sp == std::string_view::npos ? std::string_view{} : trim_view(s.substr(sp));
        }
        if (parts.empty()) {
            return true;
        }
        a.outputs[0] = make_string(parts.front(), a.alloc);
        if (parts.size() > 1 && a.outputs.size() > 2) {
            a.outputs[2] = make_string(parts.back(), a.alloc);
            if (parts.size() > 2) {
                const auto* b = parts[1].data();
                const auto* e = parts[parts.size() - 2].data() + parts[parts.size() - 2].size();
                a.outputs[1] =
                    make_string(std::string_view(b, static_cast<std::size_t>(e - b)), a.alloc);
            }
        } else if (parts.size() > 1) {
            const auto* b = parts[1].data();
            const auto* e = parts.back().data() + parts.back().size();
            a.outputs.back() =
                make_string(std::string_view(b, static_cast<std::size_t>(e - b)), a.alloc);
        }
        return true;
    }
    return apply_concat(a);
}

bool apply_first_present(const transform_args& a) {
    for (const auto* part : a.inputs) {
        if (present(part)) {
            a.out = deep_copy(*part, a.alloc);
            return true;
        }
    }
    return true;
}

bool apply_date(const transform_args& a) {
    if (!a.value->IsString()) {
        a.reason = "is not a date";
        return false;
    }
    const auto day =
        parse_any_date(as_view(*a.value), a.in ? a.spec.format : date_format::date_or_datetime);
    if (!day) {
        a.reason = a.in ? "is not a date in the system's format" : "is not a YYYY-MM-DD date";
        return false;
    }
    a.out = make_string(a.in ? format_ymd(*day) : format_date_as(*day, a.spec.format), a.alloc);
    return true;
}

bool apply_datetime(const transform_args& a) {
    if (!a.value->IsString()) {
        a.reason = "is not a date-time";
        return false;
    }
    const auto s = trim_view(as_view(*a.value));
    std::optional<time_point> tp = parse_rfc3339(s);
    if (!tp && a.in && a.spec.has_offset) {
        tp = parse_local(s, a.spec.offset_minutes);
    }
    if (!tp) {
        a.reason = "is not a date-time";
        return false;
    }
    if (a.in || !a.spec.has_offset) {
        std::array<char, rfc3339_max> text{};
        a.out = make_string({text.data(), format_rfc3339_to(*tp, 3, text)}, a.alloc);
    } else {
        a.out = make_string(format_local(*tp, a.spec.offset_minutes), a.alloc);
    }
    return true;
}

bool apply_age(const transform_args& a) {
    if (!a.value->IsString()) {
        a.reason = "is not a date of birth";
        return false;
    }
    const auto birth = parse_any_date(as_view(*a.value), date_format::date_or_datetime);
    if (!birth) {
        a.reason = "is not a date of birth";
        return false;
    }
    std::chrono::year_month_day at = day_of(a.ctx.now);
    if (!a.spec.at_now) {
        const auto* at_value = a.record == nullptr ? nullptr : a.spec.at_system.Get(*a.record);
        if (at_value == nullptr || !at_value->IsString()) {
            a.reason = "has no reference date for the age";
            return false;
        }
        const auto parsed = parse_any_date(as_view(*at_value), date_format::date_or_datetime);
        if (!parsed) {
            a.reason = "has a reference date that is not a date";
            return false;
        }
        at = *parsed;
    }
    int years = static_cast<int>(at.year()) - static_cast<int>(birth->year());
    if (at.month() < birth->month() || (at.month() == birth->month() && at.day() < birth->day())) {
        --years;
    }
    if (years < 0) {
        a.reason = "is a date of birth after the reference date";
        return false;
    }
    a.out.SetInt(years);
    return true;
}

/// list_split and list_join.
bool apply_list(const transform_args& a) {
    const bool split = (a.spec.kind == transform_kind::list_split) == a.in;
    if (split) {
        if (a.value->IsArray()) {
            a.out = deep_copy(*a.value, a.alloc);
            return true;
        }
        if (!a.value->IsString()) {
            a.reason = "is not a string";
            return false;
        }
        a.out.SetArray();
        auto s = as_view(*a.value);
        const auto sep = trim_view(a.spec.separator).empty() ? std::string_view(a.spec.separator)
                                                             : trim_view(a.spec.separator);
        while (true) {
            const auto at = s.find(sep);
            const auto item = trim_view(s.substr(0, at));
            if (!item.empty()) {
                a.out.PushBack(make_string(item, a.alloc), a.alloc);
            }
            if (at == std::string_view::npos) {
                break;
            }
            s.remove_prefix(at + sep.size());
        }
        if (a.out.Empty()) {
            a.out.SetNull();
        }
        return true;
    }
    if (!a.value->IsArray()) {
        a.reason = "is not a list";
        return false;
    }
    std::string joined;
    for (const auto& item : a.value->GetArray()) {
        if (!item.IsString()) {
            a.reason = "has an item that is not a string";
            return false;
        }
        if (!joined.empty()) {
            joined += a.spec.separator;
        }
        joined.append(as_view(item));
    }
    if (!joined.empty()) {
        a.out = make_string(joined, a.alloc);
    }
    return true;
}

bool apply_split_part(const transform_args& a) {
    if (!a.value->IsString()) {
        a.reason = "is not a string";
        return false;
    }
    auto s = as_view(*a.value);
    for (std::size_t i = 0; i < a.spec.index; ++i) {
        const auto at = s.find(a.spec.separator);
        if (at == std::string_view::npos) {
            a.reason = "has fewer parts than the transform expects";
            return false;
        }
        s.remove_prefix(at + a.spec.separator.size());
    }
    const auto part = trim_view(s.substr(0, s.find(a.spec.separator)));
    if (part.empty()) {
        a.reason = "has an empty part where the transform expects one";
        return false;
    }
    a.out = make_string(part, a.alloc);
    return true;
}

struct transform_entry {
    transform_kind kind;
    transform_fn apply;
};

/// One entry per transform_kind, in the enum's order: apply_transform indexes it by kind.
constexpr transform_entry transforms[] = {
    {transform_kind::none, apply_none},
    {transform_kind::trim, apply_trim_case},
    {transform_kind::lower, apply_trim_case},
    {transform_kind::upper, apply_trim_case},
    {transform_kind::html_to_text, apply_html_to_text},
    {transform_kind::to_integer, apply_integer_text},
    {transform_kind::to_string, apply_integer_text},
    {transform_kind::to_boolean, apply_to_boolean},
    {transform_kind::name_split, apply_name_split},
    {transform_kind::first_present, apply_first_present},
    {transform_kind::concat, apply_concat},
    {transform_kind::date, apply_date},
    {transform_kind::datetime, apply_datetime},
    {transform_kind::age, apply_age},
    {transform_kind::list_split, apply_list},
    {transform_kind::list_join, apply_list},
    {transform_kind::split_part, apply_split_part},
};

constexpr bool transforms_in_kind_order() {
    for (std::size_t i = 0; i < std::size(transforms); ++i) {
        if (static_cast<std::size_t>(transforms[i].kind) != i || transforms[i].apply == nullptr) {
            return false;
        }
    }
    return true;
}

static_assert(transforms_in_kind_order(), "transforms[] must list the kinds in the enum's order");
// split_part is the last enumerator of transform_kind: a new kind goes after it, in both places.
static_assert(
    std::size(transforms) == static_cast<std::size_t>(transform_kind::split_part) + 1,
    "every transform_kind needs an entry in transforms[]"
);

}  // namespace

bool apply_transform(
    const transform_spec& t,
    direction d,
    std::span<const rapidjson::Value* const> inputs,
    const rapidjson::Value* record,
    std::span<rapidjson::Value> outputs,
    alloc_t& alloc,
    const map_context& ctx,
    std::string& reason
) {
    const bool in = d == direction::in;
    const rapidjson::Value* v = inputs.empty() ? nullptr : inputs.front();
    auto& out = outputs.front();
    const auto kind = static_cast<std::size_t>(t.kind);
    if (kind < std::size(transforms)) {
        return transforms[kind].apply({t, in, v, inputs, record, outputs, out, alloc, ctx, reason});
    }
    reason = "unknown transform";
    return false;
}

bool check_canonical_value(
    const field_def& f, const rapidjson::Value& v, std::string& reason, bool& unmapped
) {
    unmapped = false;
    switch (f.type) {
        case field_type::string:
            if (!v.IsString()) {
                reason = "is not a string";
                return false;
            }
            return true;
        case field_type::boolean:
            if (!v.IsBool()) {
                reason = "is not a boolean";
                return false;
            }
            return true;
        case field_type::integer:
            if (!v.IsInt64()) {
                reason = "is not an integer";
                return false;
            }
            return true;
        case field_type::date:
            if (!v.IsString() || !parse_ymd(as_view(v))) {
                reason = "is not a YYYY-MM-DD date";
                return false;
            }
            return true;
        case field_type::datetime: {
            if (!v.IsString() || v.GetStringLength() < 20 ||
                v.GetString()[v.GetStringLength() - 1] != 'Z' || !parse_rfc3339(as_view(v))) {
                reason = "is not an RFC 3339 UTC date-time";
                return false;
            }
            return true;
        }
        case field_type::code:
            if (!v.IsString()) {
                reason = "is not a code";
                return false;
            }
            if (!f.allows(as_view(v))) {
                reason = "is a code outside the canonical value set";
                unmapped = true;
                return false;
            }
            return true;
        case field_type::code_list:
            if (!v.IsArray()) {
                reason = "is not a list of codes";
                return false;
            }
            for (const auto& item : v.GetArray()) {
                if (!item.IsString()) {
                    reason = "has an item that is not a code";
                    return false;
                }
                if (!f.allows(as_view(item))) {
                    reason = "has a code outside the canonical value set";
                    unmapped = true;
                    return false;
                }
            }
            return true;
        case field_type::subform:
            if (!v.IsArray()) {
                reason = "is not a list of rows";
                return false;
            }
            return true;
    }
    return true;
}

}  // namespace casebridge::mapping
