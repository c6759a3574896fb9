#include "core/shipped_data.hpp"

#include <algorithm>

namespace casebridge {

std::optional<std::string_view> find_shipped_file(std::string_view path) noexcept {
    return find_embedded_file(shipped_files(), path);
}

std::optional<std::string_view> find_embedded_file(
    std::span<const shipped_file> files, std::string_view path
) noexcept {
    const auto it = std::lower_bound(
        files.begin(),
        files.end(),
        path,
        [](const shipped_file& f, std::string_view p) { return f.path < p; }
    );
    if (it == files.end() || it->path != path) {
        return std::nullopt;
    }
    return it->text();
}

}  // namespace casebridge
