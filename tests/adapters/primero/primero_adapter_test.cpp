// The Primero adapter against the Primero sandbox over real HTTP on loopback.
#include "primero/primero_adapter.hpp"

#include <future>
#include <map>
#include <mutex>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "adapter/registry.hpp"
#include "core/uuid.hpp"
#include "json/json.hpp"
#include "json/json_schema.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "support/fake_http_server.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::primero {
namespace {

using namespace std::chrono_literals;
using sandbox::fault;

/// Another machine's clock: `offset` from `base`, which the test moves.
class offset_clock final : public clock_source {
public:
    offset_clock(const clock_source& base, std::chrono::seconds offset)
        : base_(base), offset_(offset) {}
    time_point now() const override { return base_.now() + offset_; }
    std::chrono::steady_clock::time_point steady_now() const override { return base_.steady_now(); }

private:
    const clock_source& base_;
    std::chrono::seconds offset_;
};

class primero_adapter_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 1 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<sandbox::primero_sandbox> box;
    std::unique_ptr<http_client> http;

    void start(std::size_t cases, sandbox::primero_settings s = {}) {
        s.cases = cases;
        s.seed = 7;
        box = std::make_unique<sandbox::primero_sandbox>(s, clock);
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 1s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
    }

    settings basic_settings(int per = 1000) {
        settings s;
        s.base_url = box->base_url();
        s.user_name = box->user_name();
        s.password.file = dir.write("password", box->password() + "\n");
        s.per_page = per;
        return s;
    }

    std::unique_ptr<primero_adapter> make(settings s) {
        adapter_env env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
        return std::make_unique<primero_adapter>(std::move(s), std::move(env));
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op), std::chrono::seconds(10));
    }

    // Pulls until caught up; returns the records and leaves `cursor` at the resume point.
    std::vector<external_record> walk(primero_adapter& a, std::optional<std::string>& cursor) {
        std::vector<external_record> out;
        for (int i = 0; i < 100'000; ++i) {
            auto page = run(a.pull("cases", cursor));
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
        }
        return out;
    }

    void expect_each_case_once(const std::vector<external_record>& got) {
        std::multiset<std::string> ids;
        for (const auto& r : got) {
            ids.insert(r.remote_id);
        }
        const auto all = box->case_ids();
        EXPECT_EQ(got.size(), all.size());
        for (const auto& id : all) {
            EXPECT_EQ(ids.count(id), 1u) << "case " << id;
        }
    }

    /// Changes one field of case `id` through the adapter (a new last_updated_at).
    void raise_risk(primero_adapter& a, const std::string& id) {
        external_record change;
        change.remote_id = id;
        change.body = body(R"({"risk_level":"high"})");
        auto pushed = run(a.push(std::move(change)));
        ASSERT_TRUE(pushed) << pushed.error().describe();
    }

    static rapidjson::Document body(const std::string& text) {
        auto d = json::parse(text);
        EXPECT_TRUE(d);
        return std::move(*d);
    }
};

TEST_F(primero_adapter_test, full_walk_of_5000_cases_with_per_1000) {
    start(5000);
    auto a = make(basic_settings(1000));
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor);
    expect_each_case_once(got);
    std::size_t disabled = 0;
    for (const auto& r : got) {
        disabled += r.disabled ? 1 : 0;
        EXPECT_FALSE(r.updated_at.empty());
    }
    EXPECT_GT(disabled, 0u);  // record_state false is seen and reported
    const auto requests = box->server().requests();
    EXPECT_NE(
        requests.front().target.find("last_updated_at=0000-01-01T00:00:00Z.."), std::string::npos
    ) << requests.front().target;
    // Every request stays inside one closed window: the same upper bound throughout.
    const auto end_of = [](const std::string& t) {
        const auto dots = t.find("..");
        return t.substr(dots + 2, 20);
    };
    for (const auto& req : requests) {
        if (req.target.find("order_by=last_updated_at") != std::string::npos) {
            EXPECT_EQ(end_of(req.target), end_of(requests.front().target)) << req.target;
        }
    }
    EXPECT_LT(box->server().request_count(), 20u);
    // Caught up: the next pull asks for the window after the last one and finds nothing.
    auto again = run(a->pull("cases", cursor));
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->records.empty());
    EXPECT_FALSE(again->has_more);
}

