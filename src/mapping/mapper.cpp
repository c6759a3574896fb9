// Running a compiled mapping on one record: no file and no mapping text is parsed here.
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/container/small_vector.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/text_fingerprint.hpp"
#include "core/token_text.hpp"
#include "log/log.hpp"
#include "mapping/program.hpp"

namespace casebridge::mapping {

std::string mapping_error::to_json() const {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("record");
    w.String(record.c_str(), static_cast<rapidjson::SizeType>(record.size()));
    w.Key("field");
    w.String(field.c_str(), static_cast<rapidjson::SizeType>(field.size()));
    if (!system_field.empty()) {
        w.Key("system_field");
        w.String(system_field.c_str(), static_cast<rapidjson::SizeType>(system_field.size()));
    }
    const auto name = error_name(error_code());
    w.Key("error");
    w.String(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.Key("reason");
    w.String(reason.c_str(), static_cast<rapidjson::SizeType>(reason.size()));
    w.EndObject();
    return buf.GetString();
}

void throw_exception_from_error(const mapping_error& e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(e.error_code(), e.reason), loc);
}

std::uint32_t member_slots::add(std::string_view name) {
    if (!table_.empty()) {
        if (const auto slot = find(name); slot != none) {
            return slot;
        }
    }
    names_.emplace_back(name);
    rebuild();
    return static_cast<std::uint32_t>(names_.size() - 1);
}

void member_slots::rebuild() {
    table_.assign(std::bit_ceil(std::max<std::size_t>(names_.size() * 4, 8)), entry{});
    const std::size_t mask = table_.size() - 1;
    for (std::uint32_t slot = 0; slot < names_.size(); ++slot) {
        const std::string_view name = names_[slot];
        const auto words = words_of(name);
        std::size_t i = spread_fingerprint(fold(words, name.size())) & mask;
        while (table_[i].slot != none) {
            i = (i + 1) & mask;
        }
        table_[i] = {words, static_cast<std::uint32_t>(name.size()), slot};
    }
}

std::uint32_t member_slots::find(std::string_view name) const noexcept {
    const auto words = words_of(name);
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = spread_fingerprint(fold(words, name.size())) & mask;; i = (i + 1) & mask) {
        const entry& e = table_[i];
        if (e.slot == none) {
            return none;
        }
        // Up to 16 bytes the words hold the whole name.
        if (e.length == name.size() && e.words == words &&
            (name.size() <= whole_text_words || names_[e.slot] == name)) {
            return e.slot;
        }
    }
}

void member_slots::fill(const rapidjson::Value& object, const rapidjson::Value** found) const {
    if (names_.empty() || !object.IsObject()) {
        return;
    }
    std::size_t left = names_.size();
    for (const auto& m : object.GetObject()) {
        const auto slot = find({m.name.GetString(), m.name.GetStringLength()});
        if (slot != none && found[slot] == nullptr) {
            found[slot] = &m.value;
            if (--left == 0) {
                return;
            }
        }
    }
}

rapidjson::Value deep_copy(const rapidjson::Value& v, rapidjson::Document::AllocatorType& alloc) {
    switch (v.GetType()) {
        case rapidjson::kArrayType: {
            rapidjson::Value a(rapidjson::kArrayType);
            a.Reserve(v.Size(), alloc);
            for (const auto& item : v.GetArray()) {
                a.PushBack(deep_copy(item, alloc), alloc);
            }
            return a;
        }
        case rapidjson::kObjectType: {
            rapidjson::Value o(rapidjson::kObjectType);
            for (const auto& m : v.GetObject()) {
                o.AddMember(rapidjson::Value(m.name, alloc), deep_copy(m.value, alloc), alloc);
            }
            return o;
        }
        default:
            return {v, alloc};
    }
}

