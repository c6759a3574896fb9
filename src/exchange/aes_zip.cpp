#include "exchange/aes_zip.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace casebridge::exchange {
namespace {

constexpr std::size_t salt_bytes = 16;  // AES-256
constexpr std::size_t key_bytes = 32;
constexpr std::size_t auth_bytes = 10;
constexpr int pbkdf2_iterations = 1000;  // fixed by the AE-x format
constexpr std::uint16_t method_aes = 99;
constexpr std::uint16_t method_stored = 0;
constexpr std::uint16_t flag_encrypted = 0x0001;
constexpr std::uint16_t flag_utf8_names = 0x0800;
constexpr std::uint16_t version_needed = 51;                 // AES encryption
constexpr std::uint16_t version_made_by = (3U << 8U) | 63U;  // Unix, spec 6.3

void put16(std::string& out, std::uint16_t v) {
    out += static_cast<char>(v & 0xFFU);
    out += static_cast<char>((v >> 8U) & 0xFFU);
}

void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out += static_cast<char>((v >> (8U * static_cast<unsigned>(i))) & 0xFFU);
    }
}

// The AE-x extra field: vendor version 2 (AE-2: CRC is not stored), "AE", strength 3 (256 bit),
// and the real compression method.
std::string aes_extra() {
    std::string e;
    put16(e, 0x9901);
    put16(e, 7);
    put16(e, 0x0002);
    e += "AE";
    e += static_cast<char>(0x03);
    put16(e, method_stored);
    return e;
}

struct dos_time {
    std::uint16_t time;
    std::uint16_t date;
};

dos_time to_dos(time_point t) {
    using namespace std::chrono;
    const auto day_start = floor<days>(t);
    const year_month_day ymd{day_start};
    const hh_mm_ss hms{floor<seconds>(t - day_start)};
    const int year = std::max(1980, static_cast<int>(ymd.year()));
    return {
        static_cast<std::uint16_t>(
            (static_cast<unsigned>(hms.hours().count()) << 11U) |
            (static_cast<unsigned>(hms.minutes().count()) << 5U) |
            (static_cast<unsigned>(hms.seconds().count()) / 2U)
        ),
        static_cast<std::uint16_t>(
            (static_cast<unsigned>(year - 1980) << 9U) |
            (static_cast<unsigned>(ymd.month()) << 5U) | static_cast<unsigned>(ymd.day())
        ),
    };
}

struct cipher_ctx_deleter {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// AES-256-CTR as WinZip defines it: a 16-byte counter block holding a little-endian integer
// that starts at 1. (OpenSSL's CTR mode counts big-endian, so the keystream is built here.)
std::string winzip_ctr(std::string_view key, std::string_view data) {
    std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter> ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex(
                    ctx.get(),
                    EVP_aes_256_ecb(),
                    nullptr,
                    reinterpret_cast<const unsigned char*>(key.data()),
                    nullptr
                ) != 1) {
        throw std::runtime_error("AES initialisation failed");
    }
    EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
    std::string out(data.size(), '\0');
    std::array<unsigned char, 16> counter{};
    std::array<unsigned char, 32> stream{};
    for (std::size_t off = 0; off < data.size(); off += 16) {
        // Increment the little-endian counter (first block uses 1).
        for (auto& b : counter) {
            if (++b != 0) {
                break;
            }
        }
        int len = 0;
        if (EVP_EncryptUpdate(ctx.get(), stream.data(), &len, counter.data(), 16) != 1 ||
            len != 16) {
            throw std::runtime_error("AES block encryption failed");
        }
        const std::size_t n = std::min<std::size_t>(16, data.size() - off);
        for (std::size_t i = 0; i < n; ++i) {
            out[off + i] = static_cast<char>(static_cast<unsigned char>(data[off + i]) ^ stream[i]);
        }
    }
    return out;
}

// salt ‖ password verifier ‖ ciphertext ‖ authentication code
std::string encrypt_entry(std::string_view data, std::string_view passphrase) {
    std::array<unsigned char, salt_bytes> salt{};
    if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
        throw std::runtime_error("no random bytes for the ZIP salt");
    }
    std::array<unsigned char, 2 * key_bytes + 2> derived{};
    if (PKCS5_PBKDF2_HMAC_SHA1(
            passphrase.data(),
            static_cast<int>(passphrase.size()),
            salt.data(),
            static_cast<int>(salt.size()),
            pbkdf2_iterations,
            static_cast<int>(derived.size()),
            derived.data()
        ) != 1) {
        throw std::runtime_error("PBKDF2 failed");
    }
    const std::string_view enc_key(reinterpret_cast<const char*>(derived.data()), key_bytes);
    const std::string_view auth_key(
        reinterpret_cast<const char*>(derived.data()) + key_bytes, key_bytes
    );
    const std::string cipher = winzip_ctr(enc_key, data);
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    HMAC(
        EVP_sha1(),
        auth_key.data(),
        static_cast<int>(auth_key.size()),
        reinterpret_cast<const unsigned char*>(cipher.data()),
        cipher.size(),
        mac.data(),
        &mac_len
    );
    std::string out(reinterpret_cast<const char*>(salt.data()), salt.size());
    out.append(reinterpret_cast<const char*>(derived.data()) + 2 * key_bytes, 2);
    out += cipher;
    out.append(reinterpret_cast<const char*>(mac.data()), auth_bytes);
    return out;
}

}  // namespace

std::string make_aes_zip(
    const std::vector<zip_entry>& entries, std::string_view passphrase, time_point modified
) {
    if (passphrase.empty()) {
        throw std::invalid_argument("empty ZIP passphrase");
    }
    const dos_time when = to_dos(modified);
    const std::string extra = aes_extra();
    std::string archive;
    std::string central;
    for (const auto& e : entries) {
        if (e.data.size() > 0xFFFF0000U || e.name.size() > 0xFFFFU) {
            throw std::invalid_argument("ZIP entry too large");
        }
        const std::string body = encrypt_entry(e.data, passphrase);
        const auto offset = static_cast<std::uint32_t>(archive.size());
        const auto header = [&](std::string& out, bool is_central) {
            put32(out, is_central ? 0x02014b50U : 0x04034b50U);
            if (is_central) {
                put16(out, version_made_by);
            }
            put16(out, version_needed);
            put16(out, flag_encrypted | flag_utf8_names);
            put16(out, method_aes);
            put16(out, when.time);
            put16(out, when.date);
            put32(out, 0);  // CRC-32: not stored under AE-2
            put32(out, static_cast<std::uint32_t>(body.size()));
            put32(out, static_cast<std::uint32_t>(e.data.size()));
            put16(out, static_cast<std::uint16_t>(e.name.size()));
            put16(out, static_cast<std::uint16_t>(extra.size()));
            if (is_central) {
                put16(out, 0);                // comment length
                put16(out, 0);                // disk number
                put16(out, 0);                // internal attributes
                put32(out, 0100600U << 16U);  // external: regular file, mode 0600
                put32(out, offset);
            }
            out += e.name;
            out += extra;
        };
        header(archive, false);
        archive += body;
        header(central, true);
    }
    const auto central_offset = static_cast<std::uint32_t>(archive.size());
    archive += central;
    put32(archive, 0x06054b50U);
    put16(archive, 0);
    put16(archive, 0);
    put16(archive, static_cast<std::uint16_t>(entries.size()));
    put16(archive, static_cast<std::uint16_t>(entries.size()));
    put32(archive, static_cast<std::uint32_t>(central.size()));
    put32(archive, central_offset);
    put16(archive, 0);
    return archive;
}

}  // namespace casebridge::exchange
