// The web console in a real browser (headless Chromium through its DevTools protocol) against
// the daemon on two Primero sandboxes: sign in, see the flows, pause, resume and run one, find
// its transfer entries, retry a dead letter and see the result, close a review item with a
// reason, hand a caseload over (plan, a refused and an accepted review file, the hand-over
// with its receipt); no console error on the way,
// no case value on any page, the token never in a URL, and an inline script refused by the
// Content-Security-Policy (the negative control that shows errors are seen at all).
// Screenshots are written to the test artefacts folder.
#include <csignal>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "support/browser.hpp"
#include "support/png_image.hpp"
#include "support/review_file.hpp"
#include "support/run_awaitable.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using console_test = test::sandbox_pair;

/// Writes a screenshot to the artefacts folder and checks that it shows something.
void save(const std::string& png, const std::string& name) {
    fs::create_directories(CASEBRIDGE_ARTEFACT_DIR);
    const auto file = fs::path(CASEBRIDGE_ARTEFACT_DIR) / name;
    std::ofstream(file, std::ios::binary) << png;
    std::string error;
    const auto image = test::read_png(file, error);
    ASSERT_TRUE(image.has_value()) << name << ": " << error;
    EXPECT_GT(image->inked_share(), 0.005) << name << " is blank";
    EXPECT_GT(image->colours(), 3u) << name;
}

/// Names and other free text of the source's cases: none may appear on a console page.
std::set<std::string> sentinels(const sandbox::primero_sandbox& s) {
    std::set<std::string> out;
    for (const auto& id : s.case_ids()) {
        auto doc = json::parse(*s.case_json(id));
        if (!doc || !doc->IsObject()) {
            continue;
        }
        for (const char* field : {"name_first", "name_last", "name", "name_nickname"}) {
            if (doc->HasMember(field) && (*doc)[field].IsString()) {
                const std::string v = (*doc)[field].GetString();
                if (v.size() >= 4) {
                    out.insert(v);
                }
            }
        }
    }
    return out;
}

/// `text` as a JavaScript string literal (JSON's string syntax).
std::string js_string(const std::string& text) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
    return std::string(sb.GetString(), sb.GetSize());
}

/// Chooses a file holding `text` in the file input `input_id`, as a person picking it would.
void choose_file(
    test::browser& b, const std::string& input_id, const std::string& name, const std::string& text
) {
    b.eval(
        "{const t = new DataTransfer(); t.items.add(new File([" + js_string(text) + "], " +
        js_string(name) + ", {type: 'text/csv'})); const i = document.getElementById(" +
        js_string(input_id) + "); i.files = t.files; i.dispatchEvent(new Event('change'));} 1"
    );
}

/// The review file `csv` with each record that needs consent confirmation confirmed; the
/// first without a written reason when `one_without_reason`.
std::string confirmed_review(const std::string& csv, bool one_without_reason) {
    bool first = true;
    return test::edited_review(csv, [&](exchange::csv_row& row) {
        if (row[1] == "needs_consent_confirmation") {
            row[6] = "yes";
            row[7] = first && one_without_reason ? "" : "Consent confirmed at the closing visit";
            first = false;
        }
    });
}

std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "'";
}

