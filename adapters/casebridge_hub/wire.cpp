// The hub's error answers and the checks of what it sends back (adapter_impl.hpp).
#include <algorithm>

#include "casebridge_hub/adapter_impl.hpp"

namespace casebridge::casebridge_hub {

bool pseudonym_ok(std::string_view p) {
    return !p.empty() && p.size() <= max_pseudonym && std::all_of(p.begin(), p.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ':' || c == '.' || c == '_' || c == '-';
    });
}

bool lower_hex16(std::string_view v) {
    return v.size() == 16 && std::all_of(v.begin(), v.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::string str(const Value& v) {
    return {v.GetString(), v.GetStringLength()};
}

/// The JSON pointer a hub message names ("... at /records/3/coarse"), as far as it is a path
/// of our own request: a step is kept only while the request has that member or that index.
/// The text after "at" is the hub's; a step our request does not hold (a value, a number that
/// is no index of it) ends the pointer and is not repeated.
std::string pointer_in(std::string_view message, const Value& request) {
    const auto at = message.find("at /");
    if (at == std::string_view::npos) {
        return {};
    }
    const Value* here = &request;
    std::string out;
    for (std::size_t i = at + 3; i < message.size() && message[i] == '/' && out.size() < 200;) {
        std::size_t end = i + 1;
        while (end < message.size() && message[end] != '/' && message[end] != ' ' &&
               message[end] != ':' && message[end] != ',' && end - i <= 64) {
            ++end;
        }
        const std::string_view step = message.substr(i + 1, end - i - 1);
        const Value* next = nullptr;
        if (here->IsObject()) {
            const auto m = here->FindMember(Value(
                rapidjson::StringRef(step.data(), static_cast<rapidjson::SizeType>(step.size()))
            ));
            next = m != here->MemberEnd() ? &m->value : nullptr;
        } else if (here->IsArray() && !step.empty() && step.size() <= 9 && (step.size() == 1 || step.front() != '0') && std::all_of(step.begin(), step.end(), [](char c) {
                       return c >= '0' && c <= '9';
                   })) {
            const auto index = static_cast<rapidjson::SizeType>(std::stoul(std::string(step)));
            next = index < here->Size() ? &(*here)[index] : nullptr;
        }
        if (next == nullptr) {
            break;
        }
        out += '/';
        out += step;
        here = next;
        i = end;
    }
    return out;
}

remote_error hub_error(const http_response& r, std::string_view request_body) {
    remote_error e = error_from_status(r);
    std::string code;
    std::string message;
    std::optional<std::int64_t> expected;
    std::optional<std::int64_t> received;
    if (auto doc = json::parse(r.body);
        doc && doc->IsObject() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
        const Value& err = (*doc)["error"];
        if (err.HasMember("code") && err["code"].IsString()) {
            const std::string c = str(err["code"]);
            if (std::find(std::begin(hub_codes), std::end(hub_codes), c) != std::end(hub_codes)) {
                code = c;
            }
        }
        if (err.HasMember("message") && err["message"].IsString()) {
            message = str(err["message"]);
        }
        const auto number = [&](const char* name) -> std::optional<std::int64_t> {
            for (const Value* v : {static_cast<const Value*>(&*doc), &err}) {
                if (v->HasMember(name) && (*v)[name].IsInt64()) {
                    return (*v)[name].GetInt64();
                }
            }
            return std::nullopt;
        };
        expected = number("expected");
        received = number("received");
    }
    if (r.status == 409 || code == "schema_version") {
        // The hub compares encodings of one linkage schema only: nothing is stored until the
        // agency's profile and the hub agree, so retrying cannot help.
        e.code = make_error_code(errc::invalid_config);
        e.detail = "the hub refused the linkage schema version (schema_version)";
        if (expected && received) {
            e.detail = "the hub expects linkage_schema_version " + std::to_string(*expected) +
                       " but received " + std::to_string(*received) +
                       " (the agency's profile and the hub must use the same linkage schema)";
        }
        return e;
    }
    if (r.status == 413) {
        e.code = make_error_code(errc::too_large);
    }
    e.detail = "hub";
    if (!code.empty()) {
        e.detail += " " + code;
    }
    // Names of our own request's members the message mentions (a coarse field not allowed).
    // The request is parsed once for both (a batch can be megabytes).
    field_names names;
    if (const auto request = json::parse(request_body)) {
        collect_field_names(*request, {}, names);
        if (const auto p = pointer_in(message, *request); !p.empty()) {
            e.detail += " at " + p;
        }
    }
    const std::string kept = allowed_remote_text(message, {}, names);
    if (const auto open = kept.find(" ["); open != std::string::npos) {
        e.detail += kept.substr(open);
    }
    return e;
}

bool serves(std::string_view stream) {
    return stream.empty() || stream == records_stream;
}

remote_error target_only() {
    return make_remote_error(
        errc::not_found,
        "the hub adapter receives records (stream records) and gives notices (stream notices, "
        "pull only)"
    );
}

}  // namespace casebridge::casebridge_hub
