#include "mapping/mapping.hpp"

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "json/json.hpp"
#include "log/log.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::mapping {
namespace {

const std::filesystem::path source_dir = CASEBRIDGE_SOURCE_DIR;

const canonical_catalogue& catalogue() {
    static const canonical_catalogue cat =
        canonical_catalogue::load(source_dir / "mappings" / "canonical-case.json");
    return cat;
}

/// A mapping file whose rules start on line 4 (one rule per line) and tables on line 3.
std::string file_with(
    std::string_view tables, std::string_view rules, std::string_view extra = ""
) {
    return std::string("{\"mapping\": \"t.m\", \"mapping_version\": 2, \"system\": \"s\",\n") +
           " \"record\": \"case\", \"directions\": [\"in\", \"out\"]" + std::string(extra) +
           ",\n \"tables\": {" + std::string(tables) + "},\n \"rules\": [\n" + std::string(rules) +
           "\n]}";
}

struct loaded {
    std::optional<compiled_mapping> mapping;
    std::string error;
};

loaded load_text(const std::string& text, const test::temp_dir& dir) {
    const auto path = dir.write("m.json", text);
    loaded l;
    try {
        l.mapping.emplace(compiled_mapping::load(path, catalogue()));
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        l.error = msg.substr(msg.find("m.json:") == std::string::npos ? 0 : msg.find("m.json:"));
    }
    return l;
}

std::string load_error(const std::string& text) {
    test::temp_dir dir;
    auto l = load_text(text, dir);
    return l.mapping ? "ok" : l.error;
}

rapidjson::Document parse(std::string_view text) {
    return std::move(json::parse(text).value());
}

map_context context() {
    map_context ctx;
    ctx.now = *parse_rfc3339("2024-06-01T00:00:00Z");
    return ctx;
}

// ---- loader errors: each names file:line:column and the JSON Pointer -----------------------

TEST(mapping_load, syntax_error_names_line_and_column) {
    EXPECT_EQ(load_error("{\"mapping\": \"a\",\n  \"x\": }").rfind("m.json:2:8:", 0), 0u)
        << load_error("{\"mapping\": \"a\",\n  \"x\": }");
}

TEST(mapping_load, schema_violation_names_pointer) {
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/sex\", \"sytem\": \"/s\"}")),
        "m.json:5:23: at /rules/0/sytem: unknown property \"sytem\" (allowed: canonical, system, "
        "same, const, transform, table, required, direction, rows, note)"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"same\": [\"sex\"], \"direction\": \"both\"}"))
            .rfind("m.json:5:19: at /rules/0/direction:", 0),
        0u
    );
}

TEST(mapping_load, unknown_canonical_field) {
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/gender\", \"system\": \"/g\"}")),
        "m.json:5:2: at /rules/0/canonical: \"gender\" is not a canonical field"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"same\": [\"sex\", \"childs_name\"]}")),
        "m.json:5:18: at /rules/0/same/1: \"childs_name\" is not a canonical field"
    );
}

TEST(mapping_load, subform_paths) {
    EXPECT_EQ(
        load_error(file_with(
            "", "{\"canonical\": \"/services_section/0/service_type\", \"system\": \"/t\"}"
        )),
        "m.json:5:2: at /rules/0/canonical: a canonical path names one top-level field "
        "(\"/name\"); use \"rows\" for subform fields"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/services_section\", \"system\": "
            "\"/s\", \"rows\": [{\"same\": [\"relation\"]}]}"
        )),
        "m.json:5:71: at /rules/0/rows/0/same/0: \"relation\" is not a row field of "
        "services_section"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/sex\", \"system\": \"/s\", \"rows\": "
            "[]}"
        )),
        "m.json:5:39: at /rules/0/rows: \"rows\" belongs to a rule whose canonical field is "
        "a subform"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"same\": [\"services_section\"]}")),
        "m.json:5:11: at /rules/0/same/0: a subform is mapped with \"rows\", not \"same\""
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/services_section\", \"system\": "
            "\"/s\"}"
        )),
        "m.json:5:2: at /rules/0/canonical: a subform is mapped with \"rows\""
    );
}

