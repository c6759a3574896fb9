#include "adapter/secret.hpp"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>

#include <sys/stat.h>

namespace casebridge {

namespace {

/// What tells one state of a file from another without reading it.
struct file_identity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified{};
    timespec changed{};  ///< Status change: also moves with chmod, chown, rename and link.

    bool operator==(const file_identity& o) const {
        return device == o.device && inode == o.inode && size == o.size &&
               modified.tv_sec == o.modified.tv_sec && modified.tv_nsec == o.modified.tv_nsec &&
               changed.tv_sec == o.changed.tv_sec && changed.tv_nsec == o.changed.tv_nsec;
    }
};

/// A file whose times are this old is taken as written: rewriting it now would give it a
/// newer time. Within a file system's timestamp resolution, one written twice with the same
/// size could keep its identity; such a file is read every time.
constexpr std::time_t settled_seconds = 2;

bool settled(const timespec& t, const timespec& now) {
    return now.tv_sec - t.tv_sec > settled_seconds;
}

struct cached_line {
    file_identity identity;
    std::string line;
};

std::mutex cache_mutex;
std::map<std::string, cached_line> cache;  // by path; as many as the configuration names

std::optional<std::string> read_now(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) {
        return std::nullopt;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

}  // namespace

std::optional<std::string> read_first_line(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        const std::lock_guard lock(cache_mutex);
        cache.erase(path.native());
        return std::nullopt;
    }
    const file_identity identity{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    {
        const std::lock_guard lock(cache_mutex);
        const auto it = cache.find(path.native());
        if (it != cache.end() && it->second.identity == identity) {
            return it->second.line;
        }
    }
    auto line = read_now(path);
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const std::lock_guard lock(cache_mutex);
    if (line && settled(st.st_mtim, now) && settled(st.st_ctim, now)) {
        // Read from a state at least as new as `identity`: a change after the stat shows as
        // another identity next time.
        cache.insert_or_assign(path.native(), cached_line{identity, *line});
    } else {
        cache.erase(path.native());
    }
    return line;
}

std::optional<std::string> read_secret(const secret_source& s) {
    std::optional<std::string> value;
    if (!s.file.empty()) {
        value = read_first_line(s.file);
    } else if (!s.env.empty()) {
        if (const char* v = std::getenv(s.env.c_str()); v != nullptr) {
            value = std::string(v);
        }
    }
    if (value && value->empty()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace casebridge
