// Shared setup for the policy tests: the shipped catalogue and policies, and a realistic case.
#pragma once

#include <cstdlib>
#include <string>

#include <rapidjson/document.h>

#include "canonical/canonical_case.hpp"
#include "json/json.hpp"
#include "policy/policy.hpp"

namespace casebridge::policy::test_support {

inline const char* test_key = "0123456789abcdef0123456789abcdef-test-key";
/// The linkage secret the shipped imo-harmonisation profile encodes with in these tests.
inline const char* linkage_secret = "agencies-shared-linkage-secret-for-tests";

inline const canonical_catalogue& catalogue() {
    static const canonical_catalogue c = canonical_catalogue::load(
        std::string(CASEBRIDGE_SOURCE_DIR) + "/mappings/canonical-case.json"
    );
    return c;
}

inline std::string shipped_policies_path() {
    return std::string(CASEBRIDGE_SOURCE_DIR) + "/config/policies.json";
}

inline const policy_set& shipped() {
    ::setenv("CASEBRIDGE_PSEUDONYM_KEY", test_key, 1);
    ::setenv("CASEBRIDGE_LINKAGE_SECRET", linkage_secret, 1);
    static const policy_set s = policy_set::load(shipped_policies_path(), catalogue());
    return s;
}

/// A synthetic CPIMS+ case with consent for everything; tests flip what they need.
inline rapidjson::Document sample_case() {
    auto doc = json::parse(R"({
      "id": "5b7c1a2e-8d3f-4e6a-9b1c-2d3e4f5a6b7c",
      "case_id": "c0a1b2c3-d4e5-4f60-8172-839405a6b7c8",
      "case_id_display": "5a6b7c8",
      "unhcr_individual_no": "803-100000519",
      "unhcr_id_no": "803-23-1000552",
      "name_first": "নুসরাত", "name_last": "Begum", "name_middle": "",
      "sex": "female", "date_of_birth": "2014-06-15", "age": 11, "estimated": false,
      "nationality": ["MMR"], "language": ["rohingya", "bengali"],
      "location_current": "BD20224110", "address_current": "Camp 15, block C",
      "telephone_current": "+8801700000000",
      "protection_status": "separated", "risk_level": "high",
      "urgent_protection_concern": true,
      "protection_concerns": ["separated", "gbv_survivor"],
      "protection_concerns_other": "detail that must not travel",
      "consent_for_services": true, "disclosure_other_orgs": true,
      "consent_info_sharing": ["unhcr", "authorities", "other_organizations"],
      "consent_reporting": true, "interview_subject": "caregiver",
      "disclosure_deny_details": "text",
      "legitimate_basis": ["consent"],
      "status": "open", "workflow": "case_plan",
      "owned_by_agency_id": "agency-save-bd",
      "last_updated_at": "2025-03-01T08:15:30Z",
      "services_section": [
        {"unique_id": "8e0f7a6b-1c2d-4e3f-8a9b-0c1d2e3f4a5b", "service_type": "education_formal",
         "service_response_type": "service_being_referred",
         "service_referral_notes": "Needs school enrolment support",
         "service_implementing_agency": "unhcr", "referrer_full_name": "Case Worker"}
      ],
      "family_details_section": [
        {"unique_id": "a1b2c3d4-0000-4000-8000-000000000001", "relation": "mother",
         "relation_name": "Rahima Khatun", "relation_is_caregiver": true,
         "relation_national_id_no": "1990123456789"}
      ],
      "protection_concern_detail_subform_section": [
        {"unique_id": "a1b2c3d4-0000-4000-8000-000000000002", "protection_concern_type": "gbv_survivor",
         "concern_details": "narrative"}
      ]
    })");
    return std::move(*doc);
}

}  // namespace casebridge::policy::test_support
