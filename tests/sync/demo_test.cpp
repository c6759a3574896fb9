// `casebridge demo` as a new user runs it: every flow once, a report, nothing left running,
// and no case value in what it prints.
#include <gtest/gtest.h>

#include "adapter/registry.hpp"
#include "cli/commands.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"

namespace casebridge {
namespace {

namespace fs = std::filesystem;

TEST(demo, runs_every_flow_and_reports_without_case_values) {
    static adapter_registry registry = [] {
        adapter_registry r;
        register_builtin_adapters(r);
        return r;
    }();
    cli::set_adapter_registry(&registry);
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

}  // namespace
}  // namespace casebridge
