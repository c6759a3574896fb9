#include "json/json.hpp"

#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace casebridge::json {
namespace {

TEST(json_parse, accepts_plain_json) {
    const auto r = parse(R"({"case_id":"c-1","age":12,"services":[{"unique_id":"u1"}]})");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(std::string((*r)["case_id"].GetString()), "c-1");
    EXPECT_EQ((*r)["services"][0]["unique_id"], "u1");
}

TEST(json_parse, rejects_duplicate_key_at_top_level) {
    const auto r =
        parse("{\n  \"consent_for_services\": true,\n  \"consent_for_services\": false\n}");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::duplicate_key);
    EXPECT_EQ(r.error().pointer, "/consent_for_services");
    EXPECT_EQ(r.error().position.line, 3u);
    EXPECT_NE(r.error().message.find("consent_for_services"), std::string::npos);
}

TEST(json_parse, rejects_duplicate_key_in_nested_rows) {
    const auto r = parse(
        R"({"a":{"x":1},"services_section":[{"unique_id":"1"},{"unique_id":"2","unique_id":"3"}]})"
    );
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::duplicate_key);
    EXPECT_EQ(r.error().pointer, "/services_section/1/unique_id");
}

TEST(json_parse, same_key_in_sibling_objects_is_fine) {
    const auto r = parse(R"([{"id":1},{"id":2},{"id":3,"x":{"id":4}}])");
    ASSERT_TRUE(r) << r.error().message;
}

TEST(json_parse, duplicate_key_never_resolved_even_with_escapes) {
    // "\u0061" is "a": the same key written two ways.
    const auto r = parse(R"({"a":1,"\u0061":2})");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::duplicate_key);
}

// An object of `n` keys "k0".."k{n-1}", then `tail` (e.g. a repeated key) before the brace.
std::string many_keys(std::size_t n, const std::string& tail) {
    std::string s = "{";
    s.reserve(n * 14 + tail.size() + 2);
    for (std::size_t i = 0; i < n; ++i) {
        s += "\"k" + std::to_string(i) + "\":0,";
    }
    s += tail;
    s += '}';
    return s;
}

using clock = std::chrono::steady_clock;

/// Whole milliseconds in `d`, for the tests that compare two costs measured in one run.
long long ms(clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(json_parse, duplicate_among_many_keys_is_found_in_linear_time) {
    // 100,000 keys in one object and one repeated at the end. Checked against each earlier key
    // this took 1.8 s in a release build (200,000: 12 s); with a set per object it costs about
    // what the same keys cost spread over 100,000 small objects, whatever the machine's load.
    const std::size_t n = 100'000;
    const parse_limits limits{.max_depth = 64, .max_bytes = 64 << 20};
    std::string spread = "[";
    for (std::size_t i = 0; i < n; ++i) {
        spread += "{\"k" + std::to_string(i) + "\":0},";
    }
    spread += "{}]";
    const std::string text = many_keys(n, R"("k12345":1)");
    const auto t0 = clock::now();
    ASSERT_TRUE(parse(spread, dialect::strict, limits));
    const auto t1 = clock::now();
    const auto r = parse(text, dialect::strict, limits);
    const auto t2 = clock::now();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::duplicate_key);
    EXPECT_EQ(r.error().pointer, "/k12345");
    EXPECT_LT(ms(t2 - t1), 3 * ms(t1 - t0) + 200)
        << "one object: " << ms(t2 - t1) << " ms, the same keys in small objects: " << ms(t1 - t0)
        << " ms";
    // Without the repeat it parses, located too.
    const std::string fine = many_keys(n, R"("last":1)");
    EXPECT_TRUE(parse(fine, dialect::strict, limits));
    const auto located = parse_located(fine, dialect::strict, limits);
    ASSERT_TRUE(located);
    EXPECT_EQ(located->locate("/last").line, 1u);
}

