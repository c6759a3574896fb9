// Loading, validation and compilation of mapping files (language: docs/mappings.md).
#include <algorithm>
#include <set>
#include <utility>

#include "json/json_schema.hpp"
#include "mapping/program.hpp"

namespace casebridge {
std::string_view mapping_schema_text() noexcept;
std::string_view value_tables_schema_text() noexcept;
}  // namespace casebridge

namespace casebridge::mapping {

namespace {

struct compiler {
    const json::located_document& file;
    std::string origin;
    std::filesystem::path dir;
    const canonical_catalogue& cat;
    program& prog;

    [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
        json::json_error e;
        e.code = errc::invalid_config;
        e.position = file.locate(pointer);
        e.pointer = pointer;
        e.message = "at " + (pointer.empty() ? std::string("/") : pointer) + ": " + message;
        throw json::file_error(e.describe(origin), e.code, e.pointer);
    }

    static std::string str(const rapidjson::Value& v) {
        return {v.GetString(), v.GetStringLength()};
    }

    path make_path(const rapidjson::Value& v, const std::string& pointer) const {
        path p;
        p.text = str(v);
        p.ptr = rapidjson::Pointer(p.text.c_str(), p.text.size());
        if (!p.ptr.IsValid()) {
            fail(pointer, "is not a valid JSON Pointer");
        }
        if (p.text.find('\0') != std::string::npos) {
            // RapidJSON 1.1.0 cuts a member name at a NUL in some look-ups and not in others;
            // no system names a field so.
            fail(pointer, "has a NUL character (\\u0000), which no field name holds");
        }
        return p;
    }

    std::vector<path> make_paths(const rapidjson::Value& v, const std::string& pointer) const {
        std::vector<path> out;
        if (v.IsString()) {
            out.push_back(make_path(v, pointer));
            return out;
        }
        for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
            out.push_back(make_path(v[i], pointer + "/" + std::to_string(i)));
        }
        return out;
    }

    /// The catalogue field a canonical path names, in the context of `parent` (a subform) or
    /// at the top level.
    const field_def* resolve(const path& p, const field_def* parent, const std::string& pointer)
        const {
        if (p.ptr.GetTokenCount() != 1) {
            fail(
                pointer,
                parent == nullptr ? "a canonical path names one top-level field (\"/name\"); "
                                    "use \"rows\" for subform fields"
                                  : "a row path names one row field (\"/name\")"
            );
        }
        const auto& token = p.ptr.GetTokens()[0];
        const std::string_view name(token.name, token.length);
        const field_def* f = parent == nullptr ? cat.find(name) : parent->row_field(name);
        if (f == nullptr) {
            fail(
                pointer,
                parent == nullptr
                    ? "\"" + std::string(name) + "\" is not a canonical field"
                    : "\"" + std::string(name) + "\" is not a row field of " + parent->name
            );
        }
        return f;
    }

    unknown_policy read_unknown(const rapidjson::Value& t, const char* key, std::string& fallback)
        const {
        const auto it = t.FindMember(key);
        if (it == t.MemberEnd()) {
            return unknown_policy::reject;
        }
        if (it->value.IsObject()) {
            fallback = str(it->value["default"]);
            return unknown_policy::use_default;
        }
        const auto s = str(it->value);
        return s == "drop"   ? unknown_policy::drop
               : s == "pass" ? unknown_policy::pass
                             : unknown_policy::reject;
    }

