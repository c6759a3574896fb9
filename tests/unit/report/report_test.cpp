// Sector reports end to end below the command: the shipped definitions load, bad ones are
// refused with the place named, generated caseloads make protected tables, and the CSV, HTML
// and XLSX outputs show the same published figures and nothing withheld.
#include "report/report.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "hub/hub_store.hpp"
#include "support/png_image.hpp"
#include "support/report_population.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::report {
namespace {

namespace fs = std::filesystem;
const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

std::vector<child> generate(unsigned seed, int n) {
    return test::report_population(seed, n);
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string run_command(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    ::pclose(p);
    return out;
}

TEST(report_specs, the_shipped_definitions_load) {
    const auto specs = load_report_specs(source_dir / "config/reports.json");
    ASSERT_EQ(specs.size(), 2u);
    EXPECT_EQ(specs[0].id, "cpss-monthly");
    EXPECT_EQ(specs[0].k, 5);
    EXPECT_EQ(specs[0].tables.size(), 6u);
    EXPECT_EQ(specs[0].measure, report_measure::unique_children);
    EXPECT_EQ(specs[1].id, "dpisp-activity");
    EXPECT_EQ(specs[1].measure, report_measure::events);
    EXPECT_EQ(specs[1].tables.size(), 5u);
}

TEST(report_specs, a_bad_definition_is_refused_with_its_place) {
    test::temp_dir dir;
    const auto bad = dir.write(
        "reports.json",
        R"({"reports": [{"id": "r", "title": "R", "dimensions": [{"name": "sex", "title": "Sex"}],
  "tables": [{"id": "t", "title": "T", "dimensions": ["sex", "camp"]}]}]})"
    );
    try {
        load_report_specs(bad);
        FAIL() << "accepted";
    } catch (const std::exception& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("reports.json:2:"), std::string::npos) << what;
        EXPECT_NE(what.find("/reports/0/tables/0/dimensions/1"), std::string::npos) << what;
    }
    const auto low_k = dir.write(
        "k.json",
        R"({"reports": [{"id": "r", "title": "R", "k": 1, "dimensions": [{"name": "sex", "title": "S"}],
  "tables": [{"id": "t", "title": "T", "dimensions": ["sex"]}]}]})"
    );
    EXPECT_THROW(load_report_specs(low_k), std::runtime_error);
    const auto crossed = dir.write(
        "crossed.json",
        R"({"reports": [{"id": "r", "title": "R", "dimensions": [{"name": "sex", "title": "S"}],
  "tables": [{"id": "t", "title": "T", "dimensions": ["sex", "sex"]}]}]})"
    );
    EXPECT_THROW(load_report_specs(crossed), std::runtime_error);
}

class report_outputs : public ::testing::TestWithParam<unsigned> {};

