// The proGres PING adapter against the PING sandbox over real HTTP on loopback.
#include "progres_ping/progres_ping_adapter.hpp"

#include <future>
#include <map>
#include <mutex>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "adapter/registry.hpp"
#include "canonical/canonical_case.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "json/json_schema.hpp"
#include "mapping/mapping.hpp"
#include "net/http_client.hpp"
#include "sandbox/ping/ping_sandbox.hpp"
#include "sandbox/ping/synthetic_interventions.hpp"
#include "support/fake_http_server.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::progres_ping {
namespace {

using namespace std::chrono_literals;
using rapidjson::Document;
using rapidjson::Value;
using sandbox::fault;

const std::filesystem::path source_dir = CASEBRIDGE_SOURCE_DIR;

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

Document parse(const std::string& text) {
    auto d = json::parse(text);
    EXPECT_TRUE(d) << "not JSON";
    return d ? std::move(*d) : Document();
}

Document golden(const std::string& path) {
    auto f = json::load_file(source_dir / "tests" / "golden" / path);
    Document d;
    d.CopyFrom(f.doc, d.GetAllocator());
    return d;
}

std::set<std::string> canonical_rows(const rapidjson::Value& rows) {
    std::set<std::string> out;
    for (const auto& r : rows.GetArray()) {
        out.insert(json::canonical(r));
    }
    return out;
}

class ping_adapter_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 1 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<sandbox::ping_sandbox> box;
    std::unique_ptr<http_client> http;

    void start(std::size_t interventions, sandbox::ping_settings s = {}) {
        s.interventions = interventions;
        s.seed = 11;
        if (s.page_rows == 50) {
            s.page_rows = 7;
        }
        box = std::make_unique<sandbox::ping_sandbox>(s, clock);
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 1s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
    }

    Document settings_json(bool async_referrals = false) {
        const auto pw = dir.write("ping-password", box->password() + "\n");
        const auto key = dir.write("ping-key", box->subscription_key() + "\n");
        auto d = parse(box->adapter_settings_json(pw.string(), key.string(), async_referrals));
        d.AddMember("status_interval_ms", 0, d.GetAllocator());
        return d;
    }

    settings config(bool async_referrals = false) {
        return settings_from_json(settings_json(async_referrals));
    }

    std::unique_ptr<progres_ping_adapter> make(settings s) {
        adapter_env env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
        return std::make_unique<progres_ping_adapter>(std::move(s), std::move(env));
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op), std::chrono::seconds(10));
    }

    std::vector<external_record> walk(
        progres_ping_adapter& a,
        std::optional<std::string>& cursor,
        const std::string& stream = "referrals",
        const std::function<void(int)>& between_pages = {}
    ) {
        std::vector<external_record> out;
        for (int i = 0; i < 10'000; ++i) {
            auto page = run(a.pull(stream, cursor));
            EXPECT_TRUE(page) << page.error().describe();
            if (!page) {
                break;
            }
            for (auto& r : page->records) {
                out.push_back(std::move(r));
            }
            cursor = page->next_cursor;
            if (!page->has_more) {
                break;
            }
            if (between_pages) {
                between_pages(i);
            }
        }
        return out;
    }

    // Every intervention exactly once, each with all of its distinct joined rows.
    void expect_each_intervention_whole_and_once(const std::vector<external_record>& got) {
        std::map<std::string, int> seen;
        for (const auto& r : got) {
            ++seen[r.remote_id];
            ASSERT_TRUE(r.body.IsArray()) << r.remote_id;
            const auto rows = box->intervention_rows(r.remote_id);
            ASSERT_TRUE(rows) << r.remote_id;
            const auto expected = canonical_rows(parse(*rows));
            EXPECT_EQ(canonical_rows(r.body), expected) << r.remote_id;
            EXPECT_EQ(r.body.Size(), expected.size()) << "duplicate rows kept: " << r.remote_id;
            EXPECT_EQ(r.stream, "referrals");
            EXPECT_TRUE(parse_rfc3339(r.updated_at)) << r.updated_at;
        }
        const auto ids = box->intervention_ids();
        EXPECT_EQ(seen.size(), ids.size());
        for (const auto& id : ids) {
            EXPECT_EQ(seen[id], 1) << "intervention " << id;
        }
    }

    static external_record referral(const std::string& source_key) {
        external_record r;
        r.stream = "referrals";
        r.source_key = source_key;
        r.body = golden("progres_ping.referral_out/out-referral.expected.json");
        return r;
    }

    /// An adapter whose asynchronous referral writes stay queued at PING (each checked
    /// `status_checks` times, still in progress) until process_queue().
    std::unique_ptr<progres_ping_adapter> queued_writes(int status_checks) {
        sandbox::ping_settings s;
        s.async_checks = 100;
        start(0, s);
        auto st = config(true);
        st.status_checks = status_checks;
        return make(st);
    }

    /// A transfer-status write for intervention `iv`: the golden body with its ids.
    external_record transfer_status_for(const std::string& iv) const {
        external_record st;
        st.stream = "transfer_status";
        st.body = golden("progres_ping.transfer_status/out-pending.expected.json");
        for (auto& f : st.body["Fields"].GetArray()) {
            const std::string name = f["Name"].GetString();
            if (name == "progres_lpinterventionid") {
                f["Value"].SetString(iv.c_str(), st.body.GetAllocator());
            } else if (name == "progres_businessunit") {
                f["Value"].SetString(box->ids().business_unit.c_str(), st.body.GetAllocator());
            }
        }
        return st;
    }

    std::size_t requests_to(std::string_view path) const {
        std::size_t n = 0;
        for (const auto& r : box->server().requests()) {
            n += r.target.find(path) != std::string::npos ? 1 : 0;
        }
        return n;
    }
};