    void compile_tables() {
        const auto tables = file.doc.FindMember("tables");
        if (tables == file.doc.MemberEnd()) {
            return;
        }
        for (const auto& m : tables->value.GetObject()) {
            auto t = std::make_unique<value_table>();
            t->name = str(m.name);
            const std::string pointer = "/tables/" + json::escape_pointer_token(t->name);
            const rapidjson::Value* codes = nullptr;
            const rapidjson::Value* out_codes = nullptr;
            const bool has_file = m.value.HasMember("file");
            if (has_file != m.value.HasMember("table")) {
                fail(pointer, "\"file\" and \"table\" go together");
            }
            if (has_file == m.value.HasMember("map")) {
                fail(pointer, "a table has either \"map\" or \"file\" and \"table\"");
            }
            json::located_document ext;
            std::string ext_origin;
            if (has_file) {
                const auto ext_path = dir / str(m.value["file"]);
                ext_origin = ext_path.lexically_normal().string();
                try {
                    ext = json::load_file(ext_path);
                } catch (const json::file_error& e) {
                    if (e.code() != errc::file_unreadable && e.code() != errc::too_large) {
                        throw;  // inside the table file: its own file, line and column
                    }
                    // A file that cannot be read at all: the place is the mapping line that
                    // names it (the reason, after the table file's path, has no content).
                    fail(
                        pointer + "/file",
                        std::string("the value-table file cannot be used: ") + e.what()
                    );
                }
                static const json::schema ext_schema(
                    value_tables_schema_text(), "value-tables.schema.json"
                );
                ext_schema.check_file(ext, ext_origin);
                const auto named = ext.doc["tables"].FindMember(m.value["table"]);
                if (named == ext.doc["tables"].MemberEnd()) {
                    fail(
                        pointer + "/table",
                        "\"" + str(m.value["table"]) + "\" is not a table in " +
                            str(m.value["file"])
                    );
                }
                codes = &named->value["map"];
                if (named->value.HasMember("out")) {
                    out_codes = &named->value["out"];
                }
            } else {
                codes = &m.value["map"];
                if (m.value.HasMember("out")) {
                    out_codes = &m.value["out"];
                }
            }
            for (const auto& c : codes->GetObject()) {
                t->in.codes.emplace(str(c.name), str(c.value));
            }
            if (out_codes != nullptr) {
                for (const auto& c : out_codes->GetObject()) {
                    t->out.codes.emplace(str(c.name), str(c.value));
                }
            } else {
                for (const auto& c : codes->GetObject()) {
                    const auto [it, fresh] = t->out.codes.emplace(str(c.value), str(c.name));
                    if (!fresh && !t->out_ambiguous) {
                        t->out_ambiguous = true;
                        t->ambiguous_code = it->first;
                    }
                }
            }
            t->in.unknown = read_unknown(m.value, "unknown", t->in.fallback);
            t->out.unknown = read_unknown(m.value, "unknown_out", t->out.fallback);
            prog.tables.push_back(std::move(t));
        }
    }

    const value_table* find_table(std::string_view name) const {
        for (const auto& t : prog.tables) {
            if (t->name == name) {
                return t.get();
            }
        }
        return nullptr;
    }

    static transform_kind kind_of(std::string_view n) {
        static constexpr std::pair<std::string_view, transform_kind> names[] = {
            {"trim", transform_kind::trim},
            {"lower", transform_kind::lower},
            {"upper", transform_kind::upper},
            {"html_to_text", transform_kind::html_to_text},
            {"to_integer", transform_kind::to_integer},
            {"to_string", transform_kind::to_string},
            {"to_boolean", transform_kind::to_boolean},
            {"name_split", transform_kind::name_split},
            {"first_present", transform_kind::first_present},
            {"concat", transform_kind::concat},
            {"date", transform_kind::date},
            {"datetime", transform_kind::datetime},
            {"age", transform_kind::age},
            {"list_split", transform_kind::list_split},
            {"list_join", transform_kind::list_join},
            {"split_part", transform_kind::split_part},
        };
        for (const auto& [name, k] : names) {
            if (name == n) {
                return k;
            }
        }
        return transform_kind::none;
    }

