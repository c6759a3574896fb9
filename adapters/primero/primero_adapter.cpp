#include "primero/primero_adapter.hpp"

#include "primero/adapter_impl.hpp"

namespace casebridge::primero {

adapter_factory make_factory() {
    return factory_of<primero_adapter, &settings_from_json>("primero", config_schema());
}

primero_adapter::primero_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.http != nullptr && impl_->env.clock != nullptr);
    if (impl_->cfg.per_page < 1 || impl_->cfg.per_page > 1000) {
        throw std::invalid_argument("primero: per_page must be 1..1000");
    }
    while (!impl_->cfg.base_url.empty() && impl_->cfg.base_url.back() == '/') {
        impl_->cfg.base_url.pop_back();
    }
}

primero_adapter::~primero_adapter() = default;

std::string primero_adapter::client_id_for(std::string_view source_key) {
    return uuid_v5(std::string("primero/case/") + std::string(source_key));
}

awaitable<remote_result<pull_page>> primero_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    co_return co_await impl_->pull(std::move(cursor));
}

awaitable<remote_result<external_record>> primero_adapter::fetch(
    std::string stream, std::string remote_id
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    co_return co_await show(std::move(remote_id));
}

awaitable<remote_result<std::string>> primero_adapter::push(external_record record) {
    if (!record.stream.empty() && !serves(record.stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    if (!record.body.IsObject()) {
        co_return make_remote_error(errc::mapping_failed, "record body is not an object");
    }
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(record.body, a);
    if (record.remote_id.empty()) {
        if (record.source_key.empty()) {
            co_return make_remote_error(errc::mapping_failed, "create without a source key");
        }
        const std::string id = client_id_for(record.source_key);
        data.RemoveMember("id");
        data.AddMember("id", Value(id.c_str(), a), a);
        stabilise_rows(data, id, a);
        payload.AddMember("data", data, a);
        auto r = co_await impl_->call("POST", "/api/v2/cases", json::to_string(payload), id);
        if (r) {
            co_return id;  // 200/204: created
        }
        if (r.error().http_status != 409) {
            co_return r.error();
        }
        // The case exists already (a lost answer, a lost link): this body may be newer than
        // what it holds, so it goes in as the update it is, subform rows keyed as for any
        // update of this id. The engine logs the outcome of this PATCH.
        payload["data"].RemoveMember("id");
        auto u = co_await impl_->call(
            "PATCH", "/api/v2/cases/" + url_encode(id), json::to_string(payload), id
        );
        if (!u) {
            impl_->env.log.warn(
                "primero.create_exists_update_failed",
                "create answered 409 (the case exists); the update that follows failed",
                {.record = record_ref{"primero", id}, .error = u.error().code}
            );
            co_return u.error();
        }
        impl_->env.log.info(
            "primero.create_exists_updated",
            "create answered 409 (the case exists); sent as an update",
            {.record = record_ref{"primero", id}, .counts = {{"http_status", u->status}}}
        );
        co_return id;
    }
    data.RemoveMember("id");
    stabilise_rows(data, record.remote_id, a);
    payload.AddMember("data", data, a);
    auto r = co_await impl_->call(
        "PATCH",
        "/api/v2/cases/" + url_encode(record.remote_id),
        json::to_string(payload),
        record.remote_id
    );
    if (!r) {
        co_return r.error();
    }
    co_return record.remote_id;
}

awaitable<remote_result<std::optional<std::string>>> primero_adapter::lookup(
    std::string stream, std::string source_key
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    const std::string id = client_id_for(source_key);
    auto r = co_await impl_->call("GET", "/api/v2/cases/" + url_encode(id), {}, id);
    if (r) {
        co_return std::optional<std::string>(id);
    }
    if (r.error().http_status == 404) {
        co_return std::optional<std::string>();
    }
    co_return r.error();
}

awaitable<remote_result<std::optional<external_record>>> primero_adapter::lookup_record(
    std::string stream, std::string source_key
) {
    if (!serves(stream)) {
        co_return make_remote_error(errc::not_found, "the Primero adapter serves stream cases");
    }
    // The record's id is derived from the source key, so one GET both finds and reads it.
    auto got = co_await show(client_id_for(source_key));
    if (!got) {
        if (got.error().http_status == 404) {
            co_return std::optional<external_record>();
        }
        co_return got.error();
    }
    co_return std::optional<external_record>(std::move(*got));
}

std::vector<std::string> primero_adapter::remote_assigned_fields(std::string_view stream) const {
    if (!serves(stream)) {
        return {};
    }
    return {
        "id",
        "unique_identifier",
        "case_id",
        "case_id_display",
        "short_id",
        "created_at",
        "created_by",
        "posted_at",
        "last_updated_at",
        "last_updated_by",
        "owned_by",
        "associated_user_names"};
}

std::optional<std::string> primero_adapter::credential_fingerprint() const {
    auto pw = read_secret(impl_->cfg.password);
    if (!pw) {
        return std::nullopt;
    }
    return crypto::sha256_hex("primero\n" + impl_->cfg.user_name + "\n" + *pw);
}

awaitable<remote_result<void>> primero_adapter::probe() {
    auto r = co_await impl_->call("GET", "/api/v2/cases?fields=short&per=1", {}, {});
    if (!r) {
        co_return r.error();
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<external_record>> primero_adapter::show(std::string id) {
    auto r = co_await impl_->call("GET", "/api/v2/cases/" + url_encode(id), {}, id);
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::parse_body(*r, id);
    if (!doc) {
        co_return doc.error();
    }
    if (!doc->HasMember("data")) {
        co_return with_record(make_remote_error(errc::bad_payload, "show without data", 200), id);
    }
    auto page = std::make_shared<Document>(std::move(*doc));
    co_return impl::to_record((*page)["data"], page);
}

awaitable<remote_result<void>> primero_adapter::disable(std::string id) {
    auto r = co_await impl_->call("DELETE", "/api/v2/cases/" + url_encode(id), {}, id);
    if (!r) {
        co_return r.error();
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<Document>> primero_adapter::list_transitions(
    std::string id, transition_kind kind
) {
    auto r = co_await impl_->call("GET", transitions_path(id, kind), {}, id);
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::parse_body(*r, id);
    if (!doc) {
        co_return doc.error();
    }
    if (!doc->HasMember("data") || !(*doc)["data"].IsArray()) {
        co_return with_record(make_remote_error(errc::bad_payload, "list without data", 200), id);
    }
    Document out;
    out.CopyFrom((*doc)["data"], out.GetAllocator());
    co_return out;
}

awaitable<remote_result<Document>> primero_adapter::create_transition(
    std::string id, transition_kind kind, Document body
) {
    Document payload(rapidjson::kObjectType);
    Value data(body, payload.GetAllocator());
    payload.AddMember("data", data, payload.GetAllocator());
    auto r = co_await impl_->call("POST", transitions_path(id, kind), json::to_string(payload), id);
    co_return impl::transition_data(r, id);
}

awaitable<remote_result<Document>> primero_adapter::update_transition(
    std::string id,
    transition_kind kind,
    std::string transition_id,
    std::string status,
    std::string rejected_reason
) {
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(rapidjson::kObjectType);
    data.AddMember("status", Value(status.c_str(), a), a);
    if (!rejected_reason.empty()) {
        data.AddMember("rejected_reason", Value(rejected_reason.c_str(), a), a);
    }
    payload.AddMember("data", data, a);
    auto r = co_await impl_->call(
        "PATCH",
        transitions_path(id, kind) + "/" + url_encode(transition_id),
        json::to_string(payload),
        id
    );
    co_return impl::transition_data(r, id);
}

awaitable<remote_result<void>> primero_adapter::mark_synced(
    std::string id, std::string url, std::string status
) {
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value data(rapidjson::kObjectType);
    data.AddMember("mark_synced", true, a);
    data.AddMember("mark_synced_url", Value(url.c_str(), a), a);
    data.AddMember("mark_synced_status", Value(status.c_str(), a), a);
    payload.AddMember("data", data, a);
    auto r = co_await impl_->call(
        "PATCH", "/api/v2/cases/" + url_encode(id), json::to_string(payload), id
    );
    if (!r) {
        co_return r.error();
    }
    co_return remote_result<void>{};
}

}  // namespace casebridge::primero
