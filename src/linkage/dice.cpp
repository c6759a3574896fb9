#include "linkage/dice.hpp"

#include <array>
#include <bit>

// x86-64's baseline ISA has no popcnt, and Debian builds for that baseline. Rather than a
// global -mpopcnt (which would make the binary die with SIGILL on an old CPU), the two hot
// kernels are compiled twice and the dynamic loader picks the popcnt version when the CPU
// has it (GCC function multi-versioning). See docs/decisions.md.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__POPCNT__)
#define CASEBRIDGE_POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define CASEBRIDGE_POPCNT_CLONES
#endif

namespace casebridge::linkage {

CASEBRIDGE_POPCNT_CLONES
std::uint32_t and_popcount(
    const std::uint64_t* a, const std::uint64_t* b, std::size_t words
) noexcept {
    std::uint32_t n = 0;
    for (std::size_t w = 0; w < words; ++w) {
        n += static_cast<std::uint32_t>(std::popcount(a[w] & b[w]));
    }
    return n;
}

CASEBRIDGE_POPCNT_CLONES
std::uint64_t weighted_and_popcount(
    const std::uint64_t* a,
    const std::uint64_t* b,
    const std::uint64_t* slices,
    unsigned slice_count,
    std::size_t words
) noexcept {
    std::uint64_t total = 0;
    for (unsigned s = 0; s < slice_count; ++s) {
        const std::uint64_t* slice = slices + std::size_t{s} * words;
        std::uint64_t n = 0;
        for (std::size_t w = 0; w < words; ++w) {
            n += static_cast<std::uint64_t>(std::popcount(a[w] & b[w] & slice[w]));
        }
        total += n << s;
    }
    return total;
}

CASEBRIDGE_POPCNT_CLONES
void dice_one_to_many(
    const std::uint64_t* query,
    std::uint32_t query_count,
    const std::uint64_t* base,
    const std::uint32_t* counts,
    std::size_t words,
    std::size_t n,
    float* out
) noexcept {
    for (std::size_t r = 0; r < n; ++r) {
        const std::uint64_t* f = base + r * words;
        std::uint32_t both = 0;
        for (std::size_t w = 0; w < words; ++w) {
            both += static_cast<std::uint32_t>(std::popcount(query[w] & f[w]));
        }
        const auto total = query_count + counts[r];
        out[r] = total == 0 ? 0.0F : 2.0F * static_cast<float>(both) / static_cast<float>(total);
    }
}

double dice_bytes(const std::uint8_t* a, const std::uint8_t* b, std::size_t bytes) noexcept {
    static const auto table = [] {
        std::array<std::uint8_t, 256> t{};
        for (unsigned i = 0; i < 256; ++i) {
            unsigned c = 0;
            for (unsigned v = i; v != 0; v >>= 1U) {
                c += v & 1U;
            }
            t[i] = static_cast<std::uint8_t>(c);
        }
        return t;
    }();
    unsigned both = 0;
    unsigned total = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
        both += table[a[i] & b[i]];
        total += table[a[i]] + table[b[i]];
    }
    return total == 0 ? 0.0 : 2.0 * both / total;
}

}  // namespace casebridge::linkage
