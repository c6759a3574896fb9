#include "net/url.hpp"

#include <gtest/gtest.h>

namespace casebridge {
namespace {

http_url parsed(std::string_view text) {
    auto u = parse_http_url(text);
    EXPECT_TRUE(u) << text << ": " << (u ? "" : u.error().message());
    return u ? *u : http_url{};
}

url_errc refusal(std::string_view text) {
    const auto u = parse_http_url(text);
    EXPECT_FALSE(u) << text;
    if (u) {
        return url_errc{};
    }
    EXPECT_EQ(&u.error().category(), &url_category()) << text;
    return static_cast<url_errc>(u.error().value());
}

TEST(url, default_ports_for_http_and_https) {
    const auto a = parsed("https://primero.example.org/api/v2/cases?per=5");
    EXPECT_TRUE(a.tls);
    EXPECT_EQ(a.host, "primero.example.org");
    EXPECT_EQ(a.port, "443");
    EXPECT_EQ(a.target, "/api/v2/cases?per=5");
    EXPECT_EQ(a.host_header, "primero.example.org");

    const auto b = parsed("http://127.0.0.1/");
    EXPECT_FALSE(b.tls);
    EXPECT_EQ(b.port, "80");

    const auto c = parsed("http://localhost:8080/health");
    EXPECT_EQ(c.host, "localhost");
    EXPECT_EQ(c.port, "8080");
    EXPECT_EQ(c.host_header, "localhost:8080");

    // An empty port is the default one; the Host header keeps what was written.
    const auto d = parsed("https://example.org:/x");
    EXPECT_EQ(d.port, "443");
    EXPECT_EQ(d.host_header, "example.org:");

    // The scheme is case-insensitive (RFC 3986 §3.1).
    EXPECT_TRUE(parsed("HTTPS://example.org").tls);
}

TEST(url, target_is_origin_form_without_fragment) {
    EXPECT_EQ(parsed("https://example.org").target, "/");
    EXPECT_EQ(parsed("https://example.org?a=1").target, "/?a=1");
    EXPECT_EQ(parsed("https://example.org/a%20b?q=%2B#frag").target, "/a%20b?q=%2B");
    EXPECT_EQ(parsed("https://example.org/a/?").target, "/a/?");
}

TEST(url, loose_characters_in_path_and_query_are_sent_as_written) {
    // Rails-style filters: brackets and quotes that RFC 3986 wants escaped, written as they are.
    EXPECT_EQ(
        parsed("https://example.org/api/v2/cases?x=List[%22a%22]&status[0]=open").target,
        "/api/v2/cases?x=List[%22a%22]&status[0]=open"
    );
    EXPECT_EQ(parsed("http://[::1]:8080/a|b?q=\"c\"").target, "/a|b?q=\"c\"");
    EXPECT_FALSE(parse_http_url("https://example.org/a?x=[%zz]"));
}

TEST(url, ipv6_literal_hosts) {
    const auto a = parsed("http://[::1]:8443/x");
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(a.port, "8443");
    EXPECT_EQ(a.host_header, "[::1]:8443");
    EXPECT_EQ(a.target, "/x");

    const auto b = parsed("https://[2001:db8::7]");
    EXPECT_EQ(b.host, "2001:db8::7");
    EXPECT_EQ(b.port, "443");
    EXPECT_EQ(b.host_header, "[2001:db8::7]");

    EXPECT_EQ(refusal("https://[::1/x"), url_errc::bad_syntax);
    EXPECT_EQ(refusal("https://[::1]x/"), url_errc::bad_syntax);
    EXPECT_EQ(refusal("https://[v1.future]/"), url_errc::bad_host);
}

TEST(url, userinfo_is_refused) {
    EXPECT_EQ(refusal("https://user:secret@example.org/"), url_errc::userinfo);
    EXPECT_EQ(refusal("https://user@example.org/"), url_errc::userinfo);
    EXPECT_EQ(refusal("https://@example.org/"), url_errc::userinfo);
    // The message names the rule, never the credentials.
    const auto u = parse_http_url("https://user:secret@example.org/");
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().message().find("secret"), std::string::npos);
    EXPECT_NE(u.error().message().find("credentials"), std::string::npos);
}

TEST(url, other_refusals) {
    EXPECT_EQ(refusal("ftp://example.org/"), url_errc::not_http);
    EXPECT_EQ(refusal("example.org/path"), url_errc::bad_syntax);
    EXPECT_EQ(refusal("/relative"), url_errc::bad_syntax);
    EXPECT_EQ(refusal(""), url_errc::bad_syntax);
    EXPECT_EQ(refusal("https://exa mple.org/"), url_errc::bad_syntax);
    EXPECT_EQ(refusal("https:///path"), url_errc::no_host);
    EXPECT_EQ(refusal("https:path"), url_errc::no_host);
    EXPECT_EQ(refusal("https://example.org:0/"), url_errc::bad_port);
    EXPECT_EQ(refusal("https://example.org:65536/"), url_errc::bad_port);
    EXPECT_EQ(refusal("https://example.org:99999/"), url_errc::bad_port);
    EXPECT_EQ(refusal("https://ex%41mple.org/"), url_errc::bad_host);
    EXPECT_EQ(refusal("https://example.org/a%zz"), url_errc::bad_escape);
    EXPECT_EQ(refusal("https://example.org/a?b=%4"), url_errc::bad_escape);
}

TEST(url, bad_escape_is_refused_with_a_clear_error) {
    for (const char* s : {"%", "%4", "%zz", "a%g0b", "100%"}) {
        const auto d = percent_decode(s, plus_sign::literal);
        ASSERT_FALSE(d) << s;
        EXPECT_EQ(d.error(), make_error_code(url_errc::bad_escape));
        EXPECT_EQ(
            d.error().message(),
            "bad percent-escape: '%' must be followed by two hexadecimal digits"
        );
    }
    EXPECT_EQ(parse_query("a=%2", plus_sign::space).error(), url_errc::bad_escape);
    EXPECT_EQ(parse_request_target("/x%", plus_sign::literal).error(), url_errc::bad_escape);
    EXPECT_EQ(parse_request_target("/x?k%=v", plus_sign::literal).error(), url_errc::bad_escape);
}

TEST(url, percent_decode_and_plus) {
    EXPECT_EQ(*percent_decode("a%20b%2Bc+d%2fe", plus_sign::literal), "a b+c+d/e");
    EXPECT_EQ(*percent_decode("a%20b%2Bc+d%2fe", plus_sign::space), "a b+c d/e");
    EXPECT_EQ(*percent_decode("%C3%A9%00x", plus_sign::literal), std::string("\xc3\xa9\0x", 4));
    EXPECT_EQ(*percent_decode("", plus_sign::literal), "");
}

TEST(url, query_keys_and_values_are_decoded) {
    const auto q =
        parse_query("na%6De=J%C3%A9r%C3%B4me&a%3Db=c%26d&flag&&=empty", plus_sign::literal);
    ASSERT_TRUE(q);
    const query_params want = {
        {"name", "J\xc3\xa9r\xc3\xb4me"}, {"a=b", "c&d"}, {"flag", ""}, {"", "empty"}};
    EXPECT_EQ(*q, want);

    // Duplicates are kept, in order.
    EXPECT_EQ(*parse_query("s=1&s=2", plus_sign::literal), (query_params{{"s", "1"}, {"s", "2"}}));
    EXPECT_EQ(*parse_query("", plus_sign::literal), query_params{});
}

TEST(url, plus_in_queries) {
    // RFC 3339 offsets stay as sent where '+' is literal (the admin API)...
    EXPECT_EQ(
        *parse_query("since=2025-03-01T08:00:00+06:00", plus_sign::literal),
        (query_params{{"since", "2025-03-01T08:00:00+06:00"}})
    );
    // ...and are spaces in form bodies and Rails-style queries.
    EXPECT_EQ(
        *parse_query("q=a+b%2Bc&x+y=1", plus_sign::space),
        (query_params{{"q", "a b+c"}, {"x y", "1"}})
    );
}

TEST(url, request_targets) {
    const auto t = parse_request_target("/flows/a%2Fb//run/?since=x&limit=5", plus_sign::literal);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "/flows/a%2Fb//run/");
    EXPECT_EQ(t->segments, (std::vector<std::string>{"flows", "a/b", "run"}));
    EXPECT_EQ(t->query, (query_params{{"since", "x"}, {"limit", "5"}}));

