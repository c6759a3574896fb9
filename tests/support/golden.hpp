// Golden-file comparison: canonical JSON, the first differing JSON Pointer on mismatch,
// CASEBRIDGE_UPDATE_GOLDEN=1 rewrites the expected file.
#pragma once

#include <filesystem>
#include <string>

#include <rapidjson/document.h>

namespace casebridge::test {

/// The JSON Pointer of the first place where `a` and `b` differ, or nullopt-like "" when they
/// are equal (the root is reported as "/").
std::string first_difference(const rapidjson::Value& a, const rapidjson::Value& b);

/// Compares `actual` with the JSON in `expected_path`. Returns "" when equal; otherwise writes
/// `<case>.actual.json` beside it and returns a message naming the first differing pointer.
/// With CASEBRIDGE_UPDATE_GOLDEN=1 it rewrites the expected file and returns "".
std::string compare_golden(
    const rapidjson::Value& actual, const std::filesystem::path& expected_path
);

}  // namespace casebridge::test