// Keys of one length that share their first and last eight bytes have one quick fingerprint
// (core/text_fingerprint.hpp), as a text can be made to have. Such an object must still cost
// about what ordinary keys cost, and a repeat among them must still be found: parsed plain,
// with a backslash in the text (keys kept apart from it), and located.
TEST(json_parse, keys_made_to_share_a_fingerprint_cost_what_other_keys_cost) {
    const std::size_t n = 40'000;
    const parse_limits limits{.max_depth = 64, .max_bytes = 64 << 20};
    const auto key = [](std::size_t i) {
        std::string middle = std::to_string(i);
        return "headhead" + std::string(8 - middle.size(), '0') + middle + "tailtail";
    };
    const auto object = [&](const std::string& last, const std::string& extra) {
        std::string s = "{" + extra;
        for (std::size_t i = 0; i < n; ++i) {
            s += "\"" + key(i) + "\":0,";
        }
        return s + last + "}";
    };
    for (const std::string extra : {"", R"("note":"a \"quoted\" word",)"}) {
        const std::string ordinary = many_keys(n, extra + R"("last":1)");
        const std::string alike = object("\"" + key(n / 2) + "\":1", extra);
        const auto t0 = clock::now();
        ASSERT_TRUE(parse(ordinary, dialect::strict, limits));
        const auto t1 = clock::now();
        const auto r = parse(alike, dialect::strict, limits);
        const auto t2 = clock::now();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, errc::duplicate_key);
        EXPECT_EQ(r.error().pointer, "/" + key(n / 2));
        EXPECT_LT(ms(t2 - t1), 3 * ms(t1 - t0) + 200)
            << "alike keys: " << ms(t2 - t1) << " ms, ordinary keys: " << ms(t1 - t0) << " ms";
        const std::string fine = object(R"("last":1)", extra);
        ASSERT_TRUE(parse(fine, dialect::strict, limits));
        const auto located = parse_located(fine, dialect::strict, limits);
        ASSERT_TRUE(located);
        EXPECT_EQ(located->locate("/" + key(7)).line, 1u);
        const auto repeated = parse_located(alike, dialect::strict, limits);
        ASSERT_FALSE(repeated);
        EXPECT_EQ(repeated.error().pointer, "/" + key(n / 2));
    }
}

