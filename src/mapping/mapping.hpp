// Declarative mappings between a system's record shape and the canonical case record.
// A mapping file (mappings/*.json, language in docs/mappings.md) is validated against
// mappings/schema/mapping.schema.json and the canonical catalogue, then compiled once into a
// program of ops holding parsed JSON Pointers, value tables and transform parameters. Mapping a
// record parses no file and no string of the mapping again.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <rapidjson/document.h>

#include "canonical/canonical_case.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace casebridge {
class logger;
}

namespace casebridge::mapping {

enum class direction { in, out };  ///< in: system → canonical; out: canonical → system.

/// Why a record could not be mapped: names fields, never a value.
struct mapping_error {
    errc code = errc::mapping_failed;  ///< mapping_failed or unmapped_value.
    std::string record;                ///< The record's id (see `record_id` in the file).
    std::string field;                 ///< Canonical path, e.g. "/services_section/0/service_type".
    std::string system_field;          ///< The system-side path, when there is one.
    std::string reason;                ///< Fixed text plus names (table, transform).

    boost::system::error_code error_code() const noexcept { return make_error_code(code); }
    /// {"record": ..., "field": ..., "system_field": ..., "error": ..., "reason": ...}
    std::string to_json() const;
};

/// Lets result<T, mapping_error>::value() throw.
[[noreturn]] void throw_exception_from_error(
    const mapping_error& e, const boost::source_location& loc
);

template <typename T>
using map_result = boost::system::result<T, mapping_error>;

/// A value that a table did not list and that the table's policy resolved without holding the
/// record (a logged default, a dropped or passed value).
struct mapping_note {
    std::string field;  ///< Canonical path.
    std::string table;
    std::string action;  ///< "default", "drop" or "pass".
};

/// Per-call inputs: the time for "now" transforms, where notes and log lines go.
struct map_context {
    time_point now{};
    std::vector<mapping_note>* notes = nullptr;  ///< Optional.
    const logger* log = nullptr;                 ///< Optional: notes are also logged (warn).
};

struct program;  // the compiled ops (mapping_spec.cpp)

/// A loaded and compiled mapping. Immutable; share it between threads as `const&`.
class compiled_mapping {
public:
    /// Loads, validates and compiles `path`. Value tables in other files (`"file"`) are read
    /// relative to `path`. Throws json::file_error "file:line:column: at POINTER: message".
    static compiled_mapping load(const std::filesystem::path& path, const canonical_catalogue& cat);

    compiled_mapping(compiled_mapping&&) noexcept;
    compiled_mapping& operator=(compiled_mapping&&) noexcept;
    ~compiled_mapping();

    const std::string& id() const noexcept;
    int version() const noexcept;
    const std::string& system() const noexcept;
    bool supports(direction d) const noexcept;
    /// True when inbound input is a list of joined rows grouped into records (`group`).
    bool groups_rows() const noexcept;

    /// One system record → one canonical record.
    map_result<rapidjson::Document> map_in(const rapidjson::Value& record, const map_context& ctx)
        const;
    /// One canonical record → one system record (an object, or a `Fields` list).
    map_result<rapidjson::Document> map_out(
        const rapidjson::Value& canonical, const map_context& ctx
    ) const;
    /// Groups joined rows (an array) into records by the `group` key, aggregating the listed
    /// columns; fails when rows of one group disagree on any other column.
    map_result<std::vector<rapidjson::Document>> group(const rapidjson::Value& rows) const;

private:
    compiled_mapping();
    std::unique_ptr<program> program_;
};

}  // namespace casebridge::mapping
