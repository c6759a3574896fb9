#include "net/remote_text.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

#include <rapidjson/document.h>

#include "json/json.hpp"

namespace casebridge {
namespace {

constexpr std::size_t max_message_bytes = 2000;
constexpr std::size_t max_names_listed = 8;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_word(char c) {
    return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z') || c == '_';
}

// Lengths of the prefixes of `s` that are runs of digits, longest first.
std::vector<std::size_t> digit_lengths(std::string_view s) {
    std::vector<std::size_t> out;
    std::size_t n = 0;
    while (n < s.size() && is_digit(s[n])) {
        ++n;
    }
    for (; n > 0; --n) {
        out.push_back(n);
    }
    return out;
}

// Lengths of the prefixes of `s` that are message keys, longest first.
std::vector<std::size_t> key_lengths(std::string_view s) {
    std::vector<std::size_t> out;
    std::size_t words = 0;
    std::size_t i = 0;
    while (i < s.size() && is_lower(s[i])) {
        ++i;
        while (i < s.size() && (is_lower(s[i]) || is_digit(s[i]) || s[i] == '_')) {
            ++i;
        }
        ++words;
        if (words >= 3) {
            out.push_back(i);
        }
        if (i + 1 < s.size() && s[i] == '.' && is_lower(s[i + 1])) {
            ++i;
        } else {
            break;
        }
    }
    std::reverse(out.begin(), out.end());
    return out;
}

// Matches `msg` against the phrase `tpl`, appending what may be kept to `out`.
bool match(
    std::string_view tpl, std::string_view msg, const field_names& fields, std::string& out
) {
    if (tpl.empty()) {
        return msg.empty();
    }
    const std::size_t kept = out.size();
    if (tpl.front() == '<') {
        const auto close = tpl.find('>');
        const std::string_view name =
            tpl.substr(1, close == std::string_view::npos ? 0 : close - 1);
        const std::string_view rest =
            close == std::string_view::npos ? std::string_view{} : tpl.substr(close + 1);
        if (name == "field") {
            for (const auto& f : fields) {
                if (!f.empty() && msg.substr(0, f.size()) == f) {
                    out += f;
                    if (match(rest, msg.substr(f.size()), fields, out)) {
                        return true;
                    }
                    out.resize(kept);
                }
            }
            return false;
        }
        if (name == "n" || name == "key") {
            // Kept as sent: digits, or a message key.
            for (const std::size_t n : name == "n" ? digit_lengths(msg) : key_lengths(msg)) {
                out += msg.substr(0, n);
                if (match(rest, msg.substr(n), fields, out)) {
                    return true;
                }
                out.resize(kept);
            }
            return false;
        }
        if (name == "value") {
            for (std::size_t n = 1; n <= msg.size(); ++n) {
                out += "...";
                if (match(rest, msg.substr(n), fields, out)) {
                    return true;
                }
                out.resize(kept);
            }
            return false;
        }
        // Not a placeholder: a literal '<'.
    }
    const auto next = tpl.find('<', 1);
    const std::string_view literal = tpl.substr(0, next);
    if (msg.substr(0, literal.size()) != literal) {
        return false;
    }
    out += literal;
    if (match(tpl.substr(literal.size()), msg.substr(literal.size()), fields, out)) {
        return true;
    }
    out.resize(kept);
    return false;
}

// Whether `name` occurs in `text` as a whole word.
bool mentions(std::string_view text, std::string_view name) {
    for (auto at = text.find(name); at != std::string_view::npos; at = text.find(name, at + 1)) {
        const bool starts = at == 0 || !is_word(text[at - 1]);
        const auto end = at + name.size();
        const bool ends = end == text.size() || !is_word(text[end]);
        if (starts && ends) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string allowed_remote_text(
    std::string_view message, std::span<const std::string_view> phrases, const field_names& fields
) {
    std::string text;
    for (char c : message.substr(0, max_message_bytes + 1)) {
        text += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
    }
    const auto first = text.find_first_not_of(' ');
    if (first == std::string::npos) {
        return {};
    }
    text = text.substr(first, text.find_last_not_of(' ') - first + 1);
    if (message.size() <= max_message_bytes) {
        for (const auto phrase : phrases) {
            std::string out;
            if (match(phrase, text, fields, out)) {
                return out;
            }
        }
    }
    std::string out(remote_text_withheld);
    std::size_t listed = 0;
    for (const auto& f : fields) {
        if (!f.empty() && listed < max_names_listed && mentions(text, f)) {
            out += listed == 0 ? " [" : ", ";
            out += f;
            ++listed;
        }
    }
    if (listed > 0) {
        out += "]";
    }
    return out;
}

void collect_field_names(
    const rapidjson::Value& v, std::span<const name_list> lists, field_names& out
) {
    if (v.IsObject()) {
        for (const auto& m : v.GetObject()) {
            const std::string_view name(m.name.GetString(), m.name.GetStringLength());
            out.emplace(name);
            if (m.value.IsArray()) {
                for (const auto& l : lists) {
                    if (l.array != name) {
                        continue;
                    }
                    for (const auto& item : m.value.GetArray()) {
                        if (!item.IsObject()) {
                            continue;
                        }
                        const auto it = item.FindMember(
                            rapidjson::Value(rapidjson::StringRef(l.member.data(), l.member.size()))
                        );
                        if (it != item.MemberEnd() && it->value.IsString()) {
                            out.emplace(it->value.GetString(), it->value.GetStringLength());
                        }
                    }
                }
            }
            collect_field_names(m.value, lists, out);
        }
    } else if (v.IsArray()) {
        for (const auto& item : v.GetArray()) {
            collect_field_names(item, lists, out);
        }
    }
}

void collect_field_names(
    std::string_view json_text, std::span<const name_list> lists, field_names& out
) {
    if (auto doc = json::parse(json_text)) {
        collect_field_names(*doc, lists, out);
    }
}

}  // namespace casebridge
