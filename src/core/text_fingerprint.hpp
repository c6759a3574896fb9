// A constant-time fingerprint of a short text, such as a member name.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace casebridge {

/// A text's first and last eight bytes as two words, read with fixed-size loads. For a text of
/// up to 16 bytes they hold every byte, so two such texts of one length are equal exactly when
/// their words are.
struct text_words {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;

    friend bool operator==(const text_words&, const text_words&) = default;
};

/// The longest text that text_words holds whole.
constexpr std::size_t whole_text_words = 16;

inline text_words words_of(std::string_view s) noexcept {
    const char* const p = s.data();
    const std::size_t n = s.size();
    text_words w;
    // Fixed-size loads only: a short text copied byte by byte into a word and read back at
    // once stalls the processor (the store cannot be forwarded to the load).
    if (n >= sizeof w.head) {
        std::memcpy(&w.head, p, sizeof w.head);
        std::memcpy(&w.tail, p + n - sizeof w.tail, sizeof w.tail);
    } else if (n >= 4) {
        std::uint32_t first = 0;
        std::uint32_t last = 0;  // overlaps `first` below 8 bytes; together they hold them all
        std::memcpy(&first, p, sizeof first);
        std::memcpy(&last, p + n - sizeof last, sizeof last);
        w.head = (std::uint64_t{first} << 32) | last;
    } else if (n > 0) {
        const auto byte = [p](std::size_t i) {
            return std::uint64_t{static_cast<unsigned char>(p[i])};
        };
        w.head = (byte(0) << 16) | (byte(n / 2) << 8) | byte(n - 1);
    }
    return w;
}

/// A text's length and words folded into 64 bits.
constexpr std::uint64_t fold(text_words w, std::size_t n) noexcept {
    return w.head ^ std::rotl(w.tail, 29) ^ (std::uint64_t{n} * 0x9E3779B97F4A7C15ULL);
}

/// The text's length and its first and last eight bytes (so the whole of a text of up to 16
/// bytes), folded into 64 bits in constant time whatever the length. Texts that differ there
/// are told apart without comparing their bytes. Texts of one length that share those bytes
/// collide whatever is between, so a table keyed by it must bound its probes; it is not a hash
/// that resists a text's author.
inline std::uint64_t text_fingerprint(std::string_view s) noexcept {
    return fold(words_of(s), s.size());
}

/// Spreads a fingerprint over all 64 bits (MurmurHash3's finaliser), so that texts differing
/// in one character fall into different slots of a table indexed by its low bits.
constexpr std::uint64_t spread_fingerprint(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

}  // namespace casebridge
