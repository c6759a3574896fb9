#include "support/fake_http_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

namespace casebridge::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct outcome {
    boost::system::error_code ec;
    http::response<http::string_body> res;
};

// A blocking client: one request on its own connection, with a read deadline.
outcome fetch(const fake_http_server& server, const std::string& target, std::string body = {}) {
    net::io_context ctx;
    beast::tcp_stream stream(ctx);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    http::request<http::string_body> req{
        body.empty() ? http::verb::get : http::verb::post, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Basic dGVzdDp0ZXN0");
    req.body() = std::move(body);
    req.prepare_payload();
    outcome o;
    http::write(stream, req, o.ec);
    if (o.ec) {
        return o;
    }
    // Asynchronous read, so the deadline applies and a misbehaving server fails the test.
    stream.expires_after(std::chrono::seconds(5));
    beast::flat_buffer buf;
    http::async_read(stream, buf, o.res, [&o](boost::system::error_code e, std::size_t) {
        o.ec = e;
    });
    ctx.run();
    return o;
}

reply echo(const recorded_request& r) {
    return {200, R"({"data":{"target":")" + r.target + R"("}})"};
}

TEST(fake_http_server, answers_and_records_requests) {
    fake_http_server server(echo);
    EXPECT_EQ(server.base_url().rfind("http://127.0.0.1:", 0), 0u);
    EXPECT_NE(server.port(), 0);
    const auto o = fetch(server, "/api/v2/cases?per=10", R"({"data":{}})");
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.res.result_int(), 200u);
    EXPECT_EQ(o.res.body(), R"({"data":{"target":"/api/v2/cases?per=10"}})");
    const auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].method, "POST");
    EXPECT_EQ(reqs[0].headers.at("authorization"), "Basic dGVzdDp0ZXN0");
    EXPECT_EQ(reqs[0].body, R"({"data":{}})");
}

TEST(fake_http_server, injected_faults_apply_in_order_then_stop) {
    fake_http_server server(echo);
    server.inject(fault::error(503, "7"));
    server.inject(fault::too_many_requests("2"));
    const auto a = fetch(server, "/a");
    EXPECT_EQ(a.res.result_int(), 503u);
    EXPECT_EQ(a.res[http::field::retry_after], "7");
    const auto b = fetch(server, "/b");
    EXPECT_EQ(b.res.result_int(), 429u);
    EXPECT_EQ(b.res[http::field::retry_after], "2");
    EXPECT_EQ(fetch(server, "/c").res.result_int(), 200u);
    EXPECT_EQ(server.request_count(), 3u);
}

TEST(fake_http_server, reset_closes_without_answer) {
    fake_http_server server(echo);
    server.inject(fault::reset());
    const auto o = fetch(server, "/a");
    EXPECT_TRUE(o.ec);
    EXPECT_EQ(server.request_count(), 1u);  // the request did arrive
}

TEST(fake_http_server, truncated_body_is_short) {
    fake_http_server server(echo);
    server.inject(fault::truncated());
    const auto o = fetch(server, "/a-long-enough-target");
    EXPECT_EQ(o.ec, http::error::partial_message) << o.ec.message();
}

TEST(fake_http_server, malformed_json_has_valid_framing) {
    fake_http_server server(echo);
    server.inject(fault::malformed());
    const auto o = fetch(server, "/a");
    ASSERT_FALSE(o.ec);
    EXPECT_EQ(o.res.result_int(), 200u);
    EXPECT_EQ(o.res.body(), R"({"data":[{"id":"1",)");
}

TEST(fake_http_server, delay_and_stall) {
    fake_http_server server(echo);
    server.inject(fault::delayed(std::chrono::milliseconds(150)));
    const auto t0 = std::chrono::steady_clock::now();
    const auto o = fetch(server, "/a");
    EXPECT_FALSE(o.ec);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));

    server.inject(fault::stalled());
    net::io_context ctx;
    beast::tcp_stream stream(ctx);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    http::request<http::string_body> req{http::verb::get, "/stall", 11};
    req.prepare_payload();
    http::write(stream, req);
    // tcp_stream deadlines apply to asynchronous operations only.
    stream.expires_after(std::chrono::milliseconds(200));
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    boost::system::error_code ec;
    http::async_read(stream, buf, res, [&ec](boost::system::error_code e, std::size_t) { ec = e; });
    ctx.run_for(std::chrono::seconds(5));
    EXPECT_EQ(ec, beast::error::timeout);
}

TEST(fake_http_server, fault_plan_by_request_number) {
    fake_http_server server(echo);
    server.set_fault_plan([](std::size_t i, const recorded_request&) {
        return i % 2 == 0 ? fault::error(500) : fault::none();
    });
    EXPECT_EQ(fetch(server, "/0").res.result_int(), 500u);
    EXPECT_EQ(fetch(server, "/1").res.result_int(), 200u);
    EXPECT_EQ(fetch(server, "/2").res.result_int(), 500u);
}

TEST(fake_http_server, keep_alive_reuses_the_connection) {
    fake_http_server server(echo);
    net::io_context ctx;
    beast::tcp_stream stream(ctx);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    for (int i = 0; i < 3; ++i) {
        http::request<http::string_body> req{http::verb::get, "/k", 11};
        req.keep_alive(true);
        req.prepare_payload();
        http::write(stream, req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(stream, buf, res);
        EXPECT_EQ(res.result_int(), 200u);
    }
    EXPECT_EQ(server.connection_count(), 1u);
    EXPECT_EQ(server.request_count(), 3u);
}

}  // namespace
}  // namespace casebridge::test
