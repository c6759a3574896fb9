#include "net/http_client.hpp"

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "core/histogram.hpp"
#include "support/fake_http_server.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"
#include "support/tls_test_server.hpp"

namespace casebridge {
namespace {

using test::fake_http_server;
using test::fault;
using test::reply;
using namespace std::chrono_literals;
using tcp = net::ip::tcp;

http_client_settings plain_settings() {
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    s.max_requests_per_second = 0;  // unlimited unless a test sets it
    s.connect_timeout = 2s;
    s.request_timeout = 2s;
    return s;
}

// Sends each URL in turn with one client; returns every outcome.
awaitable<std::vector<remote_result<http_response>>> send_all(
    http_client_settings settings, std::vector<std::string> urls
) {
    auto ex = co_await net::this_coro::executor;
    auto client = http_client::create(ex, settings, system_clock_source::instance());
    std::vector<remote_result<http_response>> out;
    if (!client) {
        out.emplace_back(client.error());
        co_return out;
    }
    for (auto& u : urls) {
        http_request req;
        req.url = u;
        auto r = co_await (*client)->send(req);
        out.push_back(std::move(r));
    }
    co_return out;
}

remote_result<http_response> get_one(http_client_settings settings, std::string url) {
    auto all = test::run_awaitable(send_all(std::move(settings), {std::move(url)}));
    return std::move(all.front());
}

TEST(http_client, plain_get_returns_status_headers_and_body) {
    fake_http_server server([](const test::recorded_request& r) {
        return reply{200, R"({"path":")" + r.target + R"("})", "application/json", {{"X-Id", "7"}}};
    });
    auto r = get_one(plain_settings(), server.base_url() + "/api/v2/cases?per=1");
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, R"({"path":"/api/v2/cases?per=1"})");
    EXPECT_EQ(r->header("x-id").value_or(""), "7");
    const auto req = server.requests().at(0);
    EXPECT_EQ(req.headers.at("accept-encoding"), "gzip");
    EXPECT_EQ(req.headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
}

TEST(http_client, keep_alive_connection_is_reused) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    auto all = test::run_awaitable(send_all(
        plain_settings(), {server.base_url() + "/a", server.base_url() + "/b", server.base_url()}
    ));
    for (auto& r : all) {
        ASSERT_TRUE(r) << r.error().describe();
    }
    EXPECT_EQ(server.request_count(), 3u);
    EXPECT_EQ(server.connection_count(), 1u);
}

TEST(http_client, plain_http_refused_unless_configured_and_loopback) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    auto s = plain_settings();
    s.allow_plain_http_loopback = false;
    auto r = get_one(s, server.base_url() + "/");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::invalid_config));
    auto r2 = get_one(plain_settings(), "http://192.0.2.10/");
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, make_error_code(errc::invalid_config));
    auto r3 = get_one(plain_settings(), "ftp://127.0.0.1/");
    ASSERT_FALSE(r3);
    EXPECT_EQ(server.request_count(), 0u);
}

TEST(http_client, statuses_are_classified_with_retry_after) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    server.inject(fault::error(503, "7"));
    server.inject(fault::too_many_requests("Wed, 21 Oct 2015 07:28:00 GMT"));
    server.inject(fault::error(502));
    server.inject(fault::error(422));
    server.inject(fault::error(503));
    const auto u = server.base_url() + "/x";
    auto all = test::run_awaitable(send_all(plain_settings(), {u, u, u, u, u}));
    ASSERT_EQ(all.size(), 5u);
    for (auto& r : all) {
        ASSERT_TRUE(r) << r.error().describe();
    }
    const auto e503 = error_from_status(*all[0]);
    EXPECT_EQ(e503.code, make_error_code(errc::rate_limited));
    EXPECT_TRUE(e503.transient());
    ASSERT_TRUE(e503.retry_after.has_value());
    EXPECT_EQ(*e503.retry_after, 7s);
    EXPECT_EQ(e503.http_status, 503u);
    const auto e429 = error_from_status(*all[1]);
    EXPECT_EQ(e429.code, make_error_code(errc::rate_limited));
    ASSERT_TRUE(e429.retry_after.has_value());
    EXPECT_EQ(*e429.retry_after, 0s);  // a date in the past: retry now
    EXPECT_TRUE(error_from_status(*all[2]).transient());
    const auto e422 = error_from_status(*all[3]);
    EXPECT_EQ(e422.code, make_error_code(errc::remote_rejected));
    EXPECT_FALSE(e422.transient());
    EXPECT_EQ(error_from_status(*all[4]).code, make_error_code(errc::remote_unavailable));
    // The body of an error never reaches the error text.
    EXPECT_EQ(e422.describe().find("injected"), std::string::npos);
}

