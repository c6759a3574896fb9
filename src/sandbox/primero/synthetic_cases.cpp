#include "sandbox/primero/synthetic_cases.hpp"

#include <array>
#include <chrono>

#include "core/time.hpp"

namespace casebridge::sandbox {
namespace {

using rapidjson::Value;

constexpr std::array latin_first_f = {
    "Rahima",
    "Yasmin",
    "Sumaiya",
    "Nurjahan",
    "Roshida",
    "Hasina",
    "Fatema",
    "Ayesha",
    "Shamima",
    "Taslima"};
constexpr std::array latin_first_m = {
    "Mohammad", "Abdul", "Shafiqul", "Anwar", "Nur", "Rafiq", "Jamal", "Karim", "Hamid", "Sadek"};
constexpr std::array latin_last = {
    "Hossain", "Begum", "Islam", "Rahman", "Akter", "Khatun", "Ullah", "Alam", "Uddin", "Miah"};
constexpr std::array bengali_first_f = {"ফাতেমা", "আয়েশা", "নুসরাত", "সুমাইয়া", "রহিমা", "তাসলিমা"};
constexpr std::array bengali_first_m = {"রহিম", "করিম", "তানভীর", "মাহমুদ", "জামাল", "রফিক"};
constexpr std::array bengali_last = {"হোসেন", "আক্তার", "ইসলাম", "বেগম", "রহমান", "উদ্দিন"};
// Cox's Bazar camps and host upazilas (Primero location codes are deployment-defined).
constexpr std::array locations = {
    "BD20220101",
    "BD20220102",
    "BD20220245",
    "BD20220312",
    "BD20221108",
    "BD20221109",
    "BD20229401"};
constexpr std::array concerns = {
    "separated",
    "unaccompanied",
    "child_labor",
    "gbv_survivor",
    "caafag",
    "disabled",
    "serious_health_issue",
    "child_marriage"};
constexpr std::array relations = {"mother", "father", "aunt", "uncle", "grandmother", "sibling"};
constexpr std::array services = {
    "medical",
    "basic_psychosocial_support",
    "family_tracing_and_reunification",
    "education_formal",
    "legal_support",
    "documentation",
    "safehouse_service"};  // a deployment code no exchange table lists: held, never guessed

template <typename Array>
const char* pick(std::mt19937_64& rng, const Array& values) {
    return values[rng() % values.size()];
}

std::string digits(std::mt19937_64& rng, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += static_cast<char>('0' + rng() % 10);
    }
    return out;
}

// The implementing agency of a services row: UNHCR for ten rows in sixteen, by the last hex
// digit of the row id (no draw from the generator).
std::string agency_for(const std::string& row_id) {
    static constexpr std::array others = {"agency-brac", "agency-codec", "agency-tdh"};
    const char last = row_id.empty() ? '0' : row_id.back();
    if (last >= '0' && last <= '9') {
        return "agency-unhcr";
    }
    return others[static_cast<std::size_t>(last) % others.size()];
}

}  // namespace

std::string synthetic_uuid(std::mt19937_64& rng) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 32; ++i) {
        unsigned v = static_cast<unsigned>(rng() & 15);
        if (i == 12) {
            v = 4;
        } else if (i == 16) {
            v = 8 | (v & 3);
        }
        if (i == 8 || i == 12 || i == 16 || i == 20) {
            out += '-';
        }
        out += hex[v];
    }
    return out;
}

