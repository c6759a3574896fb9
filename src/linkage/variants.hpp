// Regional spelling variants of name words (Mohammad/Muhammad/Md., Nur/Noor, …), kept as data
// (mappings/linkage/linkage-variants.json) and folded to one form before names are tokenised.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include "json/json.hpp"

namespace casebridge::linkage {

/// Maps a normalised word to its group's canonical form.
class variant_table {
public:
    /// Loads a variant file. Throws json::file_error naming file, line, column and pointer
    /// (an empty group, a word in two groups, a word that normalisation would change).
    static variant_table load(const std::filesystem::path& path);
    static variant_table from_document(const json::located_document& file, std::string_view origin);

    /// The canonical form of `word` (already normalised), or `word` itself.
    std::string_view fold(std::string_view word) const noexcept;
    /// The canonical form of a word whose repeated letters were collapsed (collapse_repeats):
    /// "nor" (from "Noor" or "Noorr") finds "nur". A collapsed form two groups share finds
    /// neither; a word found nowhere is returned as it is.
    std::string_view fold_collapsed(std::string_view collapsed_word) const noexcept;
    /// A name word as the encoder reads it: fold(); with `collapse`, a word the table does not
    /// hold is tried again collapsed (fold_collapsed), and the result's repeats collapsed.
    std::string fold_word(std::string_view word, bool collapse) const;
    std::size_t size() const noexcept { return canonical_.size(); }
    int version() const noexcept { return version_; }

private:
    int version_ = 0;
    std::unordered_map<std::string, std::string> canonical_;
    std::unordered_map<std::string, std::string> collapsed_;  // "" marks a shared form
};

}  // namespace casebridge::linkage
