#include "linkage/dice.hpp"

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace casebridge::linkage {
namespace {

std::vector<std::uint8_t> bytes_of(const std::vector<std::uint64_t>& words) {
    std::vector<std::uint8_t> out(words.size() * 8);
    std::memcpy(out.data(), words.data(), out.size());
    return out;
}

std::uint32_t count(const std::vector<std::uint64_t>& words) {
    std::uint32_t n = 0;
    for (const auto w : words) {
        for (auto v = w; v != 0; v &= v - 1) {
            ++n;
        }
    }
    return n;
}

TEST(linkage_dice, matches_the_byte_loop_reference) {
    std::mt19937_64 rng(7);
    for (const std::size_t words : {1U, 3U, 16U, 32U}) {
        for (int trial = 0; trial < 200; ++trial) {
            std::vector<std::uint64_t> a(words);
            std::vector<std::uint64_t> b(words);
            const int density = trial % 4;  // sparse to dense
            for (std::size_t w = 0; w < words; ++w) {
                a[w] = rng();
                b[w] = rng();
                for (int k = 0; k < density; ++k) {
                    a[w] &= rng();
                    b[w] &= rng();
                }
                if (trial % 5 == 0) {
                    b[w] = a[w] ^ (rng() & rng() & rng());  // near-duplicates
                }
            }
            const auto ab = bytes_of(a);
            const auto bb = bytes_of(b);
            const double expected = dice_bytes(ab.data(), bb.data(), ab.size());
            const double got =
                dice_from_counts(and_popcount(a.data(), b.data(), words), count(a), count(b));
            EXPECT_DOUBLE_EQ(got, expected) << words << " " << trial;
            float many = 0;
            const auto cb = count(b);
            dice_one_to_many(a.data(), count(a), b.data(), &cb, words, 1, &many);
            EXPECT_NEAR(many, expected, 1e-6);
        }
    }
}

TEST(linkage_dice, edge_cases) {
    const std::vector<std::uint64_t> zero(4, 0);
    const std::vector<std::uint64_t> ones(4, ~std::uint64_t{0});
    const auto zb = bytes_of(zero);
    const auto ob = bytes_of(ones);
    EXPECT_EQ(dice_bytes(zb.data(), zb.data(), zb.size()), 0.0);
    EXPECT_EQ(dice_bytes(ob.data(), ob.data(), ob.size()), 1.0);
    EXPECT_EQ(dice_bytes(zb.data(), ob.data(), ob.size()), 0.0);
    EXPECT_EQ(dice_from_counts(and_popcount(ones.data(), ones.data(), 4), 256, 256), 1.0);
    EXPECT_EQ(dice_from_counts(0, 0, 0), 0.0);
    // One shared bit of two, three set overall: 2·1/3.
    const std::vector<std::uint64_t> a = {0b011, 0};
    const std::vector<std::uint64_t> b = {0b001, 0};
    EXPECT_DOUBLE_EQ(dice_from_counts(and_popcount(a.data(), b.data(), 2), 2, 1), 2.0 / 3.0);
}

TEST(linkage_dice, one_to_many_walks_consecutive_filters) {
    const std::size_t words = 2;
    const std::vector<std::uint64_t> query = {0xFF, 0};
    const std::vector<std::uint64_t> base = {0xFF, 0, 0x0F, 0, 0, 0xFF};
    const std::vector<std::uint32_t> counts = {8, 4, 8};
    std::vector<float> out(3);
    dice_one_to_many(query.data(), 8, base.data(), counts.data(), words, 3, out.data());
    EXPECT_FLOAT_EQ(out[0], 1.0F);
    EXPECT_FLOAT_EQ(out[1], 8.0F / 12.0F);
    EXPECT_FLOAT_EQ(out[2], 0.0F);
}

}  // namespace
}  // namespace casebridge::linkage
