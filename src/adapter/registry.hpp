// adapter_registry: the explicit list of adapter factories, keyed by system id.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "adapter/adapter.hpp"
#include "core/result.hpp"

namespace casebridge {

class adapter_registry {
public:
    /// Adds a factory. Errors: invalid_config for an empty id, a missing create function or
    /// an id already registered (never replaced silently).
    result<void> add(adapter_factory factory);
    /// The factory for `system_id`, or nullptr.
    const adapter_factory* find(std::string_view system_id) const;
    /// Registered ids, in registration order.
    std::vector<std::string_view> ids() const;

private:
    std::vector<adapter_factory> factories_;
};

/// Registers every adapter built into the binary (adapters/builtin.cpp).
void register_builtin_adapters(adapter_registry& registry);

}  // namespace casebridge