    transform_spec read_transform(const rapidjson::Value& v, const std::string& pointer) const {
        transform_spec t;
        if (v.IsString()) {
            t.name = str(v);
            t.kind = kind_of(t.name);
            return t;
        }
        t.name = str(v["name"]);
        t.kind = kind_of(t.name);
        if (const auto it = v.FindMember("system_format"); it != v.MemberEnd()) {
            const auto f = str(it->value);
            t.format = f == "datetime"           ? date_format::datetime
                       : f == "date_or_datetime" ? date_format::date_or_datetime
                       : f == "dmy"              ? date_format::dmy
                                                 : date_format::date;
        }
        if (const auto it = v.FindMember("system_offset"); it != v.MemberEnd()) {
            const auto s = str(it->value);
            const int h = std::stoi(s.substr(1, 2));
            const int m = std::stoi(s.substr(4, 2));
            if (h > 14 || m > 59) {
                fail(pointer + "/system_offset", "is not a UTC offset");
            }
            t.has_offset = true;
            t.offset_minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
        }
        if (const auto it = v.FindMember("separator"); it != v.MemberEnd()) {
            t.separator = str(it->value);
            if (t.separator.empty()) {
                fail(pointer + "/separator", "a separator is not empty");
            }
        } else if (t.kind == transform_kind::list_split || t.kind == transform_kind::list_join || t.kind == transform_kind::split_part) {
            t.separator = ",";
        }
        if (const auto it = v.FindMember("index"); it != v.MemberEnd()) {
            t.index = it->value.GetUint();
        }
        const auto read_list = [&](const char* key, std::vector<std::string>& out) {
            if (const auto it = v.FindMember(key); it != v.MemberEnd()) {
                out.clear();
                for (const auto& s : it->value.GetArray()) {
                    out.push_back(str(s));
                }
            }
        };
        read_list("true", t.true_values);
        read_list("false", t.false_values);
        if (const auto it = v.FindMember("at"); it != v.MemberEnd() && it->value.IsObject()) {
            t.at_now = false;
            t.at_system_text = str(it->value["system"]);
            t.at_system = rapidjson::Pointer(t.at_system_text.c_str(), t.at_system_text.size());
            if (!t.at_system.IsValid()) {
                fail(pointer + "/at/system", "is not a valid JSON Pointer");
            }
        }
        const bool known_params =
            (!v.HasMember("system_format") || t.kind == transform_kind::date) &&
            (!v.HasMember("system_offset") || t.kind == transform_kind::datetime) &&
            (!v.HasMember("at") || t.kind == transform_kind::age) &&
            (!v.HasMember("index") || t.kind == transform_kind::split_part) &&
            ((!v.HasMember("true") && !v.HasMember("false")) || t.kind == transform_kind::to_boolean
            );
        if (!known_params) {
            fail(pointer, "a parameter does not belong to transform \"" + t.name + "\"");
        }
        return t;
    }

    void check_transform(const op& o, const std::string& pointer, const rapidjson::Value& rule)
        const {
        const auto& t = o.transform;
        const std::size_t ns = o.system.size();
        const std::size_t nc = o.canonical.size();
        const bool one_way = o.in != o.out;
        const std::string tp = pointer + "/transform";
        switch (t.kind) {
            case transform_kind::name_split:
                if (ns != 1 || nc < 2 || nc > 3) {
                    fail(
                        tp,
                        "name_split maps one system name to 2 or 3 canonical names "
                        "(first, [middle,] last)"
                    );
                }
                return;
            case transform_kind::concat:
            case transform_kind::first_present:
                if (!one_way) {
                    fail(tp, t.name + " works in one direction: give \"direction\"");
                }
                if ((o.in && nc != 1) || (o.out && ns != 1)) {
                    fail(tp, t.name + " combines several sources into one target");
                }
                return;
            case transform_kind::age:
                if (o.out) {
                    fail(tp, "age is computed inbound only: give \"direction\": \"in\"");
                }
                break;
            case transform_kind::split_part:
                if (o.out) {
                    fail(tp, "split_part works inbound only: give \"direction\": \"in\"");
                }
                break;
            default:
                break;
        }
        if (ns > 1 || nc > 1) {
            fail(
                pointer,
                "several paths on one side need a transform that combines them "
                "(name_split, concat, first_present)"
            );
        }
        (void)rule;
        if (o.fields.empty() || o.fields[0] == nullptr) {
            return;
        }
        const auto type = o.fields[0]->type;
        const auto expect = [&](field_type want) {
            if (type != want) {
                fail(
                    tp,
                    t.name + " produces a " + std::string(to_string(want)) + ", but " +
                        o.canonical[0].text + " is a " + std::string(to_string(type))
                );
            }
        };
        switch (t.kind) {
            case transform_kind::date:
                if (!(o.out && !o.in && type == field_type::datetime)) {
                    expect(field_type::date);  // outbound, a date-time gives its UTC day
                }
                break;
            case transform_kind::datetime:
                expect(field_type::datetime);
                break;
            case transform_kind::age:
            case transform_kind::to_integer:
                expect(field_type::integer);
                break;
            case transform_kind::to_boolean:
                expect(field_type::boolean);
                break;
            case transform_kind::list_split:
                expect(field_type::code_list);
                break;
            default:
                break;
        }
    }

