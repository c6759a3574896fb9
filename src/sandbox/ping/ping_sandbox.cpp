#include "sandbox/ping/ping_sandbox.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <rapidjson/document.h>

#include "core/time.hpp"
#include "json/json.hpp"
#include "net/url.hpp"
#include "sandbox/ping/synthetic_interventions.hpp"
#include "sandbox/primero/synthetic_cases.hpp"

namespace casebridge::sandbox {
namespace {

using rapidjson::Document;
using rapidjson::Value;

constexpr std::string_view token_path =
    "/casebridgesbx.onmicrosoft.com/b2c_1_ropc_ping/oauth2/v2.0/token";
constexpr std::string_view retrieve_path = "/primes/fetch/paging/v3/retrievedatawithpaging";
constexpr std::string_view check_status_path = "/primes/ingestion/checkstatus/v1/pingdata";
constexpr std::string_view ingestion_prefix = "/api/ingestion/v2/";

bool equals_ci(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// ASP.NET model binding matches member names without regard to case.
const Value* member_ci(const Value& obj, std::string_view name) {
    if (!obj.IsObject()) {
        return nullptr;
    }
    for (const auto& m : obj.GetObject()) {
        if (equals_ci({m.name.GetString(), m.name.GetStringLength()}, name)) {
            return &m.value;
        }
    }
    return nullptr;
}

std::string text_of(const Value* v) {
    if (v == nullptr) {
        return {};
    }
    if (v->IsString()) {
        return {v->GetString(), v->GetStringLength()};
    }
    if (v->IsNumber()) {
        return json::to_string(*v);
    }
    return {};
}

std::string random_hex(std::mt19937_64& r, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[r() & 15];
    }
    return out;
}

// "{GUID}", "GUID", "[g1,g2]", "g1,g2" → ids (lower case, no braces).
std::vector<std::string> id_list(std::string v) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : v) {
        if (c == ',' || c == '[' || c == ']') {
            if (!cur.empty()) {
                out.push_back(cur);
            }
            cur.clear();
        } else if (c != '{' && c != '}' && c != ' ' && c != '"' && c != '\'') {
            cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    if (!cur.empty()) {
        out.push_back(cur);
    }
    return out;
}

// A row of a retrieval result with the key it is ordered and paged by.
struct keyed_row {
    std::string key;  // modifiedon | id | ordinal
    Document row;
};

std::string cookie_attribute(const std::string& cookie, const std::string& element) {
    const auto at = cookie.find("<" + element + " last=\"");
    if (at == std::string::npos) {
        return {};
    }
    const auto start = at + element.size() + 8;
    const auto end = cookie.find('"', start);
    return end == std::string::npos ? std::string{} : cookie.substr(start, end - start);
}

struct interop_referral {
    std::string id;
    std::string number;
    std::map<std::string, std::string> fields;
    std::string created;
    std::string modified;
    std::optional<int> decision;
    std::string review_date;
    std::optional<int> rejection_reason;
    int status = 125080000;  // new
};

struct status_entry {
    std::string external_id;
    std::string external_guid;
    std::string status;  // Success | Failed | InProgress
    std::string message;
    Document data;  // object or null
    std::string processed_on;
};

struct transaction {
    std::string id;
    std::string shipping_process;
    Document items;  // the Data array as received
    time_point accepted{};
    std::size_t checks = 0;
    bool done = false;
    std::vector<status_entry> statuses;
};

const std::set<std::string, std::less<>> referral_ingest_fields = {
    "progres_externalguid",      "progres_externalid",       "progres_offlineid",
    "progres_businessunit",      "progres_organizationfrom", "progres_unhcrid",
    "progres_pocotheridnumber",  "progres_pocfirstname",     "progres_pocmiddlename",
    "progres_poclastname",       "progres_pocdateofbirth",   "progres_pocsex",
    "progres_pocphonenumber",    "progres_pocaddress",       "progres_orgreferralid",
    "progres_referraldate",      "progres_requestedservice", "progres_otherrequestedservices",
    "progres_reasonforreferral", "progres_orgreferredby",    "progres_orgposition",
    "progres_orgemail",          "progres_orgphonenumber",   "progres_spneedcategory",
    "progres_comments"};

const std::set<std::string, std::less<>> status_ingest_fields = {
    "progres_lpinterventionid",
    "progres_businessunit",
    "progres_primerotransferstatus",
    "progres_primerotransferstatusdate",
    "progres_primeroid",
    "progres_primerocaseworker",
    "progres_comments"};

}  // namespace

struct ping_sandbox::impl {
    ping_settings settings;
    const clock_source* clock;
    mutable std::mutex mutex;
    std::map<std::string, synthetic_intervention> interventions;
    std::vector<std::string> referral_order;
    std::map<std::string, interop_referral> referrals;
    /// Referral ids by their correlation key, as PING's look-up finds them: a look-up reads
    /// the referrals that carry the key, not every referral stored.
    std::multimap<std::string, std::string> by_correlation;
    std::map<std::string, transaction> transactions;
    /// Transactions queued and referrals not decided yet: the lazy background work of each
    /// request looks at these only, not at every write ever stored.
    std::set<std::string> queued;
    std::set<std::string> undecided;
    std::map<std::string, time_point> tokens;
    std::size_t tokens_issued = 0;
    std::size_t token_refusals = 0;
    std::size_t items_received = 0;
    std::size_t items_applied = 0;
    std::size_t referral_seq = 0;
    std::mt19937_64 rng;
    std::mt19937_64 secret_rng;
    std::unique_ptr<http_server> server;