namespace {

using alloc_t = rapidjson::Document::AllocatorType;

bool present(const rapidjson::Value* v) {
    return v != nullptr && !v->IsNull() && !(v->IsString() && v->GetStringLength() == 0) &&
           !(v->IsArray() && v->Empty());
}

std::string key_text(const rapidjson::Value& v) {
    if (v.IsString()) {
        return {v.GetString(), v.GetStringLength()};
    }
    if (v.IsInt64()) {
        return std::to_string(v.GetInt64());
    }
    if (v.IsUint64()) {
        return std::to_string(v.GetUint64());
    }
    if (v.IsBool()) {
        return v.GetBool() ? "true" : "false";
    }
    return {};
}

/// The record's id for messages: a string or integer at `ptr`, else "?"; "#not-an-id" when
/// the value is not token text (core/token_text.hpp), so free text in an id never reaches a
/// message.
std::string record_id_of(const rapidjson::Value& record, const rapidjson::Pointer& ptr, bool has) {
    if (!has) {
        return "?";
    }
    const auto* v = ptr.Get(record);
    if (v == nullptr || (!v->IsString() && !v->IsInt64())) {
        return "?";
    }
    auto id = key_text(*v);
    return is_token_text(id) ? id : std::string(not_an_id);
}

/// Where a run of rules stands in a record, for messages: the path of the subform and row,
/// put into text only when a message needs it (a record's rows are mapped without building
/// any).
struct place {
    static constexpr std::size_t no_row = static_cast<std::size_t>(-1);
    const place* parent = nullptr;
    std::string_view text;     ///< After the parent's text.
    std::size_t row = no_row;  ///< Then "/<row>".

    std::string str() const {
        std::string s = parent != nullptr ? parent->str() : std::string();
        s.append(text);
        if (row != no_row) {
            s += '/';
            s += std::to_string(row);
        }
        return s;
    }
};

/// A field name for messages, built only when a message needs it.
struct lazy_name {
    const place& prefix;
    const std::string& text;
    operator std::string() const {  // NOLINT(google-explicit-constructor)
        return prefix.str() + text;
    }
};

const std::string empty_text;

/// The members one run of rules writes into an object, added together when the run ends (or
/// before a deeper path is set, so that members keep the rules' order). An object's member
/// array that grows while nothing else is allocated grows in place in RapidJSON's pool; grown
/// between the allocations of the values themselves, it is copied each time.
class member_batch {
public:
    member_batch(rapidjson::Value& dst, alloc_t& alloc) : dst_(dst), alloc_(alloc) {}
    member_batch(const member_batch&) = delete;
    member_batch& operator=(const member_batch&) = delete;

    /// Writes `v` at `p`: a single-token path becomes a member (the compiler has checked that
    /// no two rules of one direction write the same path), a deeper one is set through the
    /// pointer.
    void write(const path& p, rapidjson::Value& v) {
        if (p.ptr.GetTokenCount() == 1 && dst_.IsObject()) {
            const auto& t = p.ptr.GetTokens()[0];
            items_.emplace_back(t.name, t.length, alloc_);
            items_.emplace_back(std::move(v));
            return;
        }
        flush();
        p.ptr.Set(dst_, v, alloc_);
    }

    /// The object written to.
    rapidjson::Value& object() noexcept { return dst_; }

    /// Adds the members written so far.
    void flush() {
        for (std::size_t i = 0; i + 1 < items_.size(); i += 2) {
            dst_.AddMember(items_[i], items_[i + 1], alloc_);
        }
        items_.clear();
    }

private:
    rapidjson::Value& dst_;
    alloc_t& alloc_;
    boost::container::small_vector<rapidjson::Value, 128> items_;  ///< name, value, ...
};

struct runner {
    const program& prog;
    direction dir;
    const map_context& ctx;
    alloc_t& alloc;
    std::string record_id;

    mapping_error error(
        errc code, const std::string& field, const std::string& system_field, std::string reason
    ) const {
        return mapping_error{code, record_id, field, system_field, std::move(reason)};
    }

