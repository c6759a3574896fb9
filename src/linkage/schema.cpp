#include "linkage/schema.hpp"

#include <cstdlib>
#include <set>
#include <string>

#include <rapidjson/pointer.h>

#include "json/json_schema.hpp"

namespace casebridge::linkage {
namespace {

// Structure; the semantic checks follow in from_document.
constexpr std::string_view schema_text = R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["linkage_schema_version", "variants", "filter", "fields", "identifiers", "lsh",
               "thresholds"],
  "definitions": {
    "pointer": {"type": "string", "pattern": "^/"}
  },
  "properties": {
    "linkage_schema_version": {"type": "integer", "minimum": 1},
    "description": {"type": "string"},
    "variants": {"type": "string", "minLength": 1},
    "filter": {
      "type": "object",
      "additionalProperties": false,
      "required": ["bits", "hashing", "hardening"],
      "properties": {
        "bits": {"type": "integer", "minimum": 64, "maximum": 65536},
        "hashing": {"enum": ["hmac-sha256-double", "hmac-sha256-random"]},
        "hardening": {"enum": ["none", "balance", "xor_fold"]}
      }
    },
    "fields": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "sources", "normalise", "tokens", "hashes"],
        "properties": {
          "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
          "description": {"type": "string"},
          "subform": {"$ref": "#/definitions/pointer"},
          "row_filter": {"$ref": "#/definitions/pointer"},
          "sources": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/pointer"}},
          "normalise": {"enum": ["name", "text", "code"]},
          "tokens": {"enum": ["bigrams", "exact", "date", "prefixes"]},
          "hashes": {"type": "integer", "minimum": 1, "maximum": 200},
          "collapse_repeats": {"type": "boolean"},
          "prefixes": {"type": "array", "minItems": 1,
                       "items": {"type": "integer", "minimum": 1, "maximum": 64}},
          "date_hashes": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "year": {"type": "integer", "minimum": 1, "maximum": 200},
              "two_year": {"type": "integer", "minimum": 1, "maximum": 200},
              "month_day": {"type": "integer", "minimum": 1, "maximum": 200}
            }
          },
          "estimated_flag": {"$ref": "#/definitions/pointer"},
          "estimated_days": {"type": "array",
                             "items": {"type": "string", "pattern": "^[0-9]{2}-[0-9]{2}$"}}
        }
      }
    },
    "identifiers": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "source", "agree", "disagree"],
        "properties": {
          "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
          "description": {"type": "string"},
          "source": {"$ref": "#/definitions/pointer"},
          "agree": {"type": "number", "minimum": 0, "maximum": 1},
          "disagree": {"type": "number", "minimum": -1, "maximum": 0},
          "candidates": {"type": "boolean"}
        }
      }
    },
    "lsh": {
      "type": "object",
      "additionalProperties": false,
      "required": ["bands", "bits_per_band", "seed"],
      "properties": {
        "bands": {"type": "integer", "minimum": 0, "maximum": 1024},
        "bits_per_band": {"type": "integer", "minimum": 1, "maximum": 64},
        "seed": {"type": "integer", "minimum": 0},
        "max_bucket": {"type": "integer", "minimum": 2}
      }
    },
    "similarity": {
      "type": "object",
      "additionalProperties": false,
      "required": ["measure"],
      "properties": {
        "measure": {"enum": ["dice", "frequency_weighted_dice"]},
        "prior_records": {"type": "number", "minimum": 1, "maximum": 1000000000}
      }
    },
    "thresholds": {
      "type": "object",
      "additionalProperties": false,
      "required": ["upper", "lower"],
      "properties": {
        "upper": {"type": "number"},
        "lower": {"type": "number"},
        "keep_margin": {"type": "number", "minimum": 0, "maximum": 0.5}
      }
    }
  }
})";

normalisation to_normalisation(std::string_view s) {
    if (s == "name") {
        return normalisation::name;
    }
    return s == "code" ? normalisation::code : normalisation::text;
}

tokenisation to_tokenisation(std::string_view s) {
    if (s == "exact") {
        return tokenisation::exact;
    }
    if (s == "date") {
        return tokenisation::date;
    }
    return s == "prefixes" ? tokenisation::prefixes : tokenisation::bigrams;
}

hardening to_hardening(std::string_view s) {
    if (s == "balance") {
        return hardening::balance;
    }
    return s == "xor_fold" ? hardening::xor_fold : hardening::none;
}

