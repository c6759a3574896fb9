// Helpers shared by the store tests: a sample transfer entry and a key pair on disk.
#pragma once

#include <string>

#include "store/crypto.hpp"
#include "store/transfer_log.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::store::testing {

/// A transfer entry for record `n` with every field set.
inline log_entry_input sample_entry(int n) {
    log_entry_input e;
    e.flow = token("primero_to_ping");
    e.dir = direction::outbound;
    e.purpose = token("referral");
    e.profile_id = token("unhcr_referral");
    e.profile_version = 3;
    e.profile_hash = sha256("profile");
    e.legitimate_basis = token("consent");
    e.consent = {{token("consent_info_sharing"), {token("unhcr"), token("authorities")}}};
    e.source = record_id{token("primero"), *token::make("case-" + std::to_string(n))};
    e.target = record_id{token("progres"), *token::make("guid-" + std::to_string(n))};
    e.correlation_key = *token::make("ref-" + std::to_string(n));
    e.fields_sent = {token("sex"), token("age"), token("protection_concerns")};
    e.fields_withheld = {token("name_first"), token("location_current")};
    e.payload_sha256 = sha256("payload" + std::to_string(n));
    e.result = outcome::acknowledged;
    e.remote_txn_id = *token::make("sph-" + std::to_string(n));
    e.http_status = 201;
    e.attempt = 1;
    e.actor = token("svc-casebridge");
    return e;
}

/// Writes a fresh Ed25519 key pair to `dir` and returns the private key path.
inline std::filesystem::path write_key(const test::temp_dir& dir, const std::string& name) {
    const auto key = signer::generate();
    dir.write(name + ".pub.pem", key.public_key_pem());
    return dir.write(name + ".pem", key.private_key_pem());
}

}  // namespace casebridge::store::testing
