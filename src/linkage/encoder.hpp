// Encoding at the agency: a canonical case record becomes a hardened record-level Bloom filter
// (CLK, Schnell et al. 2011) of keyed n-gram hashes plus keyed exact tokens of its
// identifiers. Only these leave the agency; the linkage secret never does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "adapter/secret.hpp"
#include "core/result.hpp"
#include "linkage/schema.hpp"

namespace casebridge::linkage {

/// A keyed exact token of one identifier (the schema's identifier index and 64 bits of
/// HMAC-SHA-256 of its normalised value).
struct id_token {
    std::uint32_t kind = 0;
    std::uint64_t value = 0;
    friend bool operator==(const id_token&, const id_token&) = default;
};

/// What the hub receives for a record, apart from its pseudonym and coarse fields.
struct encoded_record {
    std::vector<std::uint64_t> filter;  ///< schema.encoded_words() words.
    std::vector<id_token> tokens;       ///< Sorted by kind; at most one per kind.
};

/// Shortest linkage secret accepted, in bytes.
inline constexpr std::size_t min_secret_bytes = 16;

/// Reads the linkage secret (file or environment variable). Errors: errc::invalid_config
/// when it is missing, unreadable or shorter than min_secret_bytes. The error never holds
/// the secret.
result<std::string> load_linkage_secret(const secret_source& source);

/// Encodes canonical records under one schema and secret. Keeps a cache of token hashes, so
/// one encoder serves one thread.
class encoder {
public:
    /// Throws std::invalid_argument (without the secret) when the secret is too short.
    encoder(const linkage_schema& schema, std::string secret);
    ~encoder();
    encoder(encoder&&) noexcept;
    encoder& operator=(encoder&&) noexcept;

    /// The encoding of one canonical record; absent fields simply add nothing.
    encoded_record encode(const rapidjson::Value& record);

    /// The tokens each field yields for `record`, before hashing (tests and diagnostics on
    /// the agency's side only: they hold personal data).
    std::vector<std::pair<std::string, std::vector<std::string>>> field_tokens(
        const rapidjson::Value& record
    ) const;

    const linkage_schema& schema() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::linkage