// A huge object, then many objects just large enough to need a key table: each costs what its
// own keys cost, not the size of the huge one's table (kept storage is bounded).
TEST(json_parse, objects_after_a_huge_one_cost_their_own_keys) {
    const parse_limits limits{.max_depth = 64, .max_bytes = 64 << 20};
    const std::size_t small = 40'000;
    std::string tail;
    for (std::size_t i = 0; i < small; ++i) {
        tail += "," + many_keys(17, R"("last":0)");
    }
    const std::string alone = "[{}" + tail + "]";
    const std::string after = "[" + many_keys(200'000, R"("last":0)") + tail + "]";
    const std::string huge = "[" + many_keys(200'000, R"("last":0)") + "]";
    const auto t0 = clock::now();
    ASSERT_TRUE(parse(alone, dialect::strict, limits));
    ASSERT_TRUE(parse(huge, dialect::strict, limits));
    const auto t1 = clock::now();
    const auto r = parse(after, dialect::strict, limits);
    const auto t2 = clock::now();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_LT(ms(t2 - t1), 3 * ms(t1 - t0) + 200)
        << "together: " << ms(t2 - t1) << " ms, apart: " << ms(t1 - t0) << " ms";
    // A repeat in the last small object is still found.
    const auto bad = parse(
        "[" + many_keys(200'000, R"("last":0)") + tail + "," + many_keys(17, R"("k3":1)") + "]",
        dialect::strict,
        limits
    );
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().pointer, "/" + std::to_string(small + 1) + "/k3");
}

// RapidJSON 1.1.0's SSE2 code (RAPIDJSON_SSE2) takes the control characters 0x1A-0x1F for
// ordinary ones, in parsing and in writing, depending on where they fall in a 16-byte block:
// JSON forbids them raw in a string. Checked at every alignment, so that defining it (for its
// speed) would be caught.
TEST(json_parse, raw_control_characters_are_refused_and_written_escaped_at_every_alignment) {
    for (const char control : {'\x01', '\x1a', '\x1b', '\x1f'}) {
        for (std::size_t at = 0; at < 32; ++at) {
            const std::string value = std::string(at, 'a') + control + std::string(40, 'b');
            const auto r = parse("{\"k\":\"" + value + "\"}");
            ASSERT_FALSE(r) << "control " << int(control) << " at " << at;
            EXPECT_EQ(r.error().code, errc::invalid_json);
            rapidjson::Document d(rapidjson::kObjectType);
            d.AddMember("k", rapidjson::Value(value.c_str(), d.GetAllocator()), d.GetAllocator());
            const std::string text = to_string(d);
            EXPECT_EQ(text.find(control), std::string::npos)
                << "written raw: control " << int(control) << " at " << at;
            const auto back = parse(text);
            ASSERT_TRUE(back) << back.error().message;
            EXPECT_EQ(std::string((*back)["k"].GetString()), value);
        }
    }
}

// Strings are unescaped in place, in a buffer the next parse on the thread writes over: a
// document must hold its own copies, escaped or not, keys and values alike.
TEST(json_parse, a_documents_strings_outlive_the_next_parse) {
    const auto first = parse(R"({"case_id":"c-1","n\u0061me":"R\u00e9za \"R\"","tags":["x\ny"]})");
    ASSERT_TRUE(first) << first.error().message;
    for (int i = 0; i < 3; ++i) {  // same length and shape, other bytes
        const auto other =
            parse(R"({"zzzz_id":"q-9","zzzzzz":"Qqqqqqqqqqqqqqqqqqq","zzzz":["qqqqq"]})");
        ASSERT_TRUE(other) << other.error().message;
    }
    ASSERT_TRUE(first->HasMember("name"));
    EXPECT_EQ(std::string((*first)["case_id"].GetString()), "c-1");
    EXPECT_EQ(std::string((*first)["name"].GetString()), "R\xc3\xa9za \"R\"");
    EXPECT_EQ(std::string((*first)["tags"][0].GetString()), "x\ny");
}

// Keys are compared where they stand once unescaped: a repeat written with an escape is found
// in a small object (compared one by one) and in a large one (by its table), by the recursive
// parser and by the iterative one (a depth limit above 256), and named unescaped.
TEST(json_parse, an_escaped_repeat_of_a_key_is_found_in_small_and_large_objects) {
    const std::pair<std::size_t, std::size_t> cases[] = {{3, 64}, {40, 64}, {3, 1000}, {40, 1000}};
    for (const auto& [n, depth] : cases) {
        const parse_limits limits{.max_depth = depth};
        const auto parse_at = [&limits](const std::string& text) {
            return json::parse(text, dialect::strict, limits);
        };
        const auto r = parse_at(many_keys(n, R"("na\u006de":1,"x\ty":2,"name":3)"));
        ASSERT_FALSE(r) << n << " keys, depth " << depth;
        EXPECT_EQ(r.error().code, errc::duplicate_key) << n << " keys, depth " << depth;
        EXPECT_EQ(r.error().pointer, "/name") << n << " keys, depth " << depth;
        const auto fine = parse_at(many_keys(n, R"("na\u006de":1,"x\ty":2,"nam":3)"));
        ASSERT_TRUE(fine) << n << " keys, depth " << depth << ": " << fine.error().message;
        EXPECT_EQ((*fine)["x\ty"].GetInt(), 2) << n << " keys, depth " << depth;
    }
}

TEST(json_parse, key_sets_are_per_object) {
    // Large siblings with the same keys are fine; a repeat inside a later object is found
    // and named under its own pointer, after a large object closed before it.
    std::string big = many_keys(100, R"("x":{"k1":0,"k2":0})");
    const auto ok = parse("[" + big + "," + big + "]");
    ASSERT_TRUE(ok) << ok.error().message;
    const auto bad = parse(R"({"a":)" + big + R"(,"b":)" + many_keys(50, R"("k7":1)") + "}");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, errc::duplicate_key);
    EXPECT_EQ(bad.error().pointer, "/b/k7");
    const auto inner = parse(R"({"a":)" + many_keys(40, R"("x":{"k1":0,"k1":0})") + "}");
    ASSERT_FALSE(inner);
    EXPECT_EQ(inner.error().pointer, "/a/x/k1");
}

TEST(json_parse, deep_nesting_is_refused_without_recursion) {
    // A million brackets would overflow a recursive parser's stack.
    const std::string deep(1'000'000, '[');
    const auto r = parse(deep);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::too_deep);
    const std::string ok = std::string(64, '[') + std::string(64, ']');
    EXPECT_TRUE(parse(ok));
    const std::string over = std::string(65, '[') + std::string(65, ']');
    EXPECT_FALSE(parse(over));
}

