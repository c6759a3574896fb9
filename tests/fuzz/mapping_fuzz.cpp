// Mapping files: load, validate and compile a mapping text, then map the golden records with
// it. Properties: a refused file is refused with json::file_error naming the file and a line;
// a compiled mapping maps or refuses a record with a mapping_error, never by throwing; a
// mapping error holds no value of the record (the golden records carry the sentinel).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "canonical/canonical_case.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

struct world {
    canonical_catalogue catalogue;
    fs::path file;
    std::vector<rapidjson::Document> records;  // golden inputs, both directions
};

const world& the_world() {
    static const world made = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        world w{canonical_catalogue::load(src / "mappings/canonical-case.json"), {}, {}};
        // Value tables named by "file" resolve against the mapping's folder.
        fs::copy(src / "mappings", fuzz::scratch_dir() / "mappings", fs::copy_options::recursive);
        fs::create_directories(fuzz::scratch_dir() / "config");
        fs::copy(
            src / "config/tables",
            fuzz::scratch_dir() / "config/tables",
            fs::copy_options::recursive
        );
        w.file = fuzz::scratch_dir() / "mappings/fuzzed.json";
        for (const auto& e : fs::recursive_directory_iterator(src / "tests/golden")) {
            const auto name = e.path().filename().string();
            if (name.size() > 11 && name.ends_with(".input.json")) {
                std::ifstream in(e.path(), std::ios::binary);
                std::string text{std::istreambuf_iterator<char>(in), {}};
                for (std::size_t at = 0; (at = text.find("\"Rafiq", at)) != std::string::npos;) {
                    text.insert(at + 1, fuzz::sentinel);
                    at += fuzz::sentinel.size() + 1;
                }
                if (auto d = json::parse(text)) {
                    w.records.push_back(std::move(*d));
                }
            }
        }
        return w;
    }();
    return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& w = the_world();
    fuzz::write_file(w.file, fuzz::as_text(data, size));
    std::optional<mapping::compiled_mapping> m;
    try {
        m.emplace(mapping::compiled_mapping::load(w.file, w.catalogue));
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        // The mapping file, or a value table it names (a file under the same folders).
        fuzz::require(
            msg.rfind(w.file.string() + ":", 0) == 0 ||
                msg.rfind(fuzz::scratch_dir().string() + "/", 0) == 0,
            "an error names the file",
            msg
        );
        return 0;
    }
    mapping::map_context ctx;
    for (const auto& r : w.records) {
        for (const auto d : {mapping::direction::in, mapping::direction::out}) {
            if (!m->supports(d)) {
                continue;
            }
            auto out = d == mapping::direction::in ? m->map_in(r, ctx) : m->map_out(r, ctx);
            if (!out) {
                fuzz::require_no_sentinel(out.error().to_json(), "mapping error");
            }
        }
        if (m->groups_rows() && r.IsArray()) {
            (void)m->group(r);
        }
    }
    return 0;
}
