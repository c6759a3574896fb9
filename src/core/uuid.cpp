#include "core/uuid.hpp"

#include <openssl/evp.h>

#include "core/result.hpp"

namespace casebridge {
namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}
}  // namespace

std::optional<uuid_bytes> parse_uuid(std::string_view text) {
    if (text.size() != 36) {
        return std::nullopt;
    }
    uuid_bytes out{};
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') {
                return std::nullopt;
            }
            ++i;
            continue;
        }
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out[byte++] = static_cast<std::uint8_t>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string format_uuid(const uuid_bytes& u) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < u.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out += '-';
        }
        out += digits[u[i] >> 4];
        out += digits[u[i] & 0x0f];
    }
    return out;
}

std::string uuid_v5(const uuid_bytes& ns, std::string_view name) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    CASEBRIDGE_CHECK(ctx != nullptr);
    const bool ok = EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, ns.data(), ns.size()) == 1 &&
                    EVP_DigestUpdate(ctx, name.data(), name.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, digest, &len) == 1;
    EVP_MD_CTX_free(ctx);
    CASEBRIDGE_CHECK(ok && len >= 16);
    uuid_bytes u{};
    for (std::size_t i = 0; i < u.size(); ++i) {
        u[i] = digest[i];
    }
    u[6] = static_cast<std::uint8_t>((u[6] & 0x0f) | 0x50);
    u[8] = static_cast<std::uint8_t>((u[8] & 0x3f) | 0x80);
    return format_uuid(u);
}

std::string uuid_v5(std::string_view name) {
    static const uuid_bytes ns = *parse_uuid(casebridge_uuid_namespace);
    return uuid_v5(ns, name);
}

}  // namespace casebridge