TEST_P(report_outputs, are_protected_and_agree) {
    const auto spec = load_report_specs(source_dir / "config/reports.json").at(0);
    const auto children = generate(GetParam(), 150 + static_cast<int>(GetParam()) * 40);
    const auto r = build_report(spec, children, "2026-11");
    EXPECT_TRUE(r.exposures.empty());
    EXPECT_GT(r.protection.primary_count, 0u) << "the generator should make small cells";

    // The agency overlap matrix is symmetric, and its diagonal is the one-way agency table.
    const auto& overlap = r.tables[4];
    const auto& agency = r.tables[3];
    const auto n = static_cast<std::uint32_t>(overlap.dimensions()[0].categories.size());
    for (std::uint32_t a = 0; a <= n; ++a) {
        EXPECT_EQ(overlap.count(overlap.cell_at({a, a})), agency.count(agency.cell_at({a})));
        for (std::uint32_t b = 0; b < n; ++b) {
            EXPECT_EQ(
                overlap.count(overlap.cell_at({a, b})), overlap.count(overlap.cell_at({b, a}))
            );
            EXPECT_EQ(
                r.protection.suppressed[4][overlap.cell_at({a, b})],
                r.protection.suppressed[4][overlap.cell_at({b, a})]
            );
        }
    }

    test::temp_dir dir;
    write_report(r, dir / "out");
    for (std::size_t ti = 0; ti < r.tables.size(); ++ti) {
        const auto csv = slurp(dir / "out" / (r.tables[ti].id() + ".csv"));
        ASSERT_EQ(csv.rfind("\xEF\xBB\xBF", 0), 0u) << "no BOM";
        EXPECT_EQ(csv.find("\n"), csv.find("\r\n") + 1) << "lines end in CRLF";
        std::istringstream lines(csv);
        std::string line;
        std::size_t rows = 0;
        std::getline(lines, line);  // header
        while (std::getline(lines, line)) {
            if (line.rfind("\"#", 0) == 0 || line.rfind("#", 0) == 0) {
                continue;
            }
            const auto cell = line.substr(line.rfind(',') + 1);
            const std::string value = cell.substr(0, cell.find('\r'));
            const bool withheld = r.protection.suppressed[ti][rows];
            if (withheld) {
                EXPECT_EQ(value, "x");
            } else {
                const auto count = std::stoll(value);
                EXPECT_EQ(count, r.tables[ti].count(rows));
                EXPECT_TRUE(count == 0 || count >= spec.k) << "a small count published";
            }
            ++rows;
        }
        EXPECT_EQ(rows, r.tables[ti].size());
    }
    const auto html = slurp(dir / "out/report.html");
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(std::regex_search(html, std::regex("(src|href)=\"https?:")), false);
    for (const auto& t : r.tables) {
        EXPECT_NE(html.find("<section id=\"" + t.id() + "\""), std::string::npos) << t.id();
    }
    EXPECT_NE(html.find("মেয়ে"), std::string::npos) << "Bengali labels intact";
    // No small count appears in a table cell of the page.
    const std::regex td("<td>([0-9]+)</td>");
    for (auto it = std::sregex_iterator(html.begin(), html.end(), td); it != std::sregex_iterator();
         ++it) {
        const auto v = std::stoll((*it)[1].str());
        EXPECT_TRUE(v == 0 || v >= spec.k) << "the page shows " << v;
    }
    // The workbook's first sheet holds the first table's published numbers, in order.
    const auto sheet =
        run_command("7z x -so " + (dir / "out/report.xlsx").string() + " xl/worksheets/sheet1.xml");
    ASSERT_FALSE(sheet.empty()) << "report.xlsx is not a workbook 7z can open";
    std::vector<std::int64_t> published;
    for (std::size_t c = 0; c < r.tables[0].size(); ++c) {
        if (!r.protection.suppressed[0][c]) {
            published.push_back(r.tables[0].count(c));
        }
    }
    // Strings are shared-string indexes (<v> too) in the category columns: compare the
    // numeric cells (type n) only.
    std::vector<std::int64_t> numbers;
    const std::regex num("<c r=\"[A-Z]+[0-9]+\"( s=\"[0-9]+\")?><v>([0-9.]+)</v>");
    for (auto it = std::sregex_iterator(sheet.begin(), sheet.end(), num);
         it != std::sregex_iterator();
         ++it) {
        numbers.push_back(std::stoll((*it)[2].str()));
    }
    EXPECT_EQ(numbers, published);
}

