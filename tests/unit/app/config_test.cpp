#include "app/config.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "json/json.hpp"
#include "store/crypto.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::app {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The example configuration in a folder laid out as it expects: config/, mappings/, state/,
// secrets/ with owner-only key files.
class example_config : public ::testing::Test {
protected:
    void SetUp() override {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        fs::create_directories(dir_.path() / "config");
        fs::copy(src / "mappings", dir_.path() / "mappings", fs::copy_options::recursive);
        fs::copy_file(src / "config/policies.json", dir_.path() / "config/policies.json");
        fs::copy(src / "config/tables", dir_.path() / "config/tables", fs::copy_options::recursive);
        example_ = slurp(src / "config/casebridge.example.jsonc");
        for (const char* d :
             {"state/witness", "state/dss/outbox", "state/dss/inbox", "state/dss/sent", "tls"}) {
            fs::create_directories(dir_.path() / d);
        }
        for (const char* s :
             {"checkpoint-signing.pem",
              "identifier-hmac.key",
              "admin-token",
              "cpims-password",
              "ping-password",
              "ping-subscription-key",
              "dss-zip-passphrase",
              "hub-token",
              "hub.key",
              "hub-token-save-bd",
              "hub-token-unhcr-cxb"}) {
            dir_.write(std::string("secrets/") + s, "not-a-real-secret-but-long-enough-0123456789");
        }
        // The hub's certificates are only checked to exist when the file loads.
        dir_.write("tls/hub.pem", "certificate");
        dir_.write("tls/agencies-ca.pem", "certificate");
        // `check` reads the store keys: the signing key must be a real one.
        dir_.write("secrets/checkpoint-signing.pem", store::signer::generate().private_key_pem());
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef-test", 1);
        ::setenv("CASEBRIDGE_LINKAGE_SECRET", "example-config-test-linkage-secret-0123", 1);
    }

    // Writes the example with `from` replaced by `to` and loads it; returns the error or "ok".
    std::string load_with(const std::string& from = "", const std::string& to = "") {
        std::string text = example_;
        if (!from.empty()) {
            const auto at = text.find(from);
            EXPECT_NE(at, std::string::npos) << from;
            text.replace(at, from.size(), to);
        }
        const auto path = dir_.write("config/casebridge.jsonc", text);
        try {
            (void)load_config(path);
        } catch (const json::file_error& e) {
            std::string msg = e.what();
            const std::string prefix = path.string() + ":";
            return msg.rfind(prefix, 0) == 0 ? "casebridge.jsonc:" + msg.substr(prefix.size())
                                             : msg;
        }
        return "ok";
    }

    // `casebridge check` on `text` written to config/NAME: its exit code and its output.
    std::pair<int, std::string> check_binary(const std::string& text, const std::string& name) {
        const auto path = dir_.write("config/" + name, text);
        const std::string cmd =
            std::string(CASEBRIDGE_BINARY) + " check --config " + path.string() + " 2>&1";
        std::string out;
        FILE* p = ::popen(cmd.c_str(), "r");
        if (p == nullptr) {
            ADD_FAILURE() << "popen failed";
            return {-1, ""};
        }
        char buf[4096];
        for (std::size_t n = 0; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
            out.append(buf, n);
        }
        const int st = ::pclose(p);
        return {WEXITSTATUS(st), out};
    }

    test::temp_dir dir_;
    std::string example_;
};

