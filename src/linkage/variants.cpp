#include "linkage/variants.hpp"

#include <string>

#include "json/json_schema.hpp"
#include "linkage/normalise.hpp"

namespace casebridge::linkage {
namespace {

constexpr std::string_view variants_schema_text = R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["variants_version", "groups"],
  "properties": {
    "variants_version": {"type": "integer", "minimum": 1},
    "description": {"type": "string"},
    "groups": {
      "type": "array",
      "items": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}}
    }
  }
})";

}  // namespace

variant_table variant_table::load(const std::filesystem::path& path) {
    const auto file = json::load_file(path);
    return from_document(file, path.string());
}

variant_table variant_table::from_document(
    const json::located_document& file, std::string_view origin
) {
    static const json::schema schema(variants_schema_text, "linkage-variants schema");
    schema.check_file(file, origin);
    variant_table table;
    table.version_ = file.doc["variants_version"].GetInt();
    const auto& groups = file.doc["groups"].GetArray();
    for (rapidjson::SizeType g = 0; g < groups.Size(); ++g) {
        const auto& group = groups[g].GetArray();
        const std::string canonical = fold_text(group[0].GetString());
        for (rapidjson::SizeType w = 0; w < group.Size(); ++w) {
            const std::string pointer = "/groups/" + std::to_string(g) + "/" + std::to_string(w);
            // Stored as normalisation leaves it (Bengali nukta letters decomposed, …).
            const std::string word = fold_text(group[w].GetString());
            if (word.empty() || word.find(' ') != std::string::npos) {
                json::fail_at(
                    file,
                    origin,
                    pointer,
                    "a variant must be one word after normalisation (no spaces or punctuation "
                    "inside)"
                );
            }
            const auto [it, inserted] = table.canonical_.emplace(word, canonical);
            if (!inserted && it->second != canonical) {
                json::fail_at(file, origin, pointer, "this word is already in another group");
            }
            const auto [c, fresh] = table.collapsed_.emplace(collapse_repeats(word), canonical);
            if (!fresh && c->second != canonical) {
                c->second.clear();  // two groups meet here: ambiguous, fold to neither
            }
        }
    }
    return table;
}

std::string_view variant_table::fold_collapsed(std::string_view collapsed_word) const noexcept {
    const auto it = collapsed_.find(std::string(collapsed_word));
    return it == collapsed_.end() || it->second.empty() ? collapsed_word
                                                        : std::string_view(it->second);
}

std::string variant_table::fold_word(std::string_view word, bool collapse) const {
    std::string w(fold(word));
    if (!collapse) {
        return w;
    }
    if (w == word) {
        w = std::string(fold_collapsed(collapse_repeats(word)));
    }
    return collapse_repeats(w);
}

std::string_view variant_table::fold(std::string_view word) const noexcept {
    const auto it = canonical_.find(std::string(word));
    return it == canonical_.end() ? word : std::string_view(it->second);
}

}  // namespace casebridge::linkage
