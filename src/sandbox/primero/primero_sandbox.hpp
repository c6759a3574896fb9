// A faithful in-process Primero v2 (CPIMS+) API for tests and the demo: Basic, session+CSRF,
// legacy JWT and IdP bearer auth; envelopes and error shapes; paging with the `per` clamp;
// the filters an incremental sync uses; create 200/204/409/422; PATCH merge with `_destroy`;
// soft delete; referrals, transfers (single and bulk) and transfer requests with the consent
// rule; case flags; users with their own case permissions and scope; configuration lock;
// faults. Serves synthetic cases, or one agency's share of a shared population.
// Facts: ../shared/reference/primero-v2-api.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "sandbox/http_server.hpp"
#include "sandbox/population.hpp"
#include "sandbox/primero/flags.hpp"

namespace casebridge::sandbox {

/// An account of the sandbox besides the main one (`primero_settings::user_name`), which has
/// every case permission (`manage`) and scope `all`.
struct primero_user {
    std::string user_name;
    std::string password;  ///< Empty: derived from the seed and the name.
    /// The role's `group_permission`: "self" (cases the user owns or is assigned) or "all".
    std::string scope = "self";
    /// The role's case actions (reference §3.3): read, create, write, enable_disable_record,
    /// close, reopen, flag, referral, transfer, receive_referral, receive_transfer,
    /// request_transfer, search_owned_by_others, sync_external, manage (all of them).
    std::vector<std::string> case_actions;
    bool system_account = false;  ///< User category `system`: never receives a transition.
};

/// cp_worker_2 (a case worker, scope self), cp_manager (scope all), cp_user_admin (no case
/// permissions) and system_sync (a system account with read).
std::vector<primero_user> default_primero_users();

/// One agency's share of a shared synthetic population (sandbox/population.hpp): several
/// sandboxes given the same `options` and different agencies hold overlapping children.
struct primero_population {
    population::options options;  ///< The same in every agency's sandbox.
    std::string agency;           ///< One of options.agencies.
    /// How records become cases; the owner is always the sandbox's main user.
    population::primero_options cases;
};

struct primero_settings {
    std::string listen_address = "127.0.0.1";
    unsigned short port = 0;
    std::size_t cases = 0;   ///< Synthetic cases generated at start (without `population`).
    std::uint64_t seed = 1;  ///< Same seed, same cases, same password.
    std::string user_name = "primero_cp";
    std::string password;  ///< Empty: derived from the seed.
    /// The other accounts; the CLI prints only the main user's credentials.
    std::vector<primero_user> users = default_primero_users();
    /// Up to v2.10: POST /api/v2/tokens answers a JWT (body `token` + Authorization header)
    /// instead of a session cookie.
    bool legacy_jwt = false;
    /// Accepted as an external identity provider's bearer token when not empty.
    std::string idp_token;
    std::chrono::seconds session_timeout{3600};  ///< Sliding session / JWT lifetime.
    std::vector<fault_rule> faults;              ///< Applied for the whole run.
    /// Serve this agency's share of a population instead of `cases` synthetic cases.
    std::optional<primero_population> population;
};

/// Settings of a sandbox that serves `agency`'s share of the population made from `options`
/// (tests and the demo start one per agency with the same `options`; the truth is read back with
/// primero_sandbox::population_truth()).
primero_settings population_sandbox_settings(
    const population::options& options, std::string agency, double without_consent = 0.05
);

class primero_sandbox {
public:
    /// Generates the cases and starts serving. Throws at startup (address in use, an agency
    /// the population does not have).
    primero_sandbox(primero_settings settings, const clock_source& clock);
    ~primero_sandbox();
    primero_sandbox(const primero_sandbox&) = delete;
    primero_sandbox& operator=(const primero_sandbox&) = delete;

    std::string base_url() const;
    const std::string& user_name() const;
    const std::string& password() const;
    /// The password of any account (the main user or one of `users`), or nullopt.
    std::optional<std::string> password_of(const std::string& user_name) const;

    // Test hooks; thread-safe.
    http_server& server();
    /// Every authenticated call answers 503 + Retry-After: 60 while locked.
    void set_locked(bool locked);
    /// Ends every session and invalidates every JWT (as an expiry would).
    void expire_sessions();
    std::size_t case_count() const;
    /// The stored case (flattened, as show renders it), or nullopt.
    std::optional<std::string> case_json(const std::string& id) const;
    /// Ids of every case, in creation order.
    std::vector<std::string> case_ids() const;
    /// Sets `last_updated_at` of a case (e.g. to build timestamp ties).
    void set_last_updated(const std::string& id, const std::string& timestamp);
    /// Number of POST /api/v2/tokens answered, and of those refused.
    std::size_t logins() const;
    std::size_t failed_logins() const;
    /// Creates answered 409 because a case with that id already existed: deliveries the
    /// target received more than once.
    std::size_t repeated_creates() const;
    /// mark_synced write-backs received for a case.
    std::size_t mark_synced_count(const std::string& id) const;
    /// The flags of a case (resolved ones too), oldest first.
    std::vector<primero_flag> flags_of(const std::string& id) const;
    /// Replaces the case actions of an account's role (the main user's included, which has
    /// `manage`); false when there is no such account. E.g. without `flag` the flags API
    /// answers 403.
    bool set_case_actions(const std::string& user_name, std::vector<std::string> actions);
    /// With `population`: the truth, the child of each case served.
    std::map<std::string, std::uint32_t> population_truth() const;
    /// With `population`: the cases recorded without consent for reporting.
    std::set<std::string> cases_without_consent() const;

    // Changes behind casebridge's back (reconciliation tests). False or nullopt: no such case.
    /// Sets top-level fields of a case from a JSON object, as a hand edit would (null removes
    /// a field), and last_updated_at to now.
    bool edit_case(const std::string& id, const std::string& fields_json);
    /// Puts `case_json` (from case_json()) back verbatim, last_updated_at included: a restore
    /// of the target from an older backup.
    bool replace_case(const std::string& id, const std::string& case_json);
    /// Removes a case for good (Primero itself only disables; a restore or a hand deletion in
    /// the database can lose one).
    bool delete_case(const std::string& id);
    /// Copies a case under a new random id (a second writer's or a hand-made copy); returns it.
    std::optional<std::string> duplicate_case(const std::string& id);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace casebridge::sandbox