TEST(http_client, retry_after_parsing) {
    const auto now = std::chrono::system_clock::from_time_t(1'445'412'800);  // 07:33:20 GMT
    EXPECT_EQ(parse_retry_after("120", now), 120s);
    EXPECT_EQ(parse_retry_after(" 0 ", now), 0s);
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:35:00 GMT", now), 100s);
    EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), 0s);
    EXPECT_FALSE(parse_retry_after("-5", now));
    EXPECT_FALSE(parse_retry_after("soon", now));
    EXPECT_FALSE(parse_retry_after("Wed, 21 Foo 2015 07:35:00 GMT", now));
}

TEST(http_client, transport_faults_are_transient_errors) {
    fake_http_server server([](const test::recorded_request&) {
        return reply{200, std::string(400, 'x')};
    });
    server.inject(fault::reset());
    server.inject(fault::truncated());
    const auto u = server.base_url() + "/x";
    auto all = test::run_awaitable(send_all(plain_settings(), {u, u, u}));
    ASSERT_FALSE(all[0]);
    EXPECT_EQ(all[0].error().code, make_error_code(errc::remote_unavailable));
    EXPECT_TRUE(all[0].error().transient());
    ASSERT_FALSE(all[1]);
    EXPECT_EQ(all[1].error().code, make_error_code(errc::remote_unavailable));
    ASSERT_TRUE(all[2]) << all[2].error().describe();  // the next call works again
    EXPECT_EQ(all[2]->body.size(), 400u);
}

TEST(http_client, stalled_response_hits_the_request_deadline) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    server.inject(fault::stalled());
    auto s = plain_settings();
    s.request_timeout = 300ms;
    const auto start = std::chrono::steady_clock::now();
    auto r = get_one(s, server.base_url() + "/");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::remote_unavailable));
    EXPECT_NE(r.error().detail.find("timeout"), std::string::npos);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

// A TLS server that accepts the connection and never answers the handshake: the request ends
// at its one deadline (request_timeout), not at request_timeout plus connect_timeout.
TEST(http_client, a_silent_tls_handshake_ends_at_the_request_deadline) {
    net::io_context server_ctx;
    tcp::acceptor acceptor(server_ctx, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    tcp::socket held(server_ctx);
    std::thread accept_one([&] {
        boost::system::error_code ec;
        acceptor.accept(held, ec);  // then say nothing
    });
    http_client_settings s;
    s.connect_timeout = 10s;
    s.request_timeout = 700ms;
    s.max_requests_per_second = 0;
    const auto start = std::chrono::steady_clock::now();
    auto r = get_one(s, "https://127.0.0.1:" + std::to_string(port) + "/");
    const auto took = std::chrono::steady_clock::now() - start;
    accept_one.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::remote_unavailable)) << r.error().describe();
    EXPECT_LT(took, 3s) << "the handshake waited for connect_timeout on top of the deadline";
}

TEST(http_client, body_over_limit_is_refused) {
    fake_http_server server([](const test::recorded_request&) {
        return reply{200, std::string(5000, 'a')};
    });
    auto s = plain_settings();
    s.max_body_bytes = 1000;
    auto r = get_one(s, server.base_url() + "/");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::too_large));
}

std::string gzip_text(const std::string& text) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, text.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    zs.avail_in = static_cast<uInt>(text.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

TEST(http_client, gzip_bodies_are_decoded_and_limited) {
    const std::string big = "{\"data\":[" + std::string(20000, ' ') + "]}";
    fake_http_server server([&big](const test::recorded_request&) {
        return reply{200, gzip_text(big), "application/json", {{"Content-Encoding", "gzip"}}};
    });
    auto r = get_one(plain_settings(), server.base_url() + "/");
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->body, big);
    auto s = plain_settings();
    s.max_body_bytes = 5000;  // the compressed body fits, the inflated one does not
    auto r2 = get_one(s, server.base_url() + "/");
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, make_error_code(errc::bad_payload));
}

