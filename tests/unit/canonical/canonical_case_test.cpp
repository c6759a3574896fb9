#include "canonical/canonical_case.hpp"

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace casebridge {
namespace {

const std::filesystem::path shipped =
    std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "canonical-case.json";

const canonical_catalogue& catalogue() {
    static const canonical_catalogue cat = canonical_catalogue::load(shipped);
    return cat;
}

std::string load_error(std::string_view text) {
    test::temp_dir dir;
    const auto path = dir.write("cat.json", text);
    try {
        (void)canonical_catalogue::load(path);
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        const auto at = msg.find("cat.json:");
        return at == std::string::npos ? msg : msg.substr(at);
    }
    return "ok";
}

TEST(canonical_case, shipped_catalogue_loads) {
    const auto& cat = catalogue();
    EXPECT_EQ(cat.version(), 1);
    EXPECT_GT(cat.fields().size(), 80u);
}

TEST(canonical_case, types_and_value_sets) {
    const auto& cat = catalogue();
    const auto* sex = cat.find("sex");
    ASSERT_NE(sex, nullptr);
    EXPECT_EQ(sex->type, field_type::code);
    EXPECT_EQ(sex->values, (std::vector<std::string>{"male", "female", "other", "unknown"}));
    EXPECT_TRUE(sex->allows("female"));
    EXPECT_FALSE(sex->allows("125080000"));

    const auto* sharing = cat.find("consent_info_sharing");
    ASSERT_NE(sharing, nullptr);
    EXPECT_EQ(sharing->type, field_type::code_list);
    EXPECT_TRUE(sharing->allows("unhcr"));
    EXPECT_TRUE(sharing->allows("authorities"));
    EXPECT_FALSE(sharing->allows("everyone"));

    const auto* lang = cat.find("language");
    ASSERT_NE(lang, nullptr);
    EXPECT_TRUE(lang->open_values);
    EXPECT_TRUE(lang->allows("language1"));

    EXPECT_EQ(cat.find("date_of_birth")->type, field_type::date);
    EXPECT_EQ(cat.find("last_updated_at")->type, field_type::datetime);
    EXPECT_EQ(cat.find("consent_for_services")->type, field_type::boolean);
    EXPECT_EQ(cat.find("age")->type, field_type::integer);
    EXPECT_EQ(cat.find("risk_level")->values.size(), 4u);
    EXPECT_EQ(cat.find("no_such_field"), nullptr);
}

TEST(canonical_case, identifiers_versus_system_ids) {
    const auto& cat = catalogue();
    for (const char* name :
         {"unhcr_individual_no",
          "unhcr_id_no",
          "dss_id",
          "family_count_no",
          "national_id_no",
          "moha_id",
          "birth_registration_no"}) {
        const auto* f = cat.find(name);
        ASSERT_NE(f, nullptr) << name;
        EXPECT_TRUE(f->is_identifier()) << name;
    }
    for (const char* name : {"id", "case_id", "short_id"}) {
        const auto* f = cat.find(name);
        ASSERT_NE(f, nullptr) << name;
        EXPECT_FALSE(f->is_identifier()) << name;
        EXPECT_EQ(f->cls, field_class::system_id) << name;
    }
    const auto ids = cat.identifier_paths();
    EXPECT_NE(
        std::find(ids.begin(), ids.end(), "/services_section/progres_interventionnumber"), ids.end()
    );
    EXPECT_EQ(std::find(ids.begin(), ids.end(), "/case_id"), ids.end());
    // Identifiers that name one person are a conflict when two records share them; those of a
    // family, a registration group or a guardian are not (siblings share them).
    EXPECT_EQ(
        cat.one_person_paths(),
        (std::vector<std::string>{
            "/unhcr_individual_no",
            "/dss_id",
            "/moha_id",
            "/national_id_no",
            "/birth_registration_no"})
    );
}

TEST(canonical_case, subforms_and_paths) {
    const auto& cat = catalogue();
    for (const char* name :
         {"services_section",
          "family_details_section",
          "cp_case_plan_subform_case_plan_interventions",
          "followup_subform_section"}) {
        const auto* f = cat.find(name);
        ASSERT_NE(f, nullptr) << name;
        EXPECT_TRUE(f->is_subform()) << name;
        EXPECT_NE(f->row_field("unique_id"), nullptr) << name;
    }
    const auto* st = cat.find_row_field("services_section", "service_type");
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->type, field_type::code);
    EXPECT_EQ(cat.resolve("/services_section/service_type"), st);
    EXPECT_EQ(cat.resolve("/services_section/0/service_type"), st);
    EXPECT_EQ(cat.resolve("/services_section/-/service_type"), st);
    EXPECT_EQ(cat.resolve("/sex"), cat.find("sex"));
    EXPECT_EQ(cat.resolve("/sex/0"), nullptr);
    EXPECT_EQ(cat.resolve("/services_section/x/service_type"), nullptr);
    EXPECT_EQ(cat.resolve("sex"), nullptr);
    EXPECT_EQ(cat.find_row_field("sex", "x"), nullptr);
}

TEST(canonical_case, schema_errors_name_line_and_pointer) {
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"sex\": {\"type\": "
                   "\"enum\", \"class\": \"personal\", \"group\": \"identity\"}}}"),
        "cat.json:3:11: at /fields/sex/type: value is not one of \"string\", \"boolean\", "
        "\"integer\", \"date\", \"datetime\", \"code\", \"code_list\", \"subform\""
    );
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1, \"fields\": {}}"),
        "cat.json:1:26: at /fields: fewer than 1 properties"
    );
    EXPECT_EQ(
        load_error("{\"fields\": {\"a\": {\"type\": \"string\", \"class\": \"personal\", "
                   "\"group\": \"identity\"}}}"),
        "cat.json:1:1: at /: missing required property \"catalogue_version\""
    );
}

