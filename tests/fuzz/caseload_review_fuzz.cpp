// The caseload-transfer review file (`caseload-transfer execute --review`), read against a
// fixed store key. Properties: a refused file or row is named by file and line and the message
// holds no value a reviewer wrote (override reasons carry the sentinel in the seeds); an
// accepted file confirms each record at most once; an override always has a written reason,
// and only its hash is kept; nothing is both chosen and left; the reason kept for a record not
// handed over is never text a reviewer wrote (a plan's own code, bound by the row's check).
#include <set>
#include <string>

#include "fuzz_support.hpp"
#include "sync/caseload.hpp"

using namespace casebridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const store::keyed_hasher key("fuzz-identifier-key-0123456789abcdef");
    const auto text = fuzz::as_text(data, size);
    const auto shape = sync::caseload_review_shape(text, "review.csv");
    const auto r = sync::read_caseload_review(text, "review.csv", key, "handover", "officer-1");
    fuzz::require(shape.empty() || r.problems.size() == 1, "a file refused whole, once");
    const bool sentinel = fuzz::has_value_sentinel_csv(text);
    for (const auto& p : r.problems) {
        fuzz::require(p.rfind("review.csv:", 0) == 0, "a problem names the file", p);
        fuzz::require(p.size() > 11 && p[11] >= '1' && p[11] <= '9', "a problem names a line");
        if (sentinel) {
            fuzz::require_no_sentinel(p, "review problem");
        }
    }
    std::set<std::string> ids;
    for (const auto& c : r.chosen) {
        fuzz::require(ids.insert(c.source_id).second, "a record is chosen once");
        if (c.override_actor) {
            fuzz::require(
                c.override_reason &&
                    c.override_reason->find_first_not_of(" \t") != std::string::npos,
                "an override has a written reason"
            );
        }
    }
    for (const auto& [id, hash] : r.overrides) {
        fuzz::require(ids.count(id) == 1, "an override is of a chosen record");
        fuzz::require(hash.size() == 64, "an override reason is kept as its hash");
    }
    for (const auto& l : r.left) {
        fuzz::require(ids.count(l.source_id) == 0, "nothing is both chosen and left");
        if (sentinel) {
            // The receipt repeats a left record's reason: only a plan's own code, bound by the
            // row's check, never text written into the file.
            fuzz::require_no_sentinel(l.reason, "reason of a record not handed over");
        }
    }
    return 0;
}
