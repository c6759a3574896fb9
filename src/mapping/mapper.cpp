// Running a compiled mapping on one record: no file and no mapping text is parsed here.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

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

/// A field name for messages, built only when a message needs it.
struct lazy_name {
    const std::string& prefix;
    const std::string& text;
    operator std::string() const { return prefix + text; }  // NOLINT(google-explicit-constructor)
};

const std::string empty_text;

/// The members of one object by name, for the rules that read its direct members: one
/// FindMember per rule scans every member, so a wide record cost rules × members. Objects of
/// up to `linear_members` members are scanned, comparing lengths first. The first of two equal
/// names wins, as with FindMember.
class member_index {
public:
    static constexpr rapidjson::SizeType linear_members = 16;

    explicit member_index(const rapidjson::Value& object) {
        if (!object.IsObject() || object.MemberCount() <= linear_members) {
            return;
        }
        slots_.assign(std::bit_ceil(std::size_t{object.MemberCount()} * 2), nullptr);
        for (const auto& m : object.GetObject()) {
            const std::string_view name(m.name.GetString(), m.name.GetStringLength());
            std::size_t probes = 0;
            const member** slot = find(name, &probes);
            if (probes > longest_probe) {
                // Names made to collide: give the index up, and scan once per rule as for a
                // small object, rather than spend members × members here.
                slots_.clear();
                return;
            }
            if (*slot == nullptr) {
                *slot = &m;
            }
        }
    }

    /// The value at `p` in `object` (the object this index was built from).
    const rapidjson::Value* get(const path& p, const rapidjson::Value& object) const {
        if (p.ptr.GetTokenCount() != 1 || !object.IsObject()) {
            return p.ptr.Get(object);
        }
        const auto& t = p.ptr.GetTokens()[0];
        const std::string_view name(t.name, t.length);
        if (slots_.empty()) {
            // A small object: compared by length first. (Pointer::Get reaches RapidJSON
            // 1.1.0's FindMember(const Ch*), which measures the name with strlen each time.)
            for (const auto& m : object.GetObject()) {
                if (m.name.GetStringLength() == t.length &&
                    std::string_view(m.name.GetString(), t.length) == name) {
                    return &m.value;
                }
            }
            return nullptr;
        }
        const member* m = *find(name);
        return m == nullptr ? nullptr : &m->value;
    }

private:
    using member = rapidjson::Value::Member;

    static constexpr std::size_t longest_probe = 32;

    /// The name's text_fingerprint, mixed so that its low bits pick the slot.
    static std::size_t hash(std::string_view name) noexcept {
        std::uint64_t h = text_fingerprint(name) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 32;
        return static_cast<std::size_t>(h);
    }

    /// The slot holding `name`, else the empty slot where it would go; counts the slots
    /// passed in `probes` when given.
    const member** find(std::string_view name, std::size_t* probes = nullptr) const {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = hash(name) & mask;
        while (slots_[i] != nullptr &&
               !(slots_[i]->name.GetStringLength() == name.size() &&
                 std::memcmp(slots_[i]->name.GetString(), name.data(), name.size()) == 0)) {
            i = (i + 1) & mask;
            if (probes != nullptr) {
                ++*probes;
            }
        }
        return &slots_[i];
    }

    mutable std::vector<const member*> slots_;
};

