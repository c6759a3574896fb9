// `casebridge log verify|export|show|public-key` and `casebridge store purge`.
#include <array>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <string_view>

#include <rapidjson/document.h>

#include "app/config.hpp"
#include "cli/commands.hpp"
#include "cli/store_lock.hpp"
#include "core/clock.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "store/migrations.hpp"
#include "store/store.hpp"

namespace casebridge::cli {

namespace {

/// The tables the log commands read.
constexpr std::array<std::string_view, 3> log_tables = {"transfer_log", "checkpoints", "cursors"};

/// Opens an existing store file for reading (never creates it, never writes to it) and checks
/// that it is a store this build can read: not empty, a known schema version, the log's
/// tables present. Writes the reason to `io.err`.
std::optional<store::db> open_existing(
    std::string_view command, const std::string& path, command_io& io
) {
    const auto refuse = [&](const std::string& why) {
        io.err << "casebridge " << command << ": " << path << ": " << why << '\n';
        return std::nullopt;
    };
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        return refuse("no such store file");
    }
    if (std::filesystem::file_size(path, ec) == 0 && !ec) {
        return refuse("the file is empty (0 bytes): not a casebridge store");
    }
    auto d = store::db::open_read_only(path);
    if (!d) {
        return refuse("cannot open the store (" + d.error().message() + ")");
    }
    const auto version_text = d->pragma("user_version");
    if (!version_text) {
        return refuse("not a readable SQLite database (" + d->last_error() + ")");
    }
    const int version = std::atoi(version_text->c_str());
    if (version <= 0) {
        return refuse("not a casebridge store (no schema version)");
    }
    if (version > store::schema_version()) {
        return refuse(
            "schema version " + std::to_string(version) + " is newer than this casebridge reads (" +
            std::to_string(store::schema_version()) +
            "): use the casebridge that wrote it, or a newer one"
        );
    }
    for (const auto table : log_tables) {
        auto s = d->prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
        if (!s) {
            return refuse("cannot read the schema (" + d->last_error() + ")");
        }
        s->bind(1, table);
        const auto found = s->step();
        if (!found || !*found) {
            return refuse(
                "schema version " + std::to_string(version) + " but no table " +
                std::string(table) + ": a damaged store, or not a casebridge store"
            );
        }
    }
    return std::move(*d);
}

/// An RFC 3339 option as the log's timestamp text (UTC, 6 fraction digits).
std::optional<std::optional<std::string>> time_option(
    const parsed_args& args, std::string_view name, command_io& io
) {
    const auto v = args.get(name);
    if (!v) {
        return std::optional<std::string>();
    }
    const auto t = parse_rfc3339(*v);
    if (!t) {
        io.err << "casebridge log export: --" << name
               << " is not an RFC 3339 time (e.g. 2025-03-01T00:00:00Z)\n";
        return std::nullopt;
    }
    return std::optional<std::string>(format_rfc3339(*t, 6));
}

std::string csv_field(std::string_view v) {
    if (v.find_first_of(",\"\n") == std::string_view::npos) {
        return std::string(v);
    }
    std::string out = "\"";
    for (const char c : v) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    return out + '"';
}

std::string text_of(const rapidjson::Value& v) {
    if (v.IsNull()) {
        return {};
    }
    if (v.IsString()) {
        return v.GetString();
    }
    return json::canonical(v);
}

}  // namespace

int run_log_verify(const parsed_args& args, command_io& io) {
    const std::string path = *args.get("store");
    store::verify_options options;
    if (const auto pk = args.get("public-key")) {
        auto key = store::read_public_key_pem(*pk);
        if (!key) {
            io.err << "casebridge log verify: " << *pk << ": not an Ed25519 public key (PEM)\n";
            return exit_error;
        }
        options.public_key = *key;
    }
    if (const auto cp = args.get("checkpoint")) {
        auto text = json::read_file(*cp);
        auto c = text ? store::checkpoint::from_json(*text)
                      : result<store::checkpoint>(errc::file_unreadable);
        if (!c) {
            io.err << "casebridge log verify: " << *cp << ": not a checkpoint file ("
                   << c.error().message() << ")\n";
            return exit_error;
        }
        options.external_checkpoint = *c;
    }
    auto d = open_existing("log verify", path, io);
    if (!d) {
        return exit_error;
    }
    auto r = store::verify(*d, options);
    if (!r) {
        io.err << "casebridge log verify: " << path << ": " << r.error().message() << " ("
               << d->last_error() << ")\n";
        return exit_error;
    }
    if (!r->ok) {
        io.err << "casebridge log verify: " << path << ": FAILED at entry " << r->bad_seq << ": "
               << r->problem << '\n';
        io.out << "verified " << r->entries << " entries and " << r->checkpoints
               << " checkpoints before the failure\n";
        return exit_error;
    }
    io.out << "ok: " << r->entries << " entries and " << r->checkpoints << " checkpoints verified";
    if (!r->key_pinned) {
        io.out << " (signatures checked against the keys recorded in the store; pass "
                  "--public-key to pin the signing key)";
    }
    if (!options.external_checkpoint) {
        io.out << " (no external checkpoint: a truncated tail is detectable only with "
                  "--checkpoint)";
    }
    io.out << '\n';
    return exit_ok;
}

