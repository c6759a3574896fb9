// A program run as a child process with stdout and stderr piped. A reader thread drains both
// pipes from the start, so a child that writes a lot never blocks on a full pipe while the
// test waits for it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace casebridge::test {

class child_process {
public:
    /// Starts `program` with `args` (argv[0] is `program`); `extra_env` ("NAME=value") is added
    /// to (and overrides) this process's environment in the child. On failure to fork or
    /// pipe, the result is not running() and line() returns "".
    static child_process start(
        const std::string& program,
        const std::vector<std::string>& args,
        const std::vector<std::string>& extra_env = {}
    );

    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&&) = delete;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    /// Kills (SIGKILL) and reaps a child not stopped yet.
    ~child_process();

    bool running() const noexcept { return pid_ > 0; }
    pid_t pid() const noexcept { return pid_; }

    /// The next line of stdout without its newline; "" at the end of stdout or when none
    /// arrives within `wait`.
    std::string line(std::chrono::seconds wait = std::chrono::seconds(60));

    /// Sends `sig`, reaps the child (stderr keeps being drained meanwhile), and returns the
    /// wait status; stores everything the child wrote to stderr in `logs`.
    int stop(int sig, std::string* logs = nullptr);

    struct state;

protected:
    child_process() = default;
    pid_t pid_ = -1;
    std::unique_ptr<state> state_;
    std::thread reader_;
};

}  // namespace casebridge::test
