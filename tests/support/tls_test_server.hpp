// An HTTPS/1.1 server on 127.0.0.1:0 for TLS tests: serves one fixed JSON answer with
// keep-alive, optionally requires a client certificate signed by a given CA, counts the TCP
// connections it accepts and can close them all; can be limited to old protocol versions. Runs on
// its own thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

namespace casebridge::test {

struct tls_server_settings {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    std::filesystem::path client_ca_file;  ///< Set: a client certificate is required.
    /// Highest protocol version offered (OpenSSL's TLS1_1_VERSION, ...); 0: OpenSSL's highest.
    int max_version = 0;
    /// OpenSSL cipher list for TLS 1.2 and older (e.g. "DEFAULT:@SECLEVEL=0", without which
    /// Debian's OpenSSL refuses TLS 1.0 and 1.1); empty: OpenSSL's default.
    std::string cipher_list = {};
};

class tls_test_server {
public:
    explicit tls_test_server(tls_server_settings settings);
    ~tls_test_server();
    tls_test_server(const tls_test_server&) = delete;
    tls_test_server& operator=(const tls_test_server&) = delete;

    unsigned short port() const noexcept { return port_; }
    /// Requests answered (after a successful handshake).
    std::size_t requests() const noexcept { return requests_.load(); }
    /// Handshakes that failed (e.g. the client refused the certificate).
    std::size_t failed_handshakes() const noexcept { return failed_handshakes_.load(); }
    /// TCP connections accepted.
    std::size_t connections() const noexcept { return connections_.load(); }
    /// Closes every open connection (TCP FIN, no TLS close_notify) and returns once they
    /// are closed; the server keeps accepting new ones.
    void close_connections();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
    unsigned short port_ = 0;
    std::atomic<std::size_t> requests_{0};
    std::atomic<std::size_t> failed_handshakes_{0};
    std::atomic<std::size_t> connections_{0};
};

}  // namespace casebridge::test
