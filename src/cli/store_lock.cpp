#include "cli/store_lock.hpp"

#include <ostream>

namespace casebridge::cli {

namespace {

// The daemon, or a demo serving its daemon (`demo --serve`): one with an admin API.
bool is_daemon(const store::lock_holder& h) {
    return h.command == "casebridge run" || h.command.rfind("casebridge run ", 0) == 0 ||
           !h.admin_url.empty();
}

}  // namespace

std::optional<store::writer_lock> lock_store(
    const std::filesystem::path& store_file, const store_writer& who, command_io& io
) {
    std::string command = "casebridge " + std::string(who.command);
    if (!who.flow.empty()) {
        command += " " + who.flow;
    }
    if (!who.config.empty()) {
        std::error_code ec;
        const auto abs = std::filesystem::absolute(who.config, ec);
        command += " --config " + (ec ? who.config : abs).string();
    } else {
        std::error_code ec;
        const auto abs = std::filesystem::absolute(store_file, ec);
        command += " --store " + (ec ? store_file : abs).string();
    }
    auto lock = store::writer_lock::try_acquire(store_file, command);
    if (lock.held()) {
        return lock;
    }
    io.err << "casebridge " << who.command << ": " << lock.describe_refusal(store_file) << ".\n";
    if (!lock.holder()) {
        return std::nullopt;  // the lock file itself cannot be used; the reason was given
    }
    const auto& h = *lock.holder();
    io.err << "Two processes writing one store would send records twice, so this one stops "
              "here and changed nothing.\n";
    const bool daemon = is_daemon(h);
    if (daemon && !who.flow.empty()) {
        const std::string where = h.admin_url.empty() ? "its admin API" : h.admin_url;
        io.err << "Ask the running daemon instead: POST " << where << "/flows/" << who.flow
               << "/run with 'Authorization: Bearer' and the token in admin.token_file (202: "
                  "started, 409: already running; see docs/sync.md, the admin API).\n";
    } else if (daemon && who.command == "run") {
        io.err << "A daemon already runs on this store"
               << (h.admin_url.empty() ? "" : " (admin API " + h.admin_url + ")")
               << "; use it, or stop it before starting another.\n";
    } else if (daemon) {
        io.err << "Stop the daemon first (e.g. 'systemctl stop casebridge'), run this again, "
                  "then start the daemon; flows can be run through its admin API "
               << (h.admin_url.empty() ? std::string() : "(" + h.admin_url + ") ")
               << "with POST /flows/{id}/run.\n";
    } else {
        io.err << "Wait until that process has finished, then try again.\n";
    }
    return std::nullopt;
}

}  // namespace casebridge::cli
