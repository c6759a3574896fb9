// Token text: the shape of every id, code and field name casebridge writes to its store, its
// transfer log and its log lines. Free text (a name, a note) never has it.
#pragma once

#include <string_view>

namespace casebridge {

/// True for 1..200 characters of [A-Za-z0-9_.:/@#+=~[]-]: ids, codes and field names, no
/// spaces, quotes or control characters.
constexpr bool is_token_text(std::string_view s) noexcept {
    if (s.empty() || s.size() > 200) {
        return false;
    }
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '/' ||
                        c == '@' || c == '#' || c == '+' || c == '=' || c == '~' || c == '[' ||
                        c == ']' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/// How a record id read from a record body appears in a message or a log line: the id when it
/// is token text, "?" when there is none, and "#not-an-id" when the member holds something
/// else (a source system that wrote a name or a note where the id goes leaks nothing).
inline constexpr std::string_view not_an_id = "#not-an-id";

}  // namespace casebridge
