// The DSS file-exchange adapter on real folders: batches opened with 7-Zip, acknowledgement and
// case files read page by page, quarantine, the register of exchange ids, the data dictionary.
#include "dss_files/dss_files_adapter.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "adapter/registry.hpp"
#include "canonical/canonical_case.hpp"
#include "core/crypto.hpp"
#include "core/time.hpp"
#include "core/uuid.hpp"
#include "dss_files/data_dictionary.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "json/json_schema.hpp"
#include "mapping/mapping.hpp"
#include "store/store.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::dss_files {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;
constexpr std::string_view passphrase = "correct horse battery 7";
constexpr std::string_view bengali_name = "মোছাঃ সুমাইয়া আক্তার";
constexpr std::string_view awkward_reason = "Says \"not safe\", at home,\nneeds shelter";

struct run_result {
    int status;
    std::string out;
};

run_result run_command(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    const int st = ::pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

bool have_7z() {
    return run_command("command -v 7z").status == 0;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    if (!fs::exists(dir)) {
        return out;
    }
    for (const auto& e : fs::directory_iterator(dir)) {
        out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> with_suffix(const fs::path& dir, std::string_view suffix) {
    std::vector<std::string> out;
    for (auto& n : names_in(dir)) {
        if (n.size() > suffix.size() &&
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
            out.push_back(n);
        }
    }
    return out;
}

const canonical_catalogue& catalogue() {
    static const canonical_catalogue cat =
        canonical_catalogue::load(source_dir / "mappings" / "canonical-case.json");
    return cat;
}

const mapping::compiled_mapping& mapping_named(const std::string& id) {
    static std::map<std::string, mapping::compiled_mapping> cache;
    auto it = cache.find(id);
    if (it == cache.end()) {
        it = cache
                 .emplace(
                     id,
                     mapping::compiled_mapping::load(
                         source_dir / "mappings" / (id + ".json"), catalogue()
                     )
                 )
                 .first;
    }
    return it->second;
}

// A DSS event row as dss.event.json's out direction writes it.
rapidjson::Document event_row(
    std::string_view case_id, std::string_view name, std::string_view reason
) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    const auto add = [&](const char* k, std::string_view v) {
        d.AddMember(
            rapidjson::Value(k, a),
            rapidjson::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()), a),
            a
        );
    };
    add("source_record_id", case_id);
    add("child_name", name);
    add("sex", "F");
    add("date_of_birth", "04/03/2011");
    add("age_years", "13");
    add("upazila_code", "202294");
    add("consent_for_services", "yes");
    add("consent_sharing", "authorities|family");
    add("event_id", "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d");
    add("event_type", "referral");
    add("event_time", "2024-04-14 15:45:00");
    add("service_code", "DSS-PSS");
    add("referral_reason", reason);
    return d;
}

external_record event(std::string source_key, std::string version, rapidjson::Document body) {
    external_record r;
    r.stream = "events";
    r.source_key = std::move(source_key);
    r.updated_at = std::move(version);
    r.body = std::move(body);
    return r;
}

class dss_files_adapter_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2025) / 11 / 20) + 9h + 30min};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;

    fs::path outbox() const { return dir.path() / "outbox"; }
    fs::path inbox() const { return dir.path() / "inbox"; }
    fs::path sent() const { return dir.path() / "sent"; }

    settings make_settings(std::size_t max_rows = 1000) {
        for (const auto& d : {outbox(), inbox(), sent()}) {
            fs::create_directories(d);
        }
        settings s;
        s.outbox = outbox();
        s.inbox = inbox();
        s.sent_register = sent();
        s.passphrase_file = dir.write("passphrase", std::string(passphrase) + "\n");
        s.sender = "cpss-cxb";
        s.max_rows_per_batch = max_rows;
        s.ack_reason_codes = {"missing_guardian", "missing_guardian_contact"};
        return s;
    }

    std::unique_ptr<dss_files_adapter> make(settings s) {
        adapter_env env{ctx.get_executor(), nullptr, &clock, logger(sink, clock, log_level::trace)};
        return std::make_unique<dss_files_adapter>(std::move(s), std::move(env));
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_awaitable(std::move(op));
    }

    std::string push_ok(dss_files_adapter& a, external_record r) {
        auto id = run(a.push(std::move(r)));
        EXPECT_TRUE(id) << id.error().describe();
        return id ? *id : std::string{};
    }

    // Manifests in the outbox, parsed.
    std::vector<rapidjson::Document> manifests() {
        std::vector<rapidjson::Document> out;
        for (const auto& n : with_suffix(outbox(), ".manifest.json")) {
            auto text = json::read_file(outbox() / n);
            out.push_back(std::move(json::parse(*text).value()));
        }
        return out;
    }

    std::string extract(const std::string& zip, const std::string& entry, std::string_view pass) {
        return run_command(
                   "7z x -so -p" + quoted(pass) + " " + (outbox() / zip).string() + " " + entry
        )
            .out;
    }
};

