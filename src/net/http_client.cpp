#include "net/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "core/histogram.hpp"
#include "net/token_bucket.hpp"
#include "net/url.hpp"

namespace casebridge {

namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

std::optional<std::string_view> http_response::header(std::string_view name) const {
    for (const auto& h : headers) {
        if (h.name == name) {
            return std::string_view(h.value);
        }
    }
    return std::nullopt;
}

std::vector<std::string_view> http_response::headers_named(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& h : headers) {
        if (h.name == name) {
            out.emplace_back(h.value);
        }
    }
    return out;
}

std::optional<errc> status_errc(unsigned status, bool has_retry_after) {
    if (status < 400) {
        return std::nullopt;
    }
    switch (status) {
        case 401:
        case 403:
            return errc::auth_failed;
        case 404:
        case 410:
            return errc::not_found;
        case 409:
            return errc::conflict;
        case 408:
        case 502:
        case 504:
            return errc::remote_unavailable;
        case 429:
            return errc::rate_limited;
        case 503:
            return has_retry_after ? errc::rate_limited : errc::remote_unavailable;
        default:
            // Other 5xx (500 included) are the server's trouble, not the record's: retried up
            // to max_attempts, then dead-lettered as retries_exhausted.
            return status >= 500 ? errc::remote_unavailable : errc::remote_rejected;
    }
}

remote_error error_from_status(const http_response& response) {
    const auto e = status_errc(response.status, response.retry_after.has_value());
    remote_error err;
    err.code = make_error_code(e.value_or(errc::remote_rejected));
    err.http_status = response.status;
    err.retry_after = response.retry_after;
    return err;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v, time_point now) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    if (v.empty()) {
        return std::nullopt;
    }
    if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (v.size() > 9) {
            return std::chrono::seconds(999'999'999);
        }
        long n = 0;
        for (char c : v) {
            n = n * 10 + (c - '0');
        }
        return std::chrono::seconds(n);
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    static constexpr std::string_view months[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (v.size() != 29 || v[3] != ',' || v.substr(25) != " GMT") {
        return std::nullopt;
    }
    const auto num = [&](std::size_t pos, std::size_t len) -> int {
        int n = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (v[i] < '0' || v[i] > '9') {
                return -1;
            }
            n = n * 10 + (v[i] - '0');
        }
        return n;
    };
    const int day = num(5, 2);
    const int year = num(12, 4);
    const int hour = num(17, 2);
    const int minute = num(20, 2);
    const int second = num(23, 2);
    int month = -1;
    for (int i = 0; i < 12; ++i) {
        if (v.substr(8, 3) == months[i]) {
            month = i;
        }
    }
    if (day < 1 || day > 31 || year < 1970 || month < 0 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t when = timegm(&tm);
    const auto at = std::chrono::system_clock::from_time_t(when);
    const auto delta = std::chrono::duration_cast<std::chrono::seconds>(at - now);
    return std::max(delta, std::chrono::seconds(0));
}

std::optional<std::string> gunzip(std::string_view data, std::size_t limit) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return std::nullopt;
    }
    std::string out;
    char chunk[16384];
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(chunk);
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            return std::nullopt;
        }
        out.append(chunk, sizeof(chunk) - zs.avail_out);
        if (out.size() > limit) {
            inflateEnd(&zs);
            return std::nullopt;
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);  // truncated stream
            return std::nullopt;
        }
    }
    inflateEnd(&zs);
    return out;
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return out;
}

