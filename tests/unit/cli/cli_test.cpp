#include "cli/cli.hpp"

#include <cstdio>
#include <set>
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
        std::istringstream words(name);
        for (std::string w; words >> w;) {
            args.push_back(w);  // "hub review export": three words
        }
        args.emplace_back("--help");
        const auto r = run_cli(args);
        EXPECT_EQ(r.code, exit_ok) << c.name;
        EXPECT_EQ(r.out.rfind("Usage: casebridge " + name, 0), 0u) << r.out;
        EXPECT_NE(r.out.find("--help"), std::string::npos) << c.name;
        EXPECT_NE(r.out.find("Exit codes"), std::string::npos) << c.name;
        // A command that can exit 3 says so where its exit codes are listed.
        if (c.name == "flow run" || c.name == "caseload-transfer execute" ||
            c.name == "mapping apply") {
            EXPECT_NE(r.out.find("3 record"), std::string::npos) << c.name;
        }
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

// A group of commands ("hub", "hub review") answers --help with its commands, on stdout;
// an unknown word after it is a usage error that names both.
TEST(cli, every_group_of_commands_lists_its_commands) {
    std::set<std::string> groups;
    for (const auto& c : commands()) {
        const std::string name(c.name);
        for (auto space = name.find(' '); space != std::string::npos;
             space = name.find(' ', space + 1)) {
            groups.insert(name.substr(0, space));
        }
    }
    ASSERT_TRUE(groups.count("hub review")) << "the table has no group of three words";
    for (const auto& g : groups) {
        std::vector<std::string> args;
        std::istringstream words(g);
        for (std::string w; words >> w;) {
            args.push_back(w);
        }
        args.emplace_back("--help");
        const auto asked = run_cli(args);
        EXPECT_EQ(asked.code, exit_ok) << g;
        EXPECT_NE(asked.out.find("casebridge " + g + " needs one of"), std::string::npos) << g;
        for (const auto& c : commands()) {
            if (std::string(c.name).rfind(g + ' ', 0) == 0) {
                EXPECT_NE(asked.out.find(std::string(c.name)), std::string::npos) << g;
            }
        }
        args.back() = "frobnicate";
        const auto wrong = run_cli(args);
        EXPECT_EQ(wrong.code, exit_usage) << g;
        EXPECT_NE(wrong.err.find("unknown command '" + g + " frobnicate'"), std::string::npos)
            << wrong.err;
    }
}

// The usage line and the option table are written by hand side by side: every option a
// command takes is in its usage line.
TEST(cli, every_option_is_in_its_commands_usage_line) {
    for (const auto& c : commands()) {
        for (const auto& o : c.options) {
            EXPECT_NE(std::string(c.usage).find("--" + std::string(o.name)), std::string::npos)
                << "casebridge " << c.name << ": --" << o.name << " is not in its usage line";
        }
    }
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

// Every numeric option is bounded: a value out of range, negative, not a number or too long
// for 64 bits is a usage error naming the option and its range, before anything runs.
TEST(cli, numeric_options_are_bounded_and_named) {
    struct bad {
        std::vector<std::string> args;
        std::string says;
    };
    const std::string huge = "99999999999999999999999";
    const std::vector<bad> cases = {
        {{"demo", "--cases", "-1"}, "--cases takes a whole number from 0 to 100000, not '-1'"},
        {{"demo", "--cases", "100001"}, "--cases takes a whole number from 0 to 100000"},
        {{"demo", "--cases", "1e3"}, "--cases takes a whole number from 0 to 100000, not '1e3'"},
        {{"demo", "--cases", " 5"}, "--cases takes a whole number"},
        {{"demo", "--cases", "+5"}, "--cases takes a whole number"},
        {{"demo", "--cases", ""}, "--cases takes a whole number"},
        {{"demo", "--cases", huge}, "--cases takes a whole number"},
        {{"run", "--config", "none.json", "--shutdown-grace", "-5"},
         "--shutdown-grace takes a whole number from 0 to 3600, not '-5'"},
        {{"run", "--config", "none.json", "--shutdown-grace", "99999"}, "from 0 to 3600"},
        {{"flow", "run", "f", "--config", "none.json", "--max-pages", "0"},
         "--max-pages takes a whole number from 1 to 1000000000, not '0'"},
        {{"flow", "run", "f", "--config", "none.json", "--max-pages", huge}, "--max-pages"},
        {{"store", "purge", "--store", "none.db", "--retention-days", "-3"},
         "--retention-days takes a whole number from 0 to 36500, not '-3'"},
        {{"store", "purge", "--store", "none.db", "--retention-days", huge},
         "--retention-days takes a whole number from 0 to 36500, not '" + huge + "'"},
        {{"sandbox", "primero", "--cases", "-1"}, "--cases wants a number up to"},
        {{"sandbox", "primero", "--seed", huge}, "--seed wants a whole number"},
        {{"sandbox", "ping", "--page-rows", "-1"}, "--page-rows wants a number from 1 to 5000"},
        {{"sandbox", "ping", "--decide-after", huge}, "--decide-after wants seconds, 0 to"},
    };
    for (const auto& c : cases) {
        const auto r = run_cli(c.args);
        EXPECT_EQ(r.code, exit_usage) << c.args[0] << ' ' << c.args[1] << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    // The largest seed is accepted as a number (the sandbox then starts, so only parse it).
    const auto top = run_cli({"sandbox", "ping", "--seed", "18446744073709551616"});
    EXPECT_EQ(top.code, exit_usage);
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
    // Once a crash (SIGSEGV): now a usage error before any work.
    EXPECT_EQ(status("demo --cases -1"), 2);
}

}  // namespace
}  // namespace casebridge::cli
