#include "adapter/secret.hpp"

#include <cstdlib>
#include <fstream>

namespace casebridge {

std::optional<std::string> read_first_line(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) {
        return std::nullopt;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

std::optional<std::string> read_secret(const secret_source& s) {
    std::optional<std::string> value;
    if (!s.file.empty()) {
        value = read_first_line(s.file);
    } else if (!s.env.empty()) {
        if (const char* v = std::getenv(s.env.c_str()); v != nullptr) {
            value = std::string(v);
        }
    }
    if (value && value->empty()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace casebridge
