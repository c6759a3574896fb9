// Guarded JSON parsing for files and upstream bodies: iterative, depth- and size-limited,
// duplicate keys rejected, errors located by line, column and JSON Pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <rapidjson/document.h>

#include "core/error.hpp"

namespace casebridge::json {

/// 1-based line and column (column counts UTF-8 code points); 0 means unknown.
struct text_position {
    std::size_t line = 0;
    std::size_t column = 0;
};

/// Which syntax a text may use.
enum class dialect {
    strict,         ///< RFC 8259 only: every body from a remote system.
    with_comments,  ///< Also `//` and `/* */` comments and trailing commas: config, mappings,
                    ///< policies.
};

/// Limits applied while parsing.
struct parse_limits {
    std::size_t max_depth = 64;                ///< Nesting of objects and arrays.
    std::size_t max_bytes = 16 * 1024 * 1024;  ///< Size of the text.
};

/// Why a text was refused, and where. `message` is fixed text plus key names; never a value.
struct json_error {
    errc code = errc::invalid_json;
    std::size_t offset = 0;  ///< Byte offset into the text.
    text_position position;
    std::string pointer;  ///< JSON Pointer of the place, when known ("" is the root).
    std::string message;

    /// "origin:line:column: message" (line and column left out when unknown).
    std::string describe(std::string_view origin) const;
};

/// Lets boost::system::result<T, json_error>::value() throw.
[[noreturn]] void throw_exception_from_error(
    const json_error& e, const boost::source_location& loc
);

template <typename T>
using json_result = boost::system::result<T, json_error>;

namespace detail {

/// One value of a located text, in document order (a container before its contents).
struct located_value {
    std::uint32_t offset = 0;    ///< Where the value starts; for an object member, its key.
    std::uint32_t end : 31 = 0;  ///< Index after the value's last descendant.
    std::uint32_t is_object : 1 = 0;
};

}  // namespace detail

/// A parsed document that remembers where each value sits in its text.
class located_document {
public:
    rapidjson::Document doc;

    /// Position of the value at `pointer` (of an object member: of its key), or of its nearest
    /// recorded ancestor. Found by walking the recorded values from the root, comparing keys
    /// in the text: meant for error messages, not for hot paths.
    text_position locate(std::string_view pointer) const;
    /// Position of a byte offset in the text.
    text_position position_of(std::size_t offset) const;
    /// Bytes held to answer locate and position_of (the text, its line starts and 8 bytes per
    /// value): proportional to the size of the text, however deep or long its keys.
    std::size_t position_bytes() const noexcept;

private:
    friend json_result<located_document> parse_located(std::string_view, dialect, parse_limits);
    std::optional<std::size_t> child(std::size_t parent, std::string_view token) const;

    std::vector<std::uint32_t> line_starts_;
    std::string text_;  // kept for columns (code points) and for keys (locate)
    std::vector<detail::located_value> values_;
};

/// Parses `text` (e.g. an HTTP body). Never recurses; enforces `limits`; rejects duplicate keys.
json_result<rapidjson::Document> parse(
    std::string_view text, dialect d = dialect::strict, parse_limits limits = {}
);

/// As `parse`, and records the position of every value for error messages. Texts are limited
/// to 2 GiB - 1 bytes whatever `limits.max_bytes` says.
json_result<located_document> parse_located(
    std::string_view text, dialect d = dialect::with_comments, parse_limits limits = {}
);

/// A file that could not be loaded: the message is "file:line:column: what".
class file_error : public std::runtime_error {
public:
    file_error(std::string message, errc code, std::string pointer)
        : std::runtime_error(std::move(message)), code_(code), pointer_(std::move(pointer)) {}
    errc code() const noexcept { return code_; }
    const std::string& pointer() const noexcept { return pointer_; }

private:
    errc code_;
    std::string pointer_;
};

/// Throws file_error "origin:line:column: at POINTER: message" for a value of `file` that is
/// well-formed but unusable (a semantic check after schema validation).
[[noreturn]] void fail_at(
    const located_document& file,
    std::string_view origin,
    const std::string& pointer,
    const std::string& message,
    errc code = errc::invalid_config
);

/// Why read_file failed, for a message: the size limit, or that it cannot be read.
std::string read_error_text(
    const boost::system::error_code& ec, std::size_t max_bytes = 16 * 1024 * 1024
);

/// Reads a whole file of at most `max_bytes`. Errors: file_unreadable, too_large.
boost::system::result<std::string> read_file(
    const std::filesystem::path& path, std::size_t max_bytes = 16 * 1024 * 1024
);

/// Loads a config, mapping or policy file (JSON with comments, a leading BOM allowed).
/// Throws file_error naming the file, line and column: a startup error.
located_document load_file(const std::filesystem::path& path, parse_limits limits = {});

/// Escapes one reference token for a JSON Pointer (RFC 6901: '~' → "~0", '/' → "~1").
std::string escape_pointer_token(std::string_view token);
/// As escape_pointer_token, appended to `out`.
void append_pointer_token(std::string& out, std::string_view token);

/// Compact JSON with object keys sorted (byte order) at every level: stable for hashing and
/// golden files.
std::string canonical(const rapidjson::Value& value);

/// The string member `name` of `object`; nothing when it is absent or not a string (or
/// `object` is not an object).
std::optional<std::string> string_member(const rapidjson::Value& object, const char* name);

/// Compact (or indented) JSON text of `value`, keys in document order.
std::string to_string(const rapidjson::Value& value, bool pretty = false);

}  // namespace casebridge::json
