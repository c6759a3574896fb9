// The closed set of named transforms, and the check of canonical values against their type.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
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

/// "YYYY-MM-DD" of a day, checked.
std::optional<std::chrono::year_month_day> parse_ymd(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !is_digits(s.substr(0, 4)) ||
        !is_digits(s.substr(5, 2)) || !is_digits(s.substr(8, 2))) {
        return std::nullopt;
    }
    const std::chrono::year_month_day d{
        std::chrono::year{std::stoi(std::string(s.substr(0, 4)))},
        std::chrono::month{static_cast<unsigned>(std::stoi(std::string(s.substr(5, 2))))},
        std::chrono::day{static_cast<unsigned>(std::stoi(std::string(s.substr(8, 2))))}};
    if (!d.ok()) {
        return std::nullopt;
    }
    return d;
}

std::string format_ymd(const std::chrono::year_month_day& d) {
    char buf[16];
    std::snprintf(
        buf,
        sizeof buf,
        "%04d-%02u-%02u",
        static_cast<int>(d.year()),
        static_cast<unsigned>(d.month()),
        static_cast<unsigned>(d.day())
    );
    return buf;
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

bool present(const rapidjson::Value* v) {
    return v != nullptr && !v->IsNull() && !(v->IsString() && v->GetStringLength() == 0) &&
           !(v->IsArray() && v->Empty());
}

}  // namespace