    void note(const std::string& field, const value_table& t, const char* action) const {
        if (ctx.notes != nullptr) {
            ctx.notes->push_back(mapping_note{field, t.name, action});
        }
        if (ctx.log != nullptr) {
            const std::string_view names[] = {field, t.name};
            log_fields f;
            f.system = prog.system;
            f.record = record_ref{prog.system, record_id};
            f.field_names.assign(std::begin(names), std::end(names));
            if (std::string_view(action) == "default") {
                ctx.log->warn(
                    "mapping.default_applied",
                    "a code missing from a value table was replaced by the table's "
                    "default",
                    f
                );
            } else {
                ctx.log->warn(
                    "mapping.unknown_code_kept_or_dropped",
                    "a code missing from a value table was dropped or passed as the "
                    "table says",
                    f
                );
            }
        }
    }

    /// Translates one code. Returns false with `err` set (reject); leaves `v` null to drop.
    bool translate(
        const value_table& t,
        rapidjson::Value& v,
        const lazy_name& field,
        const lazy_name& system_field,
        mapping_error& err
    ) const {
        const auto& side = dir == direction::in ? t.in : t.out;
        const auto key = key_text(v);
        if (!v.IsArray() && !v.IsObject()) {
            if (const auto it = side.codes.find(key); it != side.codes.end() && !key.empty()) {
                v.SetString(
                    it->second.c_str(), static_cast<rapidjson::SizeType>(it->second.size()), alloc
                );
                return true;
            }
        }
        switch (side.unknown) {
            case unknown_policy::reject:
                err = error(
                    errc::unmapped_value,
                    field,
                    system_field,
                    "code not listed in value table \"" + t.name + "\""
                );
                return false;
            case unknown_policy::drop:
                note(field, t, "drop");
                v.SetNull();
                return true;
            case unknown_policy::pass:
                note(field, t, "pass");
                return true;
            case unknown_policy::use_default:
                note(field, t, "default");
                v.SetString(
                    side.fallback.c_str(),
                    static_cast<rapidjson::SizeType>(side.fallback.size()),
                    alloc
                );
                return true;
        }
        return true;
    }

    /// Runs the rule's transforms: inbound the first then the chain, outbound the chain in
    /// reverse then the first.
    bool transform(
        const op& o,
        std::span<const rapidjson::Value* const> inputs,
        const rapidjson::Value& src,
        std::span<rapidjson::Value> outputs,
        const lazy_name& cfield,
        const lazy_name& sfield,
        mapping_error& err
    ) const {
        std::string reason;
        const auto fail = [&](const transform_spec& t) {
            err = error(
                errc::mapping_failed,
                cfield,
                sfield,
                "value " + reason + " (transform \"" + t.name + "\")"
            );
            return false;
        };
        const auto step = [&](const transform_spec& t) {
            if (!present(&outputs[0])) {
                return true;
            }
            // The step's input is the value so far, which its result replaces.
            const rapidjson::Value v(std::move(outputs[0]));
            const rapidjson::Value* const one[] = {&v};
            rapidjson::Value result[1];
            if (!apply_transform(t, dir, one, &src, result, alloc, ctx, reason)) {
                return fail(t);
            }
            outputs[0] = result[0];
            return true;
        };
        if (dir == direction::out && !o.then.empty() && inputs.size() == 1) {
            // Outbound: the chain runs backwards on the single source, then the first.
            outputs[0] = deep_copy(*inputs[0], alloc);
            for (auto it = o.then.rbegin(); it != o.then.rend(); ++it) {
                if (!step(*it)) {
                    return false;
                }
            }
            rapidjson::Value first_input(std::move(outputs[0]));
            for (auto& out : outputs) {
                out.SetNull();
            }
            if (!present(&first_input)) {
                return true;
            }
            if (o.transform.kind == transform_kind::none) {
                outputs[0] = std::move(first_input);
                return true;
            }
            const rapidjson::Value* const one[] = {&first_input};
            return apply_transform(o.transform, dir, one, &src, outputs, alloc, ctx, reason)
                       ? true
                       : fail(o.transform);
        }
        if (o.transform.kind == transform_kind::none) {
            outputs[0] = deep_copy(*inputs[0], alloc);
        } else if (!apply_transform(o.transform, dir, inputs, &src, outputs, alloc, ctx, reason)) {
            return fail(o.transform);
        }
        for (const auto& t : o.then) {
            if (!step(t)) {
                return false;
            }
        }
        return true;
    }

