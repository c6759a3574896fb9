// Entry points of the subcommands listed in cli.cpp's table.
#pragma once

#include "cli/cli.hpp"

namespace casebridge::cli {
int run_version(const parsed_args& args, command_io& io);
int run_sandbox_primero(const parsed_args& args, command_io& io);
}  // namespace casebridge::cli