TEST(mapping_load, rule_shape_errors) {
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/sex\"}")),
        "m.json:5:1: at /rules/0: a rule needs \"canonical\" and \"system\" (or \"same\", "
        "or \"const\")"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/sex\", \"system\": \"/s\", \"const\": "
            "\"male\"}"
        )),
        "m.json:5:39: at /rules/0/const: a constant fills one side: give \"canonical\" "
        "(inbound) or \"system\" (outbound), not both"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/sex\", \"const\": \"boy\"}")),
        "m.json:5:23: at /rules/0/const: the constant is a code outside the canonical "
        "value set of /sex"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"same\": [\"sex\"], \"table\": \"t\"}")),
        "m.json:5:19: at /rules/0/table: \"same\" stands alone (with direction, required)"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/sex\", \"system\": \"/a~2\"}")),
        "m.json:5:23: at /rules/0/system: is not a valid JSON Pointer"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/sex\", \"system\": \"/a\\u0000b\"}")),
        "m.json:5:23: at /rules/0/system: has a NUL character (\\u0000), which no field name "
        "holds"
    );
    EXPECT_EQ(
        load_error(file_with("", "{\"canonical\": \"/sex\", \"system\": \"\"}")),
        "m.json:5:23: at /rules/0/system: only a subform rule may take the whole record "
        "(\"\")"
    );
}

TEST(mapping_load, two_rules_writing_one_place) {
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"same\": [\"sex\"]},\n{\"canonical\": \"/sex\", "
            "\"system\": \"/gender\", \"direction\": \"in\"}"
        )),
        "m.json:6:1: at /rules/1: another inbound rule already writes /sex"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"same\": [\"sex\"]},\n{\"canonical\": \"/name\", "
            "\"system\": \"/sex\", \"direction\": \"out\"}"
        )),
        "m.json:6:1: at /rules/1: another outbound rule already writes /sex"
    );
}

TEST(mapping_load, direction_errors) {
    EXPECT_EQ(
        load_error(std::string("{\"mapping\": \"t.m\", \"mapping_version\": 1, \"system\": "
                               "\"s\",\n \"record\": \"r\", \"directions\": [\"out\"],\n "
                               "\"rules\": [\n{\"same\": [\"sex\"], \"direction\": "
                               "\"in\"}]}")),
        "m.json:4:19: at /rules/0/direction: the mapping's \"directions\" do not include "
        "it"
    );
    EXPECT_EQ(
        load_error(std::string("{\"mapping\": \"t.m\", \"mapping_version\": 1, \"system\": "
                               "\"s\",\n \"record\": \"r\", \"directions\": [\"out\"],\n "
                               "\"group\": {\"by\": \"/k\"},\n \"rules\": []}")),
        "m.json:3:2: at /group: grouping of joined rows applies to inbound mappings"
    );
}

TEST(mapping_load, table_errors) {
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/sex\", \"system\": \"/s\", \"table\": "
            "\"sexes\"}"
        )),
        "m.json:5:39: at /rules/0/table: \"sexes\" is not in \"tables\""
    );
    // A misaligned table: a code that the canonical value set does not have.
    EXPECT_EQ(
        load_error(file_with(
            "\"sex\": {\"map\": {\"1\": \"male\", \"2\": "
            "\"unknown_4b34795\"}}",
            "{\"canonical\": \"/sex\", \"system\": \"/s\", \"table\": "
            "\"sex\"}"
        )),
        "m.json:3:42: at /tables/sex/map/2: table \"sex\" maps to \"unknown_4b34795\", "
        "which is not in the value set of /sex"
    );
    EXPECT_EQ(
        load_error(file_with(
            "\"sex\": {\"map\": {\"1\": \"male\"}, \"unknown\": "
            "{\"default\": \"boy\"}}",
            "{\"canonical\": \"/sex\", \"system\": \"/s\", \"table\": "
            "\"sex\"}"
        )),
        "m.json:3:55: at /tables/sex/unknown/default: the default \"boy\" is not in the "
        "value set of /sex"
    );
    EXPECT_EQ(
        load_error(file_with(
            "\"sex\": {\"map\": {\"1\": \"male\", \"M\": \"male\"}}",
            "{\"canonical\": \"/sex\", \"system\": \"/s\", \"table\": "
            "\"sex\"}"
        )),
        "m.json:5:39: at /rules/0/table: table \"sex\" maps several codes to \"male\"; "
        "give it an \"out\" map to use it outbound"
    );
    EXPECT_EQ(
        load_error(file_with(
            "\"t\": {\"map\": {\"a\": \"b\"}}",
            "{\"canonical\": \"/age\", \"system\": \"/s\", \"table\": "
            "\"t\"}"
        )),
        "m.json:5:39: at /rules/0/table: a table maps codes, but /age is a integer"
    );
    EXPECT_EQ(
        load_error(file_with("\"t\": {}", "")),
        "m.json:3:13: at /tables/t: a table has either \"map\" or \"file\" and \"table\""
    );
}

