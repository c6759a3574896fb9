#include "store/sqlite.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "store/migrations.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::store {
namespace {

TEST(sqlite, opens_a_file_in_wal_with_full_sync_and_foreign_keys) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*d->pragma("journal_mode"), "wal");
    EXPECT_EQ(*d->pragma("synchronous"), "2");  // FULL
    EXPECT_EQ(*d->pragma("foreign_keys"), "1");
    EXPECT_EQ(*d->pragma("busy_timeout"), "5000");
    struct stat st {};
    ASSERT_EQ(::stat((dir / "s.db").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// SQLite keeps no process-wide memory statistics (each allocation would take a global
// mutex for them). Run as its own process, as ctest runs each test, the store is SQLite's
// first use.
TEST(sqlite, keeps_no_global_memory_statistics) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d) << d.error().message();
    ASSERT_TRUE(d->exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES (randomblob(100000))"));
    EXPECT_EQ(sqlite3_memory_used(), 0) << "memory statistics are kept";
}

TEST(sqlite, open_fails_on_an_unusable_path) {
    test::temp_dir dir;
    auto d = db::open(dir / "no-such-dir" / "s.db");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error(), errc::store_failed);
}

TEST(sqlite, transaction_rolls_back_unless_committed) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->exec("CREATE TABLE t (x INTEGER PRIMARY KEY)"));
    {
        auto t = txn::begin(*d);
        ASSERT_TRUE(t);
        ASSERT_TRUE(d->exec("INSERT INTO t VALUES (1)"));
    }
    {
        auto t = txn::begin(*d);
        ASSERT_TRUE(t);
        ASSERT_TRUE(d->exec("INSERT INTO t VALUES (2)"));
        ASSERT_TRUE(t->commit());
    }
    auto s = d->prepare("SELECT group_concat(x) FROM t");
    ASSERT_TRUE(s);
    ASSERT_TRUE(*s->step());
    EXPECT_EQ(s->column_text(0), "2");
}

TEST(sqlite, unique_violation_is_a_conflict_and_bad_sql_a_store_failure) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->exec("CREATE TABLE t (x INTEGER PRIMARY KEY)"));
    auto ins = d->prepare("INSERT INTO t VALUES (?)");
    ASSERT_TRUE(ins);
    ASSERT_TRUE(ins->bind(1, std::int64_t{7}).run());
    auto again = ins->bind(1, std::int64_t{7}).run();
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), errc::conflict);
    auto bad = d->prepare("SELEC nonsense");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), errc::store_failed);
}

// Each migration step on a real file: the version moves one step at a time, the tables and
// indexes of that step exist afterwards, and running migrate again changes nothing.
TEST(sqlite, for_each_row_visits_every_row_and_stops_at_the_first_error) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(
        d->exec("CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT);"
                "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');")
    );
    auto s = d->prepare("SELECT x, y FROM t ORDER BY x");
    ASSERT_TRUE(s);
    std::string seen;
    const auto all = [&seen](const stmt& r) -> result<void> {
        seen += std::to_string(r.column_int(0)) + r.column_text(1);
        return {};
    };
    ASSERT_TRUE(for_each_row(*s, all));
    EXPECT_EQ(seen, "1a2b3c");

    auto again = d->prepare("SELECT x FROM t ORDER BY x");
    ASSERT_TRUE(again);
    int calls = 0;
    const auto stop_at_two = [&calls](const stmt& r) -> result<void> {
        ++calls;
        if (r.column_int(0) == 2) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        return {};
    };
    const auto r = for_each_row(*again, stop_at_two);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::store_failed);
    EXPECT_EQ(calls, 2);

    auto none = d->prepare("SELECT x FROM t WHERE x > 10");
    ASSERT_TRUE(none);
    int empty_calls = 0;
    const auto count = [&empty_calls](const stmt&) -> result<void> {
        ++empty_calls;
        return {};
    };
    EXPECT_TRUE(for_each_row(*none, count));
    EXPECT_EQ(empty_calls, 0);
}

TEST(sqlite, a_statement_is_parsed_once_and_handed_out_again_reset_and_unbound) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->exec("CREATE TABLE t (x INTEGER, y TEXT)"));
    const auto before = d->statements_prepared();
    for (int i = 0; i < 50; ++i) {
        auto ins = d->prepare("INSERT INTO t VALUES (?, ?)");
        ASSERT_TRUE(ins);
        if (i % 2 == 0) {
            ins->bind(1, std::int64_t{i}).bind(2, "even");
        }
        // An odd row binds nothing: a reused statement must not keep the last row's values.
        ASSERT_TRUE(ins->run());
    }
    EXPECT_EQ(d->statements_prepared(), before + 1);
    auto q = d->prepare("SELECT count(*), count(x), count(y) FROM t");
    ASSERT_TRUE(q);
    ASSERT_TRUE(*q->step());
    EXPECT_EQ(q->column_int(0), 50);
    EXPECT_EQ(q->column_int(1), 25);
    EXPECT_EQ(q->column_int(2), 25);
}