TEST(canonical_case, semantic_errors_name_line_and_pointer) {
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"sex\": {\"type\": \"code\", "
                   "\"class\": \"personal\", \"group\": \"identity\"}}}"),
        "cat.json:3:3: at /fields/sex: a code or code_list field needs \"values\" or "
        "\"open_values\": true"
    );
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"age\": {\"type\": \"integer\", "
                   "\"class\": \"personal\", \"group\": \"identity\",\n   \"values\": [\"1\"]}}}"),
        "cat.json:4:4: at /fields/age/values: a value set is allowed only on a code or "
        "code_list field"
    );
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"s\": {\"type\": \"subform\", "
                   "\"class\": \"personal\", \"group\": \"subforms\"}}}"),
        "cat.json:3:3: at /fields/s: a subform needs \"row_fields\""
    );
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"s\": {\"type\": \"subform\", "
                   "\"class\": \"personal\", \"group\": \"subforms\",\n   \"row_fields\": {\"a\": "
                   "{\"type\": \"string\", \"class\": \"personal\"}}}}}"),
        "cat.json:4:4: at /fields/s/row_fields: a subform's rows need a \"unique_id\" field"
    );
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"Sex\": {\"type\": \"string\", "
                   "\"class\": \"personal\", \"group\": \"identity\"}}}"),
        "cat.json:3:3: at /fields/Sex: a field name is lower case letters, digits and '_'"
    );
    EXPECT_EQ(
        load_error("{\"catalogue_version\": 1,\n \"fields\": {\n  \"nid\": {\"type\": \"string\", "
                   "\"class\": \"personal\", \"group\": \"identity\",\n   \"one_person\": true}}}"),
        "cat.json:4:4: at /fields/nid/one_person: \"one_person\" marks an identifier: give the "
        "field \"class\": \"identifier\""
    );
}

TEST(canonical_case, closure_rule_is_data_and_reads_a_record) {
    const auto* rule = catalogue().closure();
    ASSERT_NE(rule, nullptr);
    EXPECT_EQ(rule->status_field, "status");
    auto record = [](const char* text) { return std::move(*json::parse(text)); };
    auto closed = rule->state_of(record(R"({"status": "closed", "date_closure": "2026-02-01"})"));
    ASSERT_TRUE(closed);
    EXPECT_TRUE(closed->closed);
    EXPECT_EQ(closed->closed_on, "2026-02-01");
    auto open = rule->state_of(record(R"({"status": "open", "date_closure": "2026-02-01"})"));
    ASSERT_TRUE(open);
    EXPECT_FALSE(open->closed);
    EXPECT_EQ(open->closed_on, "");
    EXPECT_FALSE(rule->state_of(record(R"({"name_first": "x"})"))) << "no status: says nothing";

    const std::string fields =
        "\"fields\": {\"st\": {\"type\": \"code\", \"class\": \"administrative\", \"group\": "
        "\"lifecycle\", \"values\": [\"shut\", \"live\"]}, \"n\": {\"type\": \"string\", "
        "\"class\": \"personal\", \"group\": \"identity\"}}}";
    test::temp_dir dir;
    auto own = canonical_catalogue::load(dir.write(
        "own.json",
        "{\"catalogue_version\": 1, \"closure\": {\"status_field\": \"st\", \"closed_values\": "
        "[\"shut\"]}, " +
            fields
    ));
    ASSERT_NE(own.closure(), nullptr);
    EXPECT_TRUE(own.closure()->state_of(record(R"({"st": "shut"})"))->closed);
    EXPECT_FALSE(own.closure()->state_of(record(R"({"st": "closed"})"))->closed);
    EXPECT_EQ(
        load_error(
            "{\"catalogue_version\": 1,\n \"closure\": {\"status_field\": \"st\", "
            "\"closed_values\": [\"closed\"]}, " +
            fields
        ),
        "cat.json:2:54: at /closure/closed_values/0: not a value of st"
    );
    EXPECT_EQ(
        load_error(
            "{\"catalogue_version\": 1,\n \"closure\": {\"status_field\": \"n\", "
            "\"closed_values\": [\"x\"]}, " +
            fields
        ),
        "cat.json:2:14: at /closure/status_field: the closure status field must be a top-level "
        "code field of the catalogue"
    );
}

}  // namespace
}  // namespace casebridge
