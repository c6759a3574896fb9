// A test helper: the names of this process's threads, as /proc shows them.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

namespace casebridge::test {

/// The names (`comm`) of this process's threads now.
inline std::multiset<std::string> thread_names() {
    std::multiset<std::string> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
         it.increment(ec)) {
        std::string name;
        std::getline(std::ifstream(it->path() / "comm"), name);
        out.insert(name);
    }
    return out;
}

/// Whether a thread of this process is named `name`, waiting up to two seconds for a thread
/// just started to name itself.
inline bool has_thread_named(const std::string& name) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (thread_names().count(name) == 0) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

}  // namespace casebridge::test
