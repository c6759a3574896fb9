#include "net/remote_error.hpp"

#include <stdexcept>

#include "core/token_text.hpp"

namespace casebridge {

std::string remote_error::describe() const {
    std::string out = error_name(code);
    if (http_status != 0) {
        out += " (HTTP " + std::to_string(http_status) + ")";
    }
    if (!record_id.empty()) {
        // The id came from a remote answer: one that is not id-shaped is not repeated.
        out += " record " + (is_token_text(record_id) ? record_id : std::string(not_an_id));
    }
    if (!detail.empty()) {
        out += ": " + detail;
    }
    if (retry_after) {
        out += " (retry after " + std::to_string(retry_after->count()) + " s)";
    }
    return out;
}

void throw_exception_from_error(const remote_error& e, const boost::source_location& loc) {
    throw std::runtime_error(
        e.describe() + " at " + loc.file_name() + ":" + std::to_string(loc.line())
    );
}

}  // namespace casebridge
