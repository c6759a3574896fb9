// A constant-time fingerprint of a short text, such as a member name.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace casebridge {

/// The text's length and its first and last eight bytes (so the whole of a text of up to 16
/// bytes), folded into 64 bits in constant time whatever the length. Texts that differ there
/// are told apart without comparing their bytes. Texts of one length that share those bytes
/// collide whatever is between, so a table keyed by it must bound its probes; it is not a hash
/// that resists a text's author.
inline std::uint64_t text_fingerprint(std::string_view s) noexcept {
    const char* const p = s.data();
    const std::size_t n = s.size();
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    // Fixed-size loads only: a short text copied byte by byte into a word and read back at
    // once stalls the processor (the store cannot be forwarded to the load).
    if (n >= sizeof head) {
        std::memcpy(&head, p, sizeof head);
        std::memcpy(&tail, p + n - sizeof tail, sizeof tail);
    } else if (n >= 4) {
        std::uint32_t first = 0;
        std::uint32_t last = 0;  // overlaps `first` below 8 bytes; together they hold them all
        std::memcpy(&first, p, sizeof first);
        std::memcpy(&last, p + n - sizeof last, sizeof last);
        head = (std::uint64_t{first} << 32) | last;
    } else if (n > 0) {
        const auto byte = [p](std::size_t i) {
            return std::uint64_t{static_cast<unsigned char>(p[i])};
        };
        head = (byte(0) << 16) | (byte(n / 2) << 8) | byte(n - 1);
    }
    return head ^ std::rotl(tail, 29) ^ (std::uint64_t{n} * 0x9E3779B97F4A7C15ULL);
}

}  // namespace casebridge