TEST_F(primero_adapter_test, full_walk_of_5000_cases_with_the_default_per) {
    start(5000);
    auto a = make(basic_settings(20));
    std::optional<std::string> cursor;
    const auto got = walk(*a, cursor);
    expect_each_case_once(got);
    const auto first = box->server().requests().front().target;
    EXPECT_NE(first.find("order_by=last_updated_at&order=asc&per=20"), std::string::npos) << first;
}

TEST_F(primero_adapter_test, a_record_taken_from_its_page_outlives_the_page) {
    // A record's body stays in the memory of the page it came in (external_record::
    // body_memory): a record kept after its page and the pages after it are gone still reads
    // as the case the sandbox holds (under ASan a dangling body is a use-after-free).
    start(40);
    auto a = make(basic_settings(10));
    std::vector<external_record> kept;
    std::optional<std::string> cursor;
    for (int i = 0; i < 40 && kept.size() < 4; ++i) {
        auto page = run(a->pull("cases", cursor));
        ASSERT_TRUE(page) << page.error().describe();
        if (!page->records.empty()) {
            kept.push_back(std::move(page->records[kept.size() % page->records.size()]));
        }
        cursor = page->next_cursor;
    }
    ASSERT_EQ(kept.size(), 4u);
    for (const auto& rec : kept) {
        ASSERT_TRUE(rec.body.IsObject());
        ASSERT_TRUE(rec.body.HasMember("id"));
        EXPECT_EQ(std::string(rec.body["id"].GetString()), rec.remote_id);
        auto fresh = run(a->fetch("cases", rec.remote_id));
        ASSERT_TRUE(fresh) << fresh.error().describe();
        EXPECT_EQ(json::canonical(rec.body), json::canonical(fresh->body)) << rec.remote_id;
    }
    // The body can still be added to with its own allocator: its object and arrays grow,
    // as those of a body copied into a document of its own did.
    auto& body = kept.front().body;
    auto& alloc = body.GetAllocator();
    const auto members = body.MemberCount();
    for (int i = 0; i < 100; ++i) {
        rapidjson::Value name(("added_" + std::to_string(i)).c_str(), alloc);
        body.AddMember(name, i, alloc);
    }
    EXPECT_EQ(body.MemberCount(), members + 100);
    EXPECT_EQ(body["added_99"].GetInt(), 99);
    EXPECT_EQ(std::string(body["id"].GetString()), kept.front().remote_id);
}

TEST_F(primero_adapter_test, timestamp_ties_across_page_boundaries) {
    start(90);
    const auto ids = box->case_ids();
    // 45 cases in one millisecond straddle pages 1–3 of 20; the sandbox orders ties
    // differently on every request, as Postgres may.
    for (std::size_t i = 10; i < 55; ++i) {
        box->set_last_updated(ids[i], "2025-12-01T10:00:00.000Z");
    }
    for (std::size_t i = 55; i < 70; ++i) {
        box->set_last_updated(ids[i], "2025-12-01T10:00:00.500Z");
    }
    auto a = make(basic_settings(20));
    std::optional<std::string> cursor;
    expect_each_case_once(walk(*a, cursor));
}

// A second is read again only where a page ends inside it, and as part of the next page, not
// by a request of its own: 250 cases in 250 seconds, 100 a page, take three requests (the
// second each full page ends in starts the next one), where a tie request after every full
// page took five. Cases sharing a second are handled by the two tests above and below.
TEST_F(primero_adapter_test, a_page_that_ends_between_seconds_costs_no_extra_request) {
    start(250);
    const auto ids = box->case_ids();
    for (std::size_t i = 0; i < ids.size(); ++i) {
        char ts[32];
        std::snprintf(ts, sizeof ts, "2025-12-01T10:%02zu:%02zu.250Z", (i / 60) % 60, i % 60);
        box->set_last_updated(ids[i], ts);
    }
    auto a = make(basic_settings(100));
    std::optional<std::string> cursor;
    box->server().clear_requests();
    expect_each_case_once(walk(*a, cursor));
    EXPECT_EQ(box->server().request_count(), 3u);
    for (const auto& req : box->server().requests()) {
        EXPECT_EQ(req.target.find("order_by=case_id"), std::string::npos) << req.target;
    }
}

