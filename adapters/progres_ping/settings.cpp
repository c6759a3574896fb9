// The progres_ping adapter's configuration: its JSON schema and the settings read from a
// checked configuration (progres_ping_adapter.hpp declares both).
#include <stdexcept>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "progres_ping/adapter_impl.hpp"

namespace casebridge::progres_ping {

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url", "token_url", "client_id", "scope", "user_name", "partner_id",
               "interop_id", "streams"],
  "definitions": {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "shipping_process": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "parameters": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "value"],
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 200},
          "value": {"type": "string", "maxLength": 4000}
        }
      }
    },
    "stream": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "id_field": {"$ref": "#/definitions/name"},
        "group_field": {"$ref": "#/definitions/name"},
        "modified_field": {"$ref": "#/definitions/name"},
        "pull": {
          "type": "object",
          "additionalProperties": false,
          "required": ["shipping_process_id"],
          "properties": {
            "shipping_process_id": {"$ref": "#/definitions/shipping_process"},
            "parameters": {"$ref": "#/definitions/parameters"},
            "since_parameter": {"$ref": "#/definitions/name"},
            "initial_since": {"type": "string",
                              "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"}
          }
        },
        "fetch": {
          "type": "object",
          "additionalProperties": false,
          "required": ["shipping_process_id"],
          "properties": {
            "shipping_process_id": {"$ref": "#/definitions/shipping_process"},
            "id_parameter": {"$ref": "#/definitions/name"},
            "parameters": {"$ref": "#/definitions/parameters"}
          }
        },
        "push": {
          "type": "object",
          "additionalProperties": false,
          "required": ["shipping_process_id", "writes", "result_id_field"],
          "properties": {
            "shipping_process_id": {"$ref": "#/definitions/shipping_process"},
            "writes": {"enum": ["create", "update"]},
            "mode": {"enum": ["sync", "async"]},
            "result_id_field": {"$ref": "#/definitions/name"},
            "correlation_field": {"$ref": "#/definitions/name"},
            "lookup": {
              "type": "object",
              "additionalProperties": false,
              "required": ["shipping_process_id"],
              "properties": {
                "shipping_process_id": {"$ref": "#/definitions/shipping_process"},
                "key_parameter": {"$ref": "#/definitions/name"},
                "parameters": {"$ref": "#/definitions/parameters"}
              }
            },
            "set_fields": {"$ref": "#/definitions/parameters"}
          }
        }
      }
    }
  },
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://[^/?#]+(/[^?#]*)?$",
                 "description": "https://host[:port] and the gateway's base path, without a query"},
    "token_url": {"type": "string", "pattern": "^https?://[^/?#]+/[^#]*$",
                  "description": "the token endpoint's full https URL, with its path"},
    "client_id": {"type": "string", "minLength": 1, "maxLength": 200},
    "client_secret_env": {"type": "string", "minLength": 1},
    "client_secret_file": {"type": "string", "minLength": 1},
    "scope": {"type": "string", "minLength": 1, "maxLength": 1000},
    "token_geo": {"type": "string", "pattern": "^[A-Z]{2}$"},
    "user_name": {"type": "string", "minLength": 1, "maxLength": 200},
    "password_env": {"type": "string", "minLength": 1},
    "password_file": {"type": "string", "minLength": 1},
    "subscription_key_env": {"type": "string", "minLength": 1},
    "subscription_key_file": {"type": "string", "minLength": 1},
    "partner_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "interop_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "retrieve_api_version": {"type": "string", "pattern": "^[A-Za-z0-9.]{1,10}$"},
    "ingest_api_version": {"type": "string", "pattern": "^[A-Za-z0-9.]{1,10}$"},
    "renew_before_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400},
    "status_checks": {"type": "integer", "minimum": 1, "maximum": 100},
    "status_interval_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
    "async_grace_seconds": {"type": "integer", "minimum": 0, "maximum": 86400},
    "streams": {
      "type": "object",
      "additionalProperties": false,
      "minProperties": 1,
      "properties": {
        "referrals": {"$ref": "#/definitions/stream"},
        "decisions": {"$ref": "#/definitions/stream"},
        "transfer_status": {"$ref": "#/definitions/stream"}
      }
    }
  }
})";
}

namespace {

std::string str_or(const Value& obj, const char* key, std::string fallback = {}) {
    const Value* v = member(obj, key);
    return v != nullptr && v->IsString() ? std::string(v->GetString()) : fallback;
}

std::vector<query_parameter> parameters_of(const Value& obj, const char* key) {
    std::vector<query_parameter> out;
    if (const Value* list = member(obj, key); list != nullptr && list->IsArray()) {
        for (const auto& p : list->GetArray()) {
            out.push_back({p["name"].GetString(), p["value"].GetString()});
        }
    }
    return out;
}

secret_source secret_of(const Value& obj, const std::string& prefix) {
    secret_source s;
    s.file = str_or(obj, (prefix + "_file").c_str());
    s.env = str_or(obj, (prefix + "_env").c_str());
    return s;
}

}  // namespace