// Why a TLS handshake failed, in words an operator can act on. Asio moves OpenSSL's error off
// the thread's error queue into `ec` (ERR_get_error in its engine), so the reason is read from
// `ec`; the queue is only a fallback.
std::string handshake_failure(const boost::system::error_code& ec) {
    unsigned long code = 0;
    if (ec.category() == net::error::get_ssl_category()) {
        code = static_cast<unsigned long>(ec.value());
    }
    if (code == 0) {
        code = ERR_peek_last_error();
    }
    ERR_clear_error();
    const int lib = code != 0 ? ERR_GET_LIB(code) : 0;
    const int reason = code != 0 ? ERR_GET_REASON(code) : 0;
    const char* text = code != 0 ? ERR_reason_error_string(code) : nullptr;
    const std::string openssl = text != nullptr ? text : "unknown reason";
    if (ec == ssl::error::stream_truncated || ec == net::error::eof ||
        ec == net::error::connection_reset ||
        (lib == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        // Some old servers hang up on a ClientHello without a version they know.
        return "TLS handshake failed: the server closed the connection during the handshake "
               "(a server without TLS 1.2 or later may do so)";
    }
    if (code == 0) {
        return "TLS handshake failed";
    }
    if (lib == ERR_LIB_SSL &&
        (reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
         reason == SSL_R_WRONG_SSL_VERSION || reason == SSL_R_VERSION_TOO_LOW)) {
        // The server answered with, or alerted about, a version below the TLS 1.2 minimum
        // (init_tls): it offers only TLS 1.1, 1.0 or SSL.
        return "TLS handshake failed: the server offers only protocol versions older than "
               "TLS 1.2 (" +
               openssl + "); casebridge requires TLS 1.2 or later";
    }
    return "TLS handshake failed: " + openssl;
}

/// Room kept in a connection's read buffer (beast reads as much as there is room for).
constexpr std::size_t read_room = 64 * 1024;

struct connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    steady::time_point idle_since{};
    bool reused = false;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    void close() {
        boost::system::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().socket().close(ignored);
    }
};

struct host_pool {
    std::vector<std::unique_ptr<connection>> idle;
    std::size_t open = 0;  // idle + in use + being opened
    std::deque<net::steady_timer*> waiters;
    std::optional<net_limits::token_bucket> bucket;  // made on first use, from the settings
};

// An idle keep-alive connection is reusable only if nothing is waiting on it: the server's
// FIN, a TLS close_notify or an RST all make it readable. Checked before reuse, so a request
// is never sent twice behind the caller's back.
bool still_open(connection& c) {
    auto& socket = c.lowest().socket();
    boost::system::error_code ec;
    boost::system::error_code ignored;
    socket.non_blocking(true, ec);
    if (ec) {
        return false;
    }
    char byte = 0;
    socket.receive(net::buffer(&byte, 1), tcp::socket::message_peek, ec);
    socket.non_blocking(false, ignored);
    return ec == net::error::would_block;
}

remote_error transport_error(const boost::system::error_code& ec, std::string_view phase) {
    if (ec == beast::error::timeout) {
        return make_remote_error(errc::remote_unavailable, "timeout during " + std::string(phase));
    }
    if (ec == http::error::body_limit) {
        return make_remote_error(errc::too_large, "response body over the size limit");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        return make_remote_error(errc::too_large, "response header over the size limit");
    }
    if (ec.category() == make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return make_remote_error(errc::bad_payload, "malformed HTTP response");
    }
    remote_error e = make_remote_error(
        errc::remote_unavailable,
        std::string(phase) + " failed: connection closed or reset (" + error_name(ec) + ")"
    );
    return e;
}

}  // namespace

struct http_client::impl {
    net::any_io_executor executor;
    http_client_settings settings;
    const clock_source* clock;
    ssl::context tls_ctx{ssl::context::tls_client};
    std::map<std::string, host_pool> pools;
    http_client_stats counters;
    bool default_paths_pending = false;

    impl(net::any_io_executor ex, http_client_settings s, const clock_source& c)
        : executor(std::move(ex)), settings(std::move(s)), clock(&c) {}

    remote_result<void> init_tls() {
        SSL_CTX* ctx = tls_ctx.native_handle();
        tls_ctx.set_options(
            ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1
        );
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        tls_ctx.set_verify_mode(ssl::verify_peer);
        boost::system::error_code ec;
        if (settings.tls.ca_file.empty()) {
            // The system's bundle is loaded on the first https connection: a client that only
            // talks plain HTTP on loopback (the sandboxes) never pays for parsing it.
            default_paths_pending = true;
        } else {
            tls_ctx.load_verify_file(settings.tls.ca_file.string(), ec);
        }
        if (ec) {
            return make_remote_error(errc::invalid_config, "CA bundle cannot be loaded");
        }
        const bool has_cert = !settings.tls.client_cert_file.empty();
        const bool has_key = !settings.tls.client_key_file.empty();
        if (has_cert != has_key) {
            return make_remote_error(
                errc::invalid_config, "client certificate and key must be given together"
            );
        }
        if (has_cert) {
            tls_ctx.use_certificate_chain_file(settings.tls.client_cert_file.string(), ec);
            if (ec) {
                return make_remote_error(
                    errc::invalid_config, "client certificate cannot be loaded"
                );
            }
            tls_ctx.use_private_key_file(
                settings.tls.client_key_file.string(), ssl::context::pem, ec
            );
            if (ec || SSL_CTX_check_private_key(ctx) != 1) {
                ERR_clear_error();
                return make_remote_error(
                    errc::invalid_config, "client key cannot be loaded or does not match"
                );
            }
        }
        return {};
    }

