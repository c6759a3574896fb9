// Answers and the pull: a transition's data, a body as JSON, a case as a record, and the
// last_updated_at windows of the pull cursor.
#include "primero/adapter_impl.hpp"

namespace casebridge::primero {

// The `data` object of a transition answer, as its own document.
remote_result<Document> primero_adapter::impl::transition_data(
    const remote_result<http_response>& r, const std::string& id
) {
    if (!r) {
        return r.error();
    }
    auto doc = parse_body(*r, id);
    if (!doc) {
        return doc.error();
    }
    if (!doc->HasMember("data") || !(*doc)["data"].IsObject()) {
        return with_record(
            make_remote_error(errc::bad_payload, "transition without data", 200), id
        );
    }
    Document out;
    out.CopyFrom((*doc)["data"], out.GetAllocator());
    return out;
}

remote_result<Document> primero_adapter::impl::parse_body(
    const http_response& r, const std::string& id
) {
    auto doc = json::parse(r.body);
    if (!doc || !doc->IsObject()) {
        remote_error e =
            make_remote_error(errc::bad_payload, "response is not a JSON object", r.status);
        e.record_id = id;
        return e;
    }
    return std::move(*doc);
}

remote_result<external_record> primero_adapter::impl::to_record(
    Value& v, const std::shared_ptr<Document>& page
) {
    if (!v.IsObject() || !v.HasMember("id") || !v["id"].IsString()) {
        return make_remote_error(errc::bad_payload, "a case without a string id");
    }
    external_record rec;
    rec.stream = "cases";
    rec.remote_id = v["id"].GetString();
    if (!v.HasMember("last_updated_at") || !v["last_updated_at"].IsString() ||
        !parse_rfc3339(v["last_updated_at"].GetString())) {
        remote_error e =
            make_remote_error(errc::bad_payload, "a case without a valid last_updated_at");
        e.record_id = rec.remote_id;
        return e;
    }
    rec.updated_at = v["last_updated_at"].GetString();
    const bool enabled =
        !v.HasMember("enabled") || !v["enabled"].IsBool() || v["enabled"].GetBool();
    const bool state =
        !v.HasMember("record_state") || !v["record_state"].IsBool() || v["record_state"].GetBool();
    rec.disabled = !enabled || !state;
    // The case's values stay in the page's memory, and a value later added to the body is
    // taken from the same pool (a pool cannot grow an array another pool made).
    rec.body = Document(&page->GetAllocator());
    static_cast<Value&>(rec.body).Swap(v);
    rec.body_memory = page;
    return rec;
}

std::string primero_adapter::impl::window_end() const {
    const auto now = std::chrono::floor<std::chrono::seconds>(env.clock->now());
    return format_rfc3339(now - std::chrono::seconds(1));
}

awaitable<remote_result<pull_page>> primero_adapter::impl::pull(std::optional<std::string> cursor) {
    cursor_state c;
    if (cursor) {
        auto decoded = decode(*cursor);
        if (!decoded) {
            co_return make_remote_error(errc::invalid_config, "unrecognised Primero cursor");
        }
        c = *decoded;
    } else {
        c.from = std::string(epoch_start);
    }
    if (!c.tie_phase && c.end.empty()) {
        c.end = window_end();
        if (second_of(c.from) > second_of(c.end)) {
            pull_page caught_up;
            c.end.clear();
            caught_up.next_cursor = encode(c);
            co_return caught_up;
        }
    }
    const int per = c.tie_phase ? tie_page_size : cfg.per_page;
    std::string path = "/api/v2/cases?last_updated_at=" + url_encode(c.from) + ".." +
                       url_encode(c.tie_phase ? c.from : c.end);
    path += c.tie_phase ? "&order_by=case_id&order=asc" : "&order_by=last_updated_at&order=asc";
    path += "&per=" + std::to_string(per) + "&page=" + std::to_string(c.page);
    auto r = co_await call("GET", path, {}, {});
    if (!r) {
        co_return r.error();
    }
    auto parsed = parse_body(*r, {});
    if (!parsed) {
        co_return parsed.error();
    }
    auto doc = std::make_shared<Document>(std::move(*parsed));
    Value& d = *doc;
    if (!d.HasMember("data") || !d["data"].IsArray() || !d.HasMember("metadata") ||
        !d["metadata"].IsObject() || !d["metadata"].HasMember("total") ||
        !d["metadata"]["total"].IsUint64()) {
        co_return make_remote_error(errc::bad_payload, "list without data or metadata.total", 200);
    }
    const auto total = d["metadata"]["total"].GetUint64();
    auto data = d["data"].GetArray();
    std::vector<external_record> records;
    records.reserve(data.Size());
    for (auto& item : data) {
        auto rec = to_record(item, doc);
        if (!rec) {
            co_return rec.error();
        }
        records.push_back(std::move(*rec));
    }
    pull_page page;
    if (c.tie_phase) {
        // Every case of one second, ordered by the unique case_id: offsets are stable.
        page.records = std::move(records);
        if (static_cast<std::uint64_t>(c.page) * static_cast<std::uint64_t>(per) < total) {
            ++c.page;
        } else {
            const auto next = plus_seconds(c.from, std::chrono::seconds(1));
            if (!next) {
                co_return make_remote_error(errc::invalid_config, "unrecognised Primero cursor");
            }
            c = cursor_state{false, *next, c.end, 1};
        }
        page.has_more = true;
        page.next_cursor = encode(c);
        co_return page;
    }
    if (total <= static_cast<std::uint64_t>(per) &&
        records.size() == static_cast<std::size_t>(total)) {
        // The whole window fitted: the next run starts after it, but never after the newest
        // change read. `end` is this machine's clock, which may run ahead of Primero's: a
        // case Primero stamps later with a time before `end` would otherwise fall behind the
        // cursor. With nothing read, the next walk starts where this one did.
        page.records = std::move(records);
        std::string last = c.end;
        if (page.records.empty()) {
            last.clear();
        } else if (const auto newest = second_of(page.records.back().updated_at); newest < last) {
            last = newest;
        }
        const auto next = last.empty() ? std::optional<std::string>(c.from)
                                       : plus_seconds(last, std::chrono::seconds(1) - cfg.overlap);
        if (!next) {
            co_return make_remote_error(errc::bad_payload, "unreadable last_updated_at", 200);
        }
        page.next_cursor = encode(cursor_state{false, *next, {}, 1});
        page.has_more = false;
        co_return page;
    }
    if (records.empty()) {
        co_return make_remote_error(
            errc::bad_payload, "list reports more cases than it returns", 200
        );
    }
    // A full page of a larger window: keep the cases of earlier seconds; the last second
    // may continue on the next page (Primero sorts without a tie-breaker), so the next
    // page starts at that second and reads it again from its first case. Only a page that
    // holds nothing but one second cannot move on that way: that second is then walked
    // whole, ordered by case id (the tie phase), so however many cases share a second,
    // none is missed, and a second is read twice only where a page ends inside it.
    const std::string last = second_of(records.back().updated_at);
    for (auto& rec : records) {
        if (second_of(rec.updated_at) < last) {
            page.records.push_back(std::move(rec));
        }
    }
    page.next_cursor = encode(
        page.records.empty() ? cursor_state{true, last, c.end, 1}
                             : cursor_state{false, last, c.end, 1}
    );
    page.has_more = true;
    co_return page;
}

}  // namespace casebridge::primero