settings settings_from_json(const rapidjson::Value& config) {
    const auto fail = [](const std::string& what) {
        throw std::invalid_argument("progres_ping: " + what);
    };
    settings s;
    s.base_url = str_or(config, "base_url");
    while (!s.base_url.empty() && s.base_url.back() == '/') {
        s.base_url.pop_back();
    }
    s.token_url = str_or(config, "token_url");
    s.client_id = str_or(config, "client_id");
    s.client_secret = secret_of(config, "client_secret");
    s.scope = str_or(config, "scope");
    s.token_geo = str_or(config, "token_geo");
    s.user_name = str_or(config, "user_name");
    s.password = secret_of(config, "password");
    s.subscription_key = secret_of(config, "subscription_key");
    s.partner_id = str_or(config, "partner_id");
    s.interop_id = str_or(config, "interop_id");
    s.retrieve_api_version = str_or(config, "retrieve_api_version", s.retrieve_api_version);
    s.ingest_api_version = str_or(config, "ingest_api_version", s.ingest_api_version);
    const auto int_or = [&](const char* key, int fallback) {
        const Value* v = member(config, key);
        return v != nullptr && v->IsInt() ? v->GetInt() : fallback;
    };
    s.renew_before = std::chrono::seconds(int_or("renew_before_seconds", 300));
    s.overlap = std::chrono::seconds(int_or("overlap_seconds", 60));
    s.status_checks = int_or("status_checks", 10);
    s.status_interval = std::chrono::milliseconds(int_or("status_interval_ms", 2000));
    s.async_grace = std::chrono::seconds(int_or("async_grace_seconds", 600));
    if (s.password.empty()) {
        fail("password_env or password_file is required");
    }
    if (s.subscription_key.empty()) {
        fail("subscription_key_env or subscription_key_file is required");
    }
    for (const auto& m : config["streams"].GetObject()) {
        const std::string name = m.name.GetString();
        const Value& v = m.value;
        stream_settings st;
        st.id_field = str_or(v, "id_field");
        st.group_field = str_or(v, "group_field");
        st.modified_field = str_or(v, "modified_field", "modifiedon");
        if (const Value* p = member(v, "pull")) {
            pull_settings ps;
            ps.shipping_process_id = (*p)["shipping_process_id"].GetString();
            ps.parameters = parameters_of(*p, "parameters");
            ps.since_parameter = str_or(*p, "since_parameter");
            ps.initial_since = str_or(*p, "initial_since", ps.initial_since);
            st.pull = std::move(ps);
        }
        if (const Value* f = member(v, "fetch")) {
            fetch_settings fs;
            fs.shipping_process_id = (*f)["shipping_process_id"].GetString();
            fs.id_parameter = str_or(*f, "id_parameter", fs.id_parameter);
            fs.parameters = parameters_of(*f, "parameters");
            st.fetch = std::move(fs);
        }
        if (const Value* w = member(v, "push")) {
            push_settings ps;
            ps.shipping_process_id = (*w)["shipping_process_id"].GetString();
            ps.writes = str_or(*w, "writes") == "create" ? write_kind::create : write_kind::update;
            ps.mode = str_or(*w, "mode") == "async" ? write_mode::async : write_mode::sync;
            ps.result_id_field = str_or(*w, "result_id_field");
            ps.correlation_field = str_or(*w, "correlation_field");
            ps.set_fields = parameters_of(*w, "set_fields");
            if (const Value* l = member(*w, "lookup")) {
                lookup_settings ls;
                ls.shipping_process_id = (*l)["shipping_process_id"].GetString();
                ls.key_parameter = str_or(*l, "key_parameter", ls.key_parameter);
                ls.parameters = parameters_of(*l, "parameters");
                ps.lookup = std::move(ls);
            }
            if (ps.writes == write_kind::create && (ps.correlation_field.empty() || !ps.lookup)) {
                fail(
                    "stream " + name +
                    ": push writes create, so it needs correlation_field and lookup"
                );
            }
            st.push = std::move(ps);
        }
        if ((st.pull || st.fetch) && st.id_field.empty()) {
            fail("stream " + name + ": pull and fetch need id_field");
        }
        if (st.pull && !st.group_field.empty() && !st.fetch) {
            fail(
                "stream " + name +
                ": a grouped pull needs fetch (to read a record whose rows "
                "continue on the next page)"
            );
        }
        if (!st.pull && !st.fetch && !st.push) {
            fail("stream " + name + ": nothing to do (no pull, fetch or push)");
        }
        s.streams[name] = std::move(st);
    }
    return s;
}

}  // namespace casebridge::progres_ping
