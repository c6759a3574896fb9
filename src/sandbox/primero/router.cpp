// The routes: each request to its handler, after authentication.
#include "sandbox/primero/sandbox_impl.hpp"

namespace casebridge::sandbox {

// Routing ------------------------------------------------------------------------------
response primero_sandbox::impl::handle(const request& req) {
    std::lock_guard lock(mutex);
    if (req.method != "GET" && req.method != "HEAD") {
        ++generation;
    }
    const std::string path = path_of(req);
    if (path == "/health") {
        return response{200, "{}"};
    }
    if (path == "/api/v2/primero" && req.method == "GET") {
        return response{
            200,
            R"({"data":{"sandbox_ui":true,"config_ui":"full","allow_self_registration":false,)"
            R"("locales":["en","bn"],"webpush_enabled":false,"agencies":[]}})"};
    }
    if (path == "/api/v2/tokens" && req.method == "POST") {
        return login(req);
    }
    auth_result who;
    if (auto refused = authenticate(req, who)) {
        return *refused;
    }
    const account& me = *who.user;
    if (locked) {
        response r = error_detail(503, path, "Service Unavailable", "Retry-After: 60");
        r.headers.emplace_back("Retry-After", "60");
        return r;
    }
    if (path == "/api/v2/tokens" && req.method == "DELETE") {
        if (who.kind == auth_kind::session) {
            sessions.erase(who.session_id);
        }
        return response{200, "{}"};
    }
    const std::string prefix = "/api/v2/cases";
    if (path.rfind(prefix, 0) != 0) {
        return error(404, path, "Not Found");
    }
    std::vector<std::string> parts;
    if (path.size() > prefix.size()) {
        if (path[prefix.size()] != '/') {
            return error(404, path, "Not Found");
        }
        parts = split(path.substr(prefix.size() + 1), '/');
    }
    if (parts.empty()) {
        if (req.method == "GET") {
            return me.can("read") ? index(req, me) : forbidden(path);
        }
        if (req.method == "POST") {
            return create(req, me);
        }
        return error(404, path, "Not Found");
    }
    if (parts.size() == 1 && req.method == "POST" &&
        (parts[0] == "transfers" || parts[0] == "referrals")) {
        return transition_bulk(req, parts[0] == "transfers" ? "Transfer" : "Referral", me);
    }
    const std::string& id = parts[0];
    if (cases.count(id) == 0) {
        return not_found(path, id);
    }
    if (parts.size() == 1) {
        if (req.method == "GET") {
            return show(req, id, me);
        }
        if (req.method == "PATCH" || req.method == "PUT") {
            return update(req, id, me);
        }
        if (req.method == "DELETE") {
            return disable(req, id, me);
        }
        return error(404, path, "Not Found");
    }
    if (parts[1] == "flags" && parts.size() <= 3) {
        return flags(req, id, parts.size() == 3 ? std::optional(parts[2]) : std::nullopt, me);
    }
    const std::string type = parts[1] == "referrals"           ? "Referral"
                             : parts[1] == "transfers"         ? "Transfer"
                             : parts[1] == "transfer_requests" ? "TransferRequest"
                                                               : "";
    if (type.empty() || parts.size() > 3) {
        return error(404, path, "Not Found");
    }
    if (parts.size() == 2) {
        if (req.method == "GET") {
            return transitions_list(req, id, type, me);
        }
        if (req.method == "POST") {
            return type == "TransferRequest" ? transfer_request_create(req, id, me)
                                             : transition_create(req, id, type, me);
        }
        return error(404, path, "Not Found");
    }
    if (req.method == "PATCH") {
        return transition_update(req, id, type, parts[2], false, me);
    }
    if (req.method == "DELETE" && type == "Referral") {
        return transition_update(req, id, type, parts[2], true, me);
    }
    return error(404, path, "Not Found");
}

}  // namespace casebridge::sandbox
