#include "hub/hub_admin.hpp"

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "app/console.hpp"
#include "core/clock.hpp"
#include "core/token_text.hpp"
#include "json/json.hpp"
#include "net/bearer.hpp"
#include "net/json_answer.hpp"
#include "net/url.hpp"
#include "report/schedule.hpp"

namespace casebridge::hub {

namespace {

using httpd::error_answer;
using httpd::json_answer;

/// The decoded path segments and query of a target; nullopt when it does not parse.
std::optional<request_target> parts_of(std::string_view target) {
    auto t = parse_request_target(target, plus_sign::literal);
    if (!t) {
        return std::nullopt;
    }
    return std::move(*t);
}

enum class route { healthz, readyz, stats, console, reviews, decide, reports, report_file, none };

route route_of(const std::optional<request_target>& t) {
    if (!t) {
        return route::none;
    }
    const auto& p = t->segments;
    if (p.size() == 1 && p[0] == "healthz") {
        return route::healthz;
    }
    if (p.size() == 1 && p[0] == "readyz") {
        return route::readyz;
    }
    if (!p.empty() && p[0] == "console" && p.size() <= 2) {
        return route::console;
    }
    if (p.size() < 2 || p[0] != "hub") {
        return route::none;
    }
    if (p.size() == 2 && p[1] == "stats") {
        return route::stats;
    }
    if (p.size() == 2 && p[1] == "reviews") {
        return route::reviews;
    }
    if (p.size() == 4 && p[1] == "reviews" && p[3] == "decide") {
        return route::decide;
    }
    if (p.size() == 2 && p[1] == "reports") {
        return route::reports;
    }
    if (p.size() == 5 && p[1] == "reports") {
        return route::report_file;
    }
    return route::none;
}

/// The method a route answers.
std::string_view method_of(route r) {
    return r == route::decide ? "POST" : "GET";
}

/// A decision's body is a small JSON object.
constexpr std::size_t decide_body_limit = 4096;

/// What the service keeps between requests, on the admin server's thread only.
struct state {
    admin_context ctx;
    std::optional<hub_store> store;  ///< Opened at the first request that needs it.

    hub_store* open_store() {
        if (!store) {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(ctx.store_path, ec)) {
                return nullptr;
            }
            auto s = hub_store::open(ctx.store_path, system_clock_source::instance());
            if (!s) {
                return nullptr;
            }
            store.emplace(std::move(*s));
        }
        return &*store;
    }
};

}  // namespace