void check_pointer(
    const json::located_document& file,
    std::string_view origin,
    const std::string& where,
    const rapidjson::Value& v
) {
    const rapidjson::Pointer p(v.GetString(), v.GetStringLength());
    if (!p.IsValid()) {
        json::fail_at(file, origin, where, "not a valid JSON Pointer");
    }
}

}  // namespace

std::size_t linkage_schema::encoded_bits() const noexcept {
    switch (harden) {
        case hardening::balance:
            return filter_bits * 2;
        case hardening::xor_fold:
            return filter_bits / 2;
        case hardening::none:
            break;
    }
    return filter_bits;
}

linkage_schema linkage_schema::load(const std::filesystem::path& path) {
    const auto file = json::load_file(path);
    return from_document(file, path.string(), path.parent_path());
}

linkage_schema linkage_schema::from_document(
    const json::located_document& file,
    std::string_view origin,
    const std::filesystem::path& variants_dir
) {
    static const json::schema schema(schema_text, "linkage schema");
    schema.check_file(file, origin);
    const auto& doc = file.doc;
    linkage_schema out;
    out.version = doc["linkage_schema_version"].GetInt();

    const auto& filter = doc["filter"];
    out.filter_bits = filter["bits"].GetUint();
    out.harden = to_hardening(filter["hardening"].GetString());
    out.hash = std::string_view(filter["hashing"].GetString()) == "hmac-sha256-random"
                   ? hashing::random
                   : hashing::double_hash;
    const std::size_t unit = out.harden == hardening::xor_fold ? 128 : 64;
    if (out.filter_bits % unit != 0) {
        json::fail_at(
            file,
            origin,
            "/filter/bits",
            out.harden == hardening::xor_fold
                ? "must be a multiple of 128 (folded in half to whole 64-bit words)"
                : "must be a multiple of 64"
        );
    }

    std::set<std::string> names;
    const auto& fields = doc["fields"].GetArray();
    for (rapidjson::SizeType i = 0; i < fields.Size(); ++i) {
        const auto& f = fields[i];
        const std::string at = "/fields/" + std::to_string(i);
        field_spec spec;
        spec.name = f["name"].GetString();
        if (!names.insert("field:" + spec.name).second) {
            json::fail_at(file, origin, at + "/name", "a field of this name is already listed");
        }
        if (f.HasMember("subform")) {
            check_pointer(file, origin, at + "/subform", f["subform"]);
            spec.subform = f["subform"].GetString();
        }
        if (f.HasMember("row_filter")) {
            if (spec.subform.empty()) {
                json::fail_at(file, origin, at + "/row_filter", "row_filter needs a subform");
            }
            check_pointer(file, origin, at + "/row_filter", f["row_filter"]);
            spec.row_filter = f["row_filter"].GetString();
        }
        const auto& sources = f["sources"].GetArray();
        for (rapidjson::SizeType s = 0; s < sources.Size(); ++s) {
            check_pointer(file, origin, at + "/sources/" + std::to_string(s), sources[s]);
            spec.sources.emplace_back(sources[s].GetString());
        }
        spec.norm = to_normalisation(f["normalise"].GetString());
        spec.tokens = to_tokenisation(f["tokens"].GetString());
        spec.hashes = f["hashes"].GetUint();
        if (spec.tokens == tokenisation::prefixes) {
            if (!f.HasMember("prefixes")) {
                json::fail_at(file, origin, at, "tokens \"prefixes\" needs a prefixes list");
            }
            for (const auto& p : f["prefixes"].GetArray()) {
                spec.prefixes.push_back(p.GetUint());
            }
        } else if (f.HasMember("prefixes")) {
            json::fail_at(file, origin, at + "/prefixes", "only for tokens \"prefixes\"");
        }
        if (f.HasMember("collapse_repeats")) {
            if (spec.norm == normalisation::code) {
                json::fail_at(
                    file, origin, at + "/collapse_repeats", "only for \"name\" or \"text\""
                );
            }
            spec.collapse_repeats = f["collapse_repeats"].GetBool();
        }
        if (spec.tokens == tokenisation::date && spec.norm != normalisation::text) {
            json::fail_at(file, origin, at + "/normalise", "a date field takes \"text\"");
        }
        for (const char* key : {"estimated_flag", "estimated_days", "date_hashes"}) {
            if (f.HasMember(key) && spec.tokens != tokenisation::date) {
                json::fail_at(file, origin, at + "/" + key, "only for tokens \"date\"");
            }
        }
        if (f.HasMember("estimated_flag")) {
            check_pointer(file, origin, at + "/estimated_flag", f["estimated_flag"]);
            spec.estimated_flag = f["estimated_flag"].GetString();
        }
        if (f.HasMember("date_hashes")) {
            const auto& h = f["date_hashes"];
            const auto get = [&](const char* kind) {
                return h.HasMember(kind) ? h[kind].GetUint() : spec.hashes;
            };
            spec.year_hashes = get("year");
            spec.two_year_hashes = get("two_year");
            spec.month_day_hashes = get("month_day");
        }
        if (f.HasMember("estimated_days")) {
            for (const auto& d : f["estimated_days"].GetArray()) {
                spec.estimated_days.emplace_back(d.GetString());
            }
        }
        out.fields.push_back(std::move(spec));
    }

    const auto& ids = doc["identifiers"].GetArray();
    for (rapidjson::SizeType i = 0; i < ids.Size(); ++i) {
        const auto& v = ids[i];
        const std::string at = "/identifiers/" + std::to_string(i);
        identifier_spec spec;
        spec.name = v["name"].GetString();
        if (!names.insert("id:" + spec.name).second) {
            json::fail_at(
                file, origin, at + "/name", "an identifier of this name is already listed"
            );
        }
        check_pointer(file, origin, at + "/source", v["source"]);
        spec.source = v["source"].GetString();
        spec.agree = v["agree"].GetDouble();
        spec.disagree = v["disagree"].GetDouble();
        if (v.HasMember("candidates")) {
            spec.candidates = v["candidates"].GetBool();
        }
        out.identifiers.push_back(std::move(spec));
    }

    const auto& lsh = doc["lsh"];
    out.lsh.bands = lsh["bands"].GetUint();
    out.lsh.bits_per_band = lsh["bits_per_band"].GetUint();
    out.lsh.seed = lsh["seed"].GetUint64();
    if (lsh.HasMember("max_bucket")) {
        out.lsh.max_bucket = lsh["max_bucket"].GetUint();
    }
    if (out.lsh.bits_per_band > out.encoded_bits()) {
        json::fail_at(file, origin, "/lsh/bits_per_band", "more bits than the encoding has");
    }

    if (doc.HasMember("similarity")) {
        const auto& sim = doc["similarity"];
        out.similarity.measure =
            std::string_view(sim["measure"].GetString()) == "frequency_weighted_dice"
                ? similarity::frequency_weighted_dice
                : similarity::dice;
        if (sim.HasMember("prior_records")) {
            out.similarity.prior_records = sim["prior_records"].GetDouble();
        }
    }

    out.thresholds.upper = doc["thresholds"]["upper"].GetDouble();
    out.thresholds.lower = doc["thresholds"]["lower"].GetDouble();
    if (out.thresholds.lower > out.thresholds.upper) {
        json::fail_at(file, origin, "/thresholds/lower", "must not be above upper");
    }
    if (doc["thresholds"].HasMember("keep_margin")) {
        out.thresholds.keep_margin = doc["thresholds"]["keep_margin"].GetDouble();
        if (out.thresholds.upper - out.thresholds.keep_margin < out.thresholds.lower) {
            json::fail_at(
                file,
                origin,
                "/thresholds/keep_margin",
                "must not take upper below lower (a kept link would be weaker than a review item)"
            );
        }
    }

    const std::filesystem::path variants_file = doc["variants"].GetString();
    const auto variants_path =
        variants_file.is_absolute() ? variants_file : variants_dir / variants_file;
    if (!std::filesystem::exists(variants_path)) {
        json::fail_at(
            file,
            origin,
            "/variants",
            "the variant table file does not exist",
            errc::file_unreadable
        );
    }
    out.variants = variant_table::load(variants_path);
    return out;
}

std::filesystem::path linkage_schema::default_path() {
    if (const char* env = std::getenv("CASEBRIDGE_LINKAGE_SCHEMA"); env != nullptr && *env != 0) {
        return env;
    }
    return std::filesystem::path("mappings") / "linkage" / "linkage-schema.json";
}

}  // namespace casebridge::linkage
