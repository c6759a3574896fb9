// The one list of adapters built into casebridge. Add one line per system.
#include "adapter/registry.hpp"
#include "casebridge_hub/hub_adapter.hpp"
#include "dss_files/dss_files_adapter.hpp"
#include "primero/primero_adapter.hpp"
#include "progres_ping/progres_ping_adapter.hpp"

namespace casebridge {

void register_builtin_adapters(adapter_registry& registry) {
    CASEBRIDGE_CHECK(registry.add(primero::make_factory()).has_value());
    CASEBRIDGE_CHECK(registry.add(progres_ping::make_factory()).has_value());
    CASEBRIDGE_CHECK(registry.add(dss_files::make_factory()).has_value());
    CASEBRIDGE_CHECK(registry.add(casebridge_hub::make_factory()).has_value());
}

}  // namespace casebridge
