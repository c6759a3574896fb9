#include "canonical/canonical_case.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>

#include "json/json_schema.hpp"

namespace casebridge {

namespace {

constexpr std::array<std::pair<field_type, std::string_view>, 8> type_names{{
    {field_type::string, "string"},
    {field_type::boolean, "boolean"},
    {field_type::integer, "integer"},
    {field_type::date, "date"},
    {field_type::datetime, "datetime"},
    {field_type::code, "code"},
    {field_type::code_list, "code_list"},
    {field_type::subform, "subform"},
}};

constexpr std::array<std::pair<field_class, std::string_view>, 5> class_names{{
    {field_class::system_id, "system_id"},
    {field_class::identifier, "identifier"},
    {field_class::personal, "personal"},
    {field_class::sensitive, "sensitive"},
    {field_class::administrative, "administrative"},
}};

field_class parse_class(std::string_view name) {
    for (const auto& [c, n] : class_names) {
        if (n == name) {
            return c;
        }
    }
    return field_class::administrative;  // unreachable: the schema lists the classes
}

std::string member_string(const rapidjson::Value& obj, const char* key) {
    const auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) {
        return {};
    }
    return {it->value.GetString(), it->value.GetStringLength()};
}

bool member_bool(const rapidjson::Value& obj, const char* key) {
    const auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

[[noreturn]] void fail(
    const json::located_document& file,
    std::string_view origin,
    const std::string& pointer,
    const std::string& message
) {
    json::json_error e;
    e.code = errc::invalid_config;
    e.position = file.locate(pointer);
    e.pointer = pointer;
    e.message = "at " + pointer + ": " + message;
    throw json::file_error(e.describe(origin), e.code, e.pointer);
}

bool valid_name(std::string_view name) noexcept {
    if (name.empty() || name.front() < 'a' || name.front() > 'z') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

field_def read_field(
    const json::located_document& file,
    std::string_view origin,
    const std::string& pointer,
    std::string name,
    const rapidjson::Value& v
) {
    if (!valid_name(name)) {
        fail(file, origin, pointer, "a field name is lower case letters, digits and '_'");
    }
    field_def f;
    f.name = std::move(name);
    f.type = parse_field_type(member_string(v, "type")).value_or(field_type::string);
    f.cls = parse_class(member_string(v, "class"));
    f.group = member_string(v, "group");
    f.open_values = member_bool(v, "open_values");
    f.free_text = member_bool(v, "free_text");
    f.one_person = member_bool(v, "one_person");
    if (f.one_person && f.cls != field_class::identifier) {
        fail(
            file,
            origin,
            pointer + "/one_person",
            "\"one_person\" marks an identifier: give the field \"class\": \"identifier\""
        );
    }
    f.description = member_string(v, "description");
    if (const auto it = v.FindMember("values"); it != v.MemberEnd()) {
        if (!f.has_value_set()) {
            fail(
                file,
                origin,
                pointer + "/values",
                "a value set is allowed only on a code or code_list field"
            );
        }
        for (const auto& code : it->value.GetArray()) {
            f.values.emplace_back(code.GetString(), code.GetStringLength());
        }
    }
    if (f.has_value_set() && f.values.empty() && !f.open_values) {
        fail(
            file,
            origin,
            pointer,
            "a code or code_list field needs \"values\" or \"open_values\": true"
        );
    }
    const auto rows = v.FindMember("row_fields");
    if (f.is_subform() != (rows != v.MemberEnd())) {
        fail(
            file,
            origin,
            pointer,
            f.is_subform() ? "a subform needs \"row_fields\""
                           : "\"row_fields\" is allowed only on a subform"
        );
    }
    if (rows != v.MemberEnd()) {
        bool has_unique_id = false;
        for (const auto& m : rows->value.GetObject()) {
            std::string row_name(m.name.GetString(), m.name.GetStringLength());
            has_unique_id = has_unique_id || row_name == "unique_id";
            auto row_pointer = pointer + "/row_fields/" + json::escape_pointer_token(row_name);
            f.row_fields.push_back(
                read_field(file, origin, row_pointer, std::move(row_name), m.value)
            );
        }
        if (!has_unique_id) {
            fail(
                file, origin, pointer + "/row_fields", "a subform's rows need a \"unique_id\" field"
            );
        }
    }
    return f;
}

}  // namespace

std::string_view to_string(field_type t) noexcept {
    for (const auto& [v, n] : type_names) {
        if (v == t) {
            return n;
        }
    }
    return "unknown";
}

std::string_view to_string(field_class c) noexcept {
    for (const auto& [v, n] : class_names) {
        if (v == c) {
            return n;
        }
    }
    return "unknown";
}

std::optional<field_type> parse_field_type(std::string_view name) noexcept {
    for (const auto& [v, n] : type_names) {
        if (n == name) {
            return v;
        }
    }
    return std::nullopt;
}

bool field_def::allows(std::string_view code) const noexcept {
    return open_values || std::find(values.begin(), values.end(), code) != values.end();
}

const field_def* field_def::row_field(std::string_view row) const noexcept {
    for (const auto& r : row_fields) {
        if (r.name == row) {
            return &r;
        }
    }
    return nullptr;
}

canonical_catalogue canonical_catalogue::load(const std::filesystem::path& path) {
    const auto file = json::load_file(path);
    return from_document(file, path.string());
}

canonical_catalogue canonical_catalogue::from_document(
    const json::located_document& file, std::string_view origin
) {
    static const json::schema schema(canonical_case_schema_text(), "canonical-case.schema.json");
    schema.check_file(file, origin);

    canonical_catalogue cat;
    cat.version_ = file.doc["catalogue_version"].GetInt();
    for (const auto& m : file.doc["fields"].GetObject()) {
        std::string name(m.name.GetString(), m.name.GetStringLength());
        auto pointer = "/fields/" + json::escape_pointer_token(name);
        cat.fields_.push_back(read_field(file, origin, pointer, std::move(name), m.value));
    }
    cat.index_.reserve(cat.fields_.size());
    for (std::size_t i = 0; i < cat.fields_.size(); ++i) {
        cat.index_.emplace_back(cat.fields_[i].name, i);
    }
    std::sort(cat.index_.begin(), cat.index_.end());
    if (file.doc.HasMember("closure")) {
        const auto& c = file.doc["closure"];
        closure_rule rule;
        rule.status_field = c["status_field"].GetString();
        const field_def* status = cat.find(rule.status_field);
        if (status == nullptr || status->type != field_type::code) {
            fail(
                file,
                origin,
                "/closure/status_field",
                "the closure status field must be a top-level code field of the catalogue"
            );
        }
        for (rapidjson::SizeType i = 0; i < c["closed_values"].Size(); ++i) {
            std::string code = c["closed_values"][i].GetString();
            if (!status->allows(code)) {
                fail(
                    file,
                    origin,
                    "/closure/closed_values/" + std::to_string(i),
                    "not a value of " + rule.status_field
                );
            }
            rule.closed_values.push_back(std::move(code));
        }
        if (c.HasMember("date_field")) {
            rule.date_field = c["date_field"].GetString();
            const field_def* date = cat.find(rule.date_field);
            if (date == nullptr ||
                (date->type != field_type::date && date->type != field_type::datetime)) {
                fail(
                    file,
                    origin,
                    "/closure/date_field",
                    "the closure date field must be a top-level date or datetime field"
                );
            }
        }
        cat.closure_ = std::move(rule);
    }
    return cat;
}

std::optional<closure_state> closure_rule::state_of(const rapidjson::Value& record) const {
    if (!record.IsObject()) {
        return std::nullopt;
    }
    const auto status = record.FindMember(status_field.c_str());
    if (status == record.MemberEnd() || !status->value.IsString()) {
        return std::nullopt;
    }
    const std::string_view code(status->value.GetString(), status->value.GetStringLength());
    closure_state out;
    out.closed = std::find(closed_values.begin(), closed_values.end(), code) != closed_values.end();
    if (out.closed && !date_field.empty()) {
        const auto date = record.FindMember(date_field.c_str());
        if (date != record.MemberEnd() && date->value.IsString()) {
            out.closed_on.assign(date->value.GetString(), date->value.GetStringLength());
        }
    }
    return out;
}

std::filesystem::path canonical_catalogue::default_path() {
    if (const char* env = std::getenv("CASEBRIDGE_CANONICAL_CASE"); env != nullptr && *env != 0) {
        return env;
    }
    return std::filesystem::path("mappings") / "canonical-case.json";
}

const field_def* canonical_catalogue::find(std::string_view name) const noexcept {
    const auto it = std::lower_bound(
        index_.begin(),
        index_.end(),
        name,
        [](const auto& entry, std::string_view n) { return entry.first < n; }
    );
    if (it == index_.end() || it->first != name) {
        return nullptr;
    }
    return &fields_[it->second];
}

const field_def* canonical_catalogue::find_row_field(std::string_view subform, std::string_view row)
    const noexcept {
    const auto* f = find(subform);
    return f == nullptr ? nullptr : f->row_field(row);
}

const field_def* canonical_catalogue::resolve(std::string_view pointer) const noexcept {
    if (pointer.empty() || pointer.front() != '/') {
        return nullptr;
    }
    pointer.remove_prefix(1);
    const auto slash = pointer.find('/');
    const auto top = pointer.substr(0, slash);
    const auto* f = find(top);
    if (f == nullptr || slash == std::string_view::npos) {
        return f;
    }
    if (!f->is_subform()) {
        return nullptr;
    }
    auto rest = pointer.substr(slash + 1);
    // An optional row index ("-" or digits) between the subform and its row field.
    if (const auto next = rest.find('/'); next != std::string_view::npos) {
        const auto index = rest.substr(0, next);
        const bool is_index =
            index == "-" || (!index.empty() && std::all_of(index.begin(), index.end(), [](char c) {
                return c >= '0' && c <= '9';
            }));
        if (!is_index) {
            return nullptr;
        }
        rest = rest.substr(next + 1);
    }
    if (rest.find('/') != std::string_view::npos) {
        return nullptr;
    }
    return f->row_field(rest);
}

std::vector<std::string> canonical_catalogue::one_person_paths() const {
    std::vector<std::string> out;
    for (const auto& f : fields_) {
        if (f.one_person) {
            out.push_back("/" + f.name);
        }
    }
    return out;
}

std::vector<std::string> canonical_catalogue::identifier_paths() const {
    std::vector<std::string> out;
    for (const auto& f : fields_) {
        if (f.is_identifier()) {
            out.push_back("/" + f.name);
        }
        for (const auto& r : f.row_fields) {
            if (r.is_identifier()) {
                out.push_back("/" + f.name + "/" + r.name);
            }
        }
    }
    return out;
}

}  // namespace casebridge
