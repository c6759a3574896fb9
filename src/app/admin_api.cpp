#include "app/admin_api.hpp"

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "app/console.hpp"
#include "app/engine.hpp"
#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/time.hpp"
#include "core/token_text.hpp"
#include "json/json.hpp"
#include "net/bearer.hpp"
#include "net/handoff.hpp"
#include "net/json_answer.hpp"
#include "net/url.hpp"
#include "report/schedule.hpp"
#include "store/store_thread.hpp"
#include "sync/caseload.hpp"

namespace casebridge::app {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

using httpd::error_answer;
using httpd::json_answer;

void str(writer& w, std::string_view key, std::string_view value) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void num(writer& w, std::string_view key, std::int64_t value) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    w.Int64(value);
}

/// "/a/b?x=1&y=2" as decoded path parts and query parameters. A '+' stays a '+' (RFC 3339
/// offsets arrive as sent); of a repeated parameter the last one counts.
struct target {
    std::vector<std::string> parts;
    std::map<std::string, std::string> query;
};

/// nullopt for a target that does not parse (a bad percent-escape).
std::optional<target> parse_target(std::string_view t) {
    auto parsed = parse_request_target(t, plus_sign::literal);
    if (!parsed) {
        return std::nullopt;
    }
    target out;
    out.parts = std::move(parsed->segments);
    for (auto& [name, value] : parsed->query) {
        out.query[name] = std::move(value);
    }
    return out;
}

