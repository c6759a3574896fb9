// Base64 (RFC 4648, with padding): HTTP Basic credentials.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace casebridge {

std::string base64_encode(std::string_view data);
/// Decodes padded base64; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace casebridge
