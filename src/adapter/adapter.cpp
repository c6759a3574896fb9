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

awaitable<remote_result<void>> adapter::flush() {
    co_return remote_result<void>{};
}

}  // namespace casebridge
