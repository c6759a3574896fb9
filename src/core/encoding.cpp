#include "core/encoding.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

namespace casebridge {

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + the NUL OpenSSL writes
    const int n = EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(out.data()),
        reinterpret_cast<const unsigned char*>(bytes.data()),
        static_cast<int>(bytes.size())
    );
    CASEBRIDGE_CHECK(n >= 0 && static_cast<std::size_t>(n) + 1 == out.size());
    out.resize(static_cast<std::size_t>(n));
    return out;
}

result<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    if (text.empty()) {
        return std::string{};
    }
    std::string out(3 * text.size() / 4, '\0');
    const int n = EVP_DecodeBlock(
        reinterpret_cast<unsigned char*>(out.data()),
        reinterpret_cast<const unsigned char*>(text.data()),
        static_cast<int>(text.size())
    );
    if (n < 0) {
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    // EVP_DecodeBlock decodes padding as zero bytes, and skips blanks around the text.
    std::size_t len = static_cast<std::size_t>(n);
    const std::size_t pad = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    if (len < pad) {
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    out.resize(len - pad);
    // Strict: the text must be exactly the encoding of what it decodes to. This refuses
    // whitespace, padding where it does not belong and non-zero unused bits.
    if (base64_encode(out) != text) {
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    return out;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4U];
        out += digits[b & 0x0FU];
    }
    return out;
}

result<std::string> from_hex(std::string_view text) {
    if (text.size() % 2 != 0) {
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    if (text.empty()) {
        return std::string{};
    }
    const std::string z(text);  // OpenSSL reads up to a NUL
    std::string out(text.size() / 2, '\0');
    std::size_t len = 0;
    if (OPENSSL_hexstr2buf_ex(
            reinterpret_cast<unsigned char*>(out.data()), out.size(), &len, z.c_str(), '\0'
        ) != 1 ||
        len != out.size()) {
        ERR_clear_error();  // leave nothing on the thread's queue for a later TLS call to read
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    return out;
}

}  // namespace casebridge