TEST_F(dss_files_adapter_test, flush_writes_one_encrypted_batch_that_7z_opens) {
    auto a = make(make_settings());
    // One row straight from the event mapping, two with awkward text.
    auto canonical =
        json::parse(*json::read_file(source_dir / "tests/golden/dss.event/out-transfer.input.json")
        );
    mapping::map_context mctx;
    mctx.now = clock.now();
    auto mapped = mapping_named("dss.event").map_out(*canonical, mctx);
    ASSERT_TRUE(mapped) << mapped.error().to_json();
    const std::string id1 =
        push_ok(*a, event("flow/cpims/c-1", "2024-05-02T03:00:00Z", std::move(*mapped)));
    const std::string id2 = push_ok(
        *a,
        event(
            "flow/cpims/c-2", "2024-05-03T08:00:00Z", event_row("c-2", bengali_name, awkward_reason)
        )
    );
    const std::string id3 = push_ok(
        *a, event("flow/cpims/c-3", "2024-05-04T08:00:00Z", event_row("c-3", "Rahim, \"Ali\"", "x"))
    );
    EXPECT_EQ(a->pending_rows(), 3u);
    const auto flushed = run(a->flush());
    ASSERT_TRUE(flushed) << flushed.error().describe();
    EXPECT_EQ(a->pending_rows(), 0u);

    const auto files = names_in(outbox());
    ASSERT_EQ(files.size(), 3u) << ::testing::PrintToString(files);
    const std::string stem = files[0].substr(0, files[0].find('.'));
    EXPECT_EQ(stem.rfind("cpss-cxb-events-20251120T093000Z-", 0), 0u) << stem;
    EXPECT_EQ(files[0], stem + ".dictionary.csv");
    EXPECT_EQ(files[1], stem + ".manifest.json");
    EXPECT_EQ(files[2], stem + ".zip");
    for (const auto& f : files) {
        struct stat st {};
        ASSERT_EQ(::stat((outbox() / f).c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777U, 0600U) << f;
    }
    const std::string zip = slurp(outbox() / (stem + ".zip"));
    EXPECT_EQ(zip.find(bengali_name), std::string::npos);
    EXPECT_EQ(zip.find("needs shelter"), std::string::npos);

    const auto ms = manifests();
    ASSERT_EQ(ms.size(), 1u);
    const auto& m = ms[0];
    EXPECT_EQ(m["rows"].GetInt(), 3);
    EXPECT_EQ(std::string(m["file"].GetString()), stem + ".zip");
    EXPECT_EQ(std::string(m["sha256"].GetString()), crypto::sha256_hex(zip));
    EXPECT_EQ(std::string(m["sender"].GetString()), "cpss-cxb");
    EXPECT_EQ(std::string(m["created_at"].GetString()), "2025-11-20T09:30:00Z");
    EXPECT_EQ(std::string(m["schema_version"].GetString()).rfind("dss.event:", 0), 0u);
    EXPECT_EQ(
        std::string(m["dictionary_sha256"].GetString()),
        crypto::sha256_hex(slurp(outbox() / (stem + ".dictionary.csv")))
    );
    EXPECT_EQ(slurp(outbox() / (stem + ".dictionary.csv")), event_dictionary().to_csv());

    if (!have_7z()) {
        GTEST_SKIP() << "7z (p7zip-full) is not installed; .ci/install-deps installs it";
    }
    const std::string csv = extract(stem + ".zip", stem + ".csv", passphrase);
    ASSERT_FALSE(csv.empty());
    EXPECT_EQ(crypto::sha256_hex(csv), std::string(m["csv_sha256"].GetString()));
    EXPECT_EQ(
        csv.rfind(
            "\xEF\xBB\xBF"
            "exchange_id,withdraws_exchange_id,source_record_id,",
            0
        ),
        0u
    );
    EXPECT_NE(csv.find("\r\n"), std::string::npos);
    const auto table = exchange::parse_csv(csv);
    ASSERT_TRUE(table) << table.error().message;
    EXPECT_EQ(table->header, event_dictionary().columns());
    ASSERT_EQ(table->rows.size(), 3u);
    const auto cell = [&](std::size_t row, std::string_view column) {
        const auto it = std::find(table->header.begin(), table->header.end(), column);
        return table->rows[row][static_cast<std::size_t>(it - table->header.begin())];
    };
    EXPECT_EQ(cell(0, "exchange_id"), id1);
    EXPECT_EQ(cell(0, "source_record_id"), "5c4b3a29-1807-4f6e-9d5c-4b3a2f1e0d9c");
    EXPECT_EQ(cell(0, "service_code"), "DSS-EDU");
    EXPECT_EQ(cell(0, "guardian_nid"), "");  // absent in the mapped row: an empty cell
    EXPECT_EQ(cell(1, "exchange_id"), id2);
    EXPECT_EQ(cell(1, "child_name"), bengali_name);
    EXPECT_EQ(cell(1, "referral_reason"), awkward_reason);
    EXPECT_EQ(cell(2, "exchange_id"), id3);
    EXPECT_EQ(cell(2, "child_name"), "Rahim, \"Ali\"");

    const auto wrong = run_command(
        "7z x -so -pwrong-pass " + (outbox() / (stem + ".zip")).string() + " " + stem + ".csv"
    );
    EXPECT_NE(wrong.status, 0);
    EXPECT_EQ(wrong.out.find(bengali_name), std::string::npos);
}

TEST_F(dss_files_adapter_test, nothing_pending_writes_nothing) {
    auto a = make(make_settings());
    ASSERT_TRUE(run(a->flush()));
    EXPECT_TRUE(names_in(outbox()).empty());
    push_ok(*a, event("f/s/1", "2025-01-01T00:00:00Z", event_row("1", "A", "r")));
    ASSERT_TRUE(run(a->flush()));
    const auto after_first = names_in(outbox());
    EXPECT_EQ(after_first.size(), 3u);
    clock.advance(5min);
    ASSERT_TRUE(run(a->flush()));
    EXPECT_EQ(names_in(outbox()), after_first);
    EXPECT_EQ(names_in(sent()).size(), 1u);
}

TEST_F(dss_files_adapter_test, exchange_id_is_uuid5_of_source_key_and_version) {
    auto s = make_settings();
    auto a = make(s);
    const std::string key = "cpims-to-dss/cpims-cxb/5c4b3a29";
    const std::string id =
        push_ok(*a, event(key, "2024-05-02T03:00:00Z", event_row("c", "A", "first")));
    EXPECT_EQ(id, uuid_v5(key + "@2024-05-02T03:00:00Z"));
    EXPECT_EQ(id, dss_files_adapter::exchange_id_for(key, "2024-05-02T03:00:00Z"));
    // The same version again replaces the pending row instead of adding one.
    EXPECT_EQ(push_ok(*a, event(key, "2024-05-02T03:00:00Z", event_row("c", "A", "second"))), id);
    EXPECT_EQ(a->pending_rows(), 1u);
    // A new version is a new event.
    const std::string id2 =
        push_ok(*a, event(key, "2024-05-09T03:00:00Z", event_row("c", "A", "x")));
    EXPECT_NE(id2, id);
    EXPECT_EQ(a->pending_rows(), 2u);
    ASSERT_TRUE(run(a->flush()));

    // After a restart the engine sends the same event again: same exchange id, in a new batch.
    clock.advance(1h);
    auto b = make(s);
    EXPECT_EQ(push_ok(*b, event(key, "2024-05-02T03:00:00Z", event_row("c", "A", "second"))), id);
    ASSERT_TRUE(run(b->flush()));
    const auto ms = manifests();
    ASSERT_EQ(ms.size(), 2u);
    if (have_7z()) {
        std::multiset<std::string> ids;
        for (const auto& m : ms) {
            const std::string zip = m["file"].GetString();
            const std::string csv_name = m["csv_file"].GetString();
            const auto t = exchange::parse_csv(extract(zip, csv_name, passphrase));
            ASSERT_TRUE(t);
            for (const auto& row : t->rows) {
                ids.insert(row[0]);
            }
        }
        EXPECT_EQ(ids.count(id), 2u);  // DSS de-duplicates on it
        EXPECT_EQ(ids.count(id2), 1u);
    }
}

TEST_F(dss_files_adapter_test, max_rows_per_batch_splits_the_pending_rows) {
    auto a = make(make_settings(2));
    std::set<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.insert(push_ok(
            *a, event("f/s/" + std::to_string(i), "2025-01-01T00:00:00Z", event_row("c", "A", "r"))
        ));
    }
    ASSERT_TRUE(run(a->flush()));
    std::multiset<int> rows;
    for (const auto& m : manifests()) {
        rows.insert(m["rows"].GetInt());
    }
    EXPECT_EQ(rows, (std::multiset<int>{1, 2, 2}));
    EXPECT_EQ(ids.size(), 5u);
    EXPECT_EQ(with_suffix(outbox(), ".zip").size(), 3u);
    EXPECT_EQ(with_suffix(sent(), ".sent").size(), 3u);
}

TEST_F(dss_files_adapter_test, push_refuses_what_the_dictionary_does_not_describe) {
    auto a = make(make_settings());
    auto unknown = event_row("c", "A", "r");
    unknown.AddMember("address", "12 Market Road", unknown.GetAllocator());
    auto r = run(a->push(event("f/s/1", "v1", std::move(unknown))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::mapping_failed));
    EXPECT_NE(r.error().detail.find("address"), std::string::npos);
    EXPECT_EQ(r.error().detail.find("Market"), std::string::npos);

    auto number = event_row("c", "A", "r");
    number["age_years"] = 987654;
    r = run(a->push(event("f/s/1", "v1", std::move(number))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::mapping_failed));
    EXPECT_EQ(r.error().detail.find("987654"), std::string::npos);

    auto own = event_row("c", "A", "r");
    own.AddMember("exchange_id", "0b5e8c1a-1111-4a2b-9c3d-000000000001", own.GetAllocator());
    EXPECT_FALSE(run(a->push(event("f/s/1", "v1", std::move(own)))));

    r = run(a->push(event("", "v1", event_row("c", "A", "r"))));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::mapping_failed));

    auto other = event("f/s/1", "v1", event_row("c", "A", "r"));
    other.stream = "cases";
    r = run(a->push(std::move(other)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::not_found));
    EXPECT_EQ(a->pending_rows(), 0u);
}