// More cases in one second than one page can hold (per is capped at 1000): the adapter must
// still walk them all, although the second-precision filter cannot split them.
TEST_F(primero_adapter_test, more_ties_in_one_second_than_the_page_cap) {
    start(1600);
    const auto ids = box->case_ids();
    for (std::size_t i = 100; i < 1500; ++i) {
        box->set_last_updated(ids[i], "2025-12-01T10:00:00." + std::to_string(100 + i % 800) + "Z");
    }
    auto a = make(basic_settings(1000));
    std::optional<std::string> cursor;
    expect_each_case_once(walk(*a, cursor));
}

TEST_F(primero_adapter_test, incremental_pull_sees_only_changes_after_the_cursor) {
    start(300);
    auto a = make(basic_settings(100));
    std::optional<std::string> cursor;
    walk(*a, cursor);
    clock.advance(30s);
    const auto id = box->case_ids()[17];
    ASSERT_NO_FATAL_FAILURE(raise_risk(*a, id));
    auto disabled = run(a->disable(box->case_ids()[18]));
    ASSERT_TRUE(disabled);
    clock.advance(5s);
    const auto got = walk(*a, cursor);
    ASSERT_EQ(got.size(), 2u);
    std::map<std::string, bool> seen;  // same second: either order
    for (const auto& r : got) {
        seen[r.remote_id] = r.disabled;
    }
    ASSERT_EQ(seen.count(id), 1u);
    EXPECT_FALSE(seen[id]);
    ASSERT_EQ(seen.count(box->case_ids()[18]), 1u);
    EXPECT_TRUE(seen[box->case_ids()[18]]);
    // A change inside the current second waits for the next window (no partial seconds).
    EXPECT_TRUE(walk(*a, cursor).empty());
}

// casebridge's clock runs five minutes ahead of Primero's, so a walk's window ends in
// Primero's future. A case Primero changes afterwards carries Primero's earlier time, and the
// next walk still reads it: the cursor never passes the newest change read.
TEST_F(primero_adapter_test, a_clock_ahead_of_primeros_misses_no_change) {
    start(0);
    const offset_clock primero_time(clock, -5min);
    sandbox::primero_settings s;
    s.cases = 50;
    s.seed = 7;
    box = std::make_unique<sandbox::primero_sandbox>(s, primero_time);
    auto a = make(basic_settings(100));
    std::optional<std::string> cursor;
    EXPECT_EQ(walk(*a, cursor).size(), 50u);
    clock.advance(30s);
    const auto id = box->case_ids()[17];
    ASSERT_NO_FATAL_FAILURE(raise_risk(*a, id));
    clock.advance(5s);
    const auto got = walk(*a, cursor);
    ASSERT_EQ(got.size(), 1u) << "a change stamped before this machine's clock was missed";
    EXPECT_EQ(got[0].remote_id, id);
    EXPECT_TRUE(walk(*a, cursor).empty()) << "a walk with no change reads nothing again";
}

