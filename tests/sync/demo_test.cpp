// `casebridge demo` as a new user runs it: every flow once, a report, nothing left running,
// and no case value in what it prints.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "adapter/registry.hpp"
#include "cli/commands.hpp"
#include "core/shipped_data.hpp"
#include "support/child_process.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"

namespace casebridge {
namespace {

namespace fs = std::filesystem;

void use_builtin_adapters() {
    static adapter_registry registry = [] {
        adapter_registry r;
        register_builtin_adapters(r);
        return r;
    }();
    test::adapters_for_commands() = &registry;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(demo, runs_every_flow_and_reports_without_case_values) {
    use_builtin_adapters();
    test::temp_dir dir;
    const auto out = dir / "demo";
    const auto r = test::run_cli(
        {"demo", "--dir", out.string(), "--cases", "120", "--data", CASEBRIDGE_SOURCE_DIR}
    );
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("flow cpims-referrals-to-unhcr (cpims-cxb -> progres)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("flow unhcr-decisions-to-cpims"), std::string::npos);
    EXPECT_NE(r.out.find("flow caseload-to-dss"), std::string::npos);
    // DSS's acknowledgement file: the one row for an exchange id never sent is reported.
    EXPECT_NE(r.out.find("flow dss-acknowledgements"), std::string::npos);
    EXPECT_NE(r.out.find("unknown exchange ids reported 1\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("acknowledged 0 "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("log verify: ok"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("stopped early"), std::string::npos) << r.out;
    std::size_t zips = 0;
    for (const auto& f : fs::directory_iterator(out / "state/dss/outbox")) {
        zips += f.path().extension() == ".zip" ? 1 : 0;
    }
    EXPECT_GT(zips, 0u) << "the DSS flow left no batch";
    EXPECT_TRUE(fs::exists(out / "secrets/dss-zip-passphrase"));
    // Something was shared in each direction.
    EXPECT_EQ(r.out.find("shared 0,"), std::string::npos) << r.out;
    // Names in the synthetic cases are partly in Bengali script; none may reach the report.
    EXPECT_EQ(r.out.find("\xE0\xA6"), std::string::npos) << "Bengali text in the report";
    EXPECT_EQ(r.out.find("\xE0\xA7"), std::string::npos) << "Bengali text in the report";
    // A second demo into the same folder is refused, not mixed in.
    const auto again = test::run_cli(
        {"demo", "--dir", out.string(), "--cases", "10", "--data", CASEBRIDGE_SOURCE_DIR}
    );
    EXPECT_EQ(again.code, 2);
}

// As a new user runs it: the built binary, from an empty folder, with no --data; it needs
// nothing from the source tree.
TEST(demo, runs_from_an_empty_folder_with_the_compiled_in_data) {
    test::temp_dir dir;
    const auto cwd = dir / "empty";
    fs::create_directories(cwd);
    auto c = test::child_process::start(
        "/bin/sh",
        {"-c", R"(cd "$0" && exec "$1" demo --cases 20)", cwd.string(), CASEBRIDGE_BINARY}
    );
    ASSERT_TRUE(c.running());
    std::string logs;
    const int status = c.stop(0, &logs);  // signal 0: nothing sent, only waited for
    std::string out;
    for (int i = 0; i < 400; ++i) {
        out += c.line() + "\n";
    }
    ASSERT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_EQ(WEXITSTATUS(status), 0) << out << logs;
    EXPECT_NE(out.find("flow cpims-referrals-to-unhcr"), std::string::npos) << out;
    EXPECT_NE(out.find("log verify: ok"), std::string::npos) << out;
    EXPECT_EQ(out.find("shared 0,"), std::string::npos) << out;
    EXPECT_NE(out.find("(mappings and policies: the compiled-in ones;"), std::string::npos) << out;
    // The demo folder was made in the working folder and holds the data it used.
    std::size_t demos = 0;
    for (const auto& f : fs::directory_iterator(cwd)) {
        ++demos;
        EXPECT_TRUE(fs::exists(f.path() / "data/mappings/canonical-case.json")) << f.path();
        EXPECT_TRUE(fs::exists(f.path() / "data/config/policies.json")) << f.path();
    }
    EXPECT_EQ(demos, 1u);
}

// `demo --imo` as a new user runs it: the built binary, the compiled-in data, three agencies,
// one hub, flags back; the report's checks pass and no case value is printed.
TEST(demo, the_imo_demo_links_three_agencies_and_raises_flags_back) {
    test::temp_dir dir;
    const auto out = dir / "imo";
    auto c = test::child_process::start(
        CASEBRIDGE_BINARY,
        {"demo", "--imo", "--children", "150", "--seed", "44", "--dir", out.string()}
    );
    ASSERT_TRUE(c.running());
    std::string logs;
    const int status = c.stop(0, &logs);
    std::string text;
    for (int i = 0; i < 200; ++i) {
        text += c.line() + "\n";
    }
    ASSERT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_EQ(WEXITSTATUS(status), 0) << text << logs;
    for (const char* agency : {"Agency A", "Agency B", "Agency C"}) {
        EXPECT_NE(text.find(std::string(agency) + " ("), std::string::npos) << text;
    }
    EXPECT_NE(text.find("IMO hub: received agency-a "), std::string::npos) << text;
    EXPECT_NE(text.find("precision "), std::string::npos) << text;
    EXPECT_NE(
        text.find("naming the other agencies, never on a case without a basis): ok"),
        std::string::npos
    ) << text;
    EXPECT_NE(text.find("hub log verify: ok"), std::string::npos) << text;
    EXPECT_EQ(text.find("flags raised 0,"), std::string::npos) << text;
    EXPECT_EQ(text.find("stopped early"), std::string::npos) << text;
    EXPECT_EQ(text.find("ref:"), std::string::npos) << "a flag's text in the report";
    EXPECT_EQ(text.find("\xE0\xA6"), std::string::npos) << "Bengali text in the report";
    // Each agency's configuration and the hub's store stay for a person to look into.
    for (const char* agency : {"agency-a", "agency-b", "agency-c"}) {
        EXPECT_TRUE(fs::exists(out / agency / "casebridge.json")) << agency;
    }
    EXPECT_TRUE(fs::exists(out / "hub/hub.sqlite"));
}

// A file under --data replaces the compiled-in file of the same path; the others stay.
TEST(demo, a_file_under_data_replaces_the_compiled_in_one) {
    use_builtin_adapters();
    test::temp_dir dir;
    const auto policies = read_all(fs::path(CASEBRIDGE_SOURCE_DIR) / "config/policies.json");
    ASSERT_FALSE(policies.empty());
    // The same policies with a trailing blank line: loads, and can be told from the shipped file.
    const auto changed = policies + "\n";
    fs::create_directories(dir / "good/config");
    std::ofstream(dir / "good/config/policies.json", std::ios::binary) << changed;
    const auto good = dir / "demo-good";
    const auto r = test::run_cli(
        {"demo", "--dir", good.string(), "--cases", "20", "--data", (dir / "good").string()}
    );
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(
        r.out.find("(mappings and policies: 1 from --data, the rest compiled in;"),
        std::string::npos
    ) << r.out;
    EXPECT_EQ(read_all(good / "data/config/policies.json"), changed);
    EXPECT_EQ(
        read_all(good / "data/mappings/primero.case.json"),
        std::string(*find_shipped_file("mappings/primero.case.json"))
    );

    // An override that does not parse stops the demo, naming that file: it is the one loaded.
    fs::create_directories(dir / "bad/mappings");
    std::ofstream(dir / "bad/mappings/progres_ping.referral_out.json") << "{ not json";
    const auto bad = test::run_cli(
        {"demo",
         "--dir",
         (dir / "demo-bad").string(),
         "--cases",
         "5",
         "--data",
         (dir / "bad").string()}
    );
    EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
    EXPECT_NE(bad.err.find("progres_ping.referral_out.json"), std::string::npos) << bad.err;

    const auto missing = test::run_cli(
        {"demo", "--dir", (dir / "demo-missing").string(), "--data", (dir / "nowhere").string()}
    );
    EXPECT_EQ(missing.code, 2) << missing.err;
}

// The compiled-in files are the source tree's, byte for byte (the build embeds them again
// when one changes), and include everything the demo's configuration names.
TEST(shipped_data, matches_the_source_tree) {
    const auto files = shipped_files();
    ASSERT_GT(files.size(), 10u);
    for (const auto& f : files) {
        EXPECT_EQ(read_all(fs::path(CASEBRIDGE_SOURCE_DIR) / f.path), f.text()) << f.path;
    }
    for (const char* p :
         {"mappings/canonical-case.json",
          "config/policies.json",
          "mappings/primero.case.json",
          "mappings/dss.event.json",
          "config/tables/progres-ping.json"}) {
        EXPECT_TRUE(find_shipped_file(p).has_value()) << p;
    }
    EXPECT_FALSE(find_shipped_file("mappings/no-such-file.json").has_value());
    EXPECT_FALSE(find_shipped_file("").has_value());
}

}  // namespace
}  // namespace casebridge
