#include "store/transfer_log.hpp"

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "json/json.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"
#include "unit/store/test_util.hpp"

namespace casebridge::store {
namespace {

using testing::sample_entry;

class transfer_log_file : public ::testing::Test {
protected:
    void SetUp() override {
        key_ = testing::write_key(dir_, "signing");
        auto pub = read_public_key_pem(dir_ / "signing.pub.pem");
        ASSERT_TRUE(pub);
        public_key_ = *pub;
        build(path_, key_, witness_, std::nullopt);
    }

    /// Ten entries in pages of 2, a checkpoint every 4 entries and one at the end (10).
    /// `changed` gives entry n another target id (an attacker's rewrite).
    void build(
        const std::filesystem::path& path,
        const std::filesystem::path& key,
        const std::filesystem::path& witness,
        std::optional<int> changed
    ) {
        manual_clock clock(*parse_rfc3339("2025-03-01T08:00:00Z"));
        auto s = store::open(path, {key, witness, 4}, clock);
        ASSERT_TRUE(s) << s.error().message();
        for (int page = 0; page < 5; ++page) {
            page_commit p;
            for (int i = 1; i <= 2; ++i) {
                const int n = page * 2 + i;
                auto e = sample_entry(n);
                if (changed && *changed == n) {
                    e.target = record_id{token("progres"), token("guid-forged")};
                }
                p.entries.push_back(e);
            }
            ASSERT_TRUE(s->commit_page(p));
            clock.advance(std::chrono::seconds(1));
        }
        auto end = s->end_run();
        ASSERT_TRUE(end && *end);
        EXPECT_EQ((*end)->size, 10);
    }

    void sql(const std::string& text) {
        auto d = db::open(path_);
        ASSERT_TRUE(d);
        ASSERT_TRUE(d->exec(text)) << d->last_error();
    }

    verify_report check(verify_options o = {}) {
        auto d = db::open(path_);
        EXPECT_TRUE(d);
        auto r = verify(*d, o);
        EXPECT_TRUE(r);
        return r ? *r : verify_report{};
    }

    checkpoint witness() {
        auto text = json::read_file(witness_);
        EXPECT_TRUE(text);
        auto c = checkpoint::from_json(*text);
        EXPECT_TRUE(c);
        return *c;
    }

    test::temp_dir dir_;
    std::filesystem::path path_ = dir_ / "store.db";
    std::filesystem::path witness_ = dir_ / "witness" / "checkpoint.json";
    std::filesystem::path key_;
    std::string public_key_;

public:
    transfer_log_file() { std::filesystem::create_directories(dir_ / "witness"); }
};

TEST_F(transfer_log_file, untouched_log_verifies_with_all_checks) {
    const auto r = check({public_key_, witness()});
    EXPECT_TRUE(r.ok) << r.problem;
    EXPECT_EQ(r.entries, 10);
    EXPECT_EQ(r.checkpoints, 4);  // 4, 8, 10 stored + the external one
    EXPECT_TRUE(r.key_pinned);
    EXPECT_EQ(witness().size, 10);
}

TEST_F(transfer_log_file, changed_column_is_found_at_its_entry) {
    sql("UPDATE transfer_log SET target_id = 'guid-other' WHERE seq = 5");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 5);
    EXPECT_NE(r.problem.find("does not match its entry_hash"), std::string::npos) << r.problem;
}

TEST_F(transfer_log_file, changed_list_column_is_found) {
    sql("UPDATE transfer_log SET fields_withheld = '[]' WHERE seq = 7");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 7);
}

TEST_F(transfer_log_file, deleted_entry_is_found) {
    sql("DELETE FROM transfer_log WHERE seq = 6");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 6);
    EXPECT_NE(r.problem.find("entry 6 is missing"), std::string::npos) << r.problem;
}

TEST_F(transfer_log_file, swapped_entries_are_found_at_the_first) {
    sql("UPDATE transfer_log SET seq = -1 WHERE seq = 3;"
        "UPDATE transfer_log SET seq = 3 WHERE seq = 4;"
        "UPDATE transfer_log SET seq = 4 WHERE seq = -1;");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 3);
}

