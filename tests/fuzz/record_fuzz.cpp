// Records from outside through every shipped mapping, in each direction it supports.
// Properties: a record is mapped or refused with a mapping_error, never by throwing; an error
// holds no value of the record, only field names and the record's id when that id is token
// text (ids may be logged; free text where an id goes may not); a record mapped in is a JSON
// object.
#include <filesystem>
#include <string>
#include <vector>

#include <rapidjson/pointer.h>

#include "canonical/canonical_case.hpp"
#include "core/token_text.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

struct world {
    canonical_catalogue catalogue;
    std::vector<mapping::compiled_mapping> mappings;
    std::vector<std::string> id_pointers;  ///< Every mapping's record_id pointers.
};

// A mapping error names the record by its id: "?" (none), "#not-an-id" (the member holds
// something that is not token text), or token text read at one of the shipped record_id
// pointers. Ids may be shown; nothing else of the record may, so the sentinel check runs on
// the error's other members.
void check_error(
    const mapping::mapping_error& e,
    const rapidjson::Value& record,
    const std::vector<std::string>& pointers,
    bool sentinel,
    std::string_view what
) {
    bool known = e.record == "?" || e.record == not_an_id;
    const auto id_of = [&](const rapidjson::Value& r) {
        for (const auto& p : pointers) {
            const auto* v = rapidjson::Pointer(p.c_str()).Get(r);
            known = known || (v != nullptr && v->IsString() && e.record == v->GetString());
            known = known ||
                    (v != nullptr && v->IsInt64() && e.record == std::to_string(v->GetInt64()));
        }
    };
    id_of(record);
    if (record.IsArray()) {  // grouped rows: each row has its own id
        for (const auto& row : record.GetArray()) {
            id_of(row);
        }
    }
    fuzz::require(
        known && (e.record == "?" || is_token_text(e.record)),
        what,
        "the record is named by its id only"
    );
    if (sentinel) {
        fuzz::require_no_sentinel(e.field + e.system_field + e.reason, what);
    }
}

const world& the_world() {
    static const world made = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        world w{canonical_catalogue::load(src / "mappings/canonical-case.json"), {}};
        for (const auto& e : fs::directory_iterator(src / "mappings")) {
            const auto name = e.path().filename().string();
            if (e.is_regular_file() && name.ends_with(".json") && name != "canonical-case.json") {
                w.mappings.push_back(mapping::compiled_mapping::load(e.path(), w.catalogue));
                const auto file = json::load_file(e.path());
                if (file.doc.HasMember("record_id")) {
                    for (const auto& m : file.doc["record_id"].GetObject()) {
                        w.id_pointers.emplace_back(m.value.GetString());
                    }
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
                check_error(out.error(), *record, w.id_pointers, sentinel, "mapping error");
            } else if (d == mapping::direction::in) {
                fuzz::require(out->IsObject(), "a record mapped in is an object");
            }
        }
        if (m.groups_rows() && record->IsArray()) {
            auto groups = m.group(*record);
            if (!groups) {
                check_error(groups.error(), *record, w.id_pointers, sentinel, "grouping error");
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
