#include "progres_ping/progres_ping_adapter.hpp"

#include "progres_ping/adapter_impl.hpp"

namespace casebridge::progres_ping {

adapter_factory make_factory() {
    return factory_of<progres_ping_adapter, &settings_from_json>("progres_ping", config_schema());
}

progres_ping_adapter::progres_ping_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.http != nullptr && impl_->env.clock != nullptr);
    while (!impl_->cfg.base_url.empty() && impl_->cfg.base_url.back() == '/') {
        impl_->cfg.base_url.pop_back();
    }
    if (impl_->cfg.status_checks < 1) {
        throw std::invalid_argument("progres_ping: status_checks must be at least 1");
    }
}

progres_ping_adapter::~progres_ping_adapter() = default;

std::string progres_ping_adapter::correlation_key_for(
    std::string_view stream, std::string_view source_key
) {
    return uuid_v5("progres_ping/" + std::string(stream) + "/" + std::string(source_key));
}

awaitable<remote_result<pull_page>> progres_ping_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->pull) {
        co_return make_remote_error(errc::not_found, "this PING stream is not configured for pull");
    }
    co_return co_await impl_->pull(stream, *s, std::move(cursor));
}

awaitable<remote_result<external_record>> progres_ping_adapter::fetch(
    std::string stream, std::string remote_id
) {
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->fetch) {
        co_return record_error(
            errc::not_found, "this PING stream is not configured for fetch", remote_id
        );
    }
    auto rows = co_await impl_->fetch_rows(*s, remote_id);
    if (!rows) {
        co_return rows.error();
    }
    if (rows->Empty()) {
        co_return record_error(errc::not_found, "no such record", remote_id);
    }
    std::vector<const Value*> list;
    for (const auto& row : rows->GetArray()) {
        list.push_back(&row);
    }
    co_return impl_->to_record(stream, *s, list);
}

awaitable<remote_result<std::string>> progres_ping_adapter::push(external_record record) {
    const std::string stream = record.stream;
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->push) {
        co_return record_error(
            errc::not_found, "this PING stream is not configured for push", record.remote_id
        );
    }
    co_return co_await impl_->push(stream, *s->push, std::move(record));
}

bool progres_ping_adapter::can_update(std::string_view stream) const noexcept {
    const stream_settings* s = impl_->stream(std::string(stream));
    return s == nullptr || !s->push || s->push->writes != write_kind::create;
}

awaitable<remote_result<std::optional<std::string>>> progres_ping_adapter::lookup(
    std::string stream, std::string source_key
) {
    const stream_settings* s = impl_->stream(stream);
    if (s == nullptr || !s->push) {
        co_return make_remote_error(errc::not_found, "this PING stream is not configured for push");
    }
    if (s->push->writes == write_kind::update) {
        co_return std::optional<std::string>{};
    }
    const std::string key = correlation_key_for(stream, source_key);
    co_return co_await impl_->settle_pending(stream, *s->push, source_key, key);
}

std::optional<std::string> progres_ping_adapter::credential_fingerprint() const {
    auto pw = read_secret(impl_->cfg.password);
    if (!pw) {
        return std::nullopt;
    }
    // The password grant is what a lockout counts; the client secret and the subscription
    // key are part of what was presented, so a change to either also allows a new attempt.
    const auto secret = read_secret(impl_->cfg.client_secret).value_or("");
    const auto key = read_secret(impl_->cfg.subscription_key).value_or("");
    return crypto::sha256_hex(
        "progres_ping\n" + impl_->cfg.user_name + "\n" + *pw + "\n" + secret + "\n" + key
    );
}

awaitable<remote_result<void>> progres_ping_adapter::probe() {
    auto t = co_await impl_->ensure_token();
    if (!t) {
        co_return t.error();
    }
    for (const auto& [name, s] : impl_->cfg.streams) {
        if (s.fetch) {
            auto rows = co_await impl_->fetch_rows(s, std::string(nil_guid));
            if (!rows) {
                co_return rows.error();
            }
            break;
        }
    }
    co_return remote_result<void>{};
}

}  // namespace casebridge::progres_ping