    void check_table_targets(const op& o, const std::string& pointer, std::string_view table_name)
        const {
        if (!o.in || o.fields.empty() || o.fields[0] == nullptr) {
            return;
        }
        const auto& f = *o.fields[0];
        if (!f.has_value_set()) {
            fail(
                pointer + "/table",
                "a table maps codes, but " + o.canonical[0].text + " is a " +
                    std::string(to_string(f.type))
            );
        }
        const auto* t = o.table;
        const std::string tpointer = "/tables/" + json::escape_pointer_token(table_name);
        for (const auto& [from, to] : t->in.codes) {
            if (!f.allows(to)) {
                const auto where = file.doc["tables"][t->name.c_str()].HasMember("map")
                                       ? tpointer + "/map/" + json::escape_pointer_token(from)
                                       : tpointer;
                fail(
                    where,
                    "table \"" + t->name + "\" maps to \"" + to +
                        "\", which is not in the value set of " + o.canonical[0].text
                );
            }
        }
        if (t->in.unknown == unknown_policy::use_default && !f.allows(t->in.fallback)) {
            fail(
                tpointer + "/unknown/default",
                "the default \"" + t->in.fallback + "\" is not in the value set of " +
                    o.canonical[0].text
            );
        }
    }

    std::vector<op> compile_rules(
        const rapidjson::Value& rules, const std::string& pointer, const field_def* parent
    ) {
        std::vector<op> ops;
        for (rapidjson::SizeType i = 0; i < rules.Size(); ++i) {
            const auto& r = rules[i];
            const std::string rp = pointer + "/" + std::to_string(i);
            bool rin = prog.in;
            bool rout = prog.out;
            if (const auto it = r.FindMember("direction"); it != r.MemberEnd()) {
                const bool want_in = str(it->value) == "in";
                if ((want_in && !prog.in) || (!want_in && !prog.out)) {
                    fail(rp + "/direction", "the mapping's \"directions\" do not include it");
                }
                rin = want_in;
                rout = !want_in;
            }
            const bool required = r.HasMember("required") && r["required"].GetBool();
            if (const auto it = r.FindMember("same"); it != r.MemberEnd()) {
                for (const char* other :
                     {"canonical", "system", "const", "transform", "table", "rows"}) {
                    if (r.HasMember(other)) {
                        fail(rp + "/" + other, "\"same\" stands alone (with direction, required)");
                    }
                }
                for (rapidjson::SizeType j = 0; j < it->value.Size(); ++j) {
                    op o;
                    o.where = rp + "/same/" + std::to_string(j);
                    o.in = rin;
                    o.out = rout;
                    o.required = required;
                    const auto name = "/" + str(it->value[j]);
                    rapidjson::Value text(name.c_str(), prog.constants.GetAllocator());
                    o.system.push_back(make_path(text, rp + "/same/" + std::to_string(j)));
                    o.canonical.push_back(o.system.back());
                    o.fields.push_back(
                        resolve(o.canonical.back(), parent, rp + "/same/" + std::to_string(j))
                    );
                    if (o.fields.back()->is_subform()) {
                        fail(
                            rp + "/same/" + std::to_string(j),
                            "a subform is mapped with \"rows\", not \"same\""
                        );
                    }
                    ops.push_back(std::move(o));
                }
                continue;
            }
            op o;
            o.where = rp;
            o.in = rin;
            o.out = rout;
            o.required = required;
            if (const auto it = r.FindMember("canonical"); it != r.MemberEnd()) {
                o.canonical = make_paths(it->value, rp + "/canonical");
                for (std::size_t j = 0; j < o.canonical.size(); ++j) {
                    const auto cp = it->value.IsArray() ? rp + "/canonical/" + std::to_string(j)
                                                        : rp + "/canonical";
                    o.fields.push_back(resolve(o.canonical[j], parent, cp));
                }
            }
            if (const auto it = r.FindMember("system"); it != r.MemberEnd()) {
                o.system = make_paths(it->value, rp + "/system");
            }
            if (const auto it = r.FindMember("const"); it != r.MemberEnd()) {
                const bool has_c = !o.canonical.empty();
                const bool has_s = !o.system.empty();
                if (has_c == has_s) {
                    fail(
                        rp + "/const",
                        "a constant fills one side: give \"canonical\" (inbound) "
                        "or \"system\" (outbound), not both"
                    );
                }
                o.has_const = true;
                o.const_is_canonical = has_c;
                if (has_c ? !prog.in : !prog.out) {
                    fail(rp + "/const", "the mapping's \"directions\" do not use this constant");
                }
                o.in = has_c;
                o.out = has_s;
                o.constant.CopyFrom(it->value, prog.constants.GetAllocator());
                if (has_c) {
                    std::string reason;
                    bool unmapped = false;
                    if (!check_canonical_value(*o.fields[0], o.constant, reason, unmapped)) {
                        fail(
                            rp + "/const", "the constant " + reason + " of " + o.canonical[0].text
                        );
                    }
                }
                ops.push_back(std::move(o));
                continue;
            }
            if (o.canonical.empty() || o.system.empty()) {
                fail(rp, "a rule needs \"canonical\" and \"system\" (or \"same\", or \"const\")");
            }
            if (const auto it = r.FindMember("rows"); it != r.MemberEnd()) {
                if (o.canonical.size() != 1 || !o.fields[0]->is_subform()) {
                    fail(
                        rp + "/rows",
                        "\"rows\" belongs to a rule whose canonical field is a "
                        "subform"
                    );
                }
                if (o.system.size() != 1) {
                    fail(rp + "/system", "a subform rule has one system path");
                }
                for (const char* other : {"transform", "table"}) {
                    if (r.HasMember(other)) {
                        fail(rp + "/" + other, "a subform rule has no transform or table");
                    }
                }
                o.is_subform = true;
                o.rows_from_root = o.system[0].text.empty();
                o.rows = compile_rules(it->value, rp + "/rows", o.fields[0]);
                ops.push_back(std::move(o));
                continue;
            }
            for (std::size_t j = 0; j < o.fields.size(); ++j) {
                if (o.fields[j]->is_subform()) {
                    fail(rp + "/canonical", "a subform is mapped with \"rows\"");
                }
            }
            for (const auto& s : o.system) {
                if (s.text.empty()) {
                    fail(rp + "/system", "only a subform rule may take the whole record (\"\")");
                }
            }
            if (const auto it = r.FindMember("transform"); it != r.MemberEnd()) {
                if (it->value.IsArray()) {
                    o.transform = read_transform(it->value[0], rp + "/transform/0");
                    for (rapidjson::SizeType j = 1; j < it->value.Size(); ++j) {
                        const auto tp = rp + "/transform/" + std::to_string(j);
                        o.then.push_back(read_transform(it->value[j], tp));
                        const auto k = o.then.back().kind;
                        if (k == transform_kind::name_split || k == transform_kind::concat ||
                            k == transform_kind::first_present || k == transform_kind::age) {
                            fail(
                                tp,
                                "only the first transform of a chain may combine or split "
                                "paths"
                            );
                        }
                    }
                } else {
                    o.transform = read_transform(it->value, rp + "/transform");
                }
            }
            check_transform(o, rp, r);
            if (const auto it = r.FindMember("table"); it != r.MemberEnd()) {
                o.table = find_table(str(it->value));
                if (o.table == nullptr) {
                    fail(rp + "/table", "\"" + str(it->value) + "\" is not in \"tables\"");
                }
                if (o.out && o.table->out_ambiguous) {
                    fail(
                        rp + "/table",
                        "table \"" + o.table->name + "\" maps several codes to \"" +
                            o.table->ambiguous_code +
                            "\"; give it an \"out\" map to use it outbound"
                    );
                }
                check_table_targets(o, rp, str(it->value));
            }
            ops.push_back(std::move(o));
        }
        return ops;
    }

