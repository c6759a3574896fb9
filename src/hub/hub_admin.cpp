#include "hub/hub_admin.hpp"

#include <optional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/clock.hpp"
#include "net/bearer.hpp"

namespace casebridge::hub {

namespace {

httpd::response json_answer(unsigned status, std::string body) {
    httpd::response r;
    r.status = status;
    r.body = std::move(body) + "\n";
    return r;
}

httpd::response error_answer(unsigned status, std::string_view code) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("error");
    w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
    w.EndObject();
    auto r = json_answer(status, std::string(sb.GetString(), sb.GetSize()));
    if (status == 401) {
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
    }
    return r;
}

/// The path without its query.
std::string_view path_of(std::string_view target) {
    return target.substr(0, target.find('?'));
}

enum class route { healthz, readyz, stats, none };

route route_of(std::string_view target) {
    const auto p = path_of(target);
    if (p == "/healthz") {
        return route::healthz;
    }
    if (p == "/readyz") {
        return route::readyz;
    }
    return p == "/hub/stats" ? route::stats : route::none;
}

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

httpd::service admin_service(admin_context ctx) {
    auto s = std::make_shared<state>();
    s->ctx = std::move(ctx);
    httpd::service svc;
    svc.admit = [s](const httpd::request& head) {
        httpd::admission a;
        const auto r = route_of(head.target);
        const bool probe = r == route::healthz || r == route::readyz;
        if (!(probe && head.method == "GET") && !httpd::bearer_matches(head, s->ctx.token)) {
            a.refuse = error_answer(401, "unauthorised");
            return a;
        }
        if (r == route::none) {
            a.refuse = error_answer(404, "not_found");
            return a;
        }
        if (head.method != "GET") {
            a.refuse = error_answer(405, "method_not_allowed");
            a.refuse->headers.emplace_back("Allow", "GET");
        }
        return a;  // body_limit 0: a GET carries no body
    };
    svc.handle = [s](httpd::request req) -> awaitable<httpd::response> {
        switch (route_of(req.target)) {
            case route::healthz:
                co_return json_answer(200, R"({"status":"ok"})");
            case route::readyz:
                co_return s->open_store() != nullptr ? json_answer(200, R"({"status":"ready"})")
                                                     : error_answer(503, "hub_store_unreadable");
            case route::stats: {
                auto* store = s->open_store();
                if (store == nullptr) {
                    co_return error_answer(503, "hub_store_unreadable");
                }
                auto st = store->stats();
                if (!st) {
                    co_return error_answer(500, "store_failed");
                }
                co_return json_answer(200, stats_json(*st, s->ctx.agencies));
            }
            case route::none:
                break;
        }
        co_return error_answer(404, "not_found");
    };
    return svc;
}

}  // namespace casebridge::hub
