// Appends pages to a store until killed: 10 log entries, a cursor move and a delivery update
// per page, a signed checkpoint every 25 entries. Used by the SIGKILL crash test.
//   store_crash_helper STORE KEY.pem WITNESS.json [READY_FD]
// READY_FD (a pipe) receives one byte once the store is open, so the parent's random delay
// starts when appending does (start-up is slow under sanitizers).
#include <cstdio>
#include <string>

#include <unistd.h>

#include "core/clock.hpp"
#include "store/store.hpp"
#include "unit/store/test_util.hpp"

int main(int argc, char** argv) {
    using namespace casebridge;
    using namespace casebridge::store;
    if (argc != 4 && argc != 5) {
        std::fputs("usage: store_crash_helper STORE KEY WITNESS\n", stderr);
        return 2;
    }
    auto s = store::store::open(argv[1], {argv[2], argv[3], 25}, system_clock_source::instance());
    if (!s) {
        std::fputs("cannot open the store\n", stderr);
        return 1;
    }
    if (argc == 5) {
        const int fd = std::stoi(argv[4]);
        if (::write(fd, "r", 1) != 1) {
            return 1;
        }
        ::close(fd);
    }
    const token flow("crash_flow");
    auto c = s->get_cursor(flow);
    if (!c) {
        return 1;
    }
    std::int64_t page_no = *c ? (*c)->log_seq / 10 : 0;
    for (;;) {
        ++page_no;
        page_commit p;
        for (int i = 0; i < 10; ++i) {
            p.entries.push_back(testing::sample_entry(static_cast<int>(page_no * 10 + i)));
        }
        p.cursor_move = {flow, "page-" + std::to_string(page_no)};
        p.deliveries.push_back(delivery{
            flow,
            record_id{token("primero"), *token::make("case-" + std::to_string(page_no))},
            delivery_state::delivered,
            1,
            std::nullopt,
            std::nullopt,
            std::nullopt});
        if (!s->commit_page(p)) {
            std::fputs("commit failed\n", stderr);
            return 1;
        }
    }
}
