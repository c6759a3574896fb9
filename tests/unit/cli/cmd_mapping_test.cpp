// `casebridge mapping check|apply` as a user runs them.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/cli.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::cli {
namespace {

const std::string source_dir = CASEBRIDGE_SOURCE_DIR;

struct captured {
    int code;
    std::string out;
    std::string err;
};

captured run_cli(std::vector<std::string> args) {
    std::ostringstream out;
    std::ostringstream err;
    command_io io{out, err};
    const int code = run(args, io);
    return {code, out.str(), err.str()};
}

const std::string canonical = source_dir + "/mappings/canonical-case.json";

TEST(cmd_mapping, check_accepts_shipped_and_names_place_of_error) {
    auto r = run_cli(
        {"mapping",
         "check",
         "--canonical",
         canonical,
         source_dir + "/mappings/primero.case.json",
         source_dir + "/mappings/progres_ping.referral_in.json"}
    );
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("primero.case.json: ok (primero.case version 1)"), std::string::npos);

    test::temp_dir dir;
    const auto bad = dir.write(
        "bad.json",
        "{\"mapping\": \"b\", \"mapping_version\": 1, \"system\": \"s\",\n"
        " \"record\": \"r\", \"directions\": [\"in\"],\n"
        " \"rules\": [{\"canonical\": \"/gender\", \"system\": \"/g\"}]}"
    );
    r = run_cli(
        {"mapping",
         "check",
         "--canonical",
         canonical,
         source_dir + "/mappings/dss.event.json",
         bad.string()}
    );
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(
        r.err, bad.string() + ":3:13: at /rules/0/canonical: \"gender\" is not a canonical field\n"
    );
}

TEST(cmd_mapping, apply_maps_and_holds_with_exit_3_without_values) {
    const std::string golden = source_dir + "/tests/golden/";
    auto r = run_cli(
        {"mapping",
         "apply",
         "--canonical",
         canonical,
         "--mapping",
         source_dir + "/mappings/dss.event.json",
         "--direction",
         "in",
         "--input",
         golden + "dss.event/in-referral.input.json"}
    );
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"name_first\": \"মোছাঃ\""), std::string::npos) << r.out;

    r = run_cli(
        {"mapping",
         "apply",
         "--canonical",
         canonical,
         "--mapping",
         source_dir + "/mappings/progres_ping.referral_in.json",
         "--direction",
         "in",
         "--input",
         golden + "progres_ping.referral_in/in-unknown-intervention-type.input.json"}
    );
    EXPECT_EQ(r.code, 3);
    EXPECT_EQ(
        r.out,
        "{\"record\":\"68b20e2a-4879-ee11-8179-000d3a43f6eb\",\"field\":\"/services_section/"
        "0/service_type\",\"system_field\":\"/progres_interventiontype2.interventiontype."
        "progres_description\",\"error\":\"casebridge:unmapped_value\",\"reason\":\"code not "
        "listed in value table \\\"intervention_type\\\"\"}\n"
    );
    EXPECT_EQ(r.out.find("Cash for Protection"), std::string::npos);

    r = run_cli(
        {"mapping",
         "apply",
         "--canonical",
         canonical,
         "--mapping",
         source_dir + "/mappings/progres_ping.decision_in.json",
         "--direction",
         "out"}
    );
    EXPECT_EQ(r.code, 2);
}

// One behaviour everywhere: a byte order mark is accepted by `mapping apply` as by `check`, and
// a file over the size limit is named as such, not as unreadable.
TEST(cmd_mapping, apply_accepts_a_bom_and_names_an_oversized_input) {
    test::temp_dir dir;
    std::ifstream in(source_dir + "/tests/golden/dss.event/in-referral.input.json");
    const std::string golden((std::istreambuf_iterator<char>(in)), {});
    const auto with_bom = dir.write("bom.json", "\xEF\xBB\xBF" + golden);
    const std::vector<std::string> base = {
        "mapping",
        "apply",
        "--canonical",
        canonical,
        "--mapping",
        source_dir + "/mappings/dss.event.json",
        "--direction",
        "in",
        "--input"};
    auto args = base;
    args.push_back(with_bom.string());
    auto r = run_cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    const auto big = dir.write("big.json", std::string(17 * 1024 * 1024, ' '));
    args = base;
    args.push_back(big.string());
    r = run_cli(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("big.json: the file is over the limit of"), std::string::npos) << r.err;
}

TEST(cmd_mapping, binary_exit_codes) {
    const std::string bin = CASEBRIDGE_BINARY;
    const auto status = [&](const std::string& args) {
        const int s = std::system((bin + " " + args + " >/dev/null 2>&1").c_str());
        return WEXITSTATUS(s);
    };
    const std::string common = "--canonical " + canonical + " --mapping " + source_dir +
                               "/mappings/progres_ping.decision_in.json --direction in --input " +
                               source_dir + "/tests/golden/progres_ping.decision_in/";
    EXPECT_EQ(status("mapping apply " + common + "in-accepted.input.json"), 0);
    EXPECT_EQ(status("mapping apply " + common + "in-unknown-decision.input.json"), 3);
    EXPECT_EQ(
        status(
            "mapping check --canonical " + canonical + " " + source_dir +
            "/mappings/canonical-case.json"
        ),
        1
    );
    EXPECT_EQ(status("mapping check"), 2);
}

}  // namespace
}  // namespace casebridge::cli
