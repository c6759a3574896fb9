#!/bin/sh
# Runs the crash, fault and shutdown drills longer than the test suite does.
#   tests/drills/run-drill.sh [BUILD_DIR] [KILLS] [CASES]
# e.g. tests/drills/run-drill.sh build/release 200 20000
# Each drill prints its figures (cases, kills or faults, duplicates, lost, time).
set -eu
build=${1:-build/release}
export CASEBRIDGE_DRILL_KILLS=${2:-100}
export CASEBRIDGE_DRILL_CASES=${3:-10000}
exec "$build/tests/casebridge_drills"
