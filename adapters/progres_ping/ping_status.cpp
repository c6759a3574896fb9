#include "progres_ping/ping_status.hpp"

#include <cctype>

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>

#include "json/json.hpp"

namespace casebridge::progres_ping {
namespace {

using rapidjson::Document;
using rapidjson::Value;

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The end (one past the closing quote) of the JSON string starting at `begin` (a quote), or
// npos when it is not closed.
std::size_t string_end(std::string_view s, std::size_t begin) {
    for (std::size_t i = begin + 1; i < s.size(); ++i) {
        if (s[i] == '\\') {
            ++i;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

bool equals_ci(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// Parses one JSON value at the start of `s`; returns the length it used, or 0.
std::size_t parse_prefix(std::string_view s, Document& out) {
    rapidjson::MemoryStream ms(s.data(), s.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    out.ParseStream<rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseValidateEncodingFlag>(is);
    if (out.HasParseError()) {
        return 0;
    }
    return is.Tell();
}

const Value* member_ci(const Value& obj, std::string_view name) {
    if (!obj.IsObject()) {
        return nullptr;
    }
    for (const auto& m : obj.GetObject()) {
        if (equals_ci({m.name.GetString(), m.name.GetStringLength()}, name)) {
            return &m.value;
        }
    }
    return nullptr;
}

std::string text_of(const Value* v) {
    if (v == nullptr) {
        return {};
    }
    if (v->IsString()) {
        return {v->GetString(), v->GetStringLength()};
    }
    if (v->IsNumber()) {
        return json::to_string(*v);
    }
    return {};
}

std::optional<status_item> item_of(const Value& v) {
    if (!v.IsObject()) {
        return std::nullopt;
    }
    status_item item;
    item.external_id = text_of(member_ci(v, "ExternalId"));
    const std::string status = text_of(member_ci(v, "Status"));
    item.state = state_of(status);
    item.message = text_of(member_ci(v, "Message"));
    if (const Value* d = member_ci(v, "Data")) {
        if (d->IsObject() || d->IsArray()) {
            item.data.CopyFrom(*d, item.data.GetAllocator());
        } else if (d->IsString()) {
            // Properly escaped JSON inside a string, or a malformed remainder.
            if (auto inner = json::parse({d->GetString(), d->GetStringLength()});
                inner && (inner->IsObject() || inner->IsArray())) {
                item.data.Swap(*inner);
            }
        }
    }
    return item;
}

}  // namespace

item_state state_of(std::string_view status) {
    std::string w;
    for (char c : status) {
        if (!is_space(c) && c != '_' && c != '-') {
            w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    for (std::string_view s :
         {"success",
          "succeeded",
          "successful",
          "completed",
          "complete",
          "processed",
          "created",
          "updated",
          "done"}) {
        if (w == s) {
            return item_state::succeeded;
        }
    }
    for (std::string_view s : {"failed", "failure", "error", "rejected", "invalid"}) {
        if (w == s) {
            return item_state::failed;
        }
    }
    for (std::string_view s :
         {"inprogress", "queued", "pending", "processing", "submitted", "received", "accepted"}) {
        if (w == s) {
            return item_state::pending;
        }
    }
    return item_state::unknown;
}

std::string repair_status_text(std::string_view s) {
    // Text that parses needs no repair, even where it could be read as needing one
    // ("Data":"{}" is a string here, not an unescaped object).
    if (json::parse(s)) {
        return std::string(s);
    }
    std::string out;
    out.reserve(s.size() + 64);
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] != '"') {
            out += s[i++];
            continue;
        }
        const std::size_t end = string_end(s, i);
        if (end == std::string_view::npos) {
            out.append(s.substr(i));
            break;
        }
        const std::string_view token = s.substr(i, end - i);
        out.append(token);
        i = end;
        if (!equals_ci(token, "\"Data\"")) {
            continue;
        }
        // A key named Data: is its value a quote followed by raw JSON?
        std::size_t j = i;
        while (j < s.size() && is_space(s[j])) {
            ++j;
        }
        if (j >= s.size() || s[j] != ':') {
            continue;
        }
        ++j;
        while (j < s.size() && is_space(s[j])) {
            ++j;
        }
        if (j + 1 >= s.size() || s[j] != '"' || (s[j + 1] != '{' && s[j + 1] != '[')) {
            continue;
        }
        Document inner;
        const std::size_t used = parse_prefix(s.substr(j + 1), inner);
        if (used == 0) {
            continue;  // escaped JSON in a string (or garbage): read as a plain string
        }
        std::size_t k = j + 1 + used;
        while (k < s.size() && is_space(s[k])) {
            ++k;
        }
        if (k >= s.size() || s[k] != '"') {
            continue;
        }
        out += ':';
        out += json::to_string(inner);
        i = k + 1;
    }
    return out;
}

std::optional<std::vector<status_item>> read_status(const Value& value) {
    std::vector<status_item> items;
    if (value.IsArray()) {
        for (const auto& v : value.GetArray()) {
            auto item = item_of(v);
            if (!item) {
                return std::nullopt;
            }
            items.push_back(std::move(*item));
        }
        return items;
    }
    auto item = item_of(value);
    if (!item) {
        return std::nullopt;
    }
    items.push_back(std::move(*item));
    return items;
}

std::optional<std::vector<status_item>> read_status(std::string_view text) {
    auto doc = json::parse(text);
    if (!doc) {
        doc = json::parse(repair_status_text(text));
    }
    if (!doc) {
        return std::nullopt;
    }
    return read_status(*doc);
}

}  // namespace casebridge::progres_ping
