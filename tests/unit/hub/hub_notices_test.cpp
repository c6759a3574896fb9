// The hub's notices in its store: made inside the linkage transaction from the difference
// between what was last notified per record and the new clusters; numbered per agency without
// gaps; retractions for splits and withdrawals (the withdrawn record's own agency included);
// one `notice` log entry each, the log verifies, and no name, date or id reaches the file.
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hub/hub_service.hpp"
#include "hub/hub_store.hpp"
#include "linkage/encoder.hpp"
#include "store/query.hpp"
#include "store/sqlite.hpp"
#include "store/transfer_log.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::hub {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path schema_file =
    std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" / "linkage-schema.json";

struct person {
    const char* first;
    const char* last;
    const char* dob;
    const char* unhcr_no;
};

// Synthetic children (made up here); the test looks for these values in the store file.
const person rahima{"Rahima", "Begum", "2012-03-04", "803-00012345"};
const person karim{"Karim", "Uddin", "2010-07-08", "803-00067890"};
const person nur{"Nurjahan", "Hossain", "2015-01-21", "803-00024680"};

class hub_notices : public ::testing::Test {
protected:
    test::temp_dir dir;
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    linkage::linkage_schema schema = linkage::linkage_schema::load(schema_file);
    linkage::encoder enc{schema, "a linkage secret the hub never has"};
    std::optional<hub_store> store;

    void SetUp() override {
        auto s = hub_store::open(dir / "hub.sqlite", clock);
        ASSERT_TRUE(s) << s.error().message();
        store.emplace(std::move(*s));
    }

    incoming_record encoded(const std::string& pseudonym, const person& p) {
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("name_first", rapidjson::StringRef(p.first), a);
        d.AddMember("name_last", rapidjson::StringRef(p.last), a);
        d.AddMember("date_of_birth", rapidjson::StringRef(p.dob), a);
        d.AddMember("sex", "female", a);
        d.AddMember("unhcr_individual_no", rapidjson::StringRef(p.unhcr_no), a);
        const auto e = enc.encode(d);
        return incoming_record{pseudonym, e.filter, e.tokens, {{"sex", "female"}}};
    }

    void send(const std::string& agency, std::vector<incoming_record> records) {
        auto r = store->upsert(agency, schema.version, records);
        ASSERT_TRUE(r) << r.error().message();
    }

    linkage_summary link() {
        clock.advance(1min);
        auto r = relink(*store, schema);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : linkage_summary{};
    }

    std::vector<hub_notice> notices_of(const std::string& agency, std::int64_t after = 0) {
        auto page = store->notices(agency, after, 1000);
        EXPECT_TRUE(page) << page.error().message();
        EXPECT_FALSE(page->has_more);
        return page->notices;
    }

    std::int64_t count(const std::string& sql) {
        auto n = store::query_int(store->database(), sql, -1);
        EXPECT_TRUE(n) << sql;
        return n ? *n : -1;
    }
};

using agencies = std::vector<std::string>;

void expect_notice(
    const hub_notice& n,
    std::int64_t id,
    notice_kind kind,
    const std::string& pseudonym,
    const agencies& others
) {
    EXPECT_EQ(n.id, id);
    EXPECT_EQ(n.kind, kind) << "notice " << id;
    EXPECT_EQ(n.pseudonym, pseudonym) << "notice " << id;
    EXPECT_EQ(n.other_agencies, others) << "notice " << id;
    EXPECT_EQ(n.reference.size(), 17u) << n.reference;
}

