// The dss_files adapter's configuration: its JSON schema and the settings read from a checked
// configuration (dss_files_adapter.hpp declares both).
#include <filesystem>
#include <stdexcept>
#include <string>

#include <rapidjson/document.h>

#include "dss_files/dss_files_adapter.hpp"

namespace casebridge::dss_files {

namespace fs = std::filesystem;

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["outbox_dir", "inbox_dir", "sent_register_dir", "passphrase_file", "sender"],
  "properties": {
    "outbox_dir": {"type": "string", "minLength": 1},
    "inbox_dir": {"type": "string", "minLength": 1},
    "sent_register_dir": {"type": "string", "minLength": 1},
    "passphrase_file": {"type": "string", "minLength": 1},
    "sender": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"},
    "max_rows_per_batch": {"type": "integer", "minimum": 1, "maximum": 100000},
    "max_file_bytes": {"type": "integer", "minimum": 1024, "maximum": 1073741824},
    "max_rows_per_page": {"type": "integer", "minimum": 1, "maximum": 100000},
    "processed_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    "ack_reason_codes": {
      "type": "array",
      "maxItems": 1000,
      "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$"}
    }
  }
})";
}

settings settings_from_json(const rapidjson::Value& config) {
    settings s;
    const auto str = [&](const char* k) { return std::string(config[k].GetString()); };
    s.outbox = str("outbox_dir");
    s.inbox = str("inbox_dir");
    s.sent_register = str("sent_register_dir");
    s.passphrase_file = str("passphrase_file");
    s.sender = str("sender");
    if (config.HasMember("max_rows_per_batch")) {
        s.max_rows_per_batch = config["max_rows_per_batch"].GetUint();
    }
    if (config.HasMember("max_file_bytes")) {
        s.max_file_bytes = config["max_file_bytes"].GetUint64();
    }
    if (config.HasMember("max_rows_per_page")) {
        s.max_rows_per_page = config["max_rows_per_page"].GetUint();
    }
    if (config.HasMember("processed_retention_days")) {
        s.processed_retention_days = config["processed_retention_days"].GetUint();
    }
    if (config.HasMember("ack_reason_codes")) {
        for (const auto& code : config["ack_reason_codes"].GetArray()) {
            s.ack_reason_codes.emplace(code.GetString(), code.GetStringLength());
        }
    }
    const auto same = [](const fs::path& a, const fs::path& b) {
        return a.lexically_normal() == b.lexically_normal();
    };
    if (same(s.outbox, s.inbox) || same(s.outbox, s.sent_register) ||
        same(s.inbox, s.sent_register)) {
        throw std::invalid_argument(
            "dss_files: outbox_dir, inbox_dir and sent_register_dir must differ"
        );
    }
    return s;
}

}  // namespace casebridge::dss_files