TEST_F(example_config, the_shipped_example_passes) {
    EXPECT_EQ(load_with(), "ok");
    const auto c = load_config(dir_.write("config/c.jsonc", example_));
    EXPECT_EQ(c.systems.size(), 4u);
    ASSERT_EQ(c.flows.size(), 6u);
    EXPECT_EQ(c.flows[5].purpose, "duplicate_notice");
    EXPECT_EQ(c.flows[5].from_stream, "notices");
    EXPECT_EQ(c.flows[5].to_stream, "cases");
    EXPECT_NE(c.flows[5].flag_message.find("{reference}"), std::string::npos);
    EXPECT_EQ(c.find_system("imo-hub")->kind, "casebridge_hub");
    EXPECT_EQ(c.flows[4].to_stream, "records");
    EXPECT_EQ(c.flows[4].profile, "imo-harmonisation");
    EXPECT_EQ(c.flows[0].to_stream, "referrals");
    EXPECT_EQ(c.flows[3].purpose, "acknowledgement");
    EXPECT_TRUE(c.flows[3].profile.empty());
    EXPECT_TRUE(c.flows[2].paused);
    EXPECT_EQ(c.flows[2].to_stream, "events");
    EXPECT_EQ(c.find_system("cpims-cxb")->limits.max_connections, 20);
    // Limits not written take the kind's defaults; written ones win.
    EXPECT_EQ(c.find_system("imo-hub")->limits.requests_per_second, 200);
    EXPECT_EQ(c.find_system("imo-hub")->limits.max_connections, 20);
    EXPECT_EQ(c.find_system("dss")->limits.requests_per_second, 50);
    EXPECT_EQ(c.find_system("progres")->limits.requests_per_second, 5);
    EXPECT_EQ(c.find_system("progres")->limits.max_connections, 4);
    EXPECT_EQ(c.store.path, dir_.path() / "config/../state/casebridge.db");
    ASSERT_TRUE(c.hub);
    EXPECT_TRUE(c.hub->tls());
    EXPECT_EQ(c.hub->agencies.size(), 2u);
    EXPECT_EQ(c.hub->agencies[1].certificate_name, "unhcr-cxb");
}

TEST_F(example_config, a_duplicate_notice_flow_is_checked_where_it_is_written) {
    const std::string message =
        R"("message": "Possible duplicate: this child may also be registered by {agencies}. IMO )"
        R"(reference {reference}. Check with the CPSS IMO before changing the case.")";
    // The reference is what makes every agency's flag of one child the same: required.
    auto msg = load_with(message, R"("message": "Possible duplicate by {agencies}")");
    EXPECT_NE(
        msg.find("at /flows/5/flags/message: must hold {reference} exactly once"), std::string::npos
    ) << msg;
    msg = load_with(message, R"("message": "{reference}: {child_name}")");
    EXPECT_NE(
        msg.find("/flows/5/flags/message: only {reference} and {agencies}"), std::string::npos
    ) << msg;
    // Nothing is mapped or shared by it.
    msg = load_with(
        R"("purpose": "duplicate_notice",)",
        R"("purpose": "duplicate_notice", "profile": "imo-harmonisation",)"
    );
    EXPECT_NE(msg.find("/flows/5/profile: not used by a duplicate_notice flow"), std::string::npos)
        << msg;
    // Notices come from a hub and are read by this kind of flow only.
    msg = load_with(R"("purpose": "duplicate_notice",)", R"("purpose": "report",)");
    EXPECT_NE(
        msg.find("/flows/5/purpose: the notices stream is read by a duplicate_notice flow"),
        std::string::npos
    ) << msg;
    msg = load_with(
        R"("from": {"system": "imo-hub", "stream": "notices"},)",
        R"("from": {"system": "imo-hub", "stream": "cases"},)"
    );
    EXPECT_NE(
        msg.find("/flows/5/from: a duplicate_notice flow reads the notices stream"),
        std::string::npos
    ) << msg;
}

