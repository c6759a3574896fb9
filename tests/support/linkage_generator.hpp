// The synthetic population of several agencies moved to the sandbox library
// (sandbox/population.hpp); this name stays for the tests and benchmarks that use it.
#pragma once

#include "sandbox/population.hpp"

namespace casebridge::test {
namespace linkage_gen = sandbox::population;
}  // namespace casebridge::test
