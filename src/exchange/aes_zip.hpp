// ZIP archives whose entries are encrypted with AES-256 in the WinZip AE-2 format, which
// 7-Zip, WinZip and most archive tools open with the passphrase. Entries are stored (not
// compressed).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"

namespace casebridge::exchange {

struct zip_entry {
    std::string name;  ///< Path inside the archive (UTF-8, '/' separators).
    std::string data;
};

/// Builds the bytes of a ZIP archive holding `entries`, each encrypted with AES-256 (AE-2:
/// PBKDF2-HMAC-SHA1 with 1000 iterations and a random 16-byte salt per entry, AES-CTR, a
/// 10-byte HMAC-SHA1 authentication code). `modified` sets the entries' DOS timestamps.
/// Throws std::invalid_argument for an empty passphrase or an entry over 4 GiB (a bug).
std::string make_aes_zip(
    const std::vector<zip_entry>& entries, std::string_view passphrase, time_point modified
);

}  // namespace casebridge::exchange