    impl(ping_settings s, const clock_source& c)
        : settings(std::move(s)),
          clock(&c),
          rng(settings.seed),
          secret_rng(settings.seed ^ 0x50494e47ULL) {
        if (settings.password.empty()) {
            settings.password = "Sbx!" + random_hex(secret_rng, 16);
        }
        if (settings.client_id.empty()) {
            settings.client_id = synthetic_uuid(secret_rng);
        }
        if (settings.subscription_key.empty()) {
            settings.subscription_key = random_hex(secret_rng, 32);
        }
        if (settings.page_rows == 0) {
            settings.page_rows = 1;
        }
    }

    std::string now_text() const { return format_rfc3339(clock->now()); }

    void index_referral(const interop_referral& r) {
        if (const auto f = r.fields.find(settings.ids.correlation_field); f != r.fields.end()) {
            by_correlation.emplace(f->second, r.id);
        }
    }
    void unindex_referral(const interop_referral& r) {
        const auto f = r.fields.find(settings.ids.correlation_field);
        if (f == r.fields.end()) {
            return;
        }
        const auto [lo, hi] = by_correlation.equal_range(f->second);
        for (auto k = lo; k != hi; ++k) {
            if (k->second == r.id) {
                by_correlation.erase(k);
                return;
            }
        }
    }

    // Responses --------------------------------------------------------------------------------

    static response json_response(unsigned status, const Value& v) {
        response r;
        r.status = status;
        r.body = json::to_string(v);
        return r;
    }

    // API management's own error shape.
    static response apim_error(unsigned status, const std::string& message) {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("statusCode", status, a);
        d.AddMember("message", Value(message.c_str(), a), a);
        response r = json_response(status, d);
        if (status == 401) {
            r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ping\"");
        }
        return r;
    }

    // PING's error envelope.
    response ping_error(unsigned status, const std::string& message) {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("Data", Value(), a);
        d.AddMember("ErrorMessage", Value(message.c_str(), a), a);
        d.AddMember("RecordCount", 0, a);
        d.AddMember("SPHTransactionId", Value(synthetic_uuid(rng).c_str(), a), a);
        d.AddMember("PagingSummary", Value(), a);
        return json_response(status, d);
    }

    // The status text as PING renders it: a JSON list whose items' Data objects are pasted in
    // without escaping.
    static std::string status_text(const std::vector<status_entry>& entries) {
        std::string out = "[";
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const auto& e = entries[i];
            const auto quoted = [](const std::string& s) {
                Value v(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
                return json::to_string(v);
            };
            out += i == 0 ? "{" : ",{";
            out += "\"ExternalId\":" + quoted(e.external_id);
            if (!e.external_guid.empty()) {
                out += ",\"ExternalGUID\":" + quoted(e.external_guid);
            }
            out += ",\"Status\":" + quoted(e.status);
            out += ",\"Message\":" + quoted(e.message);
            if (e.data.IsObject()) {
                out += ",\"Data\":\"" + json::to_string(e.data) + "\"";
            } else {
                out += ",\"Data\":null";
            }
            out += ",\"ProcessedOn\":" +
                   (e.processed_on.empty() ? std::string("null") : quoted(e.processed_on));
            out += "}";
        }
        return out + "]";
    }

    // Auth -------------------------------------------------------------------------------------

    response token(const request& req) {
        const auto fields = parse_query(req.body, plus_sign::space);
        std::map<std::string, std::string> form;
        if (fields) {
            for (const auto& [name, value] : *fields) {
                form[name] = value;
            }
        }
        const auto get = [&](const char* k) {
            const auto it = form.find(k);
            return it == form.end() ? std::string{} : it->second;
        };
        const auto refuse = [&](const char* code, const char* description) {
            ++token_refusals;
            Document d(rapidjson::kObjectType);
            auto& a = d.GetAllocator();
            d.AddMember("error", Value(code, a), a);
            const std::string text = std::string(description) +
                                     "\r\nCorrelation ID: " + synthetic_uuid(rng) +
                                     "\r\nTimestamp: " + now_text();
            d.AddMember("error_description", Value(text.c_str(), a), a);
            return json_response(400, d);
        };
        if (!fields) {
            return refuse("invalid_request", "The request body is not valid form data.");
        }
        if (get("grant_type") != "password") {
            return refuse(
                "unsupported_grant_type",
                "AADB2C90086: The supplied grant_type [] is not supported."
            );
        }
        if (get("client_id") != settings.client_id) {
            return refuse(
                "unauthorized_client",
                "AADB2C90057: The provided application is not configured to allow the 'OAuth' "
                "ROPC flow."
            );
        }
        bool scope_ok = false;
        for (std::size_t start = 0; start <= get("scope").size();) {
            const std::string scope = get("scope");
            const auto sp = scope.find(' ', start);
            if (scope.substr(start, sp - start) == settings.ids.scope) {
                scope_ok = true;
            }
            if (sp == std::string::npos) {
                break;
            }
            start = sp + 1;
        }
        if (!scope_ok) {
            return refuse(
                "invalid_scope", "AADB2C90117: The scope provided in the request is not supported."
            );
        }
        if (get("username") != settings.user_name || get("password") != settings.password) {
            return refuse(
                "invalid_grant",
                "AADB2C90225: The username or password provided in the request are invalid."
            );
        }
        const std::string t = "eyJhbGciOiJSUzI1NiIsImtpZCI6InBpbmcifQ." +
                              random_hex(secret_rng, 48) + "." + random_hex(secret_rng, 24);
        const auto now = clock->now();
        tokens[t] = now + settings.token_lifetime;
        ++tokens_issued;
        const auto secs = std::to_string(settings.token_lifetime.count());
        const auto expires_on = std::chrono::duration_cast<std::chrono::seconds>(
                                    (now + settings.token_lifetime).time_since_epoch()
        )
                                    .count();
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("access_token", Value(t.c_str(), a), a);
        d.AddMember("token_type", "Bearer", a);
        d.AddMember("expires_in", Value(secs.c_str(), a), a);  // B2C sends strings
        d.AddMember("expires_on", Value(std::to_string(expires_on).c_str(), a), a);
        d.AddMember("resource", Value(settings.ids.scope.c_str(), a), a);
        d.AddMember("scope", Value(settings.ids.scope.c_str(), a), a);
        return json_response(200, d);
    }

