// One-call queries over store::db: prepare, bind, step and read in one place, for the
// prepare → step → column reads written out by hand at every query.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "store/sqlite.hpp"

namespace casebridge::store {

namespace detail {

template <typename T>
void bind_one(stmt& s, int index, const T& value) {
    if constexpr (std::is_same_v<T, std::nullopt_t>) {
        s.bind_null(index);
    } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
        s.bind(index, value);
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
        s.bind(index, static_cast<std::int64_t>(value));
    } else {
        static_assert(std::is_convertible_v<const T&, std::string_view>, "bind text or integers");
        s.bind(index, std::string_view(value));
    }
}

}  // namespace detail

/// Binds `args` to the parameters 1..n of `s` (integers as INTEGER, strings as TEXT,
/// std::nullopt as NULL).
template <typename... Args>
void bind_all(stmt& s, const Args&... args) {
    int index = 0;
    (detail::bind_one(s, ++index, args), ...);
}

/// Prepares `sql`, binds `args` and runs it to completion (no rows).
/// Errors: errc::store_failed, errc::conflict (a UNIQUE or PRIMARY KEY refusal).
template <typename... Args>
result<void> execute(db& database, std::string_view sql, const Args&... args) {
    auto s = database.prepare(sql);
    if (!s) {
        return s.error();
    }
    bind_all(*s, args...);
    return s->run();
}

/// Prepares `sql`, binds `args` and reads the first row with `read(const stmt&)`; nullopt when
/// there is none. Errors: errc::store_failed.
template <typename Read, typename... Args>
auto query_one(db& database, std::string_view sql, Read&& read, const Args&... args)
    -> result<std::optional<std::invoke_result_t<Read&, const stmt&>>> {
    using row_type = std::invoke_result_t<Read&, const stmt&>;
    auto s = database.prepare(sql);
    if (!s) {
        return s.error();
    }
    bind_all(*s, args...);
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<row_type>();
    }
    return std::optional<row_type>(std::invoke(read, static_cast<const stmt&>(*s)));
}

/// Prepares `sql`, binds `args` and reads every row with `read(const stmt&)`, in order.
/// Errors: errc::store_failed.
template <typename Read, typename... Args>
auto query_all(db& database, std::string_view sql, Read&& read, const Args&... args)
    -> result<std::vector<std::invoke_result_t<Read&, const stmt&>>> {
    std::vector<std::invoke_result_t<Read&, const stmt&>> out;
    auto s = database.prepare(sql);
    if (!s) {
        return s.error();
    }
    bind_all(*s, args...);
    for (;;) {
        auto row = s->step();
        if (!row) {
            return row.error();
        }
        if (!*row) {
            return out;
        }
        out.push_back(std::invoke(read, static_cast<const stmt&>(*s)));
    }
}

/// The first column of the first row as an integer (a count), or `otherwise` when there is no
/// row. Errors: errc::store_failed.
template <typename... Args>
result<std::int64_t> query_int(
    db& database, std::string_view sql, std::int64_t otherwise, const Args&... args
) {
    auto v = query_one(
        database, sql, [](const stmt& row) { return row.column_int(0); }, args...
    );
    if (!v) {
        return v.error();
    }
    return v->value_or(otherwise);
}

}  // namespace casebridge::store