TEST_F(dss_files_adapter_test, rows_stay_pending_until_a_flush_succeeds) {
    auto s = make_settings();
    auto a = make(s);
    fs::remove(s.passphrase_file);
    push_ok(*a, event("f/s/1", "v1", event_row("c", "A", "r")));
    push_ok(*a, event("f/s/2", "v1", event_row("c", "B", "r")));
    auto r = run(a->flush());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
    EXPECT_EQ(r.error().detail.find(passphrase), std::string::npos);
    EXPECT_EQ(a->pending_rows(), 2u);
    EXPECT_TRUE(names_in(outbox()).empty());

    // The outbox is gone: the register entry is written first, the batch fails.
    dir.write("passphrase", std::string(passphrase) + "\n");
    fs::remove(outbox());
    r = run(a->flush());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::remote_unavailable));
    EXPECT_TRUE(r.error().transient());
    EXPECT_EQ(a->pending_rows(), 2u);
    EXPECT_EQ(with_suffix(sent(), ".sent").size(), 1u);

    fs::create_directories(outbox());
    ASSERT_TRUE(run(a->flush()));
    EXPECT_EQ(a->pending_rows(), 0u);
    EXPECT_EQ(with_suffix(outbox(), ".manifest.json").size(), 1u);
    EXPECT_EQ(with_suffix(sent(), ".sent").size(), 1u);  // the same batch name: replaced
    for (const auto& n : names_in(outbox())) {
        EXPECT_NE(n.front(), '.') << "temporary file left behind: " << n;
    }
}

// --- acknowledgements ---------------------------------------------------------------------

std::string ack_file(const std::vector<std::array<std::string, 4>>& rows) {
    std::string text =
        "\xEF\xBB\xBF"
        "exchange_id,status,dss_reference,reason\r\n";
    for (const auto& r : rows) {
        text += r[0] + "," + r[1] + "," + r[2] + "," + r[3] + "\r\n";
    }
    return text;
}

TEST_F(dss_files_adapter_test, acknowledgements_come_one_file_per_page_and_the_cursor_moves_on) {
    auto a = make(make_settings());
    const auto ida = push_ok(*a, event("f/s/a", "v1", event_row("a", "A", "r")));
    const auto idb = push_ok(*a, event("f/s/b", "v1", event_row("b", "B", "r")));
    ASSERT_TRUE(run(a->flush()));
    dir.write("inbox/ack-20251121-001.csv", ack_file({{ida, "accepted", "DSS/CXB/2025/0042", ""}}));
    dir.write("inbox/ack-20251121-002.csv", ack_file({{idb, "rejected", "", "missing_guardian"}}));
    dir.write("inbox/notes.txt", "not an exchange file");

    auto p1 = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_TRUE(p1) << p1.error().describe();
    ASSERT_EQ(p1->records.size(), 1u);
    EXPECT_TRUE(p1->has_more);
    const auto& rec = p1->records[0];
    EXPECT_EQ(rec.stream, "acknowledgements");
    EXPECT_EQ(rec.remote_id, ida);
    EXPECT_TRUE(parse_rfc3339(rec.updated_at).has_value()) << rec.updated_at;
    EXPECT_EQ(std::string(rec.body["exchange_id"].GetString()), ida);
    EXPECT_EQ(std::string(rec.body["status"].GetString()), "accepted");
    EXPECT_EQ(std::string(rec.body["dss_reference"].GetString()), "DSS/CXB/2025/0042");
    EXPECT_EQ(std::string(rec.body["reason"].GetString()), "");
    EXPECT_EQ(std::string(rec.body["file"].GetString()), "ack-20251121-001.csv");
    EXPECT_EQ(rec.body["line"].GetInt(), 2);
    EXPECT_TRUE(rec.body["known_exchange_id"].GetBool());
    // Nothing moves until the engine comes back with the cursor.
    EXPECT_TRUE(fs::exists(inbox() / "ack-20251121-001.csv"));

    auto p2 = run(a->pull("acknowledgements", p1->next_cursor));
    ASSERT_TRUE(p2) << p2.error().describe();
    EXPECT_FALSE(fs::exists(inbox() / "ack-20251121-001.csv"));
    EXPECT_TRUE(fs::exists(inbox() / "processed/ack-20251121-001.csv"));
    ASSERT_EQ(p2->records.size(), 1u);
    EXPECT_EQ(p2->records[0].remote_id, idb);
    EXPECT_EQ(std::string(p2->records[0].body["reason"].GetString()), "missing_guardian");
    EXPECT_FALSE(p2->has_more);

    // A crash before the engine stored the second cursor: the same page comes again.
    auto again = run(a->pull("acknowledgements", p1->next_cursor));
    ASSERT_TRUE(again);
    ASSERT_EQ(again->records.size(), 1u);
    EXPECT_EQ(again->records[0].remote_id, idb);
    EXPECT_EQ(again->next_cursor, p2->next_cursor);
    EXPECT_EQ(names_in(inbox() / "processed"), (std::vector<std::string>{"ack-20251121-001.csv"}));

    auto p3 = run(a->pull("acknowledgements", p2->next_cursor));
    ASSERT_TRUE(p3);
    EXPECT_TRUE(p3->records.empty());
    EXPECT_FALSE(p3->has_more);
    EXPECT_EQ(p3->next_cursor, p2->next_cursor);
    EXPECT_TRUE(fs::exists(inbox() / "processed/ack-20251121-002.csv"));
    EXPECT_TRUE(fs::exists(inbox() / "notes.txt"));  // not ours: left alone

    // A file that arrives late with an earlier name is still read.
    dir.write("inbox/ack-20251120-999.csv", ack_file({{ida, "accepted", "DSS/CXB/2025/0042", ""}}));
    auto p4 = run(a->pull("acknowledgements", p3->next_cursor));
    ASSERT_TRUE(p4);
    ASSERT_EQ(p4->records.size(), 1u);
    EXPECT_EQ(std::string(p4->records[0].body["file"].GetString()), "ack-20251120-999.csv");
}

TEST_F(dss_files_adapter_test, a_new_file_with_a_settled_files_name_is_read_not_moved) {
    auto a = make(make_settings());
    const std::string id1 = "0b5e8c1a-1111-4a2b-9c3d-000000000001";
    const std::string id2 = "0b5e8c1a-1111-4a2b-9c3d-000000000002";
    dir.write("inbox/ack-001.csv", ack_file({{id1, "accepted", "DSS/1", ""}}));
    auto p1 = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_TRUE(p1);
    auto p2 = run(a->pull("acknowledgements", p1->next_cursor));
    ASSERT_TRUE(p2);
    EXPECT_TRUE(p2->records.empty());
    EXPECT_TRUE(fs::exists(inbox() / "processed/ack-001.csv"));
    // DSS delivers another file under the same name; the stored cursor still names the first.
    dir.write("inbox/ack-001.csv", ack_file({{id2, "rejected", "", "duplicate"}}));
    auto p3 = run(a->pull("acknowledgements", p2->next_cursor));
    ASSERT_TRUE(p3) << p3.error().describe();
    ASSERT_EQ(p3->records.size(), 1u);
    EXPECT_EQ(p3->records[0].remote_id, id2);
    EXPECT_NE(p3->next_cursor, p2->next_cursor);
    ASSERT_TRUE(run(a->pull("acknowledgements", p3->next_cursor)));
    EXPECT_EQ(
        names_in(inbox() / "processed"), (std::vector<std::string>{"ack-001.csv", "ack-001.csv.1"})
    );
    // Both stay readable by fetch.
    auto f = run(a->fetch("acknowledgements", id1));
    ASSERT_TRUE(f) << f.error().describe();
    EXPECT_EQ(std::string(f->body["status"].GetString()), "accepted");
    f = run(a->fetch("acknowledgements", id2));
    ASSERT_TRUE(f) << f.error().describe();
    EXPECT_EQ(std::string(f->body["status"].GetString()), "rejected");
}

