// Shared by the fuzz targets (tests/fuzz/*_fuzz.cpp). A target is one function,
// LLVMFuzzerTestOneInput, built two ways: with clang's libFuzzer (the `fuzz` preset) and with
// GCC as a replay driver (replay_main.cpp) that feeds it every file of its corpus and its
// regression inputs under the asan preset's tests. A target checks properties, not only that
// nothing crashed; a broken property aborts with a message naming the property.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_server.hpp"

namespace casebridge::fuzz {

/// A value that seeds put where case data goes (names, reasons, ids). No error message may
/// hold it: messages name places and fields, never values.
inline constexpr std::string_view sentinel = "S3NT1NEL";

/// Aborts with "property failed: WHAT" (and `detail`, which must not be case data) when
/// `ok` is false. Works under libFuzzer (the crash is saved) and in the replay driver.
void require(bool ok, std::string_view what, std::string_view detail = {});

/// True when `text` holds the sentinel somewhere other than a position where a JSON object
/// key or a CSV header could be (names may be quoted in messages; values may not). Errs
/// towards false: a sentinel that could be a key is not counted.
bool has_value_sentinel_json(std::string_view text);
/// As has_value_sentinel_json, for CSV: the sentinel after the first line.
bool has_value_sentinel_csv(std::string_view text);

/// Requires that `message` does not hold the sentinel (called when the input has it as a
/// value).
void require_no_sentinel(std::string_view message, std::string_view what);

/// A private folder for this process (made once, removed at exit).
const std::filesystem::path& scratch_dir();

/// The text of every secret file and variable example_layout() makes (none may be shown).
inline constexpr std::string_view secret_text = "S3CRETS3CRET-fuzz-0123456789abcdef";

/// A folder laid out as config/casebridge.example.jsonc expects (config/, mappings/, state/,
/// secrets/ with owner-only files holding secret_text, the pseudonym and linkage variables
/// set), made once under scratch_dir(); returns its root.
const std::filesystem::path& example_layout();

/// Writes `bytes` to `path` (replacing it).
void write_file(const std::filesystem::path& path, std::string_view bytes);

/// An HTTP/1.1 request read from `bytes` by Beast's parser, as casebridge's server reads one:
/// the head (header names in lower case) and, apart, the body, which the caller adds once the
/// head is admitted. Nullopt when the bytes are not one whole request within the limits
/// (16 KiB of header, `body_limit` of body).
struct raw_request {
    httpd::request head;
    std::string body;
};
std::optional<raw_request> read_request(std::string_view bytes, std::size_t body_limit);

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace casebridge::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
