#include "core/atomic_file.hpp"

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace casebridge {
namespace {

boost::system::error_code last_error() {
    return {errno, boost::system::system_category()};
}

/// The body of write_file_atomically and write_new_file: the temporary file is renamed over
/// `path`, or (exclusive) linked to it, which fails with EEXIST when `path` exists.
boost::system::result<void> write_durably(
    const std::filesystem::path& path, std::string_view data, unsigned mode, bool exclusive
) {
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    std::string tmp = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
        return last_error();
    }
    const auto fail = [&]() {
        const auto ec = last_error();
        ::close(fd);
        ::unlink(tmp.c_str());
        return ec;
    };
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
        return fail();
    }
    std::size_t written = 0;
    while (written < data.size()) {
        const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail();
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        return fail();
    }
    if (::close(fd) != 0) {
        const auto ec = last_error();
        ::unlink(tmp.c_str());
        return ec;
    }
    if ((exclusive ? ::link(tmp.c_str(), path.c_str()) : ::rename(tmp.c_str(), path.c_str())) !=
        0) {
        const auto ec = last_error();
        ::unlink(tmp.c_str());
        return ec;
    }
    if (exclusive) {
        ::unlink(tmp.c_str());
    }
    return fsync_directory(dir);
}

}  // namespace

boost::system::result<void> write_file_atomically(
    const std::filesystem::path& path, std::string_view data, unsigned mode
) {
    return write_durably(path, data, mode, false);
}

boost::system::result<void> write_new_file(
    const std::filesystem::path& path, std::string_view data, unsigned mode
) {
    return write_durably(path, data, mode, true);
}

boost::system::result<void> fsync_directory(const std::filesystem::path& dir) {
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        return last_error();
    }
    const int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) {
        return last_error();
    }
    return {};
}

boost::system::result<void> rename_durably(
    const std::filesystem::path& from, const std::filesystem::path& to
) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
        return last_error();
    }
    const auto parent = [](const std::filesystem::path& p) {
        return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
    };
    if (auto r = fsync_directory(parent(to)); !r) {
        return r;
    }
    if (parent(from) != parent(to)) {
        return fsync_directory(parent(from));
    }
    return {};
}

}  // namespace casebridge