TEST_F(dss_files_adapter_test, processed_files_are_removed_after_their_retention) {
    auto s = make_settings();
    s.processed_retention_days = 30;
    auto a = make(s);
    const auto old_file = dir.write("inbox/processed/case-old.csv", "dss_reference\r\nDSS-1\r\n");
    const auto recent = dir.write("inbox/processed/case-recent.csv", "dss_reference\r\nDSS-2\r\n");
    const auto to_file_time = [](time_point t) {
        return std::chrono::time_point_cast<fs::file_time_type::duration>(
            std::chrono::file_clock::from_sys(std::chrono::time_point_cast<std::chrono::seconds>(t))
        );
    };
    fs::last_write_time(old_file, to_file_time(clock.now() - std::chrono::days(31)));
    fs::last_write_time(recent, to_file_time(clock.now() - std::chrono::days(29)));
    dir.write("inbox/case-new.csv", "dss_reference\r\nDSS-3\r\n");
    auto p1 = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(p1);
    EXPECT_TRUE(fs::exists(old_file));  // pruning happens when a settled file moves on
    ASSERT_TRUE(run(a->pull("cases", p1->next_cursor)));
    EXPECT_FALSE(fs::exists(old_file));
    EXPECT_TRUE(fs::exists(recent));
    EXPECT_TRUE(fs::exists(inbox() / "processed/case-new.csv"));
    EXPECT_FALSE(run(a->fetch("cases", "DSS-1")));
    EXPECT_TRUE(run(a->fetch("cases", "DSS-2")));
}

TEST_F(dss_files_adapter_test, a_malformed_acknowledgement_file_is_quarantined_and_the_next_read) {
    auto a = make(make_settings());
    const std::string ok_id = "0b5e8c1a-1111-4a2b-9c3d-000000000001";
    const std::string bad = ack_file(
        {{ok_id, "accepted", "DSS/1", ""},
         {"0b5e8c1a-1111-4a2b-9c3d-000000000002", "maybe", "", ""}}
    );
    dir.write("inbox/ack-001.csv", bad);
    dir.write("inbox/ack-002.csv", "exchange_id,status\r\n" + ok_id + ",ok\xC3\x28\r\n");
    dir.write("inbox/ack-003.csv", "id,state\r\n" + ok_id + ",accepted\r\n");
    dir.write("inbox/ack-004.csv", ack_file({{ok_id, "accepted", "DSS/4", ""}}));

    const std::vector<std::pair<std::string, std::string>> expected = {
        {"ack-001.csv", "ack-001.csv:3:38: column status: status must be accepted"},
        {"ack-002.csv", "ack-002.csv:2:40: not valid UTF-8"},
        {"ack-003.csv", "ack-003.csv:1:1: the header needs the columns exchange_id and status"},
    };
    for (const auto& [file, reason] : expected) {
        auto r = run(a->pull("acknowledgements", std::nullopt));
        ASSERT_FALSE(r) << file;
        EXPECT_EQ(r.error().code, make_error_code(errc::bad_payload));
        EXPECT_FALSE(r.error().transient());
        EXPECT_EQ(r.error().record_id, file);
        EXPECT_EQ(r.error().detail.rfind(reason, 0), 0u) << r.error().detail;
        EXPECT_FALSE(fs::exists(inbox() / file));
        EXPECT_TRUE(fs::exists(inbox() / "rejected" / file));
        EXPECT_EQ(slurp(inbox() / "rejected" / (file + ".reason.txt")).rfind(reason, 0), 0u);
    }
    // Nothing of the bad file was applied, nothing in it was lost, and the next file is read.
    EXPECT_EQ(slurp(inbox() / "rejected/ack-001.csv"), bad);
    auto next = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_TRUE(next) << next.error().describe();
    ASSERT_EQ(next->records.size(), 1u);
    EXPECT_EQ(std::string(next->records[0].body["dss_reference"].GetString()), "DSS/4");
}

// `n` distinct exchange ids, different for each seed.
std::vector<std::string> exchange_ids(std::size_t n, unsigned seed) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) {
        ids.push_back(uuid_v5("ack-test/" + std::to_string(seed) + "/" + std::to_string(i)));
    }
    return ids;
}

TEST_F(dss_files_adapter_test, a_large_file_comes_in_pages_that_resume_after_a_restart) {
    for (const unsigned seed : {1U, 2U, 3U}) {
        const std::size_t rows = 40 + seed * 17;
        const std::size_t page = 3 + seed * 2;
        auto s = make_settings();
        s.max_rows_per_page = page;
        const auto ids = exchange_ids(rows, seed);
        std::vector<std::array<std::string, 4>> lines;
        for (std::size_t i = 0; i < rows; ++i) {
            // Every seventh reason is free text spanning two lines, so rows and lines differ.
            lines.push_back(
                {ids[i],
                 i % 3 == 0 ? "rejected" : "accepted",
                 "DSS/" + std::to_string(i),
                 i % 7 == 0 ? "\"free\r\ntext\"" : "code_" + std::to_string(i)}
            );
        }
        const std::string name = "ack-big-" + std::to_string(seed) + ".csv";
        dir.write("inbox/" + name, ack_file(lines));

        std::vector<std::string> seen;
        std::vector<int> seen_lines;
        std::optional<std::string> cursor;
        std::size_t pages = 0;
        auto a = make(s);
        while (true) {
            auto p = run(a->pull("acknowledgements", cursor));
            ASSERT_TRUE(p) << p.error().describe();
            ++pages;
            EXPECT_LE(p->records.size(), page);
            for (const auto& r : p->records) {
                seen.push_back(r.remote_id);
                seen_lines.push_back(r.body["line"].GetInt());
            }
            cursor = p->next_cursor;
            if (pages == 2) {
                // A restart part-way: a new adapter carries on from the stored cursor.
                EXPECT_EQ(cursor->rfind("v2:", 0), 0u) << *cursor;
                a = make(s);
            }
            if (!p->has_more) {
                EXPECT_EQ(cursor->rfind("v1:", 0), 0u) << *cursor;
                break;
            }
            ASSERT_LT(pages, rows + 2) << "the pages never end";
        }
        EXPECT_EQ(seen, ids) << "seed " << seed;
        EXPECT_EQ(pages, (rows + page - 1) / page);
        // The line of each row counts the lines of the free-text reasons before it.
        int line = 2;
        for (std::size_t i = 0; i < rows; ++i) {
            EXPECT_EQ(seen_lines[i], line) << i;
            line += i % 7 == 0 ? 2 : 1;
        }
        // The next pull moves the file, returned whole, to processed/.
        auto done = run(a->pull("acknowledgements", cursor));
        ASSERT_TRUE(done);
        EXPECT_TRUE(done->records.empty());
        EXPECT_TRUE(fs::exists(inbox() / "processed" / name));
    }
}

TEST_F(dss_files_adapter_test, a_fault_after_the_first_page_refuses_the_file_before_any_page) {
    auto s = make_settings();
    s.max_rows_per_page = 5;
    auto a = make(s);
    auto ids = exchange_ids(60, 7);
    ids[47] = ids[12];  // the same exchange id twice, far past the first page
    std::vector<std::array<std::string, 4>> lines;
    for (const auto& id : ids) {
        lines.push_back({id, "accepted", "", ""});
    }
    dir.write("inbox/ack-dup.csv", ack_file(lines));
    dir.write(
        "inbox/ack-late.csv",
        ack_file({{ids[0], "accepted", "DSS/1", "x"}, {ids[1], "maybe", "", ""}})
    );
    auto r = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::bad_payload));
    EXPECT_EQ(
        r.error().detail.rfind(
            "ack-dup.csv:49:1: column exchange_id: exchange id " + ids[12] +
                " is acknowledged twice",
            0
        ),
        0u
    ) << r.error().detail;
    EXPECT_TRUE(fs::exists(inbox() / "rejected/ack-dup.csv"));
    r = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().detail.rfind("ack-late.csv:3:38: column status", 0), 0u)
        << r.error().detail;
}