TEST_F(hub_notices, a_cross_agency_cluster_gives_each_record_one_notice_and_a_rerun_none) {
    send("agency_a", {encoded("a-1", rahima), encoded("a-2", karim)});
    send("agency_b", {encoded("b-1", rahima), encoded("b-2", nur)});
    const auto first = link();
    EXPECT_EQ(first.multi_agency_clusters, 1);
    EXPECT_EQ(first.notices_issued, 2);
    EXPECT_EQ(first.notices_retracted, 0);

    const auto a = notices_of("agency_a");
    const auto b = notices_of("agency_b");
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    expect_notice(a[0], 1, notice_kind::possible_duplicate, "a-1", {"agency_b"});
    expect_notice(b[0], 1, notice_kind::possible_duplicate, "b-1", {"agency_a"});
    EXPECT_EQ(a[0].reference, b[0].reference) << "one shared reference";
    EXPECT_EQ(a[0].created_at.substr(0, 10), "2026-03-10");
    EXPECT_TRUE(notices_of("agency_c").empty());
    EXPECT_TRUE(notices_of("agency_a", 1).empty());

    // Nothing changed: no notice, however often it runs.
    const auto again = link();
    EXPECT_EQ(again.notices_issued, 0);
    EXPECT_EQ(again.notices_retracted, 0);
    link();
    EXPECT_EQ(notices_of("agency_a").size(), 1u);
    EXPECT_EQ(notices_of("agency_b").size(), 1u);
    EXPECT_EQ(count("SELECT count(*) FROM hub_notice_state"), 2);

    // One log entry per notice, with the counts in the run's summary; the log verifies.
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'notice' AND outcome = "
              "'notice_issued' AND flow = 'hub' AND direction = 'outbound' AND reason = 'linked'"),
        2
    );
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'notice' AND target_system = "
              "'agency_a' AND target_id = 'a-1' AND correlation_key = 'notice/1' AND "
              "source_system = 'cluster' AND counts = '{\"other_agencies\":1}'"),
        1
    );
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'linkage' AND outcome = 'linked' "
              "AND counts LIKE '%\"notices_issued\":2%'"),
        1
    );
    EXPECT_EQ(count("SELECT sum(notices_issued) FROM hub_linkage_runs"), 2);
    auto v = store::verify(store->database(), {});
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(hub_notices, an_agency_joining_leaving_and_withdrawals_notify_every_member) {
    send("agency_a", {encoded("a-1", rahima)});
    send("agency_b", {encoded("b-1", rahima)});
    link();
    const std::string ref = notices_of("agency_a").at(0).reference;

    // A third agency joins: new lists for the two, a first notice for the third.
    send("agency_c", {encoded("c-1", rahima), encoded("c-2", karim)});
    const auto joined = link();
    EXPECT_EQ(joined.notices_issued, 3);
    auto a = notices_of("agency_a");
    auto b = notices_of("agency_b");
    auto c = notices_of("agency_c");
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    ASSERT_EQ(c.size(), 1u);
    expect_notice(a[1], 2, notice_kind::possible_duplicate, "a-1", {"agency_b", "agency_c"});
    expect_notice(b[1], 2, notice_kind::possible_duplicate, "b-1", {"agency_a", "agency_c"});
    expect_notice(c[0], 1, notice_kind::possible_duplicate, "c-1", {"agency_a", "agency_b"});
    for (const auto& n : {a[1], b[1], c[0]}) {
        EXPECT_EQ(n.reference, ref) << "the cluster keeps its reference";
    }
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'notice' AND reason = "
              "'agencies_changed'"),
        2
    );

    // C withdraws: its own agency gets a retraction, the others a list without C.
    auto w = store->withdraw("agency_c", {"c-1"}, withdrawal_reason::consent_withdrawn);
    ASSERT_TRUE(w);
    ASSERT_EQ(w->withdrawn, 1);
    const auto left = link();
    EXPECT_EQ(left.notices_issued, 2);
    EXPECT_EQ(left.notices_retracted, 1);
    c = notices_of("agency_c");
    ASSERT_EQ(c.size(), 2u);
    expect_notice(c[1], 2, notice_kind::retraction, "c-1", {});
    EXPECT_EQ(c[1].reference, ref);
    a = notices_of("agency_a");
    b = notices_of("agency_b");
    ASSERT_EQ(a.size(), 3u);
    ASSERT_EQ(b.size(), 3u);
    expect_notice(a[2], 3, notice_kind::possible_duplicate, "a-1", {"agency_b"});
    expect_notice(b[2], 3, notice_kind::possible_duplicate, "b-1", {"agency_a"});
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'notice' AND outcome = "
              "'notice_retracted' AND reason = 'record_withdrawn' AND target_id = 'c-1'"),
        1
    );
    EXPECT_EQ(count("SELECT count(*) FROM hub_notice_state WHERE agency = 'agency_c'"), 0);

    // B withdraws too: no other agency is left, so every member is retracted.
    ASSERT_TRUE(store->withdraw("agency_b", {"b-1"}, withdrawal_reason::case_closed));
    const auto ended = link();
    EXPECT_EQ(ended.notices_issued, 0);
    EXPECT_EQ(ended.notices_retracted, 2);
    a = notices_of("agency_a");
    b = notices_of("agency_b");
    ASSERT_EQ(a.size(), 4u);
    ASSERT_EQ(b.size(), 4u);
    expect_notice(a[3], 4, notice_kind::retraction, "a-1", {});
    expect_notice(b[3], 4, notice_kind::retraction, "b-1", {});
    EXPECT_EQ(a[3].reference, ref);
    EXPECT_EQ(b[3].reference, ref);
    EXPECT_EQ(count("SELECT count(*) FROM hub_notice_state"), 0);
    EXPECT_EQ(link().notices_retracted, 0) << "a retraction is made once";

    // Ids per agency: 1, 2, 3 ... without gaps; one log entry per notice.
    for (const std::string agency : {"agency_a", "agency_b", "agency_c"}) {
        const auto all = notices_of(agency);
        for (std::size_t i = 0; i < all.size(); ++i) {
            EXPECT_EQ(all[i].id, static_cast<std::int64_t>(i + 1)) << agency;
        }
    }
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log WHERE kind = 'notice'"), 10);
    EXPECT_EQ(count("SELECT count(*) FROM hub_notices"), 10);
    auto v = store::verify(store->database(), {});
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(hub_notices, a_not_same_review_decision_splits_the_cluster_and_retracts) {
    send("agency_a", {encoded("a-1", rahima)});
    send("agency_b", {encoded("b-1", rahima)});
    link();
    const std::string ref = notices_of("agency_a").at(0).reference;
    auto d = store->record_decisions(
        {pair_decision{"agency_a", "a-1", "agency_b", "b-1", false}}, "imo-officer"
    );
    ASSERT_TRUE(d);
    ASSERT_EQ(d->recorded, 1);
    const auto split = link();
    EXPECT_EQ(split.splits, 1);
    EXPECT_EQ(split.notices_retracted, 2);
    EXPECT_EQ(split.notices_issued, 0);
    const auto a = notices_of("agency_a");
    const auto b = notices_of("agency_b");
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    expect_notice(a[1], 2, notice_kind::retraction, "a-1", {});
    expect_notice(b[1], 2, notice_kind::retraction, "b-1", {});
    EXPECT_EQ(a[1].reference, ref) << "the retraction names the reference it retracts";
    EXPECT_EQ(b[1].reference, ref);
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'notice' AND reason = 'link_ended'"),
        2
    );

    // A later decision `same` links them again: a new notice each.
    ASSERT_TRUE(store->record_decisions(
        {pair_decision{"agency_b", "b-1", "agency_a", "a-1", true}}, "imo-officer"
    ));
    const auto merged = link();
    EXPECT_EQ(merged.notices_issued, 2);
    EXPECT_EQ(notices_of("agency_a").at(2).kind, notice_kind::possible_duplicate);
    auto v = store::verify(store->database(), {});
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(hub_notices, paging_by_id_and_limit) {
    send("agency_a", {encoded("a-1", rahima), encoded("a-2", karim), encoded("a-3", nur)});
    send("agency_b", {encoded("b-1", rahima), encoded("b-2", karim), encoded("b-3", nur)});
    link();
    auto first = store->notices("agency_a", 0, 2);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->notices.size(), 2u);
    EXPECT_TRUE(first->has_more);
    auto rest = store->notices("agency_a", first->notices.back().id, 2);
    ASSERT_TRUE(rest);
    ASSERT_EQ(rest->notices.size(), 1u);
    EXPECT_FALSE(rest->has_more);
    EXPECT_EQ(rest->notices[0].id, 3);
    auto none = store->notices("agency_a", 3, 2);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->notices.empty());
    EXPECT_FALSE(none->has_more);
}