    // Waits for a rate token of `pool` (net/token_bucket.hpp). Real time, not the injected
    // clock: a test's frozen clock must not stop requests (the bucket's own tests run it on
    // virtual time).
    // False when the caller's run was stopped meanwhile (net/stop.hpp).
    awaitable<bool> take_token(host_pool& pool) {
        if (!pool.bucket) {
            pool.bucket.emplace(settings.max_requests_per_second);
        }
        for (;;) {
            const auto wait = pool.bucket->take(steady::now());
            if (wait == steady::duration::zero()) {
                co_return true;
            }
            net::steady_timer timer(executor, wait);
            co_await timer.async_wait(use_nothrow);
            const bool stopped = co_await cancelled();
            if (stopped) {
                co_return false;
            }
        }
    }

    /// True once the calling coroutine's Asio cancellation slot was emitted: its run is
    /// stopping (net/stop.hpp, stoppable). Never true for a caller that bound no slot.
    static awaitable<bool> cancelled() {
        const auto state = co_await net::this_coro::cancellation_state;
        co_return state.cancelled() != net::cancellation_type::none;
    }

    static remote_error stopped_error() {
        return make_remote_error(errc::cancelled, "request cancelled: its run is stopping");
    }

    void release(host_pool& pool, std::unique_ptr<connection> conn, bool reusable) {
        if (conn && reusable && pool.idle.size() < settings.max_idle_per_host) {
            conn->idle_since = steady::now();
            conn->reused = true;
            pool.idle.push_back(std::move(conn));
        } else {
            if (conn) {
                conn->close();
            }
            --pool.open;
        }
        if (!pool.waiters.empty()) {
            net::steady_timer* t = pool.waiters.front();
            pool.waiters.pop_front();
            t->cancel();
        }
    }

