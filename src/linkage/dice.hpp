// Dice similarity of fixed-length bit arrays: 2·|A∩B| / (|A|+|B|), with hardware popcount
// over 64-bit words, and a byte-at-a-time reference for tests and the benchmark baseline.
#pragma once

#include <cstddef>
#include <cstdint>

namespace casebridge::linkage {

/// |A∩B| of two arrays of `words` 64-bit words. On x86-64 the popcnt instruction is used
/// when the CPU has it (chosen once at load time); other CPUs get a portable version.
std::uint32_t and_popcount(
    const std::uint64_t* a, const std::uint64_t* b, std::size_t words
) noexcept;

/// Σ over positions set in both `a` and `b` of the position's weight, the weights given
/// bit-sliced: `slice_count` arrays of `words` words one after another, slice s marking the
/// positions whose weight has bit s set (record_set::weight_slice). Hardware popcount as above.
std::uint64_t weighted_and_popcount(
    const std::uint64_t* a,
    const std::uint64_t* b,
    const std::uint64_t* slices,
    unsigned slice_count,
    std::size_t words
) noexcept;

/// Dice from the intersection and the two bit counts (0 when both are empty).
inline double dice_from_counts(
    std::uint32_t both, std::uint32_t count_a, std::uint32_t count_b
) noexcept {
    const auto total = count_a + count_b;
    return total == 0 ? 0.0 : 2.0 * both / total;
}

/// Dice of `query` against `n` filters stored one after another from `base` (`counts` holds
/// their bit counts) into `out`. The inner loop of linking and of the benchmark.
void dice_one_to_many(
    const std::uint64_t* query,
    std::uint32_t query_count,
    const std::uint64_t* base,
    const std::uint32_t* counts,
    std::size_t words,
    std::size_t n,
    float* out
) noexcept;

/// Reference: Dice over bytes, counting bits with a 256-entry table; no word tricks.
double dice_bytes(const std::uint8_t* a, const std::uint8_t* b, std::size_t bytes) noexcept;

}  // namespace casebridge::linkage