TEST(json_parse, too_deep_is_reported_at_the_bracket_past_the_limit) {
    // Up to 256 levels RapidJSON's recursive parser runs, above it the iterative one; both
    // report the first bracket past the limit.
    for (const std::size_t limit : {std::size_t{8}, std::size_t{64}, std::size_t{300}}) {
        std::string text;
        for (std::size_t i = 0; i <= limit; ++i) {
            text += i % 2 == 0 ? "{\"k\": " : "[1, ";
        }
        const auto r = parse(text, dialect::strict, {.max_depth = limit, .max_bytes = 1 << 20});
        ASSERT_FALSE(r) << limit;
        EXPECT_EQ(r.error().code, errc::too_deep) << limit;
        const auto last = text.find_last_of("{[");
        EXPECT_EQ(r.error().offset, last) << limit;
        EXPECT_EQ(r.error().position.column, last + 1) << limit;
    }
}

// Random edits of JSON text (a byte deleted, replaced or inserted, the text cut), parsed with
// a depth limit that runs RapidJSON's recursive parser and one that runs its iterative parser:
// the same document or the same error, at the same place.
TEST(json_parse, recursive_and_iterative_parsing_agree_on_damaged_text) {
    const std::string bases[] = {
        R"({"id":"c-1","age":12,"ratio":-0.5e3,"ok":true,"none":null,"name":"\u09b0\u09b9",)"
        R"("rows":[{"unique_id":"u1","n":[1,2,[3,{"x":"y"}]]},{"unique_id":"u2"}],"e":{}})",
        "[\"a\\\"b\", 1e400, 18446744073709551616, {\"k\": \"\xe0\xa6\xb0\"}, [], "
        "\"\\ud83d\\ude00\"]",
        R"({"a":{"a":{"a":{"a":[{"a":1,"b":2,"a2":3}]}}},"z":"\uDE00"})",
    };
    const std::string pieces = "{}[]\":,\\u0123456789eE.-+ tfn\x80\xbf\xc3\xed\xf4/*";
    int compared = 0;
    int failures = 0;
    for (const unsigned seed : {1U, 2U, 3U, 4U, 5U}) {
        std::mt19937 rng(seed);
        for (const auto& base : bases) {
            for (int round = 0; round < 400; ++round) {
                std::string text = base;
                const int edits = 1 + static_cast<int>(rng() % 3);
                for (int e = 0; e < edits && !text.empty(); ++e) {
                    const std::size_t at = rng() % text.size();
                    const char c = pieces[rng() % pieces.size()];
                    switch (rng() % 4) {
                        case 0:
                            text.erase(at, 1);
                            break;
                        case 1:
                            text[at] = c;
                            break;
                        case 2:
                            text.insert(at, 1, c);
                            break;
                        default:
                            text.resize(at);
                            break;
                    }
                }
                for (const auto d : {dialect::strict, dialect::with_comments}) {
                    const auto fast = parse(text, d, {.max_depth = 64, .max_bytes = 1 << 20});
                    const auto iterative =
                        parse(text, d, {.max_depth = 1000, .max_bytes = 1 << 20});
                    ++compared;
                    ASSERT_EQ(fast.has_value(), iterative.has_value()) << text;
                    if (fast) {
                        EXPECT_TRUE(*fast == *iterative) << text;
                        continue;
                    }
                    ++failures;
                    EXPECT_EQ(fast.error().code, iterative.error().code) << text;
                    EXPECT_EQ(fast.error().offset, iterative.error().offset) << text;
                    EXPECT_EQ(fast.error().pointer, iterative.error().pointer) << text;
                    EXPECT_EQ(fast.error().message, iterative.error().message) << text;
                }
            }
        }
    }
    // Most edits break the text; some leave it valid. Both kinds were compared.
    EXPECT_GT(failures, compared / 4);
    EXPECT_LT(failures, compared);
}

TEST(json_parse, size_limit) {
    const auto r =
        parse(R"({"a":"0123456789"})", dialect::strict, {.max_depth = 64, .max_bytes = 10});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::too_large);
}

