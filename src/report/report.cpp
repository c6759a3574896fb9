#include "report/report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <xlsxwriter.h>

#include "core/atomic_file.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "store/sqlite.hpp"

namespace casebridge::report {

namespace fs = std::filesystem;

const dimension_spec* report_spec::dimension(const std::string& name) const {
    for (const auto& d : dimensions) {
        if (d.name == name) {
            return &d;
        }
    }
    return nullptr;
}

// --- definitions -----------------------------------------------------------------------------

namespace {

std::string text_at(
    const json::located_document& f,
    const std::string& origin,
    const rapidjson::Value& v,
    const std::string& pointer,
    const char* member,
    bool required = true
) {
    const auto it = v.FindMember(member);
    if (it == v.MemberEnd()) {
        if (required) {
            json::fail_at(f, origin, pointer, std::string("missing member \"") + member + "\"");
        }
        return {};
    }
    if (!it->value.IsString() || it->value.GetStringLength() == 0) {
        json::fail_at(f, origin, pointer + "/" + member, "expected a non-empty string");
    }
    return it->value.GetString();
}

std::vector<std::string> strings_at(
    const json::located_document& f,
    const std::string& origin,
    const rapidjson::Value& v,
    const std::string& pointer
) {
    if (!v.IsArray()) {
        json::fail_at(f, origin, pointer, "expected an array of strings");
    }
    std::vector<std::string> out;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        if (!v[i].IsString()) {
            json::fail_at(f, origin, pointer + "/" + std::to_string(i), "expected a string");
        }
        out.emplace_back(v[i].GetString());
    }
    return out;
}

std::map<std::string, std::string> labels_at(
    const json::located_document& f,
    const std::string& origin,
    const rapidjson::Value& v,
    const std::string& pointer
) {
    std::map<std::string, std::string> out;
    if (!v.IsObject()) {
        json::fail_at(f, origin, pointer, "expected an object of category → label");
    }
    for (const auto& m : v.GetObject()) {
        if (!m.value.IsString()) {
            json::fail_at(
                f,
                origin,
                pointer + "/" + json::escape_pointer_token(m.name.GetString()),
                "expected a string"
            );
        }
        out.emplace(m.name.GetString(), m.value.GetString());
    }
    return out;
}

}  // namespace

