// The plan's inputs: each record mapped in, decided by its DPISP profile, split into rows and
// mapped out (pure), then the store's prior state for the page in one call.
#include <algorithm>

#include "sync/runner_impl.hpp"

namespace casebridge::sync {

void flow_runner::impl::prepare_record(
    const external_record& rec, time_point now, std::vector<item>& items
) const {
    item base;
    base.case_source = store::record_id{b.source_system, token_or_hash(rec.remote_id)};
    base.source = base.case_source;
    base.version = rec.updated_at;

    auto dead = [&](item it, std::string reason, std::vector<std::string> fields) {
        it.act = action::dead;
        it.reason = std::move(reason);
        it.reason_fields = std::move(fields);
        items.push_back(std::move(it));
    };

    mapping::map_context ctx{now, nullptr, &log};
    mapping::map_result<Document> canonical = Document();
    if (b.map_in->groups_rows()) {
        auto groups = b.map_in->group(rec.body);
        if (!groups) {
            return dead(
                std::move(base), reason_of(groups.error().error_code()), {groups.error().field}
            );
        }
        if (groups->size() != 1) {
            return dead(std::move(base), "mapping_failed", {});
        }
        canonical = b.map_in->map_in((*groups)[0], ctx);
    } else {
        canonical = b.map_in->map_in(rec.body, ctx);
    }
    if (!canonical) {
        return dead(
            std::move(base),
            reason_of(canonical.error().error_code()),
            {without_row_numbers(canonical.error().field)}
        );
    }
    // A flow that sends one record per row: the rows, read once for the check and the rows.
    const Value* rows = b.one_record_per_row_of.empty() ? nullptr : paths.rows.Get(*canonical);
    if (!b.one_record_per_row_of.empty() && !overrides.contains(rec.remote_id) &&
        !has_row_of_flow(rows)) {
        return;  // no row of this flow: nothing to decide, send or withhold for this record
    }
    if (b.closure != nullptr) {
        base.closure = b.closure->state_of(*canonical);
    }
    if (b.identities != nullptr) {
        for (std::size_t f = 0; f < b.identity_fields.size(); ++f) {
            const auto& path = b.identity_fields[f];
            const Value* v = paths.identities[f].Get(*canonical);
            if (v == nullptr || !v->IsString() || v->GetStringLength() == 0) {
                continue;
            }
            const auto kind = token_or_hash("identity." + path.substr(1));
            base.identities.push_back(store::record_id::pseudonymous(
                kind, kind, std::string_view(v->GetString(), v->GetStringLength()), *b.identities
            ));
        }
    }
    std::optional<policy::operator_override> over;
    if (auto o = overrides.find(rec.remote_id); o != overrides.end()) {
        over = o->second;
    }
    auto decided = policy::decide(*b.profile, *canonical, now, over);
    if (!decided) {
        return dead(std::move(base), reason_of(decided.error()), {});
    }
    base.dec = std::make_shared<policy::decision>(std::move(*decided));
    const policy::decision& d = *base.dec;
    if (rec.disabled) {
        base.act = action::withhold;
        base.reason = "source_disabled";
    } else if (!d.share) {
        base.act = action::withhold;
        base.reason = d.aggregate_only ? "aggregate_only" : "no_basis";
    } else {
        base.act = action::send;
    }

    // One record per row of a subform (referrals, events), ids from the unredacted rows.
    if (!b.one_record_per_row_of.empty()) {
        const Value* sent_rows = d.share ? paths.rows.Get(d.payload) : nullptr;
        if (rows == nullptr || !rows->IsArray()) {
            return;  // nothing to send for this record
        }
        for (rapidjson::SizeType i = 0; i < rows->Size(); ++i) {
            const Value& row = (*rows)[i];
            if (!row_of_flow(row)) {
                continue;  // a row for another recipient: not part of this flow
            }
            const Value* uid =
                row.IsObject() && row.HasMember("unique_id") ? &row["unique_id"] : nullptr;
            item it;
            it.case_source = base.case_source;
            it.version = base.version;
            it.dec = base.dec;
            it.identities = base.identities;
            it.closure = base.closure;
            if (uid == nullptr || !uid->IsString()) {
                // Named by the record and the row's position: the dead letter, its log entry
                // and its delivery are the row's own, and a retry reads the record again.
                it.source = store::record_id{
                    b.source_system,
                    token_or_hash(
                        base.case_source.id.str() + row_separator + "#" + std::to_string(i)
                    )};
                dead(std::move(it), "mapping_failed", {b.one_record_per_row_of + "/unique_id"});
                continue;
            }
            it.source = store::record_id{
                b.source_system,
                token_or_hash(base.case_source.id.str() + row_separator + uid->GetString())};
            it.act = base.act;
            it.reason = base.reason;
            if (it.act == action::send) {
                Document one;
                one.CopyFrom(d.payload, one.GetAllocator());
                Value only(rapidjson::kArrayType);
                if (sent_rows != nullptr && sent_rows->IsArray() && i < sent_rows->Size()) {
                    only.PushBack(Value((*sent_rows)[i], one.GetAllocator()), one.GetAllocator());
                }
                paths.rows.Set(one, only);
                map_out(it, one, ctx);
            }
            items.push_back(std::move(it));
        }
        return;
    }
    if (base.act == action::send) {
        map_out(base, d.payload, ctx);
    }
    items.push_back(std::move(base));
}

bool flow_runner::impl::has_row_of_flow(const Value* rows) const {
    if (rows == nullptr || !rows->IsArray()) {
        return false;
    }
    if (!b.only_rows_where) {
        return !rows->Empty();
    }
    const auto& list = rows->GetArray();
    return std::any_of(list.begin(), list.end(), [this](const Value& row) {
        return row_of_flow(row);
    });
}

bool flow_runner::impl::row_of_flow(const Value& row) const {
    if (!b.only_rows_where) {
        return true;
    }
    if (!row.IsObject()) {
        return false;
    }
    const Value* v = paths.row_field->Get(row);
    if (v == nullptr || !v->IsString()) {
        return false;
    }
    const std::string_view got(v->GetString(), v->GetStringLength());
    const auto& values = b.only_rows_where->values;
    return std::find(values.begin(), values.end(), got) != values.end();
}

binding_paths binding_paths::of(const flow_binding& b) {
    binding_paths p{rapidjson::Pointer(b.one_record_per_row_of.c_str()), {}, std::nullopt};
    p.identities.reserve(b.identity_fields.size());
    for (const auto& path : b.identity_fields) {
        p.identities.emplace_back(path.c_str());
    }
    if (b.only_rows_where) {
        p.row_field.emplace(b.only_rows_where->field.c_str());
    }
    return p;
}

void flow_runner::impl::map_out(item& it, const Value& payload, const mapping::map_context& ctx)
    const {
    auto out = b.map_out->map_out(payload, ctx);
    if (!out) {
        it.act = action::dead;
        it.reason = reason_of(out.error().error_code());
        it.reason_fields = {without_row_numbers(out.error().field)};
        return;
    }
    it.out_body = std::move(*out);
    if (it.dec && it.dec->linkage && it.out_body.IsObject()) {
        // The profile's linkage step encoded the full record: the encoding travels with
        // the mapped record as its "linkage" member (the target's adapter sends it).
        auto& a = it.out_body.GetAllocator();
        it.out_body.RemoveMember("linkage");
        it.out_body.AddMember(
            "linkage",
            policy::linkage_wire_form(it.dec->linkage_schema_version, *it.dec->linkage, a),
            a
        );
    }
}

/// Store lookups for a page, in one call on the store thread: prior deliveries, targets,
/// identity conflicts.
awaitable<result<void>> flow_runner::impl::resolve(std::vector<item>& items) {
    const flow_binding* bind = &b;
    auto* list = &items;
    const bool ask_ack = handover && b.target->acknowledges(b.target_stream);
    // Named, not a temporary in the co_await expression: GCC 12 destroys such captures
    // twice (the same applies to every store call below).
    auto lookups = [bind, list, ask_ack](store::store& s) -> result<void> {
        // One query per kind for the page: prior deliveries, then the links of the records
        // that would be sent or withheld, then the links back of those without one.
        std::vector<store::record_id> sources;
        sources.reserve(list->size());
        for (const auto& it : *list) {
            sources.push_back(it.source);
        }
        auto priors = s.get_deliveries(bind->flow, sources);
        if (!priors) {
            return priors.error();
        }
        std::vector<item*> linking;
        std::vector<store::record_id> linking_ids;
        for (std::size_t i = 0; i < list->size(); ++i) {
            auto& it = (*list)[i];
            it.prior = std::move((*priors)[i]);
            if (ask_ack && it.prior && it.prior->state == store::delivery_state::delivered) {
                auto answer = s.acknowledgement_of(bind->flow, it.source);
                if (!answer) {
                    return answer.error();
                }
                it.ack = *answer;
            }
            if (it.act == action::send || it.act == action::withhold) {
                linking.push_back(&it);
                linking_ids.push_back(it.source);
            }
        }
        auto links = s.linked_each(linking_ids, bind->target_system);
        if (!links) {
            return links.error();
        }
        std::vector<item*> unlinked;
        std::vector<store::record_id> unlinked_cases;
        for (std::size_t i = 0; i < linking.size(); ++i) {
            if ((*links)[i]) {
                linking[i]->target = *(*links)[i];
                linking[i]->linked = *(*links)[i];
            } else {
                unlinked.push_back(linking[i]);
                unlinked_cases.push_back(linking[i]->case_source);
            }
        }
        // A record that came from the target (a decision on a referral we sent).
        auto backs = s.linked_from_each(unlinked_cases, bind->target_system);
        if (!backs) {
            return backs.error();
        }
        for (std::size_t i = 0; i < unlinked.size(); ++i) {
            if ((*backs)[i]) {
                const auto& id = (*backs)[i]->id.str();
                const auto cut = id.find(row_separator);
                unlinked[i]->target =
                    store::record_id{bind->target_system, token_or_hash(id.substr(0, cut))};
            }
        }
        // Identities of the records to send, in page order: a second case of the page that
        // claims one already claimed is a conflict.
        std::map<std::string, std::string> claimed;  // identity → case source, this page
        for (auto* itp : linking) {
            auto& it = *itp;
            if (it.act != action::send) {
                continue;
            }
            for (const auto& ident : it.identities) {
                auto owner = s.linked_from(ident, bind->source_system);
                if (!owner) {
                    return owner.error();
                }
                auto mine = s.linked(it.case_source, ident.system);
                if (!mine) {
                    return mine.error();
                }
                const auto key = ident.str();
                auto seen = claimed.find(key);
                const bool other_owner = *owner && !(**owner == it.case_source);
                const bool other_in_page =
                    seen != claimed.end() && seen->second != it.case_source.str();
                const bool changed = *mine && !(**mine == ident);
                if (other_owner || other_in_page || changed) {
                    it.act = action::dead;
                    it.reason = changed ? "identity_changed" : "multiple_matches";
                    it.reason_fields = {"/" + ident.system.str().substr(9)};
                    it.review = true;
                    break;
                }
                claimed.emplace(key, it.case_source.str());
            }
        }
        return {};
    };
    co_return co_await st->run(std::move(lookups));
}

}  // namespace casebridge::sync