    awaitable<remote_result<std::unique_ptr<connection>>> open_connection(
        http_url url, steady::time_point deadline
    ) {
        auto conn = std::make_unique<connection>();
        // Reads are as large as the buffer's free room: without room, a page of 170 KB arrives
        // in reads of 512 bytes, each a system call and a timer set, and the part left in the
        // buffer is moved to its front before the next.
        conn->buffer.reserve(read_room);
        if (url.tls && default_paths_pending) {
            boost::system::error_code ec;
            tls_ctx.set_default_verify_paths(ec);
            if (ec) {
                co_return make_remote_error(
                    errc::invalid_config, "the system's CA bundle cannot be loaded"
                );
            }
            default_paths_pending = false;
        }
        if (url.tls) {
            conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(executor, tls_ctx);
        } else {
            conn->plain = std::make_unique<beast::tcp_stream>(executor);
        }
        // Name resolution has no timeout of its own: the deadline cancels it. Both sides hold
        // the resolver, so a timer firing as the answer arrives touches nothing freed.
        auto resolver = std::make_shared<tcp::resolver>(executor);
        net::steady_timer resolve_guard(executor);
        resolve_guard.expires_at(deadline);
        resolve_guard.async_wait([resolver](const boost::system::error_code& ec) {
            if (!ec) {
                resolver->cancel();
            }
        });
        auto [rec, endpoints] = co_await resolver->async_resolve(url.host, url.port, use_nothrow);
        resolve_guard.cancel();
        if (rec == net::error::operation_aborted && steady::now() >= deadline) {
            co_return make_remote_error(
                errc::remote_unavailable, "host name not resolved before the deadline"
            );
        }
        if (rec) {
            co_return make_remote_error(errc::remote_unavailable, "host name cannot be resolved");
        }
        conn->lowest().expires_at(deadline);
        auto [cec, ep] = co_await conn->lowest().async_connect(endpoints, use_nothrow);
        if (cec) {
            co_return transport_error(cec, "connect");
        }
        ++counters.connections_opened;
        if (!url.tls) {
            co_return conn;
        }
        SSL* ssl_handle = conn->tls->native_handle();
        boost::system::error_code aec;
        (void)net::ip::make_address(url.host, aec);
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!aec) {
            // An IP literal: no SNI (RFC 6066), and the name check is against IP SANs.
            if (X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str()) != 1) {
                co_return make_remote_error(errc::tls_failed, "cannot set the expected IP address");
            }
        } else {
            if (SSL_ctrl(
                    ssl_handle,
                    SSL_CTRL_SET_TLSEXT_HOSTNAME,
                    TLSEXT_NAMETYPE_host_name,
                    const_cast<char*>(url.host.c_str())
                ) != 1 ||
                SSL_set1_host(ssl_handle, url.host.c_str()) != 1) {
                ERR_clear_error();
                co_return make_remote_error(errc::tls_failed, "cannot set the expected host name");
            }
        }
        auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, use_nothrow);
        if (hec) {
            const long verify = SSL_get_verify_result(ssl_handle);
            if (verify != X509_V_OK) {
                ERR_clear_error();
                co_return make_remote_error(
                    errc::tls_failed,
                    std::string("certificate verification failed: ") +
                        X509_verify_cert_error_string(verify)
                );
            }
            if (hec == beast::error::timeout) {
                co_return transport_error(hec, "TLS handshake");
            }
            co_return make_remote_error(errc::tls_failed, handshake_failure(hec));
        }
        co_return conn;
    }

    awaitable<remote_result<std::unique_ptr<connection>>> acquire(
        std::string key, http_url url, steady::time_point deadline
    ) {
        for (;;) {
            host_pool& pool = pools[key];
            while (!pool.idle.empty()) {
                auto conn = std::move(pool.idle.back());
                pool.idle.pop_back();
                if (steady::now() - conn->idle_since < settings.idle_timeout && still_open(*conn)) {
                    co_return conn;
                }
                conn->close();
                --pool.open;
            }
            if (pool.open < std::max<std::size_t>(1, settings.max_connections_per_host)) {
                ++pool.open;
                counters.max_concurrent_connections =
                    std::max(counters.max_concurrent_connections, pool.open);
                auto opened = co_await open_connection(url, deadline);
                if (!opened) {
                    host_pool& p = pools[key];
                    release(p, nullptr, false);
                    co_return opened.error();
                }
                co_return std::move(*opened);
            }
            net::steady_timer timer(executor, deadline);
            pool.waiters.push_back(&timer);
            auto [ec] = co_await timer.async_wait(use_nothrow);
            host_pool& p = pools[key];
            p.waiters.erase(
                std::remove(p.waiters.begin(), p.waiters.end(), &timer), p.waiters.end()
            );
            const bool stopped = co_await cancelled();
            if (stopped) {
                co_return stopped_error();
            }
            if (!ec) {
                co_return make_remote_error(
                    errc::remote_unavailable, "timeout waiting for a free connection"
                );
            }
        }
    }

    template <typename Stream>
    awaitable<boost::system::error_code> exchange(
        Stream& stream,
        beast::flat_buffer& buffer,
        http::request<http::string_body>& req,
        http::response_parser<http::string_body>& parser,
        bool& wrote
    ) {
        auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
        if (wec) {
            co_return wec;
        }
        wrote = true;
        auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
        co_return rec;
    }

    awaitable<remote_result<http_response>> send(http_request request) {
        // A cancellation is sticky: an adapter that goes on after a cancelled request (a login
        // wait, a second call) gets no new request started for a stopped run.
        const bool stopped_before = co_await cancelled();
        if (stopped_before) {
            co_return stopped_error();
        }
        const auto url = parse_http_url(request.url);
        if (!url) {
            co_return make_remote_error(
                errc::invalid_config, "URL refused: " + url.error().message()
            );
        }
        if (!url->tls && !(settings.allow_plain_http_loopback && is_loopback_host(url->host))) {
            co_return make_remote_error(
                errc::invalid_config, "plain http is allowed only to loopback when configured"
            );
        }
        const auto verb = http::string_to_verb(request.method);
        if (verb == http::verb::unknown) {
            co_return make_remote_error(errc::invalid_config, "unknown HTTP method");
        }
        const std::string key = (url->tls ? "https://" : "http://") + url->host_header;
        ++counters.requests;
        host_pool& pool = pools[key];
        const bool token_taken = co_await take_token(pool);
        if (!token_taken) {
            co_return stopped_error();
        }

        http::request<http::string_body> req{verb, url->target, 11};
        req.set(http::field::host, url->host_header);
        req.set(http::field::user_agent, settings.user_agent);
        req.set(http::field::accept_encoding, settings.accept_gzip ? "gzip" : "identity");
        req.keep_alive(true);
        for (const auto& h : request.headers) {
            req.set(h.name, h.value);
        }
        req.body() = std::move(request.body);
        if (!req.body().empty() || verb == http::verb::post || verb == http::verb::patch ||
            verb == http::verb::put) {
            req.prepare_payload();
        }

        {
            // One deadline for the whole request (limits.timeout_seconds): resolving, connecting
            // and the TLS handshake (never longer than connect_timeout) come out of it, they
            // are not added to it. The wait for a rate-limit token before it is not the
            // remote's time and is not counted.
            const auto deadline = steady::now() + settings.request_timeout;
            const auto connect_deadline =
                std::min(deadline, steady::now() + settings.connect_timeout);
            auto acquired = co_await acquire(key, *url, connect_deadline);
            if (!acquired) {
                co_return acquired.error();
            }
            std::unique_ptr<connection> conn = std::move(*acquired);
            const bool stopped_meanwhile = co_await cancelled();
            if (stopped_meanwhile) {
                release(pools[key], std::move(conn), true);  // unused: it stays open for reuse
                co_return stopped_error();
            }
            http::response_parser<http::string_body> parser;
            parser.body_limit(settings.max_body_bytes);
            if (verb == http::verb::head) {
                parser.skip(true);
            }
            conn->lowest().expires_at(deadline);
            bool wrote = false;
            boost::system::error_code ec;
            if (conn->tls) {
                ec = co_await exchange(*conn->tls, conn->buffer, req, parser, wrote);
            } else {
                ec = co_await exchange(*conn->plain, conn->buffer, req, parser, wrote);
            }
            host_pool& p = pools[key];
            if (ec) {
                release(p, std::move(conn), false);
                co_return transport_error(ec, "request");
            }
            conn->lowest().expires_never();
            auto msg = parser.release();
            const bool reusable = msg.keep_alive();
            release(p, std::move(conn), reusable);

            http_response out;
            out.status = msg.result_int();
            for (const auto& f : msg) {
                out.headers.push_back({lower(f.name_string()), std::string(f.value())});
            }
            out.body = std::move(msg.body());
            if (const auto enc = out.header("content-encoding")) {
                const std::string e = lower(*enc);
                if (e == "gzip" || e == "x-gzip") {
                    auto plain = gunzip(out.body, settings.max_body_bytes);
                    if (!plain) {
                        remote_error err = make_remote_error(
                            errc::bad_payload, "gzip body is corrupt or over the size limit"
                        );
                        err.http_status = out.status;
                        co_return err;
                    }
                    out.body = std::move(*plain);
                } else if (e != "identity") {
                    remote_error err =
                        make_remote_error(errc::bad_payload, "unsupported Content-Encoding");
                    err.http_status = out.status;
                    co_return err;
                }
            }
            if (const auto ra = out.header("retry-after")) {
                out.retry_after = parse_retry_after(*ra, clock->now());
            }
            co_return out;
        }
    }
};