TEST_F(ping_adapter_test, registry_and_config_schema) {
    adapter_registry registry;
    register_builtin_adapters(registry);
    ASSERT_NE(registry.find("progres_ping"), nullptr);
    const json::schema schema(config_schema(), "progres_ping");
    start(0);
    EXPECT_FALSE(schema.validate(settings_json(true)).has_value());
    // The example configuration's block.
    auto example = json::load_file(source_dir / "config" / "casebridge.example.jsonc");
    const auto& block = example.doc["systems"]["progres"]["settings"];
    const auto v = schema.validate(block);
    EXPECT_FALSE(v.has_value()) << v->pointer << ": " << v->message;
    EXPECT_NO_THROW(settings_from_json(block));

    auto bad = settings_json();
    bad["partner_id"].SetString("PNR 1/../x");
    EXPECT_TRUE(schema.validate(bad).has_value());
    auto no_lookup = settings_json();
    no_lookup["streams"]["referrals"]["push"].RemoveMember("lookup");
    EXPECT_FALSE(schema.validate(no_lookup).has_value());
    EXPECT_THROW(settings_from_json(no_lookup), std::invalid_argument);
    auto no_fetch = settings_json();
    no_fetch["streams"]["referrals"].RemoveMember("fetch");
    EXPECT_THROW(settings_from_json(no_fetch), std::invalid_argument);
    auto no_key = settings_json();
    no_key.RemoveMember("subscription_key_file");
    EXPECT_THROW(settings_from_json(no_key), std::invalid_argument);
    auto unknown_stream = settings_json();
    unknown_stream["streams"].AddMember(
        "cases", rapidjson::Value(rapidjson::kObjectType), unknown_stream.GetAllocator()
    );
    EXPECT_TRUE(schema.validate(unknown_stream).has_value());
}

TEST_F(ping_adapter_test, paging_across_several_pages_returns_each_intervention_whole_and_once) {
    start(60);
    auto a = make(config());
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor);
    expect_each_intervention_whole_and_once(got);
    // Page after page with the cookie of the page before.
    const auto requests = box->server().requests();
    std::size_t pages = 0;
    for (const auto& r : requests) {
        pages += r.target.find("retrievedatawithpaging") != std::string::npos ? 1 : 0;
    }
    EXPECT_GT(pages, 20u);
    EXPECT_EQ(requests_to("/oauth2/v2.0/token"), 1u);
    // Caught up: the next walk asks from the newest time seen (less the overlap) and finds
    // only what changed since then.
    auto again = run(a->pull("referrals", cursor));
    ASSERT_TRUE(again) << again.error().describe();
    EXPECT_FALSE(again->has_more);
    std::string newest;
    for (const auto& r : got) {
        newest = std::max(newest, r.updated_at);
    }
    for (const auto& r : again->records) {
        EXPECT_GE(r.updated_at, format_rfc3339(*parse_rfc3339(newest) - 60s));
    }
    EXPECT_LT(again->records.size(), 10u);
}

TEST_F(ping_adapter_test, incremental_walk_sees_a_change_after_the_cursor) {
    start(30);
    auto a = make(config());
    std::optional<std::string> cursor;
    std::string newest;
    for (const auto& r : walk(*a, cursor)) {
        newest = std::max(newest, r.updated_at);
    }
    const auto window = format_rfc3339(*parse_rfc3339(newest) - 60s);
    for (const auto& r : walk(*a, cursor)) {  // the overlap window, read again
        EXPECT_GE(r.updated_at, window);
    }
    clock.advance(10min);
    const auto id = box->intervention_ids()[3];
    box->touch_intervention(id);
    const auto got = walk(*a, cursor);
    std::size_t touched = 0;
    for (const auto& r : got) {
        if (r.remote_id == id) {
            ++touched;
            EXPECT_EQ(r.updated_at, format_rfc3339(clock.now()));
        } else {
            EXPECT_GE(r.updated_at, window);
        }
    }
    EXPECT_EQ(touched, 1u);
}

TEST_F(ping_adapter_test, no_data_available_is_an_empty_page) {
    start(0);
    auto a = make(config());
    auto page = run(a->pull("referrals", std::nullopt));
    ASSERT_TRUE(page) << page.error().describe();
    EXPECT_TRUE(page->records.empty());
    EXPECT_FALSE(page->has_more);
    auto decisions = run(a->pull("decisions", std::nullopt));
    ASSERT_TRUE(decisions) << decisions.error().describe();
    EXPECT_TRUE(decisions->records.empty());
}