    /// Checks an inbound value against its canonical field; true when it fits.
    [[gnu::always_inline]] bool fits(
        const op& o,
        std::size_t i,
        const rapidjson::Value& v,
        const place& cprefix,
        const lazy_name& sfield,
        mapping_error& err
    ) const {
        const field_def& f = *o.fields[i];
        if (f.type == field_type::string && v.IsString()) {
            return true;  // the most common check, without a call
        }
        std::string reason;
        bool unmapped = false;
        if (check_canonical_value(f, v, reason, unmapped)) {
            return true;
        }
        err = error(
            unmapped ? errc::unmapped_value : errc::mapping_failed,
            lazy_name{cprefix, o.canonical[i].text},
            sfield,
            "value " + reason
        );
        return false;
    }

    /// Runs `ops` reading `src` and writing members of `dst` (an object). `slots` are the
    /// members `ops` read (program.hpp).
    bool run(
        const std::vector<op>& ops,
        const rule_slots& slots,
        const rapidjson::Value& src,
        rapidjson::Value& dst,
        const place& cprefix,
        const place& sprefix,
        mapping_error& err
    ) const {
        const bool in = dir == direction::in;
        const member_slots& names = in ? slots.in : slots.out;
        // One pass over src's members finds every direct member the rules read.
        boost::container::small_vector<const rapidjson::Value*, 128> found(names.size(), nullptr);
        names.fill(src, found.data());
        const bool by_slot = src.IsObject();
        const auto value_at = [&](const path& p) {
            return by_slot && p.slot != member_slots::none ? found[p.slot] : p.ptr.Get(src);
        };
        member_batch batch(dst, alloc);
        boost::container::small_vector<const rapidjson::Value*, 4> inputs;
        boost::container::small_vector<rapidjson::Value, 4> outputs;
        for (const auto& o : ops) {
            if (in ? !o.in : !o.out) {
                continue;
            }
            const auto& from = in ? o.system : o.canonical;
            const auto& to = in ? o.canonical : o.system;
            const lazy_name cfield{cprefix, o.canonical.empty() ? empty_text : o.canonical[0].text};
            const lazy_name sfield{sprefix, o.system.empty() ? empty_text : o.system[0].text};
            if (o.plain_copy) {
                // The common rule: one value copied across as it is.
                const auto* v = value_at(from[0]);
                if (!present(v)) {
                    if (o.required) {
                        err = error(
                            errc::mapping_failed, cfield, sfield, "required field is missing"
                        );
                        return false;
                    }
                    continue;
                }
                rapidjson::Value out = deep_copy(*v, alloc);
                if (in && !fits(o, 0, out, cprefix, sfield, err)) {
                    return false;
                }
                batch.write(to[0], out);
                continue;
            }
            if (o.has_const) {
                rapidjson::Value c = deep_copy(o.constant, alloc);
                batch.write(to[0], c);
                continue;
            }
            if (o.is_subform) {
                const auto* rows_in = in && o.rows_from_root ? nullptr : value_at(from[0]);
                if (!run_rows(
                        o,
                        src,
                        rows_in,
                        batch,
                        place{&cprefix, cfield.text},
                        place{&sprefix, sfield.text},
                        err
                    )) {
                    return false;
                }
                continue;
            }
            inputs.clear();
            bool any = false;
            for (const auto& p : from) {
                const auto* v = value_at(p);
                inputs.push_back(present(v) ? v : nullptr);
                any = any || present(v);
            }
            if (!any) {
                if (o.required) {
                    err = error(errc::mapping_failed, cfield, sfield, "required field is missing");
                    return false;
                }
                continue;
            }
            outputs.clear();
            outputs.resize(to.size());
            if (!transform(o, inputs, src, outputs, cfield, sfield, err)) {
                return false;
            }
            if (o.table != nullptr) {
                for (auto& out : outputs) {
                    if (out.IsArray()) {
                        rapidjson::Value kept(rapidjson::kArrayType);
                        for (auto& item : out.GetArray()) {
                            if (!translate(*o.table, item, cfield, sfield, err)) {
                                return false;
                            }
                            if (!item.IsNull()) {
                                kept.PushBack(item, alloc);
                            }
                        }
                        out = kept;
                    } else if (!out.IsNull()) {
                        if (!translate(*o.table, out, cfield, sfield, err)) {
                            return false;
                        }
                    }
                }
            }
            for (std::size_t i = 0; i < to.size(); ++i) {
                auto& out = outputs[i];
                if (!present(&out)) {
                    if (o.required && i == 0) {
                        err = error(
                            errc::mapping_failed,
                            cfield,
                            sfield,
                            "required field has no value after mapping"
                        );
                        return false;
                    }
                    continue;
                }
                if (in && !fits(o, i, out, cprefix, sfield, err)) {
                    return false;
                }
                batch.write(to[i], out);
            }
        }
        batch.flush();
        return true;
    }

