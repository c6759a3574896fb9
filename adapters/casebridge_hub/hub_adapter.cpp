#include "casebridge_hub/hub_adapter.hpp"

#include "casebridge_hub/adapter_impl.hpp"

namespace casebridge::casebridge_hub {

adapter_factory make_factory() {
    return factory_of<hub_adapter, &settings_from_json>("casebridge_hub", config_schema());
}

hub_adapter::hub_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.http != nullptr);
    if (impl_->cfg.batch_size < 1) {
        throw std::invalid_argument("casebridge_hub: batch_size must be at least 1");
    }
    while (!impl_->cfg.base_url.empty() && impl_->cfg.base_url.back() == '/') {
        impl_->cfg.base_url.pop_back();
    }
}

hub_adapter::~hub_adapter() = default;

awaitable<remote_result<pull_page>> hub_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    if (stream != notices_stream) {
        co_return target_only();
    }
    std::string path = "/notices";
    if (cursor && !cursor->empty()) {
        path += "?after=" + percent_encode(*cursor);
    }
    auto r = co_await impl_->call("GET", path, {});
    if (!r) {
        co_return r.error();
    }
    auto doc = impl::object_of(*r);
    if (!doc) {
        co_return doc.error();
    }
    const Value& d = *doc;
    if (!d.HasMember("notices") || !d["notices"].IsArray() || !d.HasMember("next") ||
        !d["next"].IsString() || !d.HasMember("has_more") || !d["has_more"].IsBool()) {
        co_return make_remote_error(
            errc::bad_payload, "hub notices answer lacks notices, next or has_more", r->status
        );
    }
    pull_page page;
    for (const auto& n : d["notices"].GetArray()) {
        if (!n.IsObject() || !n.HasMember("id") || !n["id"].IsString() ||
            n["id"].GetStringLength() == 0) {
            co_return make_remote_error(
                errc::bad_payload, "hub notice without a string id", r->status
            );
        }
        external_record rec;
        rec.stream = std::string(notices_stream);
        rec.remote_id = str(n["id"]);
        rec.body.CopyFrom(n, rec.body.GetAllocator());
        page.records.push_back(std::move(rec));
    }
    page.next_cursor = str(d["next"]);
    page.has_more = d["has_more"].GetBool();
    impl_->env.log.debug(
        "hub.notices_pulled",
        "notices read from the hub",
        {.counts = {{"notices", static_cast<std::int64_t>(page.records.size())}}}
    );
    co_return page;
}

std::optional<duplicate_notice> hub_adapter::notice_of(const external_record& record) const {
    const Value& b = record.body;
    if (!b.IsObject()) {
        return std::nullopt;
    }
    const auto text = [&b](const char* name) -> std::optional<std::string> {
        if (!b.HasMember(name) || !b[name].IsString() || b[name].GetStringLength() == 0) {
            return std::nullopt;
        }
        return str(b[name]);
    };
    const auto id = text("id");
    const auto kind = text("kind");
    const auto pseudonym = text("pseudonym");
    const auto reference = text("reference");
    if (!id || !kind || !pseudonym || !reference || !b.HasMember("other_agencies") ||
        !b["other_agencies"].IsArray()) {
        return std::nullopt;
    }
    const auto digits = [](const std::string& s) {
        return s.size() <= 19 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const auto ref_ok = [](const std::string& s) {
        return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '_' || c == '-';
               });
    };
    if (!digits(*id) || !pseudonym_ok(*pseudonym) || !ref_ok(*reference)) {
        return std::nullopt;
    }
    duplicate_notice out;
    if (*kind == "possible_duplicate") {
        out.what = duplicate_notice::kind::possible_duplicate;
    } else if (*kind == "retraction") {
        out.what = duplicate_notice::kind::retraction;
    } else {
        return std::nullopt;
    }
    out.id = *id;
    out.pseudonym = *pseudonym;
    out.reference = *reference;
    for (const auto& a : b["other_agencies"].GetArray()) {
        if (!a.IsObject() || !a.HasMember("id") || !a["id"].IsString() ||
            a["id"].GetStringLength() == 0 || !a.HasMember("name") || !a["name"].IsString() ||
            a["name"].GetStringLength() == 0 || a["name"].GetStringLength() > 200) {
            return std::nullopt;
        }
        out.other_agencies.push_back({str(a["id"]), str(a["name"])});
    }
    const bool dup = out.what == duplicate_notice::kind::possible_duplicate;
    if (dup == out.other_agencies.empty()) {
        return std::nullopt;  // a possible duplicate names others; a retraction names none
    }
    std::sort(
        out.other_agencies.begin(),
        out.other_agencies.end(),
        [](const auto& x, const auto& y) { return x.id < y.id; }
    );
    return out;
}