TEST_F(ping_adapter_test, joined_rows_group_into_valid_canonical_cases) {
    start(40);
    auto a = make(config());
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor);
    ASSERT_EQ(got.size(), 40u);
    const auto& m = mapping_named("progres_ping.referral_in");
    ASSERT_TRUE(m.groups_rows());
    std::size_t with_duplicate_rows = 0;
    std::size_t multi_language = 0;
    for (const auto& r : got) {
        const auto raw = parse(*box->intervention_rows(r.remote_id));
        with_duplicate_rows += raw.Size() > r.body.Size() ? 1 : 0;
        auto groups = m.group(r.body);
        ASSERT_TRUE(groups) << groups.error().to_json();
        ASSERT_EQ(groups->size(), 1u) << r.remote_id;
        auto c = m.map_in((*groups)[0], mapping::map_context{clock.now()});
        ASSERT_TRUE(c) << c.error().to_json();
        // Every field is in the catalogue, every code in its value set.
        for (const auto& f : c->GetObject()) {
            const auto* def = catalogue().find(f.name.GetString());
            ASSERT_NE(def, nullptr) << f.name.GetString();
            if (def->type == field_type::code_list) {
                std::set<std::string> codes;
                for (const auto& v : f.value.GetArray()) {
                    EXPECT_TRUE(def->allows(v.GetString())) << v.GetString();
                    EXPECT_TRUE(codes.insert(v.GetString()).second) << "listed twice";
                }
            }
        }
        // Languages and specific needs are aggregated, each once.
        std::set<std::string> languages;
        std::set<std::string> needs;
        for (const auto& row : raw.GetArray()) {
            if (row[sandbox::language_column].IsString()) {
                languages.insert(row[sandbox::language_column].GetString());
            }
            if (row[sandbox::need_column].IsString()) {
                needs.insert(row[sandbox::need_column].GetString());
            }
        }
        EXPECT_EQ((*c)["language"].Size(), languages.size()) << r.remote_id;
        multi_language += languages.size() > 1 ? 1 : 0;
        const auto& service = (*c)["services_section"][0];
        EXPECT_EQ(std::string(service["progres_lpinterventionid"].GetString()), r.remote_id);
        const auto needs_size =
            service.HasMember("specific_needs_codes") ? service["specific_needs_codes"].Size() : 0;
        EXPECT_EQ(needs_size, needs.size()) << r.remote_id;
    }
    EXPECT_GT(with_duplicate_rows, 0u);  // the sandbox sent duplicate joined rows
    EXPECT_GT(multi_language, 0u);
}

TEST_F(ping_adapter_test, an_intervention_straddling_page_boundaries_comes_back_whole_once) {
    start(12);
    const auto ids = box->intervention_ids();
    // 3 languages × 4 needs + a duplicate = 13 rows: longer than a 7-row page, so it starts on
    // one page, fills the next and ends on a third.
    box->set_joined_lists(
        ids[2], {"Rohingya", "Bengali", "Burmese"}, {"SC-UC", "CR-LW", "DS-V", "SM-CI"}, true
    );
    box->set_joined_lists(ids[3], {"Rohingya", "English"}, {"SC-SC", "LP-AN"}, false);
    auto a = make(config());
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor);
    expect_each_intervention_whole_and_once(got);
    for (const auto& r : got) {
        if (r.remote_id == ids[2]) {
            EXPECT_EQ(r.body.Size(), 12u);
        }
    }
    // The straddling records were read again with the detail query.
    EXPECT_GE(requests_to("/retrievedatawithpaging"), 4u);
}

TEST_F(ping_adapter_test, fetch_reads_one_record_fresh) {
    start(5);
    const auto id = box->intervention_ids()[1];
    box->set_joined_lists(id, {"Rohingya", "Bengali"}, {"SC-UC", "CR-LW", "DS-V", "SM-CI"}, true);
    auto a = make(config());
    auto rec = run(a->fetch("referrals", id));
    ASSERT_TRUE(rec) << rec.error().describe();
    EXPECT_EQ(rec->remote_id, id);
    EXPECT_EQ(rec->body.Size(), 8u);  // 9 rows across two pages, one a duplicate
    auto missing = run(a->fetch("referrals", "0e1f2a3b-0000-4000-8000-000000000000"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, make_error_code(errc::not_found));
    EXPECT_EQ(missing.error().record_id, "0e1f2a3b-0000-4000-8000-000000000000");
    auto wrong = run(a->fetch("cases", id));
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, make_error_code(errc::not_found));
}

TEST_F(ping_adapter_test, token_is_renewed_before_expiry_mid_run) {
    sandbox::ping_settings s;
    s.token_lifetime = 600s;
    start(50, s);
    auto a = make(config());
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor, "referrals", [&](int page) {
        if (page == 2) {
            clock.advance(8min);  // inside the renewal margin (min(300 s, lifetime / 2))
        }
    });
    expect_each_intervention_whole_and_once(got);
    EXPECT_EQ(box->tokens_issued(), 2u);
    for (const auto& r : box->server().requests()) {
        EXPECT_EQ(
            r.headers.count("authorization") + r.headers.count("ocp-apim-subscription-key"),
            r.target.find("/oauth2/") != std::string::npos ? 0u : 2u
        ) << r.target;
    }
}

TEST_F(ping_adapter_test, concurrent_calls_share_one_token_request) {
    start(20);
    auto a = make(config());
    std::vector<std::future<remote_result<pull_page>>> calls;
    for (int i = 0; i < 4; ++i) {
        calls.push_back(net::co_spawn(ctx, a->pull("referrals", std::nullopt), net::use_future));
    }
    ctx.restart();
    for (auto& c : calls) {
        while (c.wait_for(0s) != std::future_status::ready && ctx.run_one_for(10s) != 0) {
        }
    }
    for (auto& c : calls) {
        ASSERT_EQ(c.wait_for(0s), std::future_status::ready);
        auto r = c.get();
        EXPECT_TRUE(r) << r.error().describe();
    }
    EXPECT_EQ(box->tokens_issued(), 1u);
}

