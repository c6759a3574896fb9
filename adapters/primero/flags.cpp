// Case flags through Primero's flags API: list, raise, update (message and date replaced, as
// its FlagsController does) and resolve; ids, counts and field names only in the log.
#include "primero/adapter_impl.hpp"

namespace casebridge::primero {

bool primero_adapter::can_flag(std::string_view stream) const noexcept {
    return serves(stream);
}

awaitable<remote_result<std::vector<record_flag>>> primero_adapter::list_flags(
    std::string stream, std::string remote_id
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    auto r = co_await impl_->call("GET", flags_path(remote_id, nullptr), {}, remote_id);
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::parse_body(*r, remote_id);
    if (!doc) {
        co_return doc.error();
    }
    if (!doc->HasMember("data") || !(*doc)["data"].IsArray()) {
        co_return with_record(
            make_remote_error(errc::bad_payload, "flags without a data array", r->status), remote_id
        );
    }
    std::vector<record_flag> out;
    for (const auto& item : (*doc)["data"].GetArray()) {
        auto f = flag_of(item);
        if (!f) {
            co_return with_record(
                make_remote_error(errc::bad_payload, "a flag without an integer id", r->status),
                remote_id
            );
        }
        out.push_back(std::move(*f));
    }
    impl_->env.log.debug(
        "primero.flags_listed",
        "flags of a case read",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"flags", static_cast<std::int64_t>(out.size())}}}
    );
    co_return out;
}

namespace {
// The flag of a write's answer ({"data": flag}), or bad_payload.
remote_result<record_flag> written_flag(const http_response& r, const std::string& id) {
    auto doc = json::parse(r.body);
    const Value* data =
        doc && doc->IsObject() && doc->HasMember("data") ? &(*doc)["data"] : nullptr;
    auto f = data != nullptr ? flag_of(*data) : std::nullopt;
    if (!f) {
        return with_record(
            make_remote_error(errc::bad_payload, "flag answer without a flag", r.status), id
        );
    }
    return std::move(*f);
}

std::string flag_body(const char* member, const std::string& text, const std::string* date) {
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(rapidjson::kObjectType);
    data.AddMember(rapidjson::StringRef(member), Value(text.c_str(), a), a);
    if (date != nullptr) {
        data.AddMember("date", Value(date->c_str(), a), a);
    }
    payload.AddMember("data", data, a);
    return json::to_string(payload);
}
}  // namespace

awaitable<remote_result<std::string>> primero_adapter::raise_flag(
    std::string stream, std::string remote_id, std::string message, std::string date
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    auto r = co_await impl_->call(
        "POST", flags_path(remote_id, nullptr), flag_body("message", message, &date), remote_id
    );
    if (!r) {
        co_return r.error();
    }
    auto f = written_flag(*r, remote_id);
    if (!f) {
        co_return f.error();
    }
    impl_->env.log.info(
        "primero.flag_raised",
        "flag raised on a case",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"http_status", static_cast<std::int64_t>(r->status)}}}
    );
    co_return std::move(f->id);
}

awaitable<remote_result<void>> primero_adapter::update_flag(
    std::string stream, std::string remote_id, std::string flag_id, std::string message
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    // Primero replaces both message and date on an update (a missing date fails its
    // validation): the flag is dated the day its text changed.
    const std::string today = format_rfc3339(impl_->env.clock->now()).substr(0, 10);
    auto r = co_await impl_->call(
        "PATCH", flags_path(remote_id, &flag_id), flag_body("message", message, &today), remote_id
    );
    if (!r) {
        co_return r.error();
    }
    if (auto f = written_flag(*r, remote_id); !f) {
        co_return f.error();
    }
    impl_->env.log.info(
        "primero.flag_updated",
        "flag text replaced",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"http_status", static_cast<std::int64_t>(r->status)}}}
    );
    co_return remote_result<void>{};
}

awaitable<remote_result<void>> primero_adapter::resolve_flag(
    std::string stream, std::string remote_id, std::string flag_id, std::string unflag_message
) {
    if (!serves(stream)) {
        co_return flag_stream_error();
    }
    auto r = co_await impl_->call(
        "PATCH",
        flags_path(remote_id, &flag_id),
        flag_body("unflag_message", unflag_message, nullptr),
        remote_id
    );
    if (!r) {
        co_return r.error();
    }
    auto f = written_flag(*r, remote_id);
    if (!f) {
        co_return f.error();
    }
    if (!f->removed) {
        co_return with_record(
            make_remote_error(errc::bad_payload, "resolved flag not marked removed", r->status),
            remote_id
        );
    }
    impl_->env.log.info(
        "primero.flag_resolved",
        "flag resolved",
        {.record = record_ref{"primero", remote_id},
         .counts = {{"http_status", static_cast<std::int64_t>(r->status)}}}
    );
    co_return remote_result<void>{};
}

}  // namespace casebridge::primero