TEST(mapping_load, external_table_errors_name_their_file) {
    test::temp_dir dir;
    dir.write("tables.json", "{\"tables\": {\n \"svc\": {\"map\": {\"A\": 1}}}}");
    auto l = load_text(
        file_with(
            "\"svc\": {\"file\": \"tables.json\", \"table\": \"svc\"}",
            "{\"canonical\": \"/language\", \"system\": \"/l\", \"table\": "
            "\"svc\"}"
        ),
        dir
    );
    EXPECT_NE(
        l.error.find("tables.json:2:18: at /tables/svc/map/A: expected string"), std::string::npos
    ) << l.error;
    dir.write("tables.json", "{\"tables\": {\"svc\": {\"map\": {\"A\": \"a\"}}}}");
    l = load_text(
        file_with(
            "\"svc\": {\"file\": \"tables.json\", \"table\": \"other\"}",
            "{\"canonical\": \"/language\", \"system\": \"/l\", \"table\": "
            "\"svc\"}"
        ),
        dir
    );
    EXPECT_EQ(
        l.error,
        "m.json:3:44: at /tables/svc/table: \"other\" is not a table in "
        "tables.json"
    );
    l = load_text(file_with("\"svc\": {\"file\": \"missing.json\", \"table\": \"svc\"}", ""), dir);
    EXPECT_NE(l.error.find("missing.json"), std::string::npos) << l.error;
    // A table file that cannot be read is placed at the mapping line that names it (found by
    // the mapping fuzz target: the message named only the table's path).
    EXPECT_EQ(l.error.rfind("m.json:3:", 0), 0u) << l.error;
    EXPECT_NE(
        l.error.find("at /tables/svc/file: the value-table file cannot be used"), std::string::npos
    ) << l.error;
    l = load_text(
        file_with("\"svc\": {\"file\": \"/no-such-folder/t.json\", \"table\": \"svc\"}", ""), dir
    );
    EXPECT_EQ(l.error.rfind("m.json:3:", 0), 0u) << l.error;
    EXPECT_NE(l.error.find("No such file or directory"), std::string::npos) << l.error;
}

