// The casebridge_hub adapter's configuration: its JSON schema and the settings read from a
// checked configuration (hub_adapter.hpp declares both).
#include <stdexcept>
#include <string>

#include <rapidjson/document.h>

#include "casebridge_hub/hub_adapter.hpp"

namespace casebridge::casebridge_hub {

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://[^/]+$",
                 "description": "https://host or https://host:port, without a path or a trailing slash"},
    "token_file": {"type": "string", "minLength": 1},
    "token_env": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 10000}
  }
})";
}

settings settings_from_json(const rapidjson::Value& config) {
    settings s;
    s.base_url = config["base_url"].GetString();
    if (config.HasMember("token_file")) {
        s.token.file = config["token_file"].GetString();
    }
    if (config.HasMember("token_env")) {
        s.token.env = config["token_env"].GetString();
    }
    if (s.token.file.empty() == s.token.env.empty()) {
        throw std::invalid_argument(
            "casebridge_hub: the agency's token comes from exactly one of token_file or token_env"
        );
    }
    if (config.HasMember("batch_size")) {
        s.batch_size = config["batch_size"].GetUint();
    }
    return s;
}

}  // namespace casebridge::casebridge_hub
