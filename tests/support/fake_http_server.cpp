// The tests' fake server, built on casebridge's own HTTP server (net/http_server): a handler, a
// record of every request, and faults chosen per request.
#include "support/fake_http_server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "net/async.hpp"
#include "net/http_server.hpp"

namespace casebridge::test {

struct fake_http_server::impl {
    mutable std::mutex mutex;
    handler on_request;
    fault_plan plan;
    std::deque<fault> injected;
    std::vector<recorded_request> log;
    bool tls = false;
    std::unique_ptr<httpd::server> server;  // last: stopped before the state it uses goes

    // Records the request and picks its fault and reply, under the lock.
    std::pair<fault, reply> admit(recorded_request req) {
        std::unique_lock lock(mutex);
        const std::size_t index = log.size();
        log.push_back(req);
        fault f;
        if (!injected.empty()) {
            f = injected.front();
            injected.pop_front();
        } else if (plan) {
            f = plan(index, req);
        }
        handler h = on_request;
        lock.unlock();
        reply r = h ? h(req) : reply{404, R"({"error":"no handler"})"};
        return {f, std::move(r)};
    }

    static httpd::response wire_form(reply r, httpd::connection_ending ending) {
        httpd::response out;
        out.status = r.status;
        out.body = std::move(r.body);
        out.content_type = std::move(r.content_type);
        out.headers = std::move(r.headers);
        out.headers.emplace_back("Server", "casebridge-test");
        out.ending = ending;
        return out;
    }

    awaitable<httpd::response> handle(httpd::request in) {
        recorded_request req;
        req.method = std::move(in.method);
        req.target = std::move(in.target);
        req.headers = std::move(in.headers);
        req.body = std::move(in.body);
        req.connection = in.connection;
        req.client_cn = std::move(in.peer_common_name);
        auto [f, r] = admit(std::move(req));
        using ending = httpd::connection_ending;
        switch (f.kind) {
            case fault_kind::none:
                break;
            case fault_kind::delay: {
                net::steady_timer timer(co_await net::this_coro::executor, f.delay);
                co_await timer.async_wait(use_nothrow);
                break;
            }
            case fault_kind::status:
                r = reply{
                    f.status,
                    R"({"errors":[{"status":)" + std::to_string(f.status) +
                        R"(,"message":"injected fault"}]})"};
                if (!f.retry_after.empty()) {
                    r.headers.emplace_back("Retry-After", f.retry_after);
                }
                break;
            case fault_kind::rate_limit:
                r = reply{429, R"({"errors":[{"status":429,"message":"rate limited"}]})"};
                r.headers.emplace_back("Retry-After", f.retry_after);
                break;
            case fault_kind::reset:
                co_return wire_form(std::move(r), ending::reset);
            case fault_kind::truncate_body:
                co_return wire_form(std::move(r), ending::truncated_body);
            case fault_kind::malformed_json:
                r.body = R"({"data":[{"id":"1",)";
                r.status = 200;
                break;
            case fault_kind::stall: {
                // Never answered: the wait ends only when the server stops.
                net::steady_timer timer(co_await net::this_coro::executor, std::chrono::hours(24));
                co_await timer.async_wait(use_nothrow);
                co_return wire_form(std::move(r), ending::reset);
            }
        }
        co_return wire_form(std::move(r), ending::answer);
    }
};

fake_http_server::fake_http_server(handler h) : fake_http_server(std::move(h), fake_tls{}) {}

fake_http_server::fake_http_server(handler h, fake_tls tls) : impl_(std::make_unique<impl>()) {
    impl_->on_request = std::move(h);
    httpd::service svc;
    svc.admit = [](const httpd::request&) {
        httpd::admission a;
        a.body_limit = 64 * 1024 * 1024;
        return a;
    };
    svc.handle = [i = impl_.get()](httpd::request req) { return i->handle(std::move(req)); };
    httpd::server_settings settings;
    settings.max_connections = 1024;
    if (!tls.cert_file.empty()) {
        impl_->tls = true;
        settings.tls = httpd::server_tls{tls.cert_file, tls.key_file, tls.client_ca_file};
    }
    impl_->server = std::make_unique<httpd::server>("127.0.0.1", 0, std::move(svc), settings);
    port_ = impl_->server->port();
}

fake_http_server::~fake_http_server() {
    impl_->server.reset();  // joins the server's thread before the state it uses goes
}

std::string fake_http_server::base_url() const {
    return (impl_->tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
}

std::size_t fake_http_server::failed_handshakes() const {
    return impl_->server->failed_handshakes();
}

void fake_http_server::inject(fault f, std::size_t times) {
    std::lock_guard lock(impl_->mutex);
    for (std::size_t i = 0; i < times; ++i) {
        impl_->injected.push_back(f);
    }
}

void fake_http_server::set_fault_plan(fault_plan plan) {
    std::lock_guard lock(impl_->mutex);
    impl_->plan = std::move(plan);
}

void fake_http_server::set_handler(handler h) {
    std::lock_guard lock(impl_->mutex);
    impl_->on_request = std::move(h);
}

std::vector<recorded_request> fake_http_server::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->log;
}

std::size_t fake_http_server::request_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->log.size();
}

std::size_t fake_http_server::connection_count() const {
    return impl_->server->accepted_connections();
}

}  // namespace casebridge::test
