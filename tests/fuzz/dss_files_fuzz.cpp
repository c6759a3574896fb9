// Case and acknowledgement files from DSS, read by the dss_files adapter from a real inbox as a
// flow would: each input is written as a case file and as an acknowledgement file, and both
// streams are pulled page by page. Properties: a file is either read into records or
// quarantined with a reason that names a line and holds no field value; the log holds no
// field value either; a pull never throws and ends.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "core/clock.hpp"
#include "dss_files/dss_files_adapter.hpp"
#include "fuzz_support.hpp"
#include "log/log.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    const fs::path root = fuzz::scratch_dir() / "dss";
    fs::remove_all(root);
    for (const char* d : {"outbox", "inbox", "sent"}) {
        fs::create_directories(root / d);
    }
    fuzz::write_file(root / "passphrase", "fuzz passphrase 7\n");
    fs::permissions(root / "passphrase", fs::perms::owner_read | fs::perms::owner_write);
    fuzz::write_file(root / "inbox/case-001.csv", text);
    fuzz::write_file(root / "inbox/ack-001.csv", text);

    dss_files::settings s;
    s.outbox = root / "outbox";
    s.inbox = root / "inbox";
    s.sent_register = root / "sent";
    s.passphrase_file = root / "passphrase";
    s.sender = "cpss-cxb";
    memory_sink sink;
    manual_clock clock(std::chrono::sys_days(std::chrono::year{2026} / 11 / 20));
    net::io_context ctx;
    adapter_env env{ctx.get_executor(), nullptr, &clock, logger(sink, clock, log_level::trace)};
    dss_files::dss_files_adapter a(std::move(s), std::move(env));

    const bool sentinel = fuzz::has_value_sentinel_csv(text);
    for (const char* stream : {"cases", "acknowledgements"}) {
        std::optional<std::string> cursor;
        for (int page = 0; page < 8; ++page) {
            auto fut = net::co_spawn(ctx, a.pull(stream, cursor), net::use_future);
            ctx.restart();
            ctx.run();
            auto r = fut.get();
            if (!r) {
                if (sentinel) {
                    fuzz::require_no_sentinel(r.error().describe(), "pull error");
                }
                continue;  // the file was quarantined; the next pull reads on
            }
            for (const auto& rec : r->records) {
                fuzz::require(rec.body.IsObject(), "a record read is an object");
            }
            cursor = r->next_cursor;
            if (!r->has_more) {
                break;
            }
        }
    }
    if (fs::exists(root / "inbox/rejected")) {
        for (const auto& e : fs::directory_iterator(root / "inbox/rejected")) {
            const auto name = e.path().filename().string();
            if (name.ends_with(".reason.txt")) {
                const auto reason = slurp(e.path());
                fuzz::require(reason.find(':') != std::string::npos, "a reason names a line");
                if (sentinel) {
                    fuzz::require_no_sentinel(reason, "quarantine reason");
                }
            }
        }
    }
    if (sentinel) {
        fuzz::require_no_sentinel(sink.text(), "log line");
    }
    return 0;
}
