// One writer per store: an exclusive lock (flock) on "<store>.lock" beside the SQLite file,
// held for as long as a process may write the store. The kernel releases it when the process
// ends, however it ends (SIGKILL included); the file itself stays and is reused.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace casebridge::store {

/// What a lock file says about the process holding the lock (written by that process).
struct lock_holder {
    long pid = 0;           ///< 0 when the file does not say (a holder that is just starting).
    std::string command;    ///< e.g. "casebridge run --config /etc/casebridge/casebridge.json".
    std::string since;      ///< RFC 3339 UTC time the lock was taken.
    std::string admin_url;  ///< The daemon's admin API once it listens; "" otherwise.
};

/// The writer lock of one store. Readers (log verify, log show, log export) never take it.
class writer_lock {
public:
    /// The lock file of `store_file`: "<store>.lock" beside the store (symbolic links
    /// resolved, so two names of one store share one lock).
    static std::filesystem::path lock_file_of(const std::filesystem::path& store_file);

    /// Takes the lock at once, never waiting. When taken, the lock file holds this process's
    /// pid, `command` and the time. When not, held() is false and either holder() (another
    /// process holds it) or error() (the lock file cannot be created or locked) says why.
    /// `command` must not hold secrets or case values: it is readable by the store's owner.
    static writer_lock try_acquire(
        const std::filesystem::path& store_file, std::string_view command
    );

    writer_lock(writer_lock&& other) noexcept;
    writer_lock& operator=(writer_lock&& other) noexcept;
    writer_lock(const writer_lock&) = delete;
    writer_lock& operator=(const writer_lock&) = delete;
    /// Releases the lock (closing the file).
    ~writer_lock();

    bool held() const noexcept { return fd_ >= 0; }
    const std::filesystem::path& file() const noexcept { return file_; }
    /// Set when another process holds the lock.
    const std::optional<lock_holder>& holder() const noexcept { return holder_; }
    /// Set when the lock could not be tried: "cannot open FILE: REASON".
    const std::string& error() const noexcept { return error_; }

    /// Records the daemon's admin URL in the lock file, so a refused writer can say where to
    /// ask instead. No effect unless held().
    void set_admin_url(std::string_view url);

    /// One sentence for a refused writer: which process holds the store (pid, command,
    /// since when) and the lock file, or why the lock could not be tried.
    std::string describe_refusal(const std::filesystem::path& store_file) const;

private:
    writer_lock() = default;
    void write_holder() const;

    int fd_ = -1;
    std::filesystem::path file_;
    lock_holder self_;
    std::optional<lock_holder> holder_;
    std::string error_;
};

/// Parses the text of a lock file ("pid N", "command ...", "since T", "admin URL" lines);
/// unknown lines are ignored.
lock_holder parse_lock_holder(std::string_view text);

}  // namespace casebridge::store