void generate_cases(
    std::uint64_t seed,
    std::size_t count,
    const std::string& owner,
    const std::function<void(rapidjson::Document)>& sink
) {
    std::mt19937_64 rng(seed);
    // 2025-03-01T06:00:00Z, then steps that often repeat a second or a millisecond.
    auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'740'808'800));
    for (std::size_t i = 0; i < count; ++i) {
        const auto roll = rng() % 100;
        if (roll < 25) {
            // the same millisecond as the previous case
        } else if (roll < 60) {
            t += std::chrono::milliseconds(1 + rng() % 300);
        } else {
            t += std::chrono::seconds(1 + rng() % 90) + std::chrono::milliseconds(rng() % 1000);
        }
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        const auto str = [&](const char* k, const std::string& v) {
            d.AddMember(Value(k, a), Value(v.c_str(), a), a);
        };
        const std::string id = synthetic_uuid(rng);
        const std::string uid = synthetic_uuid(rng);
        const bool female = rng() % 2 == 0;
        const bool bengali = rng() % 10 < 3;
        const std::string first =
            bengali ? (female ? pick(rng, bengali_first_f) : pick(rng, bengali_first_m))
                    : (female ? pick(rng, latin_first_f) : pick(rng, latin_first_m));
        const std::string last = bengali ? pick(rng, bengali_last) : pick(rng, latin_last);
        const int age = static_cast<int>(rng() % 18);
        const std::string updated = format_rfc3339(t, 3);
        const auto created_tp = t - std::chrono::hours(24 * static_cast<long>(1 + rng() % 400));
        const std::string created = format_rfc3339(created_tp, 3);
        const auto birth =
            created_tp - std::chrono::hours(24 * (365L * age + static_cast<long>(rng() % 365)));
        const bool refugee = rng() % 10 < 7;

        str("id", id);
        d.AddMember("record_state", rng() % 50 != 0, a);
        str("unique_identifier", uid);
        str("case_id", uid);
        str("short_id", uid.substr(uid.size() - 7));
        str("case_id_display", uid.substr(uid.size() - 7));
        str("module_id", "primeromodule-cp");
        str("status", rng() % 100 < 85 ? "open" : "closed");
        str("workflow", rng() % 2 == 0 ? "case_plan" : "service_provision");
        str("name_first", first);
        str("name_last", last);
        str("name", first + " " + last);
        str("sex", female ? "female" : "male");
        d.AddMember("age", age, a);
        str("date_of_birth", format_rfc3339(birth).substr(0, 10));
        d.AddMember("estimated", rng() % 4 == 0, a);
        str("registration_date", created.substr(0, 10));
        Value nationality(rapidjson::kArrayType);
        nationality.PushBack(Value(refugee ? "myanmar" : "bangladesh", a), a);
        d.AddMember("nationality", nationality, a);
        str("displacement_status", refugee ? "refugee" : "resident");
        str("location_current", pick(rng, locations));
        if (refugee) {
            str("unhcr_individual_no",
                "BGD-" + digits(rng, 2) + "-" + digits(rng, 6) + "-0" +
                    std::to_string(1 + rng() % 6));
        }
        str("interview_subject", rng() % 3 == 0 ? "caregiver" : "individual");
        d.AddMember("consent_for_services", rng() % 10 < 8, a);
        d.AddMember("disclosure_other_orgs", rng() % 10 < 7, a);
        Value sharing(rapidjson::kArrayType);
        sharing.PushBack("authorities", a);
        if (refugee) {
            sharing.PushBack("unhcr", a);
        }
        if (rng() % 10 < 6) {
            sharing.PushBack("other_organizations", a);
        }
        d.AddMember("consent_info_sharing", sharing, a);
        Value pc(rapidjson::kArrayType);
        pc.PushBack(Value(pick(rng, concerns), a), a);
        d.AddMember("protection_concerns", pc, a);
        str("risk_level", rng() % 3 == 0 ? "high" : (rng() % 2 == 0 ? "medium" : "low"));
        if (rng() % 5 == 0) {
            d.AddMember("urgent_protection_concern", true, a);
        }
        Value family(rapidjson::kArrayType);
        const int members = 1 + static_cast<int>(rng() % 3);
        for (int m = 0; m < members; ++m) {
            Value row(rapidjson::kObjectType);
            row.AddMember("unique_id", Value(synthetic_uuid(rng).c_str(), a), a);
            row.AddMember("relation", Value(pick(rng, relations), a), a);
            const std::string rel_name =
                std::string(bengali ? pick(rng, bengali_first_f) : pick(rng, latin_first_f)) + " " +
                last;
            row.AddMember("relation_name", Value(rel_name.c_str(), a), a);
            row.AddMember("relation_age", 20 + static_cast<int>(rng() % 50), a);
            row.AddMember("relation_is_caregiver", m == 0, a);
            family.PushBack(row, a);
        }
        d.AddMember("family_details_section", family, a);
        if (rng() % 2 == 0) {
            Value svc(rapidjson::kArrayType);
            Value row(rapidjson::kObjectType);
            const std::string row_id = synthetic_uuid(rng);
            row.AddMember("unique_id", Value(row_id.c_str(), a), a);
            row.AddMember("service_type", Value(pick(rng, services), a), a);
            // Most external referrals in the camps go to UNHCR; the agency follows from the
            // row id, so the rest of a seeded set stays as it was.
            row.AddMember("service_implementing_agency", Value(agency_for(row_id).c_str(), a), a);
            row.AddMember("service_response_type", "external_referral", a);
            row.AddMember("service_response_day_time", Value(created.c_str(), a), a);
            row.AddMember("service_implemented", "not_implemented", a);
            svc.PushBack(row, a);
            d.AddMember("services_section", svc, a);
        }
        str("owned_by", owner);
        str("owned_by_agency_id", "agency-cxb-cp");
        str("created_by", owner);
        str("created_organization", "agency-cxb-cp");
        str("created_at", created);
        str("posted_at", created);
        str("last_updated_at", updated);
        str("last_updated_by", owner);
        Value assoc(rapidjson::kArrayType);
        assoc.PushBack(Value(owner.c_str(), a), a);
        d.AddMember("associated_user_names", assoc, a);
        d.AddMember("assigned_user_names", Value(rapidjson::kArrayType), a);
        sink(std::move(d));
    }
}

}  // namespace casebridge::sandbox
