// A shared synthetic population: overlapping caseloads of several agencies with known truth,
// for the linkage tests, benchmarks and the agencies' sandboxes: households (siblings share
// caregiver, family counting number, camp block; some are twins), very common names, and
// per-agency field errors (name variants and misspellings, estimated birth dates, day/month
// swaps, a year off, missing family names, block moves, missing proGres numbers). Seeded; no
// clock, no global state. One agency's records become Primero v2 cases (primero_cases).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace casebridge::linkage {
struct linkage_result;
}  // namespace casebridge::linkage

namespace casebridge::sandbox::population {

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
    std::uint64_t seed = 1;       ///< The options' seed.
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

/// How one agency's records become Primero v2 cases.
struct primero_options {
    std::string owner = "primero_cp";            ///< owned_by, created_by, associated_user_names.
    std::string owner_agency = "agency-cxb-cp";  ///< owned_by_agency_id, created_organization.
    /// Share of cases recorded without consent for reporting (consent_reporting false and no
    /// other legitimate basis): the `imo-harmonisation` profile withholds them.
    double without_consent = 0.05;
};

/// One agency's share of a population as CPIMS+ cases, and the truth about them.
struct primero_share {
    /// Flattened as the API shows them (id, record_state, case_id, names, sex, date_of_birth,
    /// estimated, location_current, identifiers, consent, family_details_section with the
    /// caregiver, owner, timestamps); last_updated_at strictly ascending.
    std::vector<rapidjson::Document> cases;
    std::map<std::string, std::uint32_t> child_of;  ///< Truth: case id → child.
    std::map<std::string, std::string> key_of;      ///< Case id → the record's key.
    std::set<std::string> without_consent;          ///< Case ids without consent for reporting.
};

/// The records of `agency` (one of the options' agencies) in `population` as Primero cases.
/// Case ids are UUIDs derived from the seed and the record key: the same population gives the
/// same cases in every sandbox. An unknown agency gives no cases.
primero_share primero_cases(
    const caseload& population, std::string_view agency, const primero_options& o = {}
);

/// Number of cross-agency pairs of records of one child (what recall divides by).
std::size_t true_cross_pairs(const std::vector<record>& records);

}  // namespace casebridge::sandbox::population
