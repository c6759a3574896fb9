#include "core/encoding.hpp"

#include <gtest/gtest.h>

namespace casebridge {
namespace {

TEST(encoding, base64_rfc_4648_vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(plain), encoded);
        const auto back = base64_decode(encoded);
        ASSERT_TRUE(back) << encoded;
        EXPECT_EQ(*back, plain);
    }
}

TEST(encoding, base64_round_trips_every_byte) {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all += static_cast<char>(i);
    }
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        const auto s = all.substr(0, n);
        const auto back = base64_decode(base64_encode(s));
        ASSERT_TRUE(back) << n;
        EXPECT_EQ(*back, s);
    }
    EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(encoding, base64_decode_refusals) {
    for (const char* s : {
             "Zg",        // length not a multiple of 4
             "Zg=",       // short padding
             "Zm9vY",     // length
             "Zg===",     // too much padding
             "Z===",      // three pad characters
             "====",      // padding only
             "Zg=a",      // padding inside
             "Zm=v",      // padding inside
             "Zg==Zg==",  // padding before the end
             " Zg=",      // leading blank
             "Zg= ",      // trailing blank
             "Zm9v\nYmFy",
             "Zm9v\r\nYg==",
             "Zm 9v",
             "Zm9-",  // base64url alphabet
             "Zm9_",
             "Zh==",  // unused bits not zero (canonical: "Zg==")
             "Zm9=",  // unused bits not zero (canonical: "Zm8=")
         }) {
        const auto d = base64_decode(s);
        EXPECT_FALSE(d) << '"' << s << '"';
        if (!d) {
            EXPECT_EQ(d.error(), errc::bad_payload);
        }
    }
    EXPECT_FALSE(base64_decode(std::string_view("Zg=\0", 4)));
    EXPECT_FALSE(base64_decode(std::string_view("Z\0g=", 4)));
}

TEST(encoding, hex_round_trips) {
    EXPECT_EQ(to_hex(""), "");
    EXPECT_EQ(to_hex(std::string_view("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
    EXPECT_EQ(*from_hex("00017f80abff"), std::string("\x00\x01\x7f\x80\xab\xff", 6));
    EXPECT_EQ(*from_hex("ABCDEF"), "\xab\xcd\xef");
    EXPECT_EQ(*from_hex(""), "");
}

TEST(encoding, hex_decode_refusals) {
    for (const char* s : {"0", "abc", "0g", "g0", "0x00", "00 ", " 00", "00:11", "-1", "zz"}) {
        const auto d = from_hex(s);
        EXPECT_FALSE(d) << '"' << s << '"';
        if (!d) {
            EXPECT_EQ(d.error(), errc::bad_payload);
        }
    }
    EXPECT_FALSE(from_hex(std::string_view("00\0\0", 4)));
    EXPECT_FALSE(from_hex(std::string_view(
        "0\0"
        "00",
        4
    )));
}

}  // namespace
}  // namespace casebridge
