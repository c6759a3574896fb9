#include "sync/reconcile.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "core/error.hpp"
#include "core/time.hpp"
#include "mapping/mapping.hpp"
#include "net/stop.hpp"
#include "policy/policy.hpp"
#include "store/crypto.hpp"
#include "store/reconcile_queries.hpp"
#include "store/store_thread.hpp"

namespace casebridge::sync {

using rapidjson::Value;

namespace {

constexpr std::array<std::string_view, verdict_count> verdict_names = {
    "match",
    "stale_at_target",
    "differs",
    "missing_at_target",
    "duplicated_at_target",
    "unexpected_at_target",
    "withheld_but_present",
    "pending",
    "unchecked",
};

constexpr char row_separator = '~';

/// A reason code: the error's name without its category ("remote_unavailable").
std::string reason_of(const boost::system::error_code& ec) {
    std::string name = error_name(ec);
    const auto colon = name.find(':');
    return colon == std::string::npos ? name : name.substr(colon + 1);
}

bool absent(const Value* v) {
    return v == nullptr || v->IsNull();
}

/// Scalars compare by value; two strings that are the same instant in RFC 3339 are equal
/// (targets render times in their own precision).
bool same_scalar(const Value& a, const Value& b) {
    if (a.IsNumber() && b.IsNumber()) {
        return a.GetDouble() == b.GetDouble();
    }
    if (a.IsString() && b.IsString()) {
        const std::string_view x(a.GetString(), a.GetStringLength());
        const std::string_view y(b.GetString(), b.GetStringLength());
        if (x == y) {
            return true;
        }
        const auto tx = parse_rfc3339(x);
        const auto ty = parse_rfc3339(y);
        return tx && ty && *tx == *ty;
    }
    return a == b;
}

/// `actual` projected onto what `expected` holds: objects compare only the members the
/// expected side has (a member the target adds, such as a row id it assigns, is not ours),
/// arrays element by element, null the same as absent.
bool projected_equal(const Value& expected, const Value& actual) {
    if (expected.IsObject()) {
        if (!actual.IsObject()) {
            return false;
        }
        for (const auto& m : expected.GetObject()) {
            const auto it = actual.FindMember(m.name);
            const Value* a = it == actual.MemberEnd() ? nullptr : &it->value;
            if (m.value.IsNull()) {
                if (!absent(a)) {
                    return false;
                }
                continue;
            }
            if (a == nullptr || !projected_equal(m.value, *a)) {
                return false;
            }
        }
        return true;
    }
    if (expected.IsArray()) {
        if (!actual.IsArray() || actual.Size() != expected.Size()) {
            return false;
        }
        for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
            if (!projected_equal(expected[i], actual[i])) {
                return false;
            }
        }
        return true;
    }
    return same_scalar(expected, actual);
}

/// The top-level fields of `expected` (what the flow would send) that the target's record
/// does not hold as sent, except those the target assigns itself.
std::vector<std::string> differing_fields(
    const Value& expected, const Value& actual, const std::vector<std::string>& assigned
) {
    std::vector<std::string> out;
    if (!expected.IsObject()) {
        return out;
    }
    if (!actual.IsObject()) {
        out.emplace_back("/");
        return out;
    }
    for (const auto& m : expected.GetObject()) {
        const std::string name(m.name.GetString(), m.name.GetStringLength());
        if (std::find(assigned.begin(), assigned.end(), name) != assigned.end()) {
            continue;
        }
        const auto it = actual.FindMember(m.name);
        const Value* a = it == actual.MemberEnd() ? nullptr : &it->value;
        const bool same =
            m.value.IsNull() ? absent(a) : a != nullptr && projected_equal(m.value, *a);
        if (!same) {
            out.push_back("/" + name);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// One record to check, with what the store and the source say of it.
struct candidate {
    std::string source_id;
    std::optional<store::delivery> delivery;
    std::optional<prepared_record> prep;
    std::optional<std::string> link;       ///< The linked target id.
    std::optional<std::string> last_sent;  ///< Time of the last `sent` entry.
    std::string last_sent_target;          ///< The target id that entry names.
    std::optional<std::string> written;    ///< An acknowledging target: its last written id.
    reconcile_row row;
    bool settled = false;  ///< Classified before the target is asked (unchecked).
    bool visited = false;  ///< The target was asked (a stop may come before).
};

struct context {
    const flow_runner* runner;
    const flow_binding* b;
    store::store_thread* st;
    const clock_source* clock;
    logger log;
    reconcile_options o;
    std::minstd_rand rng;

    double jitter() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

    bool stop() const { return o.stop.stop_requested(); }

    /// Calls `op` until it succeeds, fails permanently or the flow's attempts run out; a stop
    /// ends its wait or its request in flight (the caller then sees stop()).
    template <typename T, typename Op>
    awaitable<remote_result<T>> with_retries(Op op) {
        co_return co_await sync::with_retries<T>(
            b->retry,
            [&](int) { return stoppable(o.stop, op()); },
            [&](int attempt, const remote_error& e) -> awaitable<bool> {
                const auto d = backoff_delay(b->retry, attempt, e.retry_after, jitter());
                co_return co_await wait_unless_stopped(*clock, d, o.stop);
            }
        );
    }

    /// Reads each record of `by_record` fresh from the source and takes the rows listed for
    /// it; a row the source no longer yields is unchecked. False when a stop came first.
    awaitable<bool> read_fresh(
        const std::map<std::string, std::set<std::string>>& by_record,
        std::map<std::string, candidate>& into,
        const std::map<std::string, store::delivery>& deliveries
    ) {
        for (const auto& entry : by_record) {
            // Named, not a structured binding: clang 14 cannot capture bindings in a lambda.
            const std::string& record_id = entry.first;
            const std::set<std::string>& rows = entry.second;
            if (stop()) {
                co_return false;
            }
            auto fetched = co_await with_retries<external_record>([&]() {
                return b->source->fetch(b->source_stream, record_id);
            });
            if (fetched) {
                take(runner->prepare(*fetched), into, &rows, deliveries);
            }
            const bool gone = fetched || fetched.error().code == make_error_code(errc::not_found);
            for (const auto& id : rows) {
                if (into.count(id) != 0) {
                    continue;
                }
                candidate& c = into[id];
                c.source_id = id;
                c.row.source_id = id;
                c.delivery = deliveries.at(id);
                unchecked(c, gone ? "not_at_source" : reason_of(fetched.error().code));
            }
        }
        co_return true;
    }

    static void unchecked(candidate& c, std::string note) {
        c.row.v = verdict::unchecked;
        c.row.note = std::move(note);
        c.settled = true;
    }

    /// Takes the prepared rows of one source record that are part of the check.
    void take(
        std::vector<prepared_record> rows,
        std::map<std::string, candidate>& into,
        const std::set<std::string>* only,
        const std::map<std::string, store::delivery>& deliveries
    ) {
        for (auto& p : rows) {
            const auto d = deliveries.find(p.source_id);
            if (only != nullptr && only->count(p.source_id) == 0) {
                continue;
            }
            // A record held by the flow (a mapping failure) is not shared and has nothing to
            // compare, unless the store says it was shared before.
            if (p.decision == "dead" && d == deliveries.end()) {
                continue;
            }
            candidate& c = into[p.source_id];
            c.source_id = p.source_id;
            c.row.source_id = p.source_id;
            if (d != deliveries.end()) {
                c.delivery = d->second;
            }
            c.settled = false;
            c.row.v = verdict::match;
            c.row.note.clear();
            if (p.decision == "dead") {
                unchecked(c, "held_at_source:" + p.reason);
            }
            c.prep = std::move(p);
        }
    }

    /// The target's side of one record.
    awaitable<void> check(candidate& c) {
        if (c.settled) {
            co_return;
        }
        c.visited = true;
        adapter& target = *b->target;
        const std::string stream = b->target_stream;
        const bool updatable = target.can_update(stream);
        std::optional<std::string> looked;
        bool duplicated_by_key = false;
        const std::string key = c.prep->source_key;
        std::vector<std::string> present;
        std::optional<external_record> held;  // the first present record, read in full
        // A look-up error other than "several" or "cannot look up" leaves the record unchecked.
        const auto lookup_failed = [&](const remote_error& e) {
            if (e.code == make_error_code(errc::multiple_matches)) {
                duplicated_by_key = true;
                return false;
            }
            if (e.code == make_error_code(errc::not_found)) {
                return false;  // the adapter cannot look up by source key
            }
            unchecked(c, reason_of(e.code));
            return true;
        };
        if (updatable) {
            // The look-up reads the record too (Primero: one GET by the derived id); the
            // linked record is read separately only when it is another one.
            auto found = co_await with_retries<std::optional<external_record>>([&]() {
                return target.lookup_record(stream, key);
            });
            if (!found) {
                if (lookup_failed(found.error())) {
                    co_return;
                }
            } else if (*found) {
                looked = (*found)->remote_id;
                present.push_back(*looked);
                held = std::move(**found);
            }
            if (c.link && (!looked || *c.link != *looked)) {
                auto got = co_await with_retries<external_record>([&]() {
                    return target.fetch(stream, *c.link);
                });
                if (got) {
                    present.push_back(*c.link);
                    if (!held) {
                        held = std::move(*got);
                    }
                } else if (got.error().code != make_error_code(errc::not_found)) {
                    unchecked(c, reason_of(got.error().code));
                    co_return;
                }
            }
        } else {
            // Records of a stream that cannot be updated (a PING referral) are found by their
            // correlation key; their content stays as first sent, so it is not compared.
            auto found = co_await with_retries<std::optional<std::string>>([&]() {
                return target.lookup(stream, key);
            });
            if (!found) {
                if (lookup_failed(found.error())) {
                    co_return;
                }
                if (!duplicated_by_key) {
                    unchecked(c, "target_unreadable");
                    co_return;
                }
            } else if (*found) {
                looked = **found;
                present.push_back(*looked);
                if (c.link && *c.link != *looked) {
                    c.row.note = "link_differs";
                }
            }
        }
        c.row.target_ids = present;
        if (duplicated_by_key || present.size() >= 2) {
            c.row.v = verdict::duplicated_at_target;
            co_return;
        }
        const auto state = c.delivery ? std::optional(c.delivery->state) : std::nullopt;
        if (state == store::delivery_state::delivered) {
            if (present.empty()) {
                c.row.v = verdict::missing_at_target;
                co_return;
            }
            const bool same_version =
                c.delivery->source_version && c.delivery->source_version->str() == c.prep->version;
            if (!held) {
                c.row.v = verdict::match;
                if (c.row.note.empty()) {
                    c.row.note = "content_not_compared";
                }
                co_return;
            }
            if (c.prep->decision != "send") {
                c.row.v = same_version ? verdict::differs : verdict::pending;
                c.row.note = "decision_changed";
                co_return;
            }
            auto fields =
                differing_fields(c.prep->body, held->body, target.remote_assigned_fields(stream));
            if (fields.empty()) {
                c.row.v = verdict::match;
                co_return;
            }
            if (!same_version) {
                c.row.v = verdict::pending;
                c.row.note = "changed_at_source";
                co_return;
            }
            c.row.fields = std::move(fields);
            const auto at = parse_rfc3339(held->updated_at);
            const auto sent = c.last_sent ? parse_rfc3339(*c.last_sent) : std::nullopt;
            const bool older = at && sent && *at + o.stale_tolerance < *sent;
            c.row.v = older ? verdict::stale_at_target : verdict::differs;
            co_return;
        }
        if (state == store::delivery_state::withheld) {
            c.row.v = present.empty() ? verdict::match : verdict::withheld_but_present;
            co_return;
        }
        // The store has no settled delivery of it (only a full walk gets here).
        if (!present.empty()) {
            c.row.v = verdict::unexpected_at_target;
        } else if (c.prep->decision == "send") {
            c.row.v = verdict::pending;
            c.row.note = "not_sent_yet";
        } else {
            c.row.v = verdict::match;
        }
    }

    /// An acknowledging target (a DSS file exchange) keeps no copy to read back: what it holds
    /// is told by the id last written for each record (the sent register) and the receiver's
    /// acknowledgements of it, read for all records in one pass.
    awaitable<void> check_acknowledged(const std::vector<candidate*>& work) {
        adapter& target = *b->target;
        const std::string stream = b->target_stream;
        std::vector<std::string> ids;
        std::vector<candidate*> asked;
        for (candidate* c : work) {
            if (c->settled) {
                continue;
            }
            if (stop()) {
                break;
            }
            c->visited = true;
            auto found = co_await with_retries<std::optional<std::string>>([&]() {
                return target.lookup(stream, c->prep->source_key);
            });
            if (!found) {
                unchecked(*c, reason_of(found.error().code));
                continue;
            }
            c->written = std::move(*found);
            if (c->written) {
                ids.push_back(*c->written);
            }
            asked.push_back(c);
        }
        if (asked.empty()) {
            co_return;
        }
        auto acks = co_await with_retries<std::map<std::string, acknowledgement_summary>>([&]() {
            return target.acknowledgements_for(stream, ids);
        });
        for (candidate* c : asked) {
            if (!acks) {
                unchecked(*c, reason_of(acks.error().code));
            } else {
                classify_acknowledged(*c, *acks);
            }
        }
    }

    static void classify_acknowledged(
        candidate& c, const std::map<std::string, acknowledgement_summary>& acks
    ) {
        const acknowledgement_summary* ack = nullptr;
        if (c.written) {
            c.row.target_ids = {*c.written};
            if (const auto it = acks.find(*c.written); it != acks.end()) {
                ack = &it->second;
            }
        }
        const bool accepted =
            ack != nullptr && ack->latest.status == acknowledgement::verdict::accepted;
        const auto state = c.delivery ? std::optional(c.delivery->state) : std::nullopt;
        if (state == store::delivery_state::delivered) {
            if (!c.written) {
                c.row.v = verdict::missing_at_target;
                c.row.note = "not_in_sent_register";
            } else if (ack != nullptr && ack->accepted_references >= 2) {
                c.row.v = verdict::duplicated_at_target;
                c.row.note = "accepted_under_two_references";
            } else if (!c.last_sent_target.empty() && *c.written != c.last_sent_target) {
                // What was last written is not what the log says was last sent (a restored
                // store, another writer on the same folders).
                c.row.v = verdict::differs;
                c.row.note = "register_differs_from_log";
            } else if (ack == nullptr) {
                c.row.v = verdict::pending;
                c.row.note = "awaiting_acknowledgement";
            } else if (!accepted) {
                c.row.v = verdict::missing_at_target;
                c.row.note = ack->latest.status == acknowledgement::verdict::rejected
                                 ? "rejected_by_receiver"
                                 : "error_at_receiver";
                if (!ack->latest.reason_code.empty()) {
                    c.row.note += ":" + ack->latest.reason_code;
                }
            } else {
                const bool same_version = c.delivery->source_version &&
                                          c.delivery->source_version->str() == c.prep->version;
                if (c.prep->decision != "send") {
                    c.row.v = same_version ? verdict::differs : verdict::pending;
                    c.row.note = "decision_changed";
                } else if (!same_version) {
                    c.row.v = verdict::pending;
                    c.row.note = "changed_at_source";
                } else {
                    c.row.v = verdict::match;
                }
            }
            return;
        }
        if (state == store::delivery_state::withheld) {
            // The receiver was asked to remove it (a withdrawal notice); until a person has
            // checked that it did, an accepted record is still there.
            c.row.v = accepted ? verdict::withheld_but_present : verdict::match;
            return;
        }
        if (c.written) {
            c.row.v = verdict::unexpected_at_target;
        } else if (c.prep->decision == "send") {
            c.row.v = verdict::pending;
            c.row.note = "not_sent_yet";
        } else {
            c.row.v = verdict::match;
        }
    }

    awaitable<void> check_all(std::vector<candidate*> work) {
        if (work.empty()) {
            co_return;
        }
        auto ex = co_await net::this_coro::executor;
        std::size_t next = 0;
        std::size_t running = 0;
        net::steady_timer done(ex);
        done.expires_at(net::steady_timer::time_point::max());
        const std::size_t width = std::min<std::size_t>(
            work.size(), static_cast<std::size_t>(std::max(1, b->concurrency))
        );
        auto worker = [&]() -> awaitable<void> {
            while (next < work.size() && !stop()) {
                candidate* c = work[next++];
                co_await check(*c);
            }
        };
        for (std::size_t i = 0; i < width; ++i) {
            ++running;
            net::co_spawn(ex, worker(), [&](std::exception_ptr) {
                if (--running == 0) {
                    done.cancel();
                }
            });
        }
        co_await done.async_wait(use_nothrow);
    }
};

}  // namespace

std::string_view to_string(verdict v) {
    return verdict_names[static_cast<std::size_t>(v)];
}

bool is_divergence(verdict v) {
    switch (v) {
        case verdict::stale_at_target:
        case verdict::differs:
        case verdict::missing_at_target:
        case verdict::duplicated_at_target:
        case verdict::unexpected_at_target:
        case verdict::withheld_but_present:
            return true;
        case verdict::match:
        case verdict::pending:
        case verdict::unchecked:
            return false;
    }
    return false;
}

std::int64_t reconcile_report::divergences() const {
    std::int64_t n = 0;
    for (std::size_t i = 0; i < verdict_count; ++i) {
        if (is_divergence(static_cast<verdict>(i))) {
            n += counts[i];
        }
    }
    return n;
}

awaitable<reconcile_report> reconcile(
    const flow_runner& runner,
    store::store_thread& st,
    const clock_source& clock,
    logger log,
    reconcile_options options
) {
    const flow_binding& b = runner.binding();
    reconcile_report report;
    if (b.acknowledgements || b.target == nullptr || b.profile == nullptr) {
        report.error = "flow " + b.flow.str() +
                       " reads acknowledgements; it sends no records, so there is nothing to "
                       "reconcile";
        report.error_code = make_error_code(errc::invalid_config);
        co_return report;
    }
    if (!options.sample && b.source->pull_has_side_effects()) {
        report.error = "flow " + b.flow.str() +
                       ": its source cannot be read from the start without changing it; use "
                       "--sample N";
        report.error_code = make_error_code(errc::invalid_config);
        co_return report;
    }
    const std::uint64_t seed = options.seed != 0 ? options.seed : std::random_device{}();
    context ctx{
        &runner,
        &b,
        &st,
        &clock,
        std::move(log),
        std::move(options),
        std::minstd_rand(static_cast<std::minstd_rand::result_type>(seed))};
    report.mapping_in_version = b.map_in != nullptr ? b.map_in->version() : 0;
    report.mapping_out_version = b.map_out != nullptr ? b.map_out->version() : 0;

    // What the store says: every delivered and withheld record of the flow.
    const store::token flow = b.flow;
    auto read = [flow](store::store& s) -> result<std::vector<store::delivery>> {
        constexpr std::int64_t all = std::numeric_limits<std::int64_t>::max();
        auto sent = s.deliveries_in(flow, store::delivery_state::delivered, all);
        if (!sent) {
            return sent.error();
        }
        auto held = s.deliveries_in(flow, store::delivery_state::withheld, all);
        if (!held) {
            return held.error();
        }
        sent->insert(sent->end(), held->begin(), held->end());
        return std::move(*sent);
    };
    auto listed = co_await st.run(std::move(read));
    if (!listed) {
        report.error = "store: " + error_name(listed.error());
        report.error_code = listed.error();
        co_return report;
    }
    std::map<std::string, store::delivery> deliveries;
    for (auto& d : *listed) {
        deliveries.emplace(d.source.id.str(), std::move(d));
    }

    std::map<std::string, candidate> candidates;
    if (ctx.o.sample) {
        // A uniform sample of what the store says was settled, each record read fresh.
        std::vector<std::string> ids;
        ids.reserve(deliveries.size());
        for (const auto& [id, d] : deliveries) {
            ids.push_back(id);
        }
        report.population = static_cast<std::int64_t>(ids.size());
        std::vector<std::string> chosen;
        std::mt19937_64 pick(seed);
        std::sample(
            ids.begin(),
            ids.end(),
            std::back_inserter(chosen),
            static_cast<std::ptrdiff_t>(std::min(*ctx.o.sample, ids.size())),
            pick
        );
        report.sample_size = static_cast<std::int64_t>(chosen.size());
        std::map<std::string, std::set<std::string>> by_record;
        for (const auto& id : chosen) {
            by_record[id.substr(0, id.find(row_separator))].insert(id);
        }
        if (!co_await ctx.read_fresh(by_record, candidates, deliveries)) {
            report.stopped = true;
        }
    } else {
        // A full walk of the source, as a sync from the start would read it.
        std::optional<std::string> cursor;
        for (;;) {
            if (ctx.stop()) {
                report.stopped = true;
                break;
            }
            auto page = co_await ctx.with_retries<pull_page>([&]() {
                return b.source->pull(b.source_stream, cursor);
            });
            if (!page && ctx.stop()) {
                report.stopped = true;
                break;
            }
            if (!page) {
                report.error = page.error().describe();
                report.error_code = page.error().code;
                co_return report;
            }
            for (const auto& rec : page->records) {
                ctx.take(runner.prepare(rec), candidates, nullptr, deliveries);
            }
            if (!page->has_more) {
                break;
            }
            cursor = page->next_cursor;
        }
        // Settled records the walk did not return (changed while it ran, or gone): read each.
        std::map<std::string, std::set<std::string>> unseen;
        for (const auto& [id, d] : deliveries) {
            if (candidates.count(id) == 0) {
                unseen[id.substr(0, id.find(row_separator))].insert(id);
            }
        }
        if (report.stopped || !co_await ctx.read_fresh(unseen, candidates, deliveries)) {
            report.stopped = true;
        }
        report.population = static_cast<std::int64_t>(candidates.size());
    }

    // Links and the last `sent` time of each record, in one call on the store thread.
    std::vector<candidate*> work;
    for (auto& [id, c] : candidates) {
        work.push_back(&c);
    }
    const store::token source_system = b.source_system;
    const store::token target_system = b.target_system;
    auto* list = &work;
    auto look = [list, flow, source_system, target_system](store::store& s) -> result<void> {
        for (candidate* c : *list) {
            if (c->settled) {
                continue;
            }
            auto id = store::token::make(c->source_id);
            if (!id) {
                return id.error();
            }
            const store::record_id source{source_system, *id};
            auto link = s.linked(source, target_system);
            if (!link) {
                return link.error();
            }
            if (*link) {
                c->link = (*link)->id.str();
            }
            auto sent = store::last_sent(s, flow, source);
            if (!sent) {
                return sent.error();
            }
            if (*sent) {
                c->last_sent = std::move((*sent)->at);
                c->last_sent_target = std::move((*sent)->target_id);
            }
        }
        return {};
    };
    auto looked = co_await st.run(std::move(look));
    if (!looked) {
        report.error = "store: " + error_name(looked.error());
        report.error_code = looked.error();
        co_return report;
    }

    if (b.target->acknowledges(b.target_stream)) {
        co_await ctx.check_acknowledged(work);
    } else {
        co_await ctx.check_all(work);
    }
    if (ctx.stop()) {
        report.stopped = true;
    }
    const std::string cut_short = reason_of(make_error_code(errc::cancelled));
    for (auto& [id, c] : candidates) {
        if (!c.settled && !c.visited) {
            continue;  // not reached before a stop
        }
        if (report.stopped && c.row.v == verdict::unchecked && c.row.note == cut_short) {
            continue;  // its read was cancelled by the stop: no verdict on the record
        }
        ++report.counts[static_cast<std::size_t>(c.row.v)];
        ++report.checked;
        report.rows.push_back(std::move(c.row));
    }
    if (ctx.o.write_log) {
        store::log_entry_input e;
        e.kind = store::entry_kind::reconciliation;
        e.flow = b.flow;
        e.dir = store::direction::outbound;
        e.purpose = b.purpose;
        if (auto pid = store::token::make(b.profile->id)) {
            e.profile_id = *pid;
        }
        e.profile_version = b.profile->version;
        e.profile_hash = store::digest_of_hex(b.profile->hash);
        e.result = store::outcome::reconciled;
        e.actor = ctx.o.actor;
        for (std::size_t i = 0; i < verdict_count; ++i) {
            e.counts.push_back({*store::token::make(verdict_names[i]), report.counts[i]});
        }
        e.counts.push_back({"population", report.population});
        e.counts.push_back({"checked", report.checked});
        e.counts.push_back({"sample_size", report.sample_size.value_or(0)});
        e.counts.push_back({"mapping_in_version", report.mapping_in_version});
        e.counts.push_back({"mapping_out_version", report.mapping_out_version});
        if (report.stopped) {
            e.reason = store::token("stopped");
        }
        const auto now = clock.now();
        auto write = [e = std::move(e), now](store::store& s) {
            return store::append_entry(s, e, now);
        };
        auto seq = co_await st.run(std::move(write));
        if (!seq) {
            report.error = "store: " + error_name(seq.error());
            report.error_code = seq.error();
            co_return report;
        }
        report.log_seq = *seq;
    }
    // Counts only: which records diverged is in the CSV (`reconcile --out`), never in the log.
    ctx.log.info(
        "reconcile.finished",
        "reconciliation finished",
        {.flow = b.flow.str(),
         .counts =
             {{"population", report.population},
              {"checked", report.checked},
              {"sample_size", report.sample_size.value_or(0)},
              {"match", report.count(verdict::match)},
              {"stale_at_target", report.count(verdict::stale_at_target)},
              {"differs", report.count(verdict::differs)},
              {"missing_at_target", report.count(verdict::missing_at_target)},
              {"duplicated_at_target", report.count(verdict::duplicated_at_target)},
              {"unexpected_at_target", report.count(verdict::unexpected_at_target)},
              {"withheld_but_present", report.count(verdict::withheld_but_present)},
              {"pending", report.count(verdict::pending)},
              {"unchecked", report.count(verdict::unchecked)},
              {"divergences", report.divergences()},
              {"stopped", report.stopped ? 1 : 0},
              {"log_seq", report.log_seq}}}
    );
    co_return report;
}

awaitable<repair_report> repair(
    flow_runner& runner, store::store_thread& st, const reconcile_report& found
) {
    const flow_binding& b = runner.binding();
    repair_report out;
    std::vector<std::string> again;
    std::vector<store::record_id> lost;
    std::vector<std::pair<store::record_id, store::token>> review;
    for (const auto& row : found.rows) {
        auto id = store::token::make(row.source_id);
        if (!id) {
            continue;
        }
        const store::record_id source{b.source_system, *id};
        switch (row.v) {
            case verdict::stale_at_target:
                again.push_back(row.source_id);
                break;
            case verdict::missing_at_target:
                again.push_back(row.source_id);
                lost.push_back(source);
                break;
            case verdict::duplicated_at_target:
                review.emplace_back(source, store::token("reconcile_duplicated"));
                break;
            case verdict::withheld_but_present:
                review.emplace_back(source, store::token("reconcile_withheld_but_present"));
                break;
            case verdict::differs:
            case verdict::unexpected_at_target:
                ++out.left;
                break;
            case verdict::match:
            case verdict::pending:
            case verdict::unchecked:
                break;
        }
    }
    const store::token flow = b.flow;
    const store::token target_system = b.target_system;
    auto prepare = [flow, target_system, lost, review](store::store& s) -> result<std::int64_t> {
        for (const auto& source : lost) {
            if (auto u = store::unlink(s, source, target_system); !u) {
                return u.error();
            }
        }
        store::page_commit page;
        for (const auto& [source, kind] : review) {
            auto open = store::open_reviews(s, flow, source, kind);
            if (!open) {
                return open.error();
            }
            if (*open == 0) {
                page.reviews.push_back({0, flow, source, kind, std::nullopt, {}});
            }
        }
        const auto n = static_cast<std::int64_t>(page.reviews.size());
        if (n > 0) {
            auto done = s.commit_page(page);
            if (!done) {
                return done.error();
            }
        }
        return n;
    };
    auto prepared = co_await st.run(std::move(prepare));
    if (!prepared) {
        out.error = "store: " + error_name(prepared.error());
        co_return out;
    }
    out.reviews = *prepared;
    if (again.empty()) {
        co_return out;
    }
    auto report = co_await runner.redeliver(std::move(again));
    for (const auto& r : report.records) {
        if (r.outcome == "sent") {
            ++out.redelivered;
        } else if (r.outcome == "withheld" || r.outcome == "consent_withdrawn") {
            ++out.withheld_now;
        } else if (r.outcome == "dead" || r.outcome == "unresolved") {
            ++out.failed;
        }
    }
    out.error = report.error;
    co_return out;
}

}  // namespace casebridge::sync