TEST_F(dss_files_adapter_test, a_file_replaced_part_way_is_read_again_from_its_start) {
    auto s = make_settings();
    s.max_rows_per_page = 4;
    auto a = make(s);
    const auto first = exchange_ids(10, 11);
    const auto second = exchange_ids(6, 12);
    std::vector<std::array<std::string, 4>> lines;
    for (const auto& id : first) {
        lines.push_back({id, "accepted", "", ""});
    }
    dir.write("inbox/ack-1.csv", ack_file(lines));
    auto p1 = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_TRUE(p1);
    ASSERT_EQ(p1->records.size(), 4u);
    lines.clear();
    for (const auto& id : second) {
        lines.push_back({id, "rejected", "", ""});
    }
    fs::remove(inbox() / "ack-1.csv");
    dir.write("inbox/ack-1.csv", ack_file(lines));
    auto p2 = run(a->pull("acknowledgements", p1->next_cursor));
    ASSERT_TRUE(p2) << p2.error().describe();
    ASSERT_EQ(p2->records.size(), 4u);
    EXPECT_EQ(p2->records[0].remote_id, second[0]);
    EXPECT_NE(sink.text().find("dss.file_changed"), std::string::npos);
}

TEST_F(dss_files_adapter_test, acknowledgements_reach_the_engine_typed) {
    auto cfg = make_settings();
    cfg.ack_reason_codes = {"format_error", "duplicate"};
    auto a = make(cfg);
    const auto ida = push_ok(*a, event("f/s/a", "v1", event_row("a", "A", "r")));
    ASSERT_TRUE(run(a->flush()));
    const std::string stranger = "0b5e8c1a-1111-4a2b-9c3d-00000000beef";
    dir.write(
        "inbox/ack-1.csv",
        ack_file(
            {{ida, "accepted", "DSS/CXB/7", ""},
             {stranger, "rejected", "", "\"the guardian, who said no\""},
             {exchange_ids(1, 5)[0], "error", "", "format_error"},
             // Code-like, but not a code the configuration lists: a date, a surname.
             {exchange_ids(3, 5)[1], "rejected", "", "2015-03-02"},
             {exchange_ids(3, 5)[2], "rejected", "", "Begum"}}
        )
    );
    auto p = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_TRUE(p) << p.error().describe();
    ASSERT_EQ(p->records.size(), 5u);
    const auto first = a->acknowledgement_of(p->records[0]);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->exchange_id, ida);
    EXPECT_EQ(first->status, acknowledgement::verdict::accepted);
    EXPECT_EQ(first->reference, "DSS/CXB/7");
    EXPECT_TRUE(first->known);
    const auto second = a->acknowledgement_of(p->records[1]);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, acknowledgement::verdict::rejected);
    EXPECT_TRUE(second->free_text_reason);
    EXPECT_EQ(second->reason_code, "");  // the text itself is never passed on
    EXPECT_FALSE(second->known);
    const auto third = a->acknowledgement_of(p->records[2]);
    ASSERT_TRUE(third);
    EXPECT_EQ(third->status, acknowledgement::verdict::error);
    EXPECT_EQ(third->reason_code, "format_error");
    EXPECT_FALSE(third->free_text_reason);
    for (std::size_t i : {3U, 4U}) {
        const auto unlisted = a->acknowledgement_of(p->records[i]);
        ASSERT_TRUE(unlisted);
        EXPECT_TRUE(unlisted->free_text_reason) << i;
        EXPECT_EQ(unlisted->reason_code, "") << i;
        EXPECT_EQ(
            json::canonical(p->records[i].body).find(i == 3 ? "2015" : "Begum"), std::string::npos
        );
    }
    // A record that is not an acknowledgement is not read as one.
    auto other = event("f/s/a", "v1", event_row("a", "A", "r"));
    EXPECT_FALSE(a->acknowledgement_of(other));
}

TEST_F(dss_files_adapter_test, an_acknowledgement_for_an_unknown_exchange_id_is_flagged) {
    auto s = make_settings();
    auto a = make(s);
    const auto sent_id = push_ok(*a, event("f/s/a", "v1", event_row("a", "A", "r")));
    ASSERT_TRUE(run(a->flush()));
    const std::string stranger = "6b1e4c9a-2f7d-4e3b-9a8c-5d0f1e2a3b4c";
    dir.write(
        "inbox/ack-1.csv",
        ack_file({{sent_id, "accepted", "DSS/1", ""}, {stranger, "error", "", ""}})
    );
    for (int restart = 0; restart < 2; ++restart) {
        auto reader = restart == 0 ? std::move(a) : make(s);  // the register is read from disk
        auto page = run(reader->pull("acknowledgements", std::nullopt));
        ASSERT_TRUE(page) << page.error().describe();
        ASSERT_EQ(page->records.size(), 2u);
        EXPECT_TRUE(page->records[0].body["known_exchange_id"].GetBool());
        EXPECT_EQ(page->records[1].remote_id, stranger);
        EXPECT_FALSE(page->records[1].body["known_exchange_id"].GetBool());
    }
    EXPECT_NE(sink.text().find("dss.unknown_acknowledgements"), std::string::npos);
}

// --- cases from DSS -----------------------------------------------------------------------

const std::string case_header =
    "dss_reference,updated_at,child_name,sex,date_of_birth,consent_for_services,"
    "consent_sharing,event_id,event_type,event_time,service_code,referral_reason,"
    "referring_agency\r\n";

std::string case_line(
    const std::string& ref,
    const std::string& updated,
    const std::string& name,
    const std::string& reason = "Tracing requested"
) {
    exchange::csv_writer w;
    w.row(
        {ref,
         updated,
         name,
         "M",
         "15/09/2012",
         "yes",
         "authorities",
         "DSS-1098-" + ref,
         "referral",
         "2024-06-03 10:05",
         "DSS-FTR",
         reason,
         "dss-ukhia"}
    );
    return w.text().substr(3);  // without the BOM
}

TEST_F(dss_files_adapter_test, case_rows_become_records_that_map_to_canonical_cases) {
    auto a = make(make_settings());
    dir.write(
        "inbox/case-20240603-ukhia.csv",
        "\xEF\xBB\xBF" + case_header +
            case_line(
                "DSS-CXB-2024-001207",
                "2024-06-03 11:20:00",
                "মোঃ আরিফ হোসেন",
                std::string(awkward_reason)
            ) +
            case_line("DSS-CXB-2024-001208", "2024-06-03T07:00:00Z", "Nur Begum")
    );
    dir.write("inbox/ack-1.csv", ack_file({}));
    auto page = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(page) << page.error().describe();
    ASSERT_EQ(page->records.size(), 2u);
    EXPECT_FALSE(page->has_more);  // the acknowledgement file is another stream's
    const auto& r0 = page->records[0];
    EXPECT_EQ(r0.stream, "cases");
    EXPECT_EQ(r0.remote_id, "DSS-CXB-2024-001207");
    EXPECT_EQ(r0.updated_at, "2024-06-03T05:20:00Z");  // Bangladesh time, UTC+06:00
    EXPECT_EQ(page->records[1].updated_at, "2024-06-03T07:00:00Z");
    EXPECT_EQ(std::string(r0.body["child_name"].GetString()), "মোঃ আরিফ হোসেন");
    EXPECT_EQ(std::string(r0.body["referral_reason"].GetString()), awkward_reason);

    mapping::map_context mctx;
    mctx.now = clock.now();
    const auto& m = mapping_named("dss.case");
    for (const auto& rec : page->records) {
        auto c = m.map_in(rec.body, mctx);
        ASSERT_TRUE(c) << c.error().to_json();
        EXPECT_EQ(std::string((*c)["dss_id"].GetString()), rec.remote_id);
        EXPECT_EQ(std::string((*c)["sex"].GetString()), "male");
        EXPECT_EQ(std::string((*c)["date_of_birth"].GetString()), "2012-09-15");
        EXPECT_TRUE((*c)["consent_for_services"].GetBool());
        const auto& svc = (*c)["services_section"][0];
        EXPECT_EQ(std::string(svc["service_type"].GetString()), "family_tracing_and_reunification");
        EXPECT_EQ(
            std::string(svc["service_response_day_time"].GetString()), "2024-06-03T04:05:00.000Z"
        );
        EXPECT_FALSE(c->HasMember("case_id"));
    }
    auto c0 = m.map_in(r0.body, mctx);
    EXPECT_EQ(std::string((*c0)["name_first"].GetString()), "মোঃ");
    EXPECT_EQ(std::string((*c0)["name_last"].GetString()), "হোসেন");

    // The acknowledgement stream does not see case files.
    auto acks = run(a->pull("acknowledgements", std::nullopt));
    ASSERT_TRUE(acks);
    EXPECT_TRUE(acks->records.empty());
    EXPECT_EQ(acks->next_cursor.rfind("v1:ack-1.csv:", 0), 0u) << acks->next_cursor;
}

