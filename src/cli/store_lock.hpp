// The writer lock for commands that write the store (run, flow run, caseload-transfer execute,
// store purge, demo): one call that takes it or tells the user who holds the store and what to
// do instead.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "cli/cli.hpp"
#include "store/writer_lock.hpp"

namespace casebridge::cli {

/// Who wants to write, for the lock file and for the advice given when refused.
struct store_writer {
    /// The command's name in the table: "run", "flow run", "store purge", ...
    std::string_view command;
    /// Its configuration file, if it has one (recorded in the lock file).
    std::filesystem::path config;
    /// The flow it would run, if any: a refused `flow run` is told the admin route for it.
    std::string flow;
};

/// Takes the writer lock of `store_file` for `who`. When another process holds the store,
/// writes to io.err which process (pid, command, since), that two writers would send records
/// twice, and what to do instead (the daemon's `POST /flows/{id}/run`, or waiting), and
/// returns nullopt: the command then exits with exit_error without touching the store.
std::optional<store::writer_lock> lock_store(
    const std::filesystem::path& store_file, const store_writer& who, command_io& io
);

}  // namespace casebridge::cli
