#include "cli/cli.hpp"

#include <cstdio>
#include <sstream>

#include <gtest/gtest.h>

#include "support/run_cli.hpp"

namespace casebridge::cli {
namespace {

using test::run_cli;

TEST(cli, every_command_has_help) {
    for (const auto& c : commands()) {
        std::vector<std::string> args;
        std::string name(c.name);
        if (const auto sp = name.find(' '); sp != std::string::npos) {
            args = {name.substr(0, sp), name.substr(sp + 1), "--help"};
        } else {
            args = {name, "--help"};
        }
        const auto r = run_cli(args);
        EXPECT_EQ(r.code, exit_ok) << c.name;
        EXPECT_EQ(r.out.rfind("Usage: casebridge " + name, 0), 0u) << r.out;
        EXPECT_NE(r.out.find("--help"), std::string::npos) << c.name;
        EXPECT_NE(r.out.find("Exit codes"), std::string::npos) << c.name;
        EXPECT_FALSE(c.summary.empty()) << c.name;
    }
}

TEST(cli, overview_lists_every_command) {
    const auto r = run_cli({"--help"});
    EXPECT_EQ(r.code, exit_ok);
    for (const auto& c : commands()) {
        EXPECT_NE(r.out.find(std::string(c.name)), std::string::npos) << c.name;
    }
    EXPECT_EQ(run_cli({}).code, exit_usage);
    EXPECT_EQ(run_cli({"help"}).code, exit_ok);
}

TEST(cli, unknown_command_and_option_are_usage_errors) {
    const auto a = run_cli({"frobnicate"});
    EXPECT_EQ(a.code, exit_usage);
    EXPECT_NE(a.err.find("unknown command 'frobnicate'"), std::string::npos);
    const auto b = run_cli({"version", "--colour"});
    EXPECT_EQ(b.code, exit_usage);
    EXPECT_NE(b.err.find("unknown option '--colour'"), std::string::npos);
    EXPECT_NE(b.err.find("Usage: casebridge version"), std::string::npos);
}

TEST(cli, version_text_and_json) {
    const auto t = run_cli({"version"});
    EXPECT_EQ(t.code, exit_ok);
    EXPECT_EQ(t.out.rfind("casebridge 0.", 0), 0u);
    for (const char* lib : {"Boost      1.81", "OpenSSL    3.", "SQLite     3.", "RapidJSON  1."}) {
        EXPECT_NE(t.out.find(lib), std::string::npos) << lib << "\n" << t.out;
    }
    const auto j = run_cli({"version", "--json"});
    EXPECT_EQ(j.code, exit_ok);
    EXPECT_NE(j.out.find("\"boost\":\"1.81.0\""), std::string::npos) << j.out;
    EXPECT_EQ(run_cli({"--version"}).out, t.out);
}

// The built binary behaves like the in-process dispatcher (exit codes reach the shell).
TEST(cli, binary_exit_codes) {
    const std::string bin = CASEBRIDGE_BINARY;
    const auto status = [&](const std::string& args) {
        const int s = std::system((bin + " " + args + " >/dev/null 2>&1").c_str());
        return WEXITSTATUS(s);
    };
    EXPECT_EQ(status("version"), 0);
    EXPECT_EQ(status("--help"), 0);
    EXPECT_EQ(status(""), 2);
    EXPECT_EQ(status("no-such-command"), 2);
    EXPECT_EQ(status("version --bogus"), 2);
}

}  // namespace
}  // namespace casebridge::cli