TEST_F(dss_files_adapter_test, a_case_file_without_updated_at_uses_the_file_time) {
    auto a = make(make_settings());
    const auto path = dir.write(
        "inbox/case-2.csv",
        "dss_reference,child_name\r\nDSS-1,Rina Akter\r\nDSS-2,\"Akter, Rina\"\r\n"
    );
    const auto when = std::chrono::time_point_cast<fs::file_time_type::duration>(
        std::chrono::file_clock::from_sys(std::chrono::time_point_cast<std::chrono::seconds>(
            std::chrono::sys_days(std::chrono::year(2024) / 7 / 1) + 8h + 15min
        ))
    );
    fs::last_write_time(path, when);
    auto page = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(page) << page.error().describe();
    ASSERT_EQ(page->records.size(), 2u);
    EXPECT_EQ(page->records[0].updated_at, "2024-07-01T08:15:00Z");
    EXPECT_EQ(page->records[1].updated_at, "2024-07-01T08:15:00Z");
    EXPECT_EQ(std::string(page->records[1].body["child_name"].GetString()), "Akter, Rina");
    EXPECT_FALSE(page->records[1].body.HasMember("sex"));  // absent columns stay absent
}

TEST_F(dss_files_adapter_test, bad_case_files_are_quarantined_with_line_and_column) {
    auto a = make(make_settings());
    dir.write("inbox/case-1.csv", "dss_reference,child_name,address\r\nDSS-1,Rina,Ukhia\r\n");
    dir.write("inbox/case-2.csv", "dss_reference,child_name\r\nDSS-1,Rina\r\nDSS-1,Rina Akter\r\n");
    dir.write(
        "inbox/case-3.csv", "child_name,dss_reference,updated_at\r\nRina,DSS-3,03/06/2024\r\n"
    );
    dir.write("inbox/case-4.csv", "child_name,dss_reference\r\nRina,DSS 4\r\n");
    dir.write("inbox/case-5.csv", "child_name,sex\r\nRina,F\r\n");
    dir.write("inbox/case-6.csv", "dss_reference,child_name\r\nDSS-6,Rina\r\n");
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"case-1.csv", "case-1.csv:1:26: header column 3 is not in the DSS case data dictionary"},
        {"case-2.csv", "case-2.csv:3:1: column dss_reference: the same reference is on line 2"},
        {"case-3.csv", "case-3.csv:2:12: column updated_at: not a date and time"},
        {"case-4.csv", "case-4.csv:2:6: column dss_reference: a DSS reference is"},
        {"case-5.csv", "case-5.csv:1:1: the header needs the column dss_reference"},
    };
    for (const auto& [file, reason] : expected) {
        auto r = run(a->pull("cases", std::nullopt));
        ASSERT_FALSE(r) << file;
        EXPECT_EQ(r.error().code, make_error_code(errc::bad_payload));
        EXPECT_EQ(r.error().record_id, file);
        EXPECT_EQ(r.error().detail.rfind(reason, 0), 0u) << r.error().detail;
        EXPECT_EQ(r.error().detail.find("Rina"), std::string::npos);
        EXPECT_EQ(r.error().detail.find("Ukhia"), std::string::npos);
        EXPECT_TRUE(fs::exists(inbox() / "rejected" / file));
        EXPECT_EQ(slurp(inbox() / "rejected" / (file + ".reason.txt")).rfind(reason, 0), 0u);
    }
    auto ok = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(ok) << ok.error().describe();
    ASSERT_EQ(ok->records.size(), 1u);
    EXPECT_EQ(ok->records[0].remote_id, "DSS-6");
}

TEST_F(dss_files_adapter_test, a_file_over_the_size_limit_is_refused_whole) {
    auto s = make_settings();
    s.max_file_bytes = 1024;
    auto a = make(s);
    std::string big = "dss_reference,child_name\r\n";
    for (int i = 0; big.size() <= 1024; ++i) {
        big += "DSS-" + std::to_string(i) + ",Rina\r\n";
    }
    dir.write("inbox/case-big.csv", big);
    auto r = run(a->pull("cases", std::nullopt));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::bad_payload));
    EXPECT_EQ(r.error().detail, "case-big.csv:1:1: the file is larger than max_file_bytes");
    EXPECT_EQ(slurp(inbox() / "rejected/case-big.csv"), big);
}

TEST_F(dss_files_adapter_test, fetch_reads_a_case_again_from_the_inbox_or_processed) {
    auto a = make(make_settings());
    dir.write(
        "inbox/case-001.csv", case_header + case_line("DSS-9", "2024-06-03 10:00", "Old Name")
    );
    auto p1 = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(p1);
    dir.write(
        "inbox/case-002.csv", case_header + case_line("DSS-9", "2024-06-03 12:00", "New Name")
    );
    auto p2 = run(a->pull("cases", p1->next_cursor));
    ASSERT_TRUE(p2);
    EXPECT_TRUE(fs::exists(inbox() / "processed/case-001.csv"));

    auto f = run(a->fetch("cases", "DSS-9"));
    ASSERT_TRUE(f) << f.error().describe();
    EXPECT_EQ(std::string(f->body["child_name"].GetString()), "New Name");
    EXPECT_EQ(f->updated_at, "2024-06-03T06:00:00Z");

    ASSERT_TRUE(run(a->pull("cases", p2->next_cursor)));
    EXPECT_TRUE(fs::exists(inbox() / "processed/case-002.csv"));
    f = run(a->fetch("cases", "DSS-9"));
    ASSERT_TRUE(f);
    EXPECT_EQ(std::string(f->body["child_name"].GetString()), "New Name");

    auto missing = run(a->fetch("cases", "DSS-404"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, make_error_code(errc::not_found));
    EXPECT_EQ(missing.error().record_id, "DSS-404");
    auto events = run(a->fetch("events", "0b5e8c1a-1111-4a2b-9c3d-000000000001"));
    ASSERT_FALSE(events);
    EXPECT_EQ(events.error().code, make_error_code(errc::not_found));

    const std::string ack_id = "0b5e8c1a-1111-4a2b-9c3d-000000000001";
    dir.write("inbox/ack-1.csv", ack_file({{ack_id, "accepted", "DSS/1", ""}}));
    auto ack = run(a->fetch("acknowledgements", ack_id));
    ASSERT_TRUE(ack) << ack.error().describe();
    EXPECT_EQ(std::string(ack->body["status"].GetString()), "accepted");
}

TEST_F(dss_files_adapter_test, lookup_finds_the_last_exchange_id_written_for_a_source) {
    auto s = make_settings();
    auto a = make(s);
    const std::string key = "flow/cpims/c-7";
    push_ok(*a, event(key, "v1", event_row("c", "A", "r")));
    // Pending rows are not written yet: nothing to find.
    auto none = run(a->lookup("events", key));
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(run(a->flush()));
    clock.advance(1min);
    const auto second = push_ok(*a, event(key, "v2", event_row("c", "A", "r")));
    ASSERT_TRUE(run(a->flush()));
    auto found = run(a->lookup("events", key));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->value_or(""), second);
    auto fresh = make(s);
    found = run(fresh->lookup("events", key));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->value_or(""), second);
    EXPECT_FALSE(run(fresh->lookup("events", "flow/cpims/other"))->has_value());
    EXPECT_FALSE(run(fresh->lookup("cases", key)));
    // The register holds exchange ids and hashes of source keys, nothing else.
    for (const auto& n : names_in(sent())) {
        EXPECT_EQ(slurp(sent() / n).find(key), std::string::npos);
    }
}