// Writes in flight together when the token runs out: on the clock (renewal due) or at the
// gateway (revoked, one refusal answered late, after the renewal): each write succeeds, and
// each expiry costs exactly one token request.
TEST_F(ping_adapter_test, concurrent_writes_across_token_expiries_share_one_renewal_each) {
    sandbox::ping_settings s;
    s.token_lifetime = 600s;
    start(12, s);
    auto a = make(config());
    const auto ids = box->intervention_ids();
    ASSERT_EQ(ids.size(), 12u);
    const auto write = [&](const std::string& iv) { return a->push(transfer_status_for(iv)); };
    const auto write_together = [&](std::size_t from, std::size_t n) {
        std::vector<std::future<remote_result<std::string>>> calls;
        for (std::size_t i = from; i < from + n; ++i) {
            calls.push_back(net::co_spawn(ctx, write(ids[i]), net::use_future));
        }
        ctx.restart();
        for (auto& c : calls) {
            while (c.wait_for(0s) != std::future_status::ready && ctx.run_one_for(10s) != 0) {
            }
        }
        for (std::size_t i = 0; i < n; ++i) {
            ASSERT_EQ(calls[i].wait_for(0s), std::future_status::ready) << "write " << i;
            auto r = calls[i].get();
            ASSERT_TRUE(r) << r.error().describe();
            EXPECT_EQ(*r, ids[from + i]);
        }
    };
    write_together(0, 4);
    EXPECT_EQ(box->tokens_issued(), 1u);

    clock.advance(8min);  // inside the renewal margin
    write_together(4, 4);
    EXPECT_EQ(box->tokens_issued(), 2u);

    box->revoke_tokens();
    box->server().inject(fault::delayed(300ms));  // its 401 arrives after the renewal
    write_together(8, 4);
    EXPECT_EQ(box->tokens_issued(), 3u);
    EXPECT_EQ(box->token_refusals(), 0u);
    for (const auto& iv : ids) {
        EXPECT_EQ(box->transfer_status(iv), 125080002) << iv;
    }
}

TEST_F(ping_adapter_test, a_token_refused_mid_run_is_renewed_once_and_the_page_resent) {
    start(40);
    auto a = make(config());
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor, "referrals", [&](int page) {
        if (page == 1) {
            box->revoke_tokens();  // an expiry the adapter could not foresee
        }
        if (page == 3) {
            clock.advance(2h);  // past the lifetime: renewed before the next call
        }
    });
    expect_each_intervention_whole_and_once(got);
    EXPECT_EQ(box->tokens_issued(), 3u);
}

TEST_F(ping_adapter_test, synchronous_write_returns_the_new_referral) {
    start(0);
    auto a = make(config(false));
    auto id = run(a->push(referral("flow-referrals/cpims/case-1/svc-1")));
    ASSERT_TRUE(id) << id.error().describe();
    ASSERT_EQ(box->referral_count(), 1u);
    EXPECT_EQ(*id, box->referral_ids()[0]);
    auto fields = parse(*box->referral_fields(*id));
    // Deployment ids from the config replaced the mapping's example constants.
    EXPECT_EQ(std::string(fields["progres_businessunit"].GetString()), box->ids().business_unit);
    EXPECT_EQ(std::string(fields["progres_organizationfrom"].GetString()), box->ids().organization);
    const std::string key =
        progres_ping_adapter::correlation_key_for("referrals", "flow-referrals/cpims/case-1/svc-1");
    EXPECT_EQ(std::string(fields[box->ids().correlation_field.c_str()].GetString()), key);
    EXPECT_EQ(std::string(fields["progres_pocfirstname"].GetString()), "Nur");
    EXPECT_EQ(requests_to("/checkstatus/"), 0u);
    // The same key found again, and nothing else.
    auto found = run(a->lookup("referrals", "flow-referrals/cpims/case-1/svc-1"));
    ASSERT_TRUE(found) << found.error().describe();
    ASSERT_TRUE(*found);
    EXPECT_EQ(**found, *id);
    auto none = run(a->lookup("referrals", "flow-referrals/cpims/case-1/svc-2"));
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    EXPECT_FALSE(a->idempotent_create());
}

TEST_F(ping_adapter_test, asynchronous_write_is_followed_by_checkstatus) {
    sandbox::ping_settings s;
    s.async_checks = 2;  // InProgress twice, then done
    start(0, s);
    auto a = make(config(true));
    auto id = run(a->push(referral("flow-referrals/cpims/case-2/svc-1")));
    ASSERT_TRUE(id) << id.error().describe();
    EXPECT_EQ(*id, box->referral_ids().at(0));
    EXPECT_EQ(requests_to("/asyncdata"), 1u);
    EXPECT_EQ(requests_to("/checkstatus/"), 3u);
    EXPECT_EQ(box->items_received(), 1u);
}