std::string stats_json(const hub_stats& st, const std::vector<std::string>& agencies) {
    const auto count_of = [](const auto& list, const std::string& id) -> std::int64_t {
        for (const auto& [agency, n] : list) {
            if (agency == id) {
                return n;
            }
        }
        return 0;
    };
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("agencies");
    w.StartArray();
    for (const auto& id : agencies) {
        w.StartObject();
        w.Key("id");
        w.String(id.c_str());
        w.Key("active_records");
        w.Int64(count_of(st.active_per_agency, id));
        w.Key("withdrawn_records");
        w.Int64(count_of(st.withdrawn_per_agency, id));
        w.EndObject();
    }
    w.EndArray();
    w.Key("clusters");
    w.Int64(st.clusters);
    w.Key("multi_agency_clusters");
    w.Int64(st.multi_agency_clusters);
    w.Key("automatic_matches");
    w.Int64(st.auto_links);
    w.Key("review_items");
    w.Int64(st.review_items);
    w.Key("within_agency_duplicates");
    w.Int64(st.within_agency_duplicates);
    w.Key("last_linkage");
    if (st.last_linkage) {
        w.String(st.last_linkage->c_str());
    } else {
        w.Null();
    }
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

namespace {

/// GET /hub/reviews: the pairs of two agencies' records that scored between the thresholds,
/// waiting for a person (pseudonyms and scores: no name reaches the hub).
httpd::response reviews_answer(hub_store& store) {
    auto items = store.review_items();
    if (!items) {
        return error_answer(500, "store_failed");
    }
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("reviews");
    w.StartArray();
    for (const auto& it : *items) {
        w.StartObject();
        w.Key("id");
        w.Int64(it.id);
        w.Key("agency_a");
        w.String(it.agency_a.c_str());
        w.Key("pseudonym_a");
        w.String(it.pseudonym_a.c_str());
        w.Key("agency_b");
        w.String(it.agency_b.c_str());
        w.Key("pseudonym_b");
        w.String(it.pseudonym_b.c_str());
        w.Key("score");
        const auto score = score_text(it.score_milli);
        w.RawValue(score.c_str(), score.size(), rapidjson::kNumberType);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_answer(200, sb);
}

/// POST /hub/reviews/ID/decide {"decision": "same"|"not_same", "agency_a", "pseudonym_a",
/// "agency_b", "pseudonym_b", "actor"}: the pair is named again, and the item must still be
/// that pair (a linkage since the page was read renumbers items: 409, nothing recorded), so a
/// stale page can never decide two other records. Recorded with a `review_decision` log entry
/// (the actor), then a linkage run is asked for.
httpd::response decide_answer(
    hub_store& store, const admin_context& ctx, const std::string& id_text, const std::string& body
) {
    std::int64_t id = 0;
    {
        const auto* end = id_text.data() + id_text.size();
        auto [p, ec] = std::from_chars(id_text.data(), end, id);
        if (ec != std::errc() || p != end) {
            return error_answer(404, "no_such_review_item");
        }
    }
    auto doc = json::parse(body);
    if (!doc || !doc->IsObject()) {
        return error_answer(400, "body_must_be_a_json_object");
    }
    const auto text = [&doc](const char* name) { return json::string_member(*doc, name); };
    const auto decision = text("decision");
    if (!decision || (*decision != "same" && *decision != "not_same")) {
        return error_answer(400, "decision_must_be_same_or_not_same");
    }
    const auto actor = text("actor").value_or("admin");
    if (!is_token_text(actor)) {
        return error_answer(400, "actor_must_be_an_id");
    }
    const auto a = text("agency_a");
    const auto pa = text("pseudonym_a");
    const auto b = text("agency_b");
    const auto pb = text("pseudonym_b");
    if (!a || !pa || !b || !pb) {
        return error_answer(400, "the_pair_must_be_named");
    }
    auto found = store.find_review_item(id);
    if (!found) {
        return error_answer(500, "store_failed");
    }
    if (!*found) {
        return error_answer(404, "no_such_review_item");
    }
    const review_item* item = &**found;
    if (item->agency_a != *a || item->pseudonym_a != *pa || item->agency_b != *b ||
        item->pseudonym_b != *pb) {
        return error_answer(409, "review_item_changed");
    }
    auto counts = store.record_decisions(
        {{item->agency_a,
          item->pseudonym_a,
          item->agency_b,
          item->pseudonym_b,
          *decision == "same"}},
        actor
    );
    if (!counts) {
        return error_answer(500, "store_failed");
    }
    if (ctx.request_linkage) {
        ctx.request_linkage();
    }
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("id");
    w.Int64(id);
    w.Key("decision");
    w.String(decision->c_str());
    w.Key("recorded");
    w.Int64(counts->recorded);
    w.Key("no_longer_held");
    w.Int64(counts->no_longer_held);
    w.Key("relink_asked");
    w.Bool(static_cast<bool>(ctx.request_linkage));
    w.EndObject();
    return json_answer(200, sb);
}

/// GET /hub/reports: the reports written under reports.out_dir (id, period, title, time,
/// file names); never a figure.
httpd::response reports_answer(const admin_context& ctx) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("reports");
    const auto list = report::report_list_json(ctx.reports_dir);
    w.RawValue(list.c_str(), list.size(), rapidjson::kArrayType);
    w.EndObject();
    return json_answer(200, sb);
}

std::string type_of_report_file(std::string_view name) {
    if (name.ends_with(".html")) {
        return "text/html; charset=utf-8";
    }
    if (name.ends_with(".csv")) {
        return "text/csv; charset=utf-8";
    }
    if (name.ends_with(".json")) {
        return "application/json";
    }
    if (name.ends_with(".xlsx")) {
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    }
    return "application/octet-stream";
}

/// GET /hub/reports/ID/PERIOD/FILE: one file of a written report (its published figures, small
/// cells already withheld), offered as a download; only a file the listing names.
httpd::response report_file_answer(const admin_context& ctx, const std::vector<std::string>& p) {
    if (ctx.reports_dir.empty()) {
        return error_answer(404, "no_such_report");
    }
    for (const auto& r : report::list_reports(ctx.reports_dir)) {
        if (r.id != p[2] || r.period != p[3]) {
            continue;
        }
        for (const auto& f : r.files) {
            if (f != p[4]) {
                continue;
            }
            std::ifstream in(r.dir / f, std::ios::binary);
            std::stringstream bytes;
            bytes << in.rdbuf();
            if (!in) {
                return error_answer(500, "report_unreadable");
            }
            httpd::response out;
            out.status = 200;
            out.body = bytes.str();
            out.content_type = type_of_report_file(f);
            out.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + f + "\"");
            out.headers.emplace_back("X-Content-Type-Options", "nosniff");
            out.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
            return out;
        }
    }
    return error_answer(404, "no_such_report");
}

}  // namespace

