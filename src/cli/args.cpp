#include "cli/args.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace casebridge::cli {

bool parsed_args::has(std::string_view name) const {
    return values_.find(name) != values_.end();
}

std::optional<std::string> parsed_args::get(std::string_view name) const {
    const auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) {
        return std::nullopt;
    }
    return it->second.back();
}

std::string parsed_args::get_or(std::string_view name, std::string fallback) const {
    auto v = get(name);
    return v ? std::move(*v) : std::move(fallback);
}

std::int64_t parsed_args::number(
    std::string_view name, std::int64_t min, std::int64_t max, std::int64_t fallback
) const {
    const auto text = get(name);
    if (!text) {
        return fallback;
    }
    std::int64_t v = 0;
    const char* begin = text->data();
    const char* end = begin + text->size();
    // Digits only (no '+', spaces or hex); a sign only where negative numbers make sense.
    const bool digits = !text->empty() && (std::isdigit(static_cast<unsigned char>(*begin)) != 0 ||
                                           (min < 0 && *begin == '-' && text->size() > 1));
    const auto [at, ec] = std::from_chars(begin, end, v);
    if (!digits || ec != std::errc{} || at != end || v < min || v > max) {
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
// GCC 12 at -O2 reports a bogus -Warray-bounds (or, with that off, -Wstringop-overflow and
// -Wstringop-overread) on the memcpy inside std::string's move of a short string, one of its
// false positives inside libstdc++'s std::string (as in GCC bugs 105329 and 105651; see
// CMakeLists.txt).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
        std::string shown = text->size() > 24 ? text->substr(0, 24) + "..." : *text;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic pop
#endif
        for (auto& c : shown) {
            if (static_cast<unsigned char>(c) < 0x20) {
                c = '?';
            }
        }
        throw usage_error(
            "--" + std::string(name) + " takes a whole number from " + std::to_string(min) +
            " to " + std::to_string(max) + ", not '" + shown + "'"
        );
    }
    return v;
}

std::vector<std::string> parsed_args::all(std::string_view name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

option_parser::option_parser(
    const std::vector<option_spec>& options, std::size_t min_positional, std::size_t max_positional
)
    : options_(options), min_positional_(min_positional), max_positional_(max_positional) {}

parse_outcome option_parser::parse(const std::vector<std::string>& argv) const {
    parse_outcome out;
    parsed_args args;
    bool options_done = false;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (options_done || a.size() < 2 || a[0] != '-' || a == "-") {
            args.positional_.push_back(a);
            continue;
        }
        if (a == "--") {
            options_done = true;
            continue;
        }
        if (a == "-h" || a == "--help") {
            out.help_requested = true;
            return out;
        }
        if (a.rfind("--", 0) != 0) {
            out.error = "unknown option '" + a + "'";
            return out;
        }
        const auto eq = a.find('=');
        const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        const auto spec = std::find_if(options_.begin(), options_.end(), [&](const option_spec& o) {
            return o.name == name;
        });
        if (spec == options_.end()) {
            out.error = "unknown option '--" + name + "'";
            return out;
        }
        std::string value;
        if (spec->value_name.empty()) {
            if (eq != std::string::npos) {
                out.error = "option '--" + name + "' takes no value";
                return out;
            }
        } else if (eq != std::string::npos) {
            value = a.substr(eq + 1);
        } else if (i + 1 < argv.size()) {
            value = argv[++i];
        } else {
            out.error =
                "option '--" + name + "' needs a value (" + std::string(spec->value_name) + ")";
            return out;
        }
        auto& slot = args.values_[name];
        if (!slot.empty() && !spec->repeatable) {
            out.error = "option '--" + name + "' given more than once";
            return out;
        }
        slot.push_back(std::move(value));
    }
    for (const auto& o : options_) {
        if (o.required && !args.has(o.name)) {
            out.error = "missing required option '--" + std::string(o.name) + "'";
            return out;
        }
    }
    const std::size_t n = args.positional_.size();
    if (n < min_positional_) {
        out.error = n == 0 ? "missing argument" : "too few arguments";
        return out;
    }
    if (n > max_positional_) {
        out.error = "unexpected argument '" + args.positional_[max_positional_] + "'";
        return out;
    }
    out.args = std::move(args);
    return out;
}

}  // namespace casebridge::cli