std::optional<std::int64_t> to_int(std::string_view s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

std::string prometheus_label(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

/// One histogram's _bucket (cumulative), _sum and _count lines.
void write_histogram(
    std::ostream& o,
    std::string_view name,
    std::string_view label,
    const std::string& value,
    const duration_histogram& h
) {
    const auto bounds = h.bounds();
    std::int64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += h.bucket(i);
        o << name << "_bucket{" << label << "=\"" << value << "\",le=\"" << bounds[i] << "\"} "
          << cumulative << "\n";
    }
    cumulative += h.bucket(bounds.size());
    o << name << "_bucket{" << label << "=\"" << value << "\",le=\"+Inf\"} " << cumulative << "\n";
    o << name << "_sum{" << label << "=\"" << value << "\"} " << h.sum_seconds() << "\n";
    o << name << "_count{" << label << "=\"" << value << "\"} " << cumulative << "\n";
}

httpd::response metrics(engine& e, const clock_source& clock) {
    std::ostringstream o;
    auto cursors = e.store().call([](store::store& s) { return s.cursors(); });
    std::map<std::string, std::string> moved;
    if (cursors) {
        for (const auto& c : *cursors) {
            moved[c.flow.str()] = c.updated_at;
        }
    }
    o << "# HELP casebridge_records_total Records by flow and outcome.\n"
         "# TYPE casebridge_records_total counter\n";
    for (auto& f : e.flows()) {
        const auto id = prometheus_label(f->cfg->id);
        const auto& m = f->metrics;
        for (auto [name, v] : {
                 std::pair{"fetched", m.fetched.load()},
                 std::pair{"sent", m.sent.load()},
                 std::pair{"withheld", m.withheld.load()},
                 std::pair{"consent_withdrawn", m.withdrawn.load()},
                 std::pair{"dead", m.dead.load()},
                 std::pair{"skipped", m.skipped.load()},
             }) {
            o << "casebridge_records_total{flow=\"" << id << "\",outcome=\"" << name << "\"} " << v
              << "\n";
        }
    }
    o << "# HELP casebridge_retries_total Transient failures retried.\n"
         "# TYPE casebridge_retries_total counter\n";
    for (auto& f : e.flows()) {
        o << "casebridge_retries_total{flow=\"" << prometheus_label(f->cfg->id) << "\"} "
          << f->metrics.retries.load() << "\n";
    }
    o << "# HELP casebridge_runs_total Flow runs, and runs that stopped on an error.\n"
         "# TYPE casebridge_runs_total counter\n";
    for (auto& f : e.flows()) {
        const auto id = prometheus_label(f->cfg->id);
        o << "casebridge_runs_total{flow=\"" << id << "\",result=\"all\"} "
          << f->metrics.runs.load() << "\n";
        o << "casebridge_runs_total{flow=\"" << id << "\",result=\"failed\"} "
          << f->metrics.failed_runs.load() << "\n";
    }
    o << "# HELP casebridge_last_success_timestamp_seconds End of the last run without error.\n"
         "# TYPE casebridge_last_success_timestamp_seconds gauge\n";
    for (auto& f : e.flows()) {
        o << "casebridge_last_success_timestamp_seconds{flow=\"" << prometheus_label(f->cfg->id)
          << "\"} " << f->metrics.last_success_unix.load() << "\n";
    }
    const auto retention = std::chrono::hours(24) * e.cfg().store.retention_days;
    auto backlog =
        e.store().call([retention](store::store& s) { return s.awaiting_purge(retention); });
    if (backlog) {
        o << "# HELP casebridge_retention_records Links and deliveries of closed records "
             "(state=closed), and of those closed past retention (state=due: removed by the "
             "next purge).\n"
             "# TYPE casebridge_retention_records gauge\n"
          << "casebridge_retention_records{kind=\"links\",state=\"closed\"} "
          << backlog->closed_links << "\n"
          << "casebridge_retention_records{kind=\"links\",state=\"due\"} " << backlog->due_links
          << "\n"
          << "casebridge_retention_records{kind=\"deliveries\",state=\"closed\"} "
          << backlog->closed_deliveries << "\n"
          << "casebridge_retention_records{kind=\"deliveries\",state=\"due\"} "
          << backlog->due_deliveries << "\n";
    }
    // Reconciliation (flows with a schedule): what the last scheduled run found, per class.
    bool any_reconciled = false;
    for (auto& f : e.flows()) {
        any_reconciled = any_reconciled || f->cfg->reconcile.has_value();
    }
    if (any_reconciled) {
        o << "# HELP casebridge_reconcile_last_run_timestamp_seconds End of the flow's last "
             "scheduled reconciliation that ran to its end (0: none since the daemon started).\n"
             "# TYPE casebridge_reconcile_last_run_timestamp_seconds gauge\n";
        for (auto& f : e.flows()) {
            if (f->cfg->reconcile) {
                o << "casebridge_reconcile_last_run_timestamp_seconds{flow=\""
                  << prometheus_label(f->cfg->id) << "\"} " << f->reconciled.last_run_unix.load()
                  << "\n";
            }
        }
        o << "# HELP casebridge_reconcile_records Records of the flow's last scheduled "
             "reconciliation by class (docs/operations.md, reconciliation).\n"
             "# TYPE casebridge_reconcile_records gauge\n";
        for (auto& f : e.flows()) {
            if (!f->cfg->reconcile || f->reconciled.last_run_unix.load() == 0) {
                continue;
            }
            const auto id = prometheus_label(f->cfg->id);
            for (std::size_t i = 0; i < sync::verdict_count; ++i) {
                o << "casebridge_reconcile_records{flow=\"" << id << "\",class=\""
                  << sync::to_string(static_cast<sync::verdict>(i)) << "\"} "
                  << f->reconciled.records[i].load() << "\n";
            }
        }
    }
    o << "# HELP casebridge_credentials_refused 1 while a system of the flow refuses the "
         "credentials it would be sent (nothing is sent until the secret changes).\n"
         "# TYPE casebridge_credentials_refused gauge\n";
    for (auto& f : e.flows()) {
        o << "casebridge_credentials_refused{flow=\"" << prometheus_label(f->cfg->id) << "\"} "
          << f->metrics.credentials_refused.load() << "\n";
    }
    o << "# HELP casebridge_cursor_lag_seconds Seconds since the flow's cursor last moved.\n"
         "# TYPE casebridge_cursor_lag_seconds gauge\n";
    const auto now = clock.now();
    for (auto& f : e.flows()) {
        auto it = moved.find(f->cfg->id);
        if (it == moved.end()) {
            continue;
        }
        auto t = parse_rfc3339(it->second);
        if (!t) {
            continue;
        }
        const auto lag = std::chrono::duration_cast<std::chrono::seconds>(now - *t).count();
        o << "casebridge_cursor_lag_seconds{flow=\"" << prometheus_label(f->cfg->id) << "\"} "
          << lag << "\n";
    }
    o << "# HELP casebridge_run_duration_seconds Duration of flow runs.\n"
         "# TYPE casebridge_run_duration_seconds histogram\n";
    for (auto& f : e.flows()) {
        write_histogram(
            o,
            "casebridge_run_duration_seconds",
            "flow",
            prometheus_label(f->cfg->id),
            f->metrics.run_duration
        );
    }
    o << "# HELP casebridge_request_duration_seconds Duration of HTTP requests to a system, "
         "waits for a connection and the rate limit included.\n"
         "# TYPE casebridge_request_duration_seconds histogram\n";
    for (const auto& sys : e.systems()) {
        write_histogram(
            o,
            "casebridge_request_duration_seconds",
            "system",
            prometheus_label(sys->id),
            sys->request_duration
        );
    }
    httpd::response r;
    r.body = o.str();
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
}

httpd::response flows(engine& e) {
    auto cursors = e.store().call([](store::store& s) { return s.cursors(); });
    std::map<std::string, store::flow_cursor> by_flow;
    if (cursors) {
        for (auto& c : *cursors) {
            by_flow.emplace(c.flow.str(), c);
        }
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("flows");
    w.StartArray();
    for (auto& f : e.flows()) {
        const auto& c = *f->cfg;
        w.StartObject();
        str(w, "id", c.id);
        str(w, "from", c.from_system);
        str(w, "to", c.to_system);
        str(w, "purpose", c.purpose);
        str(w, "profile", c.profile);
        w.Key("paused");
        w.Bool(f->paused.load());
        w.Key("running");
        w.Bool(f->running.load());
        w.Key("credentials_refused");
        w.Bool(f->metrics.credentials_refused.load() != 0);
        num(w, "every_seconds", c.every_seconds);
        auto cur = by_flow.find(c.id);
        if (cur != by_flow.end()) {
            str(w, "cursor_moved_at", cur->second.updated_at);
            num(w, "cursor_log_seq", cur->second.at.log_seq);
        }
        w.Key("counts");
        w.StartObject();
        num(w, "fetched", f->metrics.fetched.load());
        num(w, "sent", f->metrics.sent.load());
        num(w, "withheld", f->metrics.withheld.load());
        num(w, "consent_withdrawn", f->metrics.withdrawn.load());
        num(w, "dead", f->metrics.dead.load());
        num(w, "retries", f->metrics.retries.load());
        w.EndObject();
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

httpd::response transfers(engine& e, const target& t) {
    std::optional<std::string> since;
    if (auto it = t.query.find("since"); it != t.query.end() && !it->second.empty()) {
        if (!parse_rfc3339(it->second)) {
            return error_answer(400, "since_is_not_rfc3339");
        }
        since = it->second;
    }
    std::int64_t limit = 100;
    if (auto it = t.query.find("limit"); it != t.query.end()) {
        auto n = to_int(it->second);
        if (!n || *n < 1 || *n > 10000) {
            return error_answer(400, "limit_must_be_1_to_10000");
        }
        limit = *n;
    }
    std::string flow;
    if (auto it = t.query.find("flow"); it != t.query.end()) {
        flow = it->second;
    }
    store::log_query q;
    q.since = since;
    q.limit = limit;
    if (!flow.empty()) {
        q.flow = flow;
    }
    // Filters by id or code: token text only (anything else can match no entry).
    for (auto [name, slot] : {
             std::pair{"record", &q.record},
             std::pair{"to", &q.recipient},
             std::pair{"outcome", &q.outcome},
             std::pair{"reason", &q.reason},
         }) {
        if (auto it = t.query.find(name); it != t.query.end() && !it->second.empty()) {
            if (!is_token_text(it->second)) {
                return error_answer(400, std::string("bad_") + name);
            }
            *slot = it->second;
        }
    }
    if (auto it = t.query.find("order"); it != t.query.end()) {
        if (it->second != "newest" && it->second != "oldest") {
            return error_answer(400, "order_must_be_newest_or_oldest");
        }
        q.newest_first = it->second == "newest";
    }
    auto rows =
        e.store().call([q](store::store& s) { return store::read_entries(s.database(), q); });
    if (!rows) {
        return error_answer(500, "store_failed");
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("entries");
    w.StartArray();
    for (const auto& r : *rows) {
        if (auto doc = r.to_json()) {
            doc->Accept(w);
        }
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

void write_dead_letter(writer& w, const store::dead_letter_row& row, const store::dead_letter& d) {
    w.StartObject();
    num(w, "id", row.id);
    str(w, "created_at", row.created_at);
    str(w, "flow", d.flow.str());
    str(w, "source_system", d.source.system.str());
    str(w, "source_id", d.source.id.str());
    str(w, "reason", d.reason.str());
    w.Key("fields");
    w.StartArray();
    for (const auto& f : d.field_names) {
        w.String(f.str().c_str());
    }
    w.EndArray();
    w.EndObject();
}

httpd::response dead_letters(engine& e, const target& t) {
    std::optional<store::token> flow;
    if (auto it = t.query.find("flow"); it != t.query.end()) {
        auto tok = store::token::make(it->second);
        if (!tok) {
            return error_answer(400, "bad_flow_id");
        }
        flow = *tok;
    }
    auto rows = e.store().call([flow](store::store& s) { return s.list_dead_letters(flow, 1000); });
    if (!rows) {
        return error_answer(500, "store_failed");
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("dead_letters");
    w.StartArray();
    for (const auto& [row, d] : *rows) {
        write_dead_letter(w, row, d);
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

/// The reports written under reports.out_dir (docs/reports.md): id, period, title, files and
/// when; no figure, no path outside that folder.
httpd::response reports(engine& e) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("reports");
    const auto list = report::report_list_json(
        e.cfg().reports ? e.cfg().reports->out_dir : std::filesystem::path()
    );
    w.RawValue(list.c_str(), list.size(), rapidjson::kArrayType);
    w.Key("monthly");
    w.StartArray();
    if (e.cfg().reports) {
        for (const auto& id : e.cfg().reports->monthly) {
            w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
        }
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

httpd::response reviews(engine& e) {
    auto rows = e.store().call([](store::store& s) { return s.reviews(1000); });
    if (!rows) {
        return error_answer(500, "store_failed");
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("reviews");
    w.StartArray();
    for (const auto& r : *rows) {
        w.StartObject();
        num(w, "id", r.id);
        str(w, "created_at", r.created_at);
        str(w, "flow", r.flow.str());
        str(w, "kind", r.kind.str());
        str(w, "source_system", r.source.system.str());
        str(w, "source_id", r.source.id.str());
        if (r.target) {
            str(w, "target_system", r.target->system.str());
            str(w, "target_id", r.target->id.str());
        }
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

httpd::response simple(unsigned status, std::string_view key, std::string_view value) {
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    str(w, key, value);
    w.EndObject();
    return json_answer(status, sb);
}

/// The web console: /console, /console/ and /console/FILE (app/console.hpp).
bool console_route(const target& t) {
    return !t.parts.empty() && t.parts[0] == "console" && t.parts.size() <= 2;
}

/// The method a route answers, or nullopt for no such route.
std::optional<std::string_view> route_method(const target& t) {
    const auto& p = t.parts;
    if (console_route(t)) {
        return "GET";
    }
    if (p.size() == 1 && (p[0] == "healthz" || p[0] == "readyz" || p[0] == "metrics" ||
                          p[0] == "flows" || p[0] == "transfers" || p[0] == "dead-letters" ||
                          p[0] == "reviews" || p[0] == "reports" || p[0] == "activity")) {
        return "GET";
    }
    if (p.size() == 3 && p[0] == "flows" &&
        (p[2] == "pause" || p[2] == "resume" || p[2] == "run" || p[2] == "dry-run")) {
        return "POST";
    }
    if (p.size() == 3 && p[0] == "dead-letters" && p[2] == "retry") {
        return "POST";
    }
    if (p.size() == 3 && p[0] == "reviews" && p[2] == "decide") {
        return "POST";
    }
    if (p.size() == 2 && p[0] == "log" && p[1] == "verify") {
        return "POST";
    }
    if (p.size() == 3 && p[0] == "flows" && p[2] == "caseload") {
        return "GET";
    }
    if (p.size() == 4 && p[0] == "flows" && p[2] == "caseload" &&
        (p[3] == "plan" || p[3] == "check" || p[3] == "execute")) {
        return "POST";
    }
    return std::nullopt;
}

/// The caseload review routes carry a review file: 64 MiB holds about half a million rows.
bool caseload_upload(const target& t) {
    return t.parts.size() == 4 && t.parts[0] == "flows" && t.parts[2] == "caseload" &&
           (t.parts[3] == "check" || t.parts[3] == "execute");
}

/// A POST carries a small body: empty (`curl -d ''`) or a JSON object (a review decision);
/// a caseload review file is the exception.
constexpr std::size_t post_body_limit = 4096;
constexpr std::size_t review_file_limit = std::size_t{64} << 20;

/// The longest written reason of a review decision.
constexpr std::size_t max_reason_length = 2000;

/// POST /reviews/ID/decide {"decision": "resolved"|"dismissed", "reason": "...", "actor": ID}:
/// closes the item with a `review_decision` log entry. The reason is required; only its
/// SHA-256 is kept (a written reason may name a child), and the answer gives it back so the
/// person can match their own note to the log.
httpd::response decide_review(engine& e, const std::string& id_text, const std::string& body) {
    auto id = to_int(id_text);
    if (!id) {
        return error_answer(404, "no_such_review_item");
    }
    auto doc = json::parse(body);
    if (!doc || !doc->IsObject()) {
        return error_answer(400, "body_must_be_a_json_object");
    }
    const auto text = [&doc](const char* name) { return json::string_member(*doc, name); };
    const auto decision = text("decision");
    if (!decision || (*decision != "resolved" && *decision != "dismissed")) {
        return error_answer(400, "decision_must_be_resolved_or_dismissed");
    }
    const auto reason = text("reason");
    if (!reason || reason->find_first_not_of(" \t\r\n") == std::string::npos) {
        return error_answer(400, "a_written_reason_is_required");
    }
    if (reason->size() > max_reason_length) {
        return error_answer(400, "reason_too_long");
    }
    store::token actor("admin");
    if (const auto a = text("actor")) {
        auto t = store::token::make(*a);
        if (!t) {
            return error_answer(400, "actor_must_be_an_id");
        }
        actor = *t;
    }
    const auto digest = store::sha256(*reason);
    const auto outcome = *decision == "resolved" ? store::outcome::review_resolved
                                                 : store::outcome::review_dismissed;
    auto closed = e.store().call([id = *id, outcome, actor, digest](store::store& s) {
        return s.close_review(id, outcome, actor, digest);
    });
    if (!closed) {
        return error_answer(500, "store_failed");
    }
    if (!*closed) {
        return error_answer(404, "no_such_review_item");
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    num(w, "id", *id);
    str(w, "kind", (*closed)->kind.str());
    str(w, "decision", *decision);
    str(w, "reason_sha256", store::to_hex(digest));
    w.EndObject();
    return json_answer(200, sb);
}

httpd::response retry_answer(unsigned status, const std::string& body) {
    if (body.empty()) {
        return error_answer(
            status,
            status == 404   ? "no_such_dead_letter"
            : status == 409 ? "flow_is_running"
            : status == 503 ? "reloading"
                            : "retry_failed"
        );
    }
    httpd::response r;
    r.status = status;
    r.body = body + "\n";
    return r;
}

using engine_answer = std::pair<unsigned, std::string>;

/// Starts `work(slot)` (an awaitable on the flow's runner) on the engine's thread with the flow
/// taken, and calls `done(exception, result)` there when it ends, after the flow is given
/// back; answers 0 when started, 409 while a run, a reconciliation or another action holds
/// the flow, 503 without an engine thread or when a reload replaced the engine meanwhile (its
/// own runs own the flow now). The coroutine holds the engine (a reload may replace it).
template <typename T, typename Work, typename Done>
unsigned start_on_engine(
    admin_context& ctx, std::shared_ptr<engine> e, flow_slot* slot, Work work, Done done
) {
    if (!ctx.engine_executor || !ctx.claim_flow || !ctx.release_flow) {
        return 503;
    }
    if (!ctx.claim_flow(slot)) {
        return 409;
    }
    if (ctx.current() != e) {
        ctx.release_flow(slot);
        return 503;
    }
    auto run = [](std::shared_ptr<engine> keep, flow_slot* s, Work w) -> awaitable<T> {
        (void)keep;
        co_return co_await w(s);
    };
    net::co_spawn(
        ctx.engine_executor,
        run(e, slot, std::move(work)),
        [e, slot, release = ctx.release_flow, done = std::move(done)](
            std::exception_ptr ex, T r
        ) mutable {
            release(slot);  // `e` keeps the slot's engine alive until here
            done(ex, std::move(r));
        }
    );
    return 0;
}

/// start_on_engine, then waits for what `answer(result)` makes of the result (an exception is
/// a 500); this connection waits without holding up any other (health checks answer
/// meanwhile).
template <typename T, typename Work, typename Answer>
awaitable<engine_answer> on_engine(
    admin_context& ctx, std::shared_ptr<engine> e, flow_slot* slot, Work work, Answer answer
) {
    auto h = std::make_shared<handoff<engine_answer>>();
    const auto refused = start_on_engine<T>(
        ctx,
        std::move(e),
        slot,
        std::move(work),
        [h, answer = std::move(answer)](std::exception_ptr ex, T r) {
            h->set(ex ? engine_answer{500, {}} : answer(std::move(r)));
        }
    );
    if (refused != 0) {
        co_return engine_answer{refused, {}};
    }
    co_return co_await handoff<engine_answer>::wait(h);
}

/// Retries dead letter `id`: the record is read fresh and decided again on the engine's
/// thread, with the flow taken (on_engine).
awaitable<httpd::response> retry_dead_letter(
    admin_context& ctx, std::shared_ptr<engine> e, std::int64_t id
) {
    auto letter = e->store().call([id](store::store& s) { return s.get_dead_letter(id); });
    if (!letter || !*letter) {
        co_return error_answer(404, "no_such_dead_letter");
    }
    auto* slot = e->find((*letter)->flow.str());
    if (slot == nullptr) {
        co_return error_answer(404, "no_such_dead_letter");
    }
    auto [status, body] = co_await on_engine<result<sync::record_report>>(
        ctx,
        e,
        slot,
        [id](flow_slot* s) { return s->runner->retry_dead_letter(id); },
        [](result<sync::record_report> r) -> engine_answer {
            if (!r) {
                return {502, {}};
            }
            rapidjson::StringBuffer sb;
            writer w(sb);
            w.StartObject();
            str(w, "source_id", r->source_id);
            str(w, "outcome", r->outcome);
            str(w, "reason", r->reason);
            str(w, "target_id", r->target_id);
            w.EndObject();
            return {200, std::string(sb.GetString(), sb.GetSize())};
        }
    );
    co_return retry_answer(status, body);
}

/// POST /log/verify: recomputes the transfer log's hash chain and checks its signed
/// checkpoints (as `casebridge log verify` does, on the store's thread), and answers the result
/// with the latest checkpoint. The whole log is read: seconds for millions of entries.
httpd::response verify_log(engine& e) {
    auto checked = e.store().call(
        [](store::store& s
        ) -> result<std::pair<store::verify_report, std::optional<store::checkpoint>>> {
            auto v = store::verify(s.database(), store::verify_options{});
            if (!v) {
                return v.error();
            }
            auto c = store::latest_checkpoint(s.database());
            if (!c) {
                return c.error();
            }
            return std::pair{std::move(*v), std::move(*c)};
        }
    );
    if (!checked) {
        return error_answer(500, "store_failed");
    }
    const auto& [v, cp] = *checked;
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("ok");
    w.Bool(v.ok);
    num(w, "entries", v.entries);
    num(w, "checkpoints", v.checkpoints);
    if (!v.ok) {
        str(w, "problem", v.problem);
        num(w, "bad_seq", v.bad_seq);
    }
    if (cp) {
        w.Key("latest_checkpoint");
        w.StartObject();
        num(w, "size", cp->size);
        str(w, "head_hash", cp->head_hash);
        str(w, "ts", cp->ts);
        str(w, "public_key", cp->public_key);
        w.EndObject();
    }
    w.EndObject();
    return json_answer(200, sb);
}

/// GET /activity?days=N (1..90, default 14): transfer entries per UTC day and outcome over
/// the last N days (counts only), for the console's chart.
httpd::response activity(engine& e, const target& t, const clock_source& clock) {
    std::int64_t days = 14;
    if (auto it = t.query.find("days"); it != t.query.end()) {
        auto n = to_int(it->second);
        if (!n || *n < 1 || *n > 90) {
            return error_answer(400, "days_must_be_1_to_90");
        }
        days = *n;
    }
    const auto since =
        format_rfc3339(clock.now() - std::chrono::hours(24) * (days - 1)).substr(0, 10) +
        "T00:00:00Z";
    auto rows = e.store().call([since](store::store& s) {
        return store::daily_outcomes(s.database(), since);
    });
    if (!rows) {
        return error_answer(500, "store_failed");
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    str(w, "since", since);
    num(w, "days", days);
    w.Key("counts");
    w.StartArray();
    for (const auto& r : *rows) {
        w.StartObject();
        str(w, "day", r.day);
        str(w, "outcome", r.outcome);
        num(w, "count", r.count);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

/// An answer from on_engine: its body, or the error its status means.
httpd::response engine_response(unsigned status, const std::string& body, std::string_view failed) {
    if (body.empty()) {
        return error_answer(
            status,
            status == 409   ? "flow_is_running"
            : status == 503 ? "reloading"
                            : failed
        );
    }
    httpd::response out;
    out.status = status;
    out.body = body + "\n";
    return out;
}

/// The most records a dry run reports (the counts cover every record it read).
constexpr std::size_t dry_run_records = 1000;
/// The most pages a dry run reads from the flow's cursor on.
constexpr std::int64_t dry_run_pages = 5;

/// POST /flows/ID/dry-run: reads the next pages from the flow's cursor and decides them as a
/// run would, writing nothing upstream or to the store; answers each record's decision (ids,
/// codes and field names) and the counts.
awaitable<httpd::response> dry_run(admin_context& ctx, std::shared_ptr<engine> e, flow_slot* slot) {
    auto [status, body] = co_await on_engine<sync::run_report>(
        ctx,
        e,
        slot,
        [](flow_slot* s) {
            sync::run_options o;
            o.dry_run = true;
            o.keep_records = true;
            o.max_pages = dry_run_pages;
            return s->runner->run_once(o);
        },
        [](sync::run_report r) -> engine_answer {
            rapidjson::StringBuffer sb;
            writer w(sb);
            w.StartObject();
            w.Key("counts");
            w.StartObject();
            num(w, "fetched", r.counts.fetched);
            num(w,
                "would_send",
                static_cast<std::int64_t>(std::count_if(
                    r.records.begin(),
                    r.records.end(),
                    [](const sync::record_report& x) { return x.outcome == "would_send"; }
                )));
            num(w, "withheld", r.counts.withheld);
            num(w, "consent_withdrawn", r.counts.withdrawn);
            num(w, "dead", r.counts.dead);
            num(w, "skipped", r.counts.skipped);
            w.EndObject();
            w.Key("caught_up");
            w.Bool(r.caught_up);
            if (r.error) {
                str(w, "error", *r.error);
            }
            w.Key("records");
            w.StartArray();
            for (std::size_t i = 0; i < r.records.size() && i < dry_run_records; ++i) {
                const auto& x = r.records[i];
                w.StartObject();
                str(w, "source_id", x.source_id);
                str(w, "decision", x.outcome);
                str(w, "prior", x.prior);
                str(w, "basis", x.basis);
                str(w, "reason", x.reason);
                w.Key("fields_sent");
                w.StartArray();
                for (const auto& f : x.fields_sent) {
                    w.String(f.c_str(), static_cast<rapidjson::SizeType>(f.size()));
                }
                w.EndArray();
                w.Key("fields_withheld");
                w.StartArray();
                for (const auto& f : x.fields_withheld) {
                    w.String(f.c_str(), static_cast<rapidjson::SizeType>(f.size()));
                }
                w.EndArray();
                w.EndObject();
            }
            w.EndArray();
            w.Key("records_left_out");
            w.Int64(static_cast<std::int64_t>(
                r.records.size() > dry_run_records ? r.records.size() - dry_run_records : 0
            ));
            w.EndObject();
            return {200, std::string(sb.GetString(), sb.GetSize())};
        }
    );
    co_return engine_response(status, body, "dry_run_failed");
}

/// The most problems a review-file answer lists (the count covers them all).
constexpr std::size_t listed_problems = 1000;

void write_counts(writer& w, const char* key, const std::map<std::string, std::int64_t>& counts) {
    w.Key(key);
    w.StartObject();
    for (const auto& [k, v] : counts) {
        num(w, k, v);
    }
    w.EndObject();
}

void write_problems(writer& w, const std::vector<std::string>& problems) {
    w.Key("problems");
    w.StartArray();
    for (std::size_t i = 0; i < problems.size() && i < listed_problems; ++i) {
        w.String(problems[i].c_str(), static_cast<rapidjson::SizeType>(problems[i].size()));
    }
    w.EndArray();
    num(w, "problem_count", static_cast<std::int64_t>(problems.size()));
}

/// The name problems give a review file: `?file=NAME` as the person's browser knew it (letters,
/// digits, '.', '_', '-' and spaces, at most 100), else "review.csv".
std::string review_origin(const target& t) {
    const auto it = t.query.find("file");
    if (it == t.query.end() || it->second.empty() || it->second.size() > 100 ||
        it->second.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- "
        ) != std::string::npos) {
        return "review.csv";
    }
    return it->second;
}

/// A flow that sends cases (a caseload is not handed over by an acknowledgement flow).
std::optional<httpd::response> not_a_sending_flow(const flow_slot& slot) {
    if (slot.cfg->purpose == "acknowledgement") {
        return error_answer(409, "flow_reads_acknowledgements");
    }
    return std::nullopt;
}

/// POST /flows/ID/caseload/plan: the hand-over plan of every record the source holds (a dry
/// run from the start, nothing written), as the review file `caseload-transfer plan` writes,
/// with the number of records per decision.
awaitable<httpd::response> caseload_plan_route(
    admin_context& ctx, std::shared_ptr<engine> e, flow_slot* slot
) {
    if (auto refused = not_a_sending_flow(*slot)) {
        co_return std::move(*refused);
    }
    const bool can_override = sync::caseload_override_allowed(*slot->runner);
    // Named, and holding no owner: GCC 12 destroys a lambda written inside a co_await
    // expression twice. The engine outlives the answer (on_engine holds it until then).
    auto plan_all = [](flow_slot* s) {
        sync::run_options o;
        o.dry_run = true;
        o.keep_records = true;
        o.from_start = true;
        o.handover = true;
        return s->runner->run_once(o);
    };
    auto answer = [en = e.get(), slot, can_override](sync::run_report r) -> engine_answer {
        rapidjson::StringBuffer sb;
        writer w(sb);
        w.StartObject();
        if (r.error) {
            str(w, "error", "source_not_read_to_the_end");
            str(w, "detail", *r.error);
            w.EndObject();
            return {502, std::string(sb.GetString(), sb.GetSize())};
        }
        const auto plan = sync::make_caseload_plan(
            r, en->identities(), slot->cfg->id, slot->cfg->to_system, can_override
        );
        str(w, "flow", slot->cfg->id);
        str(w, "from", slot->cfg->from_system);
        str(w, "to", slot->cfg->to_system);
        str(w, "profile", slot->cfg->profile);
        num(w, "records", static_cast<std::int64_t>(plan.records));
        write_counts(w, "counts", plan.counts);
        str(w, "review_file", plan.csv);
        w.EndObject();
        return {200, std::string(sb.GetString(), sb.GetSize())};
    };
    auto [status, body] =
        co_await on_engine<sync::run_report>(ctx, e, slot, std::move(plan_all), std::move(answer));
    co_return engine_response(status, body, "plan_failed");
}

/// The actor of a hand-over through the API: `?actor=ID`, else "admin"; nullopt when not an id.
std::optional<std::string> caseload_actor(const target& t) {
    const auto it = t.query.find("actor");
    if (it == t.query.end()) {
        return std::string("admin");
    }
    auto tok = store::token::make(it->second);
    if (!tok) {
        return std::nullopt;
    }
    return tok->str();
}

/// POST /flows/ID/caseload/check: reads an edited review file as `caseload-transfer execute`
/// would, sending nothing, and answers what would be refused (file and line) or what would be
/// transferred.
httpd::response caseload_check_route(
    engine& e, const flow_slot& slot, const target& t, const std::string& body
) {
    if (auto refused = not_a_sending_flow(slot)) {
        return std::move(*refused);
    }
    const auto actor = caseload_actor(t);
    if (!actor) {
        return error_answer(400, "actor_must_be_an_id");
    }
    const auto review =
        sync::read_caseload_review(body, review_origin(t), e.identities(), slot.cfg->id, *actor);
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    w.Key("accepted");
    w.Bool(review.problems.empty());
    write_problems(w, review.problems);
    num(w, "to_transfer", static_cast<std::int64_t>(review.chosen.size()));
    num(w, "overrides", static_cast<std::int64_t>(review.overrides.size()));
    num(w, "not_confirmed", static_cast<std::int64_t>(review.not_confirmed));
    w.EndObject();
    return json_answer(200, sb);
}

}  // namespace

/// A hand-over started through the API: its progress, then its outcome.
struct caseload_job {
    std::atomic<std::size_t> done{0};
    std::atomic<std::size_t> total{0};
    std::mutex mutex;
    std::string state = "running";  ///< running | finished | failed
    std::string started_at;
    std::string outcome;  ///< finished: counts, receipt and its file (JSON members)
};

/// The latest hand-over of each flow since the daemon started.
struct caseload_jobs {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<caseload_job>> latest;
};

namespace {

/// What the engine's thread hands back from an execution.
struct caseload_executed {
    sync::run_report report;
    std::string checkpoint;  ///< The transfer log's latest signed checkpoint (JSON), or empty.
};

// The records and the job are the caller's (the work lambda's captures, alive in the
// coroutine that awaits this one). The progress lambda is named and holds a plain pointer:
// GCC 12 destroys a lambda written inside a co_await expression twice, which released a
// shared_ptr capture once too often.
awaitable<caseload_executed> execute_caseload(
    flow_slot* slot,
    store::store_thread* st,
    const std::vector<sync::flow_runner::selected>& chosen,
    caseload_job* job
) {
    caseload_executed out;
    job->total = chosen.size();
    std::function<void(std::size_t, std::size_t)> progress =
        [job](std::size_t done, std::size_t total) {
            job->done = done;
            job->total = total;
        };
    out.report = co_await slot->runner->run_selected(chosen, std::move(progress));
    auto read_checkpoint = [](store::store& s) { return store::latest_checkpoint(s.database()); };
    auto cp = co_await st->run(std::move(read_checkpoint));
    if (cp && *cp) {
        out.checkpoint = (*cp)->to_json();
    }
    co_return out;
}

/// Writes `receipt` as a new file in the store's folder, receipts/caseload-FLOW-TIME.json
/// (numbered when taken); the path, or empty when it could not be written.
std::string write_receipt(
    const std::filesystem::path& store_path,
    const std::string& flow,
    const std::string& at,
    const std::string& receipt
) {
    const auto folder = store_path.parent_path() / "receipts";
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    std::string stamp;
    for (char c : at) {
        if (c != ':' && c != '-') {
            stamp += c;
        }
    }
    for (int n = 1; n < 100; ++n) {
        const auto name = "caseload-" + flow + "-" + stamp +
                          (n == 1 ? std::string() : "-" + std::to_string(n)) + ".json";
        if (write_new_file(folder / name, receipt + "\n")) {
            return (folder / name).string();
        }
        if (!std::filesystem::exists(folder / name)) {
            break;
        }
    }
    return {};
}

/// POST /flows/ID/caseload/execute: reads the review file (refused whole, 422, nothing sent,
/// when any row is refused), then hands the confirmed records over in the background with the
/// flow taken (202); GET /flows/ID/caseload follows it and gives the receipt, also written to
/// the store's receipts folder.
httpd::response caseload_execute_route(
    admin_context& ctx,
    std::shared_ptr<engine> e,
    flow_slot* slot,
    const target& t,
    const std::string& body
) {
    if (auto refused = not_a_sending_flow(*slot)) {
        return std::move(*refused);
    }
    const auto actor = caseload_actor(t);
    if (!actor) {
        return error_answer(400, "actor_must_be_an_id");
    }
    const auto origin = review_origin(t);
    auto review = sync::read_caseload_review(body, origin, e->identities(), slot->cfg->id, *actor);
    if (!review.problems.empty()) {
        rapidjson::StringBuffer sb;
        writer w(sb);
        w.StartObject();
        str(w, "error", "review_file_refused");
        write_problems(w, review.problems);
        w.EndObject();
        return json_answer(422, sb);
    }
    if (!ctx.caseloads) {
        ctx.caseloads = std::make_shared<caseload_jobs>();
    }
    const std::string flow = slot->cfg->id;
    auto job = std::make_shared<caseload_job>();
    job->started_at =
        format_rfc3339((ctx.clock != nullptr ? *ctx.clock : system_clock_source::instance()).now());
    {
        std::lock_guard lock(ctx.caseloads->mutex);
        if (auto it = ctx.caseloads->latest.find(flow); it != ctx.caseloads->latest.end()) {
            std::lock_guard job_lock(it->second->mutex);
            if (it->second->state == "running") {
                return error_answer(409, "caseload_transfer_running");
            }
        }
    }
    const auto to_transfer = static_cast<std::int64_t>(review.chosen.size());
    auto chosen = review.chosen;
    sync::caseload_receipt_context context{
        .flow = flow,
        .from_system = slot->cfg->from_system,
        .to_system = slot->cfg->to_system,
        .executed_at = job->started_at,
        .review_file = origin,
        .checkpoint_json = {}};
    const auto store_path = e->cfg().store.path;
    auto* st = &e->store();
    const auto refused = start_on_engine<caseload_executed>(
        ctx,
        e,
        slot,
        [st, chosen = std::move(chosen), job](flow_slot* s) {
            return execute_caseload(s, st, chosen, job.get());
        },
        [job, review = std::move(review), context = std::move(context), store_path](
            std::exception_ptr ex, caseload_executed r
        ) mutable {
            if (ex) {
                std::lock_guard lock(job->mutex);
                job->state = "failed";
                return;
            }
            context.checkpoint_json = r.checkpoint;
            const auto settled = sync::settle_caseload(std::move(review), r.report, context);
            const auto file =
                write_receipt(store_path, context.flow, context.executed_at, settled.receipt);
            rapidjson::StringBuffer sb;
            writer w(sb);
            w.StartObject();
            write_counts(w, "counts", settled.counts);
            num(w, "not_handed_over", static_cast<std::int64_t>(settled.left.size()));
            if (r.report.error) {
                str(w, "stopped_early", *r.report.error);
            }
            str(w, "receipt_file", file);
            w.Key("receipt");
            w.RawValue(settled.receipt.c_str(), settled.receipt.size(), rapidjson::kObjectType);
            w.EndObject();
            std::lock_guard lock(job->mutex);
            job->outcome = std::string(sb.GetString(), sb.GetSize());
            job->state = "finished";
        }
    );
    if (refused != 0) {
        return error_answer(refused, refused == 409 ? "flow_is_running" : "reloading");
    }
    {
        std::lock_guard lock(ctx.caseloads->mutex);
        ctx.caseloads->latest[flow] = job;
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    str(w, "status", "started");
    num(w, "to_transfer", to_transfer);
    w.EndObject();
    return json_answer(202, sb);
}

/// GET /flows/ID/caseload: the latest hand-over of the flow since the daemon started
/// ("state": none, running with done/total, finished with counts and receipt, or failed).
httpd::response caseload_status_route(admin_context& ctx, const std::string& flow) {
    std::shared_ptr<caseload_job> job;
    if (ctx.caseloads) {
        std::lock_guard lock(ctx.caseloads->mutex);
        if (auto it = ctx.caseloads->latest.find(flow); it != ctx.caseloads->latest.end()) {
            job = it->second;
        }
    }
    rapidjson::StringBuffer sb;
    writer w(sb);
    w.StartObject();
    str(w, "flow", flow);
    if (!job) {
        str(w, "state", "none");
        w.EndObject();
        return json_answer(200, sb);
    }
    std::lock_guard lock(job->mutex);
    str(w, "state", job->state);
    str(w, "started_at", job->started_at);
    num(w, "done", static_cast<std::int64_t>(job->done.load()));
    num(w, "total", static_cast<std::int64_t>(job->total.load()));
    if (job->state == "finished") {
        w.Key("outcome");
        w.RawValue(job->outcome.c_str(), job->outcome.size(), rapidjson::kObjectType);
    }
    w.EndObject();
    return json_answer(200, sb);
}

}  // namespace

httpd::admission admit_admin(const httpd::request& head, const admin_context& ctx) {
    httpd::admission a;
    const auto t = parse_target(head.target);
    const bool probe =
        t && t->parts.size() == 1 && (t->parts[0] == "healthz" || t->parts[0] == "readyz");
    // The console's files hold code, no data: the sign-in page loads before there is a token.
    const bool console = t && console_route(*t);
    if (!((probe || console) && head.method == "GET") && !httpd::bearer_matches(head, ctx.token)) {
        a.refuse = error_answer(401, "unauthorised");
        return a;
    }
    if (!t) {
        a.refuse = error_answer(400, "bad_target");
        return a;
    }
    const auto method = route_method(*t);
    if (!method) {
        a.refuse = error_answer(404, "not_found");
        return a;
    }
    if (head.method != *method) {
        a.refuse = error_answer(405, "method_not_allowed");
        a.refuse->headers.emplace_back("Allow", std::string(*method));
        return a;
    }
    a.body_limit = *method != "POST"     ? 0
                   : caseload_upload(*t) ? review_file_limit
                                         : post_body_limit;
    return a;
}

awaitable<httpd::response> handle_admin(httpd::request req, admin_context& ctx) {
    const auto parsed = parse_target(req.target);
    if (!parsed) {
        co_return error_answer(400, "bad_target");
    }
    const target& t = *parsed;
    const auto& p = t.parts;
    const bool get = req.method == "GET";
    const bool post = req.method == "POST";
    if (get && p.size() == 1 && p[0] == "healthz") {
        co_return simple(200, "status", "ok");
    }
    if (get && console_route(t)) {
        auto file = console_answer(p.size() == 2 ? p[1] : std::string());
        co_return file ? std::move(*file) : error_answer(404, "not_found");
    }
    auto e = ctx.current ? ctx.current() : nullptr;
    if (get && p.size() == 1 && p[0] == "readyz") {
        co_return e ? simple(200, "status", "ready") : simple(503, "status", "reloading");
    }
    if (!e) {
        co_return error_answer(503, "reloading");
    }
    if (get && p.size() == 1 && p[0] == "metrics") {
        co_return metrics(*e, *ctx.clock);
    }
    if (get && p.size() == 1 && p[0] == "flows") {
        co_return flows(*e);
    }
    if (post && p.size() == 3 && p[0] == "flows") {
        auto* slot = e->find(p[1]);
        if (slot == nullptr) {
            co_return error_answer(404, "no_such_flow");
        }
        if (p[2] == "pause" || p[2] == "resume") {
            slot->set_paused(p[2] == "pause");
            co_return simple(200, "status", slot->paused ? "paused" : "resumed");
        }
        if (p[2] == "run") {
            if (!ctx.run_now || !ctx.run_now(p[1])) {
                co_return error_answer(409, "already_running");
            }
            co_return simple(202, "status", "started");
        }
        if (p[2] == "dry-run") {
            co_return co_await dry_run(ctx, e, slot);
        }
        co_return error_answer(404, "not_found");
    }
    if (p.size() >= 3 && p[0] == "flows" && p[2] == "caseload") {
        auto* slot = e->find(p[1]);
        if (slot == nullptr) {
            co_return error_answer(404, "no_such_flow");
        }
        if (get && p.size() == 3) {
            co_return caseload_status_route(ctx, p[1]);
        }
        if (post && p.size() == 4 && p[3] == "plan") {
            co_return co_await caseload_plan_route(ctx, e, slot);
        }
        if (post && p.size() == 4 && p[3] == "check") {
            co_return caseload_check_route(*e, *slot, t, req.body);
        }
        if (post && p.size() == 4 && p[3] == "execute") {
            co_return caseload_execute_route(ctx, e, slot, t, req.body);
        }
        co_return error_answer(404, "not_found");
    }
    if (get && p.size() == 1 && p[0] == "transfers") {
        co_return transfers(*e, t);
    }
    if (get && p.size() == 1 && p[0] == "dead-letters") {
        co_return dead_letters(*e, t);
    }
    if (post && p.size() == 3 && p[0] == "dead-letters" && p[2] == "retry") {
        auto id = to_int(p[1]);
        if (!id) {
            co_return error_answer(404, "no_such_dead_letter");
        }
        co_return co_await retry_dead_letter(ctx, e, *id);
    }
    if (get && p.size() == 1 && p[0] == "reviews") {
        co_return reviews(*e);
    }
    if (post && p.size() == 3 && p[0] == "reviews" && p[2] == "decide") {
        co_return decide_review(*e, p[1], req.body);
    }
    if (post && p.size() == 2 && p[0] == "log" && p[1] == "verify") {
        co_return verify_log(*e);
    }
    if (get && p.size() == 1 && p[0] == "reports") {
        co_return reports(*e);
    }
    if (get && p.size() == 1 && p[0] == "activity") {
        co_return activity(*e, t, *ctx.clock);
    }
    co_return error_answer(404, "not_found");
}

httpd::service admin_service(admin_context& ctx) {
    httpd::service s;
    s.admit = [&ctx](const httpd::request& head) { return admit_admin(head, ctx); };
    s.handle = [&ctx](httpd::request req) { return handle_admin(std::move(req), ctx); };
    return s;
}

}  // namespace casebridge::app
