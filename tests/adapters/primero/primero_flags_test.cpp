// The Primero adapter's case flags against the Primero sandbox over real HTTP on loopback.
#include <future>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "json/json.hpp"
#include "primero/primero_adapter.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::primero {
namespace {

using namespace std::chrono_literals;
using sandbox::fault;

const std::string flag_text =
    "Possible duplicate: this child may also be registered by Agency B. IMO reference "
    "ref:C0123456789abcdef. Check with the CPSS IMO before changing the case.";

class primero_flags_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 1 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<sandbox::primero_sandbox> box;
    std::unique_ptr<http_client> http;
    std::unique_ptr<primero_adapter> adapter;

    void SetUp() override { start(); }

    void start(auth_mode mode = auth_mode::basic) {
        sandbox::primero_settings s;
        s.cases = 5;
        s.seed = 11;
        box = std::make_unique<sandbox::primero_sandbox>(s, clock);
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 1s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
        settings a;
        a.base_url = box->base_url();
        a.auth = mode;
        a.user_name = box->user_name();
        a.password.file = dir.write("password", box->password() + "\n");
        adapter_env env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::trace)};
        adapter = std::make_unique<primero_adapter>(std::move(a), std::move(env));
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op), std::chrono::seconds(10));
    }

    std::string case_id() const { return box->case_ids().front(); }

    rapidjson::Document stored(const std::string& id) const {
        auto d = json::parse(box->case_json(id).value_or("{}"));
        EXPECT_TRUE(d);
        return std::move(*d);
    }
};

TEST_F(primero_flags_test, raise_list_update_and_resolve) {
    EXPECT_TRUE(adapter->can_flag("cases"));
    EXPECT_FALSE(adapter->can_flag("referrals"));
    const auto id = case_id();
    const std::string before = stored(id)["last_updated_at"].GetString();

    const auto raised = run(adapter->raise_flag("cases", id, flag_text, "2026-01-10"));
    ASSERT_TRUE(raised) << raised.error().describe();
    EXPECT_EQ(*raised, "1");
    auto flags = box->flags_of(id);
    ASSERT_EQ(flags.size(), 1u);
    EXPECT_EQ(flags[0].message, flag_text);
    EXPECT_EQ(flags[0].date, "2026-01-10");
    EXPECT_EQ(flags[0].flagged_by, box->user_name());
    auto rec = stored(id);
    EXPECT_EQ(rec["flag_count"].GetInt(), 1);
    EXPECT_TRUE(rec["flagged"].GetBool());
    EXPECT_NE(std::string(rec["last_updated_at"].GetString()), before);  // the case was saved

    auto listed = run(adapter->list_flags("cases", id));
    ASSERT_TRUE(listed) << listed.error().describe();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].id, *raised);
    EXPECT_EQ((*listed)[0].message, flag_text);
    EXPECT_FALSE((*listed)[0].removed);

    const std::string changed = flag_text + " Agency C too.";
    ASSERT_TRUE(run(adapter->update_flag("cases", id, *raised, changed)));
    EXPECT_EQ(box->flags_of(id)[0].message, changed);
    EXPECT_FALSE(box->flags_of(id)[0].removed);

    // A second flag gets the next id; resolving the first leaves one active.
    const auto second = run(adapter->raise_flag("cases", id, "Another flag", "2026-01-10"));
    ASSERT_TRUE(second);
    EXPECT_EQ(*second, "2");
    ASSERT_TRUE(run(adapter->resolve_flag("cases", id, *raised, "The link was withdrawn.")));
    flags = box->flags_of(id);
    ASSERT_EQ(flags.size(), 2u);
    EXPECT_TRUE(flags[0].removed);
    EXPECT_EQ(flags[0].unflag_message, "The link was withdrawn.");
    EXPECT_EQ(flags[0].unflagged_by, box->user_name());
    EXPECT_EQ(flags[0].unflagged_date, "2026-01-10");
    EXPECT_EQ(stored(id)["flag_count"].GetInt(), 1);

    listed = run(adapter->list_flags("cases", id));
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 2u);
    EXPECT_TRUE((*listed)[0].removed);
    EXPECT_FALSE((*listed)[1].removed);
    ASSERT_TRUE(run(adapter->resolve_flag("cases", id, *second, "Done.")));
    rec = stored(id);
    EXPECT_EQ(rec["flag_count"].GetInt(), 0);
    EXPECT_FALSE(rec["flagged"].GetBool());
}

TEST_F(primero_flags_test, without_the_flag_permission_every_call_is_auth_failed) {
    const auto id = case_id();
    const auto raised = run(adapter->raise_flag("cases", id, flag_text, "2026-01-10"));
    ASSERT_TRUE(raised);
    ASSERT_TRUE(box->set_case_actions(box->user_name(), {"read", "create", "write"}));
    const auto expect_403 = [&](const remote_error& e) {
        EXPECT_EQ(e.code, make_error_code(errc::auth_failed)) << e.describe();
        EXPECT_EQ(e.http_status, 403u);
        EXPECT_EQ(e.record_id, id);
    };
    auto listed = run(adapter->list_flags("cases", id));
    ASSERT_FALSE(listed);
    expect_403(listed.error());
    auto again = run(adapter->raise_flag("cases", id, flag_text, "2026-01-10"));
    ASSERT_FALSE(again);
    expect_403(again.error());
    auto update = run(adapter->update_flag("cases", id, *raised, "x"));
    ASSERT_FALSE(update);
    expect_403(update.error());
    auto resolve = run(adapter->resolve_flag("cases", id, *raised, "x"));
    ASSERT_FALSE(resolve);
    expect_403(resolve.error());
    EXPECT_EQ(box->flags_of(id).size(), 1u);
    EXPECT_FALSE(box->flags_of(id)[0].removed);
}

