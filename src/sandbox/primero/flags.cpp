#include "sandbox/primero/flags.hpp"

#include <algorithm>
#include <charconv>

#include "core/time.hpp"
#include "json/json.hpp"

namespace casebridge::sandbox {
namespace {

using rapidjson::Document;
using rapidjson::Value;

// Rails' `blank?`: absent, not a string, or only white space.
bool blank(const Value* v) {
    if (v == nullptr || !v->IsString()) {
        return true;
    }
    const std::string_view s(v->GetString(), v->GetStringLength());
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

const Value* member(const Value& o, const char* name) {
    const auto it = o.FindMember(name);
    return it == o.MemberEnd() ? nullptr : &it->value;
}

std::string text(const Value* v) {
    return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                         : std::string{};
}

Value string_or_null(const std::string& s, Document::AllocatorType& a) {
    return s.empty() ? Value(rapidjson::kNullType) : Value(s.c_str(), a);
}

// The record's summary fields a flag carries (Flag#record fields), copied or null.
void copy_record_field(const Value& rec, const char* name, Value& out, Document::AllocatorType& a) {
    const Value* v = member(rec, name);
    out.AddMember(Value(name, a), v == nullptr ? Value(rapidjson::kNullType) : Value(*v, a), a);
}

// app/views/api/v2/flags/_flag.json.jbuilder: the columns, then the record's summary.
Value render(const primero_flag& f, const Value& rec, Document::AllocatorType& a) {
    Value o(rapidjson::kObjectType);
    o.AddMember("id", f.id, a);
    o.AddMember("record_id", Value(f.record_id.c_str(), a), a);
    o.AddMember("record_uuid", Value(f.record_id.c_str(), a), a);
    o.AddMember("date", string_or_null(f.date, a), a);
    o.AddMember("message", Value(f.message.c_str(), a), a);
    o.AddMember("flagged_by", Value(f.flagged_by.c_str(), a), a);
    o.AddMember("removed", f.removed, a);
    o.AddMember("unflag_message", string_or_null(f.unflag_message, a), a);
    o.AddMember("unflagged_by", string_or_null(f.unflagged_by, a), a);
    o.AddMember("unflagged_date", string_or_null(f.unflagged_date, a), a);
    o.AddMember("created_at", Value(f.created_at.c_str(), a), a);
    o.AddMember("system_generated_followup", f.system_generated_followup, a);
    for (const char* name : {"name", "short_id", "owned_by", "owned_by_agency_id"}) {
        copy_record_field(rec, name, o, a);
    }
    o.AddMember("record_type", "cases", a);
    o.AddMember("record_access_denied", false, a);
    return o;
}

flag_answer refusal(unsigned status, std::string message, std::string detail = {}) {
    flag_answer r;
    r.status = status;
    r.message = std::move(message);
    r.detail = std::move(detail);
    return r;
}

// ActiveRecord::RecordInvalid on the Flag model: one error object naming the field. The keys
// follow Primero's errors.models.<model>.<field> convention (inferred).
flag_answer invalid(const char* field) {
    flag_answer r;
    r.status = 422;
    r.detail = field;
    r.validation_key = std::string("errors.models.flags.") + field;
    return r;
}

// A date of the request: absent (nullopt, keep or default), or YYYY-MM-DD.
std::optional<flag_answer> check_date(const Value& data) {
    const Value* d = member(data, "date");
    if (d == nullptr || d->IsNull()) {
        return std::nullopt;
    }
    if (!d->IsString() || d->GetStringLength() < 10 ||
        !parse_date(std::string_view(d->GetString(), 10))) {
        return invalid("date");
    }
    return std::nullopt;
}

// The flag counts Primero keeps on the record (active flags only).
void update_counts(Document& rec, const std::vector<primero_flag>& flags) {
    const auto active =
        std::count_if(flags.begin(), flags.end(), [](const primero_flag& f) { return !f.removed; });
    auto& a = rec.GetAllocator();
    rec.RemoveMember("flag_count");
    rec.AddMember("flag_count", static_cast<std::int64_t>(active), a);
    rec.RemoveMember("flagged");
    rec.AddMember("flagged", active > 0, a);
}

}  // namespace

flag_answer primero_flag_book::handle(
    std::string_view method,
    const std::optional<std::string>& flag_id,
    std::string_view body,
    Document& record,
    const std::string& user,
    const std::string& now
) {
    const std::string case_id = record["id"].GetString();
    auto& flags = flags_[case_id];
    flag_answer out;
    if (!flag_id && method == "GET") {
        out.data.SetArray();
        for (const auto& f : flags) {
            out.data.PushBack(render(f, record, out.data.GetAllocator()), out.data.GetAllocator());
        }
        return out;
    }
    if (!((!flag_id && method == "POST") || (flag_id && (method == "PATCH" || method == "PUT")))) {
        return refusal(404, "Not Found");
    }
    auto request = json::parse(body);
    const Value* data = request && request->IsObject() ? member(*request, "data") : nullptr;
    if (data == nullptr || !data->IsObject()) {
        return refusal(422, "param is missing or the value is empty: data");
    }
    if (auto bad = check_date(*data)) {
        return std::move(*bad);
    }
    const std::string today = now.substr(0, 10);
    primero_flag* target = nullptr;
    if (!flag_id) {
        if (blank(member(*data, "message"))) {
            return invalid("message");
        }
        primero_flag f;
        f.id = next_id_++;
        f.record_id = case_id;
        f.message = text(member(*data, "message"));
        f.date = text(member(*data, "date"));
        if (f.date.empty()) {
            f.date = today;  // Flaggable#add_flag: date.presence || Date.today
        }
        f.date = f.date.substr(0, 10);
        f.flagged_by = user;
        f.created_at = now;
        flags.push_back(std::move(f));
        target = &flags.back();
    } else {
        std::int64_t wanted = 0;
        const auto& s = *flag_id;
        const auto [at, ec] = std::from_chars(s.data(), s.data() + s.size(), wanted);
        const auto it = std::find_if(flags.begin(), flags.end(), [&](const primero_flag& f) {
            return f.id == wanted;
        });
        if (ec != std::errc{} || at != s.data() + s.size() || it == flags.end()) {
            return refusal(404, "Not Found", "Couldn't find Flag with 'id'=" + s);
        }
        target = &*it;
        if (!blank(member(*data, "unflag_message"))) {
            // Flag#mark_removed
            target->removed = true;
            target->unflag_message = text(member(*data, "unflag_message"));
            target->unflagged_by = user;
            target->unflagged_date = today;
        } else {
            // Flaggable#update_flag: message and date are both replaced by what was sent, so
            // a missing one fails the Flag's presence validation.
            if (blank(member(*data, "message"))) {
                return invalid("message");
            }
            if (blank(member(*data, "date"))) {
                return invalid("date");
            }
            target->message = text(member(*data, "message"));
            target->date = text(member(*data, "date")).substr(0, 10);
        }
    }
    update_counts(record, flags);
    out.changed = true;
    out.data.SetObject();
    out.data.CopyFrom(render(*target, record, out.data.GetAllocator()), out.data.GetAllocator());
    return out;
}

std::vector<primero_flag> primero_flag_book::of(const std::string& case_id) const {
    const auto it = flags_.find(case_id);
    return it == flags_.end() ? std::vector<primero_flag>{} : it->second;
}

}  // namespace casebridge::sandbox
