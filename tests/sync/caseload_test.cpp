// `casebridge caseload-transfer plan|execute` between two Primero sandboxes: a plan for review,
// exactly the confirmed cases transferred (once, however often it runs), overrides logged with
// their reason's hash, bad review files refused before anything is sent.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "exchange/csv.hpp"
#include "store/store.hpp"
#include "support/run_cli.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge {
namespace {

using caseload_test = test::sandbox_pair;
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

exchange::csv_table read_table(const fs::path& p) {
    auto t = exchange::parse_csv(slurp(p));
    EXPECT_TRUE(t);
    return std::move(*t);
}

void write_table(const fs::path& p, const exchange::csv_table& t) {
    exchange::csv_writer w;
    w.row(t.header);
    for (const auto& r : t.rows) {
        w.row(r);
    }
    std::ofstream(p, std::ios::binary) << w.text();
}

/// `casebridge caseload-transfer plan` of the "handover" flow into `out`.
test::cli_result plan_flow(const fs::path& config, const fs::path& out) {
    return test::run_cli(
        {"caseload-transfer",
         "plan",
         "--config",
         config.string(),
         "--flow",
         "handover",
         "--out",
         out.string()}
    );
}

TEST_F(caseload_test, plan_review_execute_twice_and_refuse_edited_files) {
    const auto plan = dir / "review.csv";
    auto r = plan_flow(config, plan);
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_EQ(to->case_count(), 0u) << "a plan sends nothing";
    auto table = read_table(plan);
    ASSERT_EQ(table.rows.size(), 80u);
    const auto expected = eligible_ids();
    std::size_t transfers = 0;
    std::size_t to_confirm_row = table.rows.size();
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        auto& row = table.rows[i];
        if (row[1] == "transfer") {
            EXPECT_TRUE(expected.count(row[0])) << row[0];
            row[6] = "yes";
            ++transfers;
        } else if (row[1] == "needs_consent_confirmation" && to_confirm_row == table.rows.size()) {
            to_confirm_row = i;
        }
    }
    ASSERT_EQ(transfers, expected.size());
    ASSERT_LT(to_confirm_row, table.rows.size()) << "no record needs consent confirmation";

    // A confirmation without a written reason is refused; nothing is sent.
    table.rows[to_confirm_row][6] = "yes";
    write_table(plan, table);
    const std::string args_config = config.string();
    std::string receipt_name = "receipt.json";
    auto execute = [&] {
        return test::run_cli(
            {"caseload-transfer",
             "execute",
             "--config",
             args_config,
             "--flow",
             "handover",
             "--review",
             plan.string(),
             "--receipt",
             (dir / receipt_name).string()}
        );
    };
    r = execute();
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("an override needs a written override_reason"), std::string::npos)
        << r.err;
    EXPECT_EQ(to->case_count(), 0u);

    // An edited id is refused, naming the line.
    auto edited = table;
    edited.rows[0][0] = "00000000-0000-0000-0000-000000000000";
    write_table(plan, edited);
    r = execute();
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("review.csv:2: source_id, decision or reason edited"), std::string::npos)
        << r.err;
    EXPECT_EQ(to->case_count(), 0u);

    // The reviewed file: transfers confirmed, one consent confirmed with a written reason.
    table.rows[to_confirm_row][7] = "Caregiver confirmed consent at the handover meeting";
    write_table(plan, table);
    r = execute();
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_EQ(to->case_count(), transfers + 1);
    const auto receipt = json::parse(slurp(dir / "receipt.json"));
    ASSERT_TRUE(receipt);
    EXPECT_EQ(
        (*receipt)["counts"]["transferred"].GetInt64(), static_cast<std::int64_t>(transfers + 1)
    );
    EXPECT_EQ((*receipt)["overrides"].Size(), 1u);
    EXPECT_TRUE(receipt->HasMember("log_checkpoint"));
    EXPECT_EQ(slurp(dir / "receipt.json").find("handover meeting"), std::string::npos)
        << "the receipt holds the reason's hash, not its text";

    // Running it again transfers nothing twice, and never writes over the first receipt.
    const std::string first_receipt = slurp(dir / "receipt.json");
    r = execute();
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("receipt.json exists; a receipt is never overwritten"), std::string::npos)
        << r.err;
    EXPECT_EQ(slurp(dir / "receipt.json"), first_receipt);
    receipt_name = "receipt-2.json";
    r = execute();
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("transferred 0,"), std::string::npos) << r.out;
    EXPECT_EQ(to->case_count(), transfers + 1);
    EXPECT_EQ(slurp(dir / "receipt.json"), first_receipt);
    const auto second = json::parse(slurp(dir / "receipt-2.json"));
    ASSERT_TRUE(second);
    EXPECT_EQ((*second)["counts"]["transferred"].GetInt64(), 0);
    EXPECT_EQ(
        (*second)["counts"]["already_transferred"].GetInt64(),
        static_cast<std::int64_t>(transfers + 1)
    );

    auto s = store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
    ASSERT_TRUE(s);
    auto q = s->database().prepare(
        "SELECT count(*) FROM transfer_log WHERE override_reason LIKE 'sha256:%' AND actor = "
        "'operator' AND outcome = 'sent'"
    );
    ASSERT_TRUE(q && q->step());
    EXPECT_EQ(q->column_int(0), 1);
    EXPECT_EQ(
        test::run_cli({"log", "verify", "--store", (dir / "state/casebridge.db").string()}).code, 0
    );
}

