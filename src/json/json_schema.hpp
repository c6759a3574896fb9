// JSON Schema (draft-04) validation with messages that name the JSON Pointer and never a value.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/fwd.h>

#include "json/json.hpp"

namespace casebridge::json {

/// The first way a document breaks its schema.
struct schema_violation {
    std::string pointer;  ///< JSON Pointer of the offending place in the document.
    std::string keyword;  ///< The schema keyword that failed ("required", "enum", ...).
    std::string message;  ///< Readable, names properties and allowed values, never the value.
};

/// A compiled schema. Compile once at startup; validate many times (thread-compatible).
class schema {
public:
    /// Compiles `schema_json` (strict JSON). Throws file_error naming `name` if it is not valid.
    schema(std::string_view schema_json, std::string name);
    ~schema();
    schema(schema&&) noexcept;
    schema& operator=(schema&&) noexcept;

    /// The first violation in `document`, or nullopt when it conforms.
    std::optional<schema_violation> validate(const rapidjson::Value& document) const;

    /// Validates a loaded file; throws file_error "file:line:column: at POINTER: message".
    void check_file(const located_document& file, std::string_view origin) const;

    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
    rapidjson::Document source_;
    std::unique_ptr<rapidjson::GenericSchemaDocument<rapidjson::Value, rapidjson::CrtAllocator>>
        compiled_;
};

}  // namespace casebridge::json
