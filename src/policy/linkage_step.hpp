// The linkage step of a DPISP profile (the IMO hub, docs/imo.md): the FULL canonical record is
// encoded with the linkage secret before the profile removes names and dates, and only the
// encoding (a hardened Bloom filter and keyed identifier tokens) travels with the shared record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "linkage/encoder.hpp"

namespace casebridge::policy {

/// A profile's linkage step: the schema it encodes under and the secret it encodes with.
/// Thread-safe: one encoder (with its token cache) behind a mutex.
class linkage_step {
public:
    /// `secret` empty: the secret cannot be had (the profile is then unavailable, and encode
    /// must not be called).
    linkage_step(
        linkage::linkage_schema schema, std::filesystem::path schema_file, std::string secret
    );
    ~linkage_step();
    linkage_step(const linkage_step&) = delete;
    linkage_step& operator=(const linkage_step&) = delete;

    /// linkage_schema_version of the schema: agency and hub must agree on it.
    int schema_version() const noexcept;
    /// 64-bit words of the encoding the hub receives.
    std::size_t encoded_words() const noexcept;
    const std::filesystem::path& schema_file() const noexcept;
    /// Canonical paths the encoding reads ("/name_first", "/family_details_section/relation_name",
    /// "/unhcr_individual_no"): the fields whose values never leave but whose encoding does.
    const std::vector<std::string>& encoded_fields() const noexcept;
    /// True when the secret was loaded.
    bool ready() const noexcept;

    /// The encoding of one full canonical record. Requires ready().
    linkage::encoded_record encode(const rapidjson::Value& record) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The wire form of an encoding, as the hub contract has it (docs/imo.md):
/// {"schema_version": N, "filter": base64 of the filter's 64-bit words, little-endian, word 0
/// first, "tokens": [{"kind": K, "value": 16 lower-case hex digits}] sorted by kind}.
rapidjson::Value linkage_wire_form(
    int schema_version,
    const linkage::encoded_record& encoding,
    rapidjson::Document::AllocatorType& allocator
);

/// The filter's bytes as the wire form encodes them (little-endian words, word 0 first).
std::string filter_bytes(const std::vector<std::uint64_t>& filter);

}  // namespace casebridge::policy
