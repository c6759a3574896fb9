// A test adapter that forwards every call to a real one; test adapters derived from it
// override only what they watch or break.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/adapter.hpp"

namespace casebridge::test {

/// An adapter that forwards every call to a real one; the test adapters below override only
/// what they watch or break.
class forwarding_adapter : public adapter {
public:
    explicit forwarding_adapter(adapter& inner) : inner_(inner) {}
    std::string_view system_id() const noexcept override { return inner_.system_id(); }
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override {
        return inner_.pull(std::move(stream), std::move(cursor));
    }
    awaitable<remote_result<external_record>> fetch(std::string stream, std::string remote_id)
        override {
        return inner_.fetch(std::move(stream), std::move(remote_id));
    }
    awaitable<remote_result<std::string>> push(external_record record) override {
        return inner_.push(std::move(record));
    }
    bool idempotent_create() const noexcept override { return inner_.idempotent_create(); }
    awaitable<remote_result<std::optional<std::string>>> lookup(
        std::string stream, std::string source_key
    ) override {
        return inner_.lookup(std::move(stream), std::move(source_key));
    }
    awaitable<remote_result<std::optional<external_record>>> lookup_record(
        std::string stream, std::string source_key
    ) override {
        return inner_.lookup_record(std::move(stream), std::move(source_key));
    }
    std::vector<std::string> remote_assigned_fields(std::string_view stream) const override {
        return inner_.remote_assigned_fields(stream);
    }
    awaitable<remote_result<void>> probe() override { return inner_.probe(); }

protected:
    adapter& inner_;
};

}  // namespace casebridge::test