TEST_F(ping_adapter_test, an_async_write_still_queued_is_not_sent_again) {
    auto a = queued_writes(2);
    auto first = run(a->push(referral("k/1")));
    ASSERT_FALSE(first);
    EXPECT_TRUE(first.error().transient()) << first.error().describe();
    EXPECT_NE(first.error().detail.find("in progress"), std::string::npos);
    EXPECT_EQ(
        first.error().record_id, progres_ping_adapter::correlation_key_for("referrals", "k/1")
    );
    auto looked = run(a->lookup("referrals", "k/1"));
    ASSERT_FALSE(looked);  // still unknown: wait
    EXPECT_TRUE(looked.error().transient());
    box->process_queue();
    auto again = run(a->push(referral("k/1")));
    ASSERT_TRUE(again) << again.error().describe();
    EXPECT_EQ(box->referral_count(), 1u);
    EXPECT_EQ(requests_to("/asyncdata"), 1u);
}

// Two look-ups of one queued write that PING then fails, in flight together: the first to
// hear the outcome drops the pending entry; the other must not touch the entry it found before
// its own status check.
TEST_F(ping_adapter_test, concurrent_lookups_of_a_failed_queued_write_both_answer_nothing_written) {
    auto a = queued_writes(1);
    auto bad = referral("k/f");
    Value extra(rapidjson::kObjectType);
    extra.AddMember("Name", "progres_notafield", bad.body.GetAllocator());
    extra.AddMember("Value", "x", bad.body.GetAllocator());
    bad.body["Fields"].PushBack(extra, bad.body.GetAllocator());
    auto first = run(a->push(std::move(bad)));
    ASSERT_FALSE(first);
    EXPECT_NE(first.error().detail.find("in progress"), std::string::npos);
    box->process_queue();  // the item fails: a field not defined for the shipping process

    auto l1 = net::co_spawn(ctx, a->lookup("referrals", "k/f"), net::use_future);
    auto l2 = net::co_spawn(ctx, a->lookup("referrals", "k/f"), net::use_future);
    ctx.restart();
    for (auto* f : {&l1, &l2}) {
        while (f->wait_for(0s) != std::future_status::ready && ctx.run_one_for(10s) != 0) {
        }
        ASSERT_EQ(f->wait_for(0s), std::future_status::ready);
    }
    for (auto* f : {&l1, &l2}) {
        auto r = f->get();
        ASSERT_TRUE(r) << r.error().describe();
        EXPECT_FALSE(*r);  // nothing was written: sending again is safe
    }
    EXPECT_EQ(requests_to("checkstatus"), 3u);  // one in the write, one per look-up
    // Sent again (queued, as the first), then found once processed.
    auto again = run(a->push(referral("k/f")));
    EXPECT_EQ(requests_to("/asyncdata"), 2u);
    ASSERT_FALSE(again);
    EXPECT_TRUE(again.error().transient());
    box->process_queue();
    auto found = run(a->lookup("referrals", "k/f"));
    ASSERT_TRUE(found) << found.error().describe();
    ASSERT_TRUE(*found);
    EXPECT_EQ(box->referral_ids(), std::vector<std::string>{**found});
}

TEST_F(ping_adapter_test, lookup_after_a_lost_answer_finds_the_record_so_nothing_is_sent_twice) {
    start(0);
    auto a = make(config(false));
    ASSERT_TRUE(run(a->probe()));
    box->server().inject(fault::lost());  // applied, then the connection drops
    auto first = run(a->push(referral("flow/x/case-9/svc-3")));
    ASSERT_FALSE(first);
    EXPECT_TRUE(first.error().transient()) << first.error().describe();
    EXPECT_EQ(box->referral_count(), 1u);
    // What the engine does after an ambiguous outcome: look up before sending again.
    auto found = run(a->lookup("referrals", "flow/x/case-9/svc-3"));
    ASSERT_TRUE(found) << found.error().describe();
    ASSERT_TRUE(*found);
    EXPECT_EQ(**found, box->referral_ids()[0]);
    // And a push for the same key (say, after a restart of the engine's loop) writes nothing.
    auto again = run(a->push(referral("flow/x/case-9/svc-3")));
    ASSERT_TRUE(again) << again.error().describe();
    EXPECT_EQ(*again, **found);
    EXPECT_EQ(box->referral_count(), 1u);
    EXPECT_EQ(box->items_received(), 1u);
    EXPECT_EQ(
        box->referrals_with(
            box->ids().correlation_field,
            progres_ping_adapter::correlation_key_for("referrals", "flow/x/case-9/svc-3")
        ),
        1u
    );
}

TEST_F(ping_adapter_test, a_lost_async_answer_waits_for_the_queue_before_answering_lookup) {
    start(0);
    auto a = make(config(true));
    ASSERT_TRUE(run(a->probe()));
    box->server().inject(fault::lost());
    auto first = run(a->push(referral("flow/y/1")));
    ASSERT_FALSE(first);
    EXPECT_EQ(box->transactions_queued(), 1u);
    auto early = run(a->lookup("referrals", "flow/y/1"));
    ASSERT_FALSE(early);
    EXPECT_EQ(early.error().code, make_error_code(errc::rate_limited));
    ASSERT_TRUE(early.error().retry_after);
    EXPECT_GT(*early.error().retry_after, 0s);
    clock.advance(45s);  // PING processed its queue meanwhile
    auto found = run(a->lookup("referrals", "flow/y/1"));
    ASSERT_TRUE(found) << found.error().describe();
    ASSERT_TRUE(*found);
    EXPECT_EQ(box->referral_count(), 1u);
    // A key never written is reported as such.
    auto none = run(a->lookup("referrals", "flow/y/2"));
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
}