TEST(json_parse, strict_rejects_comments_and_trailing_garbage) {
    EXPECT_FALSE(parse("{\"a\":1} // note"));
    EXPECT_FALSE(parse("{\"a\":1,}"));
    EXPECT_FALSE(parse("{\"a\":1} {\"b\":2}"));
    EXPECT_FALSE(parse("{\"a\":NaN}"));
    EXPECT_TRUE(parse("{\"a\":1} // note", dialect::with_comments));
    EXPECT_TRUE(parse("{\"a\":[1,2,],}", dialect::with_comments));
}

TEST(json_parse, text_after_a_nul_byte_is_not_ignored) {
    using namespace std::string_literals;
    // RapidJSON reads a C string: without the length it would stop at the NUL and accept
    // the object before it, whatever follows.
    for (const auto& text :
         {R"({"a":1})"s + '\0' + R"({"b":2})",
          R"({"a":1})"s + '\0',
          R"({"a":1})"s + '\0' + "garbage",
          "\0"s,
          "{\"a\":\"x"s + '\0' + "y\"}"}) {
        for (const auto d : {dialect::strict, dialect::with_comments}) {
            const auto r = parse(text, d);
            ASSERT_FALSE(r) << text.size();
            EXPECT_EQ(r.error().code, errc::invalid_json);
            EXPECT_EQ(r.error().offset, text.find('\0'));
            EXPECT_EQ(r.error().position.line, 1u);
            EXPECT_EQ(r.error().position.column, text.find('\0') + 1);
            EXPECT_NE(r.error().message.find("NUL"), std::string::npos) << r.error().message;
            EXPECT_FALSE(parse_located(text, d));
        }
    }
    test::temp_dir dir;
    const auto path = dir.write("c.json", "{\"a\": 1}\n"s + '\0' + "\n{\"b\": 2}\n");
    try {
        load_file(path);
        FAIL() << "a file with a NUL byte loaded";
    } catch (const file_error& e) {
        EXPECT_EQ(
            std::string(e.what()),
            path.string() +
                ":2:1: a NUL byte (U+0000); JSON text holds none, escaped \\u0000 "
                "in a string is fine"
        );
    }
    // The escaped form is a string like any other.
    const auto ok = parse(R"({"a":"x\u0000y"})");
    ASSERT_TRUE(ok);
    EXPECT_EQ((*ok)["a"].GetStringLength(), 3u);
}

TEST(json_parse, rejects_invalid_utf8) {
    const auto r = parse("{\"name\":\"\xC3\x28\"}");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::invalid_json);
}

TEST(json_parse, accepts_bengali_text) {
    const auto r = parse(R"({"name_first":"রহিম","name_last":"উদ্দিন"})");
    ASSERT_TRUE(r);
    EXPECT_EQ(std::string((*r)["name_first"].GetString()), "রহিম");
}

TEST(json_parse, syntax_error_names_line_and_column) {
    const auto r = parse("{\n  \"a\": 1,\n  \"b\": tru\n}");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::invalid_json);
    EXPECT_EQ(r.error().position.line, 3u);
    EXPECT_EQ(r.error().describe("x.json").rfind("x.json:3:", 0), 0u)
        << r.error().describe("x.json");
}

TEST(json_parse, a_number_beyond_a_double_is_an_error_at_its_place) {
    // Read as infinity, it could not be written back as JSON (found by the json fuzz target).
    for (const char* text : {"{\n  \"a\": [1, 2e308]\n}", "{\n  \"a\": [1, -1e400]\n}"}) {
        for (const auto d : {dialect::strict, dialect::with_comments}) {
            const auto r = parse(text, d);
            ASSERT_FALSE(r) << text;
            EXPECT_EQ(r.error().code, errc::invalid_json);
            EXPECT_EQ(r.error().position.line, 2u) << r.error().message;
            EXPECT_NE(r.error().message.find("double"), std::string::npos) << r.error().message;
        }
    }
    // RapidJSON refuses -1e400 itself; 2e308 it reads as infinity, refused by casebridge's
    // guard, which also names the array it is in.
    EXPECT_EQ(parse("{\n  \"a\": [1, 2e308]\n}").error().pointer, "/a");
    const auto located = parse_located("{\n  \"a\": [1, 2e308]\n}", dialect::with_comments);
    ASSERT_FALSE(located);
    EXPECT_EQ(located.error().position.line, 2u);
    const auto big = parse("[1.7976931348623157e308, -1.7976931348623157e308, 1e-400]");
    ASSERT_TRUE(big) << big.error().message;  // the largest double, and an underflow to zero
}