struct plan_row {
    std::string decision;
    std::string reason;
};

std::map<std::string, plan_row> plan_of(const exchange::csv_table& t) {
    std::map<std::string, plan_row> out;
    for (const auto& row : t.rows) {
        out[row[0]] = {row[1], row[2]};
    }
    return out;
}

std::set<std::string> delivered_in(const fs::path& db, const std::string& flow) {
    auto s = store::store::open(db, {}, system_clock_source::instance());
    EXPECT_TRUE(s);
    std::set<std::string> out;
    if (!s) {
        return out;
    }
    auto q = s->database().prepare(
        "SELECT source_id FROM deliveries WHERE flow = ? AND state = 'delivered'"
    );
    EXPECT_TRUE(q);
    q->bind(1, std::string_view(flow));
    while (*q->step()) {
        out.insert(q->column_text(0));
    }
    return out;
}

// The project-end case: the flow ran for months, then the agency plans the hand-over. Only
// records actually delivered may be planned as already transferred; every other record is
// planned exactly as on a fresh store (withheld, needing consent, held), with its reason.
TEST_F(caseload_test, a_plan_after_the_flow_ran_differs_from_a_fresh_plan_only_where_delivered) {
    auto plan = [&](const fs::path& out) {
        auto r = plan_flow(config, out);
        EXPECT_EQ(r.code, 0) << r.err << r.out;
        return plan_of(read_table(out));
    };
    const auto fresh = plan(dir / "fresh.csv");
    ASSERT_EQ(fresh.size(), 80u);

    auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    ASSERT_TRUE(r.code == 0 || r.code == 3) << r.err << r.out;
    const auto delivered = delivered_in(dir / "state/casebridge.db", "handover");
    ASSERT_FALSE(delivered.empty());
    EXPECT_EQ(to->case_count(), delivered.size());

    const auto after = plan(dir / "after.csv");
    ASSERT_EQ(after.size(), fresh.size());
    std::size_t not_delivered = 0;
    for (const auto& [id, was] : fresh) {
        const auto& now = after.at(id);
        if (delivered.count(id)) {
            EXPECT_EQ(was.decision, "transfer") << id;
            EXPECT_EQ(now.decision, "already_transferred") << id;
        } else {
            ++not_delivered;
            EXPECT_NE(now.decision, "already_transferred") << id << " was never delivered";
            EXPECT_EQ(now.decision, was.decision) << id;
            EXPECT_EQ(now.reason, was.reason) << id;
        }
    }
    EXPECT_GT(not_delivered, 0u) << "the sample needs records the flow did not deliver";
}