TEST_F(primero_adapter_test, create_retried_after_a_lost_response_makes_no_duplicate) {
    start(0);
    auto a = make(basic_settings());
    const auto make_record = [&] {
        external_record r;
        r.source_key = "flow-handover/progres/IND-0001";
        r.body = body(R"({"name_first":"Rahima","sex":"female","age":9,)"
                      R"("family_details_section":[{"relation":"mother"}]})");
        return r;
    };
    box->server().inject(fault::lost());
    auto first = run(a->push(make_record()));
    ASSERT_FALSE(first);
    EXPECT_TRUE(first.error().transient()) << first.error().describe();
    EXPECT_EQ(box->case_count(), 1u);  // applied, but the answer never came
    auto second = run(a->push(make_record()));
    ASSERT_TRUE(second) << second.error().describe();
    EXPECT_EQ(*second, primero_adapter::client_id_for("flow-handover/progres/IND-0001"));
    EXPECT_EQ(box->case_count(), 1u);
    auto shown = run(a->show(*second));
    ASSERT_TRUE(shown);
    // The subform row got a stable unique_id, the same one on the retry.
    const std::string row_id = shown->body["family_details_section"][0]["unique_id"].GetString();
    EXPECT_EQ(row_id, uuid_v5(*second + "/family_details_section/0"));
}

TEST_F(primero_adapter_test, update_merges_subforms_by_stable_unique_id) {
    start(0);
    auto a = make(basic_settings());
    external_record c;
    c.source_key = "flow/x/1";
    c.body = body(R"({"name_first":"Nur","family_details_section":[{"relation":"mother"}]})");
    const auto id = run(a->push(std::move(c)));
    ASSERT_TRUE(id);
    const std::string mother = uuid_v5(*id + "/family_details_section/0");
    for (int i = 0; i < 2; ++i) {  // the same update twice adds the uncle once
        external_record u;
        u.remote_id = *id;
        u.body = body(
            R"({"family_details_section":[{"unique_id":")" + mother +
            R"(","relation_age":35},{"relation":"uncle"}]})"
        );
        ASSERT_TRUE(run(a->push(std::move(u))));
    }
    auto shown = run(a->show(*id));
    ASSERT_TRUE(shown);
    const auto& rows = shown->body["family_details_section"];
    ASSERT_EQ(rows.Size(), 2u);
    EXPECT_EQ(rows[0]["relation_age"].GetInt(), 35);
    EXPECT_STREQ(rows[1]["relation"].GetString(), "uncle");
    external_record d;
    d.remote_id = *id;
    d.body =
        body(R"({"family_details_section":[{"unique_id":")" + mother + R"(","_destroy":true}]})");
    ASSERT_TRUE(run(a->push(std::move(d))));
    EXPECT_EQ(run(a->show(*id))->body["family_details_section"].Size(), 1u);
}

// A lost link (a purge, a restore, a crash before the link's commit) makes the engine create
// again a case the target holds: the 409 must not hide the newer body.
TEST_F(primero_adapter_test, a_create_answered_409_is_sent_as_an_update_of_the_existing_case) {
    start(0);
    auto a = make(basic_settings());
    const std::string key = "flow-handover/cpims-a/case-0001";
    external_record first;
    first.source_key = key;
    first.body = body(R"({"name_first":"Nur","risk_level":"low",)"
                      R"("family_details_section":[{"relation":"mother"}]})");
    const auto id = run(a->push(std::move(first)));
    ASSERT_TRUE(id) << id.error().describe();

    box->server().clear_requests();
    external_record again;  // the same source record, changed, sent as a create
    again.source_key = key;
    again.body = body(R"({"name_first":"Nurjahan","risk_level":"high",)"
                      R"("family_details_section":[{"relation":"mother","relation_age":35}]})");
    auto second = run(a->push(std::move(again)));
    ASSERT_TRUE(second) << second.error().describe();
    EXPECT_EQ(*second, *id);
    EXPECT_EQ(box->case_count(), 1u);
    EXPECT_EQ(box->repeated_creates(), 1u);
    const auto calls = box->server().requests();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].method, "POST");
    EXPECT_EQ(calls[1].method, "PATCH");
    EXPECT_EQ(calls[1].target, "/api/v2/cases/" + *id);

    auto shown = run(a->show(*id));
    ASSERT_TRUE(shown) << shown.error().describe();
    EXPECT_STREQ(shown->body["name_first"].GetString(), "Nurjahan");
    EXPECT_STREQ(shown->body["risk_level"].GetString(), "high");
    // Merged as any update: the row keeps its stable unique_id and is not added twice.
    const auto& rows = shown->body["family_details_section"];
    ASSERT_EQ(rows.Size(), 1u);
    EXPECT_EQ(rows[0]["relation_age"].GetInt(), 35);
    EXPECT_EQ(
        std::string(rows[0]["unique_id"].GetString()), uuid_v5(*id + "/family_details_section/0")
    );
    const std::string logs = sink.text();
    EXPECT_NE(logs.find("primero.create_exists_updated"), std::string::npos);
    EXPECT_EQ(logs.find("Nurjahan"), std::string::npos);
}

