// The guarded JSON parser (upstream bodies, strict; files, with comments and located).
// Properties: a text that parses prints to a text that parses to the same value; the limits
// hold (depth, size); an error names a place and carries fixed text, never a value; every value
// of a located document is found again at a line of the text.
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "json/json.hpp"

namespace {

using namespace casebridge;

constexpr json::parse_limits limits{12, 64 * 1024};

std::size_t depth_of(const rapidjson::Value& v) {
    std::size_t deepest = 0;
    if (v.IsObject()) {
        for (const auto& m : v.GetObject()) {
            deepest = std::max(deepest, depth_of(m.value));
        }
        return deepest + 1;
    }
    if (v.IsArray()) {
        for (const auto& e : v.GetArray()) {
            deepest = std::max(deepest, depth_of(e));
        }
        return deepest + 1;
    }
    return 0;
}

void pointers(const rapidjson::Value& v, const std::string& at, std::vector<std::string>& out) {
    if (out.size() >= 64) {
        return;
    }
    out.push_back(at);
    if (v.IsObject()) {
        for (const auto& m : v.GetObject()) {
            pointers(
                m.value,
                at + "/" +
                    json::escape_pointer_token({m.name.GetString(), m.name.GetStringLength()}),
                out
            );
        }
    } else if (v.IsArray()) {
        for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
            pointers(v[i], at + "/" + std::to_string(i), out);
        }
    }
}

void check_error(const json::json_error& e, std::string_view text) {
    fuzz::require(!e.message.empty(), "an error has a message");
    fuzz::require(e.offset <= text.size(), "an error's offset is inside the text");
    if (e.code != errc::too_large) {
        fuzz::require(e.position.line >= 1, "an error names a line", e.message);
    }
    const auto d = e.describe("body.json");
    fuzz::require(d.rfind("body.json", 0) == 0, "describe starts with the origin");
    if (fuzz::has_value_sentinel_json(text)) {
        fuzz::require_no_sentinel(e.message, "json error message");
    }
}

void round_trip(const rapidjson::Document& doc, json::dialect d) {
    fuzz::require(depth_of(doc) <= limits.max_depth, "depth limit holds");
    const std::string printed = json::to_string(doc);
    auto again = json::parse(printed, json::dialect::strict, {limits.max_depth, 1 << 24});
    fuzz::require(static_cast<bool>(again), "printed JSON parses again");
    fuzz::require(json::canonical(doc) == json::canonical(*again), "round trip keeps the value");
    (void)d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    for (const auto d : {json::dialect::strict, json::dialect::with_comments}) {
        auto r = json::parse(text, d, limits);
        if (r) {
            fuzz::require(size <= limits.max_bytes, "size limit holds");
            round_trip(*r, d);
        } else {
            check_error(r.error(), text);
        }
    }
    auto located = json::parse_located(text, json::dialect::with_comments, limits);
    auto plain = json::parse(text, json::dialect::with_comments, limits);
    fuzz::require(
        static_cast<bool>(located) == static_cast<bool>(plain),
        "located and plain parsing agree on what parses"
    );
    if (located) {
        fuzz::require(
            json::canonical(located->doc) == json::canonical(*plain), "located parse, same value"
        );
        // LF, CR LF and a lone CR each end a line, as the parser counts them.
        std::size_t lines = 1;
        for (std::size_t i = 0; i < text.size(); ++i) {
            lines += text[i] == '\n' ||
                     (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'));
        }
        std::vector<std::string> ps;
        pointers(located->doc, "", ps);
        for (const auto& p : ps) {
            const auto pos = located->locate(p);
            fuzz::require(pos.line >= 1 && pos.line <= lines, "a value is located on a line");
        }
    } else {
        fuzz::require(located.error().code == plain.error().code, "both parsers give one code");
        check_error(located.error(), text);
    }
    return 0;
}
