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

/// Where a command writes. Tests pass string streams.
struct command_io {
    std::ostream& out;
    std::ostream& err;
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
    int (*run)(const parsed_args& args, command_io& io) = nullptr;
};

/// The table of every subcommand, in the order `--help` lists them.
const std::vector<command_spec>& commands();

/// Full --help text of one command.
std::string help_text(const command_spec& command);
/// Overview: every command with its summary.
std::string overview_text();

/// The adapters built into this binary, set once by main() before `run` (commands that
/// check adapter settings use it; nullptr when not set, as in unit tests).
void set_adapter_registry(const adapter_registry* registry) noexcept;
const adapter_registry* adapter_registry_in_use() noexcept;

/// Dispatches `args` (without the program name) to a command. Returns the exit code.
int run(const std::vector<std::string>& args, command_io& io);

}  // namespace casebridge::cli
