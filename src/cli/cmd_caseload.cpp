// `casebridge caseload-transfer plan|execute`: hand every open case over at project end, after
// a person has reviewed each case's consent (Cox's Bazar SOP §4.6).
#include <fstream>
#include <ostream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <unistd.h>

#include "app/config.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "cli/store_lock.hpp"
#include "core/atomic_file.hpp"
#include "core/time.hpp"
#include "log/log.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"
#include "sync/caseload.hpp"

namespace casebridge::cli {

namespace {

struct loaded {
    std::optional<store::writer_lock> lock;  ///< First, so it is released after the engine.
    std::unique_ptr<app::engine> engine;
    app::flow_slot* slot = nullptr;
    std::unique_ptr<store::keyed_hasher> key;
};

std::optional<loaded> load(
    const parsed_args& args,
    command_io& io,
    net::io_context& ctx,
    bool read_only,
    std::string_view name
) {
    if (io.adapters == nullptr) {
        io.err << "casebridge " << name << ": this build has no adapters registered\n";
        return std::nullopt;
    }
    auto cfg = app::load_config(*args.get("config"), io.adapters);
    const std::string flow = *args.get("flow");
    if (cfg.find_flow(flow) == nullptr) {
        io.err << "casebridge " << name << ": no flow '" << flow << "' in " << cfg.file.string()
               << "\n";
        return std::nullopt;
    }
    if (cfg.find_flow(flow)->purpose == "acknowledgement") {
        io.err
            << "casebridge " << name << ": flow '" << flow
            << "' reads acknowledgements; a caseload is transferred by a flow that sends cases\n";
        return std::nullopt;
    }
    auto key = store::keyed_hasher::from_file(cfg.store.identifier_key_file);
    if (!key) {
        io.err << "casebridge " << name << ": store.identifier_key_file cannot be read\n";
        return std::nullopt;
    }
    loaded l;
    if (!read_only) {  // one writer per store (see store_lock.hpp)
        l.lock = lock_store(cfg.store.path, {.command = name, .config = *args.get("config")}, io);
        if (!l.lock) {
            return std::nullopt;
        }
    }
    l.key = std::make_unique<store::keyed_hasher>(std::move(*key));
    logger log(stderr_sink::instance(), system_clock_source::instance(), log_level::warn);
    try {
        l.engine = std::make_unique<app::engine>(
            std::move(cfg),
            *io.adapters,
            ctx.get_executor(),
            system_clock_source::instance(),
            log,
            app::engine_options{read_only, false}
        );
    } catch (const std::exception& e) {
        io.err << "casebridge " << name << ": " << e.what() << "\n";
        return std::nullopt;
    }
    l.slot = l.engine->find(flow);
    return l;
}

}  // namespace

int run_caseload_plan(const parsed_args& args, command_io& io) {
    net::io_context ctx;
    auto l = load(args, io, ctx, true, "caseload-transfer plan");
    if (!l) {
        return exit_error;
    }
    const auto& flow = l->slot->cfg->id;
    const bool can_override = sync::caseload_override_allowed(*l->slot->runner);
    sync::run_options o;
    o.dry_run = true;
    o.keep_records = true;
    o.from_start = true;
    o.handover = true;
    auto fut = net::co_spawn(ctx, l->slot->runner->run_once(o), net::use_future);
    ctx.run();
    const auto report = fut.get();
    if (report.error) {
        io.err << "casebridge caseload-transfer plan: the source could not be read to the end: "
               << *report.error << "\n";
        return exit_error;
    }
    const auto plan =
        sync::make_caseload_plan(report, *l->key, flow, l->slot->cfg->to_system, can_override);
    const std::filesystem::path out = *args.get("out");
    if (auto written = write_file_atomically(out, plan.csv); !written) {
        io.err << "casebridge caseload-transfer plan: cannot write " << out.string() << "\n";
        return exit_error;
    }
    io.out << "plan for " << flow << " (" << l->slot->cfg->from_system << " -> "
           << l->slot->cfg->to_system << ", profile " << l->slot->cfg->profile
           << "): " << plan.records << " records in " << out.string() << "\n";
    for (const auto& [k, v] : plan.counts) {
        io.out << "  " << k << ": " << v << "\n";
    }
    io.out << "Review the file: write yes in 'confirm' for each record to transfer; a record that\n"
              "needs consent confirmation also needs a written 'override_reason'. Then run\n"
              "casebridge caseload-transfer execute --config ... --flow "
           << flow << " --review " << out.string() << "\n";
    return exit_ok;
}

int run_caseload_execute(const parsed_args& args, command_io& io) {
    const std::filesystem::path review = *args.get("review");
    std::ifstream in(review, std::ios::binary);
    if (!in) {
        io.err << "casebridge caseload-transfer execute: cannot read " << review.string() << "\n";
        return exit_error;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string origin = review.string();
    if (const auto bad = sync::caseload_review_shape(text.str(), origin); !bad.empty()) {
        io.err << "casebridge caseload-transfer execute: " << bad << "\n";
        return exit_error;
    }
    // Each execute writes its own receipt and never replaces one: it is what the receiving
    // side verifies. The name is chosen (and an existing --receipt refused) before anything
    // is sent.
    std::filesystem::path receipt;
    if (args.get("receipt")) {
        receipt = *args.get("receipt");
        if (std::filesystem::exists(receipt)) {
            io.err << "casebridge caseload-transfer execute: " << receipt.string()
                   << " exists; a receipt is never overwritten (name a new file with --receipt, "
                      "or leave --receipt out for a numbered one); nothing was sent\n";
            return exit_error;
        }
    } else {
        receipt = review.string() + ".receipt.json";
        for (int n = 2; std::filesystem::exists(receipt); ++n) {
            receipt = review.string() + ".receipt-" + std::to_string(n) + ".json";
        }
    }
    net::io_context ctx;
    auto l = load(args, io, ctx, false, "caseload-transfer execute");
    if (!l) {
        return exit_error;
    }
    const auto& flow = l->slot->cfg->id;
    const std::string actor = args.get("actor").value_or("operator");
    auto read = sync::read_caseload_review(text.str(), origin, *l->key, flow, actor);
    const auto& problems = read.problems;
    if (!problems.empty()) {
        io.err << "casebridge caseload-transfer execute: the review file is refused; nothing was "
                  "sent:\n";
        for (const auto& p : problems) {
            io.err << "  " << p << "\n";
        }
        return exit_error;
    }
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    auto progress = [&io, tty](std::size_t done, std::size_t total) {
        if (tty) {
            io.err << "\rtransferring " << done << "/" << total << std::flush;
        }
    };
    auto fut =
        net::co_spawn(ctx, l->slot->runner->run_selected(read.chosen, progress), net::use_future);
    ctx.run();
    const auto report = fut.get();
    if (tty) {
        io.err << "\n";
    }
    auto cp = l->engine->store().call([](store::store& s) {
        return store::latest_checkpoint(s.database());
    });

    const auto confirmed = read.chosen.size();
    const auto settled = sync::settle_caseload(
        std::move(read),
        report,
        {.flow = flow,
         .from_system = l->slot->cfg->from_system,
         .to_system = l->slot->cfg->to_system,
         .executed_at = format_rfc3339(system_clock_source::instance().now()),
         .review_file = review.filename().string(),
         .checkpoint_json = cp && *cp ? (*cp)->to_json() : std::string()}
    );
    auto counts = settled.counts;
    if (auto written = write_new_file(receipt, settled.receipt + "\n"); !written) {
        io.err << "casebridge caseload-transfer execute: cannot write the receipt "
               << receipt.string() << " (" << written.error().message()
               << "); what was sent is in the transfer log\n";
        return exit_error;
    }
    io.out << "caseload transfer " << flow << ": confirmed " << confirmed << ", transferred "
           << counts["transferred"] << ", already transferred " << counts["already_transferred"]
           << ", awaiting acknowledgement " << counts["awaiting_acknowledgement"] << ", withheld "
           << counts["withheld"] << ", held " << counts["held"];
    if (counts["not_processed"] > 0) {
        io.out << ", not processed " << counts["not_processed"];
    }
    io.out << "; not handed over " << settled.left.size() << "; receipt " << receipt.string()
           << "\n";
    if (report.error) {
        io.err << "casebridge caseload-transfer execute: stopped early: " << *report.error
               << " (run it again: nothing is sent twice)\n";
        return exit_error;
    }
    return counts["held"] > 0 ? exit_held : exit_ok;
}

}  // namespace casebridge::cli
