// Retrieval: pages of a shipping process's query, a record's rows by id, the pull cursor.
#include "progres_ping/adapter_impl.hpp"

namespace casebridge::progres_ping {

// Retrieval --------------------------------------------------------------------------------
awaitable<remote_result<page_result>> progres_ping_adapter::impl::retrieve(
    const std::string& shipping_process,
    const std::vector<query_parameter>& parameters,
    int page,
    const std::string& cookie,
    const std::string& record_id
) {
    Document body(rapidjson::kObjectType);
    auto& a = body.GetAllocator();
    body.AddMember("ShippingProcessId", Value(shipping_process.c_str(), a), a);
    body.AddMember("PartnerId", Value(cfg.partner_id.c_str(), a), a);
    body.AddMember("InteropID", Value(cfg.interop_id.c_str(), a), a);
    body.AddMember("APIVersion", Value(cfg.retrieve_api_version.c_str(), a), a);
    Value params(rapidjson::kArrayType);
    for (const auto& p : parameters) {
        Value item(rapidjson::kObjectType);
        item.AddMember("ParameterName", Value(p.name.c_str(), a), a);
        item.AddMember("Value", Value(p.value.c_str(), a), a);
        params.PushBack(item, a);
    }
    body.AddMember("QueryParameters", params, a);
    body.AddMember("PageNumber", page, a);
    if (cookie.empty()) {
        body.AddMember("PagingCookie", Value(rapidjson::kNullType), a);
    } else {
        body.AddMember("PagingCookie", Value(cookie.c_str(), a), a);
    }
    const std::string text = json::to_string(body);
    auto r = co_await call(retrieve_path, text, record_id);
    if (!r) {
        co_return r.error();
    }
    auto doc = parse_object(*r, record_id);
    if (!doc) {
        co_return doc.error();
    }
    page_result out;
    out.doc = std::move(*doc);
    if (const Value* m = member_ci(out.doc, "ErrorMessage");
        m != nullptr && m->IsString() && m->GetStringLength() > 0) {
        co_return record_error(
            errc::remote_rejected,
            allowed_remote_text(
                std::string_view(m->GetString(), m->GetStringLength()), ping_phrases, names_of(body)
            ),
            record_id,
            r->status
        );
    }
    const Value* data = member_ci(out.doc, "Data");
    if (data != nullptr && data->IsString()) {
        std::string_view s(data->GetString(), data->GetStringLength());
        while (!s.empty() && s.back() == ' ') {
            s.remove_suffix(1);
        }
        if (s.size() != no_data.size() ||
            !std::equal(s.begin(), s.end(), no_data.begin(), [](char x, char y) {
                return std::tolower(static_cast<unsigned char>(x)) ==
                       std::tolower(static_cast<unsigned char>(y));
            })) {
            co_return record_error(
                errc::bad_payload,
                "Data is neither rows nor \"No Data Available\"",
                record_id,
                r->status
            );
        }
    } else if (data != nullptr && data->IsArray()) {
        for (const auto& row : data->GetArray()) {
            if (!row.IsObject()) {
                co_return record_error(
                    errc::bad_payload, "a row that is not an object", record_id, r->status
                );
            }
        }
    } else if (data != nullptr && !data->IsNull()) {
        co_return record_error(errc::bad_payload, "Data of an unknown shape", record_id, r->status);
    }
    if (const Value* ps = member_ci(out.doc, "PagingSummary"); ps != nullptr && ps->IsObject()) {
        if (const Value* more = member_ci(*ps, "IsMoreRecordsAvailable")) {
            out.more = more->IsBool() && more->GetBool();
        }
        out.cookie = text_of(member_ci(*ps, "PagingCookie"));
    }
    if (out.more && (out.rows() == nullptr || out.rows()->Empty())) {
        co_return record_error(
            errc::bad_payload, "more records announced after an empty page", record_id, r->status
        );
    }
    co_return out;
}

// Every row of one record by id, walking the fetch query's pages.
awaitable<remote_result<Document>> progres_ping_adapter::impl::fetch_rows(
    const stream_settings& s, const std::string& id
) {
    Document rows(rapidjson::kArrayType);
    auto params = s.fetch->parameters;
    params.push_back({s.fetch->id_parameter, id});
    std::string cookie;
    for (int page = 1; page <= max_fetch_pages; ++page) {
        auto r = co_await retrieve(s.fetch->shipping_process_id, params, page, cookie, id);
        if (!r) {
            co_return r.error();
        }
        if (const Value* data = r->rows()) {
            for (const auto& row : data->GetArray()) {
                if (text_of(member(row, s.id_field)) == id) {
                    rows.PushBack(Value(row, rows.GetAllocator()), rows.GetAllocator());
                }
            }
        }
        if (!r->more) {
            co_return rows;
        }
        cookie = r->cookie;
    }
    co_return record_error(errc::bad_payload, "record spans too many pages", id);
}

// Builds one record from rows of one id (deduplicated; an array for grouped streams).
remote_result<external_record> progres_ping_adapter::impl::to_record(
    const std::string& stream_name, const stream_settings& s, const std::vector<const Value*>& rows
) const {
    external_record rec;
    rec.stream = stream_name;
    rec.remote_id = text_of(member(*rows.front(), s.id_field));
    std::optional<time_point> newest;
    std::set<std::string> seen;
    std::vector<const Value*> distinct;
    for (const Value* row : rows) {
        if (text_of(member(*row, s.id_field)) != rec.remote_id) {
            return record_error(
                errc::bad_payload, "rows of one group name different records", rec.remote_id
            );
        }
        const auto t = parse_modified(text_of(member(*row, s.modified_field)));
        if (!t) {
            return record_error(
                errc::bad_payload, "a row without a valid " + s.modified_field, rec.remote_id
            );
        }
        newest = newest ? std::max(*newest, *t) : *t;
        if (seen.insert(json::canonical(*row)).second) {
            distinct.push_back(row);
        }
    }
    rec.updated_at = format_rfc3339(*newest);
    auto& a = rec.body.GetAllocator();
    if (!s.group_field.empty()) {
        rec.body.SetArray();
        for (const Value* row : distinct) {
            rec.body.PushBack(Value(*row, a), a);
        }
    } else {
        if (distinct.size() != 1) {
            return record_error(
                errc::bad_payload, "several different rows for one record", rec.remote_id
            );
        }
        rec.body.CopyFrom(*distinct.front(), a);
    }
    return rec;
}

awaitable<remote_result<pull_page>> progres_ping_adapter::impl::pull(
    const std::string& stream_name, const stream_settings& s, std::optional<std::string> cursor
) {
    cursor_state c;
    if (cursor) {
        auto decoded = decode(*cursor);
        if (!decoded) {
            co_return make_remote_error(errc::invalid_config, "unrecognised PING cursor");
        }
        c = std::move(*decoded);
    } else {
        c.since = s.pull->initial_since;
    }
    auto params = s.pull->parameters;
    if (!s.pull->since_parameter.empty()) {
        params.push_back({s.pull->since_parameter, c.since});
    }
    auto r = co_await retrieve(s.pull->shipping_process_id, params, c.page, c.cookie, {});
    if (!r) {
        co_return r.error();
    }
    const bool grouped = !s.group_field.empty();
    // Rows by record, in order of first appearance; rows of the record read whole on the
    // previous call are dropped.
    std::vector<std::string> order;
    std::unordered_map<std::string, std::vector<const Value*>> groups;
    std::string last_id;
    if (const Value* rows = r->rows()) {
        for (const auto& row : rows->GetArray()) {
            const std::string id = text_of(member(row, s.id_field));
            if (id.empty()) {
                co_return make_remote_error(errc::bad_payload, "a row without " + s.id_field, 200);
            }
            if (grouped && text_of(member(row, s.group_field)).empty()) {
                co_return record_error(
                    errc::bad_payload, "a row without " + s.group_field, id, 200
                );
            }
            last_id = id;
            if (id == c.skip) {
                continue;
            }
            auto [it, fresh] = groups.try_emplace(id);
            if (fresh) {
                order.push_back(id);
            }
            it->second.push_back(&row);
        }
    }
    std::string skip;
    Document reread;
    if (r->more && grouped) {
        if (last_id == c.skip) {
            skip = c.skip;  // the whole page continued that record
        } else {
            // The last record's rows may continue on the next page: read it whole now and
            // drop its rows there.
            auto whole = co_await fetch_rows(s, last_id);
            if (!whole) {
                co_return whole.error();
            }
            reread = std::move(*whole);
            auto& rows = groups[last_id];
            rows.clear();
            for (const auto& row : reread.GetArray()) {
                rows.push_back(&row);
            }
            if (rows.empty()) {
                env.log.warn(
                    "ping.record_gone",
                    "a record on a page boundary is no longer readable; left out",
                    {.record = record_ref{"progres_ping", last_id}}
                );
                order.erase(std::remove(order.begin(), order.end(), last_id), order.end());
            }
            skip = last_id;
        }
    }
    pull_page page;
    for (const auto& id : order) {
        auto rec = to_record(stream_name, s, groups[id]);
        if (!rec) {
            co_return rec.error();
        }
        if (c.max.empty() || rec->updated_at > c.max) {
            c.max = rec->updated_at;
        }
        page.records.push_back(std::move(*rec));
    }
    env.log.debug(
        "ping.page",
        "page read",
        {.counts =
             {{"page", c.page},
              {"records", static_cast<std::int64_t>(page.records.size())},
              {"more", r->more ? 1 : 0}}}
    );
    if (r->more) {
        c.page += 1;
        c.cookie = r->cookie;
        c.skip = skip;
        page.has_more = true;
    } else {
        if (!c.max.empty()) {
            const auto next = *parse_rfc3339(c.max) - cfg.overlap;
            c.since = std::max(c.since, format_rfc3339(next));
        }
        c = cursor_state{c.since, 1, {}, {}, {}};
        page.has_more = false;
    }
    page.next_cursor = encode(c);
    co_return page;
}

}  // namespace casebridge::progres_ping
