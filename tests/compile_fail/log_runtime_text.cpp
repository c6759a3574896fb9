// Compiled by ctest twice: as is (must compile) and with CASEBRIDGE_VARIANT_negative (must not),
// because a log message may only be a string literal.
#include <string>

#include "log/log.hpp"

void log_something(const casebridge::logger& log, const std::string& runtime_value) {
    log.info("test.event", "a literal is accepted");
#ifdef CASEBRIDGE_VARIANT_negative
    log.info("test.event", runtime_value.c_str());
#else
    (void)runtime_value;
#endif
}
