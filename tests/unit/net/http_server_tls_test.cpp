// casebridge's own HTTP server over TLS: certificates made by the test, the project's HTTPS
// client as the peer; client certificates required when a CA file is given, the verified
// peer's CN handed to admit() and handle(); TLS 1.1 refused; bad files refused at startup.
#include <chrono>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"

namespace casebridge::httpd {
namespace {

using namespace std::chrono_literals;

/// Answers "<method> <target> cn=<peer CN>", and refuses in admit() when the CN is "refused".
service cn_echo() {
    service s;
    s.admit = [](const request& head) {
        admission a;
        a.body_limit = 1024;
        if (head.peer_common_name == "refused") {
            response r;
            r.status = 403;
            r.body = "{}";
            a.refuse = r;
        }
        return a;
    };
    s.handle = [](request req) -> awaitable<response> {
        response r;
        r.body = req.method + " " + req.target + " cn=" + req.peer_common_name;
        co_return r;
    };
    return s;
}

awaitable<remote_result<http_response>> send_one(http_client_settings settings, std::string url) {
    auto ex = co_await net::this_coro::executor;
    auto client = http_client::create(ex, settings, system_clock_source::instance());
    if (!client) {
        co_return client.error();
    }
    http_request req;
    req.url = std::move(url);
    co_return co_await (*client)->send(req);
}

struct server_tls_fixture : ::testing::Test {
    test::temp_dir dir;
    test::test_ca server_ca{dir.path(), "hub-root"};
    test::test_ca client_ca{dir.path(), "agency-root"};
    test::cert_files server_leaf = server_ca.issue({}, "hub");

    test::cert_files client_cert(const std::string& cn, const std::string& stem) {
        test::cert_spec spec;
        spec.common_name = cn;
        spec.dns_names = {};
        spec.ip_addresses = {};
        spec.client = true;
        return client_ca.issue(spec, stem);
    }

    http_client_settings client_settings() const {
        http_client_settings s;
        s.tls.ca_file = server_ca.cert_file();
        s.max_requests_per_second = 0;
        s.connect_timeout = 3s;
        s.request_timeout = 3s;
        return s;
    }

    server_settings tls_settings(bool with_client_ca) const {
        server_settings st;
        st.tls = server_tls{server_leaf.cert, server_leaf.key, {}};
        if (with_client_ca) {
            st.tls->client_ca_file = client_ca.cert_file();
        }
        return st;
    }
};

TEST_F(server_tls_fixture, serves_https_and_verifies_against_the_ca) {
    server s("127.0.0.1", 0, cn_echo(), tls_settings(false));
    EXPECT_EQ(s.base_url().rfind("https://127.0.0.1:", 0), 0u) << s.base_url();
    auto r = test::run_awaitable(send_one(client_settings(), s.base_url() + "/a"));
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, "GET /a cn=");

    // Plain HTTP to a TLS port gets nothing served.
    http_client_settings plain = client_settings();
    plain.allow_plain_http_loopback = true;
    auto p =
        test::run_awaitable(send_one(plain, "http://127.0.0.1:" + std::to_string(s.port()) + "/a"));
    EXPECT_FALSE(p && p->status == 200);
}

TEST_F(server_tls_fixture, a_client_certificate_gives_its_cn_to_admit_and_handle) {
    server s("127.0.0.1", 0, cn_echo(), tls_settings(true));
    auto settings = client_settings();
    const auto agency = client_cert("agency-a.example", "agency-a");
    settings.tls.client_cert_file = agency.cert;
    settings.tls.client_key_file = agency.key;
    auto r = test::run_awaitable(send_one(settings, s.base_url() + "/who"));
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_EQ(r->body, "GET /who cn=agency-a.example");

    const auto refused = client_cert("refused", "refused");
    settings.tls.client_cert_file = refused.cert;
    settings.tls.client_key_file = refused.key;
    auto f = test::run_awaitable(send_one(settings, s.base_url() + "/who"));
    ASSERT_TRUE(f) << f.error().detail;
    EXPECT_EQ(f->status, 403u);
}

TEST_F(server_tls_fixture, without_a_client_certificate_the_handshake_is_refused) {
    server s("127.0.0.1", 0, cn_echo(), tls_settings(true));
    auto r = test::run_awaitable(send_one(client_settings(), s.base_url() + "/x"));
    EXPECT_FALSE(r) << "served without a client certificate: " << r->status;

    // A certificate from a CA the server does not trust is refused too.
    test::test_ca stranger(dir.path(), "stranger-root");
    test::cert_spec spec;
    spec.common_name = "agency-a.example";
    spec.client = true;
    const auto forged = stranger.issue(spec, "forged");
    auto settings = client_settings();
    settings.tls.client_cert_file = forged.cert;
    settings.tls.client_key_file = forged.key;
    auto f = test::run_awaitable(send_one(settings, s.base_url() + "/x"));
    EXPECT_FALSE(f) << "served with an untrusted client certificate: " << f->status;

    // The server still serves a proper client afterwards.
    const auto agency = client_cert("agency-b.example", "agency-b");
    settings.tls.client_cert_file = agency.cert;
    settings.tls.client_key_file = agency.key;
    auto ok = test::run_awaitable(send_one(settings, s.base_url() + "/x"));
    ASSERT_TRUE(ok) << ok.error().detail;
    EXPECT_EQ(ok->body, "GET /x cn=agency-b.example");
}

TEST_F(server_tls_fixture, tls_1_1_is_refused) {
    server s("127.0.0.1", 0, cn_echo(), tls_settings(false));
    net::io_context ctx;
    net::ssl::context old(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(old.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(old.native_handle(), "DEFAULT:@SECLEVEL=0");
    old.set_verify_mode(net::ssl::verify_none);
    net::ssl::stream<net::ip::tcp::socket> stream(ctx, old);
    stream.next_layer().connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), s.port())
    );
    boost::system::error_code ec;
    stream.handshake(net::ssl::stream_base::client, ec);
    EXPECT_TRUE(ec) << "a TLS 1.1 handshake succeeded";
}

TEST_F(server_tls_fixture, bad_files_are_refused_at_startup_naming_the_file) {
    auto st = tls_settings(false);
    st.tls->key_file = dir / "missing.key";
    try {
        server s("127.0.0.1", 0, cn_echo(), st);
        FAIL() << "a missing key file was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("missing.key"), std::string::npos) << e.what();
    }
    // A key that belongs to another certificate.
    st = tls_settings(false);
    st.tls->key_file = client_cert("x", "other").key;
    try {
        server s("127.0.0.1", 0, cn_echo(), st);
        FAIL() << "a key of another certificate was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace casebridge::httpd