TEST_F(primero_adapter_test, a_create_answered_409_whose_update_fails_is_a_failure) {
    sandbox::primero_settings ps;
    ps.users.push_back({"create_only", "create-only-password", "all", {"read", "create"}, false});
    start(0, ps);
    auto a = make(basic_settings());
    const std::string key = "flow-handover/cpims-a/case-0002";
    external_record first;
    first.source_key = key;
    first.body = body(R"({"name_first":"Rahim"})");
    const auto id = run(a->push(std::move(first)));
    ASSERT_TRUE(id) << id.error().describe();

    auto s = basic_settings();
    s.user_name = "create_only";
    s.password.file = dir.write("create-only-password", "create-only-password\n");
    auto limited = make(s);  // may create, may not write: the PATCH after the 409 is refused
    external_record again;
    again.source_key = key;
    again.body = body(R"({"name_first":"Rahima"})");
    auto r = run(limited->push(std::move(again)));
    ASSERT_FALSE(r) << "a 409 followed by a refused update must not count as sent";
    EXPECT_EQ(r.error().http_status, 403u) << r.error().describe();
    EXPECT_EQ(r.error().record_id, *id);
    EXPECT_FALSE(r.error().transient());
    EXPECT_STREQ(run(a->show(*id))->body["name_first"].GetString(), "Rahim");
    EXPECT_NE(sink.text().find("primero.create_exists_update_failed"), std::string::npos);
}

TEST_F(primero_adapter_test, permanent_errors_name_the_record_and_primero_message) {
    start(1);
    auto a = make(basic_settings());
    external_record bad;
    bad.source_key = "flow/x/bad";
    bad.body = body(R"({"name_first":"A","date_of_birth":"is invalid"})");
    auto r = run(a->push(std::move(bad)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::remote_rejected));
    EXPECT_FALSE(r.error().transient());
    EXPECT_EQ(r.error().http_status, 422u);
    EXPECT_EQ(r.error().record_id, primero_adapter::client_id_for("flow/x/bad"));
    EXPECT_NE(r.error().detail.find("date_of_birth"), std::string::npos) << r.error().detail;
    EXPECT_EQ(r.error().describe().find("is invalid"), std::string::npos);  // no value

    auto nf = run(a->show("7e0c2c36-0000-4000-8000-000000000000"));
    ASSERT_FALSE(nf);
    EXPECT_EQ(nf.error().code, make_error_code(errc::not_found));
    EXPECT_EQ(nf.error().record_id, "7e0c2c36-0000-4000-8000-000000000000");
    EXPECT_NE(nf.error().detail.find("Not Found"), std::string::npos);

    const auto id = box->case_ids()[0];
    auto wrong_type = body(R"({"age":"nine"})");
    external_record u;
    u.remote_id = id;
    u.body = std::move(wrong_type);
    auto rej = run(a->push(std::move(u)));
    ASSERT_FALSE(rej);
    EXPECT_EQ(rej.error().record_id, id);
    EXPECT_NE(rej.error().detail.find("Invalid Record JSON [/age]"), std::string::npos)
        << rej.error().detail;
}

