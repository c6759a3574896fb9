// casebridge's own HTTP server (admin API, hub): deadlines, a connection cap, admission before
// the body, 413/431, handlers that wait without blocking others, and a stop that never hangs.
// Clients are plain blocking sockets on loopback, so each test says exactly what is on the wire.
#include "net/http_server.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "net/handoff.hpp"
#include "support/thread_names.hpp"

namespace casebridge::httpd {
namespace {

using namespace std::chrono_literals;
using tcp = net::ip::tcp;

/// A blocking client connection.
class client {
public:
    explicit client(unsigned short port) : socket_(ctx_) {
        socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    }
    void send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }
    /// Everything the server sends until it closes the connection (or `limit` passes).
    std::string read_until_closed(std::chrono::milliseconds limit = 5s) {
        std::string out;
        const auto end = std::chrono::steady_clock::now() + limit;
        socket_.non_blocking(true);
        char buf[4096];
        while (std::chrono::steady_clock::now() < end) {
            boost::system::error_code ec;
            const auto n = socket_.read_some(net::buffer(buf), ec);
            if (ec == net::error::would_block) {
                std::this_thread::sleep_for(5ms);
                continue;
            }
            if (ec) {
                closed_ = true;
                break;
            }
            out.append(buf, n);
        }
        return out;
    }
    /// One response (headers and a Content-Length body), leaving the connection open.
    std::string read_response() {
        std::string out;
        char c = 0;
        while (out.find("\r\n\r\n") == std::string::npos) {
            net::read(socket_, net::buffer(&c, 1));
            out += c;
        }
        const auto cl = out.find("Content-Length: ");
        const std::size_t n = std::stoul(out.substr(cl + 16));
        std::string body(n, '\0');
        net::read(socket_, net::buffer(body));
        return out + body;
    }
    bool closed() const { return closed_; }

private:
    net::io_context ctx_;
    tcp::socket socket_;
    bool closed_ = false;
};

response ok(std::string body) {
    response r;
    r.body = std::move(body);
    return r;
}

/// A service that refuses requests without "Authorization: yes", allows 16-byte bodies and
/// echoes the method, target and body length.
service echo_service() {
    service s;
    s.admit = [](const request& head) {
        admission a;
        if (head.header("authorization") != "yes") {
            response r;
            r.status = 401;
            r.body = "{}";
            a.refuse = r;
        }
        a.body_limit = 16;
        return a;
    };
    s.handle = [](request req) -> awaitable<response> {
        co_return ok(req.method + " " + req.target + " " + std::to_string(req.body.size()));
    };
    return s;
}

std::string get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n" + extra + "\r\n";
}

TEST(http_server, answers_keep_alive_requests_with_no_store) {
    server s("127.0.0.1", 0, echo_service());
    client c(s.port());
    c.send(get("/a"));
    const auto first = c.read_response();
    EXPECT_NE(first.find("HTTP/1.1 200 OK"), std::string::npos) << first;
    EXPECT_NE(first.find("Cache-Control: no-store"), std::string::npos) << first;
    EXPECT_NE(first.find("GET /a 0"), std::string::npos) << first;
    c.send("POST /b HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\nContent-Length: 5\r\n\r\nhello");
    const auto second = c.read_response();
    EXPECT_NE(second.find("POST /b 5"), std::string::npos) << second;
}

// The server's thread is named, so that top -H and /proc tell it from the others.
TEST(http_server, serves_on_a_thread_named_cb_http) {
    server s("127.0.0.1", 0, echo_service());
    EXPECT_TRUE(test::has_thread_named("cb-http"));
}

TEST(http_server, refuses_before_reading_the_body) {
    server s("127.0.0.1", 0, echo_service());
    client c(s.port());
    // A 31 MiB body is announced; only the header is sent. The refusal comes at once and the
    // connection closes (the body is never read).
    c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 32505856\r\n\r\n");
    const auto t0 = std::chrono::steady_clock::now();
    const auto answer = c.read_until_closed();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 401", 0), 0u) << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
    EXPECT_TRUE(c.closed());
}

