#include "support/child_process.hpp"

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <string_view>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace casebridge::test {

struct child_process::state {
    std::mutex mutex;
    std::condition_variable changed;
    std::string out;  // stdout not yet taken by line()
    std::string err;  // all of stderr
    bool out_closed = false;
};

namespace {

// Reads both pipes until both are closed, appending to `s`. Runs on the reader thread.
void drain(int out_fd, int err_fd, child_process::state* s) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open = 2;
    char buf[8192];
    while (open > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            const auto n = ::read(fds[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            std::lock_guard lock(s->mutex);
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
                if (i == 0) {
                    s->out_closed = true;
                }
            } else {
                (i == 0 ? s->out : s->err).append(buf, static_cast<std::size_t>(n));
            }
            s->changed.notify_all();
        }
    }
    for (auto& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    std::lock_guard lock(s->mutex);
    s->out_closed = true;
    s->changed.notify_all();
}

}  // namespace

child_process child_process::start(
    const std::string& program,
    const std::vector<std::string>& args,
    const std::vector<std::string>& extra_env
) {
    child_process c;
    c.state_ = std::make_unique<state>();
    int out[2];
    int err[2];
    if (::pipe(out) != 0) {
        return c;
    }
    if (::pipe(err) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        return c;
    }
    // Built before fork: the child only calls async-signal-safe code.
    std::vector<char*> envp;
    for (const auto& e : extra_env) {
        envp.push_back(const_cast<char*>(e.c_str()));
    }
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view kv(*e);
        const auto name = kv.substr(0, kv.find('=') + 1);
        bool overridden = false;
        for (const auto& x : extra_env) {
            overridden = overridden || std::string_view(x).substr(0, name.size()) == name;
        }
        if (!overridden) {
            envp.push_back(*e);
        }
    }
    envp.push_back(nullptr);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::close(out[0]);
        ::close(out[1]);
        ::close(err[0]);
        ::close(err[1]);
        ::execve(program.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
        ::close(out[0]);
        ::close(err[0]);
        return c;
    }
    c.pid_ = pid;
    c.reader_ = std::thread(drain, out[0], err[0], c.state_.get());
    return c;
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      state_(std::move(other.state_)),
      reader_(std::move(other.reader_)) {}

child_process::~child_process() {
    if (pid_ > 0) {
        (void)stop(SIGKILL);
    }
}

std::string child_process::line(std::chrono::seconds wait) {
    if (!state_) {
        return {};
    }
    std::unique_lock lock(state_->mutex);
    const bool ready = state_->changed.wait_for(lock, wait, [&] {
        return state_->out.find('\n') != std::string::npos || state_->out_closed;
    });
    if (!ready) {
        return {};
    }
    const auto nl = state_->out.find('\n');
    std::string s = state_->out.substr(0, nl);
    state_->out.erase(0, nl == std::string::npos ? nl : nl + 1);
    return s;
}

int child_process::stop(int sig, std::string* logs) {
    int status = 0;
    if (pid_ > 0) {
        ::kill(pid_, sig);
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
    if (reader_.joinable()) {
        reader_.join();  // the pipes close with the child
    }
    if (logs != nullptr && state_) {
        std::lock_guard lock(state_->mutex);
        *logs = state_->err;
    }
    return status;
}

}  // namespace casebridge::test