    /// Runs a subform rule; `rows_in` is the subform's value in `src` (unused when the row is
    /// `src` itself, inbound).
    bool run_rows(
        const op& o,
        const rapidjson::Value& src,
        const rapidjson::Value* rows_in,
        member_batch& dst,
        const place& cfield,
        const place& sfield,
        mapping_error& err
    ) const {
        const bool in = dir == direction::in;
        const auto& to = in ? o.canonical[0] : o.system[0];
        // Inbound from the record itself: one row built from the whole record.
        if (in && o.rows_from_root) {
            rapidjson::Value row(rapidjson::kObjectType);
            if (!run(o.rows, o.row_slots, src, row, place{&cfield, {}, 0}, place{}, err)) {
                return false;
            }
            if (row.MemberCount() > 0) {
                rapidjson::Value rows(rapidjson::kArrayType);
                rows.PushBack(row, alloc);
                dst.write(to, rows);
            } else if (o.required) {
                err = error(
                    errc::mapping_failed, cfield.str(), sfield.str(), "required subform has no row"
                );
                return false;
            }
            return true;
        }
        if (!present(rows_in)) {
            if (o.required) {
                err = error(
                    errc::mapping_failed, cfield.str(), sfield.str(), "required subform is missing"
                );
                return false;
            }
            return true;
        }
        if (!rows_in->IsArray()) {
            err = error(
                errc::mapping_failed, cfield.str(), sfield.str(), "subform is not a list of rows"
            );
            return false;
        }
        // Outbound onto the record itself: the canonical record carries exactly one row.
        if (!in && o.rows_from_root) {
            if (rows_in->Size() != 1) {
                err = error(
                    errc::mapping_failed,
                    cfield.str(),
                    sfield.str(),
                    "subform must hold exactly one row for this mapping"
                );
                return false;
            }
            if (!(*rows_in)[0].IsObject()) {
                err = error(
                    errc::mapping_failed,
                    place{&cfield, {}, 0}.str(),
                    sfield.str(),
                    "row is not an object"
                );
                return false;
            }
            // The row's members go straight onto the record, after those written before.
            dst.flush();
            return run(
                o.rows,
                o.row_slots,
                (*rows_in)[0],
                dst.object(),
                place{&cfield, {}, 0},
                place{},
                err
            );
        }
        rapidjson::Value rows(rapidjson::kArrayType);
        for (rapidjson::SizeType i = 0; i < rows_in->Size(); ++i) {
            const auto& row_in = (*rows_in)[i];
            const place crow{&cfield, {}, i};
            const place srow{&sfield, {}, i};
            if (!row_in.IsObject()) {
                err = error(errc::mapping_failed, crow.str(), srow.str(), "row is not an object");
                return false;
            }
            rapidjson::Value row(rapidjson::kObjectType);
            if (!run(o.rows, o.row_slots, row_in, row, crow, srow, err)) {
                return false;
            }
            rows.PushBack(row, alloc);
        }
        if (!rows.Empty()) {
            dst.write(to, rows);
        }
        return true;
    }
};

}  // namespace