TEST_F(ping_adapter_test, decisions_and_transfer_status_write_backs) {
    start(6);
    auto a = make(config(false));
    auto ref = run(a->push(referral("flow/r/1")));
    ASSERT_TRUE(ref);
    clock.advance(1h);
    ASSERT_TRUE(box->decide(*ref, false));
    std::optional<std::string> cursor;
    auto decisions = walk(*a, cursor, "decisions");
    ASSERT_EQ(decisions.size(), 1u);
    EXPECT_EQ(decisions[0].remote_id, *ref);
    ASSERT_TRUE(decisions[0].body.IsObject());
    const auto& m = mapping_named("progres_ping.decision_in");
    auto c = m.map_in(decisions[0].body, mapping::map_context{clock.now()});
    ASSERT_TRUE(c) << c.error().to_json();
    EXPECT_STREQ((*c)["services_section"][0]["unhcr_referral_status"].GetString(), "rejected");
    auto fresh = run(a->fetch("decisions", *ref));
    ASSERT_TRUE(fresh) << fresh.error().describe();

    // The delivery state of an intervention that came from proGres.
    const auto iv = box->intervention_ids()[0];
    auto st = transfer_status_for(iv);
    st.source_key = "flow/t/" + iv;
    auto written = run(a->push(std::move(st)));
    ASSERT_TRUE(written) << written.error().describe();
    EXPECT_EQ(*written, iv);
    EXPECT_EQ(box->transfer_status(iv), 125080002);
    // An update stream: repeating it is safe, so lookup never blocks a resend.
    auto lk = run(a->lookup("transfer_status", "flow/t/" + iv));
    ASSERT_TRUE(lk);
    EXPECT_FALSE(*lk);

    // An update PING refuses is a permanent error naming the record.
    external_record bad;
    bad.stream = "decisions";
    bad.remote_id = "9a9a9a9a-0000-4000-8000-000000000000";
    bad.body = golden("progres_ping.decision_out/out-accepted.expected.json");
    auto refused = run(a->push(std::move(bad)));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::remote_rejected));
    EXPECT_FALSE(refused.error().transient());
    EXPECT_EQ(refused.error().record_id, "9a9a9a9a-0000-4000-8000-000000000000");
    EXPECT_NE(refused.error().detail.find("No record found"), std::string::npos)
        << refused.error().detail;

    // A value the remote quotes in its message does not reach the error.
    auto odd = transfer_status_for(iv);
    for (auto& f : odd.body["Fields"].GetArray()) {
        if (f["Name"] == "progres_primerotransferstatus") {
            f["Value"].SetString("125089999", odd.body.GetAllocator());
        }
    }
    auto quoted = run(a->push(std::move(odd)));
    ASSERT_FALSE(quoted);
    EXPECT_EQ(quoted.error().code, make_error_code(errc::remote_rejected));
    EXPECT_NE(quoted.error().detail.find("not a valid option"), std::string::npos)
        << quoted.error().detail;
    EXPECT_EQ(quoted.error().describe().find("125089999"), std::string::npos)
        << quoted.error().describe();

    // The referral stream only creates: an update of an existing referral is refused.
    auto update = referral("k/u");
    update.remote_id = *ref;
    auto no_update = run(a->push(std::move(update)));
    ASSERT_FALSE(no_update);
    EXPECT_EQ(no_update.error().code, make_error_code(errc::invalid_config));
    EXPECT_EQ(no_update.error().record_id, *ref);
    EXPECT_EQ(box->referral_count(), 1u);
}