    /// Gives each direct member a rule reads its slot (program.hpp), and marks the rules that
    /// copy one value as it is.
    static void assign_slots(std::vector<op>& ops, rule_slots& slots) {
        const auto slot_of = [](path& p, member_slots& names) {
            if (p.ptr.IsValid() && p.ptr.GetTokenCount() == 1) {
                const auto& t = p.ptr.GetTokens()[0];
                p.slot = names.add({t.name, t.length});
            }
        };
        for (auto& o : ops) {
            o.plain_copy = !o.has_const && !o.is_subform &&
                           o.transform.kind == transform_kind::none && o.then.empty() &&
                           o.table == nullptr && o.system.size() == 1 && o.canonical.size() == 1;
            if (o.has_const) {
                continue;
            }
            if (o.in && !(o.is_subform && o.rows_from_root)) {
                for (auto& p : o.system) {
                    slot_of(p, slots.in);
                }
            }
            if (o.out) {
                for (auto& p : o.canonical) {
                    slot_of(p, slots.out);
                }
            }
            if (o.is_subform) {
                assign_slots(o.rows, o.row_slots);
            }
        }
    }

    /// No two rules of one direction write the same place (the mapper adds members directly).
    void check_targets(
        const std::vector<op>& ops,
        std::set<std::string>& in_targets,
        std::set<std::string>& out_targets
    ) const {
        for (const auto& o : ops) {
            if (o.in) {
                for (const auto& c : o.canonical) {
                    if (!in_targets.insert(c.text).second) {
                        fail(o.where, "another inbound rule already writes " + c.text);
                    }
                }
            }
            if (o.out && !(o.is_subform && o.rows_from_root)) {
                for (const auto& sp : o.system) {
                    if (!out_targets.insert(sp.text).second) {
                        fail(o.where, "another outbound rule already writes " + sp.text);
                    }
                }
            }
            if (o.is_subform) {
                std::set<std::string> row_in;
                std::set<std::string> row_out;
                check_targets(o.rows, row_in, o.rows_from_root ? out_targets : row_out);
            }
        }
    }

