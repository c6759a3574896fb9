// UUIDs: name-based version 5 (deterministic ids for idempotent creates) and format checks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace casebridge {

using uuid_bytes = std::array<std::uint8_t, 16>;

/// casebridge's own namespace for version-5 ids (itself a fixed random UUID).
inline constexpr std::string_view casebridge_uuid_namespace =
    "8f5b3f0c-5c3a-4c8e-9b1d-2a6f0e4c7d21";

/// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case).
std::optional<uuid_bytes> parse_uuid(std::string_view text);

/// Lower-case canonical text of `u`.
std::string format_uuid(const uuid_bytes& u);

/// RFC 4122 version 5 (SHA-1) UUID of `name` in namespace `ns`.
std::string uuid_v5(const uuid_bytes& ns, std::string_view name);

/// uuid_v5 in casebridge's namespace.
std::string uuid_v5(std::string_view name);

}  // namespace casebridge
