// The hub's duplicate review file (`hub review decide --in`), read against a fixed review key.
// Properties: a refused file or row is named by file and line and holds no value from the file
// (pseudonyms carry the sentinel in the seeds); an accepted pair is decided once; every
// decision is same or not_same of a pair whose check held.
#include <set>
#include <string>

#include "cli/review_files.hpp"
#include "fuzz_support.hpp"

using namespace casebridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string key = "fuzz-hub-review-key-0123456789abcdef";
    const auto text = fuzz::as_text(data, size);
    const auto shape = cli::hub_review_shape(text, "review.csv");
    const auto r = cli::read_hub_review(text, "review.csv", key);
    fuzz::require(shape.empty() || r.problems.size() == 1, "a file refused whole, once");
    const bool sentinel = fuzz::has_value_sentinel_csv(text);
    for (const auto& p : r.problems) {
        fuzz::require(p.rfind("review.csv:", 0) == 0, "a problem names the file", p);
        fuzz::require(p.size() > 11 && p[11] >= '1' && p[11] <= '9', "a problem names a line");
        if (sentinel) {
            fuzz::require_no_sentinel(p, "review problem");
        }
    }
    std::set<std::string> pairs;
    for (const auto& d : r.decisions) {
        fuzz::require(
            pairs
                .insert(
                    d.agency_a + '\n' + d.pseudonym_a + '\n' + d.agency_b + '\n' + d.pseudonym_b
                )
                .second,
            "a pair is decided once"
        );
    }
    return 0;
}