TEST(mapping_load, transform_errors) {
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/name_first\", \"system\": \"/d\", "
            "\"transform\": \"date\"}"
        )),
        "m.json:5:46: at /rules/0/transform: date produces a date, but /name_first is a "
        "string"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": [\"/name_first\"], \"system\": \"/n\", "
            "\"transform\": \"name_split\"}"
        )),
        "m.json:5:48: at /rules/0/transform: name_split maps one system name to 2 or 3 "
        "canonical names (first, [middle,] last)"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/name\", \"system\": [\"/a\", \"/b\"], "
            "\"transform\": \"concat\"}"
        )),
        "m.json:5:48: at /rules/0/transform: concat works in one direction: give "
        "\"direction\""
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/name\", \"system\": [\"/a\", "
            "\"/b\"]}"
        )),
        "m.json:5:1: at /rules/0: several paths on one side need a transform that "
        "combines them (name_split, concat, first_present)"
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/age\", \"system\": \"/d\", "
            "\"transform\": \"age\"}"
        )),
        "m.json:5:39: at /rules/0/transform: age is computed inbound only: give "
        "\"direction\": \"in\""
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/date_of_birth\", \"system\": \"/d\", "
            "\"transform\": {\"name\": \"date\", \"system_offset\": "
            "\"+06:00\"}}"
        )),
        "m.json:5:49: at /rules/0/transform: a parameter does not belong to transform "
        "\"date\""
    );
    EXPECT_EQ(
        load_error(file_with(
            "",
            "{\"canonical\": \"/name\", \"system\": \"/d\", "
            "\"transform\": [\"trim\", \"concat\"]}"
        )),
        "m.json:5:62: at /rules/0/transform/1: only the first transform of a chain may "
        "combine or split paths"
    );
    EXPECT_EQ(
        load_error(file_with(
                       "",
                       "{\"canonical\": \"/name\", \"system\": \"/d\", "
                       "\"transform\": \"to_upper\"}"
                   ))
            .rfind("m.json:5:40: at /rules/0/transform: value matches none", 0),
        0u
    );
}

TEST(mapping_load, every_shipped_mapping_loads) {
    int n = 0;
    for (const auto& f : std::filesystem::directory_iterator(source_dir / "mappings")) {
        if (f.is_directory() || f.path().filename() == "canonical-case.json") {
            continue;
        }
        EXPECT_NO_THROW((void)compiled_mapping::load(f.path(), catalogue())) << f.path();
        ++n;
    }
    EXPECT_GE(n, 7);
}

// ---- running -----------------------------------------------------------------------------

compiled_mapping load_ok(const std::string& text) {
    test::temp_dir dir;
    auto l = load_text(text, dir);
    EXPECT_TRUE(l.mapping) << l.error;
    return std::move(*l.mapping);
}

TEST(mapping_run, unknown_code_policies) {
    const auto rules = "{\"canonical\": \"/sex\", \"system\": \"/s\", \"table\": \"sex\"}";
    const auto input = parse(R"({"s": "X-SENTINEL"})");
    auto ctx = context();
    std::vector<mapping_note> notes;
    ctx.notes = &notes;

    auto reject = load_ok(file_with("\"sex\": {\"map\": {\"F\": \"female\"}}", rules));
    auto r = reject.map_in(input, ctx);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unmapped_value);
    EXPECT_EQ(r.error().field, "/sex");
    EXPECT_EQ(r.error().system_field, "/s");
    EXPECT_EQ(r.error().to_json().find("SENTINEL"), std::string::npos);

    auto drop =
        load_ok(file_with("\"sex\": {\"map\": {\"F\": \"female\"}, \"unknown\": \"drop\"}", rules));
    r = drop.map_in(input, ctx);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->HasMember("sex"));
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_EQ(notes[0].action, "drop");

    memory_sink sink;
    manual_clock clock(*parse_rfc3339("2024-06-01T00:00:00Z"));
    const logger log(sink, clock);
    ctx.log = &log;
    auto def = load_ok(file_with(
        "\"sex\": {\"map\": {\"F\": \"female\"}, \"unknown\": {\"default\": \"unknown\"}}", rules
    ));
    r = def.map_in(input, ctx);
    ASSERT_TRUE(r);
    EXPECT_EQ(json::canonical(*r), R"({"sex":"unknown"})");
    EXPECT_EQ(notes.back().action, "default");
    EXPECT_EQ(notes.back().table, "sex");
    EXPECT_NE(sink.text().find("mapping.default_applied"), std::string::npos);
    EXPECT_EQ(sink.text().find("SENTINEL"), std::string::npos);

    // "pass" keeps the code, and the catalogue's closed value set still holds the record.
    auto pass =
        load_ok(file_with("\"sex\": {\"map\": {\"F\": \"female\"}, \"unknown\": \"pass\"}", rules));
    r = pass.map_in(input, ctx);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::unmapped_value);
    EXPECT_EQ(r.error().reason, "value is a code outside the canonical value set");
    auto pass_open = load_ok(file_with(
        "\"l\": {\"map\": {\"Somali\": \"somali\"}, \"unknown\": \"pass\"}",
        "{\"canonical\": \"/language\", \"system\": \"/l\", \"table\": \"l\"}"
    ));
    r = pass_open.map_in(parse(R"({"l": ["Somali", "Nuer"]})"), ctx);
    ASSERT_TRUE(r);
    EXPECT_EQ(json::canonical(*r), R"({"language":["somali","Nuer"]})");
}