bool apply_transform(
    const transform_spec& t,
    direction d,
    const std::vector<const rapidjson::Value*>& inputs,
    const rapidjson::Value* record,
    std::vector<rapidjson::Value>& outputs,
    alloc_t& alloc,
    const map_context& ctx,
    std::string& reason
) {
    const bool in = d == direction::in;
    const rapidjson::Value* v = inputs.empty() ? nullptr : inputs.front();
    auto& out = outputs.front();
    switch (t.kind) {
        case transform_kind::none:
            out.CopyFrom(*v, alloc);
            return true;
        case transform_kind::trim:
        case transform_kind::lower:
        case transform_kind::upper: {
            if (!v->IsString()) {
                reason = "is not a string";
                return false;
            }
            std::string s(trim_view(as_view(*v)));
            if (t.kind != transform_kind::trim) {
                const bool lower = t.kind == transform_kind::lower;
                std::transform(s.begin(), s.end(), s.begin(), [lower](unsigned char ch) {
                    return static_cast<char>(lower ? std::tolower(ch) : std::toupper(ch));
                });
            }
            if (!s.empty()) {
                out = make_string(s, alloc);
            }
            return true;
        }
        case transform_kind::html_to_text:
            if (!v->IsString()) {
                reason = "is not a string";
                return false;
            }
            if (in) {
                const auto text = html_to_text(as_view(*v));
                if (!text.empty()) {
                    out = make_string(text, alloc);
                }
            } else {
                out.CopyFrom(*v, alloc);
            }
            return true;
        case transform_kind::to_integer:
        case transform_kind::to_string: {
            // to_integer: in makes an integer, out makes text; to_string the reverse.
            const bool make_int = (t.kind == transform_kind::to_integer) == in;
            if (make_int) {
                if (v->IsInt64()) {
                    out.SetInt64(v->GetInt64());
                    return true;
                }
                if (v->IsString()) {
                    const auto s = trim_view(as_view(*v));
                    const bool neg = !s.empty() && s.front() == '-';
                    if (is_digits(neg ? s.substr(1) : s) && s.size() < 19) {
                        out.SetInt64(std::stoll(std::string(s)));
                        return true;
                    }
                }
                reason = "is not a whole number";
                return false;
            }
            if (!v->IsString() && !v->IsNumber() && !v->IsBool()) {
                reason = "is not a scalar";
                return false;
            }
            out = make_string(value_text(*v), alloc);
            return true;
        }
        case transform_kind::to_boolean: {
            if (!in) {
                if (!v->IsBool()) {
                    reason = "is not a boolean";
                    return false;
                }
                out = make_string(
                    v->GetBool() ? t.true_values.front() : t.false_values.front(), alloc
                );
                return true;
            }
            if (v->IsBool()) {
                out.SetBool(v->GetBool());
                return true;
            }
            std::string s = value_text(*v);
            std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) {
                return static_cast<char>(std::tolower(ch));
            });
            for (const auto& tv : t.true_values) {
                if (s == tv) {
                    out.SetBool(true);
                    return true;
                }
            }
            for (const auto& fv : t.false_values) {
                if (s == fv) {
                    out.SetBool(false);
                    return true;
                }
            }
            reason = "is not one of the boolean spellings of the transform";
            return false;
        }
        case transform_kind::name_split: {
            if (in) {
                // One full name → first, middle, last (outputs 0, 1, 2).
                if (!v->IsString()) {
                    reason = "is not a string";
                    return false;
                }
                std::vector<std::string_view> parts;
                auto s = trim_view(as_view(*v));
                while (!s.empty()) {
                    const auto sp = s.find_first_of(" \t");
                    parts.push_back(s.substr(0, sp));
                    s = sp == std::string_view::npos ? std::string_view{} : trim_view(s.substr(sp));
                }
                if (parts.empty()) {
                    return true;
                }
                outputs[0] = make_string(parts.front(), alloc);
                if (parts.size() > 1 && outputs.size() > 2) {
                    outputs[2] = make_string(parts.back(), alloc);
                    if (parts.size() > 2) {
                        const auto* b = parts[1].data();
                        const auto* e =
                            parts[parts.size() - 2].data() + parts[parts.size() - 2].size();
                        outputs[1] = make_string(
                            std::string_view(b, static_cast<std::size_t>(e - b)), alloc
                        );
                    }
                } else if (parts.size() > 1) {
                    const auto* b = parts[1].data();
                    const auto* e = parts.back().data() + parts.back().size();
                    outputs.back() =
                        make_string(std::string_view(b, static_cast<std::size_t>(e - b)), alloc);
                }
                return true;
            }
            [[fallthrough]];
        }
        case transform_kind::concat: {
            std::string joined;
            const std::string sep = t.kind == transform_kind::name_split ? " " : t.separator;
            for (const auto* part : inputs) {
                if (!present(part)) {
                    continue;
                }
                if (!part->IsString() && !part->IsNumber()) {
                    reason = "has a part that is not text";
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
                out = make_string(joined, alloc);
            }
            return true;
        }
        case transform_kind::first_present:
            for (const auto* part : inputs) {
                if (present(part)) {
                    out.CopyFrom(*part, alloc);
                    return true;
                }
            }
            return true;
        case transform_kind::date: {
            if (!v->IsString()) {
                reason = "is not a date";
                return false;
            }
            const auto day =
                parse_any_date(as_view(*v), in ? t.format : date_format::date_or_datetime);
            if (!day) {
                reason = in ? "is not a date in the system's format" : "is not a YYYY-MM-DD date";
                return false;
            }
            out = make_string(in ? format_ymd(*day) : format_date_as(*day, t.format), alloc);
            return true;
        }
        case transform_kind::datetime: {
            if (!v->IsString()) {
                reason = "is not a date-time";
                return false;
            }
            const auto s = trim_view(as_view(*v));
            std::optional<time_point> tp = parse_rfc3339(s);
            if (!tp && in && t.has_offset) {
                tp = parse_local(s, t.offset_minutes);
            }
            if (!tp) {
                reason = "is not a date-time";
                return false;
            }
            const auto text = (in || !t.has_offset) ? format_rfc3339(*tp, 3)
                                                    : format_local(*tp, t.offset_minutes);
            out = make_string(text, alloc);
            return true;
        }
        case transform_kind::age: {
            if (!v->IsString()) {
                reason = "is not a date of birth";
                return false;
            }
            const auto birth = parse_any_date(as_view(*v), date_format::date_or_datetime);
            if (!birth) {
                reason = "is not a date of birth";
                return false;
            }
            std::chrono::year_month_day at = day_of(ctx.now);
            if (!t.at_now) {
                const auto* at_value = record == nullptr ? nullptr : t.at_system.Get(*record);
                if (at_value == nullptr || !at_value->IsString()) {
                    reason = "has no reference date for the age";
                    return false;
                }
                const auto parsed =
                    parse_any_date(as_view(*at_value), date_format::date_or_datetime);
                if (!parsed) {
                    reason = "has a reference date that is not a date";
                    return false;
                }
                at = *parsed;
            }
            int years = static_cast<int>(at.year()) - static_cast<int>(birth->year());
            if (at.month() < birth->month() ||
                (at.month() == birth->month() && at.day() < birth->day())) {
                --years;
            }
            if (years < 0) {
                reason = "is a date of birth after the reference date";
                return false;
            }
            out.SetInt(years);
            return true;
        }
        case transform_kind::list_split:
        case transform_kind::list_join: {
            const bool split = (t.kind == transform_kind::list_split) == in;
            if (split) {
                if (v->IsArray()) {
                    out.CopyFrom(*v, alloc);
                    return true;
                }
                if (!v->IsString()) {
                    reason = "is not a string";
                    return false;
                }
                out.SetArray();
                auto s = as_view(*v);
                const auto sep = trim_view(t.separator).empty() ? std::string_view(t.separator)
                                                                : trim_view(t.separator);
                while (true) {
                    const auto at = s.find(sep);
                    const auto item = trim_view(s.substr(0, at));
                    if (!item.empty()) {
                        out.PushBack(make_string(item, alloc), alloc);
                    }
                    if (at == std::string_view::npos) {
                        break;
                    }
                    s.remove_prefix(at + sep.size());
                }
                if (out.Empty()) {
                    out.SetNull();
                }
                return true;
            }
            if (!v->IsArray()) {
                reason = "is not a list";
                return false;
            }
            std::string joined;
            for (const auto& item : v->GetArray()) {
                if (!item.IsString()) {
                    reason = "has an item that is not a string";
                    return false;
                }
                if (!joined.empty()) {
                    joined += t.separator;
                }
                joined.append(as_view(item));
            }
            if (!joined.empty()) {
                out = make_string(joined, alloc);
            }
            return true;
        }
        case transform_kind::split_part: {
            if (!v->IsString()) {
                reason = "is not a string";
                return false;
            }
            auto s = as_view(*v);
            for (std::size_t i = 0; i < t.index; ++i) {
                const auto at = s.find(t.separator);
                if (at == std::string_view::npos) {
                    reason = "has fewer parts than the transform expects";
                    return false;
                }
                s.remove_prefix(at + t.separator.size());
            }
            const auto part = trim_view(s.substr(0, s.find(t.separator)));
            if (part.empty()) {
                reason = "has an empty part where the transform expects one";
                return false;
            }
            out = make_string(part, alloc);
            return true;
        }
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
