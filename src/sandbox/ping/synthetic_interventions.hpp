// Synthetic, realistic proGres v4 interventions for the PING sandbox: Rohingya children in
// the Cox's Bazar camps with names in Latin and Bengali script, ids in proGres formats
// (CXB-00123456, CXB-21-0004512, CXB-25-PRTITV-1000001), languages and specific needs that the
// outer joins turn into several rows per intervention. No real people. Deterministic by seed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace casebridge::sandbox {

struct synthetic_intervention {
    std::string id;      ///< progres_lpinterventionid (GUID).
    std::string number;  ///< progres_interventionnumber.
    /// Every column that is the same in all joined rows (intervention, individual, user),
    /// including `modifiedon`.
    rapidjson::Document base;
    std::vector<std::string> languages;  ///< progres_language.progres_languagecodeidname
    std::vector<std::string> needs;      ///< progres_specificneed.progres_spnsubcategory2code
    /// The individual has two language records with the same language: one joined row twice.
    bool duplicate_row = false;
};

/// The column names of the joined lists.
inline constexpr const char* language_column = "progres_language.progres_languagecodeidname";
inline constexpr const char* need_column = "progres_specificneed.progres_spnsubcategory2code";

/// Calls `sink` with `count` interventions, oldest `modifiedon` first (many same-second ties).
void generate_interventions(
    std::uint64_t seed,
    std::size_t count,
    const std::string& business_unit,
    const std::function<void(synthetic_intervention)>& sink
);

/// The joined rows PING returns for `i`: languages × needs (a null column when a list is
/// empty), with the duplicate row next to its twin.
std::vector<rapidjson::Document> joined_rows(const synthetic_intervention& i);

}  // namespace casebridge::sandbox
