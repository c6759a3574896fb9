// Command-line options: declared once per command, parsed, and turned into --help text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace casebridge::cli {

/// Process exit codes, the same for every command (documented in docs/cli.md).
enum exit_code : int {
    exit_ok = 0,        ///< Done.
    exit_error = 1,     ///< Failed: bad input file, unreachable system, verification failure.
    exit_usage = 2,     ///< The command line itself is wrong.
    exit_held = 3,      ///< A record was held (e.g. `mapping apply` on an unmapped value).
    exit_diverged = 4,  ///< `reconcile`: the targets do not hold what the log says.
};

/// A command line that is wrong in a way the option parser cannot see (a number out of its
/// range): cli::run prints the message with the usage line and exits with exit_usage.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One `--name [VALUE]` option.
struct option_spec {
    std::string_view name;        ///< Without dashes: "config" is `--config`.
    std::string_view value_name;  ///< "FILE"; empty for a flag that takes no value.
    std::string_view help;
    bool required = false;
    bool repeatable = false;
};

/// The parsed command line of one command.
class parsed_args {
public:
    bool has(std::string_view name) const;
    /// The value of an option given once (the last one if repeated).
    std::optional<std::string> get(std::string_view name) const;
    std::string get_or(std::string_view name, std::string fallback) const;
    /// The value of option `name` as a whole number from `min` to `max` (decimal digits, with
    /// a leading '-' only when `min` is negative), or `fallback` when the option is absent.
    /// Throws usage_error "--NAME takes a whole number from MIN to MAX, not 'VALUE'".
    std::int64_t number(
        std::string_view name, std::int64_t min, std::int64_t max, std::int64_t fallback
    ) const;
    /// Every value of a repeatable option, in order.
    std::vector<std::string> all(std::string_view name) const;
    const std::vector<std::string>& positional() const noexcept { return positional_; }

private:
    friend class option_parser;
    std::map<std::string, std::vector<std::string>, std::less<>> values_;
    std::vector<std::string> positional_;
};

/// The result of parsing: arguments, a request for help, or a usage error.
struct parse_outcome {
    std::optional<parsed_args> args;
    bool help_requested = false;
    std::string error;  ///< Set when the command line is wrong.
};

/// Parses `--name VALUE`, `--name=VALUE`, flags, `--` and positionals against `options`.
class option_parser {
public:
    option_parser(
        const std::vector<option_spec>& options,
        std::size_t min_positional,
        std::size_t max_positional
    );
    parse_outcome parse(const std::vector<std::string>& argv) const;

private:
    const std::vector<option_spec>& options_;
    std::size_t min_positional_;
    std::size_t max_positional_;
};

inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

}  // namespace casebridge::cli
