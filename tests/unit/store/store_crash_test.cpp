// Crash safety: a child appending pages is SIGKILLed at random moments, 50 times. After each
// kill the file opens, the log verifies (also against the witness file) and the cursor is
// never past the last committed entry.
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json/json.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"
#include "unit/store/test_util.hpp"

namespace casebridge::store {
namespace {

pid_t spawn(const std::vector<std::string>& argv, int close_in_child) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));  // NOLINT: execv's signature
    }
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(close_in_child);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

TEST(store_crash, sigkill_at_random_moments_50_times) {
    test::temp_dir dir;
    const auto path = dir / "crash.db";
    const auto key = testing::write_key(dir, "k");
    const auto witness = dir / "witness.json";
    auto public_key = read_public_key_pem(dir / "k.pub.pem");
    ASSERT_TRUE(public_key);
    const unsigned seed = std::random_device{}();
    std::printf("store_crash seed %u\n", seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> delay_ms(0, 60);
    std::int64_t previous = 0;
    int grew = 0;
    for (int round = 0; round < 50; ++round) {
        int ready[2];
        ASSERT_EQ(::pipe(ready), 0);
        const pid_t pid = spawn(
            {CASEBRIDGE_STORE_CRASH_HELPER,
             path.string(),
             key.string(),
             witness.string(),
             std::to_string(ready[1])},
            ready[0]
        );
        ASSERT_GT(pid, 0);
        ::close(ready[1]);
        // Wait until the helper has opened the store (or died), then a random delay.
        char byte = 0;
        const bool started = ::read(ready[0], &byte, 1) == 1;
        ::close(ready[0]);
        EXPECT_TRUE(started) << "round " << round << ": helper did not start";
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << " seed " << seed
                                         << ": helper exited on its own, status " << status;

        manual_clock clock(std::chrono::system_clock::now());
        auto s = store::open(path, {}, clock);
        ASSERT_TRUE(s) << "round " << round << " seed " << seed;
        verify_options o{*public_key, std::nullopt};
        if (std::filesystem::exists(witness)) {
            auto text = json::read_file(witness);
            ASSERT_TRUE(text);
            auto c = checkpoint::from_json(*text);
            ASSERT_TRUE(c) << "round " << round << ": witness file is not whole";
            o.external_checkpoint = *c;
        }
        auto v = s->verify(o);
        ASSERT_TRUE(v);
        ASSERT_TRUE(v->ok) << "round " << round << " seed " << seed << ": entry " << v->bad_seq
                           << ": " << v->problem;
        auto last = last_seq(s->database());
        ASSERT_TRUE(last);
        auto c = s->get_cursor(token("crash_flow"));
        ASSERT_TRUE(c);
        if (*c) {
            EXPECT_LE((*c)->log_seq, *last) << "round " << round;
            // The cursor moved with its page: page k covers entries up to 10k, never beyond.
            EXPECT_EQ((*c)->position, "page-" + std::to_string((*c)->log_seq / 10));
            EXPECT_EQ((*c)->log_seq, *last) << "every page commits its entries with its cursor";
        }
        EXPECT_EQ(*s->database().pragma("integrity_check"), "ok");
        EXPECT_GE(*last, previous);
        if (*last > previous) {
            ++grew;
        }
        previous = *last;
    }
    // The helper did real work between kills (otherwise the test proves nothing).
    EXPECT_GT(grew, 10);
    EXPECT_GT(previous, 100);
    std::printf(
        "store_crash: %lld entries after 50 kills, log grew in %d rounds\n",
        static_cast<long long>(previous),
        grew
    );
}

}  // namespace
}  // namespace casebridge::store
