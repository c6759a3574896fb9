// A fresh directory under $TMPDIR, removed with its contents when the object goes away.
#pragma once

#include <filesystem>
#include <string_view>

namespace casebridge::test {

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }
    /// Writes `content` to `name` (mode 0600) and returns its path.
    std::filesystem::path write(std::string_view name, std::string_view content) const;

private:
    std::filesystem::path path_;
};

}  // namespace casebridge::test