// `report audit` re-derives from the written files alone: a written report passes; the same
// folder with every withheld cell of one table but one small count filled in fails, naming it.
TEST_P(report_outputs, the_folder_audit_reads_back_what_was_written_and_catches_a_leak) {
    const auto spec = load_report_specs(source_dir / "config/reports.json").at(0);
    const auto r = build_report(spec, generate(GetParam() + 10, 160), "2026-11");
    test::temp_dir dir;
    write_report(r, dir / "out");
    const auto ok = audit_folder(dir / "out");
    EXPECT_EQ(ok.k, 5);
    EXPECT_EQ(ok.tables, r.tables.size());
    EXPECT_TRUE(ok.exposed.empty()) << ok.exposed.front();
    std::size_t withheld = 0;
    for (const auto& t : r.protection.suppressed) {
        withheld += static_cast<std::size_t>(std::count(t.begin(), t.end(), true));
    }
    EXPECT_EQ(ok.withheld, withheld);

    // Fill in every withheld cell of the first table that has a primary, except that primary.
    std::size_t ti = 0;
    std::optional<std::size_t> keep;
    for (; ti < r.tables.size() && !keep; ++ti) {
        for (std::size_t c = 0; c < r.tables[ti].size(); ++c) {
            if (r.protection.primary[ti][c]) {
                keep = c;
                break;
            }
        }
    }
    ASSERT_TRUE(keep);
    --ti;
    const auto path = dir / "out" / (r.tables[ti].id() + ".csv");
    std::istringstream in(slurp(path));
    std::string out_text;
    std::string line;
    std::size_t row = 0;
    std::getline(in, line);
    out_text += line + "\n";
    while (std::getline(in, line)) {
        if (line.rfind("\"#", 0) != 0 && line.rfind("#", 0) != 0) {
            if (r.protection.suppressed[ti][row] && row != *keep) {
                line = line.substr(0, line.rfind(',') + 1) +
                       std::to_string(r.tables[ti].count(row)) + "\r";
            }
            ++row;
        }
        out_text += line + "\n";
    }
    std::ofstream(path, std::ios::binary | std::ios::trunc) << out_text;
    const auto leaked = audit_folder(dir / "out");
    ASSERT_FALSE(leaked.exposed.empty());
    // Named by the table and its categories as published (labels), pinned to its true count.
    const auto v = std::to_string(r.tables[ti].count(*keep));
    bool named = false;
    for (const auto& e : leaked.exposed) {
        named = named || (e.find(r.tables[ti].id() + ": ") == 0 &&
                          e.find("[" + v + ", " + v + "]") != std::string::npos);
    }
    EXPECT_TRUE(named) << "expected " << r.tables[ti].key(*keep) << " pinned at " << v << " among "
                       << leaked.exposed.front();
}

TEST(report_children, a_bad_line_is_named_without_its_value) {
    test::temp_dir dir;
    const auto good = dir.write(
        "children.jsonl",
        "{\"sex\": \"female\", \"agency\": [\"a\", \"b\"]}\n\n{\"sex\": \"male\"}\r\n"
    );
    const auto kids = load_children(good);
    ASSERT_EQ(kids.size(), 2u);
    EXPECT_EQ(kids[0].values.at("agency").size(), 2u);
    const auto bad = dir.write("bad.jsonl", "{\"sex\": \"female\"}\n{\"age_band\": 12345}\n");
    try {
        load_children(bad);
        FAIL() << "accepted";
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("bad.jsonl:2"), std::string::npos) << what;
        EXPECT_NE(what.find("age_band"), std::string::npos) << what;
        EXPECT_EQ(what.find("12345"), std::string::npos) << what;
    }
}

// The hub links the records of one linkage schema version: with active records of two, a
// child held under both would be counted twice, so no figures are made.
TEST(report_children, a_hub_holding_two_linkage_schema_versions_is_refused) {
    test::temp_dir dir;
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 1)};
    const auto path = dir / "hub.sqlite";
    const auto spec = load_report_specs(source_dir / "config/reports.json").front();
    {
        auto hub = hub::hub_store::open(path, clock);
        ASSERT_TRUE(hub);
        hub::incoming_record r{
            "case-1", std::vector<std::uint64_t>(16, 1), {}, {{"sex", "female"}}};
        ASSERT_TRUE(hub->upsert("agency_a", 1, {r}));
        r.pseudonym = "case-2";
        ASSERT_TRUE(hub->upsert("agency_b", 1, {r}));
    }
    EXPECT_EQ(children_from_hub(path, spec).size(), 2u);
    {
        auto hub = hub::hub_store::open(path, clock);
        ASSERT_TRUE(hub);
        hub::incoming_record r{
            "case-1", std::vector<std::uint64_t>(16, 2), {}, {{"sex", "female"}}};
        ASSERT_TRUE(hub->upsert("agency_a", 2, {r}));  // agency_b has not sent again
    }
    try {
        (void)children_from_hub(path, spec);
        FAIL() << "figures made over two linkage schema versions";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("2 linkage schema versions"), std::string::npos)
            << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(seeds, report_outputs, ::testing::Values(1u, 2u, 3u));

TEST(report_write, refuses_a_report_the_audit_failed) {
    const auto spec = load_report_specs(source_dir / "config/reports.json").at(0);
    auto r = build_report(spec, generate(9, 120), "2026-11");
    r.exposures.push_back({0, 0, 1.0, 1.0});
    test::temp_dir dir;
    EXPECT_THROW(write_report(r, dir / "out"), std::runtime_error);
    EXPECT_FALSE(fs::exists(dir / "out/report.html"));
}