std::vector<report_spec> load_report_specs(const fs::path& file) {
    const auto f = json::load_file(file);
    const std::string origin = file.string();
    const auto& root = f.doc;
    if (!root.IsObject() || !root.HasMember("reports") || !root["reports"].IsArray()) {
        json::fail_at(f, origin, "", "expected an object with an array \"reports\"");
    }
    std::vector<report_spec> out;
    std::set<std::string> ids;
    const auto& reports = root["reports"];
    for (rapidjson::SizeType r = 0; r < reports.Size(); ++r) {
        const std::string at = "/reports/" + std::to_string(r);
        const auto& rv = reports[r];
        if (!rv.IsObject()) {
            json::fail_at(f, origin, at, "expected an object");
        }
        report_spec spec;
        spec.id = text_at(f, origin, rv, at, "id");
        spec.title = text_at(f, origin, rv, at, "title");
        if (!ids.insert(spec.id).second) {
            json::fail_at(f, origin, at + "/id", "a second report with this id");
        }
        if (const auto m = rv.FindMember("measure"); m != rv.MemberEnd()) {
            const std::string measure = m->value.IsString() ? m->value.GetString() : "";
            if (measure == "events") {
                spec.measure = report_measure::events;
            } else if (measure != "unique_children") {
                json::fail_at(
                    f, origin, at + "/measure", "expected \"unique_children\" or \"events\""
                );
            }
        }
        if (const auto k = rv.FindMember("k"); k != rv.MemberEnd()) {
            if (!k->value.IsInt() || k->value.GetInt() < 2) {
                json::fail_at(f, origin, at + "/k", "expected an integer of at least 2");
            }
            spec.k = k->value.GetInt();
        }
        const auto dims = rv.FindMember("dimensions");
        if (dims == rv.MemberEnd() || !dims->value.IsArray()) {
            json::fail_at(f, origin, at, "expected an array \"dimensions\"");
        }
        for (rapidjson::SizeType d = 0; d < dims->value.Size(); ++d) {
            const std::string dat = at + "/dimensions/" + std::to_string(d);
            const auto& dv = dims->value[d];
            if (!dv.IsObject()) {
                json::fail_at(f, origin, dat, "expected an object");
            }
            dimension_spec ds;
            ds.name = text_at(f, origin, dv, dat, "name");
            ds.title = text_at(f, origin, dv, dat, "title");
            if (spec.dimension(ds.name) != nullptr) {
                json::fail_at(f, origin, dat + "/name", "a second dimension with this name");
            }
            if (const auto c = dv.FindMember("categories"); c != dv.MemberEnd()) {
                ds.categories = strings_at(f, origin, c->value, dat + "/categories");
                if (std::set<std::string>(ds.categories.begin(), ds.categories.end()).size() !=
                    ds.categories.size()) {
                    json::fail_at(f, origin, dat + "/categories", "a category is listed twice");
                }
            }
            if (const auto m = dv.FindMember("multi_valued"); m != dv.MemberEnd()) {
                if (!m->value.IsBool()) {
                    json::fail_at(f, origin, dat + "/multi_valued", "expected true or false");
                }
                ds.multi_valued = m->value.GetBool();
            }
            if (const auto l = dv.FindMember("labels_en"); l != dv.MemberEnd()) {
                ds.labels_en = labels_at(f, origin, l->value, dat + "/labels_en");
            }
            if (const auto l = dv.FindMember("labels_bn"); l != dv.MemberEnd()) {
                ds.labels_bn = labels_at(f, origin, l->value, dat + "/labels_bn");
            }
            spec.dimensions.push_back(std::move(ds));
        }
        const auto tables = rv.FindMember("tables");
        if (tables == rv.MemberEnd() || !tables->value.IsArray() || tables->value.Empty()) {
            json::fail_at(f, origin, at, "expected a non-empty array \"tables\"");
        }
        std::set<std::string> table_ids;
        for (rapidjson::SizeType t = 0; t < tables->value.Size(); ++t) {
            const std::string tat = at + "/tables/" + std::to_string(t);
            const auto& tv = tables->value[t];
            if (!tv.IsObject()) {
                json::fail_at(f, origin, tat, "expected an object");
            }
            table_spec ts;
            ts.id = text_at(f, origin, tv, tat, "id");
            ts.title = text_at(f, origin, tv, tat, "title");
            if (!table_ids.insert(ts.id).second) {
                json::fail_at(f, origin, tat + "/id", "a second table with this id");
            }
            const auto td = tv.FindMember("dimensions");
            if (td == tv.MemberEnd()) {
                json::fail_at(f, origin, tat, "missing member \"dimensions\"");
            }
            ts.dimensions = strings_at(f, origin, td->value, tat + "/dimensions");
            if (ts.dimensions.empty() || ts.dimensions.size() > 3) {
                json::fail_at(f, origin, tat + "/dimensions", "expected one to three dimensions");
            }
            for (std::size_t i = 0; i < ts.dimensions.size(); ++i) {
                const auto* d = spec.dimension(ts.dimensions[i]);
                if (d == nullptr) {
                    json::fail_at(
                        f,
                        origin,
                        tat + "/dimensions/" + std::to_string(i),
                        "no dimension of this report has this name"
                    );
                }
                const bool repeated =
                    std::count(ts.dimensions.begin(), ts.dimensions.end(), ts.dimensions[i]) > 1;
                if (repeated && !d->multi_valued) {
                    json::fail_at(
                        f,
                        origin,
                        tat + "/dimensions/" + std::to_string(i),
                        "only a multi-valued dimension may be crossed with itself"
                    );
                }
            }
            spec.tables.push_back(std::move(ts));
        }
        out.push_back(std::move(spec));
    }
    return out;
}

// --- building -------------------------------------------------------------------------------

