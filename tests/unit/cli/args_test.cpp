#include "cli/args.hpp"

#include <gtest/gtest.h>

namespace casebridge::cli {
namespace {

const std::vector<option_spec> options = {
    {"config", "FILE", "config file", true},
    {"dry-run", "", "do not write"},
    {"input", "FILE", "input", false, true},
};

TEST(option_parser, values_flags_and_positionals) {
    const option_parser p(options, 0, 2);
    const auto r = p.parse({"--config", "c.json", "--dry-run", "--input=a", "x", "--input", "b"});
    ASSERT_TRUE(r.args) << r.error;
    EXPECT_EQ(r.args->get("config"), "c.json");
    EXPECT_TRUE(r.args->has("dry-run"));
    EXPECT_EQ(r.args->all("input"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.args->positional(), std::vector<std::string>{"x"});
}

TEST(option_parser, usage_errors) {
    const option_parser p(options, 0, 1);
    EXPECT_EQ(p.parse({}).error, "missing required option '--config'");
    EXPECT_EQ(p.parse({"--config"}).error, "option '--config' needs a value (FILE)");
    EXPECT_EQ(
        p.parse({"--config", "a", "--config", "b"}).error, "option '--config' given more than once"
    );
    EXPECT_EQ(p.parse({"--config", "a", "--nope"}).error, "unknown option '--nope'");
    EXPECT_EQ(
        p.parse({"--config", "a", "--dry-run=yes"}).error, "option '--dry-run' takes no value"
    );
    EXPECT_EQ(p.parse({"--config", "a", "x", "y"}).error, "unexpected argument 'y'");
    EXPECT_EQ(p.parse({"--config", "a", "-x"}).error, "unknown option '-x'");
}

TEST(option_parser, help_and_double_dash) {
    const option_parser p(options, 0, 2);
    EXPECT_TRUE(p.parse({"--help"}).help_requested);
    EXPECT_TRUE(p.parse({"-h"}).help_requested);
    const auto r = p.parse({"--config", "a", "--", "--not-an-option"});
    ASSERT_TRUE(r.args) << r.error;
    EXPECT_EQ(r.args->positional(), std::vector<std::string>{"--not-an-option"});
}

TEST(parsed_args, number_is_bounded_and_names_the_option) {
    const std::vector<option_spec> numeric = {{"n", "N", "a number"}, {"m", "N", "another"}};
    const option_parser p(numeric, 0, 0);
    const auto parse = [&](std::vector<std::string> argv) {
        auto r = p.parse(argv);
        EXPECT_TRUE(r.args) << r.error;
        return *r.args;
    };
    EXPECT_EQ(parse({}).number("n", 0, 10, 7), 7);
    EXPECT_EQ(parse({"--n", "10"}).number("n", 0, 10, 7), 10);
    EXPECT_EQ(parse({"--n", "0"}).number("n", 0, 10, 7), 0);
    EXPECT_EQ(parse({"--n", "-4"}).number("n", -5, 10, 7), -4);
    for (const char* wrong :
         {"11", "-1", "-", "", "x", "1x", "0x1", "+1", " 1", "1 ", "1.0", "99999999999999999999"}) {
        try {
            parse({"--n", wrong}).number("n", 0, 10, 7);
            ADD_FAILURE() << "accepted '" << wrong << "'";
        } catch (const usage_error& e) {
            EXPECT_EQ(
                std::string(e.what()),
                "--n takes a whole number from 0 to 10, not '" + std::string(wrong) + "'"
            );
        }
    }
    // A long value is cut short and control characters are not echoed.
    try {
        parse({"--n", std::string(40, '7') + "\n"}).number("n", 0, 10, 7);
        ADD_FAILURE();
    } catch (const usage_error& e) {
        EXPECT_EQ(
            std::string(e.what()),
            "--n takes a whole number from 0 to 10, not '" + std::string(24, '7') + "...'"
        );
    }
}

}  // namespace
}  // namespace casebridge::cli