remote_result<std::unique_ptr<http_client>> http_client::create(
    net::any_io_executor executor, http_client_settings settings, const clock_source& clock
) {
    auto p = std::make_unique<impl>(std::move(executor), std::move(settings), clock);
    if (auto r = p->init_tls(); !r) {
        return r.error();
    }
    return std::unique_ptr<http_client>(new http_client(std::move(p)));
}

http_client::http_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

http_client::~http_client() {
    for (auto& [key, pool] : impl_->pools) {
        for (auto& c : pool.idle) {
            c->close();
        }
    }
}

awaitable<remote_result<http_response>> http_client::send(http_request request) {
    duration_histogram* h = impl_->settings.request_durations;
    const auto start = impl_->clock->steady_now();
    auto r = co_await impl_->send(std::move(request));
    if (h != nullptr) {
        h->observe(impl_->clock->steady_now() - start);
    }
    // A request its run stopped (an aborted connect, write or read) is not the remote's
    // failure: it is reported as cancelled, and its connection was closed, never reused.
    // Awaited on its own line: GCC 12 fails on a co_await inside a && condition.
    if (!r && r.error().code != make_error_code(errc::cancelled)) {
        const bool stopped = co_await impl::cancelled();
        if (stopped) {
            co_return impl::stopped_error();
        }
    }
    co_return r;
}

http_client_stats http_client::stats() const {
    return impl_->counters;
}

}  // namespace casebridge