TEST(http_server, an_oversized_body_gets_413_and_an_oversized_header_431) {
    server s("127.0.0.1", 0, echo_service());
    {
        client c(s.port());
        c.send(
            "POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\nContent-Length: 17\r\n\r\n" +
            std::string(17, 'b')
        );
        const auto answer = c.read_until_closed();
        EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
    }
    {
        client c(s.port());
        c.send(get("/x", "X-Filler: " + std::string(20000, 'f') + "\r\n"));
        const auto answer = c.read_until_closed();
        EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer;
    }
}

TEST(http_server, a_trickled_header_and_an_idle_connection_are_cut_off) {
    server_settings st;
    st.header_timeout = 300ms;
    st.idle_timeout = 300ms;
    server s("127.0.0.1", 0, echo_service(), st);
    client slow(s.port());
    const auto t0 = std::chrono::steady_clock::now();
    // One byte every 100 ms: each arrives before any per-read timeout would fire, but the
    // header as a whole takes longer than its deadline.
    for (char ch : std::string("GET /slow HTTP/1.1\r\n")) {
        boost::system::error_code ignored;
        try {
            slow.send(std::string(1, ch));
        } catch (const std::exception&) {
            break;  // the server closed the connection
        }
        std::this_thread::sleep_for(100ms);
        if (std::chrono::steady_clock::now() - t0 > 1500ms) {
            break;
        }
    }
    slow.read_until_closed(2s);
    EXPECT_TRUE(slow.closed());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);

    client idle(s.port());
    idle.send(get("/once"));
    EXPECT_NE(idle.read_response().find("GET /once 0"), std::string::npos);
    const auto t1 = std::chrono::steady_clock::now();
    idle.read_until_closed(3s);
    EXPECT_TRUE(idle.closed()) << "an idle keep-alive connection stays open";
    EXPECT_LT(std::chrono::steady_clock::now() - t1, 2500ms);
}

TEST(http_server, connections_over_the_cap_are_closed_at_once) {
    server_settings st;
    st.max_connections = 2;
    server s("127.0.0.1", 0, echo_service(), st);
    client a(s.port());
    client b(s.port());
    a.send(get("/a"));
    EXPECT_NE(a.read_response().find("GET /a"), std::string::npos);
    b.send(get("/b"));
    EXPECT_NE(b.read_response().find("GET /b"), std::string::npos);
    client c(s.port());
    c.read_until_closed(2s);
    EXPECT_TRUE(c.closed()) << "a third connection was served over a cap of two";
    // The two within the cap still work.
    a.send(get("/a2"));
    EXPECT_NE(a.read_response().find("GET /a2"), std::string::npos);
    EXPECT_EQ(s.open_connections(), 2u);
}

TEST(http_server, a_waiting_handler_blocks_nothing_and_a_stop_never_hangs) {
    auto pending = std::make_shared<handoff<std::string>>();
    service svc = echo_service();
    svc.handle = [pending](request req) -> awaitable<response> {
        if (req.target == "/wait") {
            co_return ok(co_await handoff<std::string>::wait(pending));
        }
        co_return ok("fast");
    };
    auto s = std::make_unique<server>("127.0.0.1", 0, svc);
    client waiting(s->port());
    waiting.send(get("/wait"));
    client other(s->port());
    other.send(get("/health"));
    EXPECT_NE(other.read_response().find("fast"), std::string::npos);
    pending->set("done");
    EXPECT_NE(waiting.read_response().find("done"), std::string::npos);

    // A handler that never gets its answer: the server still stops at once.
    auto never = std::make_shared<handoff<std::string>>();
    svc.handle = [never](request) -> awaitable<response> {
        co_return ok(co_await handoff<std::string>::wait(never));
    };
    auto s2 = std::make_unique<server>("127.0.0.1", 0, svc);
    client stuck(s2->port());
    stuck.send(get("/forever"));
    std::this_thread::sleep_for(100ms);
    const auto t0 = std::chrono::steady_clock::now();
    s2.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    never->set("too late");  // after the server is gone: dropped, nothing touched
}

}  // namespace
}  // namespace casebridge::httpd
