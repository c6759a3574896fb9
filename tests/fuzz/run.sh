#!/usr/bin/env bash
# Fuzzes one target for as long as asked, with its dictionary and seed corpus:
#
#   tests/fuzz/run.sh TARGET MINUTES [JOBS]
#
# Needs the fuzz preset's build (cmake --preset fuzz && cmake --build --preset fuzz). New
# inputs go to build/fuzz/corpus/TARGET (the seeds in tests/fuzz/corpus/TARGET are read, never
# written); a crash is written to build/fuzz/crashes/TARGET/ and ends the run: copy it into
# tests/fuzz/regressions/TARGET/ once fixed, so every test run replays it. Prints libFuzzer's
# final figures (runs, coverage, features, corpus size) and the edges covered.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ $# -lt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    echo "Targets: $(sed -n '/^set(CASEBRIDGE_FUZZ_TARGETS/,/)/p' "$here/CMakeLists.txt" \
        | tr -d '()' | sed 's/set CASEBRIDGE_FUZZ_TARGETS//' | tr -s ' \n' ' ')"
    [[ $# -lt 2 ]] && exit 2 || exit 0
fi
target="$1"
minutes="$2"
jobs="${3:-1}"
bin="$root/build/fuzz/tests/fuzz/fuzz_$target"
if [[ ! -x "$bin" ]]; then
    echo "run.sh: $bin is not built (cmake --preset fuzz && cmake --build --preset fuzz)" >&2
    exit 2
fi
if [[ ! -d "$here/corpus/$target" ]]; then
    echo "run.sh: no seed corpus at tests/fuzz/corpus/$target" >&2
    exit 2
fi
case "$target" in
    csv|dss_ack|dss_files|caseload_review|hub_review) dict="$here/dict/csv.dict" ;;
    hub_api|admin_api) dict="$here/dict/http.dict" ;;
    log_verify) dict="" ;;
    *) dict="$here/dict/json.dict" ;;
esac
work="$root/build/fuzz/corpus/$target"
crashes="$root/build/fuzz/crashes/$target"
mkdir -p "$work" "$crashes"
args=(-max_total_time=$((minutes * 60)) -print_final_stats=1 -rss_limit_mb=4096
      -max_len=65536 -timeout=30 -artifact_prefix="$crashes/")
[[ -n "$dict" ]] && args+=(-dict="$dict")
[[ "$jobs" -gt 1 ]] && args+=(-fork="$jobs")
[[ -d "$here/regressions/$target" ]] && regressions=("$here/regressions/$target") || regressions=()
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan-suppressions.txt}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$root/build/fuzz"
"$bin" "${args[@]}" "$work" "$here/corpus/$target" "${regressions[@]}"