// PING and its gateway may echo a value in a message, quoted or not: only known phrases reach
// the error, anything else is withheld but for the field names it mentions.
TEST_F(ping_adapter_test, remote_messages_keep_known_phrases_and_withhold_anything_else) {
    start(0);
    const std::string sentinel = "Zarina Sentinel-7731";
    std::mutex mutex;
    test::reply next;  // the answer to the next API call (the token endpoint always answers)
    const auto answer = [&](unsigned status, std::string body) {
        std::lock_guard lock(mutex);
        next = test::reply{status, std::move(body), "application/json", {}};
    };
    test::fake_http_server remote([&](const test::recorded_request& req) {
        if (req.target.find("/token") != std::string::npos) {
            if (req.body.find("password=refuse-me") != std::string::npos) {
                return test::reply{
                    400,
                    R"({"error":")" + sentinel + R"(","error_description":")" + sentinel + R"("})"};
            }
            return test::reply{200, R"({"access_token":"tok-1","expires_in":"3600"})"};
        }
        std::lock_guard lock(mutex);
        return next;
    });
    auto s = config();
    s.base_url = remote.base_url();
    s.token_url = remote.base_url() + "/token";
    auto a = make(s);
    const std::string id_field = s.streams.at("referrals").id_field;
    std::vector<std::string> details;
    const auto expect_clean = [&](const remote_error& e) {
        EXPECT_EQ(e.describe().find("Zarina"), std::string::npos) << e.describe();
        EXPECT_EQ(e.describe().find("7731"), std::string::npos) << e.describe();
        details.push_back(e.detail);
    };

    // An unquoted value in PING's ErrorMessage, with a configured field name.
    answer(
        400,
        R"({"Data":null,"ErrorMessage":"Entry )" + sentinel + " in " + id_field +
            R"( is malformed","RecordCount":0})"
    );
    auto pulled = run(a->pull("referrals", std::nullopt));
    ASSERT_FALSE(pulled);
    expect_clean(pulled.error());
    EXPECT_EQ(pulled.error().detail, "remote message withheld [" + id_field + "]");

    // The same on a 200 answer.
    answer(200, R"({"Data":null,"ErrorMessage":"No access to )" + sentinel + R"("})");
    auto pulled200 = run(a->pull("referrals", std::nullopt));
    ASSERT_FALSE(pulled200);
    EXPECT_EQ(pulled200.error().code, make_error_code(errc::remote_rejected));
    expect_clean(pulled200.error());
    EXPECT_EQ(pulled200.error().detail, "remote message withheld");

    // A known phrase is kept; a value it quotes is not.
    answer(
        429, R"({"statusCode":429,"message":"Rate limit is exceeded. Try again in 7 seconds."})"
    );
    auto limited = run(a->pull("referrals", std::nullopt));
    ASSERT_FALSE(limited);
    EXPECT_EQ(limited.error().detail, "Rate limit is exceeded. Try again in 7 seconds.");

    // A failed status item: field names of the written record are kept, the value is not.
    external_record st;
    st.stream = "transfer_status";
    st.remote_id = "68b20e2a-4879-ee11-8179-000d3a43f6eb";
    st.body = golden("progres_ping.transfer_status/out-pending.expected.json");
    const auto status_answer = [&](const std::string& message) {
        Document item(rapidjson::kObjectType);
        auto& ia = item.GetAllocator();
        item.AddMember("ExternalId", Value(st.remote_id.c_str(), ia), ia);
        item.AddMember("Status", "Failed", ia);
        item.AddMember("Message", Value(message.c_str(), ia), ia);
        Document list(rapidjson::kArrayType);
        list.PushBack(Value(item, list.GetAllocator()), list.GetAllocator());
        Document d(rapidjson::kObjectType);
        d.AddMember(
            "Data", Value(json::to_string(list).c_str(), d.GetAllocator()), d.GetAllocator()
        );
        answer(200, json::to_string(d));
    };
    status_answer("progres_primerotransferstatusdate " + sentinel + " is in the future");
    Document copy;
    copy.CopyFrom(st.body, copy.GetAllocator());
    auto failed = run(a->push(std::move(st)));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, make_error_code(errc::remote_rejected));
    expect_clean(failed.error());
    EXPECT_EQ(
        failed.error().detail,
        "PING reports the write as failed: remote message withheld "
        "[progres_primerotransferstatusdate]"
    );

    status_answer(
        "Value '" + sentinel + "' is not a valid option for progres_primerotransferstatus."
    );
    external_record again;
    again.stream = "transfer_status";
    again.remote_id = "68b20e2a-4879-ee11-8179-000d3a43f6eb";
    again.body.CopyFrom(copy, again.body.GetAllocator());
    auto option = run(a->push(std::move(again)));
    ASSERT_FALSE(option);
    expect_clean(option.error());
    EXPECT_EQ(
        option.error().detail,
        "PING reports the write as failed: Value '...' is not a valid option for "
        "progres_primerotransferstatus."
    );

    // An attachment's "Name" is a file name, a value: a message naming it is withheld.
    const std::string file_name = "Zarina_Sentinel-7731.pdf";
    status_answer("Value 'x' is not a valid option for " + file_name + ".");
    external_record attached;
    attached.stream = "transfer_status";
    attached.remote_id = "68b20e2a-4879-ee11-8179-000d3a43f6eb";
    attached.body.CopyFrom(copy, attached.body.GetAllocator());
    auto& aa = attached.body.GetAllocator();
    Value file(rapidjson::kObjectType);
    file.AddMember("Name", Value(file_name.c_str(), aa), aa);
    file.AddMember("Content", "", aa);
    Value files(rapidjson::kArrayType);
    files.PushBack(file, aa);
    attached.body.RemoveMember("Attachments");
    attached.body.AddMember("Attachments", files, aa);
    auto named = run(a->push(std::move(attached)));
    ASSERT_FALSE(named);
    expect_clean(named.error());
    EXPECT_EQ(
        named.error().detail, "PING reports the write as failed: remote message withheld [Value]"
    );

    // An error code of a refused token request is kept only when it is an OAuth code.
    auto refused_settings = s;
    refused_settings.password.file = dir.write("refused-password", "refuse-me\n");
    auto b = make(refused_settings);
    auto refused = run(b->probe());
    ASSERT_FALSE(refused);
    expect_clean(refused.error());
    EXPECT_EQ(refused.error().detail, "token request refused");

    EXPECT_EQ(sink.text().find("Zarina"), std::string::npos);
    EXPECT_EQ(details.size(), 6u);
}

TEST_F(ping_adapter_test, a_field_list_with_the_correlation_field_or_not_a_field_list_is_refused) {
    start(0);
    auto a = make(config(false));
    auto r = referral("k/9");
    auto& al = r.body.GetAllocator();
    rapidjson::Value f(rapidjson::kObjectType);
    f.AddMember("Name", rapidjson::Value(box->ids().correlation_field.c_str(), al), al);
    f.AddMember("Value", "x", al);
    r.body["Fields"].PushBack(f, al);
    auto refused = run(a->push(std::move(r)));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::mapping_failed));
    external_record obj;
    obj.stream = "referrals";
    obj.source_key = "k/10";
    obj.body = parse(R"({"name_first":"x"})");
    auto not_list = run(a->push(std::move(obj)));
    ASSERT_FALSE(not_list);
    EXPECT_EQ(not_list.error().code, make_error_code(errc::mapping_failed));
    EXPECT_EQ(box->server().request_count(), 0u);
}

