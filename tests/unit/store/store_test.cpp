#include "store/store.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "store/store_thread.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/thread_names.hpp"
#include "support/wal_sync_watch.hpp"
#include "unit/store/test_util.hpp"

namespace casebridge::store {
namespace {

using testing::sample_entry;

time_point t0() {
    return *parse_rfc3339("2025-03-01T08:00:00Z");
}

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

record_id rec(const char* system, const std::string& id) {
    return record_id{*token::make(system), *token::make(id)};
}

TEST(token, accepts_ids_codes_and_field_names_only) {
    EXPECT_TRUE(token::make("3f1c9a0e-8d2b-4c5e-9f00-1a2b3c4d5e6f"));
    EXPECT_TRUE(token::make("services_section[0].service_type"));
    EXPECT_TRUE(token::make("hmac:00ff"));
    EXPECT_FALSE(token::make(""));
    EXPECT_FALSE(token::make("Amina Begum"));  // free text has spaces
    EXPECT_FALSE(token::make("a\"b"));
    EXPECT_FALSE(token::make(std::string(201, 'a')));
    EXPECT_FALSE(token::make("নাম"));
}

TEST(store, links_are_idempotent_and_a_second_target_is_a_conflict) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s) << s.error().message();
    const auto a = rec("primero", "case-1");
    const auto x = rec("progres", "guid-1");
    ASSERT_TRUE(s->link(a, x));
    EXPECT_TRUE(s->link(a, x));  // same pair again: fine
    auto second_target = s->link(a, rec("progres", "guid-2"));
    ASSERT_FALSE(second_target);
    EXPECT_EQ(second_target.error(), errc::multiple_matches);
    auto second_source = s->link(rec("primero", "case-2"), x);
    ASSERT_FALSE(second_source);
    EXPECT_EQ(second_source.error(), errc::multiple_matches);
    // Nothing was overwritten.
    auto l = s->linked(a, token("progres"));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ(**l, x);
    // Another target system is another link.
    EXPECT_TRUE(s->link(a, rec("dss", "ex-1")));
}

TEST(store, personal_identifiers_are_kept_only_as_keyed_hashes) {
    test::temp_dir dir;
    manual_clock clock(t0());
    const auto key_file = dir.write("hmac.key", std::string(32, 'k'));
    auto hasher = keyed_hasher::from_file(key_file);
    ASSERT_TRUE(hasher);
    EXPECT_FALSE(keyed_hasher::from_file(dir.write("short.key", "abc")));
    const std::string individual = "BGD-17-123456";
    const auto p =
        record_id::pseudonymous(token("progres"), token("progres_individual"), individual, *hasher);
    EXPECT_EQ(p.id.str().rfind("hmac:", 0), 0u);
    EXPECT_EQ(p.id.str().find(individual), std::string::npos);
    // Same input, same pseudonym; another kind or key, another one.
    EXPECT_EQ(
        p,
        record_id::pseudonymous(token("progres"), token("progres_individual"), individual, *hasher)
    );
    EXPECT_NE(p, record_id::pseudonymous(token("progres"), token("fcn"), individual, *hasher));
    EXPECT_NE(
        p,
        record_id::pseudonymous(
            token("progres"),
            token("progres_individual"),
            individual,
            keyed_hasher(std::string(32, 'z'))
        )
    );
    {
        auto s = store::open(dir / "s.db", {}, clock);
        ASSERT_TRUE(s);
        ASSERT_TRUE(s->link(rec("primero", "case-1"), p));
        page_commit page;
        auto e = sample_entry(1);
        e.target = p;
        page.entries.push_back(e);
        ASSERT_TRUE(s->commit_page(page));
    }
    for (const char* f : {"s.db", "s.db-wal"}) {
        const auto bytes = file_bytes(dir / f);
        EXPECT_EQ(bytes.find(individual), std::string::npos) << f;
    }
    EXPECT_NE(file_bytes(dir / "s.db").size() + file_bytes(dir / "s.db-wal").size(), 0u);
}