    // API management: the subscription key, then the bearer token.
    std::optional<response> gate(const request& req) {
        const auto key = req.headers.find("ocp-apim-subscription-key");
        if (key == req.headers.end() || key->second.empty()) {
            return apim_error(
                401,
                "Access denied due to missing subscription key. Make sure to include "
                "subscription key when making requests to an API."
            );
        }
        if (key->second != settings.subscription_key) {
            return apim_error(
                401,
                "Access denied due to invalid subscription key. Make sure to provide a valid "
                "key for an active subscription."
            );
        }
        const auto auth = req.headers.find("authorization");
        if (auth == req.headers.end() || auth->second.rfind("Bearer ", 0) != 0) {
            return apim_error(401, "Unauthorized. Access token is missing or invalid.");
        }
        const auto it = tokens.find(auth->second.substr(7));
        if (it == tokens.end() || clock->now() >= it->second) {
            return apim_error(401, "Unauthorized. Access token is missing or invalid.");
        }
        return std::nullopt;
    }

    // Data -------------------------------------------------------------------------------------

    static std::vector<Document> rows_of(const synthetic_intervention& iv) {
        return joined_rows(iv);
    }

    static std::string key_of(const std::string& modified, const std::string& id, std::size_t n) {
        std::string ordinal = std::to_string(n);
        ordinal.insert(0, 4 - std::min<std::size_t>(4, ordinal.size()), '0');
        return modified + "|" + id + "|" + ordinal;
    }

    void add_intervention_rows(const synthetic_intervention& iv, std::vector<keyed_row>& out)
        const {
        std::size_t n = 0;
        const std::string modified = iv.base["modifiedon"].GetString();
        for (auto& row : rows_of(iv)) {
            out.push_back({key_of(modified, iv.id, n++), std::move(row)});
        }
    }

    Document decision_row(const interop_referral& r) const {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        const auto field = [&](const char* name) -> Value {
            const auto it = r.fields.find(name);
            return it == r.fields.end() ? Value() : Value(it->second.c_str(), a);
        };
        d.AddMember("progres_interoperabilityreferralid", Value(r.id.c_str(), a), a);
        d.AddMember("progres_interoperabilityreferralnumber", Value(r.number.c_str(), a), a);
        d.AddMember("progres_offlineid", field("progres_offlineid"), a);
        d.AddMember("progres_orgreferralid", field("progres_orgreferralid"), a);
        d.AddMember("progres_interoperabilityreferralstatus", r.status, a);
        if (r.decision) {
            d.AddMember("progres_reviewdecision", *r.decision, a);
            d.AddMember(
                "progres_reviewdecisionname", *r.decision == 125080000 ? "Accepted" : "Rejected", a
            );
            d.AddMember("progres_reviewdate", Value(r.review_date.c_str(), a), a);
            d.AddMember("progres_reviewbyname", "Protection Officer Cox's Bazar", a);
        } else {
            d.AddMember("progres_reviewdecision", Value(), a);
        }
        if (r.rejection_reason) {
            d.AddMember("progres_interoperabiltyreferralrejectionreason", *r.rejection_reason, a);
            d.AddMember(
                "progres_interoperabilityreferralrejectionomment",
                "<p>Individual could not be matched to the registration group.</p>",
                a
            );
        } else {
            d.AddMember("progres_interoperabiltyreferralrejectionreason", Value(), a);
            d.AddMember("progres_interoperabilityreferralrejectionomment", Value(), a);
        }
        d.AddMember("createdon", Value(r.created.c_str(), a), a);
        d.AddMember("modifiedon", Value(r.modified.c_str(), a), a);
        return d;
    }

    Document lookup_row(const interop_referral& r) const {
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("progres_interoperabilityreferralid", Value(r.id.c_str(), a), a);
        d.AddMember("progres_interoperabilityreferralnumber", Value(r.number.c_str(), a), a);
        const auto it = r.fields.find(settings.ids.correlation_field);
        d.AddMember(
            Value(settings.ids.correlation_field.c_str(), a),
            it == r.fields.end() ? Value() : Value(it->second.c_str(), a),
            a
        );
        d.AddMember("createdon", Value(r.created.c_str(), a), a);
        return d;
    }

    bool decide_locked(interop_referral& r, bool accepted) {
        r.decision = accepted ? 125080000 : 125080001;
        r.rejection_reason = accepted ? std::nullopt : std::optional<int>(125080001);
        r.status = accepted ? 125080001 : 125080002;
        r.review_date = now_text().substr(0, 10) + "T00:00:00Z";
        r.modified = now_text();
        return true;
    }

