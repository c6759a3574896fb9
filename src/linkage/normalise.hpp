// Text normalisation and tokenisation for the linkage encoding: folding of case, punctuation
// and Latin diacritics (other scripts pass through as UTF-8), padded bigrams, date tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace casebridge::linkage {

/// Lower-cases ASCII, maps Latin-1 and Latin Extended-A letters to their base letters, drops
/// combining marks, turns ASCII punctuation and Unicode spaces/dashes into spaces, collapses
/// runs of spaces and trims. Other code points (Bengali, …) pass through; Bengali letters
/// with a precomposed nukta are decomposed so both spellings agree. Invalid UTF-8 bytes are
/// dropped.
std::string fold_text(std::string_view utf8);

/// The space-separated words of an already folded text.
std::vector<std::string> split_words(std::string_view folded);

/// Upper-case ASCII letters and digits only ("803-100000519" → "803100000519").
std::string normalise_code(std::string_view text);

/// A run of one Latin letter becomes one letter ("aa" → "a", "ss" → "s"): a long vowel
/// written doubled, a doubled consonant or a doubled key stroke read the same. Other text
/// (Bengali script, digits) is left as it is.
std::string collapse_repeats(std::string_view word);

/// Bigrams of `word` padded with '_' on both sides, by code point: "nur" → _n nu ur r_.
/// A one-letter word gives _x x_; an empty word gives nothing.
std::vector<std::string> padded_bigrams(std::string_view word);

/// Tokens of a "YYYY-MM-DD" date that survive the usual field errors:
///   "y:YYYY"                        exact year;
///   "ya:N", "yb:N"                  two-year buckets floor(y/2) and floor((y+1)/2), so a
///                                   year off by one still shares one token;
///   "md:LO-HI"                      month and day as an unordered pair, so a day/month swap
///                                   keeps it (left out when `estimated`: the day is made up).
/// Returns nothing when the text is not a date.
std::vector<std::string> date_tokens(std::string_view date, bool estimated);

/// Month and day "MM-DD" of a "YYYY-MM-DD" text, or "" when it is not a date.
std::string month_day(std::string_view date);

}  // namespace casebridge::linkage
