// Writes: field-list pushes, their ingestion status, look-ups by correlation key, and
// creates whose answer was lost.
#include "progres_ping/adapter_impl.hpp"

namespace casebridge::progres_ping {

// Writes -----------------------------------------------------------------------------------

// The outcome of the item written as `external_id` in a status answer.
remote_result<write_outcome> progres_ping_adapter::impl::outcome_of(
    const Value& answer,
    const push_settings& p,
    const std::string& external_id,
    const std::string& record_id,
    const Value* request
) const {
    const Value* data = member_ci(answer, "Data");
    if (data == nullptr || data->IsNull()) {
        return write_outcome{item_state::pending, {}};  // no status yet
    }
    std::optional<std::vector<status_item>> items;
    if (data->IsString()) {
        items = read_status(std::string_view(data->GetString(), data->GetStringLength()));
    } else {
        items = read_status(*data);
    }
    if (!items) {
        return record_error(errc::bad_payload, "status Data cannot be read", record_id, 200);
    }
    if (items->empty()) {
        return write_outcome{item_state::pending, {}};
    }
    const status_item* item = &items->front();
    for (const auto& i : *items) {
        if (i.external_id == external_id) {
            item = &i;
        }
    }
    write_outcome out;
    out.state = item->state;
    if (!item->message.empty()) {
        out.message = allowed_remote_text(
            item->message, ping_phrases, request != nullptr ? names_of(*request) : config_names
        );
    }
    if (item->data.IsObject()) {
        out.id = text_of(member(item->data, p.result_id_field));
    }
    return out;
}

awaitable<remote_result<write_outcome>> progres_ping_adapter::impl::check_status(
    const push_settings& p,
    const std::string& transaction,
    const std::string& record_id,
    const Value* request
) {
    Document body(rapidjson::kObjectType);
    auto& a = body.GetAllocator();
    body.AddMember("ShippingProcessId", Value(p.shipping_process_id.c_str(), a), a);
    body.AddMember("InteropID", Value(cfg.interop_id.c_str(), a), a);
    body.AddMember("PartnerId", Value(cfg.partner_id.c_str(), a), a);
    body.AddMember("SPHTransactionId", Value(transaction.c_str(), a), a);
    auto r = co_await call(check_status_path, json::to_string(body), record_id);
    if (!r) {
        co_return r.error();
    }
    auto doc = parse_object(*r, record_id);
    if (!doc) {
        co_return doc.error();
    }
    co_return outcome_of(*doc, p, {}, record_id, request);
}

// The result id: from the status, else from the written fields.
std::string progres_ping_adapter::impl::result_id(
    const write_outcome& o, const Value& fields, const push_settings& p
) {
    if (!o.id.empty()) {
        return o.id;
    }
    for (const auto& f : fields.GetArray()) {
        if (text_of(member(f, "Name")) == p.result_id_field) {
            return text_of(member(f, "Value"));
        }
    }
    return {};
}

awaitable<remote_result<std::optional<std::string>>> progres_ping_adapter::impl::find_by_key(
    const push_settings& p, const std::string& key
) {
    auto params = p.lookup->parameters;
    params.push_back({p.lookup->key_parameter, key});
    auto r = co_await retrieve(p.lookup->shipping_process_id, params, 1, {}, key);
    if (!r) {
        co_return r.error();
    }
    std::set<std::string> ids;
    if (const Value* rows = r->rows()) {
        for (const auto& row : rows->GetArray()) {
            if (const Value* f = member(row, p.correlation_field);
                f != nullptr && text_of(f) != key) {
                continue;  // a row for another key
            }
            const std::string id = text_of(member(row, p.result_id_field));
            if (id.empty()) {
                co_return record_error(
                    errc::bad_payload, "a look-up row without " + p.result_id_field, key, 200
                );
            }
            ids.insert(id);
        }
    }
    if (ids.empty()) {
        co_return std::optional<std::string>{};
    }
    if (ids.size() > 1) {
        co_return record_error(
            errc::multiple_matches, "several records carry one correlation key", key
        );
    }
    co_return std::optional<std::string>(*ids.begin());
}

// What an earlier create without a definite answer became. nullopt: nothing was written
// (or the wait is over); an error: still unknown.
awaitable<remote_result<std::optional<std::string>>> progres_ping_adapter::impl::settle_pending(
    const std::string& stream_name,
    const push_settings& p,
    const std::string& source_key,
    const std::string& key
) {
    const std::pair<std::string, std::string> slot{stream_name, source_key};
    std::string transaction;
    if (const auto it = pending.find(slot); it != pending.end()) {
        if (!it->second.found.empty()) {
            co_return std::optional<std::string>(it->second.found);
        }
        transaction = it->second.transaction;
    }
    if (!transaction.empty()) {
        auto st = co_await check_status(p, transaction, key, nullptr);
        if (!st) {
            co_return st.error();
        }
        // Other calls may have changed `pending` while this one waited: the entry is found
        // again, and changed only while it still stands for the transaction checked.
        const auto it = pending.find(slot);
        const bool same = it != pending.end() && it->second.transaction == transaction;
        if (st->state == item_state::succeeded && !st->id.empty()) {
            if (same) {
                it->second.found = st->id;
            }
            co_return std::optional<std::string>(st->id);
        }
        if (st->state == item_state::failed) {
            if (same) {
                pending.erase(it);
            }
            co_return std::optional<std::string>{};
        }
        if (st->state != item_state::succeeded) {
            co_return record_error(errc::remote_unavailable, "ingestion still in progress", key);
        }
        // Succeeded without naming the record: find it by its key below.
    }
    auto found = co_await find_by_key(p, key);
    if (!found) {
        co_return found.error();
    }
    if (*found) {
        if (auto p2 = pending.find(slot); p2 != pending.end()) {
            p2->second.found = **found;
        }
        co_return found;
    }
    const auto again = pending.find(slot);
    if (again != pending.end()) {
        const auto waited = env.clock->steady_now() - again->second.since;
        if (p.mode == write_mode::async && waited < cfg.async_grace) {
            auto e = record_error(
                errc::rate_limited, "an earlier write may still be in PING's queue", key
            );
            e.retry_after = std::chrono::ceil<std::chrono::seconds>(cfg.async_grace - waited);
            co_return e;
        }
        pending.erase(again);
    }
    co_return std::optional<std::string>{};
}

awaitable<remote_result<std::string>> progres_ping_adapter::impl::push(
    const std::string& stream_name, const push_settings& p, external_record record
) {
    const Value& body = record.body;
    const Value* fields = member(body, "Fields");
    if (!body.IsObject() || fields == nullptr || !fields->IsArray()) {
        co_return record_error(
            errc::mapping_failed, "record body is not a PING field list", record.remote_id
        );
    }
    for (const auto& f : fields->GetArray()) {
        if (!f.IsObject() || member(f, "Name") == nullptr || !member(f, "Name")->IsString()) {
            co_return record_error(
                errc::mapping_failed, "a field without a Name", record.remote_id
            );
        }
    }
    const bool create = p.writes == write_kind::create;
    std::string key;
    if (create && !record.remote_id.empty()) {
        co_return record_error(
            errc::invalid_config,
            "this PING stream only creates records; an existing one cannot be updated",
            record.remote_id
        );
    }
    if (create) {
        if (record.source_key.empty()) {
            co_return record_error(
                errc::mapping_failed, "create without a source key", record.remote_id
            );
        }
        key = progres_ping_adapter::correlation_key_for(stream_name, record.source_key);
        if (pending.count({stream_name, record.source_key}) != 0) {
            auto settled = co_await settle_pending(stream_name, p, record.source_key, key);
            if (!settled) {
                co_return settled.error();
            }
            if (*settled) {
                co_return **settled;
            }
        }
    }
    Document payload(rapidjson::kObjectType);
    auto& a = payload.GetAllocator();
    Value item(rapidjson::kObjectType);
    std::string external_id = text_of(member(body, "ExternalId"));
    if (external_id.empty()) {
        external_id = create ? key : record.remote_id;
    }
    const std::string record_id = !record.remote_id.empty() ? record.remote_id
                                  : !key.empty()            ? key
                                                            : external_id;
    item.AddMember("ExternalId", Value(external_id.c_str(), a), a);
    if (p.mode == write_mode::async && create) {
        item.AddMember("ExternalGUID", Value(key.c_str(), a), a);
    }
    const Value* attachments = member(body, "Attachments");
    item.AddMember(
        "Attachments",
        attachments != nullptr && attachments->IsArray() ? Value(*attachments, a)
                                                         : Value(rapidjson::kArrayType),
        a
    );
    Value out_fields(rapidjson::kArrayType);
    for (const auto& f : fields->GetArray()) {
        const std::string name = text_of(member(f, "Name"));
        if (create && name == p.correlation_field) {
            co_return record_error(
                errc::mapping_failed,
                "the mapping writes the correlation field " + p.correlation_field,
                record_id
            );
        }
        const bool replaced =
            std::any_of(p.set_fields.begin(), p.set_fields.end(), [&](const query_parameter& s) {
                return s.name == name;
            });
        if (!replaced) {
            out_fields.PushBack(Value(f, a), a);
        }
    }
    const auto add_field = [&](const std::string& name, const std::string& value) {
        Value f(rapidjson::kObjectType);
        f.AddMember("Name", Value(name.c_str(), a), a);
        f.AddMember("Value", Value(value.c_str(), a), a);
        out_fields.PushBack(f, a);
    };
    for (const auto& s : p.set_fields) {
        add_field(s.name, s.value);
    }
    if (create) {
        add_field(p.correlation_field, key);
    }
    item.AddMember("Fields", out_fields, a);
    Value data(rapidjson::kArrayType);
    data.PushBack(item, a);
    payload.AddMember("ShippingProcessId", Value(p.shipping_process_id.c_str(), a), a);
    const bool async = p.mode == write_mode::async;
    payload.AddMember(async ? "InteropID" : "InteropId", Value(cfg.interop_id.c_str(), a), a);
    if (async) {
        payload.AddMember("APIVersion", Value(cfg.ingest_api_version.c_str(), a), a);
    }
    payload.AddMember("Data", data, a);
    const std::string path =
        "/api/ingestion/v2/" + cfg.partner_id + (async ? "/asyncdata" : "/data");
    const auto sent_at = env.clock->steady_now();
    const std::string payload_text = json::to_string(payload);
    auto r = co_await call(path, payload_text, record_id);
    if (!r) {
        if (create && r.error().http_status == 0 && r.error().transient()) {
            // Sent, maybe applied, no answer: lookup decides before anything is sent again.
            pending[{stream_name, record.source_key}] = pending_write{{}, sent_at};
        }
        co_return r.error();
    }
    const Value& written = payload["Data"][0]["Fields"];
    auto doc = parse_object(*r, record_id);
    if (!doc) {
        if (create) {
            pending[{stream_name, record.source_key}] = pending_write{{}, sent_at};
        }
        co_return doc.error();
    }
    const std::string transaction = text_of(member_ci(*doc, "SPHTransactionId"));
    write_outcome outcome;
    if (!async) {
        auto o = outcome_of(*doc, p, external_id, record_id, &payload);
        if (!o) {
            co_return o.error();
        }
        outcome = *o;
        if (outcome.state == item_state::pending && transaction.empty()) {
            // A synchronous write that answers without a status: PING took it.
            outcome.state = item_state::succeeded;
        }
    } else {
        if (transaction.empty()) {
            if (create) {
                pending[{stream_name, record.source_key}] = pending_write{{}, sent_at};
            }
            co_return record_error(
                errc::bad_payload,
                "asyncdata answered without SPHTransactionId",
                record_id,
                r->status
            );
        }
        outcome.state = item_state::pending;
        for (int i = 0; i < cfg.status_checks && outcome.state == item_state::pending; ++i) {
            if (i > 0 && cfg.status_interval.count() > 0) {
                net::steady_timer timer(env.executor, cfg.status_interval);
                co_await timer.async_wait(use_nothrow);
            }
            auto st = co_await check_status(p, transaction, record_id, &payload);
            if (!st) {
                if (create) {
                    pending[{stream_name, record.source_key}] = pending_write{transaction, sent_at};
                }
                co_return st.error();
            }
            outcome = *st;
        }
    }
    switch (outcome.state) {
        case item_state::succeeded: {
            const std::string id = result_id(outcome, written, p);
            if (id.empty()) {
                if (create) {
                    pending[{stream_name, record.source_key}] = pending_write{transaction, sent_at};
                }
                co_return record_error(
                    errc::bad_payload, "the status names no " + p.result_id_field, record_id
                );
            }
            pending.erase({stream_name, record.source_key});
            env.log.debug(
                "ping.written", "write applied", {.record = record_ref{"progres_ping", id}}
            );
            co_return id;
        }
        case item_state::failed:
            pending.erase({stream_name, record.source_key});
            co_return record_error(
                errc::remote_rejected,
                "PING reports the write as failed" +
                    (outcome.message.empty() ? std::string{} : ": " + outcome.message),
                record_id,
                r->status
            );
        case item_state::pending:
        case item_state::unknown:
            if (create) {
                pending[{stream_name, record.source_key}] = pending_write{transaction, sent_at};
            }
            co_return record_error(
                errc::remote_unavailable,
                outcome.state == item_state::pending ? "ingestion still in progress"
                                                     : "ingestion status not recognised",
                record_id
            );
    }
    co_return record_error(errc::bad_payload, "ingestion status not recognised", record_id);
}

}  // namespace casebridge::progres_ping
