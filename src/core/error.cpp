#include "core/error.hpp"

#include <string>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>

namespace casebridge {
namespace {

const char* errc_name(errc e) noexcept {
    switch (e) {
        case errc::usage:
            return "usage";
        case errc::file_unreadable:
            return "file_unreadable";
        case errc::invalid_json:
            return "invalid_json";
        case errc::duplicate_key:
            return "duplicate_key";
        case errc::too_deep:
            return "too_deep";
        case errc::too_large:
            return "too_large";
        case errc::schema_violation:
            return "schema_violation";
        case errc::invalid_config:
            return "invalid_config";
        case errc::remote_unavailable:
            return "remote_unavailable";
        case errc::rate_limited:
            return "rate_limited";
        case errc::remote_rejected:
            return "remote_rejected";
        case errc::auth_failed:
            return "auth_failed";
        case errc::not_found:
            return "not_found";
        case errc::conflict:
            return "conflict";
        case errc::bad_payload:
            return "bad_payload";
        case errc::tls_failed:
            return "tls_failed";
        case errc::mapping_failed:
            return "mapping_failed";
        case errc::unmapped_value:
            return "unmapped_value";
        case errc::policy_violation:
            return "policy_violation";
        case errc::consent_missing:
            return "consent_missing";
        case errc::multiple_matches:
            return "multiple_matches";
        case errc::store_failed:
            return "store_failed";
        case errc::log_tampered:
            return "log_tampered";
        case errc::cancelled:
            return "cancelled";
    }
    return nullptr;
}

// boost::system::error_category has a protected non-virtual destructor by design; categories
// are never deleted through a base pointer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "casebridge"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::usage:
                return "invalid command line";
            case errc::file_unreadable:
                return "file cannot be read";
            case errc::invalid_json:
                return "invalid JSON";
            case errc::duplicate_key:
                return "duplicate key in JSON object";
            case errc::too_deep:
                return "JSON nested too deeply";
            case errc::too_large:
                return "input over its size limit";
            case errc::schema_violation:
                return "JSON does not match its schema";
            case errc::invalid_config:
                return "invalid configuration";
            case errc::remote_unavailable:
                return "remote system unavailable";
            case errc::rate_limited:
                return "remote system rate limit reached";
            case errc::remote_rejected:
                return "remote system rejected the request";
            case errc::auth_failed:
                return "authentication failed";
            case errc::not_found:
                return "record not found";
            case errc::conflict:
                return "record already exists";
            case errc::bad_payload:
                return "unusable response from remote system";
            case errc::tls_failed:
                return "TLS verification or handshake failed";
            case errc::mapping_failed:
                return "record could not be mapped";
            case errc::unmapped_value:
                return "value not covered by the mapping's value table";
            case errc::policy_violation:
                return "the DPISP profile does not allow this sharing";
            case errc::consent_missing:
                return "no consent or legitimate basis recorded";
            case errc::multiple_matches:
                return "several records match one identity";
            case errc::store_failed:
                return "store error";
            case errc::log_tampered:
                return "transfer log does not verify";
            case errc::cancelled:
                return "operation cancelled";
        }
        return "unknown casebridge error " + std::to_string(ev);
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& casebridge_category() noexcept {
    static const category_impl instance;
    return instance;
}

bool is_transient(const boost::system::error_code& ec) noexcept {
    if (ec.category() == casebridge_category()) {
        const auto e = static_cast<errc>(ec.value());
        return e == errc::remote_unavailable || e == errc::rate_limited;
    }
    namespace ae = boost::asio::error;
    return ec == ae::connection_reset || ec == ae::connection_refused ||
           ec == ae::connection_aborted || ec == ae::timed_out || ec == ae::eof ||
           ec == ae::broken_pipe || ec == ae::host_unreachable || ec == ae::network_unreachable ||
           ec == ae::try_again || ec == boost::beast::error::timeout;
}

std::string error_name(const boost::system::error_code& ec) {
    if (ec.category() == casebridge_category()) {
        if (const char* n = errc_name(static_cast<errc>(ec.value()))) {
            return std::string("casebridge:") + n;
        }
    }
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

}  // namespace casebridge

#include <cstdio>
#include <cstdlib>

#include "core/result.hpp"

namespace casebridge::detail {
void check_failed(const char* expr, const boost::source_location& loc) noexcept {
    std::fprintf(
        stderr,
        "casebridge: internal check failed: %s at %s:%u\n",
        expr,
        loc.file_name(),
        static_cast<unsigned>(loc.line())
    );
    std::abort();
}
}  // namespace casebridge::detail
