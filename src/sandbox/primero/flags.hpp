// Case flags of the Primero sandbox (reference/primero-v2-api.md §1.9): the flags of each case,
// the flags API's requests (list, raise, update, resolve) and the flag JSON Primero renders.
// The sandbox checks authentication, the `flag` permission and the case's existence first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace casebridge::sandbox {

/// One flag, as Primero's `flags` table holds it.
struct primero_flag {
    std::int64_t id = 0;    ///< A serial, unique across cases.
    std::string record_id;  ///< The case's id.
    std::string date;       ///< YYYY-MM-DD, as given (today when not given).
    std::string message;
    std::string flagged_by;
    bool removed = false;  ///< Resolved ("unflagged").
    std::string unflag_message;
    std::string unflagged_by;
    std::string unflagged_date;  ///< YYYY-MM-DD
    std::string created_at;      ///< RFC 3339 with milliseconds.
    bool system_generated_followup = false;
};

/// What a flags request came to: 200 with `data` (a flag object or, for a list, an array), or
/// an error: `message` and `detail` for errors[0], or for a model validation error (422) the
/// field as `detail` and the i18n key as a one-element message array.
struct flag_answer {
    unsigned status = 200;
    rapidjson::Document data;
    bool changed = false;  ///< A flag was added or changed: the case was saved.
    std::string message;
    std::string detail;
    std::string validation_key;  ///< Non-empty: a model validation error.
};

/// The flags of every case of one sandbox. Not thread-safe: the sandbox holds its lock.
class primero_flag_book {
public:
    /// GET, POST on /api/v2/cases/:id/flags (`flag_id` nullopt) and PATCH on
    /// /api/v2/cases/:id/flags/:flag_id, by `user` at `now` (RFC 3339), as Primero's
    /// FlagsController and Flaggable do: POST {"data":{"message","date"}} raises a flag (no
    /// date: today); PATCH with a non-blank `unflag_message` resolves one, any other PATCH
    /// replaces its message and date (both needed). Keeps the case's `flag_count` (active
    /// flags) and `flagged`; the caller saves the case (last_updated_at) when `changed`. A
    /// missing `data` is 422 "param is missing…", a blank message or date (or a date that is
    /// not YYYY-MM-DD) a model validation error, an unknown flag 404, another method 404.
    flag_answer handle(
        std::string_view method,
        const std::optional<std::string>& flag_id,
        std::string_view body,
        rapidjson::Document& record,
        const std::string& user,
        const std::string& now
    );

    /// The flags of a case, oldest first (empty when it has none).
    std::vector<primero_flag> of(const std::string& case_id) const;

private:
    std::map<std::string, std::vector<primero_flag>> flags_;
    std::int64_t next_id_ = 1;
};

}  // namespace casebridge::sandbox