TEST(store, page_commit_moves_cursor_deliveries_and_dead_letters_with_the_log) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    const token flow("primero_to_ping");
    page_commit page;
    page.entries = {sample_entry(1), sample_entry(2)};
    page.cursor_move = {flow, "2025-03-01T07:59:00Z"};
    page.deliveries.push_back(delivery{
        flow,
        rec("primero", "case-1"),
        delivery_state::delivered,
        1,
        token("v7"),
        std::nullopt,
        std::nullopt});
    page.deliveries.push_back(delivery{
        flow,
        rec("primero", "case-2"),
        delivery_state::failed,
        2,
        std::nullopt,
        t0() + std::chrono::minutes(5),
        token("remote_unavailable")});
    page.dead_letters.push_back(dead_letter{
        flow, rec("primero", "case-3"), token("unmapped_value"), {token("sex")}});
    auto last = s->commit_page(page);
    ASSERT_TRUE(last);
    EXPECT_EQ(*last, 2);
    auto c = s->get_cursor(flow);
    ASSERT_TRUE(c && *c);
    EXPECT_EQ((*c)->position, "2025-03-01T07:59:00Z");
    EXPECT_EQ((*c)->log_seq, 2);
    auto d1 = s->get_delivery(flow, rec("primero", "case-1"));
    ASSERT_TRUE(d1 && *d1);
    EXPECT_EQ((*d1)->state, delivery_state::delivered);
    EXPECT_EQ((*d1)->source_version->str(), "v7");
    auto d2 = s->get_delivery(flow, rec("primero", "case-2"));
    ASSERT_TRUE(d2 && *d2);
    EXPECT_EQ((*d2)->attempts, 2);
    EXPECT_EQ((*d2)->reason->str(), "remote_unavailable");
    EXPECT_EQ(*(*d2)->next_retry, t0() + std::chrono::minutes(5));
    auto dl = s->dead_letters(flow);
    ASSERT_TRUE(dl);
    ASSERT_EQ(dl->size(), 1u);
    EXPECT_EQ((*dl)[0].reason.str(), "unmapped_value");
    EXPECT_EQ((*dl)[0].field_names.at(0).str(), "sex");
}

/// Ids drawn from every character a token may hold, some of them JSON's own ("/", "[").
std::string random_id(std::mt19937& rng) {
    static constexpr std::string_view chars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/@#+=~[]-";
    std::string id;
    const auto n = std::uniform_int_distribution<int>(1, 12)(rng);
    for (int i = 0; i < n; ++i) {
        id += chars[std::uniform_int_distribution<std::size_t>(0, chars.size() - 1)(rng)];
    }
    return id;
}

void expect_same(const std::optional<delivery>& a, const std::optional<delivery>& b) {
    ASSERT_EQ(a.has_value(), b.has_value());
    if (!a) {
        return;
    }
    EXPECT_EQ(a->flow, b->flow);
    EXPECT_EQ(a->source, b->source);
    EXPECT_EQ(a->state, b->state);
    EXPECT_EQ(a->attempts, b->attempts);
    EXPECT_EQ(a->source_version, b->source_version);
    EXPECT_EQ(a->next_retry, b->next_retry);
    EXPECT_EQ(a->reason, b->reason);
}