TEST_F(hub_notices, no_name_date_or_identifier_reaches_the_store_file) {
    send("agency_a", {encoded("a-1", rahima), encoded("a-2", karim)});
    send("agency_b", {encoded("b-1", rahima), encoded("b-2", karim)});
    link();
    ASSERT_TRUE(store->withdraw("agency_b", {"b-2"}, withdrawal_reason::consent_withdrawn));
    link();
    EXPECT_EQ(count("SELECT count(*) FROM hub_notices"), 6);
    store.reset();  // checkpoints the WAL into the file
    std::string bytes;
    for (const auto* suffix : {"", "-wal", "-journal"}) {
        std::ifstream in(dir / (std::string("hub.sqlite") + suffix), std::ios::binary);
        bytes.append(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_GT(bytes.size(), 4096u);
    for (const auto& p : {rahima, karim}) {
        for (const char* value : {p.first, p.last, p.dob, p.unhcr_no}) {
            EXPECT_EQ(bytes.find(value), std::string::npos) << value << " is in the store file";
        }
    }
}

TEST_F(hub_notices, a_version_2_store_is_migrated_and_keeps_its_records) {
    send("agency_a", {encoded("a-1", rahima)});
    auto& db = store->database();
    ASSERT_TRUE(
        db.exec("DROP TABLE hub_notices; DROP TABLE hub_notice_state; "
                "ALTER TABLE hub_linkage_runs DROP COLUMN notices_issued; "
                "ALTER TABLE hub_linkage_runs DROP COLUMN notices_retracted; "
                "UPDATE meta SET value = '2' WHERE key = 'hub_schema_version';")
    );
    store.reset();
    auto reopened = hub_store::open(dir / "hub.sqlite", clock);
    ASSERT_TRUE(reopened) << reopened.error().message();
    store.emplace(std::move(*reopened));
    EXPECT_EQ(count("SELECT value FROM meta WHERE key = 'hub_schema_version'"), 3);
    EXPECT_EQ(count("SELECT count(*) FROM hub_records WHERE state = 'active'"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM hub_notices"), 0);
    send("agency_b", {encoded("b-1", rahima)});
    EXPECT_EQ(link().notices_issued, 2);
}

}  // namespace
}  // namespace casebridge::hub