// The page as a person sees it: headless Chromium renders report.html from the folder it was
// written to. The rendered document holds every table and chart, the browser reports nothing
// on its console (a blocked resource, a script, a policy violation), and the screenshot shows
// ink in several colours. A small page that breaks the rules shows that the console check
// can fail.
struct browser_run {
    int status = -1;
    std::string dom;
    std::string console;  ///< The browser's console lines ("...:CONSOLE:...").
};

browser_run run_browser(const fs::path& page, const fs::path& scratch, const std::string& mode) {
    const auto out = scratch / "stdout.txt";
    const auto err = scratch / "stderr.txt";
    const std::string cmd =
        "timeout 120 chromium --headless --no-sandbox --disable-gpu "
        "--no-first-run --user-data-dir=" +
        (scratch / "profile").string() + " --enable-logging=stderr --v=0 --window-size=1280,2400 " +
        mode + " 'file://" + page.string() + "' >" + out.string() + " 2>" + err.string();
    browser_run r;
    r.status = std::system(cmd.c_str());
    r.dom = slurp(out);
    std::istringstream lines(slurp(err));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.find(":CONSOLE") != std::string::npos) {
            r.console += line + "\n";
        }
    }
    return r;
}

bool have_chromium() {
    return std::system("command -v chromium >/dev/null 2>&1") == 0;
}

TEST(report_page, renders_in_a_headless_browser_with_every_table_and_no_console_message) {
    if (!have_chromium()) {
        GTEST_SKIP() << "chromium is not installed (.ci/install-deps installs it)";
    }
    const auto spec = load_report_specs(source_dir / "config/reports.json").at(0);
    const auto r = build_report(spec, generate(4, 400), "2026-11");
    test::temp_dir dir;
    write_report(r, dir / "out");
    const auto page = dir / "out/report.html";

    fs::create_directories(dir / "dom");
    const auto dom = run_browser(page, dir / "dom", "--dump-dom");
    ASSERT_EQ(dom.status, 0) << dom.console;
    EXPECT_EQ(dom.console, "") << "the browser's console was not quiet";
    for (const auto& t : r.tables) {
        EXPECT_NE(dom.dom.find("<section id=\"" + t.id() + "\""), std::string::npos) << t.id();
    }
    std::size_t charts = 0;
    for (auto at = dom.dom.find("<svg"); at != std::string::npos;
         at = dom.dom.find("<svg", at + 1)) {
        ++charts;
    }
    EXPECT_GE(charts, 3u) << "bars by camp, the twelve-month trend and the overlap heat map";
    EXPECT_NE(dom.dom.find("মেয়ে"), std::string::npos) << "Bengali labels survive rendering";

    fs::create_directories(dir / "shot");
    const auto shot_file = dir / "shot/page.png";
    const auto shot = run_browser(page, dir / "shot", "--screenshot=" + shot_file.string());
    ASSERT_EQ(shot.status, 0) << shot.console;
    std::string error;
    const auto img = test::read_png(shot_file, error);
    ASSERT_TRUE(img) << error;
    EXPECT_EQ(img->width, 1280u);
    EXPECT_GT(img->inked_share(), 0.02) << "the screenshot is (nearly) blank";
    EXPECT_GE(img->colours(), 4u) << "text and bars in several colours";
    // Kept for a person to look at: build/<preset>/test-artefacts/report-page.png.
    fs::create_directories(CASEBRIDGE_ARTEFACT_DIR);
    fs::copy_file(
        shot_file,
        fs::path(CASEBRIDGE_ARTEFACT_DIR) / "report-page.png",
        fs::copy_options::overwrite_existing
    );

    // The negative control: an image from nowhere and an inline script on a page with the same
    // kind of policy are both reported on the console.
    const auto bad = dir.write(
        "bad.html",
        "<!doctype html><html><head><meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'\"></head><body><p>x</p><img src=\"nowhere.png\">"
        "<script>document.title = 'ran';</script></body></html>"
    );
    fs::create_directories(dir / "bad");
    const auto control = run_browser(bad, dir / "bad", "--dump-dom");
    EXPECT_NE(control.console, "")
        << "the console check saw nothing on a page that breaks the rules";
}

}  // namespace
}  // namespace casebridge::report