awaitable<http_client_stats> send_concurrently(
    http_client_settings settings, std::string url, int n
) {
    auto ex = co_await net::this_coro::executor;
    auto client = http_client::create(ex, settings, system_clock_source::instance());
    std::size_t ok = 0;
    // Spawn n requests and wait for all of them.
    auto remaining = std::make_shared<int>(n);
    auto oks = std::make_shared<std::size_t>(0);
    for (int i = 0; i < n; ++i) {
        http_request req;
        req.url = url;
        net::co_spawn(
            ex,
            (*client)->send(req),
            [remaining, oks](std::exception_ptr, remote_result<http_response> r) {
                --*remaining;
                if (r && r->status == 200) {
                    ++*oks;
                }
            }
        );
    }
    while (*remaining > 0) {
        net::steady_timer t(ex, 10ms);
        co_await t.async_wait(use_nothrow);
    }
    ok = *oks;
    auto stats = (*client)->stats();
    stats.requests = ok;
    co_return stats;
}

TEST(http_client, connections_per_host_are_limited) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    server.set_fault_plan([](std::size_t, const test::recorded_request&) {
        return fault::delayed(50ms);
    });
    auto s = plain_settings();
    s.max_connections_per_host = 2;
    auto stats = test::run_awaitable(send_concurrently(s, server.base_url() + "/", 8));
    EXPECT_EQ(stats.requests, 8u);  // all answered 200
    EXPECT_LE(stats.max_concurrent_connections, 2u);
    EXPECT_LE(server.connection_count(), 2u);
    EXPECT_EQ(server.request_count(), 8u);
}

TEST(http_client, request_rate_is_limited) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    auto s = plain_settings();
    s.max_requests_per_second = 20;  // burst 20, then one every 50 ms
    std::vector<std::string> urls(30, server.base_url() + "/");
    const auto start = std::chrono::steady_clock::now();
    auto all = test::run_awaitable(send_all(s, urls));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(all.size(), 30u);
    // The limit's arithmetic is tested on a virtual clock (token_bucket_test); here only that
    // the client waits for it: a lower bound, which a slow machine cannot break.
    EXPECT_GE(elapsed, 400ms);
}

// TLS ------------------------------------------------------------------------------------------

struct tls_fixture : ::testing::Test {
    test::temp_dir dir;
    test::test_ca ca{dir.path(), "test-root"};

    http_client_settings settings() const {
        http_client_settings s;
        s.tls.ca_file = ca.cert_file();
        s.max_requests_per_second = 0;
        s.connect_timeout = 3s;
        s.request_timeout = 3s;
        return s;
    }
    static std::string url(const test::tls_test_server& server, const std::string& host) {
        return "https://" + host + ":" + std::to_string(server.port()) + "/health";
    }
};

TEST_F(tls_fixture, valid_chain_passes_by_name_and_by_ip) {
    const auto leaf = ca.issue({}, "server");
    test::tls_test_server server({leaf.cert, leaf.key, {}});
    auto r = get_one(settings(), url(server, "localhost"));
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->body, R"({"ok":true})");
    auto r2 = get_one(settings(), url(server, "127.0.0.1"));
    ASSERT_TRUE(r2) << r2.error().describe();
    EXPECT_EQ(server.requests(), 2u);
}

TEST_F(tls_fixture, wrong_host_name_is_refused) {
    test::cert_spec spec;
    spec.common_name = "primero.example.org";
    spec.dns_names = {"primero.example.org"};
    spec.ip_addresses = {};
    const auto leaf = ca.issue(spec, "wrong-host");
    test::tls_test_server server({leaf.cert, leaf.key, {}});
    for (const char* host : {"localhost", "127.0.0.1"}) {
        auto r = get_one(settings(), url(server, host));
        ASSERT_FALSE(r) << host;
        EXPECT_EQ(r.error().code, make_error_code(errc::tls_failed));
        EXPECT_NE(r.error().detail.find("mismatch"), std::string::npos) << r.error().detail;
    }
    EXPECT_EQ(server.requests(), 0u);
}

TEST_F(tls_fixture, expired_certificate_is_refused) {
    test::cert_spec spec;
    spec.valid_from_seconds = -7 * 86'400;
    spec.valid_until_seconds = -86'400;
    const auto leaf = ca.issue(spec, "expired");
    test::tls_test_server server({leaf.cert, leaf.key, {}});
    auto r = get_one(settings(), url(server, "localhost"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::tls_failed));
    EXPECT_NE(r.error().detail.find("expired"), std::string::npos) << r.error().detail;
}

TEST_F(tls_fixture, self_signed_certificate_is_refused) {
    const auto leaf = test::make_self_signed(dir.path(), {}, "self");
    test::tls_test_server server({leaf.cert, leaf.key, {}});
    auto r = get_one(settings(), url(server, "localhost"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::tls_failed));
    EXPECT_NE(r.error().detail.find("self-signed"), std::string::npos) << r.error().detail;
}

