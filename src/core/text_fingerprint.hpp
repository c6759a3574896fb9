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
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    if (s.size() >= sizeof head) {
        std::memcpy(&head, s.data(), sizeof head);
        std::memcpy(&tail, s.data() + s.size() - sizeof tail, sizeof tail);
    } else if (!s.empty()) {
        std::memcpy(&head, s.data(), s.size());
    }
    return head ^ std::rotl(tail, 29) ^ (std::uint64_t{s.size()} * 0x9E3779B97F4A7C15ULL);
}

}  // namespace casebridge
