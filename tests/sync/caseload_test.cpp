// `casebridge caseload-transfer plan|execute` between two Primero sandboxes: a plan for review,
// exactly the confirmed cases transferred (once, however often it runs), overrides logged with
// their reason's hash, bad review files refused before anything is sent.
#include <fstream>
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

TEST_F(caseload_test, plan_review_execute_twice_and_refuse_edited_files) {
    const auto plan = dir / "review.csv";
    auto r = test::run_cli(
        {"caseload-transfer",
         "plan",
         "--config",
         config.string(),
         "--flow",
         "handover",
         "--out",
         plan.string()}
    );
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
             (dir / "receipt.json").string()}
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
    EXPECT_NE(r.err.find("review.csv:2: source_id or decision edited"), std::string::npos) << r.err;
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

    // Running it again transfers nothing twice.
    r = execute();
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("transferred 0,"), std::string::npos) << r.out;
    EXPECT_EQ(to->case_count(), transfers + 1);

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

}  // namespace
}  // namespace casebridge
