#include "core/text_fingerprint.hpp"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace casebridge {
namespace {

// Up to 16 bytes every byte of a text reaches its fingerprint: texts of one length that differ
// in one byte are told apart, whichever byte it is (each of the short lengths reads its bytes
// its own way). Equal texts, wherever they are stored, have one fingerprint.
TEST(text_fingerprint, every_byte_of_a_text_up_to_16_bytes_counts) {
    for (const unsigned seed : {1U, 7U, 2024U}) {
        std::mt19937 random(seed);
        for (std::size_t n = 0; n <= 16; ++n) {
            std::string text(n, '\0');
            for (char& c : text) {
                c = static_cast<char>(random() & 0xffU);
            }
            const std::uint64_t fingerprint = text_fingerprint(text);
            const std::string copy = " " + text;  // another address, unaligned
            EXPECT_EQ(text_fingerprint(std::string_view(copy).substr(1)), fingerprint) << n;
            for (std::size_t i = 0; i < n; ++i) {
                for (const unsigned flip : {0x01U, 0x80U, 0xffU}) {
                    std::string changed = text;
                    changed[i] = static_cast<char>(static_cast<unsigned char>(changed[i]) ^ flip);
                    EXPECT_NE(text_fingerprint(changed), fingerprint)
                        << "length " << n << ", byte " << i << ", seed " << seed;
                }
            }
        }
    }
}

// The length counts too: a text and the same text with a NUL added differ.
TEST(text_fingerprint, texts_of_different_lengths_differ) {
    std::string text;
    std::uint64_t previous = text_fingerprint(text);
    for (std::size_t n = 1; n <= 24; ++n) {
        text.push_back('\0');
        const std::uint64_t now = text_fingerprint(text);
        EXPECT_NE(now, previous) << n;
        previous = now;
    }
}

}  // namespace
}  // namespace casebridge