TEST(json_parse, a_utf8_sequence_cut_at_the_end_is_refused_without_reading_past_it) {
    // Found by the ping_status fuzz target: RapidJSON read the continuation bytes a lead byte
    // announces past the end of the text (AddressSanitizer: heap-buffer-overflow).
    for (const char* lead : {"\xEF", "\xF0", "\xF0\x9F", "\xC3"}) {
        const std::string text = std::string(R"({"status":"Completed","message":")") + lead;
        for (const auto d : {dialect::strict, dialect::with_comments}) {
            const auto r = parse(text, d);
            ASSERT_FALSE(r);
            EXPECT_EQ(r.error().code, errc::invalid_json);
        }
        EXPECT_FALSE(parse_located(text, dialect::with_comments));
    }
}

TEST(json_parse, an_escaped_surrogate_without_its_pair_is_refused) {
    // Found by the json fuzz target: RapidJSON 1.1.0 let \uDE00 alone through as bytes that
    // are not UTF-8, which no strict reader then accepted.
    for (const char* text :
         {R"(["a\ude00"])", R"({"k\uDC00":1})", R"(["\udfff x"])", R"(["x\uD800"])"}) {
        const auto r = parse(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().code, errc::invalid_json) << text;
        EXPECT_EQ(r.error().position.line, 1u) << text;
    }
    const auto pair = parse(R"(["\ud83d\ude00", "\u00e9", "\uffff"])");
    ASSERT_TRUE(pair) << pair.error().message;
    EXPECT_EQ(std::string((*pair)[0].GetString()), "\xF0\x9F\x98\x80");
}

TEST(json_parse, numbers_keep_their_types_and_values) {
    // Numbers are converted by std::from_chars (RapidJSON 1.1.0's full-precision conversion
    // read out of bounds on a long fraction of zeros; found by the json fuzz target).
    const auto r = parse(
        "[0, -0, 7, -7, 4294967295, 4294967296, -2147483648, -2147483649, "
        "18446744073709551615, 18446744073709551616, 0.1, -0.0, 1e-400, 5e-324, "
        "1.7976931348623157e308, 0.00000000000000000000000000000000000000000000000000e-300, "
        "12.5e1, 1E2]"
    );
    ASSERT_TRUE(r) << r.error().message;
    const auto& a = *r;
    EXPECT_TRUE(a[0].IsUint() && a[0].GetUint() == 0u);
    EXPECT_TRUE(a[1].IsInt() && a[1].GetInt() == 0);
    EXPECT_TRUE(a[2].IsUint() && a[2].GetUint() == 7u);
    EXPECT_TRUE(a[3].IsInt() && a[3].GetInt() == -7);
    EXPECT_TRUE(a[4].IsUint() && !a[4].IsInt() && a[4].GetUint() == 4294967295u);
    EXPECT_TRUE(a[5].IsUint64() && !a[5].IsUint() && a[5].GetUint64() == 4294967296u);
    EXPECT_TRUE(a[6].IsInt() && a[6].GetInt() == -2147483648);
    EXPECT_TRUE(a[7].IsInt64() && !a[7].IsInt() && a[7].GetInt64() == -2147483649LL);
    EXPECT_TRUE(a[8].IsUint64() && a[8].GetUint64() == 18446744073709551615ULL);
    EXPECT_TRUE(a[9].IsDouble() && a[9].GetDouble() == 18446744073709551616.0);
    EXPECT_TRUE(a[10].IsDouble() && a[10].GetDouble() == 0.1);
    EXPECT_TRUE(a[11].IsDouble() && a[11].GetDouble() == 0.0 && std::signbit(a[11].GetDouble()));
    EXPECT_TRUE(a[12].IsDouble() && a[12].GetDouble() == 0.0);
    EXPECT_TRUE(a[13].IsDouble() && a[13].GetDouble() > 0.0);
    EXPECT_TRUE(a[14].IsDouble() && a[14].GetDouble() == 1.7976931348623157e308);
    EXPECT_TRUE(a[15].IsDouble() && a[15].GetDouble() == 0.0);
    EXPECT_TRUE(a[16].IsDouble() && a[16].GetDouble() == 125.0);
    EXPECT_TRUE(a[17].IsDouble() && a[17].GetDouble() == 100.0);
    // Printed and read again, the same values.
    const auto again = parse(to_string(a));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(canonical(*again), canonical(a));
}

