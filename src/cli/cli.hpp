// The casebridge command line: one table of subcommands, each with its own --help.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.hpp"

namespace casebridge {
class adapter_registry;
}

namespace casebridge::cli {

/// Where a command writes, and the adapters it may use. Tests pass string streams.
struct command_io {
    std::ostream& out;
    std::ostream& err;
    /// The adapters built into this binary (main() registers them); commands that load a
    /// configuration need them and refuse to run without. Unset in tests of other commands.
    const adapter_registry* adapters = nullptr;
};

/// One subcommand. `name` may have two words ("mapping check").
struct command_spec {
    std::string_view name;
    std::string_view summary;      ///< One line, for `casebridge --help`.
    std::string_view usage;        ///< What follows the name: "[--json]", "--mapping FILE ...".
    std::string_view description;  ///< Paragraphs for `casebridge NAME --help`.
    std::vector<option_spec> options;
    std::size_t min_positional = 0;
    std::size_t max_positional = 0;
    /// Exit codes beyond "0 ok, 1 error, 2 usage" (", 3 record held"); or, starting with
    /// "0 ", the whole list, for a command that gives 1 another meaning too.
    std::string_view exit_codes;
    int (*run)(const parsed_args& args, command_io& io) = nullptr;
};

/// The table of every subcommand, in the order `--help` lists them.
const std::vector<command_spec>& commands();

/// Full --help text of one command.
std::string help_text(const command_spec& command);
/// Overview: every command with its summary.
std::string overview_text();

/// Dispatches `args` (without the program name) to a command. Returns the exit code.
int run(const std::vector<std::string>& args, command_io& io);

}  // namespace casebridge::cli
