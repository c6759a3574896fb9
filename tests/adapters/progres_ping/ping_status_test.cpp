// The tolerant reader of PING's ingestion status string.
#include "progres_ping/ping_status.hpp"

#include <gtest/gtest.h>

namespace casebridge::progres_ping {
namespace {

TEST(ping_status, reads_the_unescaped_inner_data_object) {
    // As checkstatus answers: the inner Data object pasted into the string unescaped.
    const std::string text =
        R"([{"ExternalId":"b7e2d9a4","Status":"Success","Message":"Record created.",)"
        R"("Data":"{"progres_interoperabilityreferralid":"2785b477-767d-4814-949a-be8e0990bcc8",)"
        R"("progres_interoperabilityreferralnumber":"REF-IOP-CXB-000000001"}","ProcessedOn":"x"},)"
        R"({"ExternalId":"c1","Status":"Failed","Message":"Field a is not defined.","Data":null}])";
    const auto items = read_status(text);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), 2u);
    EXPECT_EQ((*items)[0].external_id, "b7e2d9a4");
    EXPECT_EQ((*items)[0].state, item_state::succeeded);
    ASSERT_TRUE((*items)[0].data.IsObject());
    EXPECT_STREQ(
        (*items)[0].data["progres_interoperabilityreferralid"].GetString(),
        "2785b477-767d-4814-949a-be8e0990bcc8"
    );
    EXPECT_EQ((*items)[1].state, item_state::failed);
    EXPECT_TRUE((*items)[1].data.IsNull());
}

TEST(ping_status, inner_data_last_with_braces_and_quotes_in_its_strings) {
    const std::string text = R"({"ExternalId":"e","Status":"Completed",)"
                             R"("Data":"{"note":"a } \" , b","list":[1,{"x":"}\""}],"n":null}"})";
    const auto items = read_status(text);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), 1u);
    EXPECT_EQ((*items)[0].state, item_state::succeeded);
    ASSERT_TRUE((*items)[0].data.IsObject());
    EXPECT_STREQ((*items)[0].data["note"].GetString(), "a } \" , b");
    EXPECT_STREQ((*items)[0].data["list"][1]["x"].GetString(), "}\"");
}

TEST(ping_status, properly_escaped_and_plain_texts_are_read_too) {
    const auto escaped =
        read_status(R"([{"externalid":"e","status":"InProgress","data":"{\"id\":\"g\"}"}])");
    ASSERT_TRUE(escaped);
    EXPECT_EQ((*escaped)[0].state, item_state::pending);
    EXPECT_STREQ((*escaped)[0].data["id"].GetString(), "g");
    const auto plain = read_status(R"([{"ExternalId":"e","Status":"Queued","Data":"queued"}])");
    ASSERT_TRUE(plain);
    EXPECT_EQ((*plain)[0].state, item_state::pending);
    EXPECT_TRUE((*plain)[0].data.IsNull());
    EXPECT_EQ(
        repair_status_text(R"([{"Message":"Data","Data":null}])"),
        R"([{"Message":"Data","Data":null}])"
    );
}

TEST(ping_status, text_that_parses_is_never_rewritten) {
    // Found by the ping_status fuzz target: "{}" in quotes is a string of valid JSON, though it
    // also looks like an unescaped object between quotes.
    const std::string text = R"({"ExternalId":"e","Status":"Completed","Data":"{}"})";
    EXPECT_EQ(repair_status_text(text), text);
    const std::string nested = R"([{"ExternalId":"e","Data":"[1]"}])";
    EXPECT_EQ(repair_status_text(nested), nested);
    // A text that needs it is still repaired.
    EXPECT_NE(repair_status_text(R"({"Data":"{"a":"b"}"})"), R"({"Data":"{"a":"b"}"})");
}

TEST(ping_status, states_and_unreadable_text) {
    EXPECT_EQ(state_of("Success"), item_state::succeeded);
    EXPECT_EQ(state_of("In Progress"), item_state::pending);
    EXPECT_EQ(state_of("FAILED"), item_state::failed);
    EXPECT_EQ(state_of("Maybe"), item_state::unknown);
    EXPECT_FALSE(read_status("not json at all"));
    EXPECT_FALSE(read_status(R"([{"Status":"Success","Data":"{"a":1"}])"));
    EXPECT_FALSE(read_status(R"([1,2])"));
}

}  // namespace
}  // namespace casebridge::progres_ping