// Execute, as often as it takes: each run writes its own receipt; a record held at execute is
// listed with its reason and never counted as transferred, and the receipts' transfers add up
// to what the receiver holds.
TEST_F(caseload_test, each_execute_writes_its_own_receipt_and_held_records_stay_held) {
    const auto plan = dir / "review.csv";
    auto r = plan_flow(config, plan);
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    auto table = read_table(plan);
    std::int64_t confirmed = 0;
    std::int64_t unconfirmed_pending = 0;
    for (auto& row : table.rows) {
        if (row[1] == "transfer") {
            row[6] = "yes";
            ++confirmed;
        } else if (row[1] != "already_transferred") {
            ++unconfirmed_pending;
        }
    }
    ASSERT_GT(confirmed, 2);
    write_table(plan, table);
    auto execute = [&] {
        return test::run_cli(
            {"caseload-transfer",
             "execute",
             "--config",
             config.string(),
             "--flow",
             "handover",
             "--review",
             plan.string()}
        );
    };
    // The receiver refuses the first create it is sent: that record is held.
    to->server().inject(sandbox::fault::error(422), 1);
    r = execute();
    EXPECT_EQ(r.code, 3) << r.err << r.out;
    const auto first_text = slurp(dir / "review.csv.receipt.json");
    // Again, with the receiver refusing once more: nothing is sent twice, the held record is
    // held again, and a second receipt is written beside the first.
    to->server().inject(sandbox::fault::error(422), 1);
    r = execute();
    EXPECT_EQ(r.code, 3) << r.err << r.out;
    // A third time, the receiver accepts it.
    r = execute();
    EXPECT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_EQ(slurp(dir / "review.csv.receipt.json"), first_text) << "a receipt was overwritten";

    std::int64_t transferred = 0;
    std::vector<std::string> held_ids;
    int n = 0;
    for (const char* name :
         {"review.csv.receipt.json", "review.csv.receipt-2.json", "review.csv.receipt-3.json"}) {
        ++n;
        const auto doc = json::parse(slurp(dir / name));
        ASSERT_TRUE(doc) << name;
        const auto& c = (*doc)["counts"];
        EXPECT_EQ(c["confirmed"].GetInt64(), confirmed) << name;
        const std::int64_t sum = c["transferred"].GetInt64() + c["already_transferred"].GetInt64() +
                                 c["awaiting_acknowledgement"].GetInt64() +
                                 c["withheld"].GetInt64() + c["held"].GetInt64() +
                                 c["not_processed"].GetInt64();
        EXPECT_EQ(sum, confirmed) << name << ": every confirmed record is counted once";
        EXPECT_EQ(c["not_confirmed"].GetInt64(), unconfirmed_pending) << name;
        transferred += c["transferred"].GetInt64();
        EXPECT_EQ(
            static_cast<std::int64_t>((*doc)["transferred"].Size()), c["transferred"].GetInt64()
        );
        std::int64_t held_listed = 0;
        for (const auto& p : (*doc)["not_handed_over"].GetArray()) {
            if (std::string_view(p["status"].GetString()) == "held") {
                ++held_listed;
                held_ids.emplace_back(p["source_id"].GetString());
                EXPECT_FALSE(std::string_view(p["reason"].GetString()).empty());
            }
        }
        EXPECT_EQ(held_listed, c["held"].GetInt64()) << name;
        EXPECT_EQ(
            static_cast<std::int64_t>((*doc)["not_handed_over"].Size()),
            c["held"].GetInt64() + c["withheld"].GetInt64() +
                c["awaiting_acknowledgement"].GetInt64() + c["not_processed"].GetInt64() +
                unconfirmed_pending
        ) << name;
        if (n < 3) {
            EXPECT_EQ(c["held"].GetInt64(), 1) << name;
        } else {
            EXPECT_EQ(c["held"].GetInt64(), 0) << name;
            EXPECT_EQ(c["transferred"].GetInt64(), 1) << name;
            EXPECT_EQ(c["already_transferred"].GetInt64(), confirmed - 1) << name;
        }
    }
    ASSERT_EQ(held_ids.size(), 2u);
    EXPECT_EQ(held_ids[0], held_ids[1]) << "the same record was held both times";
    EXPECT_EQ(transferred, confirmed);
    EXPECT_EQ(static_cast<std::int64_t>(to->case_count()), transferred);
}

}  // namespace
}  // namespace casebridge
