// Certificates made by a test (OpenSSL API, EC P-256) in a temp dir: a CA, leaves it signs,
// self-signed and expired ones.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace casebridge::test {

struct cert_spec {
    std::string common_name = "localhost";
    std::vector<std::string> dns_names = {"localhost"};
    std::vector<std::string> ip_addresses = {"127.0.0.1"};
    long valid_from_seconds = -3600;    ///< Relative to now.
    long valid_until_seconds = 86'400;  ///< Relative to now; negative: already expired.
    bool client = false;                ///< clientAuth instead of serverAuth.
};

/// PEM files of a certificate and its private key.
struct cert_files {
    std::filesystem::path cert;
    std::filesystem::path key;
};

/// A self-signed CA that issues certificates into `dir`.
class test_ca {
public:
    test_ca(std::filesystem::path dir, std::string name);
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    /// The CA certificate (PEM): the trust anchor to give a client or server.
    const std::filesystem::path& cert_file() const noexcept { return files_.cert; }
    /// Issues a certificate signed by this CA, written as `<stem>.pem` and `<stem>.key`.
    cert_files issue(const cert_spec& spec, const std::string& stem) const;

    struct impl;

private:
    std::filesystem::path dir_;
    cert_files files_;
    std::unique_ptr<impl> impl_;
};

/// A certificate signed by its own key (no CA), written as `<stem>.pem` and `<stem>.key`.
cert_files make_self_signed(
    const std::filesystem::path& dir, const cert_spec& spec, const std::string& stem
);

}  // namespace casebridge::test