TEST(sqlite, the_same_text_in_use_twice_gets_two_statements) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)"));
    const auto before = d->statements_prepared();
    auto outer = d->prepare("SELECT x FROM t ORDER BY x");
    ASSERT_TRUE(outer);
    std::string seen;
    for (;;) {
        auto row = outer->step();
        ASSERT_TRUE(row);
        if (!*row) {
            break;
        }
        // The same text while the outer walk is half way: its own statement, from the start.
        auto inner = d->prepare("SELECT x FROM t ORDER BY x");
        ASSERT_TRUE(inner);
        ASSERT_TRUE(*inner->step());
        seen += std::to_string(outer->column_int(0)) + std::to_string(inner->column_int(0));
    }
    EXPECT_EQ(seen, "112131");
    EXPECT_EQ(d->statements_prepared(), before + 2);
}

TEST(sqlite, a_half_read_statement_put_back_holds_no_read_open) {
    test::temp_dir dir;
    auto d = db::open(dir / "s.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2)"));
    {
        auto q = d->prepare("SELECT x FROM t");
        ASSERT_TRUE(q);
        ASSERT_TRUE(*q->step());  // one row read, then dropped mid-walk
    }
    // A second connection writes and checkpoints: a read left open would hold the WAL back.
    auto other = db::open(dir / "s.db");
    ASSERT_TRUE(other);
    ASSERT_TRUE(other->exec("INSERT INTO t VALUES (3)"));
    auto cp = other->prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    ASSERT_TRUE(cp);
    ASSERT_TRUE(*cp->step());
    EXPECT_EQ(cp->column_int(0), 0);  // not busy
    auto q = d->prepare("SELECT x FROM t");
    ASSERT_TRUE(q);
    int rows = 0;
    while (*q->step()) {
        ++rows;
    }
    EXPECT_EQ(rows, 3);
}

TEST(sqlite, a_statement_may_outlive_its_connection) {
    test::temp_dir dir;
    std::optional<stmt> kept;
    {
        auto d = db::open(dir / "s.db");
        ASSERT_TRUE(d);
        ASSERT_TRUE(d->exec("CREATE TABLE t (x INTEGER)"));
        auto q = d->prepare("SELECT x FROM t");
        ASSERT_TRUE(q);
        kept.emplace(std::move(*q));
    }
    kept.reset();  // finalised after the connection closed (AddressSanitizer watches)
    SUCCEED();
}

TEST(migrations, each_step_on_a_real_file) {
    test::temp_dir dir;
    const auto path = dir / "m.db";
    {
        auto d = db::open(path);
        ASSERT_TRUE(d);
        EXPECT_EQ(*d->pragma("user_version"), "0");
        auto v1 = migrate(*d, 1);
        ASSERT_TRUE(v1);
        EXPECT_EQ(*v1, 1);
        EXPECT_EQ(*d->pragma("user_version"), "1");
        for (const char* table :
             {"meta",
              "transfer_log",
              "checkpoints",
              "cursors",
              "links",
              "deliveries",
              "dead_letters"}) {
            auto s = d->prepare("SELECT count(*) FROM sqlite_schema WHERE type='table' AND name=?");
            ASSERT_TRUE(s);
            s->bind(1, table);
            ASSERT_TRUE(*s->step());
            EXPECT_EQ(s->column_int(0), 1) << table;
        }
        auto idx =
            d->prepare("SELECT count(*) FROM sqlite_schema WHERE name='dead_letters_record'");
        ASSERT_TRUE(idx && *idx->step());
        EXPECT_EQ(idx->column_int(0), 0);
    }
    {
        // Reopen the file: step 2 applies on top of what step 1 left.
        auto d = db::open(path);
        ASSERT_TRUE(d);
        auto v2 = migrate(*d);
        ASSERT_TRUE(v2);
        EXPECT_EQ(*v2, schema_version());
        EXPECT_EQ(*d->pragma("user_version"), std::to_string(schema_version()));
        auto idx =
            d->prepare("SELECT count(*) FROM sqlite_schema WHERE name='dead_letters_record'");
        ASSERT_TRUE(idx && *idx->step());
        EXPECT_EQ(idx->column_int(0), 1);
        auto again = migrate(*d);
        ASSERT_TRUE(again);
        EXPECT_EQ(*again, schema_version());
        EXPECT_EQ(*d->pragma("integrity_check"), "ok");
    }
}

TEST(migrations, refuses_a_store_from_a_newer_build) {
    test::temp_dir dir;
    auto d = db::open(dir / "m.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->exec("PRAGMA user_version=" + std::to_string(schema_version() + 1)));
    auto r = migrate(*d);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::store_failed);
}