int run_log_export(const parsed_args& args, command_io& io) {
    const std::string format = args.get_or("format", "json");
    if (format != "json" && format != "csv") {
        io.err << "casebridge log export: --format must be csv or json\n";
        return exit_usage;
    }
    const auto since = time_option(args, "since", io);
    const auto until = time_option(args, "until", io);
    if (!since || !until) {
        return exit_usage;
    }
    auto d = open_existing("log export", *args.get("store"), io);
    if (!d) {
        return exit_error;
    }
    auto rows = store::read_entries(*d, *since, *until);
    if (!rows) {
        io.err << "casebridge log export: " << rows.error().message() << '\n';
        return exit_error;
    }
    if (format == "json") {
        io.out << "[";
        bool first = true;
        for (const auto& r : *rows) {
            auto doc = r.to_json();
            if (!doc) {
                continue;
            }
            io.out << (first ? "\n" : ",\n") << json::canonical(*doc);
            first = false;
        }
        io.out << "\n]\n";
        return exit_ok;
    }
    const auto columns = store::log_columns();
    for (const auto c : columns) {
        io.out << c << ',';
    }
    io.out << "entry_hash\n";
    for (const auto& r : *rows) {
        auto doc = json::parse(r.canonical);
        if (!doc) {
            continue;
        }
        for (const auto c : columns) {
            const auto it = doc->FindMember(rapidjson::StringRef(c.data(), c.size()));
            io.out << (it != doc->MemberEnd() ? csv_field(text_of(it->value)) : std::string())
                   << ',';
        }
        io.out << r.entry_hash << '\n';
    }
    return exit_ok;
}

int run_log_show(const parsed_args& args, command_io& io) {
    // get_or, not *get: GCC 12 at -O2 reports a false -Wstringop-overread when find() is
    // inlined after an optional's dereference.
    const std::string spec = args.get_or("record", "");
    const auto colon = std::string_view(spec).find(':');
    auto system = store::token::make(spec.substr(0, colon));
    auto id = colon == std::string::npos ? result<store::token>(errc::usage)
                                         : store::token::make(spec.substr(colon + 1));
    if (!system || !id) {
        io.err << "casebridge log show: --record must be SYSTEM:ID (ids, no spaces)\n";
        return exit_usage;
    }
    auto d = open_existing("log show", *args.get("store"), io);
    if (!d) {
        return exit_error;
    }
    auto rows = store::read_entries_for(*d, store::record_id{*system, *id});
    if (!rows) {
        io.err << "casebridge log show: " << rows.error().message() << '\n';
        return exit_error;
    }
    for (const auto& r : *rows) {
        auto doc = json::parse(r.canonical);
        if (!doc) {
            continue;
        }
        const rapidjson::Document& entry = *doc;
        const auto f = [&entry](const char* k) { return text_of(entry[k]); };
        io.out << '#' << r.seq << ' ' << r.ts << ' ' << f("flow") << ' ' << f("direction") << ' '
               << f("purpose") << ' ' << f("outcome") << ' ' << f("source_system") << ':'
               << f("source_id") << " -> " << f("target_system") << ':' << f("target_id")
               << " basis=" << f("legitimate_basis") << " fields_sent=" << f("fields_sent")
               << " fields_withheld=" << f("fields_withheld") << '\n';
    }
    io.out << rows->size() << " entries\n";
    return exit_ok;
}

int run_log_public_key(const parsed_args& args, command_io& io) {
    const auto path = *args.get("signing-key");
    auto key = store::signer::from_pem_file(path);
    if (!key) {
        io.err << "casebridge log public-key: " << path << ": not an Ed25519 private key (PEM)\n";
        return exit_error;
    }
    io.out << key->public_key_pem();
    return exit_ok;
}

int run_store_purge(const parsed_args& args, command_io& io) {
    const bool by_config = args.get("config").has_value();
    if (by_config == (args.get("store").has_value() || args.get("retention-days").has_value())) {
        io.err << "casebridge store purge: give either --config FILE, or --store FILE and "
                  "--retention-days N\n";
        return exit_usage;
    }
    if (!by_config && !(args.get("store") && args.get("retention-days"))) {
        io.err << "casebridge store purge: --store needs --retention-days (or use --config)\n";
        return exit_usage;
    }
    std::int64_t days = 0;
    std::string path;
    if (by_config) {
        const auto cfg = app::load_config(*args.get("config"), io.adapters);
        days = cfg.store.retention_days;
        path = cfg.store.path.string();
    } else {
        days = args.number("retention-days", 0, 36'500, 0);
        path = *args.get("store");
    }
    auto actor = store::token::make(args.get_or("actor", "casebridge"));
    if (!actor) {
        io.err << "casebridge store purge: --actor must be an id\n";
        return exit_usage;
    }
    if (!std::filesystem::is_regular_file(path)) {
        io.err << "casebridge store purge: " << path << ": no such store file\n";
        return exit_error;
    }
    auto lock = lock_store(path, {.command = "store purge"}, io);
    if (!lock) {
        return exit_error;
    }
    auto s = store::store::open(path, {}, system_clock_source::instance());
    if (!s) {
        io.err << "casebridge store purge: " << path << ": " << s.error().message() << '\n';
        return exit_error;
    }
    auto counts = s->purge(std::chrono::hours(24) * days, *actor);
    if (!counts) {
        io.err << "casebridge store purge: " << counts.error().message() << '\n';
        return exit_error;
    }
    io.out << "purged " << counts->links << " links and " << counts->deliveries
           << " deliveries closed more than " << days << " days ago (log entry " << counts->log_seq
           << ")\n";
    return exit_ok;
}

}  // namespace casebridge::cli
