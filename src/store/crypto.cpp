#include "store/crypto.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <vector>

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include "core/crypto.hpp"

namespace casebridge::store {

namespace {

struct pkey_deleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct bio_deleter {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

result<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        CASEBRIDGE_RETURN_ERROR(errc::file_unreadable);
    }
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        CASEBRIDGE_RETURN_ERROR(errc::file_unreadable);
    }
    return s;
}

std::string bio_text(BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

sha256_digest sha256(std::string_view data) {
    return sha256(data, {});
}

sha256_digest sha256(std::string_view a, std::string_view b) {
    sha256_digest out{};
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    unsigned int len = 0;
    const bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx.get(), a.data(), a.size()) == 1 &&
                    EVP_DigestUpdate(ctx.get(), b.data(), b.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1;
    CASEBRIDGE_CHECK(ok && len == out.size());
    return out;
}

std::string to_hex(const sha256_digest& d) {
    return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::optional<sha256_digest> digest_of_hex(std::string_view text) {
    if (text.starts_with("sha256:")) {
        text.remove_prefix(7);
    }
    auto raw = from_hex(text);
    if (!raw || raw->size() != 32) {
        return std::nullopt;
    }
    sha256_digest d{};
    std::copy(raw->begin(), raw->end(), d.begin());
    return d;
}

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
// GCC 12 at -O2 reports a bogus -Warray-bounds (or, with that off, -Wstringop-overflow and
// -Wstringop-overread) on the memcpy inside std::string's move of a short string when the key
// moves into the hasher, one of its false positives inside libstdc++'s std::string (as in GCC
// bugs 105329 and 105651; see CMakeLists.txt).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
keyed_hasher::keyed_hasher(std::string key) : key_(std::move(key)) {}

result<keyed_hasher> keyed_hasher::from_file(const std::filesystem::path& path) {
    auto key = read_file(path);
    if (!key) {
        return key.error();
    }
    if (key->size() < 32) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    return keyed_hasher(std::move(*key));
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic pop
#endif

std::string keyed_hasher::hmac_hex(std::string_view domain, std::string_view value) const {
    std::string msg;
    msg.reserve(domain.size() + 1 + value.size());
    msg.append(domain);
    msg.push_back('\0');
    msg.append(value);
    return to_hex(crypto::hmac_sha256(key_, msg));
}

struct signer::impl {
    pkey_ptr key;
};

signer::signer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
signer::signer(signer&&) noexcept = default;
signer& signer::operator=(signer&&) noexcept = default;
signer::~signer() = default;

result<signer> signer::from_pem_file(const std::filesystem::path& path) {
    auto text = read_file(path);
    if (!text) {
        return text.error();
    }
    bio_ptr b(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    pkey_ptr key(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    auto p = std::make_unique<impl>();
    p->key = std::move(key);
    return signer(std::move(p));
}

signer signer::generate() {
    EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    CASEBRIDGE_CHECK(raw != nullptr);
    auto p = std::make_unique<impl>();
    p->key.reset(raw);
    return signer(std::move(p));
}

std::string signer::sign(std::string_view message) const {
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    std::string sig(64, '\0');
    std::size_t len = sig.size();
    const bool ok =
        ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) == 1 &&
        EVP_DigestSign(
            ctx.get(),
            reinterpret_cast<unsigned char*>(sig.data()),
            &len,
            reinterpret_cast<const unsigned char*>(message.data()),
            message.size()
        ) == 1;
    CASEBRIDGE_CHECK(ok && len == 64);
    return sig;
}

std::string signer::public_key_raw() const {
    std::string out(32, '\0');
    std::size_t len = out.size();
    CASEBRIDGE_CHECK(
        EVP_PKEY_get_raw_public_key(
            impl_->key.get(), reinterpret_cast<unsigned char*>(out.data()), &len
        ) == 1 &&
        len == 32
    );
    return out;
}

std::string signer::public_key_pem() const {
    bio_ptr b(BIO_new(BIO_s_mem()));
    CASEBRIDGE_CHECK(PEM_write_bio_PUBKEY(b.get(), impl_->key.get()) == 1);
    return bio_text(b.get());
}

std::string signer::private_key_pem() const {
    bio_ptr b(BIO_new(BIO_s_mem()));
    CASEBRIDGE_CHECK(
        PEM_write_bio_PrivateKey(
            b.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr
        ) == 1
    );
    return bio_text(b.get());
}

result<std::string> read_public_key_pem(const std::filesystem::path& path) {
    auto text = read_file(path);
    if (!text) {
        return text.error();
    }
    bio_ptr b(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    pkey_ptr key(PEM_read_bio_PUBKEY(b.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    std::string out(32, '\0');
    std::size_t len = out.size();
    if (EVP_PKEY_get_raw_public_key(
            key.get(), reinterpret_cast<unsigned char*>(out.data()), &len
        ) != 1 ||
        len != 32) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    return out;
}

bool verify_signature(
    std::string_view public_key, std::string_view message, std::string_view signature
) {
    if (public_key.size() != 32 || signature.size() != 64) {
        return false;
    }
    pkey_ptr key(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519,
        nullptr,
        reinterpret_cast<const unsigned char*>(public_key.data()),
        public_key.size()
    ));
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!key || !ctx ||
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
        return false;
    }
    return EVP_DigestVerify(
               ctx.get(),
               reinterpret_cast<const unsigned char*>(signature.data()),
               signature.size(),
               reinterpret_cast<const unsigned char*>(message.data()),
               message.size()
           ) == 1;
}

std::string key_id(std::string_view public_key_raw) {
    const auto d = sha256(public_key_raw);
    return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), 8));
}

}  // namespace casebridge::store
