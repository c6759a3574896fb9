#include "sandbox/primero/primero_sandbox.hpp"

#include "sandbox/primero/sandbox_impl.hpp"

namespace casebridge::sandbox {

std::vector<primero_user> default_primero_users() {
    std::vector<primero_user> users(4);
    users[0].user_name = "cp_worker_2";
    users[0].scope = "self";
    users[0].case_actions = {
        "read",
        "create",
        "write",
        "enable_disable_record",
        "close",
        "reopen",
        "referral",
        "transfer",
        "receive_referral",
        "receive_transfer",
        "request_transfer"};
    users[1].user_name = "cp_manager";
    users[1].scope = "all";
    users[1].case_actions = {
        "read",
        "write",
        "close",
        "reopen",
        "referral",
        "transfer",
        "receive_referral",
        "receive_transfer",
        "accept_or_reject_transfer",
        "search_owned_by_others"};
    users[2].user_name = "cp_user_admin";
    users[2].scope = "all";
    users[3].user_name = "system_sync";
    users[3].scope = "all";
    users[3].case_actions = {"read"};
    users[3].system_account = true;
    return users;
}

primero_settings population_sandbox_settings(
    const population::options& options, std::string agency, double without_consent
) {
    primero_settings s;
    primero_population p;
    p.options = options;
    p.agency = std::move(agency);
    p.cases.without_consent = without_consent;
    s.population = std::move(p);
    return s;
}

primero_sandbox::primero_sandbox(primero_settings settings, const clock_source& clock)
    : impl_(std::make_unique<impl>(std::move(settings), clock)) {
    const auto add = [this](Document rec) {
        const std::string id = rec["id"].GetString();
        impl_->order.push_back(id);
        impl_->cases[id].Swap(rec);
    };
    if (const auto& p = impl_->settings.population) {
        const auto& agencies = p->options.agencies;
        if (std::find(agencies.begin(), agencies.end(), p->agency) == agencies.end()) {
            throw std::invalid_argument("the population has no agency '" + p->agency + "'");
        }
        auto options = p->cases;
        options.owner = impl_->settings.user_name;
        auto share =
            population::primero_cases(population::generate(p->options), p->agency, options);
        for (auto& rec : share.cases) {
            add(std::move(rec));
        }
        impl_->child_of = std::move(share.child_of);
        impl_->without_consent = std::move(share.without_consent);
    } else {
        generate_cases(impl_->settings.seed, impl_->settings.cases, impl_->settings.user_name, add);
    }
    impl_->server = std::make_unique<http_server>(
        impl_->settings.listen_address,
        impl_->settings.port,
        [p = impl_.get()](const request& req) { return p->handle(req); }
    );
    impl_->server->set_rules(impl_->settings.faults);
}

primero_sandbox::~primero_sandbox() {
    impl_->server.reset();
}

std::string primero_sandbox::base_url() const {
    return impl_->server->base_url();
}
const std::string& primero_sandbox::user_name() const {
    return impl_->settings.user_name;
}
const std::string& primero_sandbox::password() const {
    return impl_->settings.password;
}
std::optional<std::string> primero_sandbox::password_of(const std::string& user_name) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->accounts.find(user_name);
    if (it == impl_->accounts.end()) {
        return std::nullopt;
    }
    return it->second.spec.password;
}
http_server& primero_sandbox::server() {
    return *impl_->server;
}
void primero_sandbox::set_locked(bool locked) {
    std::lock_guard lock(impl_->mutex);
    impl_->locked = locked;
}
void primero_sandbox::expire_sessions() {
    std::lock_guard lock(impl_->mutex);
    impl_->sessions.clear();
    impl_->jwts.clear();
}
std::size_t primero_sandbox::case_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->cases.size();
}
std::optional<std::string> primero_sandbox::case_json(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return std::nullopt;
    }
    return json::to_string(it->second);
}
std::vector<std::string> primero_sandbox::case_ids() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->order;
}
void primero_sandbox::set_last_updated(const std::string& id, const std::string& timestamp) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    auto& rec = impl_->cases.at(id);
    rec["last_updated_at"].SetString(timestamp.c_str(), rec.GetAllocator());
}
std::size_t primero_sandbox::logins() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->logins;
}
std::size_t primero_sandbox::failed_logins() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->failed_logins;
}
std::size_t primero_sandbox::repeated_creates() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->repeated_creates;
}
std::size_t primero_sandbox::mark_synced_count(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->mark_synced.find(id);
    return it == impl_->mark_synced.end() ? 0 : it->second;
}

std::vector<primero_flag> primero_sandbox::flags_of(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->flag_book.of(id);
}
bool primero_sandbox::set_case_actions(
    const std::string& user_name, std::vector<std::string> actions
) {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->accounts.find(user_name);
    if (it == impl_->accounts.end()) {
        return false;
    }
    it->second.spec.case_actions = std::move(actions);
    return true;
}
std::map<std::string, std::uint32_t> primero_sandbox::population_truth() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->child_of;
}
std::set<std::string> primero_sandbox::cases_without_consent() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->without_consent;
}

bool primero_sandbox::edit_case(const std::string& id, const std::string& fields_json) {
    auto fields = json::parse(fields_json);
    if (!fields || !fields->IsObject()) {
        return false;
    }
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return false;
    }
    auto& rec = it->second;
    auto& a = rec.GetAllocator();
    for (auto& m : fields->GetObject()) {
        rec.RemoveMember(m.name.GetString());
        if (!m.value.IsNull()) {
            rec.AddMember(Value(m.name, a), Value(m.value, a), a);
        }
    }
    rec.RemoveMember("last_updated_at");
    rec.AddMember("last_updated_at", Value(impl_->now_text().c_str(), a), a);
    return true;
}
bool primero_sandbox::replace_case(const std::string& id, const std::string& case_json) {
    auto doc = json::parse(case_json);
    if (!doc || !doc->IsObject()) {
        return false;
    }
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return false;
    }
    it->second.Swap(*doc);
    return true;
}
bool primero_sandbox::delete_case(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    if (impl_->cases.erase(id) == 0) {
        return false;
    }
    std::erase(impl_->order, id);
    return true;
}
std::optional<std::string> primero_sandbox::duplicate_case(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->generation;
    const auto it = impl_->cases.find(id);
    if (it == impl_->cases.end()) {
        return std::nullopt;
    }
    const std::string copy_id = impl_->new_uuid();
    Document copy;
    copy.CopyFrom(it->second, copy.GetAllocator());
    copy["id"].SetString(copy_id.c_str(), copy.GetAllocator());
    impl_->order.push_back(copy_id);
    impl_->cases[copy_id].Swap(copy);
    return copy_id;
}

}  // namespace casebridge::sandbox
