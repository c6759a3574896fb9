#include "net/remote_text.hpp"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace casebridge {
namespace {

constexpr std::string_view phrases[] = {
    "Forbidden",
    "Try again in <n> seconds.",
    "<key>",
    "Field <field> is given twice.",
    "Value '<value>' is not a valid option for <field>.",
    "<field>",
};

const field_names fields = {"progres_sex", "progres_sexname", "date_of_birth"};

std::string allowed(std::string_view message) {
    return allowed_remote_text(message, phrases, fields);
}

TEST(remote_text, known_phrases_are_kept) {
    EXPECT_EQ(allowed("Forbidden"), "Forbidden");
    EXPECT_EQ(allowed("  Forbidden\r\n"), "Forbidden");
    EXPECT_EQ(allowed("Try again in 30 seconds."), "Try again in 30 seconds.");
    EXPECT_EQ(allowed("transition.errors.consent"), "transition.errors.consent");
    EXPECT_EQ(allowed("Field progres_sex is given twice."), "Field progres_sex is given twice.");
    EXPECT_EQ(allowed("date_of_birth"), "date_of_birth");
    // A longer field name that starts like a shorter one.
    EXPECT_EQ(
        allowed("Field progres_sexname is given twice."), "Field progres_sexname is given twice."
    );
}

TEST(remote_text, a_value_inside_a_phrase_is_cut) {
    EXPECT_EQ(
        allowed("Value 'Amina Begum' is not a valid option for progres_sex."),
        "Value '...' is not a valid option for progres_sex."
    );
}

TEST(remote_text, anything_else_is_withheld_but_for_field_names_it_mentions) {
    EXPECT_EQ(allowed("Forbidden: Amina Begum"), "remote message withheld");
    EXPECT_EQ(allowed("Amina"), "remote message withheld");
    EXPECT_EQ(allowed("Try again in 3O seconds."), "remote message withheld");
    EXPECT_EQ(allowed("Field Amina is given twice."), "remote message withheld");
    EXPECT_EQ(allowed("amina.begum"), "remote message withheld");  // two words: not a key
    EXPECT_EQ(allowed("a.b.Amina"), "remote message withheld");
    EXPECT_EQ(
        allowed("date_of_birth 2015-03-02 for Amina does not match progres_sex"),
        "remote message withheld [date_of_birth, progres_sex]"
    );
    // Whole words only: progres_sex is not mentioned by progres_sexname or xprogres_sex.
    EXPECT_EQ(
        allowed("progres_sexname=F xprogres_sex"), "remote message withheld [progres_sexname]"
    );
}

TEST(remote_text, the_phrase_must_match_all_of_the_message) {
    EXPECT_EQ(allowed("Forbidden Forbidden"), "remote message withheld");
    EXPECT_EQ(
        allowed("Field progres_sex is given twice. Amina"), "remote message withheld [progres_sex]"
    );
    EXPECT_EQ(allowed(std::string(3000, 'F')), "remote message withheld");
    EXPECT_EQ(allowed(""), "");
    EXPECT_EQ(allowed(" \t\n"), "");
}

TEST(remote_text, field_names_are_collected_from_a_request) {
    field_names out;
    constexpr name_list lists[] = {{"Fields", "Name"}};
    collect_field_names(
        R"({"Data":[{"Fields":[{"Name":"progres_sex","Value":"Amina"}],)"
        R"("Attachments":[{"Name":"Begum_letter.pdf","Content":""}]}],"Name":"Karim"})",
        lists,
        out
    );
    EXPECT_EQ(
        out,
        (field_names{"Data", "Fields", "Name", "Value", "progres_sex", "Attachments", "Content"})
    );
    field_names none;
    collect_field_names("not json", lists, none);
    EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace casebridge