// A page's look-ups are made in one query per kind; each answer is the one a look-up of that
// record alone gives, in the order asked, over stores of several seeds with two flows, three
// systems, ids that need escaping in JSON, records asked twice and records never stored.
TEST(store, page_look_ups_agree_with_one_look_up_per_record) {
    for (const unsigned seed : {1u, 2u, 3u, 4u, 5u}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        std::mt19937 rng(seed);
        test::temp_dir dir;
        manual_clock clock(t0());
        auto s = store::open(dir / "s.db", {}, clock);
        ASSERT_TRUE(s);
        const std::vector<token> flows{token("flow-a"), token("flow-b")};
        const std::vector<token> systems{token("primero"), token("progres"), token("dss")};
        std::set<std::string> ids;
        while (ids.size() < 300) {
            ids.insert(random_id(rng));
        }
        page_commit page;
        std::vector<record_id> asked;
        for (const auto& id : ids) {
            const auto roll = std::uniform_int_distribution<int>(0, 9)(rng);
            const record_id r{systems[static_cast<std::size_t>(roll % 2)], *token::make(id)};
            asked.push_back(r);
            if (roll < 7) {
                delivery d{
                    flows[static_cast<std::size_t>(roll % 2)],
                    r,
                    static_cast<delivery_state>(roll % 6),
                    roll,
                    roll % 3 == 0 ? std::nullopt : std::optional<token>(*token::make("v" + id)),
                    roll % 4 == 0 ? std::optional<time_point>(t0() + std::chrono::seconds(roll))
                                  : std::nullopt,
                    roll % 5 == 0 ? std::optional<token>(token("remote_unavailable"))
                                  : std::nullopt};
                page.deliveries.push_back(std::move(d));
            }
            if (roll % 3 != 1) {
                ASSERT_TRUE(s->link(r, record_id{systems[2], *token::make("t-" + id)}));
            }
        }
        page.entries = {sample_entry(1)};
        ASSERT_TRUE(s->commit_page(page));
        for (int i = 0; i < 60; ++i) {  // never stored, and asked twice
            asked.push_back(record_id{systems[0], *token::make(random_id(rng) + "-absent")});
            asked.push_back(asked[static_cast<std::size_t>(i * 3)]);
        }
        std::shuffle(asked.begin(), asked.end(), rng);
        for (const auto& flow : flows) {
            auto many = s->get_deliveries(flow, asked);
            ASSERT_TRUE(many);
            ASSERT_EQ(many->size(), asked.size());
            std::size_t found = 0;
            for (std::size_t i = 0; i < asked.size(); ++i) {
                auto one = s->get_delivery(flow, asked[i]);
                ASSERT_TRUE(one);
                expect_same((*many)[i], *one);
                found += one->has_value() ? 1 : 0;
            }
            EXPECT_GT(found, 50u) << "the store held too few deliveries to compare";
        }
        auto links = s->linked_each(asked, systems[2]);
        ASSERT_TRUE(links);
        ASSERT_EQ(links->size(), asked.size());
        std::vector<record_id> targets;
        for (std::size_t i = 0; i < asked.size(); ++i) {
            auto one = s->linked(asked[i], systems[2]);
            ASSERT_TRUE(one);
            EXPECT_EQ((*links)[i], *one);
            targets.push_back(record_id{systems[2], *token::make("t-" + asked[i].id.str())});
        }
        for (const auto& from : {systems[0], systems[1]}) {
            auto back = s->linked_from_each(targets, from);
            ASSERT_TRUE(back);
            ASSERT_EQ(back->size(), targets.size());
            std::size_t found = 0;
            for (std::size_t i = 0; i < targets.size(); ++i) {
                auto one = s->linked_from(targets[i], from);
                ASSERT_TRUE(one);
                EXPECT_EQ((*back)[i], *one);
                found += one->has_value() ? 1 : 0;
            }
            EXPECT_GT(found, 30u);
        }
        auto none = s->get_deliveries(flows[0], {});
        ASSERT_TRUE(none);
        EXPECT_TRUE(none->empty());
    }
}

TEST(store, a_failing_page_changes_nothing) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    const token flow("f");
    page_commit good;
    good.entries = {sample_entry(1)};
    good.cursor_move = {flow, "p1"};
    ASSERT_TRUE(s->commit_page(good));
    // A trigger makes the delivery insert fail after the entries were appended.
    ASSERT_TRUE(s->database().exec(
        "CREATE TRIGGER no_dead BEFORE INSERT ON deliveries WHEN NEW.state = 'dead'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ));
    page_commit bad;
    bad.entries = {sample_entry(2), sample_entry(3)};
    bad.cursor_move = {flow, "p2"};
    bad.deliveries.push_back(delivery{
        flow,
        rec("primero", "case-2"),
        delivery_state::dead,
        1,
        std::nullopt,
        std::nullopt,
        token("x")});
    EXPECT_FALSE(s->commit_page(bad));
    EXPECT_EQ(*last_seq(s->database()), 1);
    EXPECT_EQ((*s->get_cursor(flow))->position, "p1");
    auto v = s->verify({});
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok) << v->problem;
}