TEST_F(dss_files_adapter_test, probe_checks_the_folders_and_the_passphrase_file) {
    auto s = make_settings();
    auto a = make(s);
    const auto ok = run(a->probe());
    EXPECT_TRUE(ok) << ok.error().describe();
    ::chmod(s.passphrase_file.c_str(), 0644);
    auto r = run(a->probe());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
    ::chmod(s.passphrase_file.c_str(), 0600);
    dir.write("passphrase", "");
    EXPECT_FALSE(run(a->probe()));
    dir.write("passphrase", std::string(passphrase) + "\n");
    EXPECT_TRUE(run(a->probe()));
    fs::remove_all(inbox());
    r = run(a->probe());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::remote_unavailable));
    EXPECT_NE(r.error().detail.find("inbox"), std::string::npos);
}

TEST_F(dss_files_adapter_test, foreign_streams_and_cursors_are_refused) {
    auto a = make(make_settings());
    auto r = run(a->pull("events", std::nullopt));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::not_found));
    for (const std::string c :
         {"v1:ack-1.csv:0123456789abcdef",
          "garbage",
          "v1:case-1.csv",
          "v1:case-1.txt:0123456789abcdef",
          "v1:case-1.csv:0123456789ABCDEF",
          "v1:case/../x.csv:0123456789abcdef"}) {
        auto p = run(a->pull("cases", c));
        ASSERT_FALSE(p) << c;
        EXPECT_EQ(p.error().code, make_error_code(errc::invalid_config)) << c;
    }
    // An empty cursor is a first pull; with nothing to read the cursor is still usable text.
    auto empty = run(a->pull("cases", std::string{}));
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->next_cursor, "v1:");
    EXPECT_TRUE(store::is_cursor_text(empty->next_cursor));
    EXPECT_TRUE(run(a->pull("cases", empty->next_cursor)));
}

TEST_F(dss_files_adapter_test, cursors_are_printable_text_whatever_the_file_name) {
    auto a = make(make_settings());
    const std::string name = "case-কক্সবাজার 100%.csv";
    dir.write("inbox/" + name, "dss_reference\r\nDSS-1\r\n");
    auto p1 = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(p1) << p1.error().describe();
    ASSERT_EQ(p1->records.size(), 1u);
    EXPECT_TRUE(store::is_cursor_text(p1->next_cursor)) << p1->next_cursor;
    EXPECT_EQ(p1->next_cursor.rfind("v1:case-%E0%A6%95", 0), 0u) << p1->next_cursor;
    ASSERT_TRUE(run(a->pull("cases", p1->next_cursor)));
    EXPECT_TRUE(fs::exists(inbox() / "processed" / name));
}

TEST_F(dss_files_adapter_test, logs_hold_no_case_values_and_no_secret) {
    auto a = make(make_settings());
    push_ok(*a, event("f/s/1", "v1", event_row("c", bengali_name, awkward_reason)));
    ASSERT_TRUE(run(a->flush()));
    dir.write(
        "inbox/case-1.csv",
        case_header +
            case_line("DSS-CXB-77", "2024-06-03 10:00", "Sentinel Karim", "Sentinel reason")
    );
    dir.write("inbox/case-2.csv", "dss_reference,address\r\nDSS-CXB-78,Sentinel Road\r\n");
    const auto first = run(a->pull("cases", std::nullopt));
    ASSERT_TRUE(first);
    const auto rejected = run(a->pull("cases", first->next_cursor));
    ASSERT_FALSE(rejected);
    const std::string logs = sink.text();
    EXPECT_NE(logs.find("dss.batch_written"), std::string::npos);
    EXPECT_NE(logs.find("dss.file_rejected"), std::string::npos);
    for (const std::string_view sentinel :
         {bengali_name,
          std::string_view("needs shelter"),
          std::string_view("Sentinel"),
          passphrase,
          std::string_view("DSS-CXB-7")}) {
        EXPECT_EQ(logs.find(sentinel), std::string::npos) << sentinel;
    }
}

// --- configuration ------------------------------------------------------------------------

TEST(dss_files_settings, the_example_configuration_block_is_valid) {
    const auto file = json::load_file(source_dir / "config/casebridge.example.jsonc");
    const auto& block = file.doc["systems"]["dss"]["settings"];
    const json::schema schema(config_schema(), "dss_files");
    const auto v = schema.validate(block);
    EXPECT_FALSE(v.has_value()) << v->pointer << ": " << v->message;
    const auto s = settings_from_json(block);
    EXPECT_EQ(s.sender, "cpss-cxb");
    EXPECT_EQ(s.max_rows_per_batch, 1000u);

    adapter_registry registry;
    register_builtin_adapters(registry);
    ASSERT_NE(registry.find("dss_files"), nullptr);

    const auto bad = [&](const char* text) {
        auto doc = json::parse(text);
        return schema.validate(*doc).has_value();
    };
    EXPECT_TRUE(
        bad(R"({"outbox_dir":"o","inbox_dir":"i","sent_register_dir":"s","passphrase_file":"p"})")
    );
    EXPECT_TRUE(bad(
        R"({"outbox_dir":"o","inbox_dir":"i","sent_register_dir":"s","passphrase_file":"p","sender":"../x"})"
    ));
    EXPECT_TRUE(bad(
        R"({"outbox_dir":"o","inbox_dir":"i","sent_register_dir":"s","passphrase_file":"p","sender":"x",)"
        R"("passphrase":"inline"})"
    ));
    EXPECT_TRUE(bad(
        R"({"outbox_dir":"o","inbox_dir":"i","sent_register_dir":"s","passphrase_file":"p","sender":"x",)"
        R"("max_rows_per_batch":0})"
    ));
    auto same = json::parse(
        R"({"outbox_dir":"d/x","inbox_dir":"d/./x","sent_register_dir":"s","passphrase_file":"p","sender":"x"})"
    );
    EXPECT_FALSE(schema.validate(*same).has_value());
    EXPECT_THROW(settings_from_json(*same), std::invalid_argument);
}

// --- data dictionaries --------------------------------------------------------------------

struct mapping_columns {
    std::vector<std::string> columns;                    // in rule order
    std::map<std::string, std::set<std::string>> codes;  // column → codes it accepts
};

std::set<std::string> table_codes(const rapidjson::Value& table, const fs::path& mapping_file) {
    std::set<std::string> out;
    if (table.HasMember("file")) {
        const auto tables = json::load_file(mapping_file.parent_path() / table["file"].GetString());
        const auto& t = tables.doc["tables"][table["table"].GetString()];
        for (const auto& m : t["map"].GetObject()) {
            out.insert(m.name.GetString());
        }
        return out;
    }
    for (const auto& m : table["map"].GetObject()) {
        out.insert(m.name.GetString());
    }
    return out;
}

