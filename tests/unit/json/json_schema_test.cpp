#include "json/json_schema.hpp"

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace casebridge::json {
namespace {

constexpr const char* flow_schema = R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["flows"],
  "properties": {
    "flows": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "purpose"],
        "properties": {
          "id": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"},
          "purpose": {"enum": ["referral", "transfer", "decision", "report"]},
          "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000}
        }
      }
    }
  }
})";

std::string check(std::string_view text) {
    const schema s(flow_schema, "flow.schema.json");
    test::temp_dir dir;
    const auto path = dir.write("config.json", text);
    try {
        s.check_file(load_file(path), "config.json");
    } catch (const file_error& e) {
        return e.what();
    }
    return "ok";
}

TEST(json_schema, valid_document_passes) {
    EXPECT_EQ(check(R"({"flows": [{"id": "a", "purpose": "referral", "batch_size": 10}]})"), "ok");
}

TEST(json_schema, enum_violation_names_pointer_and_line_not_value) {
    const auto msg =
        check("{\"flows\": [\n  {\"id\": \"a\",\n   \"purpose\": \"SENTINEL-7f3a\"}\n]}");
    EXPECT_EQ(msg.rfind("config.json:3:4: at /flows/0/purpose: value is not one of", 0), 0u) << msg;
    EXPECT_NE(msg.find("\"referral\""), std::string::npos);
    EXPECT_EQ(msg.find("SENTINEL"), std::string::npos) << msg;
}

TEST(json_schema, missing_required_names_the_property) {
    const auto msg = check("{\"flows\": [\n  {\"id\": \"a\"}\n]}");
    EXPECT_EQ(msg, "config.json:2:3: at /flows/0: missing required property \"purpose\"");
}

TEST(json_schema, unknown_property_is_named_at_its_line) {
    const auto msg =
        check("{\"flows\": [\n  {\"id\": \"a\", \"purpose\": \"report\",\n   \"batchsize\": 5}\n]}"
        );
    EXPECT_EQ(
        msg.rfind("config.json:3:4: at /flows/0/batchsize: unknown property \"batchsize\"", 0), 0u
    ) << msg;
    EXPECT_NE(msg.find("batch_size"), std::string::npos);  // lists what is allowed
}

TEST(json_schema, type_and_range_errors) {
    EXPECT_NE(
        check(R"({"flows": {}})").find("at /flows: expected array, found object"), std::string::npos
    );
    EXPECT_NE(
        check(R"({"flows": [{"id": "a", "purpose": "report", "batch_size": 0}]})")
            .find("at /flows/0/batch_size: number below the minimum 1"),
        std::string::npos
    );
    EXPECT_NE(
        check(R"({"flows": [{"id": "A b", "purpose": "report"}]})")
            .find("at /flows/0/id: string does not match the pattern"),
        std::string::npos
    );
}

TEST(json_schema, validate_returns_violation_without_value) {
    const schema s(flow_schema, "flow");
    auto doc = parse(R"({"flows": [{"id": "a", "purpose": "CBX-SENTINEL-1"}]})");
    ASSERT_TRUE(doc);
    const auto v = s.validate(*doc);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->pointer, "/flows/0/purpose");
    EXPECT_EQ(v->keyword, "enum");
    EXPECT_EQ(v->message.find("CBX-SENTINEL"), std::string::npos);
}

TEST(json_schema, invalid_schema_text_is_a_startup_error) {
    EXPECT_THROW(schema("{\"type\": ", "broken.schema.json"), file_error);
}

}  // namespace
}  // namespace casebridge::json