TEST_F(ping_adapter_test, every_transient_fault_is_reported_once_and_recovered_by_calling_again) {
    start(5);
    auto a = make(config(false));
    ASSERT_TRUE(run(a->probe()));
    const std::vector<std::pair<fault, errc>> faults = {
        {fault::error(503, "30"), errc::rate_limited},
        {fault::error(500), errc::remote_unavailable},
        {fault::error(502), errc::remote_unavailable},
        {fault::error(504), errc::remote_unavailable},
        {fault::too_many_requests("2"), errc::rate_limited},
        {fault::reset(), errc::remote_unavailable},
        {fault::truncated(), errc::remote_unavailable},
        {fault::malformed(), errc::bad_payload},
        {fault::delayed(1500ms), errc::remote_unavailable},  // over the 1 s request deadline
    };
    for (const auto& [f, expected] : faults) {
        box->server().inject(f);
        const auto before = box->server().request_count();
        auto r = run(a->pull("referrals", std::nullopt));
        ASSERT_FALSE(r) << "fault kind " << static_cast<int>(f.kind);
        EXPECT_EQ(r.error().code, make_error_code(expected)) << r.error().describe();
        EXPECT_EQ(
            r.error().transient(),
            expected == errc::remote_unavailable || expected == errc::rate_limited
        );
        EXPECT_EQ(box->server().request_count(), before + 1) << "the adapter must not retry";
        if (f.kind == sandbox::fault_kind::rate_limit) {
            ASSERT_TRUE(r.error().retry_after);
            EXPECT_EQ(*r.error().retry_after, 2s);
        }
        auto ok = run(a->pull("referrals", std::nullopt));
        ASSERT_TRUE(ok) << ok.error().describe();
    }
    // A refused write leaves nothing behind: the next push writes exactly once.
    box->server().inject(fault::error(503, "5"));
    auto w = run(a->push(referral("k/503")));
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, make_error_code(errc::rate_limited));
    EXPECT_EQ(w.error().http_status, 503u);
    EXPECT_EQ(box->referral_count(), 0u);
    auto found = run(a->lookup("referrals", "k/503"));
    ASSERT_TRUE(found);
    EXPECT_FALSE(*found);
    ASSERT_TRUE(run(a->push(referral("k/503"))));
    EXPECT_EQ(box->referral_count(), 1u);
    // A transient failure of the token request is reported as such.
    box->revoke_tokens();
    clock.advance(2h);
    box->server().inject(fault::error(502));
    auto t = run(a->probe());
    ASSERT_FALSE(t);
    EXPECT_TRUE(t.error().transient());
    EXPECT_TRUE(run(a->probe()));
}

TEST_F(ping_adapter_test, a_missing_or_wrong_subscription_key_is_an_auth_error) {
    start(3);
    auto s = config();
    s.subscription_key.file = dir / "no-such-key";
    auto a = make(s);
    auto r = run(a->pull("referrals", std::nullopt));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
    EXPECT_FALSE(r.error().transient());
    EXPECT_EQ(requests_to("retrievedatawithpaging"), 0u);

    auto w = config();
    w.subscription_key.file = dir.write("wrong-key", "0123456789abcdef0123456789abcdef\n");
    auto b = make(w);
    auto refused = run(b->pull("referrals", std::nullopt));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::auth_failed));
    EXPECT_EQ(refused.error().http_status, 401u);
    EXPECT_NE(refused.error().detail.find("invalid subscription key"), std::string::npos)
        << refused.error().detail;
    EXPECT_EQ(requests_to("retrievedatawithpaging"), 2u);  // one new token, one resend
}

TEST_F(ping_adapter_test, a_refused_password_is_tried_at_most_twice) {
    start(3);
    auto s = config();
    s.password.file = dir.write("wrong-password", "not-the-password\n");
    auto a = make(s);
    for (int i = 0; i < 4; ++i) {
        auto r = run(a->probe());
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
        EXPECT_FALSE(r.error().transient());
        if (i < 2) {
            EXPECT_NE(r.error().detail.find("invalid_grant"), std::string::npos)
                << r.error().detail;
        }
    }
    EXPECT_EQ(box->token_refusals(), 2u);
    dir.write("wrong-password", box->password() + "\n");  // fixed
    EXPECT_TRUE(run(a->probe()));
}

TEST_F(ping_adapter_test, logs_and_errors_carry_no_secret_or_value) {
    start(20);
    auto a = make(config(true));
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor);
    ASSERT_TRUE(run(a->push(referral("k/log"))));
    box->server().inject(fault::error(422));
    auto e = run(a->push(referral("k/log2")));
    ASSERT_FALSE(e);
    const std::string text = sink.text() + e.error().describe();
    EXPECT_NE(text.find("ping.token"), std::string::npos);
    EXPECT_EQ(text.find(box->password()), std::string::npos);
    EXPECT_EQ(text.find(box->subscription_key()), std::string::npos);
    EXPECT_EQ(text.find("eyJ"), std::string::npos);
    for (const auto& r : got) {
        const std::string given =
            r.body[0]["progres_individual.individuals.progres_givenname"].GetString();
        EXPECT_EQ(text.find(given), std::string::npos) << given;
    }
    EXPECT_EQ(text.find("Nur"), std::string::npos);
}

}  // namespace
}  // namespace casebridge::progres_ping