TEST_F(console_test, an_operator_signs_in_runs_a_flow_reads_the_log_and_retries_a_dead_letter) {
    if (!test::browser::available()) {
        GTEST_SKIP() << "chromium is not installed (.ci/install-deps installs it)";
    }
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 5u);
    to->server().inject(sandbox::fault::error(422), 1);  // the first create is refused
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(test::start_daemon(config, "5", d, admin));
    (void)wait_for_target(expected.size() - 1);
    ASSERT_EQ(to->case_count() + 1, expected.size()) << "the scheduled run did not finish";
    const auto names = sentinels(*from);
    ASSERT_FALSE(names.empty());
    const auto no_case_value = [&](test::browser& b, const std::string& page) {
        const auto text = b.eval("document.body.innerText");
        for (const auto& n : names) {
            EXPECT_EQ(text.find(n), std::string::npos) << page << " shows a case value";
        }
    };

    test::browser b(dir.path());
    b.navigate(admin + "/console/");
    ASSERT_TRUE(b.wait_for("!document.getElementById('sign-in-page').hidden"));
    EXPECT_TRUE(b.wait_for("document.getElementById('nav').hidden"));
    save(b.screenshot_png(), "console-sign-in.png");

    // A wrong token is refused and says so (the 401 is logged by the browser: cleared).
    b.eval(
        "document.getElementById('token').value = 'not-the-token';"
        "document.getElementById('sign-in').requestSubmit(); true"
    );
    EXPECT_TRUE(
        b.wait_for("document.getElementById('sign-in-error').textContent.includes('refused')")
    );
    EXPECT_EQ(b.eval("sessionStorage.length"), "0");
    (void)b.wait_for("false", 1s);  // the browser's log of the 401 arrives meanwhile
    b.clear_errors();

    b.eval(
        "document.getElementById('token').value = " + quoted(admin_token) +
        ";"
        "document.getElementById('sign-in').requestSubmit(); true"
    );
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'overview'"))
        << b.eval("document.body.innerText");
    EXPECT_EQ(b.eval("document.getElementById('token').value"), "\"\"");
    EXPECT_EQ(b.eval("location.href").find(admin_token), std::string::npos);
    EXPECT_EQ(
        b.eval("document.getElementById('total-sent').textContent"),
        "\"" + std::to_string(expected.size() - 1) + "\""
    );
    EXPECT_EQ(b.eval("document.getElementById('dead-letter-count').textContent"), "\"1\"");
    EXPECT_EQ(b.eval("document.querySelectorAll('tr[data-flow=\"handover\"]').length"), "1");
    EXPECT_EQ(
        b.eval("document.querySelectorAll('#daily-chart rect[data-outcome=\"sent\"]').length"), "1"
    ) << "the chart has today's sent bar";
    save(b.screenshot_png(), "console-overview.png");
    no_case_value(b, "overview");

    // Flows: pause, resume and run now, each answered on the page.
    b.eval("location.hash = '#/flows'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'flows'"));
    b.eval("document.querySelector('tr[data-flow=\"handover\"] [data-action=\"pause\"]').click(); 1"
    );
    EXPECT_TRUE(b.wait_for(
        "document.getElementById('status').textContent.includes('paused') && "
        "document.querySelector('tr[data-flow=\"handover\"] [data-action=\"resume\"]') !== null"
    )) << b.eval("document.getElementById('status').textContent");
    b.eval(
        "document.querySelector('tr[data-flow=\"handover\"] [data-action=\"resume\"]').click(); 1"
    );
    EXPECT_TRUE(b.wait_for("document.getElementById('status').textContent.includes('resumed')"));
    b.eval("document.querySelector('tr[data-flow=\"handover\"] [data-action=\"run\"]').click(); 1");
    EXPECT_TRUE(
        b.wait_for("/started|already_running/.test(document.getElementById('status').textContent)")
    ) << b.eval("document.getElementById('status').textContent");
    save(b.screenshot_png(), "console-flows.png");

    // The transfer log, filtered to the flow: one sent entry per case that reached the target,
    // with its basis and the field names sent.
    b.eval("location.hash = '#/transfers?flow=handover&limit=1000'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'transfers'"));
    ASSERT_TRUE(b.wait_for(
        "[...document.querySelectorAll('tr[data-seq]')].filter("
        "r => r.children[4].textContent === 'sent').length >= " +
        std::to_string(expected.size() - 1)
    )) << b.eval("document.querySelectorAll('tr[data-seq]').length");
    EXPECT_EQ(
        b.eval("[...document.querySelectorAll('tr[data-seq]')].some(r => "
               "r.children[4].textContent === 'sent' && r.children[7].textContent !== '' && "
               "r.children[11].querySelector('details') !== null)"),
        "true"
    );
    EXPECT_EQ(b.eval("document.querySelector('select[name=flow]').value"), "\"handover\"");
    b.eval("document.querySelector('[data-action=\"verify\"]').click(); 1");
    ASSERT_TRUE(b.wait_for("document.querySelector('[data-verified]') !== null", 60s));
    EXPECT_EQ(b.eval("document.querySelector('[data-verified]').dataset.verified"), "\"ok\"")
        << b.eval("document.getElementById('verify-result').textContent");
    save(b.screenshot_png(), "console-transfers.png");
    no_case_value(b, "transfer log");

    // Dead letters: the refused create, retried from the page; the answer shows in its row.
    b.eval("location.hash = '#/dead-letters'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'dead-letters'"));
    ASSERT_EQ(b.eval("document.querySelectorAll('tr[data-letter]').length"), "1");
    // A scheduled run may hold the flow at that moment: the retry is then refused (409,
    // flow_is_running, shown in the row), and the operator retries again.
    ASSERT_TRUE(b.errors().empty()) << b.errors().front();
    const std::string letter = "document.querySelector('tr[data-letter]')";
    std::string outcome;
    for (int i = 0; i < 30; ++i) {
        b.eval(
            letter + ".querySelector('td.result').replaceChildren();" + letter +
            ".querySelector('[data-action=\"retry\"]').click(); 1"
        );
        ASSERT_TRUE(b.wait_for(letter + ".querySelector('[data-result]') !== null", 60s));
        outcome = b.eval(letter + ".querySelector('[data-result]').dataset.result");
        if (outcome != "\"error\"" ||
            b.eval(letter + ".innerText.includes('flow_is_running')") != "true") {
            break;
        }
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_EQ(outcome, "\"sent\"") << b.eval(letter + ".innerText");
    for (const auto& e : b.errors()) {
        EXPECT_NE(e.find("409"), std::string::npos) << "only a busy flow's refusals: " << e;
    }
    b.clear_errors();
    EXPECT_EQ(to->case_count(), expected.size());
    save(b.screenshot_png(), "console-dead-letters.png");
    no_case_value(b, "dead letters");

    // A consent withdrawn after sharing becomes a review item, closed here with a reason.
    // The flow is paused first (and its run in hand, if any, finished), so that only the dry
    // run and then the run asked for see the change.
    b.eval("location.hash = '#/flows'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'flows'"));
    b.eval("document.querySelector('tr[data-flow=\"handover\"] [data-action=\"pause\"]').click(); 1"
    );
    bool idle = false;
    for (int i = 0; i < 60 && !idle; ++i) {
        b.eval("document.getElementById('refresh').click(); 1");
        idle = b.wait_for(
            "document.querySelector('tr[data-flow=\"handover\"]').children[4].textContent === "
            "'paused'",
            1s
        );
    }
    ASSERT_TRUE(idle) << "the flow did not settle as paused";
    ASSERT_TRUE(from->edit_case(*expected.begin(), R"({"disclosure_other_orgs": false})"));
    // A dry run shows the withdrawal it would record, and records nothing. It is asked again
    // until the change is inside the pull's window (the source's newest second is read on a
    // later pass) or when a scheduled run held the flow at that moment.
    const std::string row =
        "document.querySelector('tr[data-record=\"" + *expected.begin() + "\"]')";
    bool shown = false;
    for (int i = 0; i < 30 && !shown; ++i) {
        b.eval(
            "document.getElementById('dry-run').replaceChildren();"
            "document.querySelector('tr[data-flow=\"handover\"] [data-action=\"dry-run\"]')"
            ".click(); 1"
        );
        ASSERT_TRUE(b.wait_for(
            "document.querySelector('p[data-dry-run]') !== null || "
            "document.getElementById('status').textContent.includes('flow_is_running')",
            60s
        ));
        shown = b.eval(row + " !== null") == "true";
        if (!shown) {
            std::this_thread::sleep_for(1s);
        }
    }
    ASSERT_TRUE(shown) << b.eval("document.getElementById('dry-run').innerText");
    EXPECT_EQ(b.eval(row + ".children[1].textContent"), "\"consent_withdrawn\"");
    save(b.screenshot_png(), "console-dry-run.png");
    no_case_value(b, "dry run");
    b.eval(
        "document.querySelector('tr[data-flow=\"handover\"] [data-action=\"resume\"]').click(); 1"
    );
    ASSERT_TRUE(b.wait_for("document.getElementById('status').textContent.includes('resumed')"));
    b.eval("document.querySelector('tr[data-flow=\"handover\"] [data-action=\"run\"]').click(); 1");
    b.eval("location.hash = '#/reviews'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'reviews'"));
    bool raised = false;
    for (int i = 0; i < 60 && !raised; ++i) {
        b.eval("document.getElementById('refresh').click(); 1");
        raised = b.wait_for("document.querySelectorAll('tr[data-review]').length === 1", 1s);
    }
    ASSERT_TRUE(raised) << "no review item for the withdrawn consent";
    EXPECT_EQ(
        b.eval("document.querySelector('tr[data-review]').children[3].textContent"),
        "\"consent_withdrawn\""
    );
    // Without a reason the browser does not send the form; with one the item closes.
    b.eval("document.querySelector('tr[data-review] form').requestSubmit(); 1");
    EXPECT_EQ(b.eval("document.querySelector('tr[data-review] [data-result]') === null"), "true");
    // A Refresh still in flight when the decision is made has read the list before the item
    // closed: it must not draw over the decision's answer. Here its answer is held back until
    // after the decision's, as a slow reply under load would be.
    b.eval(
        "window.realFetch = window.fetch; window.readsServed = 0; window.readsHeld = 0;"
        "window.fetch = (u, o) => window.realFetch(u, o).then((r) => {"
        "  if (((o && o.method) || 'GET') !== 'GET' || !String(u).endsWith('/reviews')) {"
        "    return r;"
        "  }"
        "  ++window.readsServed;"
        "  return new Promise((done) => setTimeout(() => { ++window.readsHeld; done(r); }, 1500));"
        "});"
        "document.getElementById('refresh').click(); 1"
    );
    ASSERT_TRUE(b.wait_for("window.readsServed === 1"));
    b.eval(
        "document.querySelector('tr[data-review] input[name=reason]').value = "
        "'Receiving agency told by phone';"
        "document.querySelector('tr[data-review] form').requestSubmit(); 1"
    );
    ASSERT_TRUE(b.wait_for("document.querySelector('tr[data-review] [data-result]') !== null"));
    ASSERT_TRUE(b.wait_for("window.readsHeld === 1"));
    // The held read is answered; its render would draw within milliseconds.
    b.eval("new Promise((done) => setTimeout(() => done(1), 500))");
    b.eval("window.fetch = window.realFetch; 1");
    ASSERT_EQ(b.eval("document.querySelector('tr[data-review] [data-result]') !== null"), "true")
        << "a Refresh read before the decision drew over its answer";
    EXPECT_EQ(
        b.eval("document.querySelector('tr[data-review] [data-result]').dataset.result"),
        "\"resolved\""
    ) << b.eval("document.querySelector('tr[data-review]').innerText");
    save(b.screenshot_png(), "console-reviews.png");
    no_case_value(b, "reviews");
    b.eval("document.getElementById('refresh').click(); 1");
    EXPECT_TRUE(b.wait_for("document.querySelectorAll('tr[data-review]').length === 0"));
    b.eval("location.hash = '#/transfers?flow=handover&limit=10000'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'transfers'"));
    EXPECT_TRUE(
        b.wait_for("[...document.querySelectorAll('tr[data-seq]')].some("
                   "r => r.children[4].textContent === 'review_resolved' && "
                   "r.children[9].textContent === 'consent_withdrawn')")
    );
    EXPECT_EQ(b.eval("document.body.innerText.includes('told by phone')"), "false")
        << "the written reason's text is not shown or kept";

    EXPECT_TRUE(b.errors().empty()) << b.errors().front();

    // Negative control: an inline script is refused by the page's policy, and that is seen.
    b.eval(
        "const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
        "document.head.append(s); true"
    );
    EXPECT_EQ(b.eval("window.inlineRan === undefined"), "true");
    EXPECT_TRUE(b.wait_for("true") && !b.errors().empty())
        << "a refused inline script left no error: errors would go unseen";

    // Signing out forgets the token.
    b.eval("document.getElementById('sign-out').click(); 1");
    EXPECT_TRUE(b.wait_for("!document.getElementById('sign-in-page').hidden"));
    EXPECT_EQ(b.eval("sessionStorage.length"), "0");

    std::string logs;
    d->stop(SIGTERM, &logs);
    EXPECT_EQ(logs.find(admin_token), std::string::npos);
}