TEST_F(transfer_log_file, rehashed_edit_breaks_the_next_link_or_a_checkpoint) {
    // An editor who also recomputes entry 5's own hash still breaks entry 6's prev_hash.
    sql("UPDATE transfer_log SET entry_hash = "
        "'1111111111111111111111111111111111111111111111111111111111111111' WHERE seq = 5");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 5);
}

TEST_F(transfer_log_file, tail_truncated_with_its_checkpoint_needs_the_external_one) {
    sql("DELETE FROM transfer_log WHERE seq > 8; DELETE FROM checkpoints WHERE size > 8;");
    // What is left is a consistent, shorter log: only a checkpoint held elsewhere shows it.
    const auto alone = check({public_key_, std::nullopt});
    EXPECT_TRUE(alone.ok) << alone.problem;
    const auto r = check({public_key_, witness()});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 9);
    EXPECT_NE(r.problem.find("truncated"), std::string::npos) << r.problem;
}

TEST_F(transfer_log_file, tail_truncated_after_a_stored_checkpoint_is_found) {
    sql("DELETE FROM transfer_log WHERE seq > 8");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 9);
    EXPECT_NE(r.problem.find("checkpoint covers 10 entries"), std::string::npos) << r.problem;
}

TEST_F(transfer_log_file, chain_rewritten_without_the_key_fails_the_stored_checkpoints) {
    // A consistent forged chain (entry 2 changed, every hash recomputed) under the original,
    // signed checkpoints: the first checkpoint it passes no longer matches.
    const auto forged = dir_ / "forged.db";
    build(forged, testing::write_key(dir_, "attacker"), dir_ / "attacker-witness.json", 2);
    sql("DELETE FROM transfer_log; ATTACH '" + forged.string() +
        "' AS f; INSERT INTO transfer_log SELECT * FROM f.transfer_log;");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 4);
    EXPECT_NE(r.problem.find("signed checkpoint of size 4"), std::string::npos) << r.problem;
}

TEST_F(transfer_log_file, chain_and_checkpoints_resigned_with_another_key) {
    const auto forged = dir_ / "forged.db";
    build(forged, testing::write_key(dir_, "attacker"), dir_ / "attacker-witness.json", 2);
    sql("DELETE FROM transfer_log; DELETE FROM checkpoints; ATTACH '" + forged.string() +
        "' AS f; INSERT INTO transfer_log SELECT * FROM f.transfer_log;"
        "INSERT INTO checkpoints SELECT * FROM f.checkpoints;");
    // Self-consistent: passes without a pinned key and without an external checkpoint...
    EXPECT_TRUE(check().ok);
    // ...but not against the pinned public key,
    const auto pinned = check({public_key_, std::nullopt});
    EXPECT_FALSE(pinned.ok);
    EXPECT_EQ(pinned.bad_seq, 4);
    EXPECT_NE(pinned.problem.find("not by the pinned key"), std::string::npos) << pinned.problem;
    // ...nor against the checkpoint held outside the store.
    const auto external = check({std::nullopt, witness()});
    EXPECT_FALSE(external.ok);
    EXPECT_EQ(external.bad_seq, 10);
    EXPECT_NE(external.problem.find("external checkpoint"), std::string::npos) << external.problem;
}

TEST_F(transfer_log_file, forged_checkpoint_signature_is_found) {
    sql("UPDATE checkpoints SET head_hash = (SELECT entry_hash FROM transfer_log WHERE seq = 8)"
        " WHERE size = 8");
    // head_hash still right; now break only the signature.
    sql("UPDATE checkpoints SET signature = replace(signature, substr(signature, 1, 4), 'AAAA')"
        " WHERE size = 8");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 8);
    EXPECT_NE(r.problem.find("signature does not verify"), std::string::npos) << r.problem;
}

TEST_F(transfer_log_file, cursor_past_the_log_is_found) {
    sql("INSERT INTO cursors VALUES ('f1', 'x', 11, '2025-03-01T08:00:00Z')");
    const auto r = check();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, 11);
    EXPECT_NE(r.problem.find("cursor of flow f1"), std::string::npos);
}

