// The canonical case vocabulary (mappings/canonical-case.json): every field that a mapping or a
// DPISP policy may name, with its type, value set and data class. Loaded once at startup.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json/json.hpp"

namespace casebridge {

/// The JSON type of a canonical field's value.
enum class field_type {
    string,     ///< JSON string.
    boolean,    ///< JSON true/false.
    integer,    ///< JSON integer.
    date,       ///< JSON string "YYYY-MM-DD".
    datetime,   ///< JSON string, RFC 3339 in UTC ("...Z").
    code,       ///< JSON string, one of the value set.
    code_list,  ///< JSON array of strings, each one of the value set.
    subform,    ///< JSON array of objects (rows), whose fields are `row_fields`.
};

/// What kind of data a field holds; drives hashing at rest and policy defaults.
enum class field_class {
    system_id,       ///< Opaque ids a system generates (UUIDs, GUIDs, short ids).
    identifier,      ///< Personal or business identifiers: the store keeps them only hashed.
    personal,        ///< Data about the person (names, birth date, contact, location).
    sensitive,       ///< Special-category data (protection concerns, notes, consent detail).
    administrative,  ///< Workflow, ownership and times.
};

std::string_view to_string(field_type t) noexcept;
std::string_view to_string(field_class c) noexcept;
/// Parses a type name as written in the catalogue; nullopt when unknown.
std::optional<field_type> parse_field_type(std::string_view name) noexcept;

/// One field of the catalogue: a top-level field or a subform's row field.
struct field_def {
    std::string name;
    field_type type = field_type::string;
    field_class cls = field_class::administrative;
    std::string group;                ///< Empty for row fields.
    std::vector<std::string> values;  ///< Value set (code, code_list), in file order.
    bool open_values = false;         ///< A deployment may add codes of its own.
    bool free_text = false;           ///< Narrative text.
    /// An identifier that names one person (never a family, a group or a guardian): two
    /// source records holding the same value are a conflict for review, never "take the
    /// first". Only on top-level identifier fields.
    bool one_person = false;
    std::string description;
    std::vector<field_def> row_fields;  ///< Subform rows only, in file order.

    bool is_identifier() const noexcept { return cls == field_class::identifier; }
    bool is_subform() const noexcept { return type == field_type::subform; }
    bool has_value_set() const noexcept {
        return type == field_type::code || type == field_type::code_list;
    }
    /// True when `code` is in the value set (always true for an open value set).
    bool allows(std::string_view code) const noexcept;
    /// The row field named `row`, or nullptr (also for a field that is not a subform).
    const field_def* row_field(std::string_view row) const noexcept;
};

/// What a canonical record says about its closure.
struct closure_state {
    bool closed = false;
    /// The text of the closure date field (date or RFC 3339), when closed and the record has it.
    std::string closed_on;
};

/// Which values of a canonical record mean that the case is closed (the catalogue's
/// `closure`): data, so a deployment with other status codes changes the file, not the code.
struct closure_rule {
    std::string status_field;                ///< A top-level code field (e.g. "status").
    std::vector<std::string> closed_values;  ///< Its values that mean closed.
    std::string date_field;  ///< A top-level date or datetime field: when it closed (optional).

    /// Open or closed; nullopt when the record has no text in the status field (it says
    /// nothing about its closure).
    std::optional<closure_state> state_of(const rapidjson::Value& record) const;
};

/// The loaded catalogue. Immutable after load; share it as `const canonical_catalogue&`.
class canonical_catalogue {
public:
    /// Loads and validates a catalogue file (JSON with comments) against the embedded schema.
    /// Throws json::file_error "file:line:column: message" naming the JSON Pointer: a startup
    /// error.
    static canonical_catalogue load(const std::filesystem::path& path);
    /// As `load`, from a document already read; `origin` names it in messages.
    static canonical_catalogue from_document(
        const json::located_document& file, std::string_view origin
    );
    /// The catalogue shipped in the source tree, found from CASEBRIDGE_CANONICAL_CASE or
    /// `mappings/canonical-case.json` under the working directory. Throws like `load`.
    static std::filesystem::path default_path();

    /// The top-level field `name`, or nullptr.
    const field_def* find(std::string_view name) const noexcept;
    /// The row field `row` of subform `subform`, or nullptr.
    const field_def* find_row_field(std::string_view subform, std::string_view row) const noexcept;
    /// Resolves a canonical path: "/name" or "/subform/row_field" (also "/subform/N/row_field"
    /// and "/subform/-/row_field"). nullptr when it names no field.
    const field_def* resolve(std::string_view pointer) const noexcept;

    /// All top-level fields in file order.
    const std::vector<field_def>& fields() const noexcept { return fields_; }
    /// Names of every identifier-class field, as canonical paths ("/unhcr_individual_no",
    /// "/services_section/progres_interventionnumber").
    std::vector<std::string> identifier_paths() const;
    /// Canonical paths of the identifier fields marked `one_person`, in file order.
    std::vector<std::string> one_person_paths() const;
    int version() const noexcept { return version_; }
    /// The closure rule, or nullptr when the catalogue has none.
    const closure_rule* closure() const noexcept { return closure_ ? &*closure_ : nullptr; }

private:
    int version_ = 0;
    std::optional<closure_rule> closure_;
    std::vector<field_def> fields_;
    std::vector<std::pair<std::string, std::size_t>> index_;  // sorted by name
};

/// The JSON Schema of the catalogue file (mappings/schema/canonical-case.schema.json), embedded.
std::string_view canonical_case_schema_text() noexcept;

}  // namespace casebridge