TEST(mapping_run, required_fields_and_types) {
    auto m = load_ok(file_with(
        "",
        "{\"canonical\": \"/case_id\", \"system\": \"/id\", "
        "\"required\": true},\n{\"same\": [\"age\"]}"
    ));
    auto r = m.map_in(parse(R"({"id": ""})"), context());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::mapping_failed);
    EXPECT_EQ(r.error().field, "/case_id");
    EXPECT_EQ(r.error().reason, "required field is missing");
    r = m.map_in(parse(R"({"id": "c1", "age": "twelve"})"), context());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().field, "/age");
    EXPECT_EQ(r.error().reason, "value is not an integer");
    r = m.map_out(parse(R"({"age": 3})"), context());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().field, "/case_id");
}

TEST(mapping_run, an_error_names_the_record_by_an_id_that_is_token_text_only) {
    auto m = load_ok(file_with(
        "",
        "{\"canonical\": \"/case_id\", \"system\": \"/id\", \"required\": true},\n"
        "{\"same\": [\"age\"]}",
        ", \"record_id\": {\"system\": \"/id\"}"
    ));
    auto r = m.map_in(parse(R"({"id": "c-17", "age": "twelve"})"), context());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().record, "c-17");
    // Free text where the id goes (a source system wrote a name there) is never shown.
    r = m.map_in(parse(R"({"id": "Nusrat CBX-SENTINEL Begum", "age": "twelve"})"), context());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().record, "#not-an-id");
    EXPECT_EQ(r.error().to_json().find("CBX-SENTINEL"), std::string::npos);
    r = m.map_in(parse(R"({"age": "twelve"})"), context());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().record, "?");
}

