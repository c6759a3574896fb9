// PING's ingestion status: the `Data` string that `checkstatus` (and a synchronous write)
// answers with. It holds a JSON list of per-item statuses, but each item's own `Data` object
// is pasted in without escaping its quotes, so the string is not valid JSON. The reader here
// repairs that before parsing, and also accepts properly escaped or already structured input.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace casebridge::progres_ping {

enum class item_state {
    succeeded,  ///< Success, Completed, Processed, Created, Updated.
    failed,     ///< Failed, Failure, Error, Rejected.
    pending,    ///< InProgress, Queued, Pending, Processing, Submitted.
    unknown,    ///< Any other status word, or none.
};

struct status_item {
    std::string external_id;  ///< The item's ExternalId, as written.
    item_state state = item_state::unknown;
    std::string message;       ///< The item's Message (remote text; clean before reporting).
    rapidjson::Document data;  ///< The item's Data object (Null when absent or unreadable).
};

/// The text with every unescaped `"Data":"{...}"` (or `"[...]"`) value replaced by the JSON
/// value itself. Text that needs no repair comes back unchanged.
std::string repair_status_text(std::string_view text);

/// Reads a status text: a list of items, or one item. nullopt when it cannot be read even
/// after repair. Member names are matched without regard to case.
std::optional<std::vector<status_item>> read_status(std::string_view text);

/// Reads items from an already parsed value (a list of items, or one item).
std::optional<std::vector<status_item>> read_status(const rapidjson::Value& value);

/// The state a status word stands for (case and spaces ignored).
item_state state_of(std::string_view status);

}  // namespace casebridge::progres_ping
