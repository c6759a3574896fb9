// The data files shipped with casebridge (the catalogue, the mappings and their value tables,
// the default DPISP policies), compiled into the binary so that `casebridge demo` works from
// any folder and in the container image.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace casebridge {

/// One shipped file as compiled in (src/embed_files.cmake generates the table at build time,
/// from the files in the source tree, and again whenever one of them changes).
struct shipped_file {
    std::string_view path;  ///< relative to the source tree: "mappings/primero.case.json"
    const unsigned char* bytes;
    std::size_t size;

    std::string_view text() const noexcept { return {reinterpret_cast<const char*>(bytes), size}; }
};

/// Every shipped file, sorted by path: mappings/*.json, mappings/linkage/*.json,
/// mappings/dictionaries/*.csv, config/policies.json and config/tables/*.json.
std::span<const shipped_file> shipped_files() noexcept;

/// The content of the file at `path` in `files` (sorted by path, as embed_files.cmake writes
/// them), or nullopt.
std::optional<std::string_view> find_embedded_file(
    std::span<const shipped_file> files, std::string_view path
) noexcept;

/// The content of the shipped file at `path` (as in shipped_file::path), or nullopt.
std::optional<std::string_view> find_shipped_file(std::string_view path) noexcept;

}  // namespace casebridge