map_result<rapidjson::Document> compiled_mapping::map_in(
    const rapidjson::Value& record, const map_context& ctx
) const {
    const auto& p = *program_;
    rapidjson::Document out(rapidjson::kObjectType);
    runner r{
        p,
        direction::in,
        ctx,
        out.GetAllocator(),
        record_id_of(record, p.record_id_system, p.has_record_id_system)};
    if (!p.in) {
        return r.error(errc::mapping_failed, "", "", "mapping has no inbound direction");
    }
    if (!record.IsObject()) {
        return r.error(errc::mapping_failed, "", "", "record is not an object");
    }
    mapping_error err;
    if (p.field_list) {
        // {"Fields": [{"Name": n, "Value": v}, ...]} becomes {"Fields": {n: v, ...}} first, so
        // that the rules' "/Fields/<name>" pointers address fields by name.
        rapidjson::Document norm(rapidjson::kObjectType);
        for (const auto& m : record.GetObject()) {
            if (m.name == "Fields") {
                continue;
            }
            rapidjson::Value k(m.name, norm.GetAllocator());
            rapidjson::Value v(m.value, norm.GetAllocator());
            norm.AddMember(k, v, norm.GetAllocator());
        }
        rapidjson::Value fields(rapidjson::kObjectType);
        const auto it = record.FindMember("Fields");
        if (it != record.MemberEnd() && it->value.IsArray()) {
            for (const auto& f : it->value.GetArray()) {
                if (!f.IsObject() || !f.HasMember("Name") || !f["Name"].IsString()) {
                    return r.error(errc::mapping_failed, "", "/Fields", "a field has no Name");
                }
                if (fields.HasMember(f["Name"])) {
                    return r.error(
                        errc::mapping_failed,
                        "",
                        "/Fields/" + key_text(f["Name"]),
                        "field listed twice"
                    );
                }
                rapidjson::Value k(f["Name"], norm.GetAllocator());
                rapidjson::Value v;
                if (const auto val = f.FindMember("Value"); val != f.MemberEnd()) {
                    v.CopyFrom(val->value, norm.GetAllocator());
                }
                fields.AddMember(k, v, norm.GetAllocator());
            }
        }
        norm.AddMember("Fields", fields, norm.GetAllocator());
        if (!r.run(p.ops, p.slots, norm, out, place{}, place{}, err)) {
            return err;
        }
        return out;
    }
    if (!r.run(p.ops, p.slots, record, out, place{}, place{}, err)) {
        return err;
    }
    return out;
}

map_result<rapidjson::Document> compiled_mapping::map_out(
    const rapidjson::Value& canonical, const map_context& ctx
) const {
    const auto& p = *program_;
    rapidjson::Document out(rapidjson::kObjectType);
    runner r{
        p,
        direction::out,
        ctx,
        out.GetAllocator(),
        record_id_of(canonical, p.record_id_canonical, p.has_record_id_canonical)};
    if (!p.out) {
        return r.error(errc::mapping_failed, "", "", "mapping has no outbound direction");
    }
    if (!canonical.IsObject()) {
        return r.error(errc::mapping_failed, "", "", "record is not an object");
    }
    mapping_error err;
    if (!r.run(p.ops, p.slots, canonical, out, place{}, place{}, err)) {
        return err;
    }
    if (p.field_list) {
        // {"Fields": {n: v, ...}} becomes [{"Name": n, "Value": v}, ...] in rule order.
        auto it = out.FindMember("Fields");
        rapidjson::Value list(rapidjson::kArrayType);
        if (it != out.MemberEnd()) {
            for (auto& m : it->value.GetObject()) {
                rapidjson::Value item(rapidjson::kObjectType);
                item.AddMember("Name", m.name, out.GetAllocator());
                item.AddMember("Value", m.value, out.GetAllocator());
                list.PushBack(item, out.GetAllocator());
            }
            it->value = list;
        } else {
            out.AddMember("Fields", list, out.GetAllocator());
        }
    }
    return out;
}

