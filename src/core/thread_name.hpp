// Names the calling thread, so that `top -H`, `ps -L` and /proc/PID/task/*/comm tell
// casebridge's threads apart (and per-thread CPU can be read, tests/bench/e2e_bench.cpp).
#pragma once

#include <pthread.h>

namespace casebridge {

/// At most 15 characters (the kernel's limit); a longer name leaves the thread unnamed.
inline void name_this_thread(const char* name) noexcept {
    (void)::pthread_setname_np(::pthread_self(), name);
}

}  // namespace casebridge