    // Lazy background work: queued transactions and automatic decisions.
    void advance() {
        const auto now = clock->now();
        for (auto it = queued.begin(); it != queued.end();) {
            transaction& t = transactions.at(*it);
            if (!t.done && now - t.accepted >= settings.async_processing) {
                process(t);
            }
            it = t.done ? queued.erase(it) : std::next(it);
        }
        if (settings.decide_after.count() > 0) {
            for (auto it = undecided.begin(); it != undecided.end();) {
                interop_referral& r = referrals.at(*it);
                const auto created = parse_rfc3339(r.created);
                if (!r.decision && created && now - *created >= settings.decide_after) {
                    decide_locked(r, rng() % 5 != 0);
                }
                it = r.decision ? undecided.erase(it) : std::next(it);
            }
        }
    }

    // Retrieval --------------------------------------------------------------------------------

    response retrieve(const request& req) {
        auto body = json::parse(req.body);
        if (!body || !body->IsObject()) {
            return ping_error(400, "The request body is not valid JSON.");
        }
        const std::string shp = text_of(member_ci(*body, "ShippingProcessId"));
        if (text_of(member_ci(*body, "PartnerId")) != settings.ids.partner_id ||
            text_of(member_ci(*body, "InteropID")) != settings.ids.interop_id) {
            return ping_error(403, "Partner is not authorised for this shipping process.");
        }
        if (text_of(member_ci(*body, "APIVersion")) != "V3") {
            return ping_error(400, "Unsupported APIVersion.");
        }
        std::map<std::string, std::string> params;
        if (const Value* qp = member_ci(*body, "QueryParameters"); qp != nullptr) {
            if (!qp->IsArray()) {
                return ping_error(400, "QueryParameters must be a list.");
            }
            for (const auto& p : qp->GetArray()) {
                params[text_of(member_ci(p, "ParameterName"))] = text_of(member_ci(p, "Value"));
            }
        }
        const auto allowed = [&](std::initializer_list<std::string> names) {
            for (const auto& [k, v] : params) {
                if (std::find(names.begin(), names.end(), k) == names.end()) {
                    return false;
                }
            }
            return true;
        };
        std::vector<keyed_row> rows;
        const auto& ids = settings.ids;
        if (shp == ids.referrals_pull || shp == ids.decisions_pull) {
            if (!allowed({ids.since_parameter})) {
                return ping_error(400, "Unknown query parameter for this shipping process.");
            }
            std::optional<time_point> since;
            if (const auto it = params.find(ids.since_parameter); it != params.end()) {
                since = parse_rfc3339(it->second);
                if (!since) {
                    return ping_error(400, "Query parameter value is not a valid date and time.");
                }
            }
            const auto after = [&](const std::string& modified) {
                return !since || *parse_rfc3339(modified) >= *since;
            };
            if (shp == ids.referrals_pull) {
                for (const auto& [id, iv] : interventions) {
                    if (after(iv.base["modifiedon"].GetString())) {
                        add_intervention_rows(iv, rows);
                    }
                }
            } else {
                for (const auto& [id, r] : referrals) {
                    if (r.decision && after(r.modified)) {
                        rows.push_back({key_of(r.modified, r.id, 0), decision_row(r)});
                    }
                }
            }
        } else if (shp == ids.intervention_detail || shp == ids.decision_detail) {
            const auto it = params.find(ids.ids_parameter);
            if (!allowed({ids.ids_parameter}) || it == params.end()) {
                return ping_error(400, "Query parameter {record_ids} is required.");
            }
            for (const auto& id : id_list(it->second)) {
                if (shp == ids.intervention_detail) {
                    if (const auto iv = interventions.find(id); iv != interventions.end()) {
                        add_intervention_rows(iv->second, rows);
                    }
                } else if (const auto r = referrals.find(id); r != referrals.end()) {
                    rows.push_back({key_of(r->second.modified, id, 0), decision_row(r->second)});
                }
            }
        } else if (shp == ids.referral_lookup) {
            const auto it = params.find(ids.key_parameter);
            if (!allowed({ids.key_parameter}) || it == params.end()) {
                return ping_error(400, "Query parameter {correlation_key} is required.");
            }
            const auto [lo, hi] = by_correlation.equal_range(it->second);
            for (auto k = lo; k != hi; ++k) {
                const auto& r = referrals.at(k->second);
                rows.push_back({key_of(r.created, r.id, 0), lookup_row(r)});
            }
        } else {
            return ping_error(400, "Invalid ShippingProcessId.");
        }
        std::sort(rows.begin(), rows.end(), [](const keyed_row& x, const keyed_row& y) {
            return x.key < y.key;
        });
        // The page: after the cookie's position, or by page number without a cookie.
        const Value* page_v = member_ci(*body, "PageNumber");
        const int page =
            page_v != nullptr && page_v->IsInt() && page_v->GetInt() > 0 ? page_v->GetInt() : 1;
        const std::string cookie = text_of(member_ci(*body, "PagingCookie"));
        std::size_t first = 0;
        if (!cookie.empty()) {
            const std::string last = cookie_attribute(cookie, "modifiedon") + "|" +
                                     cookie_attribute(cookie, "progres_recordid") + "|" +
                                     cookie_attribute(cookie, "rownumber");
            first = static_cast<std::size_t>(
                std::upper_bound(
                    rows.begin(),
                    rows.end(),
                    last,
                    [](const std::string& k, const keyed_row& r) { return k < r.key; }
                ) -
                rows.begin()
            );
        } else {
            first = static_cast<std::size_t>(page - 1) * settings.page_rows;
        }
        first = std::min(first, rows.size());
        const std::size_t end = std::min(rows.size(), first + settings.page_rows);
        const bool more = end < rows.size();
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        if (first == end) {
            d.AddMember("Data", "No Data Available", a);
        } else {
            Value data(rapidjson::kArrayType);
            for (std::size_t i = first; i < end; ++i) {
                data.PushBack(Value(rows[i].row, a), a);
            }
            d.AddMember("Data", data, a);
        }
        d.AddMember("ErrorMessage", Value(), a);
        d.AddMember("RecordCount", static_cast<unsigned>(end - first), a);
        d.AddMember("SPHTransactionId", Value(synthetic_uuid(rng).c_str(), a), a);
        Value summary(rapidjson::kObjectType);
        if (more) {
            const auto& last = rows[end - 1].key;
            const auto bar1 = last.find('|');
            const auto bar2 = last.rfind('|');
            const std::string next_cookie =
                "<cookie page=\"" + std::to_string(page) + "\"><modifiedon last=\"" +
                last.substr(0, bar1) + "\" /><progres_recordid last=\"" +
                last.substr(bar1 + 1, bar2 - bar1 - 1) + "\" first=\"" +
                rows[first].key.substr(
                    rows[first].key.find('|') + 1,
                    rows[first].key.rfind('|') - rows[first].key.find('|') - 1
                ) +
                "\" /><rownumber last=\"" + last.substr(bar2 + 1) + "\" /></cookie>";
            summary.AddMember("PagingCookie", Value(next_cookie.c_str(), a), a);
        } else {
            summary.AddMember("PagingCookie", Value(), a);
        }
        summary.AddMember("PageNumber", first == end ? 0 : page, a);
        summary.AddMember("IsMoreRecordsAvailable", more, a);
        d.AddMember("PagingSummary", summary, a);
        return json_response(200, d);
    }