built_report build_report(
    const report_spec& spec, const std::vector<child>& children, std::string period
) {
    built_report out;
    out.spec = spec;
    out.period = std::move(period);
    out.children = children.size();
    // Categories: as declared, else every value found, sorted.
    std::map<std::string, std::vector<std::string>> categories;
    for (const auto& d : spec.dimensions) {
        if (!d.categories.empty()) {
            categories[d.name] = d.categories;
            continue;
        }
        std::set<std::string> seen;
        for (const auto& c : children) {
            if (const auto it = c.values.find(d.name); it != c.values.end()) {
                seen.insert(it->second.begin(), it->second.end());
            }
        }
        categories[d.name].assign(seen.begin(), seen.end());
    }
    for (const auto& ts : spec.tables) {
        std::vector<dimension> dims;
        std::map<std::string, int> uses;
        for (const auto& name : ts.dimensions) {
            const auto* d = spec.dimension(name);
            const int n = ++uses[name];
            // A dimension crossed with itself gets a second name for its columns but keeps its
            // identity, so its cells and margins are the one-way table's where they coincide.
            dims.push_back(
                {n == 1 ? name : name + "_" + std::to_string(n),
                 categories[name],
                 d->multi_valued,
                 name}
            );
        }
        table t(ts.id, dims);
        for (const auto& c : children) {
            unit u;
            for (std::size_t i = 0; i < ts.dimensions.size(); ++i) {
                std::vector<std::uint32_t> idx;
                if (const auto it = c.values.find(ts.dimensions[i]); it != c.values.end()) {
                    for (const auto& v : it->second) {
                        const auto& cats = dims[i].categories;
                        const auto pos = std::find(cats.begin(), cats.end(), v);
                        if (pos != cats.end()) {
                            idx.push_back(static_cast<std::uint32_t>(pos - cats.begin()));
                        }
                    }
                }
                if (!dims[i].multi_valued && idx.size() > 1) {
                    idx.erase(idx.begin() + 1, idx.end());  // a single-valued dimension: the first
                }
                u.categories.push_back(std::move(idx));
            }
            t.add(u);
        }
        out.tables.push_back(std::move(t));
        out.titles.push_back(ts.title);
    }
    out.protection = protect(out.tables, spec.k);
    out.exposures = audit(out.tables, out.protection.suppressed, spec.k);
    return out;
}

// --- rendering ------------------------------------------------------------------------------

