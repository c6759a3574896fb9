// Hashes and keys for the store: SHA-256, keyed pseudonyms (HMAC-SHA-256), Ed25519 signatures.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/encoding.hpp"
#include "core/result.hpp"

namespace casebridge::store {

using sha256_digest = std::array<std::uint8_t, 32>;

/// SHA-256 of `data`.
sha256_digest sha256(std::string_view data);
/// SHA-256 of `a` followed by `b`.
sha256_digest sha256(std::string_view a, std::string_view b);
// The one hex and base64 pair (core/encoding.hpp), named here too for the store's callers.
using casebridge::base64_decode;
using casebridge::base64_encode;
using casebridge::from_hex;
using casebridge::to_hex;
/// Lower-case hex of a digest.
std::string to_hex(const sha256_digest& d);
/// The digest written as 64 hex digits, with or without a "sha256:" prefix; nullopt when it
/// is not one.
std::optional<sha256_digest> digest_of_hex(std::string_view text);

/// HMAC-SHA-256 under a secret key read from a file (at least 32 bytes). Turns personal
/// identifiers into pseudonyms, so the store holds no identifier that names a person.
class keyed_hasher {
public:
    /// Reads the key. Errors: errc::file_unreadable, errc::invalid_config (key too short).
    static result<keyed_hasher> from_file(const std::filesystem::path& path);
    /// A key given in memory (tests).
    explicit keyed_hasher(std::string key);
    /// Hex HMAC-SHA-256 of `domain` || 0x00 || `value`. `domain` separates kinds of id.
    std::string hmac_hex(std::string_view domain, std::string_view value) const;

private:
    std::string key_;
};

/// An Ed25519 private key loaded from a PEM file; signs checkpoints.
class signer {
public:
    /// Errors: errc::file_unreadable, errc::invalid_config (not an Ed25519 private key).
    static result<signer> from_pem_file(const std::filesystem::path& path);
    /// A fresh random key (tests, `log keygen`).
    static signer generate();
    signer(signer&&) noexcept;
    signer& operator=(signer&&) noexcept;
    ~signer();

    std::string sign(std::string_view message) const;  ///< 64-byte signature.
    std::string public_key_raw() const;                ///< 32 bytes.
    std::string public_key_pem() const;                ///< SubjectPublicKeyInfo PEM.
    std::string private_key_pem() const;               ///< PKCS#8 PEM (unencrypted).

private:
    struct impl;
    explicit signer(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

/// Reads an Ed25519 public key (PEM) and returns its 32 raw bytes.
/// Errors: errc::file_unreadable, errc::invalid_config.
result<std::string> read_public_key_pem(const std::filesystem::path& path);

/// True when `signature` is a valid Ed25519 signature of `message` by raw key `public_key`.
bool verify_signature(
    std::string_view public_key, std::string_view message, std::string_view signature
);

/// Short key id: first 8 bytes of SHA-256 of the raw public key, hex.
std::string key_id(std::string_view public_key_raw);

}  // namespace casebridge::store
