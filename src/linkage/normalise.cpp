#include "linkage/normalise.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

namespace casebridge::linkage {
namespace {

// Base letters of U+00C0..U+00FF, lower case; "" is a separator (× and ÷).
constexpr std::array<const char*, 64> latin1 = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};

// Base letters of U+0100..U+017F (Latin Extended-A), by range.
struct ext_range {
    char32_t first;
    char32_t last;
    const char* base;
};
constexpr std::array<ext_range, 22> latin_ext_a = {{
    {0x100, 0x105, "a"}, {0x106, 0x10D, "c"},  {0x10E, 0x111, "d"}, {0x112, 0x11B, "e"},
    {0x11C, 0x123, "g"}, {0x124, 0x127, "h"},  {0x128, 0x131, "i"}, {0x132, 0x133, "ij"},
    {0x134, 0x135, "j"}, {0x136, 0x138, "k"},  {0x139, 0x142, "l"}, {0x143, 0x14B, "n"},
    {0x14C, 0x151, "o"}, {0x152, 0x153, "oe"}, {0x154, 0x159, "r"}, {0x15A, 0x161, "s"},
    {0x162, 0x167, "t"}, {0x168, 0x173, "u"},  {0x174, 0x175, "w"}, {0x176, 0x178, "y"},
    {0x179, 0x17E, "z"}, {0x17F, 0x17F, "s"},
}};

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Decodes one code point at `i` (advancing it); 0xFFFFFFFF for an invalid sequence.
char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t cp = 0;
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
    } else {
        ++i;
        return 0xFFFFFFFF;
    }
    if (i + len > s.size()) {
        i = s.size();
        return 0xFFFFFFFF;
    }
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            i += k;
            return 0xFFFFFFFF;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    i += len;
    return cp;
}

bool is_separator(char32_t cp) {
    return cp == 0xA0 || (cp >= 0x2000 && cp <= 0x200A) || (cp >= 0x2010 && cp <= 0x201F) ||
           cp == 0x2026 || cp == 0x0964 || cp == 0x0965 || cp == 0x3000;
}

}  // namespace

std::string fold_text(std::string_view utf8) {
    std::string out;
    out.reserve(utf8.size());
    bool pending_space = false;
    auto emit = [&](std::string_view piece) {
        if (pending_space && !out.empty()) {
            out += ' ';
        }
        pending_space = false;
        out += piece;
    };
    std::size_t i = 0;
    while (i < utf8.size()) {
        const char32_t cp = next_code_point(utf8, i);
        if (cp == 0xFFFFFFFF) {
            continue;
        }
        if (cp < 0x80) {
            const auto c = static_cast<char>(cp);
            if (c >= 'A' && c <= 'Z') {
                const char lower = static_cast<char>(c - 'A' + 'a');
                emit({&lower, 1});
            } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                emit({&c, 1});
            } else {
                pending_space = true;
            }
            continue;
        }
        if (cp >= 0xC0 && cp <= 0xFF) {
            const std::string_view base = latin1[cp - 0xC0];
            if (base.empty()) {
                pending_space = true;
            } else {
                emit(base);
            }
            continue;
        }
        if (cp >= 0x100 && cp <= 0x17F) {
            for (const auto& r : latin_ext_a) {
                if (cp >= r.first && cp <= r.last) {
                    emit(r.base);
                    break;
                }
            }
            continue;
        }
        if ((cp >= 0x300 && cp <= 0x36F) || cp == 0x200C || cp == 0x200D || cp == 0xFEFF) {
            continue;  // combining marks, zero-width joiners, BOM
        }
        if (cp < 0xC0 || is_separator(cp)) {
            pending_space = true;  // Latin-1 punctuation and symbols, Unicode spaces, dandas
            continue;
        }
        std::string piece;
        switch (cp) {  // Bengali letters with a precomposed nukta: decompose
            case 0x09DC:
                append_utf8(piece, 0x09A1);
                append_utf8(piece, 0x09BC);
                break;
            case 0x09DD:
                append_utf8(piece, 0x09A2);
                append_utf8(piece, 0x09BC);
                break;
            case 0x09DF:
                append_utf8(piece, 0x09AF);
                append_utf8(piece, 0x09BC);
                break;
            default:
                append_utf8(piece, cp);
        }
        emit(piece);
    }
    return out;
}

std::vector<std::string> split_words(std::string_view folded) {
    std::vector<std::string> words;
    std::size_t start = 0;
    while (start < folded.size()) {
        auto end = folded.find(' ', start);
        if (end == std::string_view::npos) {
            end = folded.size();
        }
        if (end > start) {
            words.emplace_back(folded.substr(start, end - start));
        }
        start = end + 1;
    }
    return words;
}

std::string normalise_code(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c >= 'a' && c <= 'z') {
            out += static_cast<char>(c - 'a' + 'A');
        } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            out += c;
        }
    }
    return out;
}

std::string collapse_repeats(std::string_view word) {
    std::string out;
    out.reserve(word.size());
    for (const char c : word) {
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!(letter && !out.empty() && out.back() == c)) {
            out.push_back(c);
        }
    }
    return out;
}

std::vector<std::string> padded_bigrams(std::string_view word) {
    std::vector<std::string> units;  // code points as UTF-8 pieces
    units.emplace_back("_");
    std::size_t i = 0;
    while (i < word.size()) {
        const std::size_t start = i;
        if (next_code_point(word, i) == 0xFFFFFFFF) {
            continue;
        }
        units.emplace_back(word.substr(start, i - start));
    }
    if (units.size() == 1) {
        return {};
    }
    units.emplace_back("_");
    std::vector<std::string> grams;
    grams.reserve(units.size() - 1);
    for (std::size_t k = 0; k + 1 < units.size(); ++k) {
        grams.push_back(units[k] + units[k + 1]);
    }
    return grams;
}

namespace {

bool parse_date(std::string_view s, int& y, int& m, int& d) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') {
        return false;
    }
    auto digits = [&](std::size_t from, std::size_t n, int& out) {
        out = 0;
        for (std::size_t k = from; k < from + n; ++k) {
            if (s[k] < '0' || s[k] > '9') {
                return false;
            }
            out = out * 10 + (s[k] - '0');
        }
        return true;
    };
    return digits(0, 4, y) && digits(5, 2, m) && digits(8, 2, d) && m >= 1 && m <= 12 && d >= 1 &&
           d <= 31;
}

}  // namespace

std::vector<std::string> date_tokens(std::string_view date, bool estimated) {
    int y = 0;
    int m = 0;
    int d = 0;
    if (!parse_date(date, y, m, d)) {
        return {};
    }
    std::vector<std::string> tokens = {
        "y:" + std::to_string(y),
        "ya:" + std::to_string(y / 2),
        "yb:" + std::to_string((y + 1) / 2)};
    if (!estimated) {
        tokens.push_back(
            "md:" + std::to_string(std::min(m, d)) + "-" + std::to_string(std::max(m, d))
        );
    }
    return tokens;
}

std::string month_day(std::string_view date) {
    int y = 0;
    int m = 0;
    int d = 0;
    if (!parse_date(date, y, m, d)) {
        return {};
    }
    return std::string(date.substr(5, 5));
}

}  // namespace casebridge::linkage
