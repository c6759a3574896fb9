#include "sync/page.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "policy/decision.hpp"
#include "store/crypto.hpp"

namespace casebridge::sync::page {

namespace {

/// Delivered, withheld or dead: nothing to do again for the same version.
bool settled_state(store::delivery_state s) {
    return s == store::delivery_state::delivered || s == store::delivery_state::withheld ||
           s == store::delivery_state::dead;
}

/// A delivery that failed: permanent (or retries exhausted) → dead letter.
void fail(item& it) {
    it.act = action::dead;
    it.reason = it.error ? reason_of(it.error->code) : "remote_unavailable";
    if (it.error && it.error->transient()) {
        it.reason = "retries_exhausted";
    }
}

/// Records the closure or reopening the canonical record shows, with the page: its links
/// and deliveries then count towards retention from the closure date (now when the record
/// has none that parses), or no longer do.
void record_closure(const settle_context& ctx, const item& it, store::page_commit& page) {
    if (!it.closure) {
        return;
    }
    std::optional<time_point> closed_at;
    if (it.closure->closed) {
        const auto& text = it.closure->closed_on;
        closed_at = text.size() == 10 ? parse_date(text) : parse_rfc3339(text);
        if (!closed_at) {
            closed_at = ctx.now;
        }
    }
    page.closures.emplace_back(it.source, closed_at);
    if (!(it.case_source == it.source)) {
        page.closures.emplace_back(it.case_source, closed_at);
    }
}

}  // namespace

store::token token_or_hash(std::string_view text) {
    auto t = store::token::make(text);
    if (t) {
        return *t;
    }
    // An id that is not token text (spaces, quotes): refer to it by its hash.
    return *store::token::make("sha256:" + store::to_hex(store::sha256(text)));
}

std::vector<store::token> tokens_of(const std::vector<std::string>& v) {
    std::vector<store::token> out;
    out.reserve(v.size());
    for (const auto& s : v) {
        out.push_back(token_or_hash(s));
    }
    return out;
}

std::string without_row_numbers(std::string_view path) {
    std::string out;
    std::size_t i = 0;
    while (i < path.size()) {
        const auto next = path.find('/', i + 1);
        const auto part = path.substr(i, next == std::string_view::npos ? next : next - i);
        const bool numeric =
            part.size() > 1 &&
            std::all_of(part.begin() + 1, part.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!numeric) {
            out += part;
        }
        if (next == std::string_view::npos) {
            break;
        }
        i = next;
    }
    return out;
}

std::string reason_of(const boost::system::error_code& ec) {
    std::string name = error_name(ec);
    const auto colon = name.find(':');
    return colon == std::string::npos ? name : name.substr(colon + 1);
}

std::string source_key(const store::token& flow, const store::record_id& source) {
    return flow.str() + "/" + source.system.str() + "/" + source.id.str();
}

void apply_prior(item& it, const prior_rules& rules) {
    const auto& p = it.prior;
    const bool same_version =
        !rules.force && p && p->source_version && p->source_version->str() == it.version;
    if (same_version && rules.handover) {
        // A hand-over counts a record as done only when the receiver holds its current
        // version (and accepted it, where it answers); a record withheld, held or failed
        // before is decided again from what the source holds now.
        if (p->state == store::delivery_state::delivered) {
            it.act = action::skip;
            if (it.ack == store::ack_state::rejected) {
                // The same version would carry the same exchange id: a person must act.
                it.skip_as = "rejected_by_receiver";
            } else if (it.ack && it.ack != store::ack_state::acknowledged) {
                it.skip_as = "awaiting_acknowledgement";
            }
            return;
        }
    } else if (same_version && settled_state(p->state)) {
        it.act = action::skip;
        return;
    }
    // In flight counts as possibly delivered: an attempt whose outcome was never recorded.
    if (it.act == action::withhold && p &&
        (p->state == store::delivery_state::delivered ||
         p->state == store::delivery_state::in_flight)) {
        it.act = action::withdraw;
        it.review = true;
        if (it.reason == "no_basis") {
            it.reason = "consent_withdrawn";
        }
    }
    if (it.act == action::send && it.linked && !rules.target_can_update) {
        it.act = action::keep;
        return;
    }
    if (it.act == action::send && !rules.create && !it.target) {
        it.act = action::dead;
        it.reason = "not_found";
    }
}

store::token version_token(const item& it) {
    return token_or_hash(it.version);
}

std::int64_t prior_attempts(const item& it) {
    const auto& p = it.prior;
    if (!p) {
        return 0;
    }
    const bool same = p->source_version ? p->source_version->str() == version_token(it).str()
                                        : p->state == store::delivery_state::in_flight;
    return same ? p->attempts : 0;
}

std::int64_t total_attempts(const item& it) {
    return prior_attempts(it) + it.attempts;
}

store::page_commit intent_for(const store::token& flow, const std::vector<item*>& to_send) {
    store::page_commit intent;
    for (const item* it : to_send) {
        store::delivery d{flow, it->source, store::delivery_state::in_flight};
        d.attempts = prior_attempts(*it) + 1;
        d.source_version = version_token(*it);  // the version this attempt is for
        intent.deliveries.push_back(std::move(d));
    }
    return intent;
}

void after_delivery(item& it, bool idempotent_create) {
    if (it.error && !it.target && !idempotent_create && it.error->transient()) {
        it.act = action::unresolved;  // it may exist: look it up next run
    } else if (it.error || !it.target) {
        fail(it);
    }
}

store::log_entry_input entry_for(const settle_context& ctx, const item& it, store::outcome o) {
    store::log_entry_input e;
    e.flow = ctx.flow;
    e.dir = store::direction::outbound;
    e.purpose = ctx.purpose;
    e.source = it.source;
    e.result = o;
    if (it.dec) {
        const auto& d = *it.dec;
        e.profile_id = token_or_hash(d.profile_id);
        e.profile_version = d.profile_version;
        e.profile_hash = store::digest_of_hex(d.profile_hash);
        if (!d.basis.empty()) {
            e.legitimate_basis = token_or_hash(d.basis);
        }
        for (const auto& cv : d.consent_values) {
            store::consent_value c{token_or_hash(cv.field), tokens_of(cv.values)};
            e.consent.push_back(std::move(c));
        }
        std::vector<std::string> withheld;
        for (const auto& w : d.fields_withheld) {
            withheld.push_back(w.field);
        }
        e.fields_withheld = tokens_of(withheld);
        if (o == store::outcome::sent) {
            e.fields_sent = tokens_of(d.fields_sent);
        }
    }
    if (!it.reason.empty()) {
        e.reason = token_or_hash(it.reason);
    }
    if (it.dec && it.dec->override_used) {
        // The written reason stays with the reviewer's file and the receipt; the log binds
        // it by hash and names the operator.
        e.actor = token_or_hash(it.dec->override_used->actor);
        e.override_reason =
            token_or_hash("sha256:" + store::to_hex(store::sha256(it.dec->override_used->reason)));
    }
    if (it.attempts > 0) {
        e.attempt = total_attempts(it);
    }
    return e;
}

void settle(
    const settle_context& ctx, const item& it, store::page_commit& page, run_report& report
) {
    const bool dry_run = ctx.dry_run;
    record_report rr;
    rr.source_id = it.source.id.str();
    rr.reason = it.reason;
    rr.attempts = static_cast<int>(total_attempts(it));
    if (it.prior) {
        rr.prior = std::string(store::to_string(it.prior->state));
    }
    if (it.dec) {
        rr.basis = it.dec->basis;
        rr.fields_sent = it.dec->fields_sent;
        for (const auto& w : it.dec->fields_withheld) {
            rr.fields_withheld.push_back(w.field);
        }
    }
    auto put = [&](store::delivery_state state, std::optional<std::string> reason) {
        store::delivery d{ctx.flow, it.source, state};
        d.attempts = total_attempts(it);
        d.source_version = token_or_hash(it.version);
        if (reason) {
            d.reason = token_or_hash(*reason);
        }
        page.deliveries.push_back(std::move(d));
    };
    if (!(it.case_source == it.source) && it.act != action::unresolved) {
        // The record was split into rows again: a dead letter raised for the whole record
        // (a mapping failure before the split) is settled with them.
        page.settled_dead_letters.emplace_back(ctx.flow, it.case_source);
    }
    switch (it.act) {
        case action::skip:
            rr.outcome = it.skip_as.empty() ? "skipped" : it.skip_as;
            if (!it.skip_as.empty()) {
                rr.reason = it.skip_as;
                if (it.skip_as == "rejected_by_receiver") {
                    ++report.counts.rejected_by_receiver;
                } else {
                    ++report.counts.awaiting_acknowledgement;
                }
            }
            ++report.counts.skipped;
            break;
        case action::withhold: {
            rr.outcome = "withheld";
            rr.fields_sent.clear();
            ++report.counts.withheld;
            page.entries.push_back(entry_for(ctx, it, store::outcome::withheld));
            put(store::delivery_state::withheld, it.reason);
            page.settled_dead_letters.emplace_back(ctx.flow, it.source);
            if (it.reason == "source_disabled" && it.prior &&
                it.prior->state == store::delivery_state::delivered) {
                page.reviews.push_back(
                    {0, ctx.flow, it.source, store::token("source_disabled"), std::nullopt, {}}
                );
            }
            break;
        }
        case action::withdraw: {
            rr.outcome = "consent_withdrawn";
            rr.fields_sent.clear();
            ++report.counts.withdrawn;
            auto e = entry_for(ctx, it, store::outcome::consent_withdrawn);
            e.target = it.target;  // the record the receiver holds
            if (it.notice) {
                // The receiver was told; the notice's id is the entry's transaction id.
                e.remote_txn_id = token_or_hash(*it.notice);
                ++report.counts.notices;
            } else if (!dry_run) {
                page.reviews.push_back(
                    {0, ctx.flow, it.source, store::token("consent_withdrawn"), it.target, {}}
                );
            }
            page.entries.push_back(std::move(e));
            put(store::delivery_state::withheld, it.reason);
            break;
        }
        case action::dead: {
            rr.outcome = "dead";
            rr.fields_sent.clear();
            ++report.counts.dead;
            auto e = entry_for(ctx, it, store::outcome::failed);
            e.fields_sent.clear();
            if (it.error && it.error->http_status != 0) {
                e.http_status = it.error->http_status;
            }
            if (it.target) {
                e.target = it.target;
            }
            page.entries.push_back(std::move(e));
            put(store::delivery_state::dead, it.reason);
            page.settled_dead_letters.emplace_back(ctx.flow, it.source);  // one per record
            store::dead_letter dl{ctx.flow, it.source, token_or_hash(it.reason), {}};
            dl.field_names = tokens_of(it.reason_fields);
            page.dead_letters.push_back(std::move(dl));
            if (it.review) {
                page.reviews.push_back(
                    {0, ctx.flow, it.source, token_or_hash(it.reason), std::nullopt, {}}
                );
            }
            break;
        }
        case action::keep:
            rr.outcome = "kept";
            rr.fields_sent.clear();
            ++report.counts.skipped;
            put(store::delivery_state::delivered, std::nullopt);
            break;
        case action::unresolved: {
            rr.outcome = "unresolved";
            rr.fields_sent.clear();
            auto e = entry_for(ctx, it, store::outcome::failed);
            e.fields_sent.clear();
            e.reason = store::token("outcome_unknown");
            page.entries.push_back(std::move(e));
            store::delivery d{ctx.flow, it.source, store::delivery_state::in_flight};
            d.attempts = total_attempts(it);
            d.reason = store::token("outcome_unknown");
            page.deliveries.push_back(std::move(d));
            break;
        }
        case action::send: {
            rr.outcome = dry_run ? "would_send" : "sent";
            if (it.target) {
                rr.target_id = it.target->id.str();
            }
            if (dry_run) {
                break;
            }
            ++report.counts.sent;
            auto e = entry_for(ctx, it, store::outcome::sent);
            e.target = it.target;
            e.correlation_key = token_or_hash(source_key(ctx.flow, it.source));
            e.payload_sha256 = store::sha256(json::canonical(it.out_body));
            page.entries.push_back(std::move(e));
            put(store::delivery_state::delivered, std::nullopt);
            // An event-like target answers each version with a new id (a DSS exchange id):
            // the link stays on the first; the log entry names this one.
            if (!it.linked || *it.linked == *it.target) {
                page.links.emplace_back(it.source, *it.target);
            }
            for (const auto& ident : it.identities) {
                page.links.emplace_back(it.case_source, ident);
            }
            page.settled_dead_letters.emplace_back(ctx.flow, it.source);
            break;
        }
    }
    if (!dry_run) {
        record_closure(ctx, it, page);
    }
    if (ctx.keep_records) {
        report.records.push_back(std::move(rr));
    }
}

}  // namespace casebridge::sync::page