TEST(mapping_run, transforms) {
    auto m2 = load_ok(file_with(
        "",
        "{\"canonical\": [\"/name_first\", \"/name_middle\", \"/name_last\"], \"system\": \"/n\", "
        "\"transform\": \"name_split\"},\n"
        "{\"canonical\": \"/date_of_birth\", \"system\": \"/dob\", \"transform\": {\"name\": "
        "\"date\", \"system_format\": \"dmy\"}},\n"
        "{\"canonical\": \"/age\", \"system\": \"/dob2\", \"transform\": \"age\", \"direction\": "
        "\"in\"},\n"
        "{\"canonical\": \"/created_at\", \"system\": \"/t\", \"transform\": {\"name\": "
        "\"datetime\", \"system_offset\": \"+06:00\"}},\n"
        "{\"canonical\": \"/consent_for_services\", \"system\": \"/c\", \"transform\": {\"name\": "
        "\"to_boolean\", \"true\": [\"Y\"], \"false\": [\"N\"]}},\n"
        "{\"canonical\": \"/consent_info_sharing\", \"system\": \"/cs\", \"transform\": "
        "{\"name\": \"list_split\", \"separator\": \";\"}},\n"
        "{\"canonical\": \"/address_current\", \"system\": \"/h\", \"transform\": "
        "[\"html_to_text\", \"trim\"], \"direction\": \"in\"},\n"
        "{\"canonical\": \"/unhcr_id_no\", \"system\": \"/composite\", \"transform\": {\"name\": "
        "\"split_part\", \"index\": 1}, \"direction\": \"in\"},\n"
        "{\"canonical\": \"/name\", \"system\": [\"/a\", \"/b\"], \"transform\": "
        "\"first_present\", \"direction\": \"in\"},\n"
        "{\"canonical\": \"/status\", \"const\": \"open\"},\n"
        "{\"system\": \"/origin\", \"const\": \"casebridge\"}"
    ));
    const auto in = parse(R"({
        "n": " মোছাঃ  সুমাইয়া  আক্তার ", "dob": "04/03/2011", "dob2": "2011-06-02T00:00:00Z",
        "t": "2024-04-14 15:45", "c": "Y", "cs": "unhcr; family;",
        "h": "<p>Camp 15 &amp; Block B</p><br/>", "composite": "803-23-PRTITV-1,803-23-1000552,x",
        "a": "", "b": "Nur Begum"})");
    auto r = m2.map_in(in, context());
    ASSERT_TRUE(r) << r.error().to_json();
    EXPECT_EQ(
        json::canonical(*r),
        R"({"address_current":"Camp 15 & Block B","age":12,"consent_for_services":true,)"
        R"("consent_info_sharing":["unhcr","family"],"created_at":"2024-04-14T09:45:00.000Z",)"
        R"("date_of_birth":"2011-03-04","name":"Nur Begum","name_first":"মোছাঃ",)"
        R"("name_last":"আক্তার","name_middle":"সুমাইয়া","status":"open",)"
        R"("unhcr_id_no":"803-23-1000552"})"
    );
    auto out = m2.map_out(*r, context());
    ASSERT_TRUE(out) << out.error().to_json();
    EXPECT_EQ(
        json::canonical(*out),
        R"({"c":"Y","cs":"unhcr;family","dob":"04/03/2011","n":"মোছাঃ সুমাইয়া আক্তার",)"
        R"("origin":"casebridge","t":"2024-04-14 15:45:00"})"
    );
    auto bad = m2.map_in(parse(R"({"dob": "2011-03-04"})"), context());
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().field, "/date_of_birth");
    EXPECT_EQ(
        bad.error().reason, "value is not a date in the system's format (transform \"date\")"
    );
}

TEST(mapping_run, field_list_shape_both_ways) {
    auto m = load_ok(
        "{\"mapping\": \"t.f\", \"mapping_version\": 1, \"system\": \"p\", \"record\": \"r\",\n"
        " \"directions\": [\"in\", \"out\"], \"shape\": \"field_list\",\n"
        " \"rules\": [{\"system\": \"/ExternalId\", \"canonical\": \"/case_id\"},\n"
        "  {\"system\": \"/Fields/progres_pocfirstname\", \"canonical\": \"/name_first\"},\n"
        "  {\"system\": \"/Fields/progres_poclastname\", \"canonical\": \"/name_last\"}]}"
    );
    auto out =
        m.map_out(parse(R"({"case_id": "c1", "name_first": "Abdi", "name_last": "W"})"), context());
    ASSERT_TRUE(out);
    EXPECT_EQ(
        json::to_string(*out),
        R"({"ExternalId":"c1","Fields":[{"Name":"progres_pocfirstname","Value":"Abdi"},)"
        R"({"Name":"progres_poclastname","Value":"W"}]})"
    );
    auto back = m.map_in(*out, context());
    ASSERT_TRUE(back);
    EXPECT_EQ(json::canonical(*back), R"({"case_id":"c1","name_first":"Abdi","name_last":"W"})");
    auto dup =
        m.map_in(parse(R"({"Fields": [{"Name": "a", "Value": 1}, {"Name": "a"}]})"), context());
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().system_field, "/Fields/a");
}

