// Memory and time of reading a DSS acknowledgement file through the adapter, by file size, side
// by side with what holding the whole file and its parsed table costs (how inbound files were
// read before they were streamed). Each case runs in its own child process, so the peak
// resident set (ru_maxrss) is that case's alone:
//   build/release/tests/bench/casebridge_dss_inbound_bench [MiB ...]   (default: 8 64)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/uuid.hpp"
#include "dss_files/dss_files_adapter.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "log/log.hpp"
#include "support/run_awaitable.hpp"

namespace fs = std::filesystem;
using namespace casebridge;

namespace {

// Writes an acknowledgement file of about `bytes` bytes; returns its row count.
std::size_t write_acks(const fs::path& path, std::size_t bytes) {
    std::ofstream out(path, std::ios::binary);
    out << "\xEF\xBB\xBF"
        << "exchange_id,status,dss_reference,reason\r\n";
    std::size_t written = 0;
    std::size_t rows = 0;
    while (written < bytes) {
        const std::string line = uuid_v5("bench/" + std::to_string(rows)) + "," +
                                 (rows % 5 == 0 ? "rejected" : "accepted") + ",DSS/CXB/2025/" +
                                 std::to_string(rows) + ",code_" + std::to_string(rows % 13) +
                                 "\r\n";
        out << line;
        written += line.size();
        ++rows;
    }
    return rows;
}

// Reads every page of the inbox through the adapter; the number of records.
std::size_t read_through_adapter(const fs::path& root) {
    dss_files::settings s;
    s.outbox = root / "outbox";
    s.inbox = root / "inbox";
    s.sent_register = root / "sent";
    s.passphrase_file = root / "passphrase";
    s.sender = "bench";
    s.max_file_bytes = 1024ULL * 1024 * 1024;
    boost::asio::io_context ctx;
    system_clock_source clock;
    memory_sink sink;
    adapter_env env{ctx.get_executor(), nullptr, &clock, logger(sink, clock, log_level::warn)};
    dss_files::dss_files_adapter a(s, std::move(env));
    std::size_t records = 0;
    std::optional<std::string> cursor;
    while (true) {
        auto page =
            test::run_awaitable(a.pull("acknowledgements", cursor), std::chrono::minutes(10));
        if (!page) {
            std::fprintf(stderr, "pull failed: %s\n", page.error().describe().c_str());
            std::exit(2);
        }
        records += page->records.size();
        cursor = page->next_cursor;
        if (!page->has_more) {
            return records;
        }
    }
}

// Holds the whole file in memory and parses it into a table.
std::size_t read_whole(const fs::path& file) {
    auto text = json::read_file(file, 1024ULL * 1024 * 1024);
    if (!text) {
        std::exit(2);
    }
    auto table = exchange::parse_csv(*text);
    return table ? table->rows.size() : 0;
}

struct measured {
    long peak_kib = 0;
    double seconds = 0;
    std::size_t records = 0;
};

template <typename Fn>
measured in_child(Fn fn) {
    int pipefd[2];
    if (::pipe(pipefd) != 0) {
        std::exit(2);
    }
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipefd[0]);
        const std::size_t n = fn();
        (void)!::write(pipefd[1], &n, sizeof n);
        ::_exit(0);
    }
    ::close(pipefd[1]);
    measured m;
    (void)!::read(pipefd[0], &m.records, sizeof m.records);
    ::close(pipefd[0]);
    int status = 0;
    struct rusage ru {};
    ::wait4(pid, &status, 0, &ru);
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.peak_kib = ru.ru_maxrss;
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes;
    for (int i = 1; i < argc; ++i) {
        sizes.push_back(static_cast<std::size_t>(std::strtoull(argv[i], nullptr, 10)));
    }
    if (sizes.empty()) {
        sizes = {8, 64};
    }
    const fs::path root =
        fs::temp_directory_path() / ("cb-dss-bench-" + std::to_string(::getpid()));
    for (const char* d : {"outbox", "inbox", "sent"}) {
        fs::create_directories(root / d);
    }
    {
        std::ofstream(root / "passphrase") << "bench-passphrase\n";
        fs::permissions(root / "passphrase", fs::perms::owner_read | fs::perms::owner_write);
    }
    const auto idle = in_child([] { return std::size_t{0}; });
    std::printf("baseline process: %ld KiB peak resident\n", idle.peak_kib);
    std::printf(
        "%8s %10s | %22s | %22s\n", "file", "rows", "streamed: peak, time", "whole file: peak, time"
    );
    for (const std::size_t mib : sizes) {
        const fs::path file = root / "inbox" / "ack-bench.csv";
        const std::size_t rows = write_acks(file, mib * 1024 * 1024);
        const fs::path copy = root / "whole.csv";
        fs::copy_file(file, copy, fs::copy_options::overwrite_existing);
        const auto streamed = in_child([&] { return read_through_adapter(root); });
        const auto whole = in_child([&] { return read_whole(copy); });
        if (streamed.records != rows || whole.records != rows) {
            std::fprintf(
                stderr,
                "row counts differ: %zu written, %zu streamed, %zu parsed\n",
                rows,
                streamed.records,
                whole.records
            );
            return 1;
        }
        std::printf(
            "%5zu MiB %10zu | %9ld KiB %8.2f s | %9ld KiB %8.2f s\n",
            mib,
            rows,
            streamed.peak_kib,
            streamed.seconds,
            whole.peak_kib,
            whole.seconds
        );
        fs::remove_all(root / "inbox");
        fs::create_directories(root / "inbox");
    }
    fs::remove_all(root);
    return 0;
}
