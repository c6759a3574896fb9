#include "store/transfer_log.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/time.hpp"
#include "json/json.hpp"
#include "store/query.hpp"
#include "store/try.hpp"

namespace casebridge::store {

namespace {

constexpr std::string_view zero_hash_hex =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// One column of a transfer_log row, as stored.
struct column_value {
    // canonical_json: a JSON text this process wrote in canonical form (json::canonical of
    // a document with no repeated name), taken as it is; json: one read back, parsed and
    // put in canonical form again.
    enum class type { null, integer, text, json, canonical_json } t = type::null;
    std::int64_t i = 0;
    std::string s;

    static column_value text(std::string v) { return {type::text, 0, std::move(v)}; }
    static column_value json_text(std::string v) { return {type::json, 0, std::move(v)}; }
    static column_value canonical_json_text(std::string v) {
        return {type::canonical_json, 0, std::move(v)};
    }
    static column_value integer(std::int64_t v) { return {type::integer, v, {}}; }
    template <typename T>
    static column_value opt_text(const std::optional<T>& v) {
        return v ? text(v->str()) : column_value{};
    }
    static column_value opt_int(const std::optional<std::int64_t>& v) {
        return v ? integer(*v) : column_value{};
    }
};

/// The hashed columns, in table order (every column but prev_hash and entry_hash).
constexpr std::array<std::string_view, 29> hashed_columns = {
    "seq",
    "ts",
    "kind",
    "flow",
    "direction",
    "purpose",
    "profile_id",
    "profile_version",
    "profile_hash",
    "legitimate_basis",
    "consent",
    "source_system",
    "source_id",
    "target_system",
    "target_id",
    "correlation_key",
    "fields_sent",
    "fields_withheld",
    "payload_sha256",
    "outcome",
    "remote_txn_id",
    "http_status",
    "attempt",
    "actor",
    "override_reason",
    "counts",
    "reason",
    "mapping_in",
    "mapping_out",
};
/// Columns added after the first schema: left out of the canonical encoding when NULL, so an
/// entry written before they existed keeps its hash.
constexpr std::array<std::string_view, 3> later_columns = {"reason", "mapping_in", "mapping_out"};

bool is_later_column(std::string_view name) {
    for (const auto c : later_columns) {
        if (c == name) {
            return true;
        }
    }
    return false;
}
constexpr std::array<std::string_view, 4> json_columns = {
    "consent", "fields_sent", "fields_withheld", "counts"};

bool is_json_column(std::string_view name) {
    for (const auto c : json_columns) {
        if (c == name) {
            return true;
        }
    }
    return false;
}

// The JSON columns this process makes, written straight in json::canonical's form (members by
// bytes, no space), without a document of each: the same bytes as json::canonical of the
// document they describe (transfer_log_encoding tests). Names go in as C strings, up to a
// first NUL, as such a document held them.
using column_writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string text_of(const rapidjson::StringBuffer& buf) {
    return {buf.GetString(), buf.GetSize()};
}

std::string json_of_tokens(const std::vector<token>& v) {
    rapidjson::StringBuffer buf;
    column_writer w(buf);
    w.StartArray();
    for (const auto& t : v) {
        w.String(t.str().c_str());
    }
    w.EndArray();
    return text_of(buf);
}

std::string json_of_consent(const std::vector<consent_value>& v) {
    rapidjson::StringBuffer buf;
    column_writer w(buf);
    w.StartArray();
    for (const auto& c : v) {
        w.StartObject();  // "codes" < "field"
        w.Key("codes");
        w.StartArray();
        for (const auto& code : c.codes) {
            w.String(code.str().c_str());
        }
        w.EndArray();
        w.Key("field");
        w.String(c.field.str().c_str());
        w.EndObject();
    }
    w.EndArray();
    return text_of(buf);
}

using row_map = std::map<std::string, column_value, std::less<>>;

/// A JSON column this process wrote, taken as it is when verify can read it back: a text over
/// the parser's limit goes through the parse, which refuses it now rather than at verify.
column_value as_written(std::string text) {
    return text.size() <= json::parse_limits{}.max_bytes
               ? column_value::canonical_json_text(std::move(text))
               : column_value::json_text(std::move(text));
}

/// The counts column, members by name. Counts of one name twice make an object with a
/// repeated name, which the parse in canonical_of refuses (as verify would): only distinct
/// names are taken as written.
column_value counts_column(const std::vector<entry_count>& v) {
    std::vector<const entry_count*> by_name;
    by_name.reserve(v.size());
    for (const auto& c : v) {
        by_name.push_back(&c);
    }
    const auto name_of = [](const entry_count* c) {
        return std::string_view(c->name.str().c_str());
    };
    std::stable_sort(by_name.begin(), by_name.end(), [&](const auto* a, const auto* b) {
        return name_of(a) < name_of(b);
    });
    rapidjson::StringBuffer buf;
    column_writer w(buf);
    w.StartObject();
    bool distinct = true;
    for (std::size_t i = 0; i < by_name.size(); ++i) {
        const auto name = name_of(by_name[i]);
        distinct = distinct && (i == 0 || name != name_of(by_name[i - 1]));
        w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
        w.Int64(by_name[i]->value);
    }
    w.EndObject();
    return distinct ? as_written(text_of(buf)) : column_value::json_text(text_of(buf));
}

row_map row_of(const log_entry_input& e, std::int64_t seq, const std::string& ts) {
    row_map r;
    r["seq"] = column_value::integer(seq);
    r["ts"] = column_value::text(ts);
    r["kind"] = column_value::text(std::string(to_string(e.kind)));
    r["flow"] = column_value::opt_text(e.flow);
    r["direction"] = e.dir ? column_value::text(std::string(to_string(*e.dir))) : column_value{};
    r["purpose"] = column_value::opt_text(e.purpose);
    r["profile_id"] = column_value::opt_text(e.profile_id);
    r["profile_version"] = column_value::opt_int(e.profile_version);
    r["profile_hash"] =
        e.profile_hash ? column_value::text(to_hex(*e.profile_hash)) : column_value{};
    r["legitimate_basis"] = column_value::opt_text(e.legitimate_basis);
    r["consent"] = as_written(json_of_consent(e.consent));
    r["source_system"] = e.source ? column_value::text(e.source->system.str()) : column_value{};
    r["source_id"] = e.source ? column_value::text(e.source->id.str()) : column_value{};
    r["target_system"] = e.target ? column_value::text(e.target->system.str()) : column_value{};
    r["target_id"] = e.target ? column_value::text(e.target->id.str()) : column_value{};
    r["correlation_key"] = column_value::opt_text(e.correlation_key);
    r["fields_sent"] = as_written(json_of_tokens(e.fields_sent));
    r["fields_withheld"] = as_written(json_of_tokens(e.fields_withheld));
    r["payload_sha256"] =
        e.payload_sha256 ? column_value::text(to_hex(*e.payload_sha256)) : column_value{};
    r["outcome"] = column_value::text(std::string(to_string(e.result)));
    r["remote_txn_id"] = column_value::opt_text(e.remote_txn_id);
    r["http_status"] = column_value::opt_int(e.http_status);
    r["attempt"] = column_value::opt_int(e.attempt);
    r["actor"] = column_value::text(e.actor.str());
    r["override_reason"] = column_value::opt_text(e.override_reason);
    r["counts"] = counts_column(e.counts);
    r["reason"] = column_value::opt_text(e.reason);
    r["mapping_in"] = column_value::opt_text(e.mapping_in);
    r["mapping_out"] = column_value::opt_text(e.mapping_out);
    return r;
}

/// The canonical encoding of a row; fails when a JSON column does not parse. Written straight
/// to the text, in the order json::canonical gives an object's members (the map's: by bytes),
/// with each JSON column in its own canonical form (as written when this process made it,
/// else parsed and put in that form); the same bytes as json::canonical of a
/// document holding the row (tested against that document, built from the stored columns as
/// docs/transfer-log.md describes the encoding), without building one. A text column is
/// written up to its first NUL, as a document built from its C string held it.
result<std::string> canonical_of(const row_map& r) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    for (const auto& [name, v] : r) {
        if (v.t == column_value::type::null && is_later_column(name)) {
            continue;
        }
        w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
        switch (v.t) {
            case column_value::type::null:
                w.Null();
                break;
            case column_value::type::integer:
                w.Int64(v.i);
                break;
            case column_value::type::text:
                w.String(v.s.c_str());
                break;
            case column_value::type::canonical_json:
                w.RawValue(
                    v.s.data(),
                    v.s.size(),
                    v.s.starts_with('{') ? rapidjson::kObjectType : rapidjson::kArrayType
                );
                break;
            case column_value::type::json: {
                auto parsed = json::parse(v.s);
                if (!parsed) {
                    CASEBRIDGE_RETURN_ERROR(errc::log_tampered);
                }
                const std::string text = json::canonical(*parsed);
                w.RawValue(text.data(), text.size(), parsed->GetType());
                break;
            }
        }
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

std::string chain_hash(std::string_view prev_hex, std::string_view canonical) {
    auto prev = from_hex(prev_hex);
    const std::string prev_raw = prev && prev->size() == 32 ? *prev : std::string(32, '\xff');
    return to_hex(sha256(prev_raw, canonical));
}

std::string select_columns() {
    std::string s = "SELECT ";
    for (const auto c : hashed_columns) {
        s += c;
        s += ", ";
    }
    s += "prev_hash, entry_hash FROM transfer_log";
    return s;
}

/// Reads the current row of `s` (selected with select_columns()) into a row map.
row_map read_row(const stmt& s) {
    row_map r;
    for (std::size_t i = 0; i < hashed_columns.size(); ++i) {
        const int col = static_cast<int>(i);
        const std::string_view name = hashed_columns[i];
        column_value v;
        if (s.column_is_null(col)) {
            v = {};
        } else if (name == "seq" || name == "profile_version" || name == "http_status" ||
                   name == "attempt") {
            v = column_value::integer(s.column_int(col));
        } else if (is_json_column(name)) {
            v = column_value::json_text(s.column_text(col));
        } else {
            v = column_value::text(s.column_text(col));
        }
        r[std::string(name)] = std::move(v);
    }
    return r;
}

std::string format_ts(time_point t) {
    return format_rfc3339(t, 6);
}

result<std::string> head_hash(db& database) {
    auto s = database.prepare("SELECT entry_hash FROM transfer_log ORDER BY seq DESC LIMIT 1");
    if (!s) {
        return s.error();
    }
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    return *row ? s->column_text(0) : std::string(zero_hash_hex);
}

result<std::vector<log_row>> collect(stmt& s) {
    std::vector<log_row> out;
    const auto read = [&out](const stmt& row) -> result<void> {
        const auto r = read_row(row);
        log_row lr;
        lr.seq = row.column_int(0);
        lr.ts = row.column_text(1);
        auto c = canonical_of(r);
        lr.canonical = c ? *c : std::string("{}");
        lr.entry_hash = row.column_text(static_cast<int>(hashed_columns.size()) + 1);
        out.push_back(std::move(lr));
        return {};
    };
    STORE_TRY(for_each_row(s, read));
    return out;
}

}  // namespace

std::span<const std::string_view> log_columns() {
    return hashed_columns;
}

std::string_view to_string(entry_kind k) {
    switch (k) {
        case entry_kind::transfer:
            return "transfer";
        case entry_kind::retention_purge:
            return "retention_purge";
        case entry_kind::reconciliation:
            return "reconciliation";
        case entry_kind::receipt:
            return "receipt";
        case entry_kind::withdrawal:
            return "withdrawal";
        case entry_kind::linkage:
            return "linkage";
        case entry_kind::review_decision:
            return "review_decision";
        case entry_kind::notice:
            return "notice";
    }
    return "unknown";
}

std::string_view to_string(direction d) {
    return d == direction::outbound ? "outbound" : "inbound";
}

std::string_view to_string(outcome o) {
    switch (o) {
        case outcome::sent:
            return "sent";
        case outcome::withheld:
            return "withheld";
        case outcome::failed:
            return "failed";
        case outcome::acknowledged:
            return "acknowledged";
        case outcome::rejected:
            return "rejected";
        case outcome::delivery_failed:
            return "delivery_failed";
        case outcome::consent_withdrawn:
            return "consent_withdrawn";
        case outcome::purged:
            return "purged";
        case outcome::reconciled:
            return "reconciled";
        case outcome::received:
            return "received";
        case outcome::withdrawn:
            return "withdrawn";
        case outcome::linked:
            return "linked";
        case outcome::merged:
            return "merged";
        case outcome::split:
            return "split";
        case outcome::same_child:
            return "same_child";
        case outcome::not_same_child:
            return "not_same_child";
        case outcome::flagged:
            return "flagged";
        case outcome::unflagged:
            return "unflagged";
        case outcome::notice_issued:
            return "notice_issued";
        case outcome::notice_retracted:
            return "notice_retracted";
        case outcome::review_resolved:
            return "review_resolved";
        case outcome::review_dismissed:
            return "review_dismissed";
    }
    return "unknown";
}

std::string checkpoint::body() const {
    return "casebridge-transfer-log-checkpoint/v1\n" + std::to_string(size) + '\n' + head_hash +
           '\n' + ts + '\n';
}

std::string checkpoint::to_json() const {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("format", "casebridge-transfer-log-checkpoint/v1", a);
    d.AddMember("size", rapidjson::Value(static_cast<int64_t>(size)), a);
    d.AddMember("head_hash", rapidjson::Value(head_hash.c_str(), a), a);
    d.AddMember("ts", rapidjson::Value(ts.c_str(), a), a);
    d.AddMember("public_key", rapidjson::Value(public_key.c_str(), a), a);
    d.AddMember("key_id", rapidjson::Value(key_id(*from_hex(public_key)).c_str(), a), a);
    d.AddMember("signature", rapidjson::Value(signature.c_str(), a), a);
    return json::to_string(d, true) + '\n';
}

result<checkpoint> checkpoint::from_json(std::string_view text) {
    auto d = json::parse(text);
    if (!d) {
        CASEBRIDGE_RETURN_ERROR(errc::invalid_json);
    }
    const auto str = [&](const char* k) -> const rapidjson::Value* {
        const auto it = d->FindMember(k);
        return it != d->MemberEnd() && it->value.IsString() ? &it->value : nullptr;
    };
    const auto size_it = d->IsObject() ? d->FindMember("size") : d->MemberEnd();
    if (!d->IsObject() || size_it == d->MemberEnd() || !size_it->value.IsInt64() ||
        str("head_hash") == nullptr || str("ts") == nullptr || str("public_key") == nullptr ||
        str("signature") == nullptr) {
        CASEBRIDGE_RETURN_ERROR(errc::schema_violation);
    }
    checkpoint c;
    c.size = size_it->value.GetInt64();
    c.head_hash = str("head_hash")->GetString();
    c.ts = str("ts")->GetString();
    c.public_key = str("public_key")->GetString();
    c.signature = str("signature")->GetString();
    return c;
}

result<std::int64_t> last_seq(db& database) {
    auto s = database.prepare("SELECT coalesce(max(seq), 0) FROM transfer_log");
    if (!s) {
        return s.error();
    }
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    return s->column_int(0);
}

result<std::int64_t> append_entries(
    db& database, const std::vector<log_entry_input>& entries, time_point now
) {
    auto prev = head_hash(database);
    if (!prev) {
        return prev.error();
    }
    auto seq = last_seq(database);
    if (!seq) {
        return seq.error();
    }
    std::string sql = "INSERT INTO transfer_log (";
    std::string params;
    for (const auto c : hashed_columns) {
        sql += c;
        sql += ", ";
        params += "?, ";
    }
    sql += "prev_hash, entry_hash) VALUES (" + params + "?, ?)";
    auto ins = database.prepare(sql);
    if (!ins) {
        return ins.error();
    }
    const std::string ts = format_ts(now);
    std::string prev_hash = *prev;
    std::int64_t n = *seq;
    for (const auto& e : entries) {
        ++n;
        const auto row = row_of(e, n, ts);
        auto canonical = canonical_of(row);
        if (!canonical) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        const std::string hash = chain_hash(prev_hash, *canonical);
        int i = 1;
        for (const auto c : hashed_columns) {
            const auto& v = row.find(c)->second;
            switch (v.t) {
                case column_value::type::null:
                    ins->bind_null(i);
                    break;
                case column_value::type::integer:
                    ins->bind(i, v.i);
                    break;
                case column_value::type::text:
                case column_value::type::json:
                case column_value::type::canonical_json:
                    ins->bind(i, std::string_view(v.s));
                    break;
            }
            ++i;
        }
        ins->bind(i, std::string_view(prev_hash));
        ins->bind(i + 1, std::string_view(hash));
        STORE_TRY(ins->run());
        prev_hash = hash;
    }
    return n;
}

result<std::optional<checkpoint>> latest_checkpoint(db& database) {
    auto s = database.prepare(
        "SELECT size, head_hash, ts, public_key, signature FROM checkpoints "
        "ORDER BY size DESC LIMIT 1"
    );
    if (!s) {
        return s.error();
    }
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<checkpoint>();
    }
    return std::optional<checkpoint>(checkpoint{
        s->column_int(0),
        s->column_text(1),
        s->column_text(2),
        s->column_text(3),
        s->column_text(4)});
}

result<checkpoint> add_checkpoint(db& database, const signer& key, time_point now) {
    auto size = last_seq(database);
    if (!size) {
        return size.error();
    }
    auto latest = latest_checkpoint(database);
    if (!latest) {
        return latest.error();
    }
    if (*latest && (*latest)->size == *size) {
        return **latest;
    }
    auto head = head_hash(database);
    if (!head) {
        return head.error();
    }
    checkpoint c;
    c.size = *size;
    c.head_hash = *head;
    c.ts = format_ts(now);
    c.public_key = to_hex(key.public_key_raw());
    c.signature = base64_encode(key.sign(c.body()));
    auto ins = database.prepare(
        "INSERT INTO checkpoints (size, head_hash, ts, public_key, signature) "
        "VALUES (?, ?, ?, ?, ?)"
    );
    if (!ins) {
        return ins.error();
    }
    ins->bind(1, c.size)
        .bind(2, std::string_view(c.head_hash))
        .bind(3, std::string_view(c.ts))
        .bind(4, std::string_view(c.public_key))
        .bind(5, std::string_view(c.signature));
    STORE_TRY(ins->run());
    return c;
}

namespace {

/// Checks a checkpoint's signature; returns the problem, or empty when it verifies.
std::string check_signature(const checkpoint& c, const verify_options& o) {
    auto key = from_hex(c.public_key);
    if (!key || key->size() != 32) {
        return "checkpoint public key is not a 32-byte hex key";
    }
    if (o.public_key && *o.public_key != *key) {
        return "checkpoint is signed by key " + key_id(*key) + ", not by the pinned key " +
               key_id(*o.public_key);
    }
    auto sig = base64_decode(c.signature);
    if (!sig || !verify_signature(*key, c.body(), *sig)) {
        return "checkpoint signature does not verify";
    }
    return {};
}

}  // namespace

result<verify_report> verify(db& database, const verify_options& options) {
    verify_report rep;
    rep.key_pinned = options.public_key.has_value();
    const auto fail = [&rep](std::int64_t seq, std::string what) {
        rep.ok = false;
        rep.bad_seq = seq;
        rep.problem = std::move(what);
        return rep;
    };

    std::map<std::int64_t, checkpoint> cps;
    {
        auto s = database.prepare(
            "SELECT size, head_hash, ts, public_key, signature FROM checkpoints ORDER BY size"
        );
        if (!s) {
            return s.error();
        }
        const auto read = [&cps](const stmt& r) -> result<void> {
            checkpoint c{
                r.column_int(0),
                r.column_text(1),
                r.column_text(2),
                r.column_text(3),
                r.column_text(4)};
            cps.emplace(c.size, std::move(c));
            return {};
        };
        STORE_TRY(for_each_row(*s, read));
    }
    std::optional<std::string> external_head;  // our chain's hash at the external size

    auto s = database.prepare(select_columns() + " ORDER BY seq");
    if (!s) {
        return s.error();
    }
    std::string running(zero_hash_hex);
    std::int64_t expected = 1;
    const int prev_col = static_cast<int>(hashed_columns.size());
    for (;;) {
        auto row = s->step();
        if (!row) {
            return row.error();
        }
        if (!*row) {
            break;
        }
        const std::int64_t seq = s->column_int(0);
        if (seq != expected) {
            return fail(
                expected,
                seq > expected ? "entry " + std::to_string(expected) + " is missing (next is " +
                                     std::to_string(seq) + ")"
                               : "sequence numbers out of order"
            );
        }
        if (s->column_text(prev_col) != running) {
            return fail(seq, "prev_hash does not match the hash of the entry before it");
        }
        auto canonical = canonical_of(read_row(*s));
        if (!canonical) {
            return fail(seq, "a list column is not valid JSON");
        }
        const std::string computed = chain_hash(running, *canonical);
        if (computed != s->column_text(prev_col + 1)) {
            return fail(seq, "entry content does not match its entry_hash");
        }
        running = computed;
        if (const auto it = cps.find(seq); it != cps.end()) {
            if (it->second.head_hash != running) {
                return fail(
                    seq, "chain differs from the signed checkpoint of size " + std::to_string(seq)
                );
            }
        }
        if (options.external_checkpoint && options.external_checkpoint->size == seq) {
            external_head = running;
        }
        rep.entries = seq;
        ++expected;
    }
    const std::int64_t last = expected - 1;

    for (const auto& [size, c] : cps) {
        if (size > last) {
            return fail(
                last + 1,
                "log truncated: checkpoint covers " + std::to_string(size) +
                    " entries, the log has " + std::to_string(last)
            );
        }
        if (auto problem = check_signature(c, options); !problem.empty()) {
            return fail(size, problem + " (checkpoint of size " + std::to_string(size) + ")");
        }
        ++rep.checkpoints;
    }
    if (options.external_checkpoint) {
        const auto& x = *options.external_checkpoint;
        if (auto problem = check_signature(x, options); !problem.empty()) {
            return fail(0, "external " + problem);
        }
        if (x.size > last) {
            return fail(
                last + 1,
                "log truncated: external checkpoint covers " + std::to_string(x.size) +
                    " entries, the log has " + std::to_string(last)
            );
        }
        if (x.size > 0 && external_head != x.head_hash) {
            return fail(
                x.size,
                "chain differs from the external checkpoint of size " + std::to_string(x.size) +
                    " (rewritten)"
            );
        }
        ++rep.checkpoints;
    }
    auto cur = database.prepare("SELECT flow, log_seq FROM cursors WHERE log_seq > ? LIMIT 1");
    if (!cur) {
        return cur.error();
    }
    cur->bind(1, last);
    auto crow = cur->step();
    if (!crow) {
        return crow.error();
    }
    if (*crow) {
        return fail(
            last + 1,
            "cursor of flow " + cur->column_text(0) + " points to entry " +
                std::to_string(cur->column_int(1)) + " past the last entry"
        );
    }
    return rep;
}

result<std::vector<log_row>> read_entries(db& database, const log_query& query) {
    auto s = database.prepare(
        select_columns() +
        " WHERE (?1 IS NULL OR ts >= ?1) AND (?2 IS NULL OR ts < ?2)"
        " AND (?3 IS NULL OR flow = ?3)"
        " AND (?5 IS NULL OR source_id = ?5 OR target_id = ?5)"
        " AND (?6 IS NULL OR target_system = ?6) AND (?7 IS NULL OR outcome = ?7)"
        " AND (?8 IS NULL OR reason = ?8)" +
        (query.newest_first ? " ORDER BY seq DESC LIMIT ?4" : " ORDER BY seq LIMIT ?4")
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, query.since).bind(2, query.until).bind(3, query.flow);
    s->bind(4, query.limit ? std::max<std::int64_t>(*query.limit, 0) : std::int64_t{-1});
    s->bind(5, query.record).bind(6, query.recipient).bind(7, query.outcome);
    s->bind(8, query.reason);
    return collect(*s);
}

result<std::vector<log_row>> read_entries(
    db& database, std::optional<std::string> since, std::optional<std::string> until
) {
    log_query q;
    q.since = std::move(since);
    q.until = std::move(until);
    return read_entries(database, q);
}

result<std::vector<daily_count>> daily_outcomes(db& database, const std::string& since) {
    return query_all(
        database,
        "SELECT substr(ts, 1, 10) AS day, outcome, count(*) FROM transfer_log"
        " WHERE kind = 'transfer' AND ts >= ?1 GROUP BY day, outcome ORDER BY day, outcome",
        [](const stmt& r) {
            return daily_count{r.column_text(0), r.column_text(1), r.column_int(2)};
        },
        std::string_view(since)
    );
}

result<std::vector<log_row>> read_entries_for(db& database, const record_id& record) {
    auto s = database.prepare(
        select_columns() +
        " WHERE (source_system = ?1 AND source_id = ?2) OR (target_system = ?1 AND target_id = ?2)"
        " ORDER BY seq"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(record.system.str())).bind(2, std::string_view(record.id.str()));
    return collect(*s);
}

std::optional<rapidjson::Document> log_row::to_json() const {
    auto doc = json::parse(canonical);
    if (!doc) {
        return std::nullopt;
    }
    // Every column is an id, code, field name, hash or number (docs/transfer-log.md).
    doc->AddMember(
        "entry_hash", rapidjson::Value(entry_hash.c_str(), doc->GetAllocator()), doc->GetAllocator()
    );
    return std::move(*doc);
}

}  // namespace casebridge::store
