#include "sandbox/ping/synthetic_interventions.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <random>

#include "core/time.hpp"
#include "sandbox/primero/synthetic_cases.hpp"

namespace casebridge::sandbox {
namespace {

using rapidjson::Value;

constexpr std::array latin_given_f = {
    "Nur Kayas", "Rashida", "Setara", "Hasina", "Minara", "Jannat", "Asma", "Senuara", "Rokeya"};
constexpr std::array latin_given_m = {
    "Mohammed Ayas", "Nur Alam", "Abul Kalam", "Sayed", "Anwar", "Rafiq", "Hamid", "Yasin"};
constexpr std::array latin_family = {
    "Hossain", "Begum", "Khatun", "Ullah", "Alam", "Bibi", "Islam", "Hussain", "Akter"};
constexpr std::array bengali_given_f = {"নুর কায়াস", "রশিদা", "সেতারা", "জান্নাত", "আসমা", "মিনারা"};
constexpr std::array bengali_given_m = {"মোহাম্মদ আয়াস", "নুর আলম", "আবুল কালাম", "সাঈদ", "ইয়াসিন"};
constexpr std::array bengali_family = {"হোসেন", "বেগম", "খাতুন", "উল্লাহ", "আলম", "বিবি"};
constexpr std::array nicknames = {"Nuru", "Mona", "Baby", "Kala", "Shona", "Rani"};
// Camps of Ukhia and Teknaf upazilas, Cox's Bazar district.
constexpr auto camps = std::to_array<std::pair<const char*, const char*>>(
    {{"Ukhia", "Camp 1E"},
     {"Ukhia", "Camp 2W"},
     {"Ukhia", "Camp 8E"},
     {"Ukhia", "Camp 13"},
     {"Ukhia", "Camp 15"},
     {"Ukhia", "Camp 18"},
     {"Teknaf", "Camp 24"},
     {"Teknaf", "Camp 26"},
     {"Teknaf", "Camp 27"}}
);
// Interventions the inbound value table accepts (config/tables/progres-ping.json).
constexpr auto intervention_types = std::to_array<std::pair<const char*, const char*>>(
    {{"BID", "3b6a1e55-2c7d-e811-80d6-001dd8b71c4f"},
     {"BIA", "3d6a1e55-2c7d-e811-80d6-001dd8b71c4f"},
     {"Alternative Care", "416a1e55-2c7d-e811-80d6-001dd8b71c4f"},
     {"Family Tracing and Reunification", "436a1e55-2c7d-e811-80d6-001dd8b71c4f"},
     {"Advocacy / Direct intervention", "456a1e55-2c7d-e811-80d6-001dd8b71c4f"}}
);
constexpr std::array descriptions = {
    "<p>Separated child identified during household visit; living with neighbour.</p>",
    "<p>Unaccompanied child, caregiver arrangement to be assessed.</p>",
    "<p>Child engaged in labour at the market; caregiver requests support.</p>",
    "<p>Adolescent girl at risk of early marriage; family counselling requested.</p>",
    "<p>Child with disability, not attending learning centre.</p>"};
constexpr std::array reasons = {
    "<p>BID recommended</p>",
    "<p>Case management by CP partner requested.</p>",
    "<p>Referral for psychosocial support &amp; follow-up.</p>"};
constexpr auto staff = std::to_array<std::pair<const char*, const char*>>(
    {{"Child Protection Associate", "f.rahman"},
     {"Senior Protection Assistant", "s.chowdhury"},
     {"Community Services Officer", "a.karim"}}
);
constexpr std::array other_languages = {"Bengali", "Burmese", "English"};
constexpr std::array need_codes = {
    "SC-UC",
    "SC-SC",
    "SC-CH",
    "CR-LW",
    "CR-CP",
    "CR-NE",
    "DS-V",
    "DS-H",
    "SM-CI",
    "LP-AN",
    "SV-FM"};

template <typename Array>
auto pick(std::mt19937_64& rng, const Array& values) {
    return values[rng() % values.size()];
}

std::string digits(std::mt19937_64& rng, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += static_cast<char>('0' + rng() % 10);
    }
    return out;
}

}  // namespace