awaitable<remote_result<external_record>> hub_adapter::fetch(std::string, std::string) {
    co_return target_only();
}

awaitable<remote_result<std::string>> hub_adapter::push(external_record record) {
    if (!serves(record.stream)) {
        co_return target_only();
    }
    auto p = impl_->prepare(record.body);
    if (!p) {
        co_return p.error();
    }
    std::string id = p->pseudonym;
    // A record queued twice before a flush goes once, in its newest form.
    if (const auto at = impl_->record_index.find(id); at != impl_->record_index.end()) {
        impl_->records[at->second] = std::move(*p);
    } else {
        impl_->record_index.emplace(id, impl_->records.size());
        impl_->records.push_back(std::move(*p));
    }
    co_return id;
}

bool hub_adapter::can_notify_withdrawal(std::string_view stream) const noexcept {
    return serves(stream);
}

awaitable<remote_result<std::string>> hub_adapter::notify_withdrawal(
    std::string stream, std::string shared_remote_id, std::string, std::string
) {
    if (!serves(stream)) {
        co_return target_only();
    }
    if (!pseudonym_ok(shared_remote_id)) {
        co_return make_remote_error(
            errc::mapping_failed, "a withdrawal needs the pseudonym the record was sent under"
        );
    }
    if (impl_->withdrawal_set.insert(shared_remote_id).second) {
        impl_->withdrawals.push_back(shared_remote_id);
    }
    co_return "withdrawal:" + shared_remote_id;
}

awaitable<remote_result<void>> hub_adapter::flush() {
    auto& m = *impl_;
    if (m.records.empty() && m.withdrawals.empty()) {
        co_return remote_result<void>{};
    }
    if (!m.checked) {
        auto s = co_await m.fetch_schema();
        if (!s) {
            co_return s.error();
        }
        m.checked = std::move(*s);
        m.env.log.info(
            "hub.schema_checked",
            "hub schema read",
            {.counts =
                 {{"linkage_schema_version", m.checked->linkage_schema_version},
                  {"max_batch_records", static_cast<std::int64_t>(m.checked->max_batch_records)}}}
        );
    }
    if (auto ok = m.check_against(*m.checked); !ok) {
        m.checked.reset();  // read again next time: the hub or the profile may change
        m.env.log.error(
            "hub.schema_mismatch",
            "the hub's linkage schema differs from the profile's; nothing sent",
            {.error = ok.error().code}
        );
        co_return ok.error();
    }
    auto sent = co_await m.send_records();
    if (!sent) {
        co_return sent.error();
    }
    co_return co_await m.send_withdrawals();
}

void hub_adapter::discard_pending() noexcept {
    impl_->records.clear();
    impl_->record_index.clear();
    impl_->withdrawals.clear();
    impl_->withdrawal_set.clear();
}

std::optional<std::string> hub_adapter::credential_fingerprint() const {
    const auto token = read_secret(impl_->cfg.token);
    if (!token) {
        return std::nullopt;
    }
    return crypto::sha256_hex("casebridge_hub\n" + *token);
}

awaitable<remote_result<void>> hub_adapter::probe() {
    auto s = co_await impl_->fetch_schema();
    if (!s) {
        co_return s.error();
    }
    co_return remote_result<void>{};
}

awaitable<remote_result<hub_schema>> hub_adapter::schema() {
    co_return co_await impl_->fetch_schema();
}

std::size_t hub_adapter::pending_records() const noexcept {
    return impl_->records.size();
}

std::size_t hub_adapter::pending_withdrawals() const noexcept {
    return impl_->withdrawals.size();
}

}  // namespace casebridge::casebridge_hub
