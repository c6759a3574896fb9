// Records from outside through every shipped mapping, in each direction it supports.
// Properties: a record is mapped or refused with a mapping_error, never by throwing; an error
// holds no value of the record, only field names; a record mapped in is a JSON object.
#include <filesystem>
#include <string>
#include <vector>

#include "core/canonical_case.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

struct world {
    canonical_catalogue catalogue;
    std::vector<mapping::compiled_mapping> mappings;
};

const world& the_world() {
    static const world made = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        world w{canonical_catalogue::load(src / "mappings/canonical-case.json"), {}};
        for (const auto& e : fs::directory_iterator(src / "mappings")) {
            const auto name = e.path().filename().string();
            if (e.is_regular_file() && name.ends_with(".json") && name != "canonical-case.json") {
                w.mappings.push_back(mapping::compiled_mapping::load(e.path(), w.catalogue));
            }
        }
        return w;
    }();
    return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& w = the_world();
    const auto text = fuzz::as_text(data, size);
    auto record = json::parse(text);
    if (!record) {
        return 0;
    }
    const bool sentinel = fuzz::has_value_sentinel_json(text);
    mapping::map_context ctx;
    std::vector<mapping::mapping_note> notes;
    ctx.notes = &notes;
    for (const auto& m : w.mappings) {
        for (const auto d : {mapping::direction::in, mapping::direction::out}) {
            if (!m.supports(d)) {
                continue;
            }
            auto out =
                d == mapping::direction::in ? m.map_in(*record, ctx) : m.map_out(*record, ctx);
            if (!out) {
                if (sentinel) {
                    fuzz::require_no_sentinel(out.error().to_json(), "mapping error");
                }
            } else if (d == mapping::direction::in) {
                fuzz::require(out->IsObject(), "a record mapped in is an object");
            }
        }
        if (m.groups_rows() && record->IsArray()) {
            auto groups = m.group(*record);
            if (!groups && sentinel) {
                fuzz::require_no_sentinel(groups.error().to_json(), "grouping error");
            }
        }
    }
    for (const auto& n : notes) {
        if (sentinel) {
            fuzz::require_no_sentinel(n.field + n.table + n.action, "mapping note");
        }
    }
    return 0;
}
