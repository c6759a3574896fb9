// Runs a casebridge command in process and captures its exit code, stdout and stderr.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.hpp"

namespace casebridge::test {

struct cli_result {
    int code;
    std::string out;
    std::string err;
};

/// `args` without the program name, e.g. {"log", "verify", "--store", path}.
inline cli_result run_cli(const std::vector<std::string>& args) {
    std::ostringstream out;
    std::ostringstream err;
    cli::command_io io{out, err};
    const int code = cli::run(args, io);
    return {code, out.str(), err.str()};
}

}  // namespace casebridge::test