namespace {

/// The dimension's title for a person ("Camp"), for a crossed copy its first's.
std::string title_of(const report_spec& spec, const std::string& dim_name) {
    std::string base = dim_name;
    if (spec.dimension(base) == nullptr) {
        base = base.substr(0, base.rfind('_'));
    }
    const auto* d = spec.dimension(base);
    return d != nullptr && !d->title.empty() ? d->title : dim_name;
}

std::string label_of(const report_spec& spec, const std::string& dim_name, const std::string& c) {
    // A crossed dimension's second copy ("agency_2") takes the first's labels.
    std::string base = dim_name;
    if (spec.dimension(base) == nullptr) {
        base = base.substr(0, base.rfind('_'));
    }
    if (const auto* d = spec.dimension(base)) {
        if (const auto it = d->labels_en.find(c); it != d->labels_en.end()) {
            return it->second;
        }
    }
    return c;
}

std::string label_bn(const report_spec& spec, const std::string& dim_name, const std::string& c) {
    std::string base = dim_name;
    if (spec.dimension(base) == nullptr) {
        base = base.substr(0, base.rfind('_'));
    }
    if (const auto* d = spec.dimension(base)) {
        if (const auto it = d->labels_bn.find(c); it != d->labels_bn.end()) {
            return it->second;
        }
    }
    return {};
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) {
        return s;
    }
    std::string out = "\"";
    for (const char c : s) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (const char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string category_text(const built_report& r, const table& t, std::size_t i, std::uint32_t p) {
    const auto& d = t.dimensions()[i];
    if (p >= d.categories.size()) {
        return "Total";
    }
    return label_of(r.spec, d.name, d.categories[p]);
}

std::string footnote(const built_report& r) {
    return std::string(withheld_symbol) + ": withheld to protect children (a count from 1 to " +
           std::to_string(r.spec.k - 1) +
           ", or a cell from which such a count could be worked out). Counts are unique "
           "children across agencies.";
}

}  // namespace

std::string render_csv(const built_report& r, std::size_t ti) {
    const table& t = r.tables.at(ti);
    std::string out = "\xEF\xBB\xBF";
    for (const auto& d : t.dimensions()) {
        out += csv_field(d.name) + ",";
    }
    out += "children\r\n";
    for (std::size_t c = 0; c < t.size(); ++c) {
        const auto p = t.position(c);
        for (std::size_t i = 0; i < p.size(); ++i) {
            out += csv_field(category_text(r, t, i, p[i])) + ",";
        }
        out += r.protection.suppressed[ti][c] ? withheld_symbol : std::to_string(t.count(c));
        out += "\r\n";
    }
    // The footnote fills a whole row, so every row has the header's width.
    out += csv_field("# " + footnote(r)) + std::string(t.dimensions().size(), ',') + "\r\n";
    return out;
}

namespace {

/// A horizontal bar chart of a table's first dimension (its margin over the others), or of
/// the first two as bars stacked by the second. Withheld cells are not drawn; a bar with a
/// withheld part is marked.
std::string svg_chart(const built_report& r, std::size_t ti) {
    const table& t = r.tables[ti];
    const auto& dims = t.dimensions();
    const auto& first = dims[0];
    const std::size_t rows = first.categories.size();
    const bool stacked =
        dims.size() >= 2 && !dims[1].multi_valued && dims[1].categories.size() <= 6;
    const std::size_t parts = stacked ? dims[1].categories.size() : 1;
    const auto cell = [&](std::uint32_t row, std::optional<std::uint32_t> part) {
        std::vector<std::uint32_t> p(dims.size());
        for (std::size_t i = 0; i < dims.size(); ++i) {
            p[i] = static_cast<std::uint32_t>(dims[i].categories.size());
        }
        p[0] = row;
        if (part) {
            p[1] = *part;
        }
        return t.cell_at(p);
    };
    std::int64_t top = 1;
    for (std::uint32_t i = 0; i < rows; ++i) {
        const auto c = cell(i, std::nullopt);
        if (!r.protection.suppressed[ti][c]) {
            top = std::max(top, t.count(c));
        }
    }
    static const char* colours[] = {
        "#1f5f8b", "#e07b39", "#4a9b5e", "#8e5ea2", "#c9b037", "#7f7f7f"};
    const int bar_h = 18;
    const int label_w = 180;
    const int plot_w = 420;
    const int height = static_cast<int>(rows) * (bar_h + 6) + 40;
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\""
      << (label_w + plot_w + 80) << "\" height=\"" << height << "\" aria-label=\""
      << html_escape(r.titles[ti]) << "\">";
    for (std::uint32_t i = 0; i < rows; ++i) {
        const int y = static_cast<int>(i) * (bar_h + 6) + 4;
        s << "<text x=\"" << (label_w - 6) << "\" y=\"" << (y + 13)
          << "\" text-anchor=\"end\" font-size=\"12\">"
          << html_escape(label_of(r.spec, first.name, first.categories[i])) << "</text>";
        double x = label_w;
        bool any_withheld = false;
        for (std::size_t k = 0; k < parts; ++k) {
            const auto c = cell(i, stacked ? std::optional<std::uint32_t>(k) : std::nullopt);
            if (r.protection.suppressed[ti][c]) {
                any_withheld = true;
                continue;
            }
            const double w = plot_w * static_cast<double>(t.count(c)) / static_cast<double>(top);
            if (w > 0) {
                s << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << w << "\" height=\""
                  << bar_h << "\" fill=\"" << colours[k % 6] << "\"/>";
            }
            x += w;
        }
        const auto total = cell(i, std::nullopt);
        s << "<text x=\"" << (x + 4) << "\" y=\"" << (y + 13) << "\" font-size=\"12\">"
          << (r.protection.suppressed[ti][total] ? std::string(withheld_symbol)
                                                 : std::to_string(t.count(total)))
          << (any_withheld ? " (part withheld)" : "") << "</text>";
    }
    if (stacked) {
        const int y = static_cast<int>(rows) * (bar_h + 6) + 18;
        int x = label_w;
        for (std::size_t k = 0; k < parts; ++k) {
            s << "<rect x=\"" << x << "\" y=\"" << (y - 10)
              << "\" width=\"10\" height=\"10\" fill=\"" << colours[k % 6] << "\"/><text x=\""
              << (x + 14) << "\" y=\"" << y << "\" font-size=\"11\">"
              << html_escape(label_of(r.spec, dims[1].name, dims[1].categories[k])) << "</text>";
            x += 110;
        }
    }
    s << "</svg>";
    return s.str();
}

/// A crossed table (two dimensions) as a grid: rows × columns with totals; one dimension as a
/// list. A third dimension is shown as one grid per category.
std::string html_table(const built_report& r, std::size_t ti) {
    const table& t = r.tables[ti];
    const auto& dims = t.dimensions();
    const auto value = [&](std::size_t c) {
        return r.protection.suppressed[ti][c]
                   ? std::string("<td class=\"w\">") + withheld_symbol + "</td>"
                   : "<td>" + std::to_string(t.count(c)) + "</td>";
    };
    const auto head = [&](std::size_t i, std::uint32_t p) {
        std::string text = html_escape(category_text(r, t, i, p));
        if (p < dims[i].categories.size()) {
            const auto bn = label_bn(r.spec, dims[i].name, dims[i].categories[p]);
            if (!bn.empty()) {
                text += "<br><span lang=\"bn\">" + html_escape(bn) + "</span>";
            }
        }
        return text;
    };
    std::ostringstream s;
    const std::uint32_t layers =
        dims.size() == 3 ? static_cast<std::uint32_t>(dims[2].categories.size()) + 1 : 1;
    for (std::uint32_t layer = 0; layer < layers; ++layer) {
        if (dims.size() == 3) {
            s << "<h4>" << html_escape(title_of(r.spec, dims[2].name)) << ": " << head(2, layer)
              << "</h4>";
        }
        s << "<table><thead><tr><th>" << html_escape(title_of(r.spec, dims[0].name)) << "</th>";
        const std::uint32_t cols =
            dims.size() >= 2 ? static_cast<std::uint32_t>(dims[1].categories.size()) + 1 : 1;
        for (std::uint32_t j = 0; j < cols; ++j) {
            s << "<th>" << (dims.size() >= 2 ? head(1, j) : std::string("children")) << "</th>";
        }
        s << "</tr></thead><tbody>";
        for (std::uint32_t i = 0; i <= dims[0].categories.size(); ++i) {
            s << "<tr><th>" << head(0, i) << "</th>";
            for (std::uint32_t j = 0; j < cols; ++j) {
                std::vector<std::uint32_t> p{i};
                if (dims.size() >= 2) {
                    p.push_back(j);
                }
                if (dims.size() == 3) {
                    p.push_back(layer);
                }
                s << value(t.cell_at(p));
            }
            s << "</tr>";
        }
        s << "</tbody></table>";
    }
    return s.str();
}

}  // namespace

std::string render_html(const built_report& r) {
    std::ostringstream s;
    // The page may load nothing and run nothing, wherever it is opened: its one style sheet is
    // inline and its charts are inline SVG.
    s << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'\"><title>"
      << html_escape(r.spec.title + " — " + r.period)
      << "</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}"
         "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
         "td,th{border:1px solid #999;padding:2px 8px;text-align:right}"
         "th{background:#eef2f5}td.w{color:#a00;text-align:center}"
         "@media print{section{page-break-inside:avoid}}</style></head><body>";
    s << "<h1>" << html_escape(r.spec.title) << "</h1><p>Period: " << html_escape(r.period)
      << ". Unique children: "
      << (r.children < static_cast<std::size_t>(r.spec.k) ? std::string(withheld_symbol)
                                                          : std::to_string(r.children))
      << ".</p>";
    for (std::size_t ti = 0; ti < r.tables.size(); ++ti) {
        s << "<section id=\"" << html_escape(r.tables[ti].id()) << "\"><h2>"
          << html_escape(r.titles[ti]) << "</h2>" << svg_chart(r, ti) << html_table(r, ti)
          << "</section>";
    }
    s << "<p><small>" << html_escape(footnote(r)) << "</small></p></body></html>\n";
    return s.str();
}

namespace {

void write_xlsx(const built_report& r, const fs::path& path) {
    lxw_workbook* wb = workbook_new(path.c_str());
    if (wb == nullptr) {
        throw std::runtime_error(path.string() + ": the workbook could not be created");
    }
    for (std::size_t ti = 0; ti < r.tables.size(); ++ti) {
        const table& t = r.tables[ti];
        std::string name = t.id().substr(0, 31);
        lxw_worksheet* ws = workbook_add_worksheet(wb, name.c_str());
        lxw_row_t row = 0;
        lxw_col_t col = 0;
        for (const auto& d : t.dimensions()) {
            worksheet_write_string(ws, row, col++, d.name.c_str(), nullptr);
        }
        worksheet_write_string(ws, row, col, "children", nullptr);
        for (std::size_t c = 0; c < t.size(); ++c) {
            ++row;
            col = 0;
            const auto p = t.position(c);
            for (std::size_t i = 0; i < p.size(); ++i) {
                worksheet_write_string(
                    ws, row, col++, category_text(r, t, i, p[i]).c_str(), nullptr
                );
            }
            if (r.protection.suppressed[ti][c]) {
                worksheet_write_string(ws, row, col, withheld_symbol, nullptr);
            } else {
                worksheet_write_number(ws, row, col, static_cast<double>(t.count(c)), nullptr);
            }
        }
        worksheet_write_string(ws, row + 2, 0, footnote(r).c_str(), nullptr);
    }
    if (workbook_close(wb) != LXW_NO_ERROR) {
        throw std::runtime_error(path.string() + ": the workbook could not be written");
    }
}

void write_atomically(const fs::path& path, const std::string& data) {
    if (auto w = write_file_atomically(path, data, 0644); !w) {
        throw std::runtime_error(path.string() + ": " + w.error().message());
    }
}

}  // namespace

void write_report(const built_report& r, const fs::path& dir) {
    if (!r.exposures.empty()) {
        throw std::runtime_error(
            "report " + r.spec.id + ": the audit found " + std::to_string(r.exposures.size()) +
            " withheld cells that the published figures narrow below k; nothing written"
        );
    }
    fs::create_directories(dir);
    for (std::size_t ti = 0; ti < r.tables.size(); ++ti) {
        write_atomically(dir / (r.tables[ti].id() + ".csv"), render_csv(r, ti));
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("report");
    w.String(r.spec.id.c_str());
    w.Key("title");
    w.String(r.spec.title.c_str());
    w.Key("period");
    w.String(r.period.c_str());
    w.Key("k");
    w.Int(r.spec.k);
    w.Key("tables");
    w.StartArray();
    for (const auto& t : r.tables) {
        w.StartObject();
        w.Key("id");
        w.String(t.id().c_str());
        w.Key("file");
        w.String((t.id() + ".csv").c_str());
        w.Key("dimensions");
        w.StartArray();
        for (const auto& d : t.dimensions()) {
            w.StartObject();
            w.Key("name");
            w.String(d.name.c_str());
            w.Key("identity");
            w.String((d.identity.empty() ? d.name : d.identity).c_str());
            w.Key("multi_valued");
            w.Bool(d.multi_valued);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    // libxlsxwriter writes a file by name: write it beside, then move it into place.
    const fs::path tmp = dir / ".report.xlsx.tmp";
    write_xlsx(r, tmp);
    fs::rename(tmp, dir / "report.xlsx");
    write_atomically(dir / "report.html", render_html(r));
    // The manifest last: a folder holding one is a complete report (report/schedule.hpp).
    write_atomically(dir / "manifest.json", std::string(buf.GetString(), buf.GetSize()) + "\n");
}

// --- inputs and audits of written reports ------------------------------------------------

std::vector<child> load_children(const fs::path& file) {
    auto text = json::read_file(file, std::size_t{2} * 1024 * 1024 * 1024 - 1);
    if (!text) {
        throw std::runtime_error(file.string() + ": " + json::read_error_text(text.error()));
    }
    std::vector<child> out;
    std::size_t line_no = 0;
    std::size_t at = 0;
    const std::string& all = *text;
    while (at < all.size()) {
        const auto end = std::min(all.find('\n', at), all.size());
        std::string_view line(all.data() + at, end - at);
        at = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            continue;
        }
        const std::string where = file.string() + ":" + std::to_string(line_no);
        auto doc = json::parse(line);
        if (!doc) {
            throw std::runtime_error(where + ": not a JSON object (" + doc.error().message + ")");
        }
        if (!doc->IsObject()) {
            throw std::runtime_error(where + ": not a JSON object");
        }
        child c;
        for (const auto& m : doc->GetObject()) {
            const std::string name = m.name.GetString();
            auto& values = c.values[name];
            if (m.value.IsString()) {
                values.emplace_back(m.value.GetString(), m.value.GetStringLength());
            } else if (m.value.IsArray()) {
                for (const auto& v : m.value.GetArray()) {
                    if (!v.IsString()) {
                        throw std::runtime_error(
                            where + ": member \"" + name + "\" holds a value that is not a string"
                        );
                    }
                    values.emplace_back(v.GetString(), v.GetStringLength());
                }
            } else if (!m.value.IsNull()) {
                throw std::runtime_error(
                    where + ": member \"" + name + "\" is neither a string nor an array of strings"
                );
            }
        }
        out.push_back(std::move(c));
    }
    return out;
}

folder_audit audit_folder(const fs::path& dir) {
    const fs::path manifest_path = dir / "manifest.json";
    const auto m = json::load_file(manifest_path);
    const std::string origin = manifest_path.string();
    const auto& root = m.doc;
    if (!root.IsObject() || !root.HasMember("tables") || !root["tables"].IsArray() ||
        !root.HasMember("k") || !root["k"].IsInt() || root["k"].GetInt() < 2) {
        json::fail_at(m, origin, "", "expected an object with \"k\" (at least 2) and \"tables\"");
    }
    folder_audit out;
    out.k = root["k"].GetInt();
    if (root.HasMember("report") && root["report"].IsString()) {
        out.report = root["report"].GetString();
    }
    if (root.HasMember("period") && root["period"].IsString()) {
        out.period = root["period"].GetString();
    }
    std::vector<table> tables;
    std::vector<std::vector<bool>> withheld;
    const auto& tv = root["tables"];
    for (rapidjson::SizeType i = 0; i < tv.Size(); ++i) {
        const std::string at = "/tables/" + std::to_string(i);
        const auto& t = tv[i];
        const std::string file = text_at(m, origin, t, at, "file");
        if (file.find('/') != std::string::npos || file.starts_with(".")) {
            json::fail_at(m, origin, at + "/file", "expected a file name inside the folder");
        }
        if (!t.HasMember("dimensions") || !t["dimensions"].IsArray() || t["dimensions"].Empty()) {
            json::fail_at(m, origin, at, "expected a non-empty array \"dimensions\"");
        }
        std::vector<dimension> dims;
        for (rapidjson::SizeType d = 0; d < t["dimensions"].Size(); ++d) {
            const std::string dat = at + "/dimensions/" + std::to_string(d);
            const auto& dv = t["dimensions"][d];
            dimension dim;
            dim.name = text_at(m, origin, dv, dat, "name");
            dim.identity = text_at(m, origin, dv, dat, "identity", false);
            dim.multi_valued = dv.HasMember("multi_valued") && dv["multi_valued"].IsBool() &&
                               dv["multi_valued"].GetBool();
            dims.push_back(std::move(dim));
        }
        const fs::path csv_path = dir / file;
        auto text = json::read_file(csv_path, std::size_t{256} * 1024 * 1024);
        if (!text) {
            throw std::runtime_error(
                csv_path.string() + ": " + json::read_error_text(text.error())
            );
        }
        auto csv = exchange::parse_csv(*text);
        if (!csv) {
            throw std::runtime_error(csv.error().describe(csv_path.string()));
        }
        if (csv->header.size() != dims.size() + 1) {
            throw std::runtime_error(
                csv_path.string() + ":1: the header has " + std::to_string(csv->header.size()) +
                " columns; the manifest names " + std::to_string(dims.size()) +
                " dimensions and a count"
            );
        }
        // Categories in the order they first appear; "Total" is a margin.
        std::vector<std::size_t> data_rows;
        for (std::size_t r = 0; r < csv->rows.size(); ++r) {
            if (csv->rows[r].front().starts_with("#")) {
                continue;
            }
            data_rows.push_back(r);
            for (std::size_t d = 0; d < dims.size(); ++d) {
                const auto& v = csv->rows[r][d];
                auto& cats = dims[d].categories;
                if (v != "Total" && std::find(cats.begin(), cats.end(), v) == cats.end()) {
                    cats.push_back(v);
                }
            }
        }
        table tb(text_at(m, origin, t, at, "id"), dims);
        if (data_rows.size() != tb.size()) {
            throw std::runtime_error(
                csv_path.string() + ": " + std::to_string(data_rows.size()) +
                " rows of cells; a table of these categories has " + std::to_string(tb.size())
            );
        }
        std::vector<bool> hidden(tb.size(), false);
        std::vector<bool> seen(tb.size(), false);
        for (const auto r : data_rows) {
            const auto& row = csv->rows[r];
            std::vector<std::uint32_t> pos;
            for (std::size_t d = 0; d < dims.size(); ++d) {
                const auto& cats = dims[d].categories;
                const auto it = std::find(cats.begin(), cats.end(), row[d]);
                pos.push_back(static_cast<std::uint32_t>(it - cats.begin()));
            }
            const auto cell = tb.cell_at(pos);
            const std::string where = csv_path.string() + ":" + std::to_string(csv->row_lines[r]);
            if (seen[cell]) {
                throw std::runtime_error(where + ": a cell listed twice");
            }
            seen[cell] = true;
            const auto& v = row.back();
            if (v == withheld_symbol) {
                hidden[cell] = true;
                tb.set_count(cell, -1);
                ++out.withheld;
                continue;
            }
            std::int64_t n = 0;
            const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc{} || p != v.data() + v.size() || n < 0) {
                throw std::runtime_error(
                    where + ": the count is neither a number nor " + withheld_symbol
                );
            }
            tb.set_count(cell, n);
        }
        out.cells += tb.size();
        tables.push_back(std::move(tb));
        withheld.push_back(std::move(hidden));
    }
    out.tables = tables.size();
    const auto found = audit(tables, withheld, out.k, &out.programmes);
    for (const auto& e : found) {
        const auto& t = tables[e.table];
        const auto key = t.key(e.cell);
        std::ostringstream s;
        s << t.id() << ": " << (key.empty() ? std::string("total") : key) << " [" << e.low << ", "
          << e.high << "]";
        out.exposed.push_back(s.str());
    }
    return out;
}

std::vector<child> children_from_hub(const fs::path& hub_store, const report_spec& spec) {
    auto db = store::db::open_read_only(hub_store);
    if (!db) {
        throw std::runtime_error(
            hub_store.string() + ": cannot be opened (" + db.error().message() + ")"
        );
    }
    // The hub links the records of its current linkage schema only; a record of an older
    // version (its agency has not sent it again since an upgrade) stands alone, and a child
    // it shares with a current record would be counted twice.
    {
        auto versions = db->prepare(
            "SELECT count(DISTINCT schema_version) FROM hub_records WHERE state = 'active'"
        );
        if (versions) {
            auto row = versions->step();
            if (row && *row && versions->column_int(0) > 1) {
                throw std::runtime_error(
                    hub_store.string() + ": active records of " +
                    std::to_string(versions->column_int(0)) +
                    " linkage schema versions; the hub links one version only, so a child "
                    "would be counted once per version. Report once every agency has sent "
                    "its records again under the current schema (docs/imo.md)"
                );
            }
        }
    }
    // Ordered so that within a cluster the most recently updated record comes last.
    auto q = db->prepare(
        "SELECT COALESCE(c.ref, 'record:' || r.agency || ':' || r.pseudonym), r.agency,"
        " COALESCE(r.coarse, '{}'), r.received_at, r.updated_at"
        " FROM hub_records r LEFT JOIN hub_cluster_refs c"
        " ON c.agency = r.agency AND c.pseudonym = r.pseudonym"
        " WHERE r.state = 'active' ORDER BY 1, r.updated_at, r.agency, r.pseudonym"
    );
    if (!q) {
        throw std::runtime_error(
            hub_store.string() + ": not an IMO hub store (" + q.error().message() + ")"
        );
    }
    std::vector<child> out;
    std::string current;
    std::string first_seen;
    const auto close = [&]() {
        if (!out.empty() && !first_seen.empty()) {
            out.back().values["month"] = {first_seen.substr(0, 7)};
        }
    };
    for (;;) {
        auto row = q->step();
        if (!row) {
            throw std::runtime_error(hub_store.string() + ": " + row.error().message());
        }
        if (!*row) {
            break;
        }
        const std::string ref = q->column_text(0);
        if (out.empty() || ref != current) {
            close();
            out.emplace_back();
            current = ref;
            first_seen.clear();
        }
        child& c = out.back();
        auto& agencies = c.values["agency"];
        const std::string agency = q->column_text(1);
        if (std::find(agencies.begin(), agencies.end(), agency) == agencies.end()) {
            agencies.push_back(agency);
        }
        const std::string received = q->column_text(3);
        if (first_seen.empty() || received < first_seen) {
            first_seen = received;
        }
        auto coarse = json::parse(q->column_text(2));
        if (!coarse || !coarse->IsObject()) {
            continue;  // written by the hub itself; an unreadable one adds nothing
        }
        for (const auto& m : coarse->GetObject()) {
            if (!m.value.IsString()) {
                continue;
            }
            const std::string name = m.name.GetString();
            const auto* d = spec.dimension(name);
            if (d == nullptr || name == "agency" || name == "month") {
                continue;
            }
            auto& values = c.values[name];
            const std::string v = m.value.GetString();
            if (!d->multi_valued) {
                values = {v};  // the later record wins
                continue;
            }
            std::size_t at = 0;
            while (at <= v.size()) {
                const auto end = std::min(v.find(';', at), v.size());
                const auto part = v.substr(at, end - at);
                if (!part.empty() &&
                    std::find(values.begin(), values.end(), part) == values.end()) {
                    values.push_back(part);
                }
                at = end + 1;
            }
        }
    }
    close();
    return out;
}

}  // namespace casebridge::report