TEST_F(tls_fixture, unknown_ca_is_refused) {
    test::test_ca other(dir.path(), "other-root");
    const auto leaf = other.issue({}, "other-server");
    test::tls_test_server server({leaf.cert, leaf.key, {}});
    auto r = get_one(settings(), url(server, "localhost"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::tls_failed));
    EXPECT_NE(r.error().detail.find("issuer"), std::string::npos) << r.error().detail;
}

// The protocol version a client that still allows TLS 1.0 and 1.1 negotiates with the server on
// `port`, or "no handshake": the control for the test below (the server does speak TLS 1.1).
std::string version_an_old_client_gets(unsigned short port) {
    net::io_context ctx;
    net::ssl::context tls(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_VERSION);
    SSL_CTX_set_cipher_list(tls.native_handle(), "DEFAULT:@SECLEVEL=0");
    tls.set_verify_mode(net::ssl::verify_none);
    net::ssl::stream<tcp::socket> stream(ctx, tls);
    boost::system::error_code ec;
    stream.next_layer().connect({net::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) {
        stream.handshake(net::ssl::stream_base::client, ec);
    }
    return ec ? std::string("no handshake") : std::string(SSL_get_version(stream.native_handle()));
}

// A server that speaks only TLS 1.0 and 1.1 (an old appliance) is refused, TLS 1.2 being the
// minimum, and the error says that the protocol version is the reason.
TEST_F(tls_fixture, a_server_offering_only_tls_1_1_is_refused_naming_the_version) {
    const auto leaf = ca.issue({}, "server");
    test::tls_server_settings old;
    old.cert_file = leaf.cert;
    old.key_file = leaf.key;
    old.max_version = TLS1_1_VERSION;
    old.cipher_list = "DEFAULT:@SECLEVEL=0";  // Debian's default level refuses TLS 1.1
    test::tls_test_server server(old);
    ASSERT_EQ(version_an_old_client_gets(server.port()), "TLSv1.1");

    auto r = get_one(settings(), url(server, "localhost"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::tls_failed));
    const std::string& detail = r.error().detail;
    EXPECT_NE(detail.find("TLS handshake failed"), std::string::npos) << detail;
    EXPECT_NE(detail.find("older than TLS 1.2"), std::string::npos) << detail;
    EXPECT_NE(detail.find("requires TLS 1.2 or later"), std::string::npos) << detail;
    EXPECT_EQ(server.requests(), 0u);
}

// A server that closes the connection in the middle of the handshake: the error says so
// instead of a bare "TLS handshake failed".
TEST_F(tls_fixture, a_connection_closed_during_the_handshake_is_named) {
    net::io_context server_ctx;
    tcp::acceptor acceptor(server_ctx, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    std::thread accept_one([&] {
        tcp::socket socket(server_ctx);
        boost::system::error_code ec;
        acceptor.accept(socket, ec);
        std::array<char, 512> hello{};
        (void)socket.read_some(net::buffer(hello), ec);  // the ClientHello, then a FIN
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
    });
    auto r = get_one(settings(), "https://127.0.0.1:" + std::to_string(port) + "/");
    accept_one.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::tls_failed)) << r.error().describe();
    EXPECT_NE(r.error().detail.find("closed the connection during the"), std::string::npos)
        << r.error().detail;
}

TEST_F(tls_fixture, mutual_tls_works_when_configured) {
    const auto leaf = ca.issue({}, "server");
    test::test_ca client_ca(dir.path(), "client-root");
    test::cert_spec client_spec;
    client_spec.common_name = "casebridge";
    client_spec.client = true;
    client_spec.dns_names = {};
    client_spec.ip_addresses = {};
    const auto client_cert = client_ca.issue(client_spec, "client");
    test::tls_test_server server({leaf.cert, leaf.key, client_ca.cert_file()});

    auto without = get_one(settings(), url(server, "localhost"));
    ASSERT_FALSE(without);
    EXPECT_EQ(server.requests(), 0u);

    auto s = settings();
    s.tls.client_cert_file = client_cert.cert;
    s.tls.client_key_file = client_cert.key;
    auto with = get_one(s, url(server, "localhost"));
    ASSERT_TRUE(with) << with.error().describe();
    EXPECT_EQ(server.requests(), 1u);
}