    void compile() {
        const auto& d = file.doc;
        prog.id = str(d["mapping"]);
        prog.version = d["mapping_version"].GetInt();
        prog.system = str(d["system"]);
        prog.record = str(d["record"]);
        for (const auto& dir_name : d["directions"].GetArray()) {
            (str(dir_name) == "in" ? prog.in : prog.out) = true;
        }
        prog.field_list = d.HasMember("shape") && str(d["shape"]) == "field_list";
        if (const auto it = d.FindMember("record_id"); it != d.MemberEnd()) {
            if (const auto s = it->value.FindMember("system"); s != it->value.MemberEnd()) {
                prog.record_id_system = make_path(s->value, "/record_id/system").ptr;
                prog.has_record_id_system = true;
            }
            if (const auto c = it->value.FindMember("canonical"); c != it->value.MemberEnd()) {
                prog.record_id_canonical = make_path(c->value, "/record_id/canonical").ptr;
                prog.has_record_id_canonical = true;
            }
        }
        if (const auto it = d.FindMember("group"); it != d.MemberEnd()) {
            if (!prog.in) {
                fail("/group", "grouping of joined rows applies to inbound mappings");
            }
            prog.groups = true;
            prog.group_by = str(it->value["by"]).substr(1);
            if (const auto l = it->value.FindMember("lists"); l != it->value.MemberEnd()) {
                for (const auto& c : l->value.GetArray()) {
                    prog.group_lists.push_back(str(c).substr(1));
                }
            }
        }
        compile_tables();
        prog.ops = compile_rules(d["rules"], "/rules", nullptr);
        std::set<std::string> in_targets;
        std::set<std::string> out_targets;
        check_targets(prog.ops, in_targets, out_targets);
        assign_slots(prog.ops, prog.slots);
    }
};

}  // namespace

compiled_mapping::compiled_mapping() : program_(std::make_unique<program>()) {}
compiled_mapping::compiled_mapping(compiled_mapping&&) noexcept = default;
compiled_mapping& compiled_mapping::operator=(compiled_mapping&&) noexcept = default;
compiled_mapping::~compiled_mapping() = default;

compiled_mapping compiled_mapping::load(
    const std::filesystem::path& path, const canonical_catalogue& cat
) {
    const auto file = json::load_file(path);
    const auto origin = path.string();
    static const json::schema schema(mapping_schema_text(), "mapping.schema.json");
    schema.check_file(file, origin);
    compiled_mapping m;
    compiler c{file, origin, path.parent_path(), cat, *m.program_};
    c.compile();
    return m;
}

const std::string& compiled_mapping::id() const noexcept {
    return program_->id;
}
int compiled_mapping::version() const noexcept {
    return program_->version;
}
const std::string& compiled_mapping::system() const noexcept {
    return program_->system;
}
bool compiled_mapping::supports(direction d) const noexcept {
    return d == direction::in ? program_->in : program_->out;
}
bool compiled_mapping::groups_rows() const noexcept {
    return program_->groups;
}

}  // namespace casebridge::mapping