    // Ingestion --------------------------------------------------------------------------------

    status_entry apply(const std::string& shp, const Value& item) {
        ++items_received;
        status_entry e;
        e.external_id = text_of(member_ci(item, "ExternalId"));
        e.external_guid = text_of(member_ci(item, "ExternalGUID"));
        e.processed_on = format_rfc3339(clock->now(), 3);
        e.data.SetNull();
        const auto fail = [&](std::string message) {
            e.status = "Failed";
            e.message = std::move(message);
            return std::move(e);
        };
        const Value* fields = member_ci(item, "Fields");
        if (fields == nullptr || !fields->IsArray()) {
            return fail("Fields is required.");
        }
        std::map<std::string, std::string> values;
        const auto& known =
            shp == settings.ids.referral_ingest ? referral_ingest_fields : status_ingest_fields;
        for (const auto& f : fields->GetArray()) {
            const std::string name = text_of(member_ci(f, "Name"));
            const Value* v = member_ci(f, "Value");
            if (name.empty()) {
                return fail("A field has no Name.");
            }
            const bool correlation =
                shp == settings.ids.referral_ingest && name == settings.ids.correlation_field;
            if (known.count(name) == 0 && !correlation) {
                return fail("Field " + name + " is not defined for shipping process " + shp + ".");
            }
            if (values.count(name) != 0) {
                return fail("Field " + name + " is given twice.");
            }
            if (v != nullptr && !v->IsNull() && !v->IsString() && !v->IsNumber()) {
                return fail("Field " + name + " has a value of an unsupported type.");
            }
            values[name] = text_of(v);
        }
        auto& a = e.data.GetAllocator();
        if (shp == settings.ids.referral_ingest) {
            if (values["progres_businessunit"] != settings.ids.business_unit) {
                return fail("progres_businessunit does not name a business unit of this partner.");
            }
            if (values["progres_organizationfrom"] != settings.ids.organization) {
                return fail("progres_organizationfrom does not name this partner's organisation.");
            }
            if (values["progres_orgreferralid"].empty()) {
                return fail("progres_orgreferralid is required.");
            }
            interop_referral r;
            r.id = synthetic_uuid(rng);
            std::string seq = std::to_string(++referral_seq);
            seq.insert(0, 9 - std::min<std::size_t>(9, seq.size()), '0');
            r.number = "REF-IOP-CXB-" + seq;
            for (auto& [k, v] : values) {
                if (!v.empty()) {
                    r.fields[k] = v;
                }
            }
            r.created = now_text();
            r.modified = r.created;
            e.data.SetObject();
            e.data.AddMember("progres_interoperabilityreferralid", Value(r.id.c_str(), a), a);
            e.data.AddMember(
                "progres_interoperabilityreferralnumber", Value(r.number.c_str(), a), a
            );
            referral_order.push_back(r.id);
            undecided.insert(r.id);
            index_referral(r);
            referrals[r.id] = std::move(r);
            e.status = "Success";
            e.message = "Record created.";
        } else {
            const std::string id = values["progres_lpinterventionid"];
            const auto it = interventions.find(id);
            if (it == interventions.end()) {
                return fail("No record found for key progres_lpinterventionid.");
            }
            auto& base = it->second.base;
            if (values["progres_businessunit"] != base["progres_businessunit"].GetString()) {
                return fail("progres_businessunit does not match the record.");
            }
            const std::string code = values["progres_primerotransferstatus"];
            int status = 0;
            for (int c : {125080001, 125080002, 125080003, 125080004}) {
                if (code == std::to_string(c)) {
                    status = c;
                }
            }
            if (status == 0) {
                // As Dataverse does, the message quotes the value.
                return fail(
                    "Value '" + code + "' is not a valid option for progres_primerotransferstatus."
                );
            }
            if (!parse_date(values["progres_primerotransferstatusdate"].substr(0, 10))) {
                return fail("progres_primerotransferstatusdate is not a valid date.");
            }
            auto& ba = base.GetAllocator();
            base["progres_primerotransferstatus"].SetInt(status);
            base["progres_primerotransferstatusdate"].SetString(
                (values["progres_primerotransferstatusdate"].substr(0, 10) + "T00:00:00Z").c_str(),
                ba
            );
            base["modifiedon"].SetString(now_text().c_str(), ba);
            e.data.SetObject();
            e.data.AddMember("progres_lpinterventionid", Value(id.c_str(), a), a);
            e.status = "Success";
            e.message = "Record updated.";
        }
        ++items_applied;
        return e;
    }