TEST_F(primero_flags_test, unknown_case_or_flag_is_not_found) {
    auto listed = run(adapter->list_flags("cases", "8d3c4d0e-0000-4000-8000-000000000000"));
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error().code, make_error_code(errc::not_found));
    EXPECT_EQ(listed.error().http_status, 404u);
    auto raised = run(adapter->raise_flag("cases", "no-such-case", flag_text, "2026-01-10"));
    ASSERT_FALSE(raised);
    EXPECT_EQ(raised.error().code, make_error_code(errc::not_found));
    auto resolve = run(adapter->resolve_flag("cases", case_id(), "77", "x"));
    ASSERT_FALSE(resolve);
    EXPECT_EQ(resolve.error().code, make_error_code(errc::not_found));
    EXPECT_EQ(resolve.error().detail, "Not Found [Couldn't find Flag with 'id'=...]");
    auto other = run(adapter->list_flags("referrals", case_id()));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().code, make_error_code(errc::invalid_config));
}

TEST_F(primero_flags_test, ids_go_out_as_percent_encoded_path_segments) {
    box->server().clear_requests();
    auto r = run(adapter->resolve_flag("cases", "a/b c?%", "1/2", "x"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::not_found));
    const auto requests = box->server().requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.back().target, "/api/v2/cases/a%2Fb%20c%3F%25/flags/1%2F2");
}

TEST_F(primero_flags_test, a_blank_message_is_refused_by_primero) {
    auto r = run(adapter->raise_flag("cases", case_id(), "  ", "2026-01-10"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::remote_rejected));
    EXPECT_EQ(r.error().http_status, 422u);
    EXPECT_EQ(r.error().detail, "errors.models.flags.message [message]");
    EXPECT_TRUE(box->flags_of(case_id()).empty());
}

TEST_F(primero_flags_test, the_list_never_carries_the_case_name) {
    const auto id = case_id();
    ASSERT_TRUE(run(adapter->raise_flag("cases", id, flag_text, "2026-01-10")));
    // Primero sends the case's name with each flag...
    const std::string name = stored(id)["name"].GetString();
    ASSERT_FALSE(name.empty());
    const auto listed = run(adapter->list_flags("cases", id));
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    // ...and only the id, the text and the state come back.
    const auto& f = (*listed)[0];
    EXPECT_EQ(f.id.find_first_not_of("0123456789"), std::string::npos);
    EXPECT_EQ(f.message.find(name), std::string::npos);
    EXPECT_EQ(f.message, flag_text);
}

TEST_F(primero_flags_test, errors_map_like_the_other_calls) {
    const auto id = case_id();
    const struct {
        fault f;
        errc expected;
    } cases[] = {
        {fault::too_many_requests("2"), errc::rate_limited},
        {fault::error(500), errc::remote_unavailable},
        {fault::error(502), errc::remote_unavailable},
        {fault::malformed(), errc::bad_payload},
    };
    for (const auto& c : cases) {
        box->server().inject(c.f);
        auto r = run(adapter->list_flags("cases", id));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, make_error_code(c.expected)) << r.error().describe();
    }
    box->server().inject(fault::malformed());
    auto raised = run(adapter->raise_flag("cases", id, flag_text, "2026-01-10"));
    ASSERT_FALSE(raised);
    EXPECT_EQ(raised.error().code, make_error_code(errc::bad_payload));
}

TEST_F(primero_flags_test, an_expired_session_is_renewed_once) {
    start(auth_mode::session);
    const auto id = case_id();
    ASSERT_TRUE(run(adapter->raise_flag("cases", id, flag_text, "2026-01-10")));
    box->expire_sessions();
    const auto listed = run(adapter->list_flags("cases", id));
    ASSERT_TRUE(listed) << listed.error().describe();
    EXPECT_EQ(listed->size(), 1u);
    EXPECT_EQ(box->logins(), 2u);
}

TEST_F(primero_flags_test, logs_carry_ids_and_statuses_never_the_flag_text) {
    const std::string sentinel = "Sentinel flag text Qz-4471";
    const auto id = case_id();
    const auto raised = run(adapter->raise_flag("cases", id, sentinel + " one", "2026-01-10"));
    ASSERT_TRUE(raised);
    ASSERT_TRUE(run(adapter->update_flag("cases", id, *raised, sentinel + " two")));
    ASSERT_TRUE(run(adapter->list_flags("cases", id)));
    ASSERT_TRUE(run(adapter->resolve_flag("cases", id, *raised, sentinel + " three")));
    box->server().inject(fault::error(500));
    ASSERT_FALSE(run(adapter->raise_flag("cases", id, sentinel + " four", "2026-01-10")));
    ASSERT_FALSE(run(adapter->raise_flag("cases", id, " ", "2026-01-10")));
    const std::string text = sink.text();
    EXPECT_NE(text.find("primero.flag_raised"), std::string::npos);
    EXPECT_NE(text.find("primero.flag_resolved"), std::string::npos);
    EXPECT_NE(text.find(id), std::string::npos);  // the case is named by its id
    EXPECT_EQ(text.find("Sentinel"), std::string::npos);
    EXPECT_EQ(text.find(stored(id)["name"].GetString()), std::string::npos);
}

}  // namespace
}  // namespace casebridge::primero