TEST(mapping_run, grouping_aggregates_lists_and_rejects_disagreement) {
    auto m = load_ok(
        "{\"mapping\": \"t.g\", \"mapping_version\": 1, \"system\": \"p\", \"record\": \"r\",\n"
        " \"directions\": [\"in\"], \"group\": {\"by\": \"/n\", \"lists\": [\"/lang\"]},\n"
        " \"rules\": [{\"system\": \"/n\", \"canonical\": \"/case_id\"},\n"
        "  {\"system\": \"/lang\", \"canonical\": \"/language\"}]}"
    );
    auto groups = m.group(parse(R"([{"n": "A", "lang": "x", "g": 1}, {"n": "B", "lang": null},
        {"n": "A", "lang": "y", "g": 1}, {"n": "A", "lang": "x", "g": 1}])"));
    ASSERT_TRUE(groups);
    ASSERT_EQ(groups->size(), 2u);
    EXPECT_EQ(json::canonical((*groups)[0]), R"({"g":1,"lang":["x","y"],"n":"A"})");
    EXPECT_EQ(json::canonical((*groups)[1]), R"({"lang":[],"n":"B"})");
    auto bad = m.group(parse(R"([{"n": "A", "g": 1}, {"n": "A", "g": 2}])"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().system_field, "/g");
    auto nokey = m.group(parse(R"([{"g": 1}])"));
    ASSERT_FALSE(nokey);
    EXPECT_EQ(nokey.error().reason, "row has no group key");
}

// A wide record's members are looked up through an index; names made to collide in it, and
// any order of members, give the same canonical record as the plain case.
TEST(mapping_run, wide_records_map_the_same_whatever_their_extra_members_and_order) {
    const auto m = compiled_mapping::load(source_dir / "mappings/primero.case.json", catalogue());
    const auto text =
        json::read_file(source_dir / "tests/golden/primero.case/in-full-case.input.json").value();
    const auto ctx = context();
    const auto base = parse(text);
    ASSERT_GT(base.MemberCount(), 16u);
    const auto expected = m.map_in(base, ctx);
    ASSERT_TRUE(expected) << expected.error().reason;

    const auto with_extra = [&](const std::function<std::string(int)>& name, int count) {
        rapidjson::Document d;
        d.CopyFrom(base, d.GetAllocator());
        for (int i = 0; i < count; ++i) {
            rapidjson::Value k(name(i).c_str(), d.GetAllocator());
            d.AddMember(k, rapidjson::Value("x", d.GetAllocator()), d.GetAllocator());
        }
        return d;
    };
    // Names no rule reads: distinct ones, and ones of one length sharing their first and last
    // eight bytes (all in one slot of the index, which is then given up).
    const auto distinct = with_extra([](int i) { return "extra_" + std::to_string(i); }, 300);
    const auto colliding = with_extra(
        [](int i) {
            const auto n = std::to_string(1000 + i);
            return "zzzzzzzz" + n + "yyyyyyyy";
        },
        300
    );
    for (const auto* d : {&distinct, &colliding}) {
        const auto got = m.map_in(*d, ctx);
        ASSERT_TRUE(got) << got.error().reason;
        EXPECT_TRUE(*got == *expected) << json::to_string(*got);
    }
    // The members in reverse order, and every third one left out (some rule inputs absent).
    for (const bool drop : {false, true}) {
        rapidjson::Document d(rapidjson::kObjectType);
        std::vector<const rapidjson::Value::Member*> members;
        for (const auto& mem : base.GetObject()) {
            members.push_back(&mem);
        }
        int i = 0;
        std::set<std::string> kept;
        for (auto it = members.rbegin(); it != members.rend(); ++it, ++i) {
            if (drop && i % 3 == 0 && (*it)->name != "id") {
                continue;
            }
            kept.emplace((*it)->name.GetString());
            d.AddMember(
                rapidjson::Value((*it)->name, d.GetAllocator()),
                rapidjson::Value((*it)->value, d.GetAllocator()),
                d.GetAllocator()
            );
        }
        // The expected record: the base with the same members left out, in the base's order.
        rapidjson::Document same_order(rapidjson::kObjectType);
        for (const auto& mem : base.GetObject()) {
            if (kept.count(mem.name.GetString()) != 0) {
                same_order.AddMember(
                    rapidjson::Value(mem.name, same_order.GetAllocator()),
                    rapidjson::Value(mem.value, same_order.GetAllocator()),
                    same_order.GetAllocator()
                );
            }
        }
        const auto want = m.map_in(same_order, ctx);
        const auto got = m.map_in(d, ctx);
        ASSERT_EQ(static_cast<bool>(want), static_cast<bool>(got)) << drop;
        if (want) {
            EXPECT_TRUE(*got == *want) << drop;
            if (!drop) {
                EXPECT_TRUE(*got == *expected);
            }
        }
    }
}

// The rules find a record's members through a table of the names they read, filled in one
// pass over the record. Names of one length that share their first and last eight bytes (the
// table's quick comparison) must stay apart, a member named like them that no rule reads must
// not be taken for one, the first of two members of one name wins, and the record written
// keeps the rules' order, a nested member included.
TEST(mapping_run, names_alike_at_both_ends_stay_apart_and_members_keep_the_rules_order) {
    auto m = load_ok(file_with(
        "",
        "{\"canonical\": \"/name_first\", \"system\": \"/person_name_a_of_child\"},\n"
        "{\"canonical\": \"/name_middle\", \"system\": \"/person/middle\"},\n"
        "{\"canonical\": \"/name_last\", \"system\": \"/person_name_b_of_child\"},\n"
        "{\"canonical\": \"/name_nickname\", \"system\": \"/nick\"}"
    ));
    for (const bool b_first : {true, false}) {
        rapidjson::Document rec(rapidjson::kObjectType);
        auto& a = rec.GetAllocator();
        const auto add = [&](const char* k, const char* v) {
            rec.AddMember(rapidjson::Value(k, a), rapidjson::Value(v, a), a);
        };
        add("person_name_c_of_child", "not read");
        if (b_first) {
            add("person_name_b_of_child", "B");
        }
        add("nick", "N");
        rapidjson::Value person(rapidjson::kObjectType);
        person.AddMember("middle", "M", a);
        rec.AddMember("person", person, a);
        add("person_name_a_of_child", "A");
        if (!b_first) {
            add("person_name_b_of_child", "B");
        }
        add("person_name_b_of_child", "second of the name");  // the first one wins
        add("nick", "second nick");
        const auto in = m.map_in(rec, context());
        ASSERT_TRUE(in) << in.error().reason;
        EXPECT_EQ(
            json::to_string(*in),
            R"({"name_first":"A","name_middle":"M","name_last":"B","name_nickname":"N"})"
        ) << b_first;
    }
    const auto out = m.map_out(
        parse(R"({"name_nickname": "N", "name_last": "B", "name_middle": "M", "name_first": "A"})"),
        context()
    );
    ASSERT_TRUE(out) << out.error().reason;
    EXPECT_EQ(
        json::to_string(*out),
        R"({"person_name_a_of_child":"A","person":{"middle":"M"},"person_name_b_of_child":"B",)"
        R"("nick":"N"})"
    );
}

// An error in a row names the row's place in both records, whatever row it is.
TEST(mapping_run, an_error_in_a_row_names_that_row) {
    const auto m = compiled_mapping::load(source_dir / "mappings/primero.case.json", catalogue());
    const auto ctx = context();
    const std::string good_row =
        R"({"unique_id": "s-1", "service_response_day_time": "2024-05-01T10:00:00Z"})";
    for (int bad = 0; bad < 3; ++bad) {
        std::string rows;
        for (int i = 0; i < 3; ++i) {
            rows += (i > 0 ? "," : "") +
                    (i == bad ? R"({"unique_id": "s-2", "service_response_day_time": "soon"})"
                              : good_row);
        }
        const auto r = m.map_in(
            parse(R"({"id": "c-1", "case_id": "c-1", "services_section": [)" + rows + "]}"), ctx
        );
        ASSERT_FALSE(r);
        const auto field =
            "/services_section/" + std::to_string(bad) + "/service_response_day_time";
        EXPECT_EQ(r.error().field, field);
        EXPECT_EQ(r.error().system_field, field);
    }
    const auto r = m.map_in(
        parse(R"({"id": "c-1", "family_details_section": [{"unique_id": "f-1"}, {}, 7]})"), ctx
    );
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().field, "/family_details_section/2");
    EXPECT_EQ(r.error().system_field, "/family_details_section/2");
    EXPECT_EQ(r.error().reason, "row is not an object");
}

}  // namespace
}  // namespace casebridge::mapping
