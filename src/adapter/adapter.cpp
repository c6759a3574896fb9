// Default behaviours of the adapter contract.
#include "adapter/adapter.hpp"

namespace casebridge {

awaitable<remote_result<std::optional<std::string>>> adapter::lookup(
    std::string /*stream*/, std::string /*source_key*/
) {
    co_return make_remote_error(
        errc::not_found, "this adapter cannot look records up by source key"
    );
}

awaitable<remote_result<std::optional<external_record>>> adapter::lookup_record(
    std::string stream, std::string source_key
) {
    auto id = co_await lookup(stream, std::move(source_key));
    if (!id) {
        co_return id.error();
    }
    if (!*id) {
        co_return std::optional<external_record>();
    }
    auto got = co_await fetch(std::move(stream), **id);
    if (!got) {
        if (got.error().code == make_error_code(errc::not_found)) {
            co_return std::optional<external_record>();  // gone between the two calls
        }
        co_return got.error();
    }
    co_return std::optional<external_record>(std::move(*got));
}

awaitable<remote_result<std::map<std::string, acknowledgement_summary>>>
adapter::acknowledgements_for(std::string /*stream*/, std::vector<std::string> /*remote_ids*/) {
    co_return make_remote_error(
        errc::not_found, "this adapter reads no acknowledgements of what it sent"
    );
}

awaitable<remote_result<std::string>> adapter::notify_withdrawal(
    std::string /*stream*/,
    std::string /*shared_remote_id*/,
    std::string /*source_key*/,
    std::string /*version*/
) {
    co_return make_remote_error(
        errc::invalid_config, "this adapter has no consent-withdrawal notice"
    );
}

awaitable<remote_result<std::vector<record_flag>>> adapter::list_flags(
    std::string /*stream*/, std::string /*remote_id*/
) {
    co_return make_remote_error(errc::invalid_config, "this adapter has no record flags");
}

awaitable<remote_result<std::string>> adapter::raise_flag(
    std::string /*stream*/, std::string /*remote_id*/, std::string /*message*/, std::string /*date*/
) {
    co_return make_remote_error(errc::invalid_config, "this adapter has no record flags");
}

awaitable<remote_result<void>> adapter::update_flag(
    std::string /*stream*/,
    std::string /*remote_id*/,
    std::string /*flag_id*/,
    std::string /*message*/
) {
    co_return make_remote_error(errc::invalid_config, "this adapter has no record flags");
}

awaitable<remote_result<void>> adapter::resolve_flag(
    std::string /*stream*/,
    std::string /*remote_id*/,
    std::string /*flag_id*/,
    std::string /*unflag_message*/
) {
    co_return make_remote_error(errc::invalid_config, "this adapter has no record flags");
}

awaitable<remote_result<void>> adapter::flush() {
    co_return remote_result<void>{};
}

}  // namespace casebridge