httpd::service admin_service(admin_context ctx) {
    auto s = std::make_shared<state>();
    s->ctx = std::move(ctx);
    httpd::service svc;
    svc.admit = [s](const httpd::request& head) {
        httpd::admission a;
        const auto t = parts_of(head.target);
        const auto r = route_of(t);
        // The console's files hold code, no data: the sign-in page loads before there is a
        // token.
        const bool open = r == route::healthz || r == route::readyz || r == route::console;
        if (!(open && head.method == "GET") && !httpd::bearer_matches(head, s->ctx.token)) {
            a.refuse = error_answer(401, "unauthorised");
            return a;
        }
        if (r == route::none) {
            a.refuse = error_answer(404, "not_found");
            return a;
        }
        const auto method = method_of(r);
        if (head.method != method) {
            a.refuse = error_answer(405, "method_not_allowed");
            a.refuse->headers.emplace_back("Allow", std::string(method));
        }
        a.body_limit = method == "POST" ? decide_body_limit : 0;
        return a;
    };
    svc.handle = [s](httpd::request req) -> awaitable<httpd::response> {
        const auto t = parts_of(req.target);
        const auto r = route_of(t);
        if (r == route::healthz) {
            co_return json_answer(200, R"({"status":"ok"})");
        }
        if (r == route::console) {
            auto file = app::console_answer(
                t->segments.size() == 2 ? t->segments[1] : std::string(), "hub"
            );
            co_return file ? std::move(*file) : error_answer(404, "not_found");
        }
        if (r == route::reports) {
            co_return reports_answer(s->ctx);
        }
        if (r == route::report_file) {
            co_return report_file_answer(s->ctx, t->segments);
        }
        if (r == route::none) {
            co_return error_answer(404, "not_found");
        }
        auto* store = s->open_store();
        if (store == nullptr) {
            co_return error_answer(503, "hub_store_unreadable");
        }
        if (r == route::readyz) {
            co_return json_answer(200, R"({"status":"ready"})");
        }
        if (r == route::reviews) {
            co_return reviews_answer(*store);
        }
        if (r == route::decide) {
            co_return decide_answer(*store, s->ctx, t->segments[2], req.body);
        }
        auto st = store->stats();
        if (!st) {
            co_return error_answer(500, "store_failed");
        }
        co_return json_answer(200, stats_json(*st, s->ctx.agencies));
    };
    return svc;
}

}  // namespace casebridge::hub
