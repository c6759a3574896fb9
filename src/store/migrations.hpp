// Schema of the store, versioned by PRAGMA user_version; each migration runs in a transaction.
#pragma once

#include <span>
#include <string_view>

#include "core/result.hpp"
#include "store/sqlite.hpp"

namespace casebridge::store {

/// One step from version `to - 1` to version `to`.
struct migration {
    int to;
    std::string_view sql;
};

/// Every migration, in order. The last one's `to` is the schema version this build writes.
std::span<const migration> migrations();

/// The schema version this build expects.
int schema_version();

/// Applies the missing migrations, each in its own transaction with the new user_version.
/// A store written by a newer build (user_version above schema_version()) is refused with
/// errc::store_failed rather than touched. `up_to` stops early (tests of one step).
result<int> migrate(db& database, int up_to = -1);

}  // namespace casebridge::store