// The system-side columns a mapping reads or writes in `direction`, with the codes its value
// tables, boolean transforms and closed canonical code lists accept.
mapping_columns columns_of(const std::string& id, const std::string& direction) {
    const auto path = source_dir / "mappings" / (id + ".json");
    const auto file = json::load_file(path);
    const auto& doc = file.doc;
    mapping_columns out;
    const auto visit = [&](const auto& self, const rapidjson::Value& rules) -> void {
        for (const auto& rule : rules.GetArray()) {
            if (rule.HasMember("direction") && rule["direction"].GetString() != direction) {
                continue;
            }
            if (rule.HasMember("rows")) {
                self(self, rule["rows"]);
                continue;
            }
            std::vector<std::string> names;
            if (rule.HasMember("same")) {
                for (const auto& n : rule["same"].GetArray()) {
                    names.emplace_back(n.GetString());
                }
            } else if (rule["system"].IsString()) {
                names.emplace_back(std::string(rule["system"].GetString()).substr(1));
            } else {
                for (const auto& p : rule["system"].GetArray()) {
                    names.emplace_back(std::string(p.GetString()).substr(1));
                }
            }
            for (const auto& n : names) {
                out.columns.push_back(n);
                if (rule.HasMember("table")) {
                    out.codes[n] = table_codes(doc["tables"][rule["table"].GetString()], path);
                }
                if (rule.HasMember("transform") && rule["transform"].IsObject()) {
                    const auto& t = rule["transform"];
                    if (std::string(t["name"].GetString()) == "to_boolean") {
                        for (const char* k : {"true", "false"}) {
                            for (const auto& v : t[k].GetArray()) {
                                out.codes[n].insert(v.GetString());
                            }
                        }
                    }
                    if (std::string(t["name"].GetString()) == "list_split" &&
                        rule["canonical"].IsString()) {
                        const auto* f = catalogue().resolve(rule["canonical"].GetString());
                        if (f != nullptr && !f->values.empty() && !f->open_values) {
                            out.codes[n] = {f->values.begin(), f->values.end()};
                        }
                    }
                }
            }
        }
    };
    visit(visit, doc["rules"]);
    return out;
}

void expect_dictionary_matches(
    const data_dictionary& dict,
    const std::string& mapping,
    const std::string& direction,
    const std::vector<std::string>& adapter_columns,
    bool ordered
) {
    const auto m = columns_of(mapping, direction);
    std::vector<std::string> expected = adapter_columns;
    for (const auto& c : m.columns) {
        if (std::find(expected.begin(), expected.end(), c) == expected.end()) {
            expected.push_back(c);
        }
    }
    // Every column of the mapping has a dictionary row and every row a column. Outbound, the
    // dictionary's order is the file's: the adapter's columns, then the mapping's rule order.
    if (ordered) {
        EXPECT_EQ(dict.columns(), expected) << mapping;
    } else {
        const auto have = dict.columns();
        EXPECT_EQ(
            std::multiset<std::string>(have.begin(), have.end()),
            std::multiset<std::string>(expected.begin(), expected.end())
        ) << mapping;
    }
    for (const auto& [column, codes] : m.codes) {
        const auto* e = dict.find(column);
        ASSERT_NE(e, nullptr) << column;
        EXPECT_EQ(std::set<std::string>(e->codes.begin(), e->codes.end()), codes)
            << mapping << ": codes of column " << column;
    }
    for (const auto& e : dict.entries) {
        if (!e.codes.empty()) {
            EXPECT_TRUE(m.codes.count(e.column) == 1)
                << mapping << ": the dictionary lists codes for " << e.column
                << " but the mapping does not check them";
        }
    }
}

TEST(dss_dictionary, the_event_dictionary_describes_exactly_the_event_mapping) {
    expect_dictionary_matches(
        event_dictionary(), "dss.event", "out", {"exchange_id", "withdraws_exchange_id"}, true
    );
    expect_dictionary_matches(
        event_dictionary(), "dss.event", "in", {"exchange_id", "withdraws_exchange_id"}, true
    );
}

TEST(dss_dictionary, the_case_dictionary_describes_exactly_the_case_mapping) {
    expect_dictionary_matches(case_dictionary(), "dss.case", "in", {"updated_at"}, false);
    // The adapter reads the DSS reference as the record id: the mapping's record id.
    const auto file = json::load_file(source_dir / "mappings/dss.case.json");
    EXPECT_EQ(std::string(file.doc["record_id"]["system"].GetString()), "/dss_reference");
}

TEST(dss_dictionary, the_sources_are_the_files_in_mappings) {
    EXPECT_EQ(
        event_dictionary_text(),
        *json::read_file(source_dir / "mappings/dictionaries/dss.event.csv")
    );
    EXPECT_EQ(
        case_dictionary_text(), *json::read_file(source_dir / "mappings/dictionaries/dss.case.csv")
    );
}

TEST(dss_dictionary, the_shipped_text_is_utf8_with_bom_crlf_and_round_trips) {
    const std::string text = event_dictionary().to_csv();
    EXPECT_EQ(
        text.rfind(
            "\xEF\xBB\xBF"
            "column,label_en,label_bn,type,format,codes\r\n",
            0
        ),
        0u
    );
    EXPECT_EQ(text.find("\r\r"), std::string::npos);
    std::size_t lf = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++lf;
            EXPECT_EQ(text[i - 1], '\r') << "bare LF at byte " << i;
        }
    }
    EXPECT_EQ(lf, event_dictionary().entries.size() + 1);
    const auto again = parse_dictionary(text, "shipped");
    ASSERT_TRUE(again) << again.error();
    ASSERT_EQ(again->entries.size(), event_dictionary().entries.size());
    for (std::size_t i = 0; i < again->entries.size(); ++i) {
        EXPECT_EQ(again->entries[i].label_bn, event_dictionary().entries[i].label_bn);
        EXPECT_EQ(again->entries[i].code_labels, event_dictionary().entries[i].code_labels);
    }
    const auto* sex = event_dictionary().find("sex");
    ASSERT_NE(sex, nullptr);
    EXPECT_EQ(sex->label_bn, "লিঙ্গ");
    EXPECT_EQ(sex->codes, (std::vector<std::string>{"M", "F", "T", "U"}));
}

TEST(dss_dictionary, bad_dictionaries_are_refused_with_their_place) {
    const std::string head = "column,label_en,label_bn,type,format,codes\n";
    const auto error_of = [](const std::string& text) {
        auto d = parse_dictionary(text, "d.csv");
        return d ? std::string("ok") : d.error();
    };
    EXPECT_EQ(error_of(head + "sex,Sex,লিঙ্গ,code,,M = Male / পুরুষ\n"), "ok");
    EXPECT_EQ(
        error_of(head + "sex,Sex,Sex,code,,\n"),
        "d.csv:2:9: column sex: the Bengali label must be in Bengali script"
    );
    EXPECT_EQ(
        error_of(head + "sex,Sex,লিঙ্গ,code,,\nsex,Sex,লিঙ্গ,code,,\n"),
        "d.csv:3:1: column sex is described twice"
    );
    EXPECT_EQ(error_of(head + "Sex,Sex,লিঙ্গ,code,,\n").rfind("d.csv:2:1:", 0), 0u);
    EXPECT_EQ(error_of(head + "sex,Sex,লিঙ্গ,colour,,\n"), "d.csv:2:15: column sex: unknown type");
    EXPECT_NE(
        error_of(head + "sex,Sex,লিঙ্গ,code,,M = Male\n").find("codes are written"),
        std::string::npos
    );
    EXPECT_NE(error_of(head + "sex,,লিঙ্গ,code,,\n").find("no English label"), std::string::npos);
    EXPECT_EQ(error_of("column,label\n").rfind("d.csv:1:1: the header must be", 0), 0u);
}

}  // namespace
}  // namespace casebridge::dss_files