TEST(json_parse, truncated_body_is_an_error) {
    const auto r = parse(R"({"data":[{"id":"1",)");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::invalid_json);
}

TEST(json_located, locates_values_keys_and_array_rows) {
    const std::string text =
        "{\n"
        "  // a comment\n"
        "  \"flows\": [\n"
        "    {\"id\": \"a\"},\n"
        "    {\"id\": \"b\", \"purpose\": \"referral\"}\n"
        "  ],\n"
        "  \"a/b\": {\"~x\": 1}\n"
        "}\n";
    const auto r = parse_located(text);
    ASSERT_TRUE(r) << r.error().message;
    const auto p = r->locate("/flows/1/purpose");
    EXPECT_EQ(p.line, 5u);
    EXPECT_EQ(p.column, 17u);  // at the key "purpose"
    EXPECT_EQ(r->locate("/flows/1").line, 5u);
    EXPECT_EQ(r->locate("/flows/1").column, 5u);
    EXPECT_EQ(r->locate("/flows/0/id").line, 4u);
    EXPECT_EQ(r->locate("/a~1b/~0x").line, 7u);
    // A pointer below a recorded value falls back to the nearest ancestor.
    EXPECT_EQ(r->locate("/flows/1/missing").line, 5u);
}

TEST(json_located, columns_count_code_points) {
    const auto r = parse_located("{\"নাম\": 1, \"x\": 2}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->locate("/x").column, 12u);
}

// A text shaped like one that took 327 MB for 70 KB when every value kept its JSON Pointer:
// long keys nested deep, then many small values under them (each would repeat the whole deep
// path). About 1.4 MB, 250,000 values; the deep keys on line 1, then one row per line.
struct deep_and_wide {
    std::string text;
    std::string rows_pointer;  // of the array of rows
    std::size_t first_row_line = 0;
};

deep_and_wide make_deep_and_wide(std::size_t rows) {
    deep_and_wide out;
    out.text = "{";
    for (int depth = 0; depth < 16; ++depth) {
        const std::string key = "level_" + std::to_string(depth) + std::string(18, 'k');
        out.text += "\"" + key + "\": {";
        out.rows_pointer += "/" + key;
    }
    // Keys written with escapes in the text; their pointer tokens need ~1 and ~0.
    out.text += "\"a\\/b\": {\"~x\": {\"q\\\"uote\": [\n";
    out.rows_pointer += "/a~1b/~0x/q\"uote";
    out.first_row_line = 2;
    for (std::size_t i = 0; i < rows; ++i) {
        out.text += R"({"id": )" + std::to_string(i) + R"(, "v": [1, 2]})";
        out.text += i + 1 < rows ? ",\n" : "\n";
    }
    out.text += "]}}";
    out.text += std::string(16, '}');
    out.text += ",\n\"tail/~key\": null}\n";
    return out;
}

TEST(json_located, position_memory_is_proportional_to_the_text) {
    const std::size_t rows = 50'000;
    const auto input = make_deep_and_wide(rows);
    ASSERT_GT(input.text.size(), 1'000'000u);
    const auto r = parse_located(input.text);
    ASSERT_TRUE(r) << r.error().describe("<deep>");
    EXPECT_LT(r->position_bytes(), 8 * input.text.size())
        << "positions of a " << input.text.size() << "-byte text take " << r->position_bytes()
        << " bytes";

    // Positions are still right. A row is at its '{', a member at its key.
    const std::size_t row = 43'210;
    const std::string row_pointer = input.rows_pointer + "/" + std::to_string(row);
    const std::size_t line = input.first_row_line + row;
    EXPECT_EQ(r->locate(row_pointer).line, line);
    EXPECT_EQ(r->locate(row_pointer).column, 1u);
    EXPECT_EQ(r->locate(row_pointer + "/id").column, 2u);
    const std::size_t v_column = 10 + std::to_string(row).size();  // {"id": 43210, "v"
    EXPECT_EQ(r->locate(row_pointer + "/v").column, v_column);
    EXPECT_EQ(r->locate(row_pointer + "/v/1").line, line);
    EXPECT_EQ(r->locate(row_pointer + "/v/1").column, v_column + 9);  // "v": [1, 2
    EXPECT_EQ(r->locate(input.rows_pointer + "/0").line, input.first_row_line);
    EXPECT_EQ(r->locate(input.rows_pointer + "/49999").line, input.first_row_line + rows - 1);
    // The escaped keys, at their keys on line 1.
    const auto q = r->locate(input.rows_pointer);
    EXPECT_EQ(q.line, 1u);
    EXPECT_EQ(q.column, input.text.find("\"q\\\"uote\"") + 1);
    const auto tail = r->locate("/tail~1~0key");
    EXPECT_EQ(tail.line, input.first_row_line + rows + 1);
    EXPECT_EQ(tail.column, 1u);
    // Missing, out of range and non-canonical indexes fall back to the nearest ancestor.
    EXPECT_EQ(r->locate(input.rows_pointer + "/50000").line, 1u);
    EXPECT_EQ(r->locate(input.rows_pointer + "/0123").line, 1u);
    EXPECT_EQ(r->locate(row_pointer + "/v/1/deeper").column, v_column + 9);
    EXPECT_EQ(r->locate(row_pointer + "/nope").column, 1u);
    EXPECT_EQ(r->locate("/tail~2key").column, 1u);  // "~2" is no escape: the root, at 1:1
    EXPECT_EQ(r->locate("/tail~2key").line, 1u);
    EXPECT_EQ(r->locate("").line, 1u);
}

TEST(json_load_file, reports_file_line_column) {
    test::temp_dir dir;
    const auto path = dir.write("bad.json", "{\n  \"a\": 1,\n  \"a\": 2\n}\n");
    try {
        (void)load_file(path);
        FAIL() << "expected file_error";
    } catch (const file_error& e) {
        EXPECT_EQ(std::string(e.what()), path.string() + ":3:3: duplicate key \"a\" at /a");
        EXPECT_EQ(e.code(), errc::duplicate_key);
        EXPECT_EQ(e.pointer(), "/a");
    }
}

TEST(json_load_file, missing_file_and_directory) {
    test::temp_dir dir;
    try {
        (void)load_file(dir / "nope.json");
        FAIL();
    } catch (const file_error& e) {
        EXPECT_NE(
            std::string(e.what()).find("nope.json: cannot read file: No such file"),
            std::string::npos
        ) << e.what();
    }
    EXPECT_THROW((void)load_file(dir.path()), file_error);
}

TEST(json_load_file, accepts_comments_and_bom) {
    test::temp_dir dir;
    const auto path =
        dir.write("ok.jsonc", "\xEF\xBB\xBF// policy\n{\"a\": [1, 2,], /* x */ \"b\": 2}\n");
    const auto doc = load_file(path);
    EXPECT_EQ(doc.doc["b"].GetInt(), 2);
    EXPECT_EQ(doc.locate("/b").line, 2u);
}

TEST(json_parse, ignores_a_leading_bom_everywhere) {
    const auto r = parse("\xEF\xBB\xBF{\"a\": 1}");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ((*r)["a"].GetInt(), 1);
    const auto located = parse_located("\xEF\xBB\xBF{\"a\": 1}");
    ASSERT_TRUE(located);
    EXPECT_EQ(located->locate("/a").column, 3u);
}

TEST(json_parse, positions_count_lone_cr_and_crlf_as_line_ends) {
    for (const char* eol : {"\r", "\r\n", "\n"}) {
        const std::string text = std::string("{") + eol + "\"a\": 1," + eol + "\"a\": 2}";
        const auto r = parse_located(text);
        ASSERT_FALSE(r) << "a duplicate key is an error";
        EXPECT_EQ(r.error().position.line, 3u) << "line end " << (eol[0] == '\r' ? "CR" : "LF");
    }
}

TEST(json_canonical, sorts_keys_at_every_level) {
    const auto r = parse(R"({"b":1,"a":{"z":[{"y":1,"x":2}],"c":null}})");
    ASSERT_TRUE(r);
    EXPECT_EQ(canonical(*r), R"({"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1})");
}

TEST(json_pointer, escapes_tokens) {
    EXPECT_EQ(escape_pointer_token("a/b~c"), "a~1b~0c");
}

}  // namespace
}  // namespace casebridge::json