void generate_interventions(
    std::uint64_t seed,
    std::size_t count,
    const std::string& business_unit,
    const std::function<void(synthetic_intervention)>& sink
) {
    std::mt19937_64 rng(seed ^ 0x70696e67ULL);
    // 2025-09-01T06:00:00Z, then steps that often repeat a second.
    auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'756'706'400));
    for (std::size_t n = 0; n < count; ++n) {
        if (rng() % 100 >= 20) {
            t += std::chrono::seconds(1 + rng() % 240);
        }
        synthetic_intervention iv;
        iv.id = synthetic_uuid(rng);
        const std::string site = rng() % 4 == 0 ? "TKF" : "CXB";
        auto& b = iv.base;
        b.SetObject();
        auto& a = b.GetAllocator();
        const auto str = [&](const char* k, const std::string& v) {
            b.AddMember(Value(k, a), Value(v.c_str(), a), a);
        };
        const auto null = [&](const char* k) { b.AddMember(Value(k, a), Value(), a); };
        const bool female = rng() % 2 == 0;
        const bool bengali = rng() % 10 < 4;
        const std::string given =
            bengali ? (female ? pick(rng, bengali_given_f) : pick(rng, bengali_given_m))
                    : (female ? pick(rng, latin_given_f) : pick(rng, latin_given_m));
        const std::string family = bengali ? pick(rng, bengali_family) : pick(rng, latin_family);
        const int age = 2 + static_cast<int>(rng() % 16);
        const auto start = t - std::chrono::hours(24 * static_cast<long>(1 + rng() % 60));
        const auto birth =
            start - std::chrono::hours(24 * (365L * age + static_cast<long>(rng() % 365)));
        iv.number = site + "-" + format_rfc3339(start).substr(2, 2) + "-PRTITV-" +
                    std::to_string(1000000 + n);
        const auto [type_name, type_id] = pick(rng, intervention_types);
        const auto [upazila, camp] = pick(rng, camps);
        const auto [title, user] = pick(rng, staff);

        str("progres_lpinterventionid", iv.id);
        str("progres_interventionnumber", iv.number);
        str("progres_interventionstartdate", format_rfc3339(start).substr(0, 10));
        str("progres_interventiondescription", pick(rng, descriptions));
        if (rng() % 3 == 0) {
            null("progres_reasonforreferral");
        } else {
            str("progres_reasonforreferral", pick(rng, reasons));
        }
        str("progres_businessunit", business_unit);
        str("progres_businessunitname", "Bangladesh - Cox's Bazar");
        str("progres_interventiontype2", type_id);
        str("progres_interventiontype2.interventiontype.progres_description", type_name);
        b.AddMember("statuscode", 1, a);
        null("progres_primerotransferstatus");
        null("progres_primerotransferstatusdate");
        str("progres_individual.individuals.progres_id", site + "-00" + digits(rng, 6));
        str("progres_individual.progres_registrationgroupidname",
            site + "-" + std::to_string(17 + rng() % 8) + "-00" + digits(rng, 5));
        str("progres_individual.individuals.progres_givenname", given);
        null("progres_individual.individuals.progres_middlename");
        str("progres_individual.individuals.progres_familyname", family);
        if (rng() % 4 == 0) {
            str("progres_individual.individuals.progres_commonyusedname", pick(rng, nicknames));
        } else {
            null("progres_individual.individuals.progres_commonyusedname");
        }
        str("progres_individual.individuals.progres_dateofbirth",
            format_rfc3339(birth).substr(0, 10) + "T00:00:00Z");
        b.AddMember(
            "progres_individual.individuals.progres_sex", female ? 125080000 : 125080001, a
        );
        str("progres_individual.progres_sexname", female ? "Female" : "Male");
        if (rng() % 3 == 0) {
            null("progres_individual.individuals.progres_primaryphonenumber");
        } else {
            str("progres_individual.individuals.progres_primaryphonenumber",
                "+880 18" + digits(rng, 2) + " " + digits(rng, 6));
        }
        str("progres_individual.individuals.progres_coalocationlevel1name", "Bangladesh");
        str("progres_individual.individuals.progres_coalocationlevel2name", "Chattogram");
        str("progres_individual.individuals.progres_coalocationlevel3name", "Cox's Bazar");
        str("progres_individual.individuals.progres_coalocationlevel4name", upazila);
        str("progres_individual.individuals.progres_coalocationlevel5name", camp);
        str("progres_individual.individuals.progres_coalocationlevel6",
            "Block " + std::string(1, static_cast<char>('A' + rng() % 8)) + ", Shelter " +
                std::to_string(1 + rng() % 400));
        str("systemuser.su.title", title);
        str("systemuser.su.mobilephone", "+880 1711 " + digits(rng, 6));
        str("systemuser.su.internalemailaddress", std::string(user) + "@unhcr.example.org");
        str("modifiedon", format_rfc3339(t));

        iv.languages.emplace_back("Rohingya");
        std::vector<std::string> pool(other_languages.begin(), other_languages.end());
        std::shuffle(pool.begin(), pool.end(), rng);
        pool.resize(rng() % (pool.size() + 1));  // 0..3 more languages
        iv.languages.insert(iv.languages.end(), pool.begin(), pool.end());
        const auto needs = rng() % 4;  // 0..3 specific needs, distinct
        for (std::size_t k = 0; k < needs; ++k) {
            const std::string code = pick(rng, need_codes);
            if (std::find(iv.needs.begin(), iv.needs.end(), code) == iv.needs.end()) {
                iv.needs.push_back(code);
            }
        }
        iv.duplicate_row = rng() % 100 < 15;
        sink(std::move(iv));
    }
}

std::vector<rapidjson::Document> joined_rows(const synthetic_intervention& i) {
    std::vector<rapidjson::Document> rows;
    const std::size_t nl = std::max<std::size_t>(1, i.languages.size());
    const std::size_t nn = std::max<std::size_t>(1, i.needs.size());
    for (std::size_t l = 0; l < nl; ++l) {
        for (std::size_t n = 0; n < nn; ++n) {
            auto& row = rows.emplace_back();
            row.CopyFrom(i.base, row.GetAllocator());
            auto& a = row.GetAllocator();
            row.AddMember(
                Value(language_column, a),
                l < i.languages.size() ? Value(i.languages[l].c_str(), a) : Value(),
                a
            );
            row.AddMember(
                Value(need_column, a),
                n < i.needs.size() ? Value(i.needs[n].c_str(), a) : Value(),
                a
            );
            if (i.duplicate_row && l == 0 && n == 0) {
                auto& twin = rows.emplace_back();
                twin.CopyFrom(rows[rows.size() - 2], twin.GetAllocator());
            }
        }
    }
    return rows;
}

}  // namespace casebridge::sandbox
