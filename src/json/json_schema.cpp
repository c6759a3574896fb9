#include "json/json_schema.hpp"

#include <regex>
#include <set>

#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

namespace casebridge::json {
namespace {

std::string pointer_string(const rapidjson::Pointer& p) {
    rapidjson::StringBuffer buf;
    p.Stringify(buf);
    return {buf.GetString(), buf.GetSize()};
}

const char* type_name(const rapidjson::Value& v) {
    switch (v.GetType()) {
        case rapidjson::kNullType:
            return "null";
        case rapidjson::kFalseType:
        case rapidjson::kTrueType:
            return "boolean";
        case rapidjson::kObjectType:
            return "object";
        case rapidjson::kArrayType:
            return "array";
        case rapidjson::kStringType:
            return "string";
        case rapidjson::kNumberType:
            return v.IsInt64() || v.IsUint64() ? "integer" : "number";
    }
    return "value";
}

// Renders a schema literal (enum member, type list) for a message. Schema text is not case
// data, so showing it is safe.
std::string literal(const rapidjson::Value& v) {
    return to_string(v);
}

std::string list_of(const rapidjson::Value& array, std::size_t limit = 12) {
    std::string out;
    std::size_t n = 0;
    for (const auto& e : array.GetArray()) {
        if (n == limit) {
            out += ", … (" + std::to_string(array.Size()) + " in all)";
            break;
        }
        if (n++ > 0) {
            out += ", ";
        }
        out += literal(e);
    }
    return out;
}

bool allowed_by_schema(const rapidjson::Value& schema_node, const std::string& key) {
    if (schema_node.HasMember("properties") && schema_node["properties"].IsObject() &&
        schema_node["properties"].HasMember(key.c_str())) {
        return true;
    }
    if (schema_node.HasMember("patternProperties") && schema_node["patternProperties"].IsObject()) {
        for (const auto& m : schema_node["patternProperties"].GetObject()) {
            try {
                if (std::regex_search(
                        key, std::regex(m.name.GetString(), std::regex::ECMAScript)
                    )) {
                    return true;
                }
            } catch (const std::regex_error&) {
                return true;  // a pattern we cannot evaluate: do not accuse the key
            }
        }
    }
    return false;
}

// " (allowed: a, b, c)" from a schema's "properties", or "" when it lists none.
std::string allowed_names(const rapidjson::Value& schema_node) {
    if (!schema_node.HasMember("properties") || !schema_node["properties"].IsObject()) {
        return {};
    }
    std::string names;
    for (const auto& p : schema_node["properties"].GetObject()) {
        names += names.empty() ? "" : ", ";
        names += p.name.GetString();
    }
    return " (allowed: " + names + ")";
}

schema_violation describe(
    const rapidjson::Value& schema_node,
    std::string keyword,
    std::string pointer,
    const rapidjson::Value* doc_node
) {
    schema_violation v{pointer, keyword, {}};
    const auto has = [&](const char* k) { return schema_node.HasMember(k); };
    if (keyword == "required" && doc_node != nullptr && doc_node->IsObject() && has("required")) {
        std::string missing;
        for (const auto& name : schema_node["required"].GetArray()) {
            if (!doc_node->HasMember(name)) {
                missing += missing.empty() ? "\"" : ", \"";
                missing += std::string(name.GetString()) + '"';
            }
        }
        v.message = "missing required property " + missing;
    } else if (keyword == "additionalProperties" && doc_node != nullptr && !doc_node->IsObject() && pointer.rfind('/') != std::string::npos) {
        // RapidJSON points at the offending member itself.
        const std::string token = pointer.substr(pointer.rfind('/') + 1);
        std::string key;
        for (std::size_t i = 0; i < token.size(); ++i) {
            if (token[i] == '~' && i + 1 < token.size()) {
                key += token[++i] == '1' ? '/' : '~';
            } else {
                key += token[i];
            }
        }
        v.message = "unknown property \"" + key + "\"" + allowed_names(schema_node);
    } else if (keyword == "additionalProperties" && doc_node != nullptr && doc_node->IsObject()) {
        for (const auto& m : doc_node->GetObject()) {
            const std::string key(m.name.GetString(), m.name.GetStringLength());
            if (!allowed_by_schema(schema_node, key)) {
                v.pointer = pointer + '/' + escape_pointer_token(key);
                v.message = "unknown property \"" + key + "\"" + allowed_names(schema_node);
                break;
            }
        }
        if (v.message.empty()) {
            v.message = "property not allowed here";
        }
    } else if (keyword == "enum" && has("enum")) {
        v.message = "value is not one of " + list_of(schema_node["enum"]);
    } else if (keyword == "type" && has("type")) {
        v.message = "expected " + (schema_node["type"].IsArray()
                                       ? "one of " + list_of(schema_node["type"])
                                       : std::string(schema_node["type"].GetString()));
        if (doc_node != nullptr) {
            v.message += std::string(", found ") + type_name(*doc_node);
        }
    } else if (keyword == "pattern" && has("pattern")) {
        v.message = "string does not match the pattern " + literal(schema_node["pattern"]);
        // A pattern says little to a person: the schema's description of the value, when it
        // has one, says what is expected.
        if (schema_node.HasMember("description") && schema_node["description"].IsString()) {
            v.message += std::string(" (") + schema_node["description"].GetString() + ")";
        }
    } else if (keyword == "minLength" && has("minLength")) {
        v.message = "string shorter than " + literal(schema_node["minLength"]) + " characters";
    } else if (keyword == "maxLength" && has("maxLength")) {
        v.message = "string longer than " + literal(schema_node["maxLength"]) + " characters";
    } else if (keyword == "minimum" && has("minimum")) {
        v.message = "number below the minimum " + literal(schema_node["minimum"]);
    } else if (keyword == "maximum" && has("maximum")) {
        v.message = "number above the maximum " + literal(schema_node["maximum"]);
    } else if (keyword == "minItems" && has("minItems")) {
        v.message = "fewer than " + literal(schema_node["minItems"]) + " items";
    } else if (keyword == "maxItems" && has("maxItems")) {
        v.message = "more than " + literal(schema_node["maxItems"]) + " items";
    } else if (keyword == "uniqueItems") {
        v.message = "items must be unique";
    } else if (keyword == "minProperties" && has("minProperties")) {
        v.message = "fewer than " + literal(schema_node["minProperties"]) + " properties";
    } else if (keyword == "oneOf") {
        v.message = "value matches none, or more than one, of the allowed forms";
    } else if (keyword == "anyOf") {
        v.message = "value matches none of the allowed forms";
    } else if (keyword == "not") {
        v.message = "value has a form that is not allowed here";
    } else if (keyword == "dependencies") {
        v.message = "a property here needs another property that is missing";
    } else {
        v.message = "value breaks the schema rule \"" + keyword + "\"";
    }
    return v;
}

}  // namespace

using schema_document = rapidjson::GenericSchemaDocument<rapidjson::Value, rapidjson::CrtAllocator>;

schema::schema(std::string_view schema_json, std::string name) : name_(std::move(name)) {
    auto parsed = parse(schema_json, dialect::strict);
    if (!parsed) {
        throw file_error(
            parsed.error().describe(name_), parsed.error().code, parsed.error().pointer
        );
    }
    source_.Swap(*parsed);
    compiled_ = std::make_unique<schema_document>(source_);
}

schema::~schema() = default;
schema::schema(schema&&) noexcept = default;
schema& schema::operator=(schema&&) noexcept = default;

std::optional<schema_violation> schema::validate(const rapidjson::Value& document) const {
    rapidjson::GenericSchemaValidator<schema_document> validator(*compiled_);
    if (document.Accept(validator)) {
        return std::nullopt;
    }
    const std::string doc_pointer = pointer_string(validator.GetInvalidDocumentPointer());
    const rapidjson::Pointer schema_pointer = validator.GetInvalidSchemaPointer();
    const rapidjson::Value* schema_node = schema_pointer.Get(source_);
    const rapidjson::Value* doc_node = validator.GetInvalidDocumentPointer().Get(document);
    static const rapidjson::Value empty_object(rapidjson::kObjectType);
    return describe(
        schema_node != nullptr ? *schema_node : empty_object,
        validator.GetInvalidSchemaKeyword(),
        doc_pointer,
        doc_node
    );
}

void schema::check_file(const located_document& file, std::string_view origin) const {
    const auto violation = validate(file.doc);
    if (!violation) {
        return;
    }
    json_error e;
    e.code = errc::schema_violation;
    e.position = file.locate(violation->pointer);
    e.pointer = violation->pointer;
    e.message = "at " + (violation->pointer.empty() ? std::string("/") : violation->pointer) +
                ": " + violation->message;
    throw file_error(e.describe(origin), e.code, e.pointer);
}

}  // namespace casebridge::json
