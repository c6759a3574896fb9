#include "store/writer_lock.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/time.hpp"

namespace casebridge::store {

namespace fs = std::filesystem;

namespace {

// One line of the lock file: control characters (a newline in a path) become '?'.
std::string one_line(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
    }
    return out;
}

std::string errno_text(int e) {
    return std::generic_category().message(e);
}

}  // namespace

lock_holder parse_lock_holder(std::string_view text) {
    lock_holder h;
    while (!text.empty()) {
        const auto end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        const auto space = line.find(' ');
        if (space == std::string_view::npos) {
            continue;
        }
        const std::string_view key = line.substr(0, space);
        const std::string_view value = line.substr(space + 1);
        if (key == "pid") {
            long pid = 0;
            const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
            if (ec == std::errc{} && p == value.data() + value.size() && pid > 0) {
                h.pid = pid;
            }
        } else if (key == "command") {
            h.command = value;
        } else if (key == "since") {
            h.since = value;
        } else if (key == "admin") {
            h.admin_url = value;
        }
    }
    return h;
}

fs::path writer_lock::lock_file_of(const fs::path& store_file) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(store_file, ec);
    if (ec || p.empty()) {
        p = fs::absolute(store_file, ec);
        if (ec) {
            p = store_file;
        }
    }
    p += ".lock";
    return p;
}

writer_lock writer_lock::try_acquire(const fs::path& store_file, std::string_view command) {
    writer_lock l;
    l.file_ = lock_file_of(store_file);
    const int fd = ::open(l.file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        l.error_ = "cannot open the lock file " + l.file_.string() + ": " + errno_text(errno);
        return l;
    }
    int rc = 0;
    do {
        rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int e = errno;
        if (e == EWOULDBLOCK) {
            std::string text;
            std::array<char, 4096> buf{};
            const ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
            if (n > 0) {
                text.assign(buf.data(), static_cast<std::size_t>(n));
            }
            l.holder_ = parse_lock_holder(text);
        } else {
            l.error_ = "cannot lock " + l.file_.string() + ": " + errno_text(e);
        }
        ::close(fd);
        return l;
    }
    l.fd_ = fd;
    l.self_.pid = static_cast<long>(::getpid());
    l.self_.command = one_line(command);
    l.self_.since = format_rfc3339(system_clock_source::instance().now());
    l.write_holder();
    return l;
}

void writer_lock::write_holder() const {
    if (fd_ < 0) {
        return;
    }
    std::string text = "pid " + std::to_string(self_.pid) + "\ncommand " + self_.command +
                       "\nsince " + self_.since + "\n";
    if (!self_.admin_url.empty()) {
        text += "admin " + self_.admin_url + "\n";
    }
    // Informational only (the flock is the lock): a failed write leaves a refused writer
    // without the holder's name, nothing worse.
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const ssize_t n = ::pwrite(fd_, text.data(), text.size(), 0);
    }
}

void writer_lock::set_admin_url(std::string_view url) {
    self_.admin_url = one_line(url);
    write_holder();
}

std::string writer_lock::describe_refusal(const fs::path& store_file) const {
    if (!error_.empty()) {
        return "the store " + store_file.string() + " cannot be locked for writing (" + error_ +
               ")";
    }
    std::string s = "the store " + store_file.string() + " is in use by another writer: ";
    if (holder_ && holder_->pid > 0) {
        s += "pid " + std::to_string(holder_->pid);
        if (!holder_->command.empty()) {
            s += " (" + holder_->command + ")";
        }
        if (!holder_->since.empty()) {
            s += " since " + holder_->since;
        }
    } else {
        s += "a process that is just starting";
    }
    s += "; lock file " + file_.string();
    return s;
}

writer_lock::writer_lock(writer_lock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      file_(std::move(other.file_)),
      self_(std::move(other.self_)),
      holder_(std::move(other.holder_)),
      error_(std::move(other.error_)) {}

writer_lock& writer_lock::operator=(writer_lock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
        file_ = std::move(other.file_);
        self_ = std::move(other.self_);
        holder_ = std::move(other.holder_);
        error_ = std::move(other.error_);
    }
    return *this;
}

writer_lock::~writer_lock() {
    if (fd_ >= 0) {
        // Closing the only descriptor of this open file releases the flock.
        ::close(fd_);
    }
}

}  // namespace casebridge::store