TEST(store, a_closed_review_item_goes_with_a_decision_entry_that_holds_the_reason_digest_only) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    page_commit page;
    page.reviews.push_back(
        {0,
         token("handover"),
         rec("cpims-a", "case-7"),
         token("consent_withdrawn"),
         rec("cpims-b", "case-70"),
         {}}
    );
    page.reviews.push_back(
        {0,
         token("handover"),
         rec("cpims-a", "case-8"),
         token("multiple_matches"),
         std::nullopt,
         {}}
    );
    ASSERT_TRUE(s->commit_page(page));
    auto open = s->reviews(10);
    ASSERT_TRUE(open);
    ASSERT_EQ(open->size(), 2u);
    const auto digest = sha256("told the receiving agency by phone");
    auto closed = s->close_review((*open)[0].id, outcome::review_resolved, token("imo-1"), digest);
    ASSERT_TRUE(closed);
    ASSERT_TRUE(closed->has_value());
    EXPECT_EQ((*closed)->kind.str(), "consent_withdrawn");
    auto again = s->close_review((*open)[0].id, outcome::review_dismissed, token("imo-1"), digest);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->has_value()) << "an item closes once";
    auto left = s->reviews(10);
    ASSERT_TRUE(left);
    ASSERT_EQ(left->size(), 1u);
    EXPECT_EQ((*left)[0].source.id.str(), "case-8");
    auto rows = read_entries(s->database(), log_query{});
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    const auto& text = (*rows)[0].canonical;
    EXPECT_NE(text.find("\"kind\":\"review_decision\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"outcome\":\"review_resolved\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"actor\":\"imo-1\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"reason\":\"consent_withdrawn\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"target_id\":\"case-70\""), std::string::npos) << text;
    EXPECT_NE(text.find(to_hex(digest)), std::string::npos) << text;
    EXPECT_EQ(text.find("phone"), std::string::npos) << text;
    auto verified = verify(s->database(), verify_options{});
    ASSERT_TRUE(verified);
    EXPECT_TRUE(verified->ok);
}

// Links each Primero record `id` to proGres record "g-<id>", and records one delivery of it,
// delivered, on `flow`, in one page.
void linked_and_delivered(store& s, const token& flow, const std::vector<std::string>& ids) {
    page_commit page;
    for (const auto& id : ids) {
        ASSERT_TRUE(s.link(rec("primero", id), rec("progres", "g-" + id)));
        page.deliveries.push_back(delivery{
            flow,
            rec("primero", id),
            delivery_state::delivered,
            1,
            std::nullopt,
            std::nullopt,
            std::nullopt});
    }
    ASSERT_TRUE(s.commit_page(page));
}

TEST(store, purge_removes_closed_records_past_retention_and_logs_the_counts) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    const token flow("f");
    ASSERT_NO_FATAL_FAILURE(linked_and_delivered(*s, flow, {"old", "recent", "open"}));
    ASSERT_TRUE(s->mark_closed(rec("primero", "old"), t0()));
    ASSERT_TRUE(s->mark_closed(rec("primero", "recent"), t0() + std::chrono::hours(24 * 80)));
    clock.set(t0() + std::chrono::hours(24 * 100));
    auto counts = s->purge(std::chrono::hours(24 * 90), token("operator-1"));
    ASSERT_TRUE(counts);
    EXPECT_EQ(counts->links, 1);
    EXPECT_EQ(counts->deliveries, 1);
    EXPECT_FALSE(*s->linked(rec("primero", "old"), token("progres")));
    EXPECT_TRUE(*s->linked(rec("primero", "recent"), token("progres")));
    EXPECT_TRUE(*s->get_delivery(flow, rec("primero", "open")));
    auto rows = read_entries(s->database(), std::nullopt, std::nullopt);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_NE(
        rows->back().canonical.find("\"counts\":{\"deliveries\":1,\"links\":1}"), std::string::npos
    ) << rows->back().canonical;
    EXPECT_NE(rows->back().canonical.find("\"kind\":\"retention_purge\""), std::string::npos);
    EXPECT_TRUE(s->verify({})->ok);
    EXPECT_EQ(file_bytes(dir / "s.db").find("g-old"), std::string::npos);
}

