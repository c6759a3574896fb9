// Acknowledgement files from DSS. Properties: an accepted file holds only UUID exchange ids,
// each once, and known statuses; a reason is a code or the free-text marker, never free text;
// a refused file's message names the file, a line and a column, and holds no field value.
#include <set>
#include <string>

#include "dss_files/exchange_files.hpp"
#include "fuzz_support.hpp"

using namespace casebridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    auto acks = dss_files::files::parse_acknowledgements(text, "ack-1.csv");
    if (!acks) {
        const auto& m = acks.error().message;
        fuzz::require(m.rfind("ack-1.csv:", 0) == 0, "an error names the file", m);
        fuzz::require(m.size() > 10 && m[10] >= '1' && m[10] <= '9', "an error names a line", m);
        if (fuzz::has_value_sentinel_csv(text)) {
            fuzz::require_no_sentinel(m, "acknowledgement error");
        }
        return 0;
    }
    std::set<std::string> ids;
    for (const auto& a : *acks) {
        fuzz::require(dss_files::files::is_uuid(a.exchange_id), "exchange ids are UUIDs");
        fuzz::require(ids.insert(a.exchange_id).second, "each exchange id once");
        fuzz::require(
            a.status == "accepted" || a.status == "rejected" || a.status == "error",
            "a known status"
        );
        fuzz::require(
            a.reason.empty() || a.reason == dss_files::files::free_text_reason ||
                a.reason.find_first_of(" \t\r\n\"',;") == std::string::npos,
            "a reason is a code or the free-text marker"
        );
        fuzz::require(a.line >= 2, "an acknowledgement's line is after the header");
    }
    return 0;
}
