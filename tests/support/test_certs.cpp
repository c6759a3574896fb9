#include "support/test_certs.hpp"

#include <cstdio>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace casebridge::test {
namespace {

void require(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(std::string("test certificate: ") + what);
    }
}

EVP_PKEY* new_key() {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    require(k != nullptr, "key generation");
    return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    require(ext != nullptr, "extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

X509* make_cert(
    const cert_spec& spec,
    EVP_PKEY* key,
    X509* issuer,
    EVP_PKEY* issuer_key,
    bool is_ca,
    long serial
) {
    X509* cert = X509_new();
    require(cert != nullptr, "X509_new");
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), spec.valid_from_seconds);
    X509_gmtime_adj(X509_getm_notAfter(cert), spec.valid_until_seconds);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(
        name,
        "CN",
        MBSTRING_ASC,
        reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
        -1,
        -1,
        0
    );
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer != nullptr ? issuer : cert;
    add_ext(cert, signer, NID_subject_key_identifier, "hash");
    if (issuer != nullptr) {
        add_ext(cert, signer, NID_authority_key_identifier, "keyid:always");
    }
    if (is_ca) {
        add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert, signer, NID_key_usage, "critical,digitalSignature,keyAgreement");
        add_ext(cert, signer, NID_ext_key_usage, spec.client ? "clientAuth" : "serverAuth");
        std::string san;
        for (const auto& d : spec.dns_names) {
            san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
        }
        for (const auto& ip : spec.ip_addresses) {
            san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
        }
        if (!san.empty()) {
            add_ext(cert, signer, NID_subject_alt_name, san);
        }
    }
    require(X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "sign");
    return cert;
}

void write_pem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
    FILE* f = std::fopen(path.c_str(), "w");
    require(f != nullptr, "open output file");
    const bool ok = cert != nullptr
                        ? PEM_write_X509(f, cert) == 1
                        : PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
    require(ok, "write PEM");
}

long next_serial() {
    static long serial = 1000;
    return ++serial;
}

}  // namespace

struct test_ca::impl {
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    ~impl() {
        X509_free(cert);
        EVP_PKEY_free(key);
    }
};

test_ca::test_ca(std::filesystem::path dir, std::string name)
    : dir_(std::move(dir)), impl_(std::make_unique<impl>()) {
    impl_->key = new_key();
    cert_spec spec;
    spec.common_name = std::move(name);
    impl_->cert = make_cert(spec, impl_->key, nullptr, nullptr, true, next_serial());
    files_.cert = dir_ / (spec.common_name + "-ca.pem");
    files_.key = dir_ / (spec.common_name + "-ca.key");
    write_pem(files_.cert, impl_->cert, nullptr);
    write_pem(files_.key, nullptr, impl_->key);
}

test_ca::~test_ca() = default;

cert_files test_ca::issue(const cert_spec& spec, const std::string& stem) const {
    EVP_PKEY* key = new_key();
    X509* cert = make_cert(spec, key, impl_->cert, impl_->key, false, next_serial());
    cert_files out{dir_ / (stem + ".pem"), dir_ / (stem + ".key")};
    write_pem(out.cert, cert, nullptr);
    write_pem(out.key, nullptr, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
}

cert_files make_self_signed(
    const std::filesystem::path& dir, const cert_spec& spec, const std::string& stem
) {
    EVP_PKEY* key = new_key();
    X509* cert = make_cert(spec, key, nullptr, nullptr, false, next_serial());
    cert_files out{dir / (stem + ".pem"), dir / (stem + ".key")};
    write_pem(out.cert, cert, nullptr);
    write_pem(out.key, nullptr, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
}

}  // namespace casebridge::test