// A page's closures and reopenings take effect in the page's order, though a run of
// reopenings is applied in one statement per table: a record closed, then reopened, is open;
// reopened, then closed, is closed from that date; closed again keeps its first date.
TEST(store, a_pages_closures_and_reopenings_apply_in_order) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    const token flow("f");
    const std::vector<std::string> ids = {"a", "b", "c", "d", "e", "f"};
    ASSERT_NO_FATAL_FAILURE(linked_and_delivered(*s, flow, ids));
    for (const auto& id : ids) {
        ASSERT_TRUE(s->mark_closed(rec("primero", id), t0()));
    }
    const auto t2 = t0() + std::chrono::hours(48);
    const auto t3 = t0() + std::chrono::hours(72);
    page_commit page;
    page.closures = {
        {rec("primero", "f"), t2},              // already closed: keeps t0, then reopened below
        {rec("primero", "a"), std::nullopt},    // reopened, then closed at t3 below
        {rec("progres", "g-b"), std::nullopt},  // the link reopened from its target side
        {rec("primero", "c"), std::nullopt},
        {rec("primero", "c"), t2},
        {rec("primero", "d"), t2},  // already closed: keeps t0
        {rec("primero", "a"), t3},
        {rec("primero", "e"), std::nullopt},
        {rec("primero", "f"), std::nullopt},
    };
    ASSERT_TRUE(s->commit_page(page));
    const auto closed = [&](const char* table) {
        std::map<std::string, std::string> out;
        auto q = s->database().prepare(
            std::string("SELECT source_id, coalesce(closed_at, 'open') FROM ") + table
        );
        EXPECT_TRUE(q);
        while (*q->step()) {
            out[q->column_text(0)] = q->column_text(1);
        }
        return out;
    };
    const std::string at0 = format_rfc3339(t0(), 6);
    const std::string at2 = format_rfc3339(t2, 6);
    const std::string at3 = format_rfc3339(t3, 6);
    using table = std::map<std::string, std::string>;
    EXPECT_EQ(
        closed("links"),
        (table{{"a", at3}, {"b", "open"}, {"c", at2}, {"d", at0}, {"e", "open"}, {"f", "open"}})
    );
    // A delivery belongs to its source: reopening g-b leaves b's delivery closed.
    EXPECT_EQ(
        closed("deliveries"),
        (table{{"a", at3}, {"b", at0}, {"c", at2}, {"d", at0}, {"e", "open"}, {"f", "open"}})
    );
}

// A store in a temporary folder that signs a checkpoint every three entries and writes each
// to a witness file beside it.
struct signing_store {
    test::temp_dir dir;
    manual_clock clock{t0()};
    std::filesystem::path witness = dir / "w.json";
    result<store> s = store::open(dir / "s.db", {testing::write_key(dir, "k"), witness, 3}, clock);
};

TEST(store, checkpoint_every_n_entries_goes_to_the_witness_file) {
    signing_store f;
    auto& s = f.s;
    const auto& witness = f.witness;
    ASSERT_TRUE(s);
    page_commit p;
    p.entries = {sample_entry(1), sample_entry(2)};
    ASSERT_TRUE(s->commit_page(p));
    EXPECT_FALSE(std::filesystem::exists(witness));
    ASSERT_TRUE(s->commit_page(p));
    auto c = checkpoint::from_json(file_bytes(witness));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->size, 4);
    auto end = s->end_run();
    ASSERT_TRUE(end && *end);
    EXPECT_EQ((*end)->size, 4);  // already covered: no new checkpoint
    ASSERT_TRUE(s->commit_page(p));
    end = s->end_run();
    ASSERT_TRUE(end && *end);
    EXPECT_EQ((*end)->size, 6);
    EXPECT_EQ(checkpoint::from_json(file_bytes(witness))->size, 6);
    EXPECT_FALSE(store::open(f.dir / "t.db", {f.dir.write("bad.pem", "nope"), {}, 3}, f.clock));
}