map_result<std::vector<rapidjson::Document>> compiled_mapping::group(const rapidjson::Value& rows
) const {
    const auto& p = *program_;
    const auto fail = [](std::string record, std::string field, std::string reason) {
        return mapping_error{
            errc::mapping_failed, std::move(record), "", std::move(field), std::move(reason)};
    };
    if (!rows.IsArray()) {
        return fail("?", "", "input is not a list of rows");
    }
    std::vector<rapidjson::Document> out;
    if (!p.groups) {
        for (const auto& row : rows.GetArray()) {
            out.emplace_back().CopyFrom(row, out.back().GetAllocator());
        }
        return out;
    }
    std::unordered_map<std::string, std::size_t> index;
    const auto is_list = [&p](std::string_view name) {
        for (const auto& l : p.group_lists) {
            if (l == name) {
                return true;
            }
        }
        return false;
    };
    for (rapidjson::SizeType i = 0; i < rows.Size(); ++i) {
        const auto& row = rows[i];
        const auto id = row.IsObject()
                            ? record_id_of(row, p.record_id_system, p.has_record_id_system)
                            : std::string("?");
        if (!row.IsObject()) {
            return fail(id, "/" + std::to_string(i), "row is not an object");
        }
        const auto key_it = row.FindMember(p.group_by.c_str());
        if (key_it == row.MemberEnd() || !present(&key_it->value)) {
            return fail(id, "/" + p.group_by, "row has no group key");
        }
        const auto key = key_text(key_it->value);
        auto [pos, fresh] = index.emplace(key, out.size());
        if (fresh) {
            auto& doc = out.emplace_back();
            doc.SetObject();
            auto& a = doc.GetAllocator();
            for (const auto& m : row.GetObject()) {
                rapidjson::Value k(m.name, a);
                if (is_list({m.name.GetString(), m.name.GetStringLength()})) {
                    rapidjson::Value list(rapidjson::kArrayType);
                    if (present(&m.value)) {
                        list.PushBack(rapidjson::Value(m.value, a), a);
                    }
                    doc.AddMember(k, list, a);
                } else {
                    doc.AddMember(k, rapidjson::Value(m.value, a), a);
                }
            }
            for (const auto& l : p.group_lists) {
                if (!doc.HasMember(l.c_str())) {
                    rapidjson::Value k(l.c_str(), a);
                    doc.AddMember(k, rapidjson::Value(rapidjson::kArrayType), a);
                }
            }
            continue;
        }
        auto& doc = out[pos->second];
        auto& a = doc.GetAllocator();
        for (const auto& m : row.GetObject()) {
            const std::string_view name(m.name.GetString(), m.name.GetStringLength());
            auto existing = doc.FindMember(m.name);
            if (is_list(name)) {
                if (!present(&m.value)) {
                    continue;
                }
                bool seen = false;
                for (const auto& item : existing->value.GetArray()) {
                    seen = seen || item == m.value;
                }
                if (!seen) {
                    existing->value.PushBack(rapidjson::Value(m.value, a), a);
                }
                continue;
            }
            const bool same =
                existing != doc.MemberEnd() ? existing->value == m.value : !present(&m.value);
            if (!same) {
                return fail(
                    id,
                    "/" + json::escape_pointer_token(name),
                    "rows of one group disagree on a column that is not a list"
                );
            }
        }
    }
    return out;
}

}  // namespace casebridge::mapping
