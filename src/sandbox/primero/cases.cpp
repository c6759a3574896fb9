// Cases: the index with its filters, paging and last_updated_at order, show, create (row ids,
// validation), update (merge of subforms by unique_id) and disable.
#include "sandbox/primero/sandbox_impl.hpp"

namespace casebridge::sandbox {

const std::vector<std::pair<std::string, std::string>>& primero_sandbox::impl::updated_index() {
    if (indexed_generation != generation) {
        by_updated.clear();
        by_updated.reserve(cases.size());
        for (const auto& [id, rec] : cases) {
            const auto it = rec.FindMember("last_updated_at");
            if (it != rec.MemberEnd() && it->value.IsString()) {
                by_updated.emplace_back(
                    std::string(
                        it->value.GetString(),
                        std::min<std::size_t>(19, it->value.GetStringLength())
                    ),
                    id
                );
            }
        }
        std::sort(by_updated.begin(), by_updated.end());
        indexed_generation = generation;
    }
    return by_updated;
}

// Records ------------------------------------------------------------------------------
Value primero_sandbox::impl::render_record(
    const Document& rec,
    const std::vector<std::string>* fields,
    rapidjson::Document::AllocatorType& a
) const {
    Value out(rapidjson::kObjectType);
    out.AddMember("id", Value(rec["id"], a), a);
    const bool enabled = !rec.HasMember("record_state") || !rec["record_state"].IsBool() ||
                         rec["record_state"].GetBool();
    out.AddMember("enabled", enabled, a);
    for (const auto& m : rec.GetObject()) {
        const std::string name = m.name.GetString();
        if (name == "id") {
            continue;
        }
        if (fields != nullptr && name != "last_updated_at" &&
            std::find(fields->begin(), fields->end(), name) == fields->end()) {
            continue;
        }
        out.AddMember(Value(m.name, a), Value(m.value, a), a);
    }
    if (!out.HasMember("alert_count") &&
        (fields == nullptr ||
         std::find(fields->begin(), fields->end(), "alert_count") != fields->end())) {
        out.AddMember("alert_count", 0, a);
    }
    return out;
}

// `query=`: a case-insensitive substring of one of the filterable id fields (§1.6).
bool primero_sandbox::impl::matches_query(const Value& rec, const std::string& query) {
    const std::string q = lower_ascii(query);
    for (const auto& m : rec.GetObject()) {
        if (m.value.IsString() &&
            is_filterable_id_field(std::string_view(m.name.GetString(), m.name.GetStringLength())
            ) &&
            lower_ascii(m.value.GetString()).find(q) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// `loc:<field>=<code>[,<code>]`: the field is one of the codes or below one of them.
bool primero_sandbox::impl::matches_location(
    const Value& rec, const std::string& name, const std::string& v
) {
    const auto it = rec.FindMember(name.c_str());
    if (it == rec.MemberEnd()) {
        return false;
    }
    const auto within = [&](const Value& code) {
        if (!code.IsString()) {
            return false;
        }
        const std::string_view c(code.GetString(), code.GetStringLength());
        for (const auto& wanted : split(v, ',')) {
            if (is_location_within(c, wanted)) {
                return true;
            }
        }
        return false;
    };
    if (it->value.IsArray()) {
        return std::any_of(it->value.Begin(), it->value.End(), within);
    }
    return within(it->value);
}

response primero_sandbox::impl::index(const request& req, const account& me) {
    const auto q = req.target.find('?');
    const auto parsed = rails_params(
        q == std::string::npos ? std::string_view{} : std::string_view(req.target).substr(q + 1)
    );
    if (!parsed) {
        return error(400, path_of(req), "Bad Request");  // Rack: invalid %-encoding
    }
    const param_list& params = *parsed;
    struct filter {
        std::string name;
        std::string value;
        bool location;
    };
    std::vector<filter> filters;
    std::vector<std::pair<std::string, time_range>> ranges;
    for (const auto& [k, v] : params) {
        const bool location = k.rfind("loc:", 0) == 0;
        std::string name = location ? k.substr(4) : k;
        if (reserved_params.count(name) != 0) {
            continue;
        }
        if (auto r = location ? std::nullopt : time_range_of(name, v)) {
            ranges.emplace_back(std::move(name), std::move(*r));
        } else {
            filters.push_back({std::move(name), v, location});
        }
    }
    // id_search with `search_owned_by_others` looks beyond the user's scope; every item
    // then says whether the user may open it.
    const bool id_search = param(params, "id_search") == "true";
    const bool widened = id_search && me.can("search_owned_by_others");
    const std::string query = param(params, "query");
    std::string order_by = param(params, "order_by");
    if (order_by.empty()) {
        order_by = "created_at";
    }
    const std::string dir = param(params, "order");
    const bool desc = dir.empty() || dir == "desc";
    // No tie-breaker, as in Primero: equal keys come out in an order that changes per
    // request.
    const std::uint64_t salt = ++request_no * 0x9E3779B97F4A7C15ULL;
    struct entry {
        const Value* key;
        std::uint64_t tie;
        const Document* doc;
        bool in_scope;
    };
    std::vector<entry> hits;
    std::size_t total = 0;
    long per = 20;
    if (const auto p = param(params, "per"); !p.empty()) {
        per = std::strtol(p.c_str(), nullptr, 10);
        if (per <= 0) {
            per = 20;
        }
        per = std::min(per, 1000L);
    }
    long page = 1;
    if (const auto p = param(params, "page"); !p.empty()) {
        page = std::max(1L, std::strtol(p.c_str(), nullptr, 10));
    }
    const auto second_of = [](const entry& e) {
        return e.key == nullptr || !e.key->IsString()
                   ? std::string_view{}
                   : std::string_view(e.key->GetString(), e.key->GetStringLength()).substr(0, 19);
    };
    const auto tie_of = [salt](const std::string& id) {
        std::uint64_t h = salt;
        for (char c : id) {
            h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
        }
        return h;
    };
    // Whether a case matches the query, the ranges and the filters; `but_updated_range` leaves
    // the last_updated_at range out (the filtered view applies it by position instead).
    const auto matches_terms = [&](const Document& rec, bool but_updated_range) {
        if (!query.empty() && !matches_query(rec, query)) {
            return false;
        }
        for (const auto& [name, range] : ranges) {
            if (!(but_updated_range && name == "last_updated_at") && !in_range(rec, name, range)) {
                return false;
            }
        }
        for (const auto& f : filters) {
            if (!(f.location ? matches_location(rec, f.name, f.value)
                             : matches(rec, f.name, f.value))) {
                return false;
            }
        }
        return true;
    };
    // Ascending by last_updated_at within a last_updated_at range (how a sync reads): the
    // query's matches come from its filtered view, and only those up to the end of the page
    // (and the rest of its last second) are looked at.
    // (One last_updated_at range only: a repeated one is intersected by the scan below.)
    const time_range* updated_range = nullptr;
    std::size_t updated_ranges = 0;
    for (const auto& [name, range] : ranges) {
        if (name == "last_updated_at" && updated_ranges++ == 0) {
            updated_range = &range;
        }
    }
    const bool by_view = updated_ranges == 1 && order_by == "last_updated_at" && !desc;
    if (by_view) {
        // The view's key: every term but the last_updated_at range, each length-prefixed so
        // that no value can pass for another term.
        std::string terms;
        const auto term = [&terms](std::string_view t) {
            terms += std::to_string(t.size());
            terms += ':';
            terms += t;
        };
        term(me.spec.user_name);
        term(widened ? "1" : "0");
        term(query);
        for (const auto& [name, range] : ranges) {
            if (name != "last_updated_at") {
                term(name);
                term(range.from);
                term(range.to);
            }
        }
        for (const auto& f : filters) {
            term(f.location ? "loc" : "field");
            term(f.name);
            term(f.value);
        }
        const auto& idx = updated_index();
        auto view = filtered_views.find(terms);
        if (view == filtered_views.end() || view->second.generation != generation) {
            if (filtered_views.size() >= 16) {
                filtered_views.clear();
            }
            filtered_view fresh;
            fresh.generation = generation;
            for (std::size_t i = 0; i < idx.size(); ++i) {
                const Document& rec = cases.at(idx[i].second);
                const bool mine = in_scope(me, rec);
                if (!mine && !widened) {
                    continue;
                }
                if (matches_terms(rec, true)) {
                    fresh.at.push_back(i);
                    fresh.mine.push_back(mine);
                }
            }
            view = filtered_views.insert_or_assign(terms, std::move(fresh)).first;
        }
        const auto& v = view->second;
        const auto second_at = [&idx, &v](std::size_t k) -> const std::string& {
            return idx[v.at[k]].first;
        };
        std::size_t lo = 0;
        std::size_t hi = v.at.size();
        const auto& r = *updated_range;
        if (!r.from.empty()) {
            lo = static_cast<std::size_t>(
                std::partition_point(
                    v.at.begin(),
                    v.at.end(),
                    [&idx, &r](std::size_t i) { return idx[i].first < r.from; }
                ) -
                v.at.begin()
            );
        }
        if (!r.to.empty()) {
            hi = static_cast<std::size_t>(
                std::partition_point(
                    v.at.begin(),
                    v.at.end(),
                    [&idx, &r](std::size_t i) { return idx[i].first <= r.to; }
                ) -
                v.at.begin()
            );
        }
        hi = std::max(lo, hi);
        total = hi - lo;
        const auto need = static_cast<std::size_t>(page * per);
        std::size_t end = std::min(hi, lo + need);
        while (end > lo && end < hi && second_at(end) == second_at(end - 1)) {
            ++end;
        }
        for (std::size_t k = lo; k < end; ++k) {
            const auto& id = idx[v.at[k]].second;
            const Document& rec = cases.at(id);
            const auto key = rec.FindMember(order_by.c_str());
            hits.push_back(
                {key == rec.MemberEnd() ? nullptr : &key->value, tie_of(id), &rec, v.mine[k]}
            );
        }
    }
    // With a last_updated_at range, only the cases the index puts in it are looked at.
    static const std::vector<std::string> none;  // the view gave the hits
    const std::vector<std::string>* candidates = by_view ? &none : &order;
    std::vector<std::string> in_window;
    for (const auto& [name, range] : ranges) {
        if (by_view || name != "last_updated_at") {
            continue;
        }
        const auto& idx = updated_index();
        auto lo = range.from.empty()
                      ? idx.begin()
                      : std::lower_bound(
                            idx.begin(), idx.end(), std::make_pair(range.from, std::string())
                        );
        for (; lo != idx.end() && (range.to.empty() || lo->first <= range.to); ++lo) {
            in_window.push_back(lo->second);
        }
        candidates = &in_window;
        break;
    }
    for (const auto& id : *candidates) {
        const Document& rec = cases.at(id);
        const bool mine = in_scope(me, rec);
        if (!mine && !widened) {
            continue;
        }
        if (!matches_terms(rec, false)) {
            continue;
        }
        const auto k = rec.FindMember(order_by.c_str());
        hits.push_back({k == rec.MemberEnd() ? nullptr : &k->value, tie_of(id), &rec, mine});
    }
    if (!by_view) {
        total = hits.size();
    }
    // Hits read from the index are in order of their second already: ordered ascending by
    // last_updated_at, only the seconds up to the end of the page need sorting (the view
    // gives no more than those).
    auto sorted_end = hits.end();
    if (candidates == &in_window && order_by == "last_updated_at" && !desc) {
        const auto need = static_cast<std::size_t>(page * per);
        if (need < hits.size()) {
            auto end = hits.begin() + static_cast<std::ptrdiff_t>(need);
            const auto last = second_of(*(end - 1));
            while (end != hits.end() && second_of(*end) == last) {
                ++end;
            }
            sorted_end = end;
        }
    }
    std::sort(hits.begin(), sorted_end, [desc](const entry& a, const entry& b) {
        int c = compare_values(a.key, b.key);
        if (desc) {
            c = -c;
        }
        if (c != 0) {
            return c < 0;
        }
        return a.tie < b.tie;
    });
    std::vector<std::string> field_list;
    const std::string fields = param(params, "fields");
    if (fields == "short") {
        field_list = short_fields;
    } else if (!fields.empty()) {
        field_list = split(fields, ',');
    }
    const bool show_scope =
        id_search ||
        std::find(field_list.begin(), field_list.end(), "record_in_scope") != field_list.end();
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value data(rapidjson::kArrayType);
    const std::size_t offset = static_cast<std::size_t>((page - 1) * per);
    for (std::size_t i = offset; i < hits.size() && i < offset + static_cast<std::size_t>(per);
         ++i) {
        // A record found outside the scope shows its summary only.
        const std::vector<std::string>* selected =
            !hits[i].in_scope ? &short_fields : (fields.empty() ? nullptr : &field_list);
        Value item = render_record(*hits[i].doc, selected, a);
        if (show_scope && !item.HasMember("record_in_scope")) {
            item.AddMember("record_in_scope", hits[i].in_scope, a);
        }
        data.PushBack(item, a);
    }
    d.AddMember("data", data, a);
    Value meta(rapidjson::kObjectType);
    meta.AddMember("total", static_cast<std::uint64_t>(total), a);
    meta.AddMember("per", static_cast<std::int64_t>(per), a);
    meta.AddMember("page", static_cast<std::int64_t>(page), a);
    d.AddMember("metadata", meta, a);
    return json_response(200, d);
}

response primero_sandbox::impl::show(const request& req, const std::string& id, const account& me) {
    const auto it = cases.find(id);
    if (it == cases.end()) {
        return not_found(path_of(req), id);
    }
    if (!can_read(me, it->second)) {
        return forbidden(path_of(req));
    }
    Document d(rapidjson::kObjectType);
    d.AddMember("data", render_record(it->second, nullptr, d.GetAllocator()), d.GetAllocator());
    return json_response(200, d);
}

// Gives every subform row a unique_id.
void primero_sandbox::impl::assign_row_ids(Value& data, rapidjson::Document::AllocatorType& a) {
    for (auto& m : data.GetObject()) {
        if (!m.value.IsArray()) {
            continue;
        }
        for (auto& row : m.value.GetArray()) {
            if (row.IsObject() && !row.HasMember("unique_id")) {
                row.AddMember("unique_id", Value(new_uuid().c_str(), a), a);
            }
        }
    }
}

// JSON-schema and model validation of a write; the error response if refused.
std::optional<response> primero_sandbox::impl::validate(
    const Value& data, const std::string& resource, bool create
) {
    if (create && data.HasMember("id") &&
        (!data["id"].IsString() || !is_uuid(data["id"].GetString()))) {
        Value detail(rapidjson::kArrayType);
        Document tmp;
        detail.PushBack("/id", tmp.GetAllocator());
        return error(422, resource, "Invalid Record JSON", &detail);
    }
    for (const char* num : {"age"}) {
        if (data.HasMember(num) && !data[num].IsNull() && !data[num].IsInt()) {
            Document tmp;
            Value detail(rapidjson::kArrayType);
            detail.PushBack(
                Value((std::string("/") + num).c_str(), tmp.GetAllocator()), tmp.GetAllocator()
            );
            return error(422, resource, "Invalid Record JSON", &detail);
        }
    }
    for (const char* flag : {"record_state", "consent_for_services", "disclosure_other_orgs"}) {
        if (data.HasMember(flag) && !data[flag].IsBool()) {
            Document tmp;
            Value detail(rapidjson::kArrayType);
            detail.PushBack(
                Value((std::string("/") + flag).c_str(), tmp.GetAllocator()), tmp.GetAllocator()
            );
            return error(422, resource, "Invalid Record JSON", &detail);
        }
    }
    for (const char* date : {"date_of_birth", "registration_date"}) {
        if (data.HasMember(date) && !data[date].IsNull() &&
            (!data[date].IsString() || !parse_date(data[date].GetString()))) {
            Document tmp;
            Value detail(date, tmp.GetAllocator());
            Value msg(rapidjson::kArrayType);
            msg.PushBack(
                Value((std::string("errors.models.child.") + date).c_str(), tmp.GetAllocator()),
                tmp.GetAllocator()
            );
            return error(422, resource, "", &detail, &msg);
        }
    }
    return std::nullopt;
}

response primero_sandbox::impl::create(const request& req, const account& me) {
    const std::string resource = "/api/v2/cases";
    if (!me.can("create")) {
        return forbidden(resource);
    }
    auto body = json::parse(req.body);
    if (!body || !body->IsObject() || !body->HasMember("data") || !(*body)["data"].IsObject()) {
        return error(422, resource, "param is missing or the value is empty: data");
    }
    Value& data = (*body)["data"];
    if (auto refused = validate(data, resource, true)) {
        return *refused;
    }
    const bool client_id = data.HasMember("id");
    const std::string id = client_id ? data["id"].GetString() : new_uuid();
    if (cases.count(id) != 0) {
        ++repeated_creates;
        return error(409, resource, "Conflict: A record with this id already exists");
    }
    Document rec(rapidjson::kObjectType);
    auto& a = rec.GetAllocator();
    rec.AddMember("id", Value(id.c_str(), a), a);
    for (auto& m : data.GetObject()) {
        const std::string name = m.name.GetString();
        // Fields no form of the configuration has are dropped, as strong params do.
        if (immutable_fields.count(name) != 0 || !is_case_form_field(name)) {
            continue;
        }
        rec.AddMember(Value(m.name, a), Value(m.value, a), a);
    }
    assign_row_ids(rec, a);
    const std::string now = now_text();
    const std::string uid = new_uuid();
    const auto set = [&](const char* k, Value v) {
        if (rec.HasMember(k)) {
            rec[k] = v;
        } else {
            rec.AddMember(Value(k, a), v, a);
        }
    };
    const auto set_default = [&](const char* k, Value v) {
        if (!rec.HasMember(k)) {
            rec.AddMember(Value(k, a), v, a);
        }
    };
    set_default("record_state", Value(true));
    set_default("status", Value("open", a));
    set_default("workflow", Value("new", a));
    set_default("module_id", Value("primeromodule-cp", a));
    set_default("registration_date", Value(now.substr(0, 10).c_str(), a));
    set("unique_identifier", Value(uid.c_str(), a));
    set("case_id", Value(uid.c_str(), a));
    set("short_id", Value(uid.substr(uid.size() - 7).c_str(), a));
    set("case_id_display", Value(uid.substr(uid.size() - 7).c_str(), a));
    const std::string& user = me.spec.user_name;
    set("owned_by", Value(user.c_str(), a));
    set("created_by", Value(user.c_str(), a));
    set("created_at", Value(now.c_str(), a));
    set("posted_at", Value(now.c_str(), a));
    set("last_updated_at", Value(now.c_str(), a));
    set("last_updated_by", Value(user.c_str(), a));
    Value assoc(rapidjson::kArrayType);
    assoc.PushBack(Value(user.c_str(), a), a);
    set("associated_user_names", std::move(assoc));
    if (!rec.HasMember("name")) {
        std::string name;
        for (const char* part : {"name_first", "name_middle", "name_last"}) {
            if (rec.HasMember(part) && rec[part].IsString() && rec[part].GetStringLength() > 0) {
                name += (name.empty() ? "" : " ") + std::string(rec[part].GetString());
            }
        }
        if (!name.empty()) {
            rec.AddMember("name", Value(name.c_str(), a), a);
        }
    }
    order.push_back(id);
    auto& stored = cases[id];
    stored.Swap(rec);
    if (client_id) {
        response r;
        r.status = 204;
        r.content_type = "application/json";
        return r;
    }
    Document d(rapidjson::kObjectType);
    d.AddMember("data", render_record(stored, nullptr, d.GetAllocator()), d.GetAllocator());
    return json_response(200, d);
}

// RecordMergeDataHashService: hashes merge, subform rows merge by unique_id (rows with
// "_destroy": true removed), arrays of scalars are replaced.
void primero_sandbox::impl::merge(
    Value& target, const Value& patch, rapidjson::Document::AllocatorType& a
) {
    for (const auto& m : patch.GetObject()) {
        auto it = target.FindMember(m.name);
        if (it == target.MemberEnd()) {
            Value v(m.value, a);
            if (v.IsArray()) {
                // New subform: drop rows marked for removal.
                Value rows(rapidjson::kArrayType);
                for (auto& row : v.GetArray()) {
                    if (!(row.IsObject() && row.HasMember("_destroy") && row["_destroy"].IsBool() &&
                          row["_destroy"].GetBool())) {
                        rows.PushBack(Value(row, a), a);
                    }
                }
                v = rows;
            }
            target.AddMember(Value(m.name, a), v, a);
            continue;
        }
        Value& cur = it->value;
        const bool subform = m.value.IsArray() && !m.value.Empty() && m.value[0].IsObject();
        if (subform && cur.IsArray()) {
            for (const auto& row : m.value.GetArray()) {
                if (!row.IsObject()) {
                    continue;
                }
                const bool destroy = row.HasMember("_destroy") && row["_destroy"].IsBool() &&
                                     row["_destroy"].GetBool();
                Value* match = nullptr;
                rapidjson::SizeType index = 0;
                if (row.HasMember("unique_id") && row["unique_id"].IsString()) {
                    for (rapidjson::SizeType i = 0; i < cur.Size(); ++i) {
                        if (cur[i].IsObject() && cur[i].HasMember("unique_id") &&
                            cur[i]["unique_id"] == row["unique_id"]) {
                            match = &cur[i];
                            index = i;
                        }
                    }
                }
                if (destroy) {
                    if (match != nullptr) {
                        cur.Erase(cur.Begin() + index);
                    }
                    continue;
                }
                if (match != nullptr) {
                    merge(*match, row, a);
                } else {
                    cur.PushBack(Value(row, a), a);
                }
            }
        } else if (m.value.IsObject() && cur.IsObject()) {
            merge(cur, m.value, a);
        } else {
            cur.CopyFrom(m.value, a);
        }
    }
}

response primero_sandbox::impl::update(
    const request& req, const std::string& id, const account& me
) {
    const std::string resource = path_of(req);
    const auto it = cases.find(id);
    if (it == cases.end()) {
        return not_found(resource, id);
    }
    Document& rec = it->second;
    if (!in_scope(me, rec)) {
        return forbidden(resource);
    }
    auto body = json::parse(req.body);
    if (!body || !body->IsObject() || !body->HasMember("data") || !(*body)["data"].IsObject()) {
        return error(422, resource, "param is missing or the value is empty: data");
    }
    // Without `write`, a `record_action` the role has lets the user change that action's
    // fields only.
    const std::vector<std::string>* only = nullptr;
    if (!me.can("write")) {
        const auto ra = body->FindMember("record_action");
        const std::string action =
            ra != body->MemberEnd() && ra->value.IsString() ? ra->value.GetString() : "";
        only = record_action_fields(action);
        if (only == nullptr || !me.can(action)) {
            return forbidden(resource);
        }
    }
    Value& data = (*body)["data"];
    if (auto refused = validate(data, resource, false)) {
        return *refused;
    }
    auto& a = rec.GetAllocator();
    Document d(rapidjson::kObjectType);
    auto& da = d.GetAllocator();
    Value out(rapidjson::kObjectType);
    // The sync write-back: not stored, sets the computed sync status (an audit row in Primero).
    bool synced = false;
    if (data.HasMember("mark_synced")) {
        synced = me.can("sync_external") && data["mark_synced"].IsBool() &&
                 data["mark_synced"].GetBool();
        data.RemoveMember("mark_synced");
        data.RemoveMember("mark_synced_url");
        data.RemoveMember("mark_synced_status");
    }
    Value patch(rapidjson::kObjectType);
    for (auto& m : data.GetObject()) {
        const std::string name = m.name.GetString();
        // Unknown fields are dropped (strong params), as are the ids that never change.
        if (immutable_fields.count(name) != 0 || !is_case_form_field(name) ||
            (only != nullptr && std::find(only->begin(), only->end(), name) == only->end())) {
            continue;
        }
        patch.AddMember(Value(m.name, a), Value(m.value, a), a);
    }
    if (synced) {
        ++mark_synced[id];
        const std::string now = now_text();
        for (const char* k : {"sync_status", "synced_at"}) {
            Value v(std::string(k) == "sync_status" ? "synced" : now.c_str(), a);
            if (rec.HasMember(k)) {
                rec[k] = v;
            } else {
                rec.AddMember(Value(k, a), v, a);
            }
        }
    }
    if (patch.MemberCount() > 0) {
        merge(rec, patch, a);
        assign_row_ids(rec, a);
        const std::string now = now_text();
        rec["last_updated_at"].SetString(now.c_str(), a);
        if (rec.HasMember("last_updated_by")) {
            rec["last_updated_by"].SetString(me.spec.user_name.c_str(), a);
        }
    }
    out.AddMember("id", Value(id.c_str(), da), da);
    const bool enabled = !rec["record_state"].IsBool() || rec["record_state"].GetBool();
    out.AddMember("enabled", enabled, da);
    out.AddMember("last_updated_at", Value(rec["last_updated_at"], da), da);
    for (const auto& m : patch.GetObject()) {
        if (!out.HasMember(m.name) && rec.HasMember(m.name)) {
            out.AddMember(Value(m.name, da), Value(rec[m.name], da), da);
        }
    }
    d.AddMember("data", out, da);
    return json_response(200, d);
}

response primero_sandbox::impl::disable(
    const request& req, const std::string& id, const account& me
) {
    const auto it = cases.find(id);
    if (it == cases.end()) {
        return not_found(path_of(req), id);
    }
    Document& rec = it->second;
    if (!me.can("enable_disable_record") || !in_scope(me, rec)) {
        return forbidden(path_of(req));
    }
    rec["record_state"].SetBool(false);
    rec["last_updated_at"].SetString(now_text().c_str(), rec.GetAllocator());
    Document d(rapidjson::kObjectType);
    Value data(rapidjson::kObjectType);
    data.AddMember("id", Value(id.c_str(), d.GetAllocator()), d.GetAllocator());
    d.AddMember("data", data, d.GetAllocator());
    return json_response(200, d);
}

}  // namespace casebridge::sandbox
