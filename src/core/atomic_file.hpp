// Writing a file so that readers see either the old content or the new, never half of it,
// and so that it survives a power cut once the call returns.
#pragma once

#include <filesystem>
#include <string_view>

#include <boost/system/result.hpp>

namespace casebridge {

/// Writes `data` to a temporary name in the same folder, fsyncs it, renames it over `path`
/// and fsyncs the folder. `mode` is applied to the new file (default 0600). Errors carry the
/// errno of the step that failed.
boost::system::result<void> write_file_atomically(
    const std::filesystem::path& path, std::string_view data, unsigned mode = 0600
);

/// As write_file_atomically, but never replaces an existing file: fails with EEXIST when
/// `path` exists (a receipt, say, that must not be overwritten).
boost::system::result<void> write_new_file(
    const std::filesystem::path& path, std::string_view data, unsigned mode = 0600
);

/// Renames `from` to `to` (same file system) and fsyncs the folders of both, so the move
/// survives a power cut once the call returns. Errors carry the errno of the step that failed.
boost::system::result<void> rename_durably(
    const std::filesystem::path& from, const std::filesystem::path& to
);

/// Fsyncs a folder, making the creation, rename or removal of its entries durable.
boost::system::result<void> fsync_directory(const std::filesystem::path& dir);

}  // namespace casebridge