// Project end: the agency plans the hand-over, downloads the review file, uploads it reviewed
// (refused whole while an override has no written reason, naming the file and line), and hands
// the confirmed records over, following the progress to the receipt.
TEST_F(console_test, an_agency_hands_its_caseload_over_from_the_console) {
    if (!test::browser::available()) {
        GTEST_SKIP() << "chromium is not installed (.ci/install-deps installs it)";
    }
    const auto expected = eligible_ids();
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(test::start_daemon(config, "5", d, admin));
    ASSERT_TRUE(wait_for_target(expected.size()));
    const auto names = sentinels(*from);
    auto paused =
        test::run_awaitable(test::call("POST", admin + "/flows/handover/pause", admin_token));
    ASSERT_TRUE(paused && paused->status == 200u);

    test::browser b(dir.path());
    b.navigate(admin + "/console/#/caseload");
    ASSERT_TRUE(b.wait_for("!document.getElementById('sign-in-page').hidden"));
    b.eval(
        "document.getElementById('token').value = " + quoted(admin_token) +
        ";"
        "document.getElementById('sign-in').requestSubmit(); true"
    );
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'caseload'"))
        << b.eval("document.body.innerText");

    // The plan (asked again while the paused flow's last run still holds it).
    bool planned = false;
    for (int i = 0; i < 30 && !planned; ++i) {
        b.eval("document.querySelector('[data-action=\"plan\"]').click(); 1");
        ASSERT_TRUE(b.wait_for(
            "document.getElementById('plan-counts') !== null || "
            "document.querySelector('#plan-result .error') !== null",
            60s
        ));
        planned = b.eval("document.getElementById('plan-counts') !== null") == "true";
        if (!planned) {
            std::this_thread::sleep_for(500ms);
        }
    }
    ASSERT_TRUE(planned) << b.eval("document.getElementById('plan-result').innerText");
    EXPECT_EQ(
        b.eval("document.querySelector('#plan-counts tr[data-count=already_transferred] "
               "td').textContent"),
        "\"" + std::to_string(expected.size()) + "\""
    );
    EXPECT_EQ(
        b.eval("document.getElementById('plan-link').download"), "\"caseload-handover-review.csv\""
    );
    EXPECT_EQ(b.eval("document.getElementById('plan-link').href.startsWith('blob:')"), "true");
    save(b.screenshot_png(), "console-handover-plan.png");

    // The reviewed file, as the person edits the downloaded one (the same plan, asked of the
    // API: the flow is paused and the source unchanged).
    auto plan =
        test::run_awaitable(test::call("POST", admin + "/flows/handover/caseload/plan", admin_token)
        );
    ASSERT_TRUE(plan && plan->status == 200u);
    const auto planned_json = json::parse(plan->body);
    ASSERT_TRUE(planned_json);
    const std::string csv = (*planned_json)["review_file"].GetString();
    const auto to_confirm = (*planned_json)["counts"]["needs_consent_confirmation"].GetInt64();
    ASSERT_GE(to_confirm, 2);

    choose_file(b, "review-file", "end-review.csv", confirmed_review(csv, true));
    ASSERT_TRUE(b.wait_for("document.querySelector('[data-check]') !== null"));
    EXPECT_EQ(b.eval("document.querySelector('[data-check]').dataset.check"), "\"refused\"");
    EXPECT_EQ(
        b.eval("[...document.querySelectorAll('#check-problems li')].some(l => "
               "/^end-review\\.csv:[0-9]+: an override needs a written override_reason$/"
               ".test(l.textContent))"),
        "true"
    ) << b.eval("document.getElementById('check-result').innerText");
    EXPECT_EQ(b.eval("document.querySelector('[data-action=\"execute\"]').disabled"), "true");
    b.eval("document.getElementById('check-result').scrollIntoView(); 1");
    save(b.screenshot_png(), "console-handover-refused.png");

    choose_file(b, "review-file", "end-review.csv", confirmed_review(csv, false));
    ASSERT_TRUE(b.wait_for("document.querySelector('[data-check=accepted]') !== null"))
        << b.eval("document.getElementById('check-result').innerText");
    EXPECT_EQ(to->case_count(), expected.size()) << "a check sends nothing";
    b.eval("document.querySelector('[data-action=\"execute\"]').click(); 1");
    ASSERT_TRUE(b.wait_for("document.querySelector('[data-handover]') !== null", 120s));
    EXPECT_EQ(b.eval("document.querySelector('[data-handover]').dataset.handover"), "\"finished\"")
        << b.eval("document.getElementById('handover-result').innerText");
    EXPECT_EQ(
        b.eval("document.querySelector('#handover-outcome tr[data-count=transferred] "
               "td').textContent"),
        "\"" + std::to_string(to_confirm) + "\""
    );
    EXPECT_EQ(b.eval("document.getElementById('receipt-link') !== null"), "true");
    EXPECT_EQ(to->case_count(), expected.size() + static_cast<std::size_t>(to_confirm));
    b.eval("document.getElementById('handover-result').scrollIntoView(); 1");
    save(b.screenshot_png(), "console-handover-done.png");
    const auto text = b.eval("document.body.innerText");
    for (const auto& n : names) {
        EXPECT_EQ(text.find(n), std::string::npos) << "the hand-over page shows a case value";
    }
    EXPECT_EQ(text.find("closing visit"), std::string::npos);
    EXPECT_TRUE(b.errors().empty()) << b.errors().front();

    std::string logs;
    d->stop(SIGTERM, &logs);
    EXPECT_EQ(logs.find("closing visit"), std::string::npos);
}

}  // namespace
}  // namespace casebridge