    const auto root = parse_request_target("/", plus_sign::literal);
    ASSERT_TRUE(root);
    EXPECT_TRUE(root->segments.empty());
    EXPECT_TRUE(root->query.empty());

    // Brackets and other characters clients send unescaped are taken as themselves.
    const auto rails = parse_request_target(
        "/api/v2/cases?status[0]=open&status[1]=closed&q=a|b", plus_sign::space
    );
    ASSERT_TRUE(rails);
    EXPECT_EQ(
        rails->query, (query_params{{"status[0]", "open"}, {"status[1]", "closed"}, {"q", "a|b"}})
    );

    EXPECT_EQ(parse_request_target("", plus_sign::literal).error(), url_errc::bad_syntax);
    EXPECT_EQ(parse_request_target("flows", plus_sign::literal).error(), url_errc::bad_syntax);
    EXPECT_EQ(
        parse_request_target("http://x/flows", plus_sign::literal).error(), url_errc::bad_syntax
    );
}

TEST(url, target_path_stops_at_the_query) {
    EXPECT_EQ(target_path("/a/b?c=d?e"), "/a/b");
    EXPECT_EQ(target_path("/a%20b"), "/a%20b");
    EXPECT_EQ(target_path(""), "");
}

TEST(url, percent_encode_keeps_unreserved_only) {
    EXPECT_EQ(percent_encode("aZ09-._~"), "aZ09-._~");
    EXPECT_EQ(percent_encode("a b+c/d:e?f&g=h%"), "a%20b%2Bc%2Fd%3Ae%3Ff%26g%3Dh%25");
    EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
    EXPECT_EQ(percent_encode(std::string_view("\0", 1)), "%00");
    EXPECT_EQ(percent_encode("2025-03-01T08:00:00+06:00", ":"), "2025-03-01T08:00:00%2B06:00");
}

TEST(url, form_encode_round_trips) {
    const query_params p = {{"grant_type", "password"}, {"user name", "a+b&c=d é"}};
    const std::string body = form_encode(p);
    EXPECT_EQ(body, "grant_type=password&user%20name=a%2Bb%26c%3Dd%20%C3%A9");
    EXPECT_EQ(*parse_query(body, plus_sign::space), p);
}

}  // namespace
}  // namespace casebridge
