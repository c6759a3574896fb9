// A faithful in-process UNHCR PING gateway in front of a small proGres v4, for tests and the
// demo: the Azure AD B2C password-grant token endpoint (expiring tokens), API management's
// subscription-key and bearer checks, `retrievedatawithpaging` with joined rows (duplicates
// included), the paging cookie, IsMoreRecordsAvailable and "No Data Available", and the
// ingestion API (`data`, `asyncdata`, `checkstatus` with its unescaped inner `Data`).
// Facts: ../shared/reference/progres-ping-dss-dpisp.md §1–2; what the reference does not show
// (paging request fields, status item shape) is described in adapters/progres_ping/README.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "sandbox/http_server.hpp"

namespace casebridge::sandbox {

/// The deployment ids the gateway answers to (each PING environment issues its own).
struct ping_ids {
    std::string partner_id = "PNR-2031";
    std::string interop_id = "INT-1587";
    std::string business_unit = "8c1f4e2a-6b3d-e911-80e8-001dd8b71fe3";  ///< Cox's Bazar
    std::string organization = "5e9d2c71-0a4b-f011-8406-6045bd8ea5fb";   ///< the partner org
    std::string scope = "https://casebridgesbx.onmicrosoft.com/ping-api/API.Read";
    // Shipping processes.
    std::string referrals_pull = "SHP-2747";       ///< interventions referred to the partner
    std::string intervention_detail = "SHP-2358";  ///< one intervention's rows by {record_ids}
    std::string referral_ingest = "SHP-2731";      ///< referral from the partner (creates)
    std::string referral_lookup = "SHP-2802";      ///< referrals by {correlation_key}
    std::string decisions_pull = "SHP-2795";       ///< decisions on the partner's referrals
    std::string decision_detail = "SHP-2796";      ///< one decision by {record_ids}
    std::string intervention_status = "SHP-2748";  ///< progres_primerotransferstatus writes
    // Query parameters and the correlation field agreed for this deployment.
    std::string since_parameter = "{modified_since}";
    std::string ids_parameter = "{record_ids}";
    std::string key_parameter = "{correlation_key}";
    std::string correlation_field = "progres_partnercorrelationid";
};

struct ping_settings {
    std::string listen_address = "127.0.0.1";
    unsigned short port = 0;
    std::size_t interventions = 0;  ///< Synthetic interventions generated at start.
    std::uint64_t seed = 1;         ///< Same seed, same interventions and credentials.
    std::string user_name = "cxb.partner.sync";
    std::string password;          ///< Empty: derived from the seed.
    std::string client_id;         ///< Empty: derived from the seed (a GUID).
    std::string subscription_key;  ///< Empty: derived from the seed (32 hex digits).
    ping_ids ids;
    std::chrono::seconds token_lifetime{3600};
    std::size_t page_rows = 50;  ///< Rows per retrieval page (the query's fetch count).
    /// checkstatus answers "InProgress" this many times before an async write is processed...
    std::size_t async_checks = 1;
    /// ...or until it has been queued this long.
    std::chrono::seconds async_processing{30};
    /// Referrals received are decided (seeded accept/reject) this long after; 0: never.
    std::chrono::seconds decide_after{0};
    std::vector<fault_rule> faults;  ///< Applied for the whole run.
};

class ping_sandbox {
public:
    /// Generates the interventions and starts serving on its own thread. Throws at startup.
    ping_sandbox(ping_settings settings, const clock_source& clock);
    ~ping_sandbox();
    ping_sandbox(const ping_sandbox&) = delete;
    ping_sandbox& operator=(const ping_sandbox&) = delete;

    std::string base_url() const;
    std::string token_url() const;
    const std::string& user_name() const;
    const std::string& password() const;
    const std::string& client_id() const;
    const std::string& subscription_key() const;
    const ping_ids& ids() const;

    /// A progres_ping adapter settings block for this sandbox (JSON text), with the secrets
    /// read from the given files; referrals written asynchronously or not.
    std::string adapter_settings_json(
        const std::string& password_file,
        const std::string& subscription_key_file,
        bool async_referrals = true
    ) const;

    // Test hooks; thread-safe.
    http_server& server();
    std::size_t tokens_issued() const;
    std::size_t token_refusals() const;
    /// Every token issued so far stops being accepted (as a key rollover would do).
    void revoke_tokens();

    std::size_t intervention_count() const;
    std::vector<std::string> intervention_ids() const;  ///< In modifiedon order.
    /// The joined rows of an intervention, as a JSON array.
    std::optional<std::string> intervention_rows(const std::string& id) const;
    /// Replaces the joined lists (and the duplicate row) of an intervention.
    void set_joined_lists(
        const std::string& id,
        std::vector<std::string> languages,
        std::vector<std::string> needs,
        bool duplicate_row
    );
    /// Sets modifiedon to now (as an edit in proGres would).
    void touch_intervention(const std::string& id);
    /// progres_primerotransferstatus of an intervention (nullopt: never written).
    std::optional<int> transfer_status(const std::string& id) const;

    /// Interoperability referrals created through ingestion.
    std::size_t referral_count() const;
    std::vector<std::string> referral_ids() const;
    /// The fields written for a referral (name → value), as a JSON object.
    std::optional<std::string> referral_fields(const std::string& id) const;
    /// Referrals whose field `name` has `value`.
    std::size_t referrals_with(const std::string& name, const std::string& value) const;
    // Changes behind casebridge's back (reconciliation tests). False or nullopt: no such referral.
    /// Removes a referral for good.
    bool delete_referral(const std::string& id);
    /// Copies a referral, correlation key included, under a new id and number (a second writer
    /// that did not look first); returns the new id.
    std::optional<std::string> duplicate_referral(const std::string& id);
    /// Records a proGres decision on a referral (125080000 accepted, 125080001 rejected).
    bool decide(const std::string& referral_id, bool accepted);

    /// Ingestion items received (sync and async, applied or failed).
    std::size_t items_received() const;
    /// Items applied (created or updated a record).
    std::size_t items_applied() const;
    /// Async transactions not processed yet.
    std::size_t transactions_queued() const;
    /// Processes every queued async transaction now.
    void process_queue();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::sandbox
