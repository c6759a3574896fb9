// The transfer-log verifier on a corrupted store file. A store with twenty entries and signed
// checkpoints is made once; each input patches its bytes (an offset, then bytes XORed in) and
// the copy is opened and verified with the signing key pinned and the external checkpoint, as
// `casebridge log verify` does. Properties: nothing throws or crashes; when the verifier says
// the log is intact, every entry reads back exactly as it was written (a change to the log is
// never passed as intact); a problem is fixed text.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/time.hpp"
#include "fuzz_support.hpp"
#include "store/crypto.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"
#include "store/transfer_log.hpp"

using namespace casebridge;
using namespace casebridge::store;
namespace fs = std::filesystem;

namespace {

log_entry_input entry(int n) {
    log_entry_input e;
    e.flow = token("cpims-referrals-to-unhcr");
    e.dir = direction::outbound;
    e.purpose = token("referral");
    e.profile_id = token("unhcr-referral");
    e.profile_version = 3;
    e.profile_hash = sha256("profile");
    e.legitimate_basis = token("consent");
    e.consent = {{token("consent_info_sharing"), {token("unhcr")}}};
    e.source = record_id{token("cpims-cxb"), *token::make("case-" + std::to_string(n))};
    e.target = record_id{token("progres"), *token::make("guid-" + std::to_string(n))};
    e.fields_sent = {token("sex"), token("age")};
    e.fields_withheld = {token("name_first")};
    e.payload_sha256 = sha256("payload" + std::to_string(n));
    e.result = n % 3 == 0 ? outcome::withheld : outcome::sent;
    e.attempt = 1;
    return e;
}

struct world {
    std::string pristine;              // the store file's bytes
    std::vector<std::string> entries;  // canonical encodings, in order
    verify_options options;
};

const world& the_world() {
    static const world made = [] {
        world w;
        const auto dir = fuzz::scratch_dir() / "made";
        fs::create_directories(dir / "witness");
        const auto key = signer::generate();
        fuzz::write_file(dir / "signing.pem", key.private_key_pem());
        fs::permissions(dir / "signing.pem", fs::perms::owner_read | fs::perms::owner_write);
        manual_clock clock(*parse_rfc3339("2026-11-01T08:00:00Z"));
        {
            auto s = casebridge::store::store::open(
                dir / "store.db", {dir / "signing.pem", dir / "witness/cp.json", 6}, clock
            );
            fuzz::require(static_cast<bool>(s), "the store opens");
            for (int page = 0; page < 10; ++page) {
                page_commit p;
                p.entries = {entry(page * 2 + 1), entry(page * 2 + 2)};
                fuzz::require(static_cast<bool>(s->commit_page(p)), "a page commits");
                clock.advance(std::chrono::seconds(1));
            }
            auto end = s->end_run();
            fuzz::require(end && *end, "a final checkpoint");
            w.options.external_checkpoint = **end;
            w.options.public_key = key.public_key_raw();
        }
        {
            auto d = db::open(dir / "store.db");
            fuzz::require(static_cast<bool>(d), "the store reopens");
            fuzz::require(static_cast<bool>(d->exec("PRAGMA wal_checkpoint(TRUNCATE)")), "wal");
            auto rows = read_entries(*d, log_query{});
            fuzz::require(rows && rows->size() == 20, "twenty entries");
            for (const auto& r : *rows) {
                w.entries.push_back(r.canonical + "|" + r.entry_hash);
            }
        }
        std::ifstream in(dir / "store.db", std::ios::binary);
        w.pristine.assign(std::istreambuf_iterator<char>(in), {});
        return w;
    }();
    return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& w = the_world();
    std::string bytes = w.pristine;
    // Patches: [u16 offset-in-4 KiB-page][u8 page][u8 length][length bytes], repeated.
    std::size_t i = 0;
    while (i + 4 <= size) {
        const std::size_t page = data[i + 2] % (bytes.size() / 4096);
        const std::size_t at = page * 4096 + ((data[i] | (data[i + 1] << 8)) % 4096);
        const std::size_t len = std::min<std::size_t>(data[i + 3] % 32, size - i - 4);
        for (std::size_t k = 0; k < len && at + k < bytes.size(); ++k) {
            bytes[at + k] = static_cast<char>(bytes[at + k] ^ data[i + 4 + k]);
        }
        i += 4 + len;
    }
    const auto path = fuzz::scratch_dir() / "corrupt.db";
    for (const auto* suffix : {"-wal", "-shm"}) {
        fs::remove(path.string() + suffix);
    }
    fuzz::write_file(path, bytes);
    auto d = db::open_read_only(path);
    if (!d) {
        return 0;
    }
    auto report = verify(*d, w.options);
    if (!report) {
        return 0;  // SQLite refused the damaged file: not passed as intact either
    }
    if (!report->ok) {
        fuzz::require(!report->problem.empty(), "a failed verification says why");
        return 0;
    }
    auto rows = read_entries(*d, log_query{});
    fuzz::require(static_cast<bool>(rows), "an intact log reads");
    fuzz::require(rows->size() == w.entries.size(), "an intact log has every entry");
    for (std::size_t k = 0; k < rows->size(); ++k) {
        fuzz::require(
            (*rows)[k].canonical + "|" + (*rows)[k].entry_hash == w.entries[k],
            "an intact log's entries are the ones written"
        );
    }
    return 0;
}