// The documented encoding, re-implemented from docs/transfer-log.md with the SQLite CLI's view
// of the row: canonical JSON of every column but the two hashes, hashed after the previous hash.
TEST_F(transfer_log_file, entry_hash_follows_the_documented_encoding) {
    auto d = db::open(path_);
    ASSERT_TRUE(d);
    auto rows = read_entries(*d, std::nullopt, std::nullopt);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 10u);
    const auto& first = (*rows)[0];
    EXPECT_EQ(first.canonical.find("{\"actor\":\"svc-casebridge\",\"attempt\":1,"), 0u)
        << first.canonical;
    EXPECT_NE(
        first.canonical.find("\"consent\":[{\"codes\":[\"unhcr\",\"authorities\"],"
                             "\"field\":\"consent_info_sharing\"}]"),
        std::string::npos
    );
    EXPECT_NE(first.canonical.find("\"seq\":1,"), std::string::npos);
    const auto h1 = to_hex(sha256(std::string(32, '\0'), first.canonical));
    EXPECT_EQ(first.entry_hash, h1);
    const auto h2 = to_hex(sha256(*from_hex(h1), (*rows)[1].canonical));
    EXPECT_EQ((*rows)[1].entry_hash, h2);
}

// The documented encoding (docs/transfer-log.md), built apart from the store's own code from
// the row as SQL reads it: a document of every column but the two hashes (integers, texts,
// the JSON columns parsed; NULL is null, except in a column a later store schema added,
// which is left out), written by json::canonical.
std::string documented_encoding(db& d, std::int64_t seq) {
    // i: integer, t: text, j: JSON text, l: text added by a later schema.
    static const std::pair<const char*, char> columns[] = {
        {"seq", 'i'},
        {"ts", 't'},
        {"kind", 't'},
        {"flow", 't'},
        {"direction", 't'},
        {"purpose", 't'},
        {"profile_id", 't'},
        {"profile_version", 'i'},
        {"profile_hash", 't'},
        {"legitimate_basis", 't'},
        {"consent", 'j'},
        {"source_system", 't'},
        {"source_id", 't'},
        {"target_system", 't'},
        {"target_id", 't'},
        {"correlation_key", 't'},
        {"fields_sent", 'j'},
        {"fields_withheld", 'j'},
        {"payload_sha256", 't'},
        {"outcome", 't'},
        {"remote_txn_id", 't'},
        {"http_status", 'i'},
        {"attempt", 'i'},
        {"actor", 't'},
        {"override_reason", 't'},
        {"counts", 'j'},
        {"reason", 'l'},
        {"mapping_in", 'l'},
        {"mapping_out", 'l'},
    };
    std::string sql = "SELECT ";
    const char* sep = "";
    for (const auto& [name, kind] : columns) {
        sql += sep;
        sql += name;
        sep = ", ";
    }
    sql += " FROM transfer_log WHERE seq = ?";
    auto st = d.prepare(sql);
    if (!st) {
        throw std::runtime_error("prepare: " + st.error().message());
    }
    st->bind(1, seq);
    const auto row = st->step();
    if (!row || !*row) {
        throw std::runtime_error("no entry " + std::to_string(seq));
    }
    rapidjson::Document doc(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    int i = 0;
    for (const auto& [name, kind] : columns) {
        const int at = i++;
        rapidjson::Value key(rapidjson::StringRef(name));
        if (st->column_is_null(at)) {
            if (kind != 'l') {
                doc.AddMember(key, rapidjson::Value(), a);
            }
        } else if (kind == 'i') {
            doc.AddMember(key, rapidjson::Value(static_cast<std::int64_t>(st->column_int(at))), a);
        } else if (kind == 'j') {
            const auto parsed = json::parse(st->column_text(at));
            if (!parsed) {
                throw std::runtime_error(std::string("column ") + name + " does not parse");
            }
            doc.AddMember(key, rapidjson::Value(*parsed, a), a);
        } else {
            doc.AddMember(key, rapidjson::Value(st->column_text(at).c_str(), a), a);
        }
    }
    return json::canonical(doc);
}

// The canonical encoding is written column by column, not through a document: it must be the
// bytes json::canonical gives for the row as a document (what entries were always hashed over),
// so that logs written before verify the same. Each entry's encoding is the documented one,
// built from the stored row, for entries with every mix of missing columns, lists and counts
// in any order, and extreme numbers; and the log verifies.
TEST(transfer_log_encoding, each_entry_is_the_canonical_form_of_its_row) {
    for (const unsigned seed : {1U, 2U, 3U, 4U, 5U}) {
        test::temp_dir dir;
        manual_clock clock(*parse_rfc3339("2025-03-01T08:00:00Z"));
        auto s = store::open(dir / "s.db", {}, clock);
        ASSERT_TRUE(s) << s.error().message();
        std::mt19937 rng(seed);
        const auto coin = [&rng] { return (rng() & 1U) != 0; };
        const auto name = [&rng](const char* stem) {
            return *token::make(std::string(stem) + "_" + std::to_string(rng() % 50));
        };
        const std::int64_t extremes[] = {
            0,
            -1,
            1,
            std::numeric_limits<std::int64_t>::min(),
            std::numeric_limits<std::int64_t>::max(),
            4294967296};
        page_commit page;
        for (int n = 0; n < 40; ++n) {
            log_entry_input e;
            e.kind = static_cast<entry_kind>(rng() % 8);
            e.result = static_cast<outcome>(rng() % 12);
            if (coin()) e.flow = name("flow");
            if (coin()) e.dir = coin() ? direction::outbound : direction::inbound;
            if (coin()) e.purpose = name("purpose");
            if (coin()) e.profile_id = name("profile");
            if (coin()) e.profile_version = extremes[rng() % 6];
            if (coin()) e.profile_hash = sha256(std::to_string(rng()));
            if (coin()) e.legitimate_basis = name("basis");
            for (unsigned c = rng() % 4; c > 0; --c) {
                consent_value v{name("field"), {}};
                for (unsigned k = rng() % 4; k > 0; --k) {
                    v.codes.push_back(name("code"));
                }
                e.consent.push_back(v);
            }
            if (coin()) e.source = record_id{token("primero"), name("case")};
            if (coin()) e.target = record_id{token("progres"), name("guid")};
            if (coin()) e.correlation_key = name("ref");
            for (unsigned k = rng() % 6; k > 0; --k) {
                e.fields_sent.push_back(name("sent"));
            }
            for (unsigned k = rng() % 3; k > 0; --k) {
                e.fields_withheld.push_back(name("held"));
            }
            if (coin()) e.payload_sha256 = sha256(std::to_string(rng()));
            if (coin()) e.remote_txn_id = name("txn");
            if (coin()) e.http_status = extremes[rng() % 6];
            if (coin()) e.attempt = static_cast<std::int64_t>(rng() % 9);
            for (unsigned k = rng() % 4; k > 0; --k) {  // distinct names, in no order
                e.counts.push_back(
                    {*token::make("count_" + std::to_string(k * 7 % 5)), extremes[rng() % 6]}
                );
            }
            if (coin()) e.override_reason = name("override");
            if (coin()) e.reason = name("reason");
            if (coin()) e.mapping_in = *token::make("primero.case@" + std::to_string(rng() % 9));
            if (coin()) e.mapping_out = *token::make("ping.case@" + std::to_string(rng() % 9));
            page.entries.push_back(e);
        }
        const auto committed = s->commit_page(page);
        ASSERT_TRUE(committed) << "seed " << seed << ": " << committed.error().message();
        auto rows = read_entries(s->database(), std::nullopt, std::nullopt);
        ASSERT_TRUE(rows);
        ASSERT_EQ(rows->size(), 40U);
        for (std::size_t i = 0; i < rows->size(); ++i) {
            const auto& row = (*rows)[i];
            const auto& e = page.entries[i];
            const auto doc = json::parse(row.canonical);
            ASSERT_TRUE(doc) << "seed " << seed << ": " << row.canonical;
            EXPECT_EQ(json::canonical(*doc), row.canonical) << "seed " << seed;
            EXPECT_EQ(documented_encoding(s->database(), row.seq), row.canonical)
                << "seed " << seed;
            // A missing column is null, but one added by a later store schema is left out
            // (so that entries written before it hash as they did).
            ASSERT_TRUE(doc->HasMember("flow"));
            EXPECT_EQ((*doc)["flow"].IsNull(), !e.flow) << row.canonical;
            EXPECT_EQ(doc->HasMember("reason"), e.reason.has_value()) << row.canonical;
            EXPECT_EQ(doc->HasMember("mapping_in"), e.mapping_in.has_value()) << row.canonical;
            EXPECT_EQ(doc->HasMember("mapping_out"), e.mapping_out.has_value()) << row.canonical;
        }
        auto verified = verify(s->database(), verify_options{});
        ASSERT_TRUE(verified);
        EXPECT_TRUE(verified->ok) << "seed " << seed << ": " << verified->problem;
    }
}

// Counts of one name twice would be an object with a repeated name, which no reader could
// take: the entry is refused, its page writes nothing, and the log goes on.
TEST(transfer_log_encoding, counts_of_one_name_twice_are_refused_and_nothing_is_written) {
    test::temp_dir dir;
    manual_clock clock(*parse_rfc3339("2025-03-01T08:00:00Z"));
    auto s = store::open(dir / "s.db", {}, clock);
    ASSERT_TRUE(s) << s.error().message();
    page_commit bad;
    bad.entries.push_back(sample_entry(1));
    auto twice = sample_entry(2);
    twice.counts = {{token("links"), 1}, {token("deliveries"), 0}, {token("links"), 2}};
    bad.entries.push_back(twice);
    EXPECT_FALSE(s->commit_page(bad));
    auto rows = read_entries(s->database(), std::nullopt, std::nullopt);
    ASSERT_TRUE(rows);
    EXPECT_TRUE(rows->empty());
    page_commit good;
    auto once = sample_entry(3);
    once.counts = {{token("links"), 1}, {token("deliveries"), 0}};
    good.entries.push_back(once);
    ASSERT_TRUE(s->commit_page(good));
    rows = read_entries(s->database(), std::nullopt, std::nullopt);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1U);
    EXPECT_NE(
        rows->front().canonical.find(R"("counts":{"deliveries":0,"links":1})"), std::string::npos
    ) << rows->front().canonical;
    auto verified = verify(s->database(), verify_options{});
    ASSERT_TRUE(verified);
    EXPECT_TRUE(verified->ok) << verified->problem;
}

