#include "dss_files/exchange_files.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/crypto.hpp"
#include "core/time.hpp"
#include "exchange/aes_zip.hpp"
#include "json/json.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::dss_files::files {

using namespace casebridge::exchange;  // NOLINT(google-build-using-namespace): CSV and ZIP
namespace {

const time_point when = *parse_rfc3339("2025-11-20T09:30:00Z");

struct run_result {
    int status;
    std::string out;
};

run_result run(const std::string& cmd) {
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

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool have_7z() {
    return run("command -v 7z").status == 0;
}

TEST(aes_zip, opens_with_7z_and_the_right_passphrase_only) {
    if (!have_7z()) {
        GTEST_SKIP() << "7z (p7zip-full) is not installed; .ci/install-deps installs it";
    }
    test::temp_dir dir;
    const std::string csv =
        "\xEF\xBB\xBF"
        "exchange_id,name_first\r\n"
        "0b5e8c1a-1111-4a2b-9c3d-000000000001,নুসরাত\r\n";
    std::string big(70000, 'x');  // several AES blocks and a partial last block
    big += "end";
    const auto zip = make_aes_zip({{"batch.csv", csv}, {"big.txt", big}}, "correct horse 7", when);
    const auto path = dir.write("batch.zip", zip);

    const auto listing = run("7z l -slt -pcorrect\\ horse\\ 7 " + path.string());
    ASSERT_EQ(listing.status, 0) << listing.out;
    EXPECT_NE(listing.out.find("Method = AES-256"), std::string::npos) << listing.out;
    EXPECT_NE(listing.out.find("Encrypted = +"), std::string::npos);

    const auto extracted = run("7z x -so -pcorrect\\ horse\\ 7 " + path.string() + " batch.csv");
    ASSERT_EQ(extracted.status, 0);
    EXPECT_EQ(extracted.out, csv);
    const auto extracted_big = run("7z x -so -pcorrect\\ horse\\ 7 " + path.string() + " big.txt");
    EXPECT_EQ(extracted_big.out, big);

    const auto wrong = run("7z x -so -pwrong " + path.string() + " batch.csv");
    EXPECT_NE(wrong.status, 0);
    EXPECT_EQ(wrong.out.find("নুসরাত"), std::string::npos);
    EXPECT_EQ(zip.find("নুসরাত"), std::string::npos);  // nothing readable in the archive bytes
}

TEST(aes_zip, each_archive_uses_a_fresh_salt) {
    const auto a = make_aes_zip({{"a.csv", "same"}}, "pass", when);
    const auto b = make_aes_zip({{"a.csv", "same"}}, "pass", when);
    EXPECT_NE(a, b);
    EXPECT_THROW(make_aes_zip({{"a.csv", "x"}}, "", when), std::invalid_argument);
}

batch sample_batch() {
    batch b;
    b.id = "dss-20251120-0001";
    b.schema_version = "dss-events-1";
    b.sender = "save-the-children-bd";
    b.header = {"exchange_id", "case_id", "name_first", "event"};
    b.rows = {
        {"0b5e8c1a-1111-4a2b-9c3d-000000000001", "c-1", "নুসরাত", "transfer"},
        {"0b5e8c1a-1111-4a2b-9c3d-000000000002", "c-2", "Rahim, \"Ali\"", "referral"}};
    return b;
}

TEST(dss_files, batch_writes_zip_then_manifest_with_0600) {
    test::temp_dir dir;
    const auto w = write_batch(dir.path(), sample_batch(), "pass-phrase-123", when);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w->rows, 2u);
    struct stat st {};
    ASSERT_EQ(::stat(w->zip.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777U, 0600U);
    ASSERT_EQ(::stat(w->manifest.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777U, 0600U);
    const auto m = json::load_file(w->manifest);
    EXPECT_EQ(std::string(m.doc["file"].GetString()), "dss-20251120-0001.zip");
    EXPECT_EQ(m.doc["rows"].GetInt(), 2);
    EXPECT_EQ(std::string(m.doc["sha256"].GetString()), crypto::sha256_hex(slurp(w->zip)));
    EXPECT_EQ(std::string(m.doc["created_at"].GetString()), "2025-11-20T09:30:00Z");
    EXPECT_EQ(slurp(w->manifest).find("নুসরাত"), std::string::npos);
    // No temporary files are left behind.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++files;
    }
    EXPECT_EQ(files, 2u);
    if (have_7z()) {
        const auto csv =
            run("7z x -so -ppass-phrase-123 " + w->zip.string() + " dss-20251120-0001.csv");
        ASSERT_EQ(csv.status, 0);
        EXPECT_EQ(crypto::sha256_hex(csv.out), w->csv_sha256);
        const auto table = parse_csv(csv.out);
        ASSERT_TRUE(table);
        EXPECT_EQ(table->rows[1][2], "Rahim, \"Ali\"");
    }
}

TEST(dss_files, batch_ships_its_dictionary_beside_the_zip) {
    test::temp_dir dir;
    auto b = sample_batch();
    b.dictionary =
        "\xEF\xBB\xBF"
        "column,label_en\r\nexchange_id,Exchange id\r\n";
    const auto w = write_batch(dir.path(), b, "pass-phrase-123", when);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w->dictionary, dir.path() / "dss-20251120-0001.dictionary.csv");
    EXPECT_EQ(slurp(w->dictionary), b.dictionary);
    struct stat st {};
    ASSERT_EQ(::stat(w->dictionary.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777U, 0600U);
    const auto m = json::load_file(w->manifest);
    EXPECT_EQ(
        std::string(m.doc["dictionary_file"].GetString()), "dss-20251120-0001.dictionary.csv"
    );
    EXPECT_EQ(
        std::string(m.doc["dictionary_sha256"].GetString()), crypto::sha256_hex(b.dictionary)
    );
    // Without a dictionary the manifest does not name one.
    std::filesystem::create_directories(dir.path() / "plain");
    const auto plain = write_batch(dir.path() / "plain", sample_batch(), "pass-phrase-123", when);
    ASSERT_TRUE(plain);
    EXPECT_TRUE(plain->dictionary.empty());
    EXPECT_FALSE(json::load_file(plain->manifest).doc.HasMember("dictionary_file"));
}

TEST(dss_files, move_aside_keeps_both_files_of_one_name) {
    test::temp_dir dir;
    const auto first = dir.write("inbox/case-1.csv", "one");
    const auto moved = move_aside(first, "processed");
    ASSERT_TRUE(moved) << moved.error().message();
    EXPECT_EQ(*moved, dir.path() / "inbox/processed/case-1.csv");
    EXPECT_FALSE(std::filesystem::exists(first));
    const auto second = dir.write("inbox/case-1.csv", "two");
    const auto moved2 = move_aside(second, "processed");
    ASSERT_TRUE(moved2);
    EXPECT_EQ(*moved2, dir.path() / "inbox/processed/case-1.csv.1");
    EXPECT_EQ(slurp(*moved), "one");
    EXPECT_EQ(slurp(*moved2), "two");
    EXPECT_FALSE(move_aside(dir.path() / "inbox/absent.csv", "processed"));
}

TEST(dss_files, batch_refuses_bad_ids_and_ragged_rows) {
    test::temp_dir dir;
    auto b = sample_batch();
    b.id = "../escape";
    EXPECT_FALSE(write_batch(dir.path(), b, "pass", when));
    b = sample_batch();
    b.rows[1].pop_back();
    EXPECT_FALSE(write_batch(dir.path(), b, "pass", when));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(dss_files, acknowledgements_parse_and_report_unknown_ids) {
    const std::string text =
        "exchange_id,status,dss_reference,reason\r\n"
        "0b5e8c1a-1111-4a2b-9c3d-000000000001,accepted,DSS/CXB/2025/0042,\r\n"
        "0b5e8c1a-1111-4a2b-9c3d-000000000002,rejected,,missing_guardian\r\n"
        "0b5e8c1a-1111-4a2b-9c3d-0000000000ff,error,,The child Rahim was not found\r\n";
    const auto acks = parse_acknowledgements(text, "ack.csv");
    ASSERT_TRUE(acks) << acks.error().message;
    ASSERT_EQ(acks->size(), 3u);
    EXPECT_EQ((*acks)[0].dss_reference, "DSS/CXB/2025/0042");
    EXPECT_EQ((*acks)[1].reason, "missing_guardian");
    EXPECT_EQ((*acks)[2].reason, "<text>");  // free text from outside is not kept
    EXPECT_EQ((*acks)[2].line, 4u);
    const std::set<std::string, std::less<>> known = {
        "0b5e8c1a-1111-4a2b-9c3d-000000000001", "0b5e8c1a-1111-4a2b-9c3d-000000000002"};
    const auto unknown = unknown_acknowledgements(*acks, known);
    ASSERT_EQ(unknown.size(), 1u);
    EXPECT_EQ(unknown[0].exchange_id, "0b5e8c1a-1111-4a2b-9c3d-0000000000ff");
}

TEST(dss_files, bad_acknowledgements_are_refused_whole) {
    const auto e1 =
        parse_acknowledgements("exchange_id,status\r\nnot-a-uuid,accepted\r\n", "ack.csv");
    ASSERT_FALSE(e1);
    EXPECT_EQ(e1.error().message, "ack.csv:2:1: column exchange_id: not an exchange id (a UUID)");
    const auto e2 = parse_acknowledgements(
        "exchange_id,status\r\n0b5e8c1a-1111-4a2b-9c3d-000000000001,maybe\r\n", "ack.csv"
    );
    ASSERT_FALSE(e2);
    EXPECT_EQ(
        e2.error().message,
        "ack.csv:2:38: column status: status must be accepted, rejected or error"
    );
    const auto e3 = parse_acknowledgements(
        "exchange_id,status\r\n0b5e8c1a-1111-4a2b-9c3d-000000000001,accepted\r\n"
        "0b5e8c1a-1111-4a2b-9c3d-000000000001,rejected\r\n",
        "ack.csv"
    );
    ASSERT_FALSE(e3);
    EXPECT_NE(e3.error().message.find("acknowledged twice"), std::string::npos);
    const auto e4 = parse_acknowledgements("id,state\r\n", "ack.csv");
    ASSERT_FALSE(e4);
    EXPECT_NE(
        e4.error().message.find("needs the columns exchange_id and status"), std::string::npos
    );
}

TEST(dss_files, quarantine_moves_the_file_and_writes_the_reason) {
    test::temp_dir dir;
    const auto inbox = dir.path() / "inbox";
    std::filesystem::create_directories(inbox);
    const auto bad = dir.write("inbox/ack-7.csv", "exchange_id,status\r\nx\r\n");
    const auto moved = quarantine(bad, "ack-7.csv:2:1: row has 1 fields, the header has 2");
    ASSERT_TRUE(moved) << moved.error().message();
    EXPECT_FALSE(std::filesystem::exists(bad));
    EXPECT_EQ(moved->parent_path(), inbox / "rejected");
    EXPECT_EQ(slurp(*moved), "exchange_id,status\r\nx\r\n");  // nothing in it is lost
    EXPECT_EQ(
        slurp(moved->string() + ".reason.txt"),
        "ack-7.csv:2:1: row has 1 fields, the header has 2\n"
    );
    // A second file of the same name does not overwrite the first.
    const auto again = dir.write("inbox/ack-7.csv", "other");
    const auto moved2 = quarantine(again, "reason");
    ASSERT_TRUE(moved2);
    EXPECT_NE(*moved2, *moved);
    EXPECT_EQ(slurp(*moved), "exchange_id,status\r\nx\r\n");
}

}  // namespace
}  // namespace casebridge::dss_files::files
