#include "net/remote_error.hpp"

#include <stdexcept>

namespace casebridge {

std::string remote_error::describe() const {
    std::string out = error_name(code);
    if (http_status != 0) {
        out += " (HTTP " + std::to_string(http_status) + ")";
    }
    if (!record_id.empty()) {
        out += " record " + record_id;
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
