// Base64 and hex: the one pair of byte-to-text encodings (OpenSSL underneath), strict on input.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace casebridge {

/// Base64 (RFC 4648 §4, standard alphabet, with padding, no line breaks).
std::string base64_encode(std::string_view bytes);

/// Decodes what base64_encode writes, and nothing else: the length must be a multiple of 4,
/// padding only at the end and only as needed, unused bits zero, no whitespace or line breaks.
/// Errors: errc::bad_payload.
result<std::string> base64_decode(std::string_view text);

/// Lower-case hex of `bytes`, two digits a byte.
std::string to_hex(std::string_view bytes);

/// Parses hex of either case, two digits a byte, no separators. Errors: errc::bad_payload.
result<std::string> from_hex(std::string_view text);

}  // namespace casebridge