TEST_F(example_config, check_command_prints_a_summary) {
    const auto path = dir_.write("config/c.jsonc", example_);
    const auto r = test::run_cli({"check", "--config", path.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(
        r.out.find("flow      cpims-referrals-to-unhcr: cpims-cxb -> progres, referral under "
                   "referral-unhcr"),
        std::string::npos
    ) << r.out;
    EXPECT_NE(r.out.find("(paused)"), std::string::npos);
}

TEST_F(example_config, secret_readable_by_others_is_refused) {
    fs::permissions(
        dir_.path() / "secrets/cpims-password", fs::perms::group_read, fs::perm_options::add
    );
    const auto msg = load_with();
    EXPECT_NE(
        msg.find("at /systems/cpims-cxb/settings/auth/password_file: secret file"),
        std::string::npos
    ) << msg;
    EXPECT_NE(msg.find("readable by group or others"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("not-a-real-secret"), std::string::npos) << "secret content leaked: " << msg;
}

TEST_F(example_config, store_key_contents_are_checked_without_quoting_them) {
    const std::string short_key(17, 'q');
    dir_.write("secrets/identifier-hmac.key", short_key);
    auto msg = load_with();
    EXPECT_NE(msg.find("at /store/identifier_key_file: \""), std::string::npos) << msg;
    EXPECT_NE(
        msg.find("identifier-hmac.key\" holds 17 bytes; an identifier key needs at least 32"),
        std::string::npos
    ) << msg;
    EXPECT_EQ(msg.find(short_key), std::string::npos) << "key content leaked: " << msg;
    dir_.write("secrets/identifier-hmac.key", std::string(32, 'q'));
    EXPECT_EQ(load_with(), "ok");

    // Not PEM at all, and PEM of a public key: the daemon could sign nothing with either.
    for (const std::string& wrong :
         {std::string("not-a-pem-key-but-long-enough-0123456789"),
          store::signer::generate().public_key_pem()}) {
        dir_.write("secrets/checkpoint-signing.pem", wrong);
        msg = load_with();
        EXPECT_NE(msg.find("at /store/signing_key_file: \""), std::string::npos) << msg;
        EXPECT_NE(
            msg.find("checkpoint-signing.pem\" is not an Ed25519 private key in PEM"),
            std::string::npos
        ) << msg;
        EXPECT_EQ(msg.find("not-a-pem-key"), std::string::npos) << msg;
    }
    // `check` fails the same way (exit 1).
    const auto r =
        test::run_cli({"check", "--config", dir_.write("config/k.jsonc", example_).string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("is not an Ed25519 private key in PEM"), std::string::npos) << r.err;
}

TEST_F(example_config, missing_secret_file) {
    fs::remove(dir_.path() / "secrets/ping-subscription-key");
    const auto msg = load_with();
    EXPECT_NE(
        msg.find("at /systems/progres/settings/subscription_key_file: file"), std::string::npos
    ) << msg;
}

TEST_F(example_config, adapter_folders_must_exist) {
    fs::remove(dir_.path() / "state/dss/sent");
    const auto msg = load_with();
    EXPECT_NE(msg.find("at /systems/dss/settings/sent_register_dir: folder"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("does not exist or is not a folder"), std::string::npos) << msg;
}

TEST_F(example_config, secret_env_must_be_set) {
    ::unsetenv("CASEBRIDGE_TEST_UNSET");
    const auto msg = load_with(
        "\"password_file\": \"../secrets/cpims-password\"",
        "\"password_env\": \"CASEBRIDGE_TEST_UNSET\""
    );
    EXPECT_NE(
        msg.find("at /systems/cpims-cxb/settings/auth/password_env: environment variable "
                 "CASEBRIDGE_TEST_UNSET is not set"),
        std::string::npos
    ) << msg;
}

TEST_F(example_config, flows_must_reference_real_systems_and_matching_profiles) {
    auto msg = load_with(
        "\"to\": {\"system\": \"progres\", \"stream\": \"referrals\"}",
        "\"to\": {\"system\": \"progress\", \"stream\": \"referrals\"}"
    );
    EXPECT_NE(
        msg.find("at /flows/0/to/system: no system \"progress\" under /systems"), std::string::npos
    ) << msg;
    msg = load_with("\"profile\": \"referral-unhcr\"", "\"profile\": \"transfer-agency\"");
    EXPECT_NE(
        msg.find("at /flows/0/purpose: the flow's purpose is referral but profile "
                 "\"transfer-agency\" is for transfer"),
        std::string::npos
    ) << msg;
    msg = load_with("\"profile\": \"referral-unhcr\"", "\"profile\": \"referral-unhrc\"");
    EXPECT_NE(
        msg.find("at /flows/0/profile: no DPISP profile \"referral-unhrc\""), std::string::npos
    ) << msg;
    msg = load_with("\"id\": \"unhcr-decisions-to-cpims\"", "\"id\": \"cpims-referrals-to-unhcr\"");
    EXPECT_NE(
        msg.find("at /flows/1/id: flow id \"cpims-referrals-to-unhcr\" is used twice"),
        std::string::npos
    ) << msg;
}

TEST_F(example_config, acknowledgement_flows_take_no_profile_or_mappings) {
    const std::string ack = "\"purpose\": \"acknowledgement\",";
    auto msg = load_with(ack, ack + " \"profile\": \"caseload-dss\",");
    EXPECT_NE(msg.find("/flows/3/profile: not used by an acknowledgement flow"), std::string::npos)
        << msg;
    msg = load_with(
        "\"from\": {\"system\": \"dss\", \"stream\": \"acknowledgements\"}",
        "\"from\": {\"system\": \"dss\", \"stream\": \"cases\"}"
    );
    EXPECT_NE(
        msg.find("/flows/3/from/stream: an acknowledgement flow reads the acknowledgements stream"),
        std::string::npos
    ) << msg;
    // Other flows still need both.
    msg = load_with("\"profile\": \"referral-unhcr\",", "");
    EXPECT_NE(
        msg.find("/flows/0/profile: required for a flow whose purpose is referral"),
        std::string::npos
    ) << msg;
}

TEST_F(example_config, schema_errors_name_line_and_pointer) {
    const auto msg = load_with(
        "\"profile\": \"referral-unhcr\",", "\"profile\": \"referral-unhcr\", \"batchsize\": 3,"
    );
    EXPECT_NE(msg.find("at /flows/0/batchsize: unknown property \"batchsize\""), std::string::npos)
        << msg;
    EXPECT_EQ(msg.rfind("casebridge.jsonc:", 0), 0u) << msg;
    const auto kind = load_with("\"kind\": \"dss_files\"", "\"kind\": \"dss_sftp\"");
    EXPECT_NE(kind.find("/systems/dss/kind: value is not one of"), std::string::npos) << kind;
}

TEST_F(example_config, mappings_must_fit_the_systems_and_directions) {
    auto msg = load_with(
        "\"out\": \"../mappings/progres_ping.referral_out.json\"",
        "\"out\": \"../mappings/dss.event.json\""
    );
    EXPECT_NE(msg.find("at /flows/0/mappings/out: mapping"), std::string::npos) << msg;
    EXPECT_NE(
        msg.find("is for dss_files but system \"progres\" is progres_ping"), std::string::npos
    ) << msg;
    msg = load_with(
        "\"out\": \"../mappings/progres_ping.referral_out.json\"",
        "\"out\": \"../mappings/progres_ping.referral_in.json\""
    );
    EXPECT_NE(msg.find("has no outbound direction"), std::string::npos) << msg;
}

TEST_F(example_config, the_admin_port_and_address_are_checked) {
    const std::string listen = "\"listen\": \"127.0.0.1:8470\"";
    for (const char* port : {"65536", "70000", "99999"}) {
        const auto msg = load_with(listen, "\"listen\": \"127.0.0.1:" + std::string(port) + "\"");
        EXPECT_NE(
            msg.find("at /admin/listen: the port must be 0 to 65535, not " + std::string(port)),
            std::string::npos
        ) << msg;
        // The same through `casebridge check`.
        std::string text = example_;
        text.replace(
            text.find(listen), listen.size(), "\"listen\": \"127.0.0.1:" + std::string(port) + "\""
        );
        const auto r =
            test::run_cli({"check", "--config", dir_.write("config/p.jsonc", text).string()});
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_NE(r.err.find("/admin/listen"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("65535"), std::string::npos) << r.err;
    }
    auto msg = load_with(listen, "\"listen\": \"127.0.0.1:-1\"");
    EXPECT_NE(msg.find("at /admin/listen: string does not match the pattern"), std::string::npos)
        << msg;
    msg = load_with(listen, "\"listen\": \"127.0.0.999:8470\"");
    EXPECT_NE(
        msg.find("at /admin/listen: \"127.0.0.999\" is not an IPv4 or IPv6 address"),
        std::string::npos
    ) << msg;
    EXPECT_EQ(load_with(listen, "\"listen\": \"127.0.0.1:65535\""), "ok");
    EXPECT_EQ(load_with(listen, "\"listen\": \"127.0.0.1:0\""), "ok");
    EXPECT_EQ(load_with(listen, "\"listen\": \"[::1]:8470\""), "ok");
    const auto c = load_config(dir_.write("config/v6.jsonc", [&] {
        std::string text = example_;
        text.replace(text.find(listen), listen.size(), "\"listen\": \"[::1]:8471\"");
        return text;
    }()));
    ASSERT_TRUE(c.admin);
    EXPECT_EQ(c.admin->host, "::1");
    EXPECT_EQ(c.admin->port, 8471);
}

// The example's flow to the IMO hub, with the comma before it.
std::string hub_flow_of(const std::string& example) {
    const auto start = example.find(",\n    {\n      // Cases with consent for reporting");
    const auto end = example.find("\n  ]", start);
    EXPECT_NE(start, std::string::npos);
    return example.substr(start, end - start);
}

// The shipped policies name a pseudonym key for the IMO profile only: a deployment whose flows
// do not use that profile needs no such key; one that does is refused, naming the flow.
TEST_F(example_config, a_pseudonym_key_is_needed_only_by_flows_whose_profile_uses_it) {
    ::unsetenv("CASEBRIDGE_PSEUDONYM_KEY");
    EXPECT_NE(
        load_with().find("flows/4/profile: profile \"imo-harmonisation\""), std::string::npos
    );
    EXPECT_EQ(load_with(hub_flow_of(example_), ""), "ok");
    const auto msg =
        load_with("\"profile\": \"caseload-dss\"", "\"profile\": \"imo-harmonisation\"");
    EXPECT_NE(
        msg.find("/profile: profile \"imo-harmonisation\" pseudonymises with a key"),
        std::string::npos
    ) << msg;
    EXPECT_NE(msg.find("CASEBRIDGE_PSEUDONYM_KEY is not set"), std::string::npos) << msg;
    ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef-test", 1);
}

// The linkage secret likewise: only the hub flow needs it, and without it that flow is refused
// naming the profile's secret field; the profile and the hub go together.
TEST_F(example_config, the_linkage_secret_is_needed_only_by_the_hub_flow) {
    ::unsetenv("CASEBRIDGE_LINKAGE_SECRET");
    const auto msg = load_with();
    EXPECT_NE(msg.find("/flows/4/profile: profile \"imo-harmonisation\""), std::string::npos)
        << msg;
    EXPECT_NE(
        msg.find("/linkage/secret/env: environment variable CASEBRIDGE_LINKAGE_SECRET"),
        std::string::npos
    ) << msg;
    EXPECT_EQ(load_with(hub_flow_of(example_), ""), "ok");
    ::setenv("CASEBRIDGE_LINKAGE_SECRET", "example-config-test-linkage-secret-0123", 1);

    EXPECT_NE(
        load_with("\"profile\": \"imo-harmonisation\"", "\"profile\": \"aggregate-report\"")
            .find("needs a linkage step"),
        std::string::npos
    );
    EXPECT_NE(
        load_with("\"to\": {\"system\": \"imo-hub\"", "\"to\": {\"system\": \"progres\"")
            .find("has a linkage step, whose encoding only a casebridge_hub system receives"),
        std::string::npos
    );
}

TEST_F(example_config, an_admin_api_beyond_loopback_needs_an_explicit_key_and_is_noted) {
    const std::string listen = "\"listen\": \"127.0.0.1:8470\"";
    for (const char* address : {"0.0.0.0:8470", "[::]:8470", "10.1.2.3:8470"}) {
        const auto msg = load_with(listen, "\"listen\": \"" + std::string(address) + "\"");
        EXPECT_NE(msg.find("at /admin/listen:"), std::string::npos) << msg;
        EXPECT_NE(msg.find("is not a loopback address"), std::string::npos) << msg;
        EXPECT_NE(msg.find("admin.allow_beyond_loopback"), std::string::npos) << msg;
    }
    std::string text = example_;
    text.replace(
        text.find(listen),
        listen.size(),
        "\"listen\": \"0.0.0.0:8470\", \"allow_beyond_loopback\": true"
    );
    const auto r =
        test::run_cli({"check", "--config", dir_.write("config/wide.jsonc", text).string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(
        r.out.find("note      admin.listen 0.0.0.0:8470 is beyond loopback"), std::string::npos
    ) << r.out;
    EXPECT_EQ(load_with(listen, "\"listen\": \"127.0.0.2:8470\""), "ok");
}

TEST_F(example_config, a_row_filter_names_a_field_of_the_rows_and_needs_one_record_per_row) {
    const auto c = load_config(dir_.write("config/c.jsonc", example_));
    EXPECT_EQ(c.flows[0].only_rows_field, "/services_section/service_implementing_agency");
    EXPECT_EQ(c.flows[0].only_rows_values, std::vector<std::string>{"agency-unhcr"});
    EXPECT_TRUE(c.flows[1].only_rows_field.empty());
    const std::string filter =
        "\"only_rows_where\": {\"field\": \"/services_section/service_implementing_agency\"";
    auto msg =
        load_with(filter, "\"only_rows_where\": {\"field\": \"/family_details_section/relation\"");
    EXPECT_NE(
        msg.find("at /flows/0/only_rows_where/field: not a field of the rows of /services_section"),
        std::string::npos
    ) << msg;
    msg = load_with(filter, "\"only_rows_where\": {\"field\": \"/services_section/no_such_field\"");
    EXPECT_NE(msg.find("at /flows/0/only_rows_where/field: not a field"), std::string::npos) << msg;
    msg = load_with(
        "\"one_record_per_row_of\": \"/services_section\",\n      \"only_rows_where\"",
        "\"only_rows_where\""
    );
    EXPECT_NE(
        msg.find("at /flows/0/only_rows_where: only_rows_where needs one_record_per_row_of"),
        std::string::npos
    ) << msg;
    msg = load_with("\"in\": [\"agency-unhcr\"]", "\"in\": []");
    EXPECT_NE(msg.find("/flows/0/only_rows_where/in"), std::string::npos) << msg;
    msg = load_with(
        filter, "\"only_rows_where\": {\"field\": \"/services_section/service_implemented\""
    );
    EXPECT_NE(
        msg.find("at /flows/0/only_rows_where/in/0: not in the value set of "
                 "/services_section/service_implemented"),
        std::string::npos
    ) << msg;
}

// The daemon's scheduled reconciliation: off unless a flow has a `reconcile` block; the sample
// defaults to 459; the schema bounds both numbers; flows that cannot be reconciled refuse it.
TEST_F(example_config, a_reconcile_schedule_is_off_by_default_bounded_and_only_where_it_works) {
    const std::string referral_schedule = "\"schedule\": {\"every_seconds\": 300},";
    auto c = load_config(dir_.write("config/c.jsonc", example_));
    for (const auto& f : c.flows) {
        EXPECT_FALSE(f.reconcile) << f.id;
    }
    std::string text = example_;
    const auto at = text.find(referral_schedule);
    ASSERT_NE(at, std::string::npos);
    text.replace(
        at, referral_schedule.size(), referral_schedule + " \"reconcile\": {\"every_hours\": 6},"
    );
    c = load_config(dir_.write("config/c.jsonc", text));
    ASSERT_TRUE(c.flows[0].reconcile);
    EXPECT_EQ(c.flows[0].reconcile->every_hours, 6);
    EXPECT_EQ(c.flows[0].reconcile->sample, 459);
    EXPECT_FALSE(c.flows[1].reconcile);
    const auto with = [&](const std::string& block) {
        return load_with(referral_schedule, referral_schedule + " \"reconcile\": " + block + ",");
    };
    EXPECT_EQ(with(R"({"every_hours": 8760, "sample": 100000})"), "ok");
    EXPECT_NE(with(R"({"every_hours": 0})").find("/flows/0/reconcile"), std::string::npos);
    EXPECT_NE(with(R"({"every_hours": 8761})").find("/flows/0/reconcile"), std::string::npos);
    EXPECT_NE(
        with(R"({"every_hours": 24, "sample": 0})").find("/flows/0/reconcile"), std::string::npos
    );
    EXPECT_NE(with(R"({"sample": 459})").find("/flows/0/reconcile"), std::string::npos);
    EXPECT_NE(
        with(R"({"every_hours": 24, "every_minutes": 5})").find("/flows/0/reconcile"),
        std::string::npos
    );
    auto msg = load_with(
        "\"one_record_per_row_of\": \"/services_section\",\n      \"paused\": true",
        "\"one_record_per_row_of\": \"/services_section\",\n      \"paused\": true, "
        "\"reconcile\": {\"every_hours\": 24}"
    );
    EXPECT_NE(
        msg.find("at /flows/2/reconcile: reconciling a DSS file exchange is not supported yet"),
        std::string::npos
    ) << msg;
    msg = load_with(
        "\"to\": {\"system\": \"cpims-cxb\"},",
        "\"to\": {\"system\": \"cpims-cxb\"}, \"reconcile\": {\"every_hours\": 24},"
    );
    EXPECT_NE(
        msg.find("at /flows/3/reconcile: an acknowledgement flow sends no records"),
        std::string::npos
    ) << msg;
}

// Through the real binary, which has the adapters built in: each system's settings are checked
// against its adapter's schema, and kinds without an adapter yet are reported, not skipped
// silently.
TEST_F(example_config, binary_checks_adapter_settings) {
    const auto run = [&](const std::string& text) { return check_binary(text, "bin.jsonc"); };
    const auto [ok_code, ok_out] = run(example_);
    EXPECT_EQ(ok_code, 0) << ok_out;
    EXPECT_EQ(ok_out.find("\"cpims-cxb\": settings not checked"), std::string::npos) << ok_out;
    EXPECT_EQ(ok_out.find("\"progres\": settings not checked"), std::string::npos) << ok_out;
    EXPECT_EQ(ok_out.find("\"dss\": settings not checked"), std::string::npos) << ok_out;
    std::string bad_dss = example_;
    bad_dss.replace(bad_dss.find("\"sender\": \"cpss-cxb\""), 20, "\"sender\": \"../cxb\"");
    const auto [dss_code, dss_out] = run(bad_dss);
    EXPECT_EQ(dss_code, 1);
    EXPECT_NE(dss_out.find("at /systems/dss/settings/sender:"), std::string::npos) << dss_out;
    std::string bad = example_;
    bad.replace(bad.find("\"per_page\": 500"), 15, "\"per_page\": 5000");
    const auto [bad_code, bad_out] = run(bad);
    EXPECT_EQ(bad_code, 1);
    EXPECT_NE(
        bad_out.find("at /systems/cpims-cxb/settings/per_page: number above the maximum 1000"),
        std::string::npos
    ) << bad_out;
    std::string no_streams = example_;
    no_streams.replace(no_streams.find("\"streams\": {"), 12, "\"stream\": {");
    const auto [ns_code, ns_out] = run(no_streams);
    EXPECT_EQ(ns_code, 1);
    EXPECT_NE(ns_out.find("at /systems/progres/settings"), std::string::npos) << ns_out;
}

// `check` runs what each adapter checks beyond its schema, and parses every URL as a request
// would: what used to be refused only when the daemon started (or at the first request) is
// refused here, naming the file, line and setting, without repeating the value.
TEST_F(example_config, check_refuses_what_the_adapters_and_their_urls_would_refuse) {
    const auto check = [&](const std::string& from, const std::string& to) {
        std::string text = example_;
        const auto at = text.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        text.replace(at, from.size(), to);
        return check_binary(text, "adapters.jsonc");
    };
    struct bad_case {
        std::string from, to, where, says, not_echoed;
    };
    const std::vector<bad_case> cases = {
        {R"("user_name": "casebridge-service", "password_file": "../secrets/cpims-password")",
         R"("user_name": "casebridge-service")",
         "adapters.jsonc:64:",  // where the system's settings begin
         "at /systems/cpims-cxb/settings: primero: auth mode basic needs user_name and "
         "password_env or password_file",
         "casebridge-service"},
        {R"("token_file": "../secrets/hub-token",)",
         R"("token_file": "../secrets/hub-token", "token_env": "HUB_TOKEN",)",
         "adapters.jsonc:",
         "at /systems/imo-hub/settings: casebridge_hub: the agency's token comes from exactly one "
         "of token_file or token_env",
         "HUB_TOKEN"},
        {R"("inbox_dir": "../state/dss/inbox")",
         R"("inbox_dir": "../state/dss/outbox")",
         "adapters.jsonc:",
         "at /systems/dss/settings: dss_files: outbox_dir, inbox_dir and sent_register_dir "
         "must differ",
         "state/dss"},
        {R"("base_url": "https://cpims.example.org")",
         R"("base_url": "https://cpims example.org")",
         "adapters.jsonc:65:",
         "at /systems/cpims-cxb/settings/base_url: base_url is not a usable URL",
         "cpims example"},
        {R"("base_url": "https://cpims.example.org")",
         R"("base_url": "https://cpims.example.org/")",
         "adapters.jsonc:65:",
         "at /systems/cpims-cxb/settings/base_url: string does not match the pattern "
         "\"^https?://[^/]+$\" (https://host or https://host:port, without a path or a "
         "trailing slash)",
         "example.org/"},
        {R"("base_url": "https://ping.example.org")",
         R"("base_url": "https://ping.example.org:99999")",
         "adapters.jsonc:78:",
         "at /systems/progres/settings/base_url: base_url is not a usable URL: the URL's port "
         "is not a number from 1 to 65535",
         "99999"},
        {R"("base_url": "https://hub.example.org")",
         R"("base_url": "http://hub.example.org")",
         "adapters.jsonc:",
         "at /systems/imo-hub/settings/base_url: base_url uses plain http",
         "hub.example.org"},
        {R"("token_url": "https://login.example.org/)",
         R"("token_url": "http://127.0.0.1:8080/)",
         "adapters.jsonc:79:",
         "at /systems/progres/settings/token_url: token_url uses plain http",
         "8080"},
    };
    for (const auto& c : cases) {
        const auto [code, out] = check(c.from, c.to);
        EXPECT_EQ(code, 1) << c.to << "\n" << out;
        EXPECT_NE(out.find(c.says), std::string::npos) << out;
        EXPECT_NE(out.find(c.where), std::string::npos) << out;
        EXPECT_EQ(out.find(c.not_echoed), std::string::npos) << "the value is repeated: " << out;
    }
    // Plain http to a loopback host, where the system allows it: the sandboxes.
    std::string loopback = example_;
    const std::string cpims_limits =
        R"("limits": {"max_connections": 20, "requests_per_second": 50, "timeout_seconds": 30})";
    ASSERT_NE(loopback.find(cpims_limits), std::string::npos);
    loopback.replace(
        loopback.find(cpims_limits),
        cpims_limits.size(),
        R"("tls": {"allow_plain_http_on_loopback": true}, )" + cpims_limits
    );
    example_ = loopback;
    const auto [code, out] = check(
        R"("base_url": "https://cpims.example.org")", R"("base_url": "http://127.0.0.1:3000")"
    );
    EXPECT_EQ(code, 0) << out;
    // ... and only to a loopback host.
    const auto [far_code, far_out] = check(
        R"("base_url": "https://cpims.example.org")", R"("base_url": "http://cpims.example.org")"
    );
    EXPECT_EQ(far_code, 1) << far_out;
    EXPECT_NE(
        far_out.find("at /systems/cpims-cxb/settings/base_url: base_url uses plain http"),
        std::string::npos
    ) << far_out;
}

// An acknowledgement flow from DSS without agreed reason codes records every reason as free
// text: check says so, as a note.
TEST_F(example_config, a_dss_acknowledgement_flow_without_reason_codes_is_noted) {
    const auto has_note = [](const config& c) {
        return std::any_of(c.notes.begin(), c.notes.end(), [](const std::string& n) {
            return n.find("system \"dss\" lists no ack_reason_codes") != std::string::npos;
        });
    };
    EXPECT_FALSE(has_note(load_config(dir_.write("config/c.jsonc", example_))));
    std::string text = example_;
    const std::string codes =
        "\"max_rows_per_batch\": 1000,\n"
        "        // reasons DSS's acknowledgements may give that are kept; any other is free text\n"
        "        \"ack_reason_codes\": [\"missing_guardian_contact\", \"duplicate_referral\", "
        "\"format_error\"]";
    const auto at = text.find(codes);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, codes.size(), "\"max_rows_per_batch\": 1000");
    EXPECT_TRUE(has_note(load_config(dir_.write("config/c.jsonc", text))));
}

// One threshold alone is compared with the linkage schema's other one, by check as by the hub
// when it starts (the shipped schema: upper 0.73, lower 0.65).
TEST_F(example_config, check_compares_one_hub_threshold_with_the_schemas_other) {
    const std::string line = R"(    "coarse_fields": [)";
    ASSERT_NE(example_.find(line), std::string::npos);
    const auto with = [&](const std::string& thresholds) {
        std::string text = example_;
        text.replace(text.find(line), 0, "    \"thresholds\": " + thresholds + ",\n");
        return test::run_cli(
            {"check", "--config", dir_.write("config/thresholds.jsonc", text).string()}
        );
    };
    const auto above = with(R"({"lower": 0.9})");
    EXPECT_EQ(above.code, 1) << above.out << above.err;
    EXPECT_NE(
        above.err.find("at /hub/thresholds/lower: the lower threshold is above the upper one"),
        std::string::npos
    ) << above.err;
    const auto below = with(R"({"upper": 0.5})");
    EXPECT_EQ(below.code, 1) << below.out << below.err;
    EXPECT_NE(below.err.find("at /hub/thresholds/upper"), std::string::npos) << below.err;
    const auto fine = with(R"({"lower": 0.7})");
    EXPECT_EQ(fine.code, 0) << fine.err;
}

TEST_F(example_config, mutual_tls_needs_both_halves) {
    const auto msg = load_with(
        "\"limits\": {\"max_connections\": 4",
        "\"tls\": {\"client_cert_file\": \"../mappings/dss.event.json\"}, \"limits\": "
        "{\"max_connections\": 4"
    );
    EXPECT_NE(
        msg.find(
            "at /systems/progres/tls: mutual TLS needs both client_cert_file and client_key_file"
        ),
        std::string::npos
    ) << msg;
}

}  // namespace
}  // namespace casebridge::app