// Every statement a record's closure runs finds its rows through an index, whatever the
// flow: a full scan per record makes a sync cost time in the square of the caseload.
TEST(migrations, a_records_deliveries_and_links_are_found_without_a_scan) {
    test::temp_dir dir;
    auto d = db::open(dir / "m.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(migrate(*d));
    for (const char* sql :
         {"UPDATE deliveries SET closed_at = ?3 WHERE closed_at IS NULL AND source_system = ?1 "
          "AND source_id = ?2",
          "UPDATE links SET closed_at = ?3 WHERE closed_at IS NULL AND ((source_system = ?1 AND "
          "source_id = ?2) OR (target_system = ?1 AND target_id = ?2))",
          // A page's reopenings, its ids as a JSON array (store::commit_page).
          "UPDATE links SET closed_at = NULL WHERE closed_at IS NOT NULL AND source_system = ? "
          "AND source_id IN (SELECT value FROM json_each(?))",
          "UPDATE links SET closed_at = NULL WHERE closed_at IS NOT NULL AND target_system = ? "
          "AND target_id IN (SELECT value FROM json_each(?))",
          "UPDATE deliveries SET closed_at = NULL WHERE closed_at IS NOT NULL AND source_system = "
          "? AND source_id IN (SELECT value FROM json_each(?))",
          // A flow's deliveries: a page's look-up, what is in flight, the counts by state.
          "SELECT source_id FROM deliveries WHERE flow = ? AND source_system = ? AND source_id "
          "IN (SELECT value FROM json_each(?))",
          "SELECT source_id FROM deliveries WHERE flow = ? AND state = ? ORDER BY updated_at "
          "LIMIT ?",
          "SELECT state, count(*) FROM deliveries WHERE flow = ? GROUP BY state"}) {
        auto plan = d->prepare(std::string("EXPLAIN QUERY PLAN ") + sql);
        ASSERT_TRUE(plan) << sql;
        std::string text;
        while (*plan->step()) {
            text += plan->column_text(3) + "\n";
        }
        EXPECT_NE(text.find("USING"), std::string::npos) << sql << "\n" << text;
        EXPECT_EQ(text.find("SCAN links"), std::string::npos) << sql << "\n" << text;
        EXPECT_EQ(text.find("SCAN deliveries"), std::string::npos) << sql << "\n" << text;
        // Not the partial index of closed rows, which holds every closed record.
        EXPECT_EQ(text.find("_closed"), std::string::npos) << sql << "\n" << text;
    }
}

// Version 7 rebuilds the deliveries table keyed by record first: every row and column is
// kept, and one index over the ids is left instead of two.
TEST(migrations, deliveries_keep_their_rows_when_keyed_by_record_first) {
    test::temp_dir dir;
    auto d = db::open(dir / "m.db");
    ASSERT_TRUE(d);
    ASSERT_TRUE(migrate(*d, 6));
    ASSERT_TRUE(d->exec(
        "INSERT INTO deliveries VALUES ('f1', 'cpims', 'case-1', 'delivered', 2, 'v3', NULL, "
        "NULL, '2026-01-02T03:04:05Z', NULL), ('f2', 'cpims', 'case-1', 'dead', 1, NULL, "
        "'2026-01-03T00:00:00Z', 'not_found', '2026-01-02T03:04:06Z', '2026-02-01'), ('f1', "
        "'cpims', 'case-2', 'in_flight', 1, 'v1', NULL, NULL, '2026-01-02T03:04:07Z', NULL)"
    ));
    const auto rows = [&] {
        std::string out;
        auto q = d->prepare(
            "SELECT flow || '|' || source_system || '|' || source_id || '|' || state || '|' || "
            "attempts || '|' || coalesce(source_version, '-') || '|' || coalesce(next_retry, "
            "'-') || '|' || coalesce(reason, '-') || '|' || updated_at || '|' || "
            "coalesce(closed_at, '-') FROM deliveries ORDER BY flow, source_id"
        );
        while (q && *q->step()) {
            out += q->column_text(0) + "\n";
        }
        return out;
    };
    const auto before = rows();
    ASSERT_EQ(std::count(before.begin(), before.end(), '\n'), 3);
    auto v = migrate(*d);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 7);
    EXPECT_EQ(rows(), before);
    const auto count = [&](const char* sql) {
        auto q = d->prepare(sql);
        return q && *q->step() ? q->column_int(0) : -1;
    };
    EXPECT_EQ(count("SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_record'"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_flow_state'"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_closed'"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM sqlite_schema WHERE name = 'deliveries_v7'"), 0);
    EXPECT_EQ(*d->pragma("integrity_check"), "ok");
    // The key holds: a second row for the same record and flow is refused.
    EXPECT_FALSE(
        d->exec("INSERT INTO deliveries (flow, source_system, source_id, state, updated_at) VALUES "
                "('f1', 'cpims', 'case-1', 'pending', 'x')")
    );
}

TEST(migrations, versions_are_consecutive) {
    int expected = 1;
    for (const auto& m : migrations()) {
        EXPECT_EQ(m.to, expected++);
    }
}

}  // namespace
}  // namespace casebridge::store
