// casebridge: argv → the command table. Nothing else lives here.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "adapter/registry.hpp"
#include "cli/cli.hpp"

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    const std::vector<std::string> args(argv + 1, argv + argc);
    casebridge::adapter_registry adapters;
    casebridge::register_builtin_adapters(adapters);
    casebridge::cli::command_io io{std::cout, std::cerr, &adapters};
    try {
        const int code = casebridge::cli::run(args, io);
        std::cout.flush();
        return code;
    } catch (const std::exception& e) {
        // A startup error that escaped its command, or a bug: say what, never a record value.
        std::cerr << "casebridge: fatal: " << e.what() << '\n';
        return casebridge::cli::exit_error;
    }
}