/// Writes `v` at `p` in `dst`: a single-token path is added directly (the compiler has checked
/// that no two rules of one direction write the same path), deeper paths go through the
/// pointer.
void write(const path& p, rapidjson::Value& dst, rapidjson::Value& v, alloc_t& alloc) {
    if (p.ptr.GetTokenCount() == 1 && dst.IsObject()) {
        const auto& t = p.ptr.GetTokens()[0];
        dst.AddMember(rapidjson::Value(t.name, t.length, alloc), v, alloc);
        return;
    }
    p.ptr.Set(dst, v, alloc);
}

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
        std::vector<const rapidjson::Value*>& inputs,
        const rapidjson::Value& src,
        std::vector<rapidjson::Value>& outputs,
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
            rapidjson::Value v;
            v.CopyFrom(outputs[0], alloc);
            std::vector<const rapidjson::Value*> one{&v};
            std::vector<rapidjson::Value> result(1);
            if (!apply_transform(t, dir, one, &src, result, alloc, ctx, reason)) {
                return fail(t);
            }
            outputs[0] = result[0];
            return true;
        };
        if (dir == direction::out && !o.then.empty() && inputs.size() == 1) {
            // Outbound: the chain runs backwards on the single source, then the first.
            outputs[0].CopyFrom(*inputs[0], alloc);
            for (auto it = o.then.rbegin(); it != o.then.rend(); ++it) {
                if (!step(*it)) {
                    return false;
                }
            }
            rapidjson::Value first_input;
            first_input.CopyFrom(outputs[0], alloc);
            for (auto& out : outputs) {
                out.SetNull();
            }
            if (!present(&first_input)) {
                return true;
            }
            if (o.transform.kind == transform_kind::none) {
                outputs[0].CopyFrom(first_input, alloc);
                return true;
            }
            std::vector<const rapidjson::Value*> one{&first_input};
            return apply_transform(o.transform, dir, one, &src, outputs, alloc, ctx, reason)
                       ? true
                       : fail(o.transform);
        }
        if (o.transform.kind == transform_kind::none) {
            outputs[0].CopyFrom(*inputs[0], alloc);
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

    static std::string join(const std::string& prefix, const std::string& text) {
        return prefix + text;
    }

    /// Runs `ops` reading `src` and writing members of `dst` (an object).
    bool run(
        const std::vector<op>& ops,
        const rapidjson::Value& src,
        rapidjson::Value& dst,
        const std::string& cprefix,
        const std::string& sprefix,
        mapping_error& err
    ) const {
        const bool in = dir == direction::in;
        const member_index members(src);
        std::vector<const rapidjson::Value*> inputs;
        std::vector<rapidjson::Value> outputs;
        for (const auto& o : ops) {
            if (in ? !o.in : !o.out) {
                continue;
            }
            const auto& from = in ? o.system : o.canonical;
            const auto& to = in ? o.canonical : o.system;
            const lazy_name cfield{cprefix, o.canonical.empty() ? empty_text : o.canonical[0].text};
            const lazy_name sfield{sprefix, o.system.empty() ? empty_text : o.system[0].text};
            if (o.has_const) {
                rapidjson::Value c;
                c.CopyFrom(o.constant, alloc);
                write(to[0], dst, c, alloc);
                continue;
            }
            if (o.is_subform) {
                if (!run_rows(
                        o, src, members, dst, std::string(cfield), std::string(sfield), err
                    )) {
                    return false;
                }
                continue;
            }
            inputs.clear();
            bool any = false;
            for (const auto& p : from) {
                const auto* v = members.get(p, src);
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
                if (in) {
                    std::string reason;
                    bool unmapped = false;
                    if (!check_canonical_value(*o.fields[i], out, reason, unmapped)) {
                        err = error(
                            unmapped ? errc::unmapped_value : errc::mapping_failed,
                            join(cprefix, o.canonical[i].text),
                            sfield,
                            "value " + reason
                        );
                        return false;
                    }
                }
                write(to[i], dst, out, alloc);
            }
        }
        return true;
    }

    bool run_rows(
        const op& o,
        const rapidjson::Value& src,
        const member_index& members,
        rapidjson::Value& dst,
        const std::string& cfield,
        const std::string& sfield,
        mapping_error& err
    ) const {
        const bool in = dir == direction::in;
        const auto& from = in ? o.system[0] : o.canonical[0];
        const auto& to = in ? o.canonical[0] : o.system[0];
        // Inbound from the record itself: one row built from the whole record.
        if (in && o.rows_from_root) {
            rapidjson::Value row(rapidjson::kObjectType);
            if (!run(o.rows, src, row, cfield + "/0", "", err)) {
                return false;
            }
            if (row.MemberCount() > 0) {
                rapidjson::Value rows(rapidjson::kArrayType);
                rows.PushBack(row, alloc);
                write(to, dst, rows, alloc);
            } else if (o.required) {
                err = error(errc::mapping_failed, cfield, sfield, "required subform has no row");
                return false;
            }
            return true;
        }
        const auto* rows_in = members.get(from, src);
        if (!present(rows_in)) {
            if (o.required) {
                err = error(errc::mapping_failed, cfield, sfield, "required subform is missing");
                return false;
            }
            return true;
        }
        if (!rows_in->IsArray()) {
            err = error(errc::mapping_failed, cfield, sfield, "subform is not a list of rows");
            return false;
        }
        // Outbound onto the record itself: the canonical record carries exactly one row.
        if (!in && o.rows_from_root) {
            if (rows_in->Size() != 1) {
                err = error(
                    errc::mapping_failed,
                    cfield,
                    sfield,
                    "subform must hold exactly one row for this mapping"
                );
                return false;
            }
            if (!(*rows_in)[0].IsObject()) {
                err = error(errc::mapping_failed, cfield + "/0", sfield, "row is not an object");
                return false;
            }
            return run(o.rows, (*rows_in)[0], dst, cfield + "/0", "", err);
        }
        rapidjson::Value rows(rapidjson::kArrayType);
        for (rapidjson::SizeType i = 0; i < rows_in->Size(); ++i) {
            const auto& row_in = (*rows_in)[i];
            const auto idx = "/" + std::to_string(i);
            if (!row_in.IsObject()) {
                err =
                    error(errc::mapping_failed, cfield + idx, sfield + idx, "row is not an object");
                return false;
            }
            rapidjson::Value row(rapidjson::kObjectType);
            if (!run(
                    o.rows,
                    row_in,
                    row,
                    in ? cfield + idx : cfield + idx,
                    in ? sfield + idx : sfield + idx,
                    err
                )) {
                return false;
            }
            rows.PushBack(row, alloc);
        }
        if (!rows.Empty()) {
            write(to, dst, rows, alloc);
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
        if (!r.run(p.ops, norm, out, "", "", err)) {
            return err;
        }
        return out;
    }
    if (!r.run(p.ops, record, out, "", "", err)) {
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
    if (!r.run(p.ops, canonical, out, "", "", err)) {
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
