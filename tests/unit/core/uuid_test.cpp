#include "core/uuid.hpp"

#include <gtest/gtest.h>

namespace casebridge {
namespace {

// Ids already written to remotes and stores are version-5 UUIDs of these names: the values
// below were computed by the hand-written SHA-1 code before it moved to Boost.Uuid, and must
// never change.
TEST(uuid, version_5_ids_in_casebridge_namespace_are_stable) {
    EXPECT_EQ(uuid_v5("primero/case/CASE-0001"), "4dca1fe0-f910-5469-b0e6-8074fa19da96");
    EXPECT_EQ(uuid_v5("progres_ping/individuals/P-1"), "c22869c6-ba9d-500e-8806-bcd9adb3c19e");
    EXPECT_EQ(uuid_v5("dss@2025-03-01T08:00:00Z"), "45dcebf5-dcab-52fd-ba39-96cd3d49340a");
    EXPECT_EQ(uuid_v5(""), "69448bc0-9545-5eb1-9c4c-d53ea216b212");
    // Names are bytes: UTF-8 as given, and an embedded NUL is part of the name.
    EXPECT_EQ(
        uuid_v5("\xc3\xa9/\xc3\xbc \xe2\x80\x94 \xe5\x90\x8d\xe5\x89\x8d"),
        "85668fa9-eac3-5cf1-a371-92217cd71773"
    );
    EXPECT_EQ(uuid_v5(std::string_view("a\0b", 3)), "f191dc7b-31b0-5620-a637-17bb484c3194");
}

TEST(uuid, matches_rfc_4122_in_other_namespaces) {
    const auto dns = parse_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    ASSERT_TRUE(dns);
    EXPECT_EQ(uuid_v5(*dns, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    const auto url = parse_uuid("6BA7B811-9DAD-11D1-80B4-00C04FD430C8");
    ASSERT_TRUE(url);
    EXPECT_EQ(uuid_v5(*url, "https://example.org/a?b=c"), "c7c3fc47-a207-592f-9e98-7b797147abe3");
}

TEST(uuid, parse_and_format_round_trip) {
    const auto u = parse_uuid(casebridge_uuid_namespace);
    ASSERT_TRUE(u);
    EXPECT_EQ(format_uuid(*u), casebridge_uuid_namespace);
}

TEST(uuid, parse_refuses_other_forms) {
    for (const char* s : {
             "",
             "8f5b3f0c5c3a4c8e9b1d2a6f0e4c7d21",        // no dashes
             "{8f5b3f0c-5c3a-4c8e-9b1d-2a6f0e4c7d21}",  // braces
             "8f5b3f0c-5c3a-4c8e-9b1d-2a6f0e4c7d2",     // short
             "8f5b3f0c-5c3a-4c8e-9b1d-2a6f0e4c7d21a",   // long
             "8f5b3f0c-5c3a-4c8e-9b1d_2a6f0e4c7d21",    // wrong separator
             "8f5b3f0c-5c3a-4c8e-9b1d-2a6f0e4c7dg1",    // not hex
             "8f5b3f0-c5c3a-4c8e-9b1d-2a6f0e4c7d21",    // dash misplaced
         }) {
        EXPECT_FALSE(parse_uuid(s)) << s;
    }
}

}  // namespace
}  // namespace casebridge