    void process(transaction& t) {
        for (const auto& item : t.items.GetArray()) {
            t.statuses.push_back(apply(t.shipping_process, item));
        }
        t.done = true;
    }

    response ingest(const request& req, const std::string& partner, bool async) {
        if (partner != settings.ids.partner_id) {
            return ping_error(403, "Partner is not authorised for this shipping process.");
        }
        auto body = json::parse(req.body);
        if (!body || !body->IsObject()) {
            return ping_error(400, "The request body is not valid JSON.");
        }
        const std::string shp = text_of(member_ci(*body, "ShippingProcessId"));
        if (shp != settings.ids.referral_ingest && shp != settings.ids.intervention_status) {
            return ping_error(400, "Invalid ShippingProcessId.");
        }
        if (text_of(member_ci(*body, "InteropId")) != settings.ids.interop_id) {
            return ping_error(403, "Partner is not authorised for this shipping process.");
        }
        if (async && text_of(member_ci(*body, "APIVersion")) != "V2") {
            return ping_error(400, "Unsupported APIVersion.");
        }
        const Value* data = member_ci(*body, "Data");
        if (data == nullptr || !data->IsArray() || data->Empty()) {
            return ping_error(400, "Data must be a non-empty list.");
        }
        for (const auto& item : data->GetArray()) {
            if (!item.IsObject()) {
                return ping_error(400, "Data items must be objects.");
            }
        }
        transaction t;
        t.id = synthetic_uuid(rng);
        t.shipping_process = shp;
        t.items.CopyFrom(*data, t.items.GetAllocator());
        t.accepted = clock->now();
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("SPHTransactionId", Value(t.id.c_str(), a), a);
        if (async) {
            d.AddMember("Data", Value(), a);
        } else {
            process(t);
            d.AddMember("Data", Value(status_text(t.statuses).c_str(), a), a);
        }
        d.AddMember("ErrorMessage", Value(), a);
        if (!t.done) {
            queued.insert(t.id);
        }
        transactions[t.id] = std::move(t);
        return json_response(200, d);
    }

    response check_status(const request& req) {
        auto body = json::parse(req.body);
        if (!body || !body->IsObject()) {
            return ping_error(400, "The request body is not valid JSON.");
        }
        if (text_of(member_ci(*body, "PartnerId")) != settings.ids.partner_id ||
            text_of(member_ci(*body, "InteropID")) != settings.ids.interop_id) {
            return ping_error(403, "Partner is not authorised for this shipping process.");
        }
        const auto it = transactions.find(text_of(member_ci(*body, "SPHTransactionId")));
        if (it == transactions.end() ||
            it->second.shipping_process != text_of(member_ci(*body, "ShippingProcessId"))) {
            return ping_error(404, "Transaction not found.");
        }
        auto& t = it->second;
        if (!t.done && ++t.checks > settings.async_checks) {
            process(t);
        }
        std::vector<status_entry> shown;
        if (t.done) {
            for (const auto& s : t.statuses) {
                auto& c = shown.emplace_back();
                c.external_id = s.external_id;
                c.external_guid = s.external_guid;
                c.status = s.status;
                c.message = s.message;
                c.data.CopyFrom(s.data, c.data.GetAllocator());
                c.processed_on = s.processed_on;
            }
        } else {
            for (const auto& item : t.items.GetArray()) {
                auto& c = shown.emplace_back();
                c.external_id = text_of(member_ci(item, "ExternalId"));
                c.external_guid = text_of(member_ci(item, "ExternalGUID"));
                c.status = "InProgress";
                c.message = "Queued for processing.";
                c.data.SetNull();
            }
        }
        Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("Data", Value(status_text(shown).c_str(), a), a);
        d.AddMember("ErrorMessage", Value(), a);
        d.AddMember("SPHTransactionId", Value(t.id.c_str(), a), a);
        return json_response(200, d);
    }

    // Routing ----------------------------------------------------------------------------------