// The query reads only the selected rows: the same rows as reading everything and filtering
// after, for every mix of flow, since and limit; at most `limit` of them.
TEST(transfer_log_query, flow_since_and_limit_select_in_the_store) {
    test::temp_dir dir;
    manual_clock clock(*parse_rfc3339("2025-03-01T08:00:00Z"));
    {
        auto s = store::open(dir / "store.db", {}, clock);
        ASSERT_TRUE(s) << s.error().message();
        for (int n = 1; n <= 12; ++n) {
            page_commit p;
            auto e = sample_entry(n);
            e.flow = n % 3 == 0 ? token("to_dss") : token("primero_to_ping");
            p.entries.push_back(e);
            ASSERT_TRUE(s->commit_page(p));
            clock.advance(std::chrono::seconds(1));
        }
    }
    auto d = db::open(dir / "store.db");
    ASSERT_TRUE(d);
    auto all = read_entries(*d, std::nullopt, std::nullopt);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 12u);
    const auto flow_of = [](const log_row& r) {
        auto doc = json::parse(r.canonical);
        return doc && (*doc)["flow"].IsString() ? std::string((*doc)["flow"].GetString()) : "";
    };
    const std::optional<std::string> flows[] = {std::nullopt, "to_dss", "primero_to_ping", "none"};
    const std::optional<std::string> sinces[] = {
        std::nullopt, "2025-03-01T08:00:04Z", "2025-03-01T08:00:30Z"};
    const std::optional<std::int64_t> limits[] = {std::nullopt, 1, 3, 100};
    int checked = 0;
    for (const auto& flow : flows) {
        for (const auto& since : sinces) {
            for (const auto& limit : limits) {
                std::vector<std::int64_t> expected;
                for (const auto& r : *all) {
                    if ((!flow || flow_of(r) == *flow) && (!since || r.ts >= *since) &&
                        (!limit || static_cast<std::int64_t>(expected.size()) < *limit)) {
                        expected.push_back(r.seq);
                    }
                }
                auto got = read_entries(*d, log_query{since, std::nullopt, flow, limit});
                ASSERT_TRUE(got);
                std::vector<std::int64_t> seqs;
                for (const auto& r : *got) {
                    seqs.push_back(r.seq);
                }
                EXPECT_EQ(seqs, expected) << flow.value_or("-") << " " << since.value_or("-") << " "
                                          << limit.value_or(-1);
                checked += expected.empty() ? 0 : 1;
            }
        }
    }
    EXPECT_GT(checked, 20);
    auto three = read_entries(*d, log_query{std::nullopt, std::nullopt, "to_dss", 2});
    ASSERT_TRUE(three);
    ASSERT_EQ(three->size(), 2u);
    EXPECT_EQ((*three)[0].seq, 3);
    EXPECT_EQ((*three)[1].seq, 6);
    EXPECT_EQ((*three)[0].canonical, (*all)[2].canonical);
    EXPECT_EQ((*three)[0].entry_hash, (*all)[2].entry_hash);

    // The console's filters: a record as source or target, the recipient, the outcome, the
    // reason, and the newest first (the limit then keeps the newest).
    const auto seqs_of = [&](const log_query& q) {
        auto got = read_entries(*d, q);
        EXPECT_TRUE(got);
        std::vector<std::int64_t> out;
        for (const auto& r : got ? *got : std::vector<log_row>{}) {
            out.push_back(r.seq);
        }
        return out;
    };
    log_query by_source;
    by_source.record = "case-5";
    EXPECT_EQ(seqs_of(by_source), std::vector<std::int64_t>{5});
    log_query by_target;
    by_target.record = "guid-7";
    EXPECT_EQ(seqs_of(by_target), std::vector<std::int64_t>{7});
    log_query recipient;
    recipient.recipient = "progres";
    recipient.flow = "to_dss";
    EXPECT_EQ(seqs_of(recipient), (std::vector<std::int64_t>{3, 6, 9, 12}));
    recipient.recipient = "dss";
    EXPECT_TRUE(seqs_of(recipient).empty());
    log_query by_outcome;
    by_outcome.outcome = "acknowledged";
    EXPECT_EQ(seqs_of(by_outcome).size(), 12u);
    by_outcome.outcome = "sent";
    EXPECT_TRUE(seqs_of(by_outcome).empty());
    log_query by_reason;
    by_reason.reason = "no_basis";
    EXPECT_TRUE(seqs_of(by_reason).empty());
    log_query newest;
    newest.newest_first = true;
    newest.limit = 3;
    newest.flow = "primero_to_ping";
    EXPECT_EQ(seqs_of(newest), (std::vector<std::int64_t>{11, 10, 8}));
}

TEST(checkpoint, json_round_trip_and_signature) {
    const auto key = signer::generate();
    checkpoint c{
        12, std::string(64, 'a'), "2025-03-01T08:00:00.000000Z", to_hex(key.public_key_raw()), ""};
    c.signature = base64_encode(key.sign(c.body()));
    auto back = checkpoint::from_json(c.to_json());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->size, 12);
    EXPECT_EQ(back->body(), c.body());
    EXPECT_TRUE(
        verify_signature(key.public_key_raw(), back->body(), *base64_decode(back->signature))
    );
    back->size = 13;
    EXPECT_FALSE(
        verify_signature(key.public_key_raw(), back->body(), *base64_decode(back->signature))
    );
    EXPECT_FALSE(checkpoint::from_json("{\"size\":\"x\"}"));
}

}  // namespace
}  // namespace casebridge::store
