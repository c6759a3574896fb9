// The compiled form of a mapping file: what mapping_spec.cpp builds once and mapper.cpp runs
// per record. Internal to src/mapping/.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include "canonical/canonical_case.hpp"
#include "core/text_fingerprint.hpp"
#include "mapping/mapping.hpp"

namespace casebridge::mapping {

enum class unknown_policy { reject, drop, pass, use_default };

/// One direction of a value table.
struct table_side {
    std::unordered_map<std::string, std::string> codes;
    unknown_policy unknown = unknown_policy::reject;
    std::string fallback;  ///< For use_default.
};

struct value_table {
    std::string name;
    table_side in;   ///< system code → canonical code
    table_side out;  ///< canonical code → system code
    bool out_ambiguous = false;
    std::string ambiguous_code;  ///< A canonical code with several system codes (no "out").
};

enum class transform_kind {
    none,
    trim,
    lower,
    upper,
    html_to_text,
    to_integer,
    to_string,
    to_boolean,
    name_split,
    first_present,
    concat,
    date,
    datetime,
    age,
    list_split,
    list_join,
    split_part,
};

enum class date_format { date, datetime, date_or_datetime, dmy };

struct transform_spec {
    transform_kind kind = transform_kind::none;
    std::string name;
    date_format format = date_format::date;
    bool has_offset = false;
    int offset_minutes = 0;
    std::string separator = " ";
    std::size_t index = 0;
    std::vector<std::string> true_values{"true", "yes", "1"};
    std::vector<std::string> false_values{"false", "no", "0"};
    bool at_now = true;            ///< age: at the context's "now"
    rapidjson::Pointer at_system;  ///< age: at the date in this system field
    std::string at_system_text;
};

/// The direct members that one list of rules reads from an object, in one direction, by name.
/// Built when the mapping is compiled; when a record is mapped, its object is read once,
/// member by member, into one slot per name (the first of two equal names wins, as with
/// FindMember), and each rule takes its value from its slot. The table is fixed: however a
/// record's member names are made, each costs at most the longest probe of the mapping's own
/// names.
class member_slots {
public:
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

    /// The slot of `name`, added if new. Compile time only.
    std::uint32_t add(std::string_view name);
    /// The number of slots.
    std::size_t size() const noexcept { return names_.size(); }
    /// found[slot] = the value of the first member of `object` with the slot's name, for
    /// every slot (nullptr when absent). `found` has size() entries, all nullptr.
    void fill(const rapidjson::Value& object, const rapidjson::Value** found) const;

private:
    struct entry {
        text_words words;  ///< core/text_fingerprint.hpp
        std::uint32_t length = 0;
        std::uint32_t slot = none;
    };
    std::uint32_t find(std::string_view name) const noexcept;
    void rebuild();

    std::vector<std::string> names_;  ///< By slot.
    std::vector<entry> table_;        ///< Open addressing, at most a quarter full.
};

/// The slots of one list of rules: system names read inbound, canonical names outbound.
struct rule_slots {
    member_slots in;
    member_slots out;
};

/// A place in a record: a parsed pointer and its text (for messages).
struct path {
    rapidjson::Pointer ptr;
    std::string text;
    /// A direct member read by its rule list: its slot in the list's rule_slots for the
    /// direction that reads this path (system paths inbound, canonical ones outbound).
    std::uint32_t slot = member_slots::none;
};

struct op {
    // What the runner reads for every rule first, together.
    bool in = true;
    bool out = true;
    /// One value copied as it is (no transform, table or constant; one path each side).
    bool plain_copy = false;
    bool required = false;
    bool has_const = false;
    bool is_subform = false;
    bool rows_from_root = false;      ///< `"system": ""`: the row is the system record itself.
    bool const_is_canonical = false;  ///< The constant fills the canonical side (in).
    std::vector<path> system;
    std::vector<path> canonical;
    std::vector<const field_def*> fields;  ///< Per canonical path.
    const value_table* table = nullptr;
    rapidjson::Value constant;         ///< Owned by program::constants.
    transform_spec transform;          ///< The first transform (it may combine several paths).
    std::vector<transform_spec> then;  ///< One-value transforms after it (inbound order).
    std::vector<op> rows;              ///< Subform row rules (relative to a row).
    rule_slots row_slots;              ///< The members the row rules read.
    std::string where;                 ///< JSON Pointer of the rule in its file (for load errors).
};

struct program {
    std::string id;
    std::string system;
    std::string record;
    int version = 0;
    bool in = false;
    bool out = false;
    bool field_list = false;
    bool has_record_id_system = false;
    bool has_record_id_canonical = false;
    rapidjson::Pointer record_id_system;
    rapidjson::Pointer record_id_canonical;
    bool groups = false;
    std::string group_by;  ///< A top-level column name.
    std::vector<std::string> group_lists;
    std::vector<std::unique_ptr<value_table>> tables;
    std::vector<op> ops;
    rule_slots slots;  ///< The members `ops` read from the record.
    rapidjson::Document constants;
};

/// A deep copy of `v` made in `alloc`. (RapidJSON 1.1.0 copies an array or object through a
/// temporary document, whose working stack is allocated from the heap for each copy.)
rapidjson::Value deep_copy(const rapidjson::Value& v, rapidjson::Document::AllocatorType& alloc);

/// Applies a value transform. `inputs` are the source values (nullptr when absent), `outputs`
/// receives one value per target (null when nothing is produced). Returns false with `reason`
/// set (fixed text, never a value) when the input cannot be transformed.
bool apply_transform(
    const transform_spec& t,
    direction d,
    std::span<const rapidjson::Value* const> inputs,
    const rapidjson::Value* record,
    std::span<rapidjson::Value> outputs,
    rapidjson::Document::AllocatorType& alloc,
    const map_context& ctx,
    std::string& reason
);

/// Checks a canonical value against its catalogue type; sets `reason` and returns false when
/// it does not fit. `unmapped` is set when the failure is a code outside a closed value set.
bool check_canonical_value(
    const field_def& f, const rapidjson::Value& v, std::string& reason, bool& unmapped
);

}  // namespace casebridge::mapping