// Primero's messages are i18n keys, fixed texts and field names; an exception message may
// quote a value. Only the known shapes reach the error.
TEST_F(primero_adapter_test, remote_messages_keep_known_shapes_and_withhold_anything_else) {
    start(0);
    const std::string sentinel = "Zarina Sentinel-7731";
    std::mutex mutex;
    test::reply next;
    const auto answer = [&](unsigned status, std::string body) {
        std::lock_guard lock(mutex);
        next = test::reply{status, std::move(body), "application/json", {}};
    };
    test::fake_http_server remote([&](const test::recorded_request&) {
        std::lock_guard lock(mutex);
        return next;
    });
    auto s = basic_settings();
    s.base_url = remote.base_url();
    auto a = make(s);
    const std::string id = "7e0c2c36-0000-4000-8000-000000000001";
    const auto patch = [&]() {
        external_record u;
        u.remote_id = id;
        u.body = body(R"({"name_first":"x","age":3})");
        auto r = run(a->push(std::move(u)));
        EXPECT_FALSE(r);
        if (r) {
            return std::string{};
        }
        EXPECT_EQ(r.error().describe().find("Zarina"), std::string::npos) << r.error().describe();
        EXPECT_EQ(r.error().describe().find("7731"), std::string::npos) << r.error().describe();
        return r.error().detail;
    };
    const auto errors = [&](unsigned status, const std::string& error) {
        answer(status, R"({"errors":[)" + error + "]}");
    };

    // A model error whose message quotes the value; its detail names a field of the request.
    errors(
        422,
        R"({"status":422,"resource":"/api/v2/cases","detail":"name_first",)"
        R"("message":["Name )" +
            sentinel + R"( is not allowed"]})"
    );
    EXPECT_EQ(patch(), "remote message withheld [name_first]");

    // A detail that is not a field of the request is withheld.
    errors(
        403,
        R"({"status":403,"resource":"/api/v2/cases","detail":")" + sentinel +
            R"(","message":"Forbidden"})"
    );
    EXPECT_EQ(patch(), "Forbidden [remote message withheld]");
    errors(
        403, R"({"status":403,"resource":"/api/v2/cases","detail":"zarina","message":"Forbidden"})"
    );
    EXPECT_EQ(patch(), "Forbidden [remote message withheld]");

    // Known shapes: an i18n key with its field, a pointer list, a fixed text with a value cut.
    errors(
        422,
        R"({"status":422,"resource":"/api/v2/cases","detail":"transitioned_to",)"
        R"("message":["transition.errors.to_user_can_receive"]})"
    );
    EXPECT_EQ(patch(), "transition.errors.to_user_can_receive [transitioned_to]");
    errors(
        422,
        R"({"status":422,"resource":"/api/v2/cases","detail":["/age","/)" + sentinel +
            R"("],"message":"Invalid Record JSON"})"
    );
    EXPECT_EQ(patch(), "Invalid Record JSON [/age, remote message withheld]");
    errors(
        404,
        R"({"status":404,"resource":"/api/v2/cases","message":"Not Found",)"
        R"("detail":"Couldn't find Child with 'id'=)" +
            sentinel + R"("})"
    );
    EXPECT_EQ(patch(), "Not Found [Couldn't find Child with 'id'=...]");

    // Devise's {"error": text}: a known text is kept, anything else withheld.
    answer(401, R"({"error":"Invalid User name or password."})");
    EXPECT_EQ(patch(), "Invalid User name or password.");
    answer(401, R"({"error":"No user )" + sentinel + R"("})");
    EXPECT_EQ(patch(), "remote message withheld");

    EXPECT_EQ(sink.text().find("Zarina"), std::string::npos);
}

