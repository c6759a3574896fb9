// remote_text: a remote system's error message reduced to text that cannot carry a record
// value: known phrases are kept, anything else is withheld.
#pragma once

#include <functional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include <rapidjson/fwd.h>

namespace casebridge {

/// What replaces a remote message that matches no known phrase.
inline constexpr std::string_view remote_text_withheld = "remote message withheld";

/// Field names (from configuration, mappings or the request sent) a remote message may name.
using field_names = std::set<std::string, std::less<>>;

/// `message` when it matches one of `phrases`, else remote_text_withheld followed by
/// " [a, b]": the names from `fields` that the message mentions as whole words (at most 8).
/// The result holds no other text from `message`.
///
/// A phrase is literal text with placeholders:
///   `<field>`  one name from `fields`, kept;
///   `<n>`      a run of digits, kept;
///   `<key>`    a message key (three or more lowercase words joined by dots, as
///              `transition.errors.consent`), kept;
///   `<value>`  any text, replaced by "...".
/// Control characters and white space at either end of `message` are ignored; a message
/// longer than 2000 bytes is withheld.
std::string allowed_remote_text(
    std::string_view message, std::span<const std::string_view> phrases, const field_names& fields
);

/// Where a request carries field names as values: the string member `member` of each object
/// in an array held by a member named `array` (PING's "Fields": [{"Name": ..., "Value": ...}]).
struct name_list {
    std::string_view array;
    std::string_view member;
};

/// Adds to `out` every object member name in `v` (at any depth) and the names the lists in
/// `lists` hold. A member named like a list's member elsewhere (an attachment's "Name", which
/// is a file name) is a value and is not added.
void collect_field_names(
    const rapidjson::Value& v, std::span<const name_list> lists, field_names& out
);

/// collect_field_names over a JSON text; nothing is added when it is not JSON.
void collect_field_names(
    std::string_view json_text, std::span<const name_list> lists, field_names& out
);

}  // namespace casebridge
