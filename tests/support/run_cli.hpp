// Runs a casebridge command in process and captures its exit code, stdout and stderr.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"

namespace casebridge::test {

/// The adapters commands run by run_cli() are given, as main() gives its own: unset until a
/// test registers the built-in ones (sync/sandbox_pair.hpp's use_builtin_adapters()).
inline const adapter_registry*& adapters_for_commands() {
    static const adapter_registry* registry = nullptr;
    return registry;
}

struct cli_result {
    int code;
    std::string out;
    std::string err;
};

/// `args` without the program name, e.g. {"log", "verify", "--store", path}.
inline cli_result run_cli(const std::vector<std::string>& args) {
    std::ostringstream out;
    std::ostringstream err;
    cli::command_io io{out, err, adapters_for_commands()};
    const int code = cli::run(args, io);
    return {code, out.str(), err.str()};
}

}  // namespace casebridge::test