    response handle(const request& req) {
        std::lock_guard lock(mutex);
        const std::string path(target_path(req.target));
        if (path == "/health") {
            return response{200, "{}"};
        }
        if (path == token_path) {
            if (req.method != "POST") {
                return response{405, "{}"};
            }
            return token(req);
        }
        if (auto refused = gate(req)) {
            return *refused;
        }
        advance();
        if (req.method != "POST") {
            return apim_error(404, "Resource not found");
        }
        if (path == retrieve_path) {
            return retrieve(req);
        }
        if (path == check_status_path) {
            return check_status(req);
        }
        if (path.rfind(ingestion_prefix, 0) == 0) {
            const std::string rest = path.substr(ingestion_prefix.size());
            const auto slash = rest.find('/');
            if (slash != std::string::npos) {
                const std::string op = rest.substr(slash + 1);
                if (op == "data" || op == "asyncdata") {
                    return ingest(req, rest.substr(0, slash), op == "asyncdata");
                }
            }
        }
        return apim_error(404, "Resource not found");
    }
};

ping_sandbox::ping_sandbox(ping_settings settings, const clock_source& clock)
    : impl_(std::make_unique<impl>(std::move(settings), clock)) {
    generate_interventions(
        impl_->settings.seed,
        impl_->settings.interventions,
        impl_->settings.ids.business_unit,
        [this](synthetic_intervention iv) {
            const std::string id = iv.id;
            impl_->interventions.emplace(id, std::move(iv));
        }
    );
    impl_->server = std::make_unique<http_server>(
        impl_->settings.listen_address,
        impl_->settings.port,
        [p = impl_.get()](const request& req) { return p->handle(req); }
    );
    impl_->server->set_rules(impl_->settings.faults);
}

ping_sandbox::~ping_sandbox() {
    impl_->server.reset();
}

std::string ping_sandbox::base_url() const {
    return impl_->server->base_url();
}
std::string ping_sandbox::token_url() const {
    return impl_->server->base_url() + std::string(token_path);
}
const std::string& ping_sandbox::user_name() const {
    return impl_->settings.user_name;
}
const std::string& ping_sandbox::password() const {
    return impl_->settings.password;
}
const std::string& ping_sandbox::client_id() const {
    return impl_->settings.client_id;
}
const std::string& ping_sandbox::subscription_key() const {
    return impl_->settings.subscription_key;
}
const ping_ids& ping_sandbox::ids() const {
    return impl_->settings.ids;
}

std::string ping_sandbox::adapter_settings_json(
    const std::string& password_file, const std::string& subscription_key_file, bool async_referrals
) const {
    const auto& ids = impl_->settings.ids;
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    const auto str = [&a](Value& obj, const char* k, const std::string& v) {
        obj.AddMember(Value(k, a), Value(v.c_str(), a), a);
    };
    const auto shp = [&](const std::string& id) {
        Value v(rapidjson::kObjectType);
        str(v, "shipping_process_id", id);
        return v;
    };
    str(d, "base_url", base_url());
    str(d, "token_url", token_url());
    str(d, "client_id", client_id());
    str(d, "scope", ids.scope);
    str(d, "user_name", user_name());
    str(d, "password_file", password_file);
    str(d, "subscription_key_file", subscription_key_file);
    str(d, "partner_id", ids.partner_id);
    str(d, "interop_id", ids.interop_id);
    Value streams(rapidjson::kObjectType);

    Value referrals(rapidjson::kObjectType);
    str(referrals, "id_field", "progres_lpinterventionid");
    str(referrals, "group_field", "progres_interventionnumber");
    str(referrals, "modified_field", "modifiedon");
    Value pull = shp(ids.referrals_pull);
    str(pull, "since_parameter", ids.since_parameter);
    referrals.AddMember("pull", pull, a);
    Value fetch = shp(ids.intervention_detail);
    str(fetch, "id_parameter", ids.ids_parameter);
    referrals.AddMember("fetch", fetch, a);
    Value push = shp(ids.referral_ingest);
    str(push, "writes", "create");
    str(push, "mode", async_referrals ? "async" : "sync");
    str(push, "result_id_field", "progres_interoperabilityreferralid");
    str(push, "correlation_field", ids.correlation_field);
    Value lookup = shp(ids.referral_lookup);
    str(lookup, "key_parameter", ids.key_parameter);
    push.AddMember("lookup", lookup, a);
    Value set_fields(rapidjson::kArrayType);
    for (const auto& [name, value] :
         {std::pair{"progres_businessunit", ids.business_unit},
          {"progres_organizationfrom", ids.organization}}) {
        Value f(rapidjson::kObjectType);
        str(f, "name", name);
        str(f, "value", value);
        set_fields.PushBack(f, a);
    }
    push.AddMember("set_fields", set_fields, a);
    referrals.AddMember("push", push, a);
    streams.AddMember("referrals", referrals, a);

    Value decisions(rapidjson::kObjectType);
    str(decisions, "id_field", "progres_interoperabilityreferralid");
    str(decisions, "modified_field", "modifiedon");
    Value dpull = shp(ids.decisions_pull);
    str(dpull, "since_parameter", ids.since_parameter);
    decisions.AddMember("pull", dpull, a);
    Value dfetch = shp(ids.decision_detail);
    str(dfetch, "id_parameter", ids.ids_parameter);
    decisions.AddMember("fetch", dfetch, a);
    Value dpush = shp(ids.intervention_status);
    str(dpush, "writes", "update");
    str(dpush, "mode", "sync");
    str(dpush, "result_id_field", "progres_lpinterventionid");
    decisions.AddMember("push", dpush, a);
    streams.AddMember("decisions", decisions, a);

    Value status(rapidjson::kObjectType);
    Value spush = shp(ids.intervention_status);
    str(spush, "writes", "update");
    str(spush, "mode", "sync");
    str(spush, "result_id_field", "progres_lpinterventionid");
    status.AddMember("push", spush, a);
    streams.AddMember("transfer_status", status, a);

    d.AddMember("streams", streams, a);
    return json::to_string(d, true);
}

