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

}  // namespace
}  // namespace casebridge::cli