// Sequential requests to one HTTPS host share one TLS connection; once the server closes it,
// the next request opens a new one (the idle connection is checked before reuse, so the
// request is not lost on the dead one).
TEST_F(tls_fixture, keep_alive_reuses_one_tls_connection_and_reconnects_after_close) {
    const auto leaf = ca.issue({}, "server");
    test::tls_test_server server({leaf.cert, leaf.key, {}});
    struct outcome {
        std::vector<remote_result<http_response>> first;
        std::size_t connections_after_first = 0;
        std::size_t opened_after_first = 0;
        std::vector<remote_result<http_response>> second;
        http_client_stats stats;
    };
    auto run = [&](net::any_io_executor ex) -> awaitable<outcome> {
        outcome out;
        auto client = http_client::create(ex, settings(), system_clock_source::instance());
        if (!client) {
            out.first.emplace_back(client.error());
            co_return out;
        }
        for (int i = 0; i < 5; ++i) {
            http_request req;
            req.url = url(server, "localhost");
            auto r = co_await (*client)->send(req);
            out.first.push_back(std::move(r));
        }
        out.connections_after_first = server.connections();
        out.opened_after_first = (*client)->stats().connections_opened;
        server.close_connections();
        for (int i = 0; i < 3; ++i) {
            http_request req;
            req.url = url(server, "localhost");
            auto r = co_await (*client)->send(req);
            out.second.push_back(std::move(r));
        }
        out.stats = (*client)->stats();
        co_return out;
    };
    const auto out = test::run_awaitable_with(run);
    ASSERT_EQ(out.first.size(), 5u);
    for (const auto& r : out.first) {
        ASSERT_TRUE(r) << r.error().describe();
        EXPECT_EQ(r->status, 200u);
    }
    EXPECT_EQ(out.connections_after_first, 1u);
    EXPECT_EQ(out.opened_after_first, 1u);
    ASSERT_EQ(out.second.size(), 3u);
    for (const auto& r : out.second) {
        ASSERT_TRUE(r) << r.error().describe();
        EXPECT_EQ(r->body, R"({"ok":true})");
    }
    EXPECT_EQ(server.connections(), 2u);  // one reconnect, then reuse again
    EXPECT_EQ(out.stats.connections_opened, 2u);
    EXPECT_EQ(out.stats.requests, 8u);
    EXPECT_EQ(server.requests(), 8u);
    EXPECT_EQ(server.failed_handshakes(), 0u);
}

TEST_F(tls_fixture, mismatched_client_key_is_a_config_error) {
    const auto a = ca.issue({}, "a");
    const auto b = ca.issue({}, "b");
    auto s = settings();
    s.tls.client_cert_file = a.cert;
    s.tls.client_key_file = b.key;
    net::io_context ctx;
    auto c = http_client::create(ctx.get_executor(), s, system_clock_source::instance());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, make_error_code(errc::invalid_config));
}

TEST(http_client, every_request_is_observed_in_the_duration_histogram) {
    fake_http_server server([](const test::recorded_request&) { return reply{200, "{}"}; });
    server.inject(fault::delayed(300ms));
    server.inject(fault::reset());
    duration_histogram h{0.25, 60};
    auto settings = plain_settings();
    settings.request_durations = &h;
    const auto u = server.base_url() + "/x";
    auto all = test::run_awaitable(send_all(settings, {u, u, u}));
    ASSERT_TRUE(all[0]);
    ASSERT_FALSE(all[1]);  // a failed request is observed too
    ASSERT_TRUE(all[2]);
    EXPECT_EQ(h.count(), 3);
    // The delayed answer took at least 300 ms, so it cannot sit in the first bucket; the other
    // two end well inside the 60 s request deadline.
    EXPECT_LE(h.bucket(0), 2);
    EXPECT_EQ(h.bucket(0) + h.bucket(1), 3);
    EXPECT_EQ(h.bucket(2), 0);
    EXPECT_GE(h.sum_seconds(), 0.3);
}

TEST(duration_histogram, buckets_are_upper_inclusive_and_extra_bounds_ignored) {
    duration_histogram h{0.1, 1};
    h.observe(100ms);  // on the bound: first bucket
    h.observe(101ms);
    h.observe(5s);
    h.observe(-1s);  // clamped to zero
    ASSERT_EQ(h.bounds().size(), 2u);
    EXPECT_EQ(h.bucket(0), 2);
    EXPECT_EQ(h.bucket(1), 1);
    EXPECT_EQ(h.bucket(2), 1);
    EXPECT_EQ(h.count(), 4);
    EXPECT_DOUBLE_EQ(h.sum_seconds(), 5.201);
    duration_histogram many{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    EXPECT_EQ(many.bounds().size(), duration_histogram::max_bounds);
}

}  // namespace
}  // namespace casebridge
