// The primero adapter's configuration: its JSON schema and the settings read from a checked
// configuration (primero_adapter.hpp declares both).
#include <stdexcept>
#include <string>

#include <rapidjson/document.h>

#include "primero/primero_adapter.hpp"

namespace casebridge::primero {

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url", "auth"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://[^/]+$",
                 "description": "https://host or https://host:port, without a path or a trailing slash"},
    "auth": {
      "type": "object",
      "additionalProperties": false,
      "required": ["mode"],
      "properties": {
        "mode": {"enum": ["basic", "session", "jwt", "bearer"]},
        "user_name": {"type": "string", "minLength": 1},
        "password_env": {"type": "string", "minLength": 1},
        "password_file": {"type": "string", "minLength": 1},
        "token_file": {"type": "string", "minLength": 1}
      }
    },
    "per_page": {"type": "integer", "minimum": 1, "maximum": 1000},
    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400}
  }
})";
}

settings settings_from_json(const rapidjson::Value& config) {
    settings s;
    s.base_url = config["base_url"].GetString();
    const auto& auth = config["auth"];
    const std::string mode = auth["mode"].GetString();
    s.auth = mode == "session"  ? auth_mode::session
             : mode == "jwt"    ? auth_mode::jwt
             : mode == "bearer" ? auth_mode::bearer
                                : auth_mode::basic;
    const auto str = [&](const char* k) {
        return auth.HasMember(k) ? std::string(auth[k].GetString()) : std::string{};
    };
    s.user_name = str("user_name");
    s.password.env = str("password_env");
    s.password.file = str("password_file");
    s.token_file = str("token_file");
    if (s.auth == auth_mode::bearer && s.token_file.empty()) {
        throw std::invalid_argument("primero: auth mode bearer needs token_file");
    }
    if (s.auth != auth_mode::bearer &&
        (s.user_name.empty() || (s.password.env.empty() && s.password.file.empty()))) {
        throw std::invalid_argument(
            "primero: auth mode " + mode + " needs user_name and password_env or password_file"
        );
    }
    if (config.HasMember("per_page")) {
        s.per_page = config["per_page"].GetInt();
    }
    if (config.HasMember("overlap_seconds")) {
        s.overlap = std::chrono::seconds(config["overlap_seconds"].GetInt());
    }
    return s;
}

}  // namespace casebridge::primero