TEST_F(
    primero_adapter_test, every_transient_fault_is_reported_once_and_recovered_by_calling_again
) {
    start(40);
    auto a = make(basic_settings(1000));
    const std::vector<std::pair<fault, errc>> faults = {
        {fault::error(503, "30"), errc::rate_limited},
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
        auto r = run(a->pull("cases", std::nullopt));
        ASSERT_FALSE(r) << "fault kind " << static_cast<int>(f.kind);
        EXPECT_EQ(r.error().code, make_error_code(expected)) << r.error().describe();
        if (expected != errc::bad_payload) {
            EXPECT_TRUE(r.error().transient());
        }
        EXPECT_EQ(box->server().request_count(), before + 1) << "the adapter must not retry";
        auto ok = run(a->pull("cases", std::nullopt));
        ASSERT_TRUE(ok) << ok.error().describe();
        EXPECT_EQ(ok->records.size(), 40u);
    }
    // The 503 of a configuration lock carries Retry-After: 60.
    box->set_locked(true);
    auto locked = run(a->pull("cases", std::nullopt));
    ASSERT_FALSE(locked);
    EXPECT_EQ(locked.error().code, make_error_code(errc::rate_limited));
    ASSERT_TRUE(locked.error().retry_after.has_value());
    EXPECT_EQ(*locked.error().retry_after, 60s);
    EXPECT_NE(locked.error().detail.find("Service Unavailable"), std::string::npos);
    box->set_locked(false);
    EXPECT_TRUE(run(a->pull("cases", std::nullopt)));
}

TEST_F(primero_adapter_test, session_auth_logs_in_once_and_again_after_expiry) {
    start(30);
    auto s = basic_settings();
    s.auth = auth_mode::session;
    auto a = make(s);
    ASSERT_TRUE(run(a->probe()));
    std::optional<std::string> cursor;
    EXPECT_EQ(walk(*a, cursor).size(), 30u);
    external_record u;  // a write needs the CSRF token
    u.remote_id = box->case_ids()[0];
    u.body = body(R"({"risk_level":"low"})");
    ASSERT_TRUE(run(a->push(std::move(u))));
    EXPECT_EQ(box->logins(), 1u);
    for (const auto& req : box->server().requests()) {
        EXPECT_EQ(req.headers.count("authorization"), 0u) << "session mode sends no Basic";
    }
    box->expire_sessions();
    ASSERT_TRUE(run(a->probe()));
    EXPECT_EQ(box->logins(), 2u);
    clock.advance(2h);  // idle past the session timeout
    ASSERT_TRUE(run(a->probe()));
    EXPECT_EQ(box->logins(), 3u);
}

TEST_F(primero_adapter_test, legacy_jwt_is_refreshed_or_renewed_on_401) {
    sandbox::primero_settings ss;
    ss.legacy_jwt = true;
    start(5, ss);
    auto s = basic_settings();
    s.auth = auth_mode::jwt;
    auto a = make(s);
    ASSERT_TRUE(run(a->probe()));
    EXPECT_EQ(box->logins(), 1u);
    clock.advance(2h);  // the token expired: refresh fails, a new login follows
    auto r = run(a->probe());
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(box->failed_logins(), 1u);  // the refused refresh
    EXPECT_EQ(box->logins(), 3u);
}

TEST_F(primero_adapter_test, bearer_token_is_read_from_its_file) {
    sandbox::primero_settings ss;
    ss.idp_token = "idp-token-2";
    start(5, ss);
    settings s;
    s.base_url = box->base_url();
    s.auth = auth_mode::bearer;
    s.token_file = dir.write("token", "idp-token-1\n");
    auto a = make(s);
    auto refused = run(a->probe());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::auth_failed));
    dir.write("token", "idp-token-2\n");  // rotated
    EXPECT_TRUE(run(a->probe()));
}

TEST_F(primero_adapter_test, a_refused_login_is_retried_at_most_once) {
    start(5);
    auto s = basic_settings();
    s.auth = auth_mode::session;
    s.password.file = dir.write("wrong", "not-the-password\n");
    auto a = make(s);
    for (int i = 0; i < 5; ++i) {
        auto r = run(a->probe());
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
        EXPECT_FALSE(r.error().transient());
    }
    EXPECT_EQ(box->failed_logins(), 2u);         // far from the lockout at six
    dir.write("wrong", box->password() + "\n");  // fixed: logging in is allowed again
    EXPECT_TRUE(run(a->probe()));

    auto b = basic_settings();
    b.password.file = dir.write("wrong2", "nope\n");
    auto basic = make(b);
    const auto before = box->server().request_count();
    auto r = run(basic->probe());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
    EXPECT_NE(r.error().detail.find("Invalid User name or password."), std::string::npos);
    EXPECT_EQ(box->server().request_count(), before + 1);
}

