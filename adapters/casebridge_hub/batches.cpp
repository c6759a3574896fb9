// Encoded records and withdrawals, checked and sent in batches.
#include "casebridge_hub/adapter_impl.hpp"

namespace casebridge::casebridge_hub {

std::size_t hub_adapter::impl::batch_limit() const {
    const std::size_t hub = checked ? checked->max_batch_records : cfg.batch_size;
    return std::max<std::size_t>(1, std::min(cfg.batch_size, hub));
}

awaitable<remote_result<void>> hub_adapter::impl::send_records() {
    while (!records.empty()) {
        const std::size_t n = std::min(batch_limit(), records.size());
        Document body(rapidjson::kObjectType);
        auto& a = body.GetAllocator();
        body.AddMember("linkage_schema_version", records.front().schema_version, a);
        Value list(rapidjson::kArrayType);
        for (std::size_t i = 0; i < n; ++i) {
            list.PushBack(Value(records[i].record, a), a);
        }
        body.AddMember("records", list, a);
        auto r = co_await call("POST", "/records", json::to_string(body));
        if (!r) {
            if (r.error().code == make_error_code(errc::invalid_config)) {
                checked.reset();  // read the hub's schema again before the next batch
            }
            co_return r.error();
        }
        auto doc = object_of(*r);
        if (!doc) {
            co_return doc.error();
        }
        const Value& d = *doc;
        if (!d.HasMember("stored") || !d["stored"].IsUint64() || !d.HasMember("unchanged") ||
            !d["unchanged"].IsUint64() ||
            d["stored"].GetUint64() + d["unchanged"].GetUint64() != n) {
            co_return make_remote_error(
                errc::bad_payload,
                "hub answer to a batch does not count every record sent (stored + unchanged)",
                r->status
            );
        }
        env.log.info(
            "hub.records_sent",
            "batch of encoded records taken by the hub",
            {.counts =
                 {{"records", static_cast<std::int64_t>(n)},
                  {"stored", static_cast<std::int64_t>(d["stored"].GetUint64())},
                  {"unchanged", static_cast<std::int64_t>(d["unchanged"].GetUint64())}}}
        );
        records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(n));
        record_index.clear();
        for (std::size_t i = 0; i < records.size(); ++i) {
            record_index.emplace(records[i].pseudonym, i);
        }
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<void>> hub_adapter::impl::send_withdrawals() {
    while (!withdrawals.empty()) {
        const std::size_t n = std::min(batch_limit(), withdrawals.size());
        Document body(rapidjson::kObjectType);
        auto& a = body.GetAllocator();
        Value list(rapidjson::kArrayType);
        for (std::size_t i = 0; i < n; ++i) {
            list.PushBack(Value(withdrawals[i].c_str(), a), a);
        }
        body.AddMember("pseudonyms", list, a);
        body.AddMember("reason", "consent_withdrawn", a);
        auto r = co_await call("POST", "/withdrawals", json::to_string(body));
        if (!r) {
            co_return r.error();
        }
        auto doc = object_of(*r);
        if (!doc) {
            co_return doc.error();
        }
        const Value& d = *doc;
        if (!d.HasMember("withdrawn") || !d["withdrawn"].IsUint64() || !d.HasMember("unknown") ||
            !d["unknown"].IsUint64() ||
            d["withdrawn"].GetUint64() + d["unknown"].GetUint64() != n) {
            co_return make_remote_error(
                errc::bad_payload,
                "hub answer to withdrawals does not count every pseudonym sent",
                r->status
            );
        }
        // "unknown": withdrawn before, or never received; either way the hub holds nothing.
        env.log.info(
            "hub.withdrawals_sent",
            "withdrawals taken by the hub",
            {.counts =
                 {{"pseudonyms", static_cast<std::int64_t>(n)},
                  {"withdrawn", static_cast<std::int64_t>(d["withdrawn"].GetUint64())},
                  {"unknown", static_cast<std::int64_t>(d["unknown"].GetUint64())}}}
        );
        for (std::size_t i = 0; i < n; ++i) {
            withdrawal_set.erase(withdrawals[i]);
        }
        withdrawals.erase(
            withdrawals.begin(), withdrawals.begin() + static_cast<std::ptrdiff_t>(n)
        );
    }
    co_return remote_result<void>{};
}

// The mapped record plus the profile's encoding, checked member by member and rebuilt in
// the contract's shape: nothing that is not named here goes.
remote_result<hub_adapter::impl::pending_record> hub_adapter::impl::prepare(const Value& body
) const {
    const auto bad = [](std::string what) {
        return make_remote_error(errc::mapping_failed, std::move(what));
    };
    if (!body.IsObject()) {
        return bad("record body is not an object");
    }
    for (const auto& m : body.GetObject()) {
        const std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (name != "pseudonym" && name != "coarse" && name != "linkage") {
            return bad(
                "/" + std::string(name) + ": not part of a hub record (pseudonym, coarse, linkage)"
            );
        }
    }
    pending_record p;
    if (!body.HasMember("pseudonym") || !body["pseudonym"].IsString() ||
        !pseudonym_ok(str(body["pseudonym"]))) {
        return bad("/pseudonym: missing, or not 1 to 128 characters of A-Z a-z 0-9 : . _ -");
    }
    p.pseudonym = str(body["pseudonym"]);
    if (!body.HasMember("linkage") || !body["linkage"].IsObject()) {
        return bad("/linkage: the record carries no encoding (the profile needs a linkage step)");
    }
    const Value& l = body["linkage"];
    if (!l.HasMember("schema_version") || !l["schema_version"].IsInt() ||
        l["schema_version"].GetInt() < 1) {
        return bad("/linkage/schema_version: missing or not a positive integer");
    }
    p.schema_version = l["schema_version"].GetInt();
    if (!l.HasMember("filter") || !l["filter"].IsString()) {
        return bad("/linkage/filter: missing or not base64");
    }
    const auto filter = base64_decode(str(l["filter"]));
    if (!filter || filter->empty() || filter->size() % 8 != 0) {
        return bad("/linkage/filter: not base64 of whole 64-bit words");
    }
    p.filter_bytes = filter->size();
    if (!l.HasMember("tokens") || !l["tokens"].IsArray()) {
        return bad("/linkage/tokens: missing or not an array");
    }
    auto& a = p.record.GetAllocator();
    p.record.SetObject();
    p.record.AddMember("pseudonym", Value(p.pseudonym.c_str(), a), a);
    p.record.AddMember("filter", Value(l["filter"], a), a);
    Value tokens(rapidjson::kArrayType);
    std::int64_t last_kind = -1;
    for (const auto& t : l["tokens"].GetArray()) {
        if (!t.IsObject() || !t.HasMember("kind") || !t["kind"].IsUint() || !t.HasMember("value") ||
            !t["value"].IsString() || !lower_hex16(str(t["value"])) ||
            static_cast<std::int64_t>(t["kind"].GetUint()) <= last_kind) {
            return bad(
                "/linkage/tokens: each is {kind, value: 16 lower-case hex digits}, sorted by "
                "kind, at most one per kind"
            );
        }
        last_kind = t["kind"].GetUint();
        Value token(rapidjson::kObjectType);
        token.AddMember("kind", t["kind"].GetUint(), a);
        token.AddMember("value", Value(t["value"], a), a);
        tokens.PushBack(token, a);
    }
    p.record.AddMember("tokens", tokens, a);
    Value coarse(rapidjson::kObjectType);
    if (body.HasMember("coarse")) {
        if (!body["coarse"].IsObject()) {
            return bad("/coarse: not an object");
        }
        for (const auto& m : body["coarse"].GetObject()) {
            const std::string key = str(m.name);
            if (!m.value.IsString()) {
                return bad("/coarse/" + key + ": not a string");
            }
            p.coarse_keys.push_back(key);
            coarse.AddMember(Value(key.c_str(), a), Value(m.value, a), a);
        }
    }
    p.record.AddMember("coarse", coarse, a);
    return p;
}

}  // namespace casebridge::casebridge_hub
