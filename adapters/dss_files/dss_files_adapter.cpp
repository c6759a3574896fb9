#include "dss_files/dss_files_adapter.hpp"

#include "dss_files/adapter_impl.hpp"

namespace casebridge::dss_files {

adapter_factory make_factory() {
    return factory_of<dss_files_adapter, &settings_from_json>("dss_files", config_schema());
}

dss_files_adapter::dss_files_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.clock != nullptr);
    if (impl_->cfg.max_rows_per_batch < 1 || impl_->cfg.max_rows_per_page < 1 ||
        impl_->cfg.sender.empty()) {
        throw std::invalid_argument("dss_files: max_rows_per_batch and sender are required");
    }
}

dss_files_adapter::~dss_files_adapter() = default;

std::string dss_files_adapter::exchange_id_for(
    std::string_view source_key, std::string_view updated_at
) {
    return uuid_v5(std::string(source_key) + "@" + std::string(updated_at));
}

std::optional<acknowledgement> dss_files_adapter::acknowledgement_of(const external_record& record
) const {
    if (record.stream != acknowledgements_stream || !record.body.IsObject()) {
        return std::nullopt;
    }
    const auto& body = record.body;
    const auto text = [&body](const char* name) -> std::optional<std::string> {
        const auto it = body.FindMember(name);
        if (it == body.MemberEnd() || !it->value.IsString()) {
            return std::nullopt;
        }
        return std::string(it->value.GetString(), it->value.GetStringLength());
    };
    const auto id = text("exchange_id");
    const auto status = text("status");
    const auto known = body.FindMember("known_exchange_id");
    if (!id || !status || known == body.MemberEnd() || !known->value.IsBool()) {
        return std::nullopt;
    }
    acknowledgement a;
    a.exchange_id = *id;
    if (*status == "accepted") {
        a.status = acknowledgement::verdict::accepted;
    } else if (*status == "rejected") {
        a.status = acknowledgement::verdict::rejected;
    } else if (*status == "error") {
        a.status = acknowledgement::verdict::error;
    } else {
        return std::nullopt;
    }
    a.reference = text("dss_reference").value_or("");
    // The record carries a reason code the configuration lists, or the free-text marker
    // (inbound.cpp): the reason column's text itself never reaches the record.
    const std::string reason = text("reason").value_or("");
    a.free_text_reason = reason == files::free_text_reason;
    a.reason_code = a.free_text_reason ? std::string() : reason;
    a.known = known->value.GetBool();
    return a;
}

awaitable<remote_result<std::map<std::string, acknowledgement_summary>>>
dss_files_adapter::acknowledgements_for(std::string stream, std::vector<std::string> remote_ids) {
    if (stream != events_stream) {
        co_return make_remote_error(
            errc::not_found, "the DSS adapter reads acknowledgements of stream events"
        );
    }
    const std::set<std::string, std::less<>> wanted(remote_ids.begin(), remote_ids.end());
    std::map<std::string, acknowledgement_summary> out;
    std::map<std::string, std::string> latest_key;            // id → version + file
    std::map<std::string, std::set<std::string>> references;  // id → accepted references
    impl_->scan_inbound(
        std::string(acknowledgements_stream),
        ack_prefix,
        [&](const std::string& key) { return wanted.count(key) != 0; },
        [&](const std::string& name, external_record&& rec) {
            auto ack = acknowledgement_of(rec);
            if (!ack) {
                return;
            }
            if (ack->status == acknowledgement::verdict::accepted) {
                references[ack->exchange_id].insert(ack->reference);
            }
            std::string key = rec.updated_at + "\n" + name;
            auto& seen = latest_key[ack->exchange_id];
            if (seen.empty() || key > seen) {
                seen = std::move(key);
                out[ack->exchange_id].latest = std::move(*ack);
            }
        },
        false
    );
    for (auto& [id, summary] : out) {
        summary.accepted_references = references[id].size();
    }
    co_return out;
}

std::size_t dss_files_adapter::pending_rows() const noexcept {
    return impl_->pending.size();
}

awaitable<remote_result<pull_page>> dss_files_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    co_return impl_->pull(stream, cursor);
}

awaitable<remote_result<external_record>> dss_files_adapter::fetch(
    std::string stream, std::string remote_id
) {
    co_return impl_->fetch(stream, remote_id);
}

awaitable<remote_result<std::string>> dss_files_adapter::push(external_record record) {
    co_return impl_->push(record);
}

awaitable<remote_result<std::string>> dss_files_adapter::notify_withdrawal(
    std::string stream, std::string shared_remote_id, std::string source_key, std::string version
) {
    co_return impl_->notify_withdrawal(stream, shared_remote_id, source_key, version);
}

awaitable<remote_result<std::optional<std::string>>> dss_files_adapter::lookup(
    std::string stream, std::string source_key
) {
    co_return impl_->lookup(stream, source_key);
}

void dss_files_adapter::discard_pending() noexcept {
    impl_->forget(impl_->pending.size());
}

awaitable<remote_result<void>> dss_files_adapter::flush() {
    co_return impl_->flush();
}

awaitable<remote_result<void>> dss_files_adapter::probe() {
    co_return impl_->probe();
}

}  // namespace casebridge::dss_files
