// Secrets an adapter reads on use (so a rotated secret needs no restart): the first line of a
// file, or an environment variable. Their values never reach logs or errors.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace casebridge {

/// Where a secret comes from: a file (its first line) or an environment variable.
struct secret_source {
    std::filesystem::path file;
    std::string env;
    bool empty() const { return file.empty() && env.empty(); }
};

/// The first line of `path` without trailing CR and spaces; nullopt when the file cannot be
/// read or has no line. Each call sees the file as it is then, but reads it again only when
/// it changed: the line of a file last written more than two seconds ago is kept in memory
/// with the file's device, inode, size and modification and status-change times, and a
/// `stat` that finds them all unchanged answers from there (adapters read their secrets on
/// every request, so that a rotated secret needs no restart).
std::optional<std::string> read_first_line(const std::filesystem::path& path);

/// The secret: the first line of `s.file` when a file is named, else the value of `s.env`.
/// nullopt when it cannot be read, is not set, or is empty.
std::optional<std::string> read_secret(const secret_source& s);

}  // namespace casebridge
