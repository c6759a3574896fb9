// Policies files: load, validate and compile a DPISP policies text, then decide the golden
// canonical records under every profile it holds. Properties: a refused file is refused with
// json::file_error naming the file; a decision never throws; a withheld record has no payload;
// a shared payload holds no top-level field the decision did not list as sent.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "canonical/canonical_case.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "policy/decision.hpp"
#include "policy/policy.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

struct world {
    canonical_catalogue catalogue;
    fs::path file;
    std::vector<rapidjson::Document> records;
};

const world& the_world() {
    static const world made = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "fuzz-pseudonym-key-0123456789abcdef", 1);
        ::setenv("CASEBRIDGE_LINKAGE_SECRET", "fuzz-linkage-secret-0123456789abcdef", 1);
        world w{canonical_catalogue::load(src / "mappings/canonical-case.json"), {}, {}};
        fs::create_directories(fuzz::scratch_dir() / "config");
        fs::copy(src / "mappings", fuzz::scratch_dir() / "mappings", fs::copy_options::recursive);
        w.file = fuzz::scratch_dir() / "config/policies.json";
        for (const char* g :
             {"primero.case/in-full-case.expected.json",
              "primero.case/out-full-case.input.json",
              "dss.case/in-dss-referral.expected.json"}) {
            std::ifstream in(src / "tests/golden" / g, std::ios::binary);
            const std::string text{std::istreambuf_iterator<char>(in), {}};
            if (auto d = json::parse(text)) {
                w.records.push_back(std::move(*d));
            }
        }
        return w;
    }();
    return made;
}

std::set<std::string> top_level(const std::vector<std::string>& paths) {
    std::set<std::string> out;
    for (const auto& p : paths) {
        out.insert(p.substr(0, p.find('/', 1)));
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& w = the_world();
    fuzz::write_file(w.file, fuzz::as_text(data, size));
    std::optional<policy::policy_set> set;
    try {
        set.emplace(policy::policy_set::load(w.file, w.catalogue));
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        fuzz::require(msg.rfind(w.file.string() + ":", 0) == 0, "an error names the file", msg);
        return 0;
    }
    const auto as_of = std::chrono::sys_days(std::chrono::year{2026} / 11 / 1);
    for (const auto& p : set->profiles()) {
        for (const auto& r : w.records) {
            auto d = policy::decide(p, r, as_of);
            if (!d) {
                continue;
            }
            if (!d->share) {
                fuzz::require(d->payload.IsNull(), "a withheld record has no payload");
                continue;
            }
            if (d->payload.IsObject()) {
                auto listed = d->fields_sent;
                listed.insert(
                    listed.end(), d->fields_pseudonymised.begin(), d->fields_pseudonymised.end()
                );
                listed.insert(
                    listed.end(), d->fields_generalised.begin(), d->fields_generalised.end()
                );
                const auto sent = top_level(listed);
                for (const auto& m : d->payload.GetObject()) {
                    const std::string name = "/" + std::string(m.name.GetString());
                    fuzz::require(sent.count(name) == 1, "the payload holds only fields sent");
                }
            }
        }
    }
    return 0;
}