// A commit asked to sync later is written to the WAL without an fsync; the next commit that
// syncs, sync_wal() or end_run() makes it durable. Every other commit syncs.
TEST(store, a_commit_that_syncs_later_is_synced_by_the_next_commit_sync_wal_or_end_run) {
    test::wal_sync_watch watch;
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    page_commit full;
    full.entries = {sample_entry(1)};
    page_commit later = full;
    later.sync_later = true;

    ASSERT_TRUE(s->commit_page(full));
    EXPECT_FALSE(watch.unsynced());
    EXPECT_FALSE(s->has_unsynced_commit());
    auto syncs = watch.syncs();

    ASSERT_TRUE(s->commit_page(later));
    EXPECT_TRUE(watch.unsynced()) << "the commit synced the WAL";
    EXPECT_TRUE(s->has_unsynced_commit());
    EXPECT_EQ(watch.syncs(), syncs);
    ASSERT_TRUE(s->sync_wal());
    EXPECT_FALSE(watch.unsynced());
    EXPECT_FALSE(s->has_unsynced_commit());
    EXPECT_EQ(watch.syncs(), syncs + 1);
    ASSERT_TRUE(s->sync_wal());  // nothing left to sync: no fsync
    EXPECT_EQ(watch.syncs(), syncs + 1);

    // The connection is back to syncing every commit.
    ASSERT_TRUE(s->commit_page(later));
    ASSERT_TRUE(s->commit_page(full));
    EXPECT_FALSE(watch.unsynced());
    EXPECT_FALSE(s->has_unsynced_commit());

    // The end of a run, without a signing key (no checkpoint commit of its own).
    ASSERT_TRUE(s->commit_page(later));
    EXPECT_TRUE(watch.unsynced());
    ASSERT_TRUE(s->end_run());
    EXPECT_FALSE(watch.unsynced());
    EXPECT_FALSE(s->has_unsynced_commit());

    // A failed commit that asked to sync later leaves the connection syncing.
    page_commit bad = later;
    bad.cursor_move = {token("f"), "not a cursor\n"};
    EXPECT_FALSE(s->commit_page(bad));
    ASSERT_TRUE(s->commit_page(full));
    EXPECT_FALSE(watch.unsynced());
    auto v = s->verify({});
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok);
}

// A checkpoint reaches the witness file only once the log it names is durable, even when the
// commit that made it asked to sync later.
TEST(store, a_checkpoint_made_by_a_commit_that_syncs_later_is_synced_before_the_witness) {
    test::wal_sync_watch watch;
    signing_store f;
    auto& s = f.s;
    const auto& witness = f.witness;
    ASSERT_TRUE(s);
    page_commit p;
    p.entries = {sample_entry(1), sample_entry(2)};
    p.sync_later = true;
    ASSERT_TRUE(s->commit_page(p));
    EXPECT_TRUE(watch.unsynced());
    EXPECT_FALSE(std::filesystem::exists(witness));
    ASSERT_TRUE(s->commit_page(p));  // 4 entries: a checkpoint
    ASSERT_TRUE(std::filesystem::exists(witness));
    EXPECT_FALSE(watch.unsynced()) << "the witness names a head a power cut could roll back";
    EXPECT_FALSE(s->has_unsynced_commit());
    EXPECT_EQ(checkpoint::from_json(file_bytes(witness))->size, 4);
}

// The store thread: the work runs there, the caller resumes on its own thread.
awaitable<void> use_store_thread(store_thread* st, std::thread::id caller, int* checks) {
    const auto before = std::this_thread::get_id();
    EXPECT_EQ(before, caller);
    auto seq = co_await st->run([](store& s) {
        page_commit p;
        p.entries = {sample_entry(1)};
        p.cursor_move = {token("f"), "p1"};
        return std::pair{s.commit_page(p), std::this_thread::get_id()};
    });
    if (!seq.first) {
        ADD_FAILURE() << seq.first.error().message();
        co_return;
    }
    EXPECT_EQ(*seq.first, 1);
    EXPECT_EQ(seq.second, st->thread_id());
    EXPECT_NE(seq.second, caller);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    auto v = co_await st->run([](store& s) { return s.verify({}); });
    EXPECT_TRUE(v && v->ok);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    *checks += 1;
}

TEST(store_thread, work_runs_on_the_store_thread_and_resumes_on_the_caller) {
    test::temp_dir dir;
    manual_clock clock(t0());
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s);
    store_thread st(std::move(*s));
    int checks = 0;
    test::run_awaitable(use_store_thread(&st, std::this_thread::get_id(), &checks));
    EXPECT_EQ(checks, 1);
    EXPECT_TRUE(test::has_thread_named("cb-store"));
}

}  // namespace
}  // namespace casebridge::store
