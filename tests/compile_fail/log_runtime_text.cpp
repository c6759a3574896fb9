// Compiled by ctest three times: as is (must compile), with CASEBRIDGE_VARIANT_negative (must
// not: a log message may only be a string literal) and with CASEBRIDGE_VARIANT_undotted (must
// not: an event name is dotted, "area.what").
#include <string>

#include "log/log.hpp"

void log_something(const casebridge::logger& log, const std::string& runtime_value) {
    log.info("test.event", "a literal is accepted");
#ifdef CASEBRIDGE_VARIANT_negative
    log.info("test.event", runtime_value.c_str());
#elif defined(CASEBRIDGE_VARIANT_undotted)
    (void)runtime_value;
    log.info("test_event", "an event name without a dot");
#else
    (void)runtime_value;
#endif
}
