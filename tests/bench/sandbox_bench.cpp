// What one list request costs the Primero sandbox as its caseload grows: the adapter's query
// (a last_updated_at window, ordered by it, 100 a page) over a real loopback connection, at
// three caseloads in one run. A sandbox whose page cost grows with the caseload measures
// itself, not casebridge, in any benchmark above a few thousand cases.
//   build/<preset>/tests/bench/casebridge_sandbox_bench [CASES...]   (default: 1000 10000 50000)
// Prints, per caseload, the mean time of a page at the start of the window (every case in it)
// and of a page near its end.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "sandbox/primero/primero_sandbox.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using namespace casebridge;

namespace {

struct client {
    net::io_context ctx;
    net::ip::tcp::socket socket{ctx};
    std::string auth;

    client(unsigned short port, const std::string& user, const std::string& password)
        : auth("Basic " + base64_encode(user + ":" + password)) {
        socket.connect({net::ip::make_address("127.0.0.1"), port});
    }

    /// The body of GET `target`; exits on anything but 200.
    std::string get(const std::string& target) {
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::authorization, auth);
        http::write(socket, req);
        boost::beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        http::read(socket, buf, parser);
        auto& res = parser.get();
        if (res.result_int() != 200) {
            std::fprintf(stderr, "sandbox answered %u to %s\n", res.result_int(), target.c_str());
            std::exit(1);
        }
        return std::move(res.body());
    }
};

double mean_ms(client& c, const std::string& target, int times) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < times; ++i) {
        (void)c.get(target);
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
               .count() /
           times;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
            std::printf("usage: casebridge_sandbox_bench [CASES...]   (default: 1000 10000 50000)\n"
            );
            return 0;
        }
        sizes.push_back(std::strtoull(argv[i], nullptr, 10));
        if (sizes.back() < 200 || sizes.back() > 250000) {
            std::fprintf(stderr, "casebridge_sandbox_bench: CASES must be 200 to 250000\n");
            return 2;
        }
    }
    if (sizes.empty()) {
        sizes = {1000, 10000, 50000};
    }
    for (const auto n : sizes) {
        sandbox::primero_settings ps;
        ps.cases = n;
        ps.seed = 7;
        sandbox::primero_sandbox box(ps, system_clock_source::instance());
        const auto ids = box.case_ids();
        std::string near_end;
        // Three cases a second within one day, as a busy office makes them.
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const std::size_t sec = i / 3;
            char ts[160];
            std::snprintf(
                ts,
                sizeof ts,
                "2025-06-01T%02zu:%02zu:%02zu.%03zuZ",
                sec / 3600 % 24,
                sec / 60 % 60,
                sec % 60,
                i % 1000
            );
            box.set_last_updated(ids[i], ts);
            if (i + 150 == ids.size()) {
                near_end = std::string(ts, 19) + "Z";
            }
        }
        client c(box.server().port(), box.user_name(), box.password());
        const std::string shape = "&order_by=last_updated_at&order=asc&per=100&page=1";
        const double first = mean_ms(
            c,
            "/api/v2/cases?last_updated_at=0000-01-01T00:00:00Z..2026-01-01T00:00:00Z" + shape,
            20
        );
        const double last = mean_ms(
            c, "/api/v2/cases?last_updated_at=" + near_end + "..2026-01-01T00:00:00Z" + shape, 20
        );
        std::printf(
            "%7zu cases | page at the start of the window %8.2f ms | page near its end %8.2f ms\n",
            n,
            first,
            last
        );
    }
    return 0;
}
