// Transitions (referrals, transfers, assignments, transfer requests) and case flags.
#include "sandbox/primero/sandbox_impl.hpp"

namespace casebridge::sandbox {

// Transitions --------------------------------------------------------------------------
Value primero_sandbox::impl::render_transition(
    const transition& t, const account& me, bool with_record, rapidjson::Document::AllocatorType& a
) {
    Value v(rapidjson::kObjectType);
    const auto str = [&](const char* k, const std::string& s) {
        if (!s.empty()) {
            v.AddMember(Value(k, a), Value(s.c_str(), a), a);
        }
    };
    str("id", t.id);
    str("type", t.type);
    str("status", t.status);
    str("record_id", t.record_id);
    v.AddMember("record_type", "case", a);
    str("transitioned_by", t.transitioned_by);
    str("transitioned_to", t.transitioned_to);
    str("transitioned_to_agency", t.transitioned_to_agency);
    str("transitioned_to_remote", t.transitioned_to_remote);
    str("notes", t.notes);
    str("service", t.service);
    str("rejected_reason", t.rejected_reason);
    str("created_at", t.created_at);
    if (t.responded_at.empty()) {
        v.AddMember("responded_at", Value(rapidjson::kNullType), a);
    } else {
        str("responded_at", t.responded_at);
    }
    v.AddMember("remote", t.remote, a);
    v.AddMember("consent_overridden", t.consent_overridden, a);
    if (t.type != "Referral") {
        v.AddMember("consent_individual_transfer", t.consent_individual_transfer, a);
    }
    const Document& rec = cases.at(t.record_id);
    const bool readable = can_read(me, rec);
    v.AddMember("record_access_denied", !readable, a);
    v.AddMember(
        "user_can_accept_or_reject",
        !t.remote && t.status == "in_progress" && t.transitioned_to == me.spec.user_name,
        a
    );
    if (with_record && readable) {
        Value r(rapidjson::kObjectType);
        r.AddMember("id", Value(rec["id"], a), a);
        r.AddMember(
            "enabled", rec["record_state"].IsBool() ? rec["record_state"].GetBool() : true, a
        );
        r.AddMember("last_updated_at", Value(rec["last_updated_at"], a), a);
        v.AddMember("record", r, a);
    }
    return v;
}

void primero_sandbox::impl::set_string_array(
    Document& rec, const char* key, const std::vector<std::string>& values
) {
    auto& a = rec.GetAllocator();
    Value arr(rapidjson::kArrayType);
    for (const auto& s : values) {
        arr.PushBack(Value(s.c_str(), a), a);
    }
    if (rec.HasMember(key)) {
        rec[key] = arr;
    } else {
        rec.AddMember(Value(key, a), arr, a);
    }
}

std::vector<std::string> primero_sandbox::impl::string_array(const Document& rec, const char* key) {
    std::vector<std::string> out;
    if (rec.HasMember(key) && rec[key].IsArray()) {
        for (const auto& s : rec[key].GetArray()) {
            if (s.IsString()) {
                out.emplace_back(s.GetString());
            }
        }
    }
    return out;
}

void primero_sandbox::impl::assign(Document& rec, const std::string& user, bool add) {
    auto assigned = string_array(rec, "assigned_user_names");
    assigned.erase(std::remove(assigned.begin(), assigned.end(), user), assigned.end());
    if (add) {
        assigned.push_back(user);
    }
    set_string_array(rec, "assigned_user_names", assigned);
    std::vector<std::string> assoc;
    if (rec.HasMember("owned_by") && rec["owned_by"].IsString()) {
        assoc.emplace_back(rec["owned_by"].GetString());
    }
    assoc.insert(assoc.end(), assigned.begin(), assigned.end());
    set_string_array(rec, "associated_user_names", assoc);
}

void primero_sandbox::impl::touch(Document& rec) {
    rec["last_updated_at"].SetString(now_text().c_str(), rec.GetAllocator());
}

bool primero_sandbox::impl::flag(const Document& rec, const char* key) {
    return rec.HasMember(key) && rec[key].IsBool() && rec[key].GetBool();
}

response primero_sandbox::impl::transitions_list(
    const request& req, const std::string& id, const std::string& type, const account& me
) {
    if (!can_read(me, cases.at(id))) {
        return forbidden(path_of(req));
    }
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value data(rapidjson::kArrayType);
    for (const auto& t : transitions[id]) {
        if (t.type == type) {
            data.PushBack(render_transition(t, me, false, a), a);
        }
    }
    d.AddMember("data", data, a);
    return json_response(200, d);
}

const Value* primero_sandbox::impl::data_of(const json::json_result<Document>& body) {
    if (!body || !body->IsObject()) {
        return nullptr;
    }
    const auto it = body->FindMember("data");
    return it != body->MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
}

// Starts a referral or transfer of case `id` from `sender` as `data` asks: the recipient
// must be able to receive it and the consent rule must hold unless overridden
// (Transition#consent_given_or_overridden). On success the transition is stored, the
// case changed, and `t` filled in.
std::optional<refusal> primero_sandbox::impl::start_transition(
    const std::string& id,
    const std::string& type,
    const Value& data,
    const account& sender,
    transition& t
) {
    const auto get = [&](const char* k) -> std::string {
        return data.HasMember(k) && data[k].IsString() ? data[k].GetString() : std::string{};
    };
    const auto get_bool = [&](const char* k) {
        return data.HasMember(k) && data[k].IsBool() && data[k].GetBool();
    };
    t.id = new_uuid();
    t.type = type;
    t.status = "in_progress";
    t.record_id = id;
    t.transitioned_by = sender.spec.user_name;
    t.transitioned_to = get("transitioned_to");
    t.transitioned_to_agency = get("transitioned_to_agency");
    t.transitioned_to_remote = get("transitioned_to_remote");
    t.notes = get("notes");
    t.service = get("service");
    t.remote = get_bool("remote");
    t.consent_overridden = get_bool("consent_overridden");
    t.consent_individual_transfer = get_bool("consent_individual_transfer");
    t.created_at = now_text();
    if (!t.remote && !can_receive(t.transitioned_to, type, sender)) {
        return refusal{422, "transitioned_to", "transition.errors.to_user_can_receive"};
    }
    Document& rec = cases.at(id);
    const bool consent = type == "Transfer" ? flag(rec, "disclosure_other_orgs")
                                            : flag(rec, "disclosure_other_orgs") &&
                                                  flag(rec, "consent_for_services");
    if (!consent && !t.consent_overridden) {
        return refusal{422, "consent", "transition.errors.consent"};
    }
    if (!t.remote) {
        assign(rec, t.transitioned_to, true);
    }
    if (type == "Transfer") {
        auto& a = rec.GetAllocator();
        if (rec.HasMember("transfer_status")) {
            rec["transfer_status"].SetString("in_progress", a);
        } else {
            rec.AddMember("transfer_status", "in_progress", a);
        }
        if (t.remote) {
            rec["status"].SetString("transferred", a);
        }
    }
    touch(rec);
    transitions[id].push_back(t);
    return std::nullopt;
}

const char* primero_sandbox::impl::permission_of(const std::string& type) {
    return type == "Referral" ? "referral" : "transfer";
}

response primero_sandbox::impl::transition_create(
    const request& req, const std::string& id, const std::string& type, const account& me
) {
    const std::string resource = path_of(req);
    if (!me.can(permission_of(type)) || !in_scope(me, cases.at(id))) {
        return forbidden(resource);
    }
    const auto body = json::parse(req.body);
    const Value* data = data_of(body);
    if (data == nullptr) {
        return error(422, resource, "param is missing or the value is empty: data");
    }
    transition t;
    if (auto r = start_transition(id, type, *data, me, t)) {
        return refused(*r, resource);
    }
    Document d(rapidjson::kObjectType);
    d.AddMember("data", render_transition(t, me, true, d.GetAllocator()), d.GetAllocator());
    return json_response(200, d);
}

// POST /api/v2/cases/transfers|referrals {"data":{"ids":[...], ...}}: authorised for
// every case or for none (authorize_all!), then one transition per case in the order
// given. A case the transition is refused for (consent, recipient) gets an error object
// whose resource is that case's own transitions path; the others go ahead.
response primero_sandbox::impl::transition_bulk(
    const request& req, const std::string& type, const account& me
) {
    const std::string resource = path_of(req);
    const auto body = json::parse(req.body);
    const Value* data = data_of(body);
    if (data == nullptr || !data->HasMember("ids") || !(*data)["ids"].IsArray() ||
        (*data)["ids"].Empty()) {
        return error(422, resource, "param is missing or the value is empty: ids");
    }
    std::vector<std::string> ids;
    for (const auto& v : (*data)["ids"].GetArray()) {
        if (!v.IsString()) {
            return error(422, resource, "param is missing or the value is empty: ids");
        }
        ids.emplace_back(v.GetString(), v.GetStringLength());
    }
    for (const auto& id : ids) {
        if (cases.count(id) == 0) {
            return not_found(resource, id);
        }
    }
    for (const auto& id : ids) {
        if (!me.can(permission_of(type)) || !in_scope(me, cases.at(id))) {
            return forbidden(resource);
        }
    }
    const std::string segment = type == "Referral" ? "/referrals" : "/transfers";
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value out(rapidjson::kArrayType);
    Value errors(rapidjson::kArrayType);
    for (const auto& id : ids) {
        transition t;
        if (auto r = start_transition(id, type, *data, me, t)) {
            errors.PushBack(refusal_object(*r, "/api/v2/cases/" + id + segment, a), a);
        } else {
            out.PushBack(render_transition(t, me, true, a), a);
        }
    }
    d.AddMember("data", out, a);
    if (!errors.Empty()) {
        d.AddMember("errors", errors, a);
    }
    return json_response(200, d);
}

// A transfer request: a user (needing `request_transfer`, not access to the case) asks
// the case's owner to transfer it to them. No consent rule; the owner must be able to
// receive transfers.
response primero_sandbox::impl::transfer_request_create(
    const request& req, const std::string& id, const account& me
) {
    const std::string resource = path_of(req);
    if (!me.can("request_transfer")) {
        return forbidden(resource);
    }
    const auto body = json::parse(req.body);
    const Value* data = data_of(body);
    if (data == nullptr) {
        return error(422, resource, "param is missing or the value is empty: data");
    }
    Document& rec = cases.at(id);
    transition t;
    t.id = new_uuid();
    t.type = "TransferRequest";
    t.status = "in_progress";
    t.record_id = id;
    t.transitioned_by = me.spec.user_name;
    t.transitioned_to =
        rec.HasMember("owned_by") && rec["owned_by"].IsString() ? rec["owned_by"].GetString() : "";
    if (data->HasMember("notes") && (*data)["notes"].IsString()) {
        t.notes = (*data)["notes"].GetString();
    }
    t.consent_individual_transfer = data->HasMember("consent_individual_transfer") &&
                                    (*data)["consent_individual_transfer"].IsBool() &&
                                    (*data)["consent_individual_transfer"].GetBool();
    t.created_at = now_text();
    if (!can_receive(t.transitioned_to, "TransferRequest", me)) {
        return refused(
            refusal{422, "transitioned_to", "transition.errors.to_user_can_receive"}, resource
        );
    }
    touch(rec);
    transitions[id].push_back(t);
    Document d(rapidjson::kObjectType);
    d.AddMember("data", render_transition(t, me, true, d.GetAllocator()), d.GetAllocator());
    return json_response(200, d);
}

response primero_sandbox::impl::transition_update(
    const request& req,
    const std::string& id,
    const std::string& type,
    const std::string& tid,
    bool revoke,
    const account& me
) {
    const std::string resource = path_of(req);
    Document& rec = cases.at(id);
    if (!can_read(me, rec) || (revoke && !me.can("write"))) {
        return forbidden(resource);
    }
    auto& list = transitions[id];
    const auto it = std::find_if(list.begin(), list.end(), [&](const transition& t) {
        return t.id == tid && t.type == type;
    });
    if (it == list.end()) {
        return error_detail(
            404, resource, "Not Found", "Couldn't find Transition with 'id'=" + tid
        );
    }
    std::string status = "revoked";
    std::string reason;
    if (!revoke) {
        auto body = json::parse(req.body);
        if (!body || !body->IsObject() || !body->HasMember("data") || !(*body)["data"].IsObject() ||
            !(*body)["data"].HasMember("status") || !(*body)["data"]["status"].IsString()) {
            return error(422, resource, "param is missing or the value is empty: status");
        }
        status = (*body)["data"]["status"].GetString();
        if ((*body)["data"].HasMember("rejected_reason") &&
            (*body)["data"]["rejected_reason"].IsString()) {
            reason = (*body)["data"]["rejected_reason"].GetString();
        }
    }
    const std::set<std::string, std::less<>> allowed =
        type == "Referral"
            ? std::set<std::string, std::less<>>{"accepted", "rejected", "done", "revoked"}
        : type == "Transfer" ? std::set<std::string, std::less<>>{"accepted", "rejected", "revoked"}
                             : std::set<std::string, std::less<>>{"accepted", "rejected"};
    if (allowed.count(status) == 0) {
        return error_detail(422, resource, "transition.errors.invalid_status", "status");
    }
    // A transfer (or transfer request) is accepted or rejected by its recipient or by a
    // manager with accept_or_reject_transfer.
    if (type != "Referral" && (status == "accepted" || status == "rejected") &&
        me.spec.user_name != it->transitioned_to && !me.can("accept_or_reject_transfer")) {
        return forbidden(resource);
    }
    auto& a = rec.GetAllocator();
    if (type == "TransferRequest") {
        if (status == "accepted") {
            // The owner transfers the case to the requester.
            const auto owner = accounts.find(it->transitioned_to);
            if (owner == accounts.end()) {
                return refused(
                    refusal{422, "transitioned_by", "transition.errors.to_user_can_receive"},
                    resource
                );
            }
            Value ask(rapidjson::kObjectType);
            ask.AddMember("transitioned_to", Value(it->transitioned_by.c_str(), a), a);
            ask.AddMember("consent_individual_transfer", it->consent_individual_transfer, a);
            transition created;
            const std::string request_id = it->id;
            if (auto r = start_transition(id, "Transfer", ask, owner->second, created)) {
                return refused(*r, resource);
            }
            // start_transition appended to the list: find the request again.
            const auto again = std::find_if(list.begin(), list.end(), [&](const auto& t) {
                return t.id == request_id;
            });
            again->status = status;
            again->responded_at = now_text();
            Document d(rapidjson::kObjectType);
            d.AddMember(
                "data", render_transition(*again, me, true, d.GetAllocator()), d.GetAllocator()
            );
            return json_response(200, d);
        }
        it->status = status;
        it->rejected_reason = reason;
        it->responded_at = now_text();
        touch(rec);
        Document d(rapidjson::kObjectType);
        d.AddMember("data", render_transition(*it, me, true, d.GetAllocator()), d.GetAllocator());
        return json_response(200, d);
    }
    it->status = status;
    it->rejected_reason = reason;
    it->responded_at = status == "revoked" ? std::string{} : now_text();
    if (status == "rejected" || status == "revoked") {
        assign(rec, it->transitioned_to, false);
    }
    if (type == "Transfer") {
        if (rec.HasMember("transfer_status")) {
            rec["transfer_status"].SetString(status.c_str(), a);
        }
        if (status == "accepted") {
            const std::string previous = rec["owned_by"].GetString();
            rec["owned_by"].SetString(it->transitioned_to.c_str(), a);
            if (rec.HasMember("previously_owned_by")) {
                rec["previously_owned_by"].SetString(previous.c_str(), a);
            } else {
                rec.AddMember("previously_owned_by", Value(previous.c_str(), a), a);
            }
            // The new owner is no longer an assigned user; the old one loses access
            // unless their scope covers the case anyway.
            assign(rec, it->transitioned_to, false);
        }
    }
    touch(rec);
    Document d(rapidjson::kObjectType);
    d.AddMember("data", render_transition(*it, me, true, d.GetAllocator()), d.GetAllocator());
    return json_response(200, d);
}

// Flags (flags.cpp): the `flag` permission and the case in scope, then the flag book.
response primero_sandbox::impl::flags(
    const request& req,
    const std::string& id,
    const std::optional<std::string>& flag_id,
    const account& me
) {
    const std::string resource = path_of(req);
    Document& rec = cases.at(id);
    if (!me.can("flag") || !in_scope(me, rec)) {
        return forbidden(resource);
    }
    auto answer =
        flag_book.handle(req.method, flag_id, req.body, rec, me.spec.user_name, now_text());
    if (answer.status != 200) {
        if (!answer.validation_key.empty()) {
            return refused(refusal{answer.status, answer.detail, answer.validation_key}, resource);
        }
        return answer.detail.empty()
                   ? error(answer.status, resource, answer.message)
                   : error_detail(answer.status, resource, answer.message, answer.detail);
    }
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value data(answer.data, a);
    if (answer.changed) {
        touch(rec);
        data.AddMember("record", render_record(rec, &short_fields, a), a);
    }
    d.AddMember("data", data, a);
    return json_response(200, d);
}

}  // namespace casebridge::sandbox
