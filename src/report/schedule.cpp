#include "report/schedule.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <system_error>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/time.hpp"
#include "json/json.hpp"

namespace casebridge::report {

namespace fs = std::filesystem;

made_report make_report(
    const report_spec& spec,
    const report_sources& sources,
    const std::string& period,
    const fs::path& out
) {
    made_report m;
    m.id = spec.id;
    m.period = period;
    m.dir = out;
    try {
        std::vector<child> units;
        if (spec.measure == report_measure::events) {
            if (!sources.store) {
                m.error = "an events report needs the agency's store";
                return m;
            }
            units = events_from_log(*sources.store, period);
        } else {
            if (!sources.hub_store) {
                m.error = "a unique-children report needs the hub's store";
                return m;
            }
            units = children_from_hub(*sources.hub_store, spec);
        }
        m.units = units.size();
        const auto r = build_report(spec, units, period);
        m.withheld = r.protection.primary_count + r.protection.secondary_count;
        if (!r.exposures.empty()) {
            m.error = "the audit found " + std::to_string(r.exposures.size()) +
                      " withheld cells narrower than k; nothing written";
            return m;
        }
        write_report(r, out);
        m.written = true;
    } catch (const std::exception& e) {
        m.error = e.what();
    }
    return m;
}

std::string previous_month(time_point now) {
    const auto day = std::chrono::floor<std::chrono::days>(now);
    const std::chrono::year_month_day ymd{day};
    const auto before = std::chrono::year_month{ymd.year(), ymd.month()} - std::chrono::months(1);
    char text[8];
    std::snprintf(
        text,
        sizeof text,
        "%04d-%02u",
        static_cast<int>(before.year()),
        static_cast<unsigned>(before.month())
    );
    return text;
}

fs::path report_dir(const fs::path& out_dir, const std::string& id, const std::string& period) {
    return out_dir / id / period;
}

std::vector<made_report> run_monthly(
    const fs::path& definitions,
    const std::vector<std::string>& ids,
    int day,
    const report_sources& sources,
    const fs::path& out_dir,
    time_point now
) {
    std::vector<made_report> out;
    const std::chrono::year_month_day today{std::chrono::floor<std::chrono::days>(now)};
    if (static_cast<int>(static_cast<unsigned>(today.day())) < day || ids.empty()) {
        return out;
    }
    const std::string period = previous_month(now);
    std::vector<report_spec> specs;
    try {
        specs = load_report_specs(definitions);
    } catch (const std::exception& e) {
        for (const auto& id : ids) {
            made_report m;
            m.id = id;
            m.period = period;
            m.error = e.what();
            out.push_back(std::move(m));
        }
        return out;
    }
    for (const auto& id : ids) {
        const auto dir = report_dir(out_dir, id, period);
        std::error_code ec;
        if (fs::exists(dir / "manifest.json", ec)) {
            continue;  // made already this month
        }
        const auto spec = std::find_if(specs.begin(), specs.end(), [&](const report_spec& s) {
            return s.id == id;
        });
        if (spec == specs.end()) {
            made_report m;
            m.id = id;
            m.period = period;
            m.error = "no report with this id in " + definitions.string();
            out.push_back(std::move(m));
            continue;
        }
        fs::create_directories(dir.parent_path(), ec);
        out.push_back(make_report(*spec, sources, period, dir));
    }
    return out;
}

std::vector<written_report> list_reports(const fs::path& out_dir) {
    std::vector<written_report> out;
    std::error_code ec;
    if (!fs::is_directory(out_dir, ec)) {
        return out;
    }
    for (const auto& by_id : fs::directory_iterator(out_dir, ec)) {
        if (!by_id.is_directory()) {
            continue;
        }
        for (const auto& by_period : fs::directory_iterator(by_id.path(), ec)) {
            const auto manifest = by_period.path() / "manifest.json";
            if (!by_period.is_directory() || !fs::is_regular_file(manifest, ec)) {
                continue;
            }
            written_report w;
            w.id = by_id.path().filename().string();
            w.period = by_period.path().filename().string();
            w.dir = by_period.path();
            try {
                const auto doc = json::load_file(manifest);
                if (doc.doc.IsObject() && doc.doc.HasMember("title") &&
                    doc.doc["title"].IsString()) {
                    w.title = doc.doc["title"].GetString();
                }
            } catch (const std::exception&) {
                continue;  // a folder being written, or not a report's
            }
            for (const auto& f : fs::directory_iterator(by_period.path(), ec)) {
                if (f.is_regular_file()) {
                    w.files.push_back(f.path().filename().string());
                }
            }
            std::sort(w.files.begin(), w.files.end());
            const auto mtime = fs::last_write_time(manifest, ec);
            if (!ec) {
                const auto sys = std::chrono::file_clock::to_sys(mtime);
                w.written_at =
                    format_rfc3339(std::chrono::time_point_cast<time_point::duration>(sys));
            }
            out.push_back(std::move(w));
        }
    }
    std::sort(out.begin(), out.end(), [](const written_report& a, const written_report& b) {
        return a.id != b.id ? a.id < b.id : a.period < b.period;
    });
    return out;
}

std::string report_list_json(const fs::path& out_dir) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    const auto text = [&w](const std::string& s) {
        w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    };
    w.StartArray();
    if (!out_dir.empty()) {
        for (const auto& r : list_reports(out_dir)) {
            w.StartObject();
            w.Key("id");
            text(r.id);
            w.Key("period");
            text(r.period);
            w.Key("title");
            text(r.title);
            w.Key("written_at");
            text(r.written_at);
            w.Key("files");
            w.StartArray();
            for (const auto& f : r.files) {
                text(f);
            }
            w.EndArray();
            w.EndObject();
        }
    }
    w.EndArray();
    return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace casebridge::report
