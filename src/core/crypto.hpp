// Hashes and MACs from OpenSSL, as lowercase hex or raw bytes (hex and base64: core/encoding.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace casebridge::crypto {

/// SHA-256 of `data`, 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

/// HMAC-SHA-256 of `data` under `key`, raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// `n` bytes from OpenSSL's random generator (keys, tokens). Throws std::runtime_error when it
/// cannot give them.
std::string random_bytes(std::size_t n);

}  // namespace casebridge::crypto
