#include "core/crypto.hpp"

#include <array>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/encoding.hpp"

namespace casebridge::crypto {

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");  // only on a broken OpenSSL: a bug
    }
    return to_hex({reinterpret_cast<const char*>(md.data()), len});
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (HMAC(
            EVP_sha256(),
            key.data(),
            static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()),
            data.size(),
            md.data(),
            &len
        ) == nullptr) {
        throw std::runtime_error("HMAC-SHA-256 failed");
    }
    return {reinterpret_cast<const char*>(md.data()), len};
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n > 0 &&
        RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("the random generator failed");
    }
    return out;
}

}  // namespace casebridge::crypto
