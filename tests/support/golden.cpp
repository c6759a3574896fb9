#include "support/golden.hpp"

#include <cstdlib>
#include <fstream>

#include "json/json.hpp"

namespace casebridge::test {

namespace {

std::string diff(const rapidjson::Value& a, const rapidjson::Value& b, const std::string& at) {
    const std::string here = at.empty() ? "/" : at;
    if (a.GetType() != b.GetType()) {
        return here;
    }
    if (a.IsObject()) {
        for (const auto& m : a.GetObject()) {
            const std::string key(m.name.GetString(), m.name.GetStringLength());
            const auto it = b.FindMember(m.name);
            const auto p = at + "/" + json::escape_pointer_token(key);
            if (it == b.MemberEnd()) {
                return p;
            }
            if (auto d = diff(m.value, it->value, p); !d.empty()) {
                return d;
            }
        }
        for (const auto& m : b.GetObject()) {
            if (!a.HasMember(m.name)) {
                return at + "/" +
                       json::escape_pointer_token({m.name.GetString(), m.name.GetStringLength()});
            }
        }
        return {};
    }
    if (a.IsArray()) {
        const auto n = std::min(a.Size(), b.Size());
        for (rapidjson::SizeType i = 0; i < n; ++i) {
            if (auto d = diff(a[i], b[i], at + "/" + std::to_string(i)); !d.empty()) {
                return d;
            }
        }
        return a.Size() == b.Size() ? std::string{} : at + "/" + std::to_string(n);
    }
    return a == b ? std::string{} : here;
}

}  // namespace

std::string first_difference(const rapidjson::Value& a, const rapidjson::Value& b) {
    return diff(a, b, "");
}

std::string compare_golden(
    const rapidjson::Value& actual, const std::filesystem::path& expected_path
) {
    const char* update = std::getenv("CASEBRIDGE_UPDATE_GOLDEN");
    if (update != nullptr && std::string(update) == "1") {
        std::ofstream(expected_path, std::ios::binary | std::ios::trunc)
            << json::to_string(actual, true) << '\n';
        return {};
    }
    auto text = json::read_file(expected_path);
    if (!text) {
        return expected_path.string() + ": missing (run with CASEBRIDGE_UPDATE_GOLDEN=1)";
    }
    auto expected = json::parse(*text);
    if (!expected) {
        return expected_path.string() + ": " + expected.error().message;
    }
    if (json::canonical(actual) == json::canonical(*expected)) {
        return {};
    }
    auto actual_path = expected_path;
    actual_path.replace_extension();  // .json
    actual_path.replace_extension(".actual.json");
    std::ofstream(actual_path, std::ios::binary | std::ios::trunc)
        << json::to_string(actual, true) << '\n';
    return expected_path.filename().string() + ": differs first at " +
           first_difference(actual, *expected) + " (actual in " + actual_path.filename().string() +
           ")";
}

}  // namespace casebridge::test
