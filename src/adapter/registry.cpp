#include "adapter/registry.hpp"

namespace casebridge {

result<void> adapter_registry::add(adapter_factory factory) {
    if (factory.system_id.empty() || factory.create == nullptr) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    if (find(factory.system_id) != nullptr) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    factories_.push_back(factory);
    return {};
}

const adapter_factory* adapter_registry::find(std::string_view system_id) const {
    for (const auto& f : factories_) {
        if (f.system_id == system_id) {
            return &f;
        }
    }
    return nullptr;
}

std::vector<std::string_view> adapter_registry::ids() const {
    std::vector<std::string_view> out;
    for (const auto& f : factories_) {
        out.push_back(f.system_id);
    }
    return out;
}

}  // namespace casebridge
