// Synthetic, realistic CPIMS+ cases for the Primero sandbox: names in Latin and Bengali
// script, ids in Primero's formats, consent and protection fields, subforms with unique_ids,
// and last_updated_at values with many same-second (and same-millisecond) ties.
// Deterministic by seed.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include <rapidjson/document.h>

namespace casebridge::sandbox {

/// A version-4-shaped UUID from `rng`.
std::string synthetic_uuid(std::mt19937_64& rng);

/// Calls `sink` with `count` cases, oldest `last_updated_at` first.
void generate_cases(
    std::uint64_t seed,
    std::size_t count,
    const std::string& owner,
    const std::function<void(rapidjson::Document)>& sink
);

}  // namespace casebridge::sandbox