http_server& ping_sandbox::server() {
    return *impl_->server;
}
std::size_t ping_sandbox::tokens_issued() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->tokens_issued;
}
std::size_t ping_sandbox::token_refusals() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->token_refusals;
}
void ping_sandbox::revoke_tokens() {
    std::lock_guard lock(impl_->mutex);
    impl_->tokens.clear();
}
std::size_t ping_sandbox::intervention_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->interventions.size();
}
std::vector<std::string> ping_sandbox::intervention_ids() const {
    std::lock_guard lock(impl_->mutex);
    std::vector<std::pair<std::string, std::string>> keyed;
    for (const auto& [id, iv] : impl_->interventions) {
        keyed.emplace_back(iv.base["modifiedon"].GetString(), id);
    }
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::string> out;
    for (auto& [k, id] : keyed) {
        out.push_back(std::move(id));
    }
    return out;
}
std::optional<std::string> ping_sandbox::intervention_rows(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->interventions.find(id);
    if (it == impl_->interventions.end()) {
        return std::nullopt;
    }
    Document d(rapidjson::kArrayType);
    for (auto& row : impl_->rows_of(it->second)) {
        d.PushBack(Value(row, d.GetAllocator()), d.GetAllocator());
    }
    return json::to_string(d);
}
void ping_sandbox::set_joined_lists(
    const std::string& id,
    std::vector<std::string> languages,
    std::vector<std::string> needs,
    bool duplicate_row
) {
    std::lock_guard lock(impl_->mutex);
    auto& iv = impl_->interventions.at(id);
    iv.languages = std::move(languages);
    iv.needs = std::move(needs);
    iv.duplicate_row = duplicate_row;
}
void ping_sandbox::touch_intervention(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    auto& base = impl_->interventions.at(id).base;
    base["modifiedon"].SetString(impl_->now_text().c_str(), base.GetAllocator());
}
std::optional<int> ping_sandbox::transfer_status(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->interventions.find(id);
    if (it == impl_->interventions.end() ||
        !it->second.base["progres_primerotransferstatus"].IsInt()) {
        return std::nullopt;
    }
    return it->second.base["progres_primerotransferstatus"].GetInt();
}
std::size_t ping_sandbox::referral_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->referrals.size();
}
std::vector<std::string> ping_sandbox::referral_ids() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->referral_order;
}
std::optional<std::string> ping_sandbox::referral_fields(const std::string& id) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->referrals.find(id);
    if (it == impl_->referrals.end()) {
        return std::nullopt;
    }
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    for (const auto& [k, v] : it->second.fields) {
        d.AddMember(Value(k.c_str(), a), Value(v.c_str(), a), a);
    }
    return json::to_string(d);
}
std::size_t ping_sandbox::referrals_with(const std::string& name, const std::string& value) const {
    std::lock_guard lock(impl_->mutex);
    std::size_t n = 0;
    for (const auto& [id, r] : impl_->referrals) {
        const auto f = r.fields.find(name);
        n += f != r.fields.end() && f->second == value ? 1 : 0;
    }
    return n;
}
bool ping_sandbox::decide(const std::string& referral_id, bool accepted) {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->referrals.find(referral_id);
    return it != impl_->referrals.end() && impl_->decide_locked(it->second, accepted);
}
std::size_t ping_sandbox::items_received() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->items_received;
}
std::size_t ping_sandbox::items_applied() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->items_applied;
}
std::size_t ping_sandbox::transactions_queued() const {
    std::lock_guard lock(impl_->mutex);
    return static_cast<std::size_t>(std::count_if(
        impl_->transactions.begin(),
        impl_->transactions.end(),
        [](const auto& t) { return !t.second.done; }
    ));
}
void ping_sandbox::process_queue() {
    std::lock_guard lock(impl_->mutex);
    for (auto& [id, t] : impl_->transactions) {
        if (!t.done) {
            impl_->process(t);
        }
    }
}

bool ping_sandbox::delete_referral(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->referrals.find(id);
    if (it == impl_->referrals.end()) {
        return false;
    }
    impl_->unindex_referral(it->second);
    impl_->referrals.erase(it);
    std::erase(impl_->referral_order, id);
    impl_->undecided.erase(id);
    return true;
}
std::optional<std::string> ping_sandbox::duplicate_referral(const std::string& id) {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->referrals.find(id);
    if (it == impl_->referrals.end()) {
        return std::nullopt;
    }
    interop_referral copy = it->second;
    copy.id = synthetic_uuid(impl_->rng);
    std::string seq = std::to_string(++impl_->referral_seq);
    seq.insert(0, 9 - std::min<std::size_t>(9, seq.size()), '0');
    copy.number = "REF-IOP-CXB-" + seq;
    copy.created = impl_->now_text();
    copy.modified = copy.created;
    const std::string new_id = copy.id;
    impl_->referral_order.push_back(new_id);
    if (!copy.decision) {
        impl_->undecided.insert(new_id);
    }
    impl_->index_referral(copy);
    impl_->referrals[new_id] = std::move(copy);
    return new_id;
}

}  // namespace casebridge::sandbox
