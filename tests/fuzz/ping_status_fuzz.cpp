// PING's ingestion status text (the `Data` string with unescaped inner objects).
// Properties: repair never loses a text that already parses (it comes back unchanged); reading
// a text and reading its repaired form give the same items; a read never throws; states are
// the four known ones.
#include <string>

#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "progres_ping/ping_status.hpp"

using namespace casebridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    const std::string repaired = progres_ping::repair_status_text(text);
    if (json::parse(text)) {
        fuzz::require(repaired == text, "valid JSON is not repaired");
    }
    const auto items = progres_ping::read_status(text);
    const auto again = progres_ping::read_status(repaired);
    fuzz::require(items.has_value() == again.has_value(), "repaired text reads the same");
    if (items) {
        fuzz::require(items->size() == again->size(), "repaired text gives the same items");
        for (std::size_t i = 0; i < items->size(); ++i) {
            const auto& a = (*items)[i];
            fuzz::require(a.external_id == (*again)[i].external_id, "same external ids");
            fuzz::require(a.state == (*again)[i].state, "same states");
            fuzz::require(
                a.state == progres_ping::item_state::succeeded ||
                    a.state == progres_ping::item_state::failed ||
                    a.state == progres_ping::item_state::pending ||
                    a.state == progres_ping::item_state::unknown,
                "a known state"
            );
        }
    }
    return 0;
}
