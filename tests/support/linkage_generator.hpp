// Synthetic overlapping caseloads of several agencies with known truth, for the linkage tests
// and benchmarks: households (siblings share caregiver, family counting number, camp block;
// some are twins), very common names, and per-agency field errors (name variants and
// misspellings, estimated birth dates, day/month swaps, a year off, missing family names,
// block moves, missing proGres numbers). Seeded; no clock, no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "linkage/link.hpp"

namespace casebridge::test::linkage_gen {

struct options {
    std::uint64_t seed = 1;
    std::size_t children = 1000;
    std::vector<std::string> agencies = {"agency_a", "agency_b", "agency_c"};
    /// Chance that each agency serves a child (a child no agency drew goes to a random one).
    std::vector<double> coverage = {0.6, 0.5, 0.4};
    double duplicate_rate = 0.02;  ///< A record entered twice at one agency.
    // Field errors, per agency record.
    double name_variant = 0.25;   ///< A word spelled as another regional variant.
    double misspelling = 0.12;    ///< One edit (substitution, deletion, insertion, swap).
    double family_missing = 0.3;  ///< No family name recorded.
    double dob_estimated = 0.15;  ///< Only the year known: 1 January, flagged estimated.
    double dob_swapped = 0.06;    ///< Day and month swapped (when the day is ≤ 12).
    double year_off = 0.07;       ///< Birth year off by one.
    double block_move = 0.1;      ///< The family moved to another block of its camp.
    double caregiver_missing = 0.2;
    double progres_recorded = 0.6;  ///< A refugee child's proGres number recorded.
    double fcn_recorded = 0.5;      ///< The family counting number recorded.
    double sex_error = 0.005;
};

/// One agency's record of one child.
struct record {
    std::string agency;
    std::string key;              ///< The agency's pseudonym of the record.
    std::uint32_t child = 0;      ///< Truth: the child this record is about.
    std::uint32_t household = 0;  ///< Truth: siblings share it.
    std::string name_first, name_last, sex, date_of_birth, location, caregiver;
    bool estimated = false;
    std::string progres, birth_registration, fcn;
    std::string true_given, true_family;  ///< Truth: the child's names before field errors.
};

struct caseload {
    std::vector<record> records;  ///< Shuffled.
};

caseload generate(const options& o);

/// The record as a canonical case (the fields the linkage schema reads).
rapidjson::Document to_canonical(const record& r);

/// Pairwise quality of clusters against the truth, over pairs of records of different
/// agencies (clusters never hold two records of one agency).
struct quality {
    std::size_t true_pairs = 0;
    std::size_t predicted_pairs = 0;
    std::size_t correct_pairs = 0;
    double precision() const {
        return predicted_pairs == 0 ? 1.0 : double(correct_pairs) / double(predicted_pairs);
    }
    double recall() const {
        return true_pairs == 0 ? 1.0 : double(correct_pairs) / double(true_pairs);
    }
    double f1() const {
        const double p = precision();
        const double r = recall();
        return p + r == 0 ? 0.0 : 2 * p * r / (p + r);
    }
};

/// `records[i]` must be the record added as index i of the record set.
quality evaluate(const std::vector<record>& records, const linkage::linkage_result& result);

/// Number of cross-agency pairs of records of one child (what recall divides by).
std::size_t true_cross_pairs(const std::vector<record>& records);

}  // namespace casebridge::test::linkage_gen