TEST_F(primero_adapter_test, referrals_transfers_and_mark_synced) {
    start(0);
    auto a = make(basic_settings());
    external_record c;
    c.source_key = "flow/t/1";
    c.body =
        body(R"({"name_first":"Karim","disclosure_other_orgs":true,"consent_for_services":true})");
    const auto id = run(a->push(std::move(c)));
    ASSERT_TRUE(id);
    auto ref = run(a->create_transition(
        *id, transition_kind::referral, body(R"({"transitioned_to":"cp_worker_2","notes":"n"})")
    ));
    ASSERT_TRUE(ref) << ref.error().describe();
    EXPECT_STREQ((*ref)["status"].GetString(), "in_progress");
    auto list = run(a->list_transitions(*id, transition_kind::referral));
    ASSERT_TRUE(list);
    ASSERT_EQ(list->Size(), 1u);
    auto done = run(a->update_transition(
        *id, transition_kind::referral, (*ref)["id"].GetString(), "accepted", {}
    ));
    ASSERT_TRUE(done);
    EXPECT_STREQ((*done)["status"].GetString(), "accepted");

    external_record c2;
    c2.source_key = "flow/t/2";
    c2.body = body(R"({"name_first":"Jamal","disclosure_other_orgs":false})");
    const auto id2 = run(a->push(std::move(c2)));
    ASSERT_TRUE(id2);
    auto refused = run(a->create_transition(
        *id2, transition_kind::transfer, body(R"({"transitioned_to":"cp_worker_2"})")
    ));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::remote_rejected));
    EXPECT_EQ(refused.error().record_id, *id2);
    EXPECT_EQ(refused.error().detail, "transition.errors.consent [consent]");

    ASSERT_TRUE(run(a->mark_synced(*id, "https://casebridge.example/inbox", "synced")));
    EXPECT_EQ(box->mark_synced_count(*id), 1u);
    EXPECT_STREQ(run(a->show(*id))->body["sync_status"].GetString(), "synced");
}

TEST_F(primero_adapter_test, registry_and_config_schema) {
    adapter_registry registry;
    register_builtin_adapters(registry);
    ASSERT_NE(registry.find("primero"), nullptr);
    EXPECT_FALSE(registry.add(make_factory()));  // duplicate ids are refused
    const json::schema schema(config_schema(), "primero");
    auto good = body(R"({"base_url":"https://primero.example.org","auth":{"mode":"session",)"
                     R"("user_name":"sync","password_env":"PRIMERO_PASSWORD"},"per_page":1000})");
    EXPECT_FALSE(schema.validate(good).has_value());  // nullopt: conforms
    auto bad =
        body(R"({"base_url":"https://p.example.org","auth":{"mode":"basic"},"per_page":5000})");
    EXPECT_TRUE(schema.validate(bad).has_value());
    auto no_secret =
        body(R"({"base_url":"https://p.example.org","auth":{"mode":"basic","user_name":"u"}})");
    EXPECT_THROW(settings_from_json(no_secret), std::invalid_argument);
}

TEST_F(primero_adapter_test, logs_carry_no_secret_or_value) {
    start(20);
    auto s = basic_settings();
    s.auth = auth_mode::session;
    auto a = make(s);
    std::optional<std::string> cursor;
    walk(*a, cursor);
    box->expire_sessions();
    walk(*a, cursor);
    const std::string text = sink.text();
    EXPECT_NE(text.find("primero.login"), std::string::npos);
    EXPECT_EQ(text.find(box->password()), std::string::npos);
    auto rec = json::parse(*box->case_json(box->case_ids()[0]));
    EXPECT_EQ(text.find((*rec)["name_first"].GetString()), std::string::npos);
}

}  // namespace
}  // namespace casebridge::primero
