#!/usr/bin/env bash
# tests/fuzz/run.sh FUZZ_BUILD SECONDS [NAME...] — `make fuzz`: runs each libFuzzer harness
# (default: every FUZZ_BUILD/fuzz/fuzz_*) for SECONDS on a scratch copy of its seed corpus
# tests/fuzz/corpus/<name>/ (the checked-in corpus is never modified), niced, one job.
# Crashes, leaks, timeouts and out-of-memory inputs are saved to FUZZ_BUILD/findings/<name>/.
# Prints one summary line per harness (executions, new coverage, findings); exits 1 when any
# harness found something.
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build-fuzz}
SECS=${2:-60}
shift 2 2>/dev/null || shift $#
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for b in "$BUILD"/fuzz/fuzz_*; do [ -x "$b" ] && names+=("$(basename "$b" | sed 's/^fuzz_//')"); done
fi
# Sanitizer settings: stop at the first UB report; leaks are findings too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for name in "${names[@]}"; do
    bin=$BUILD/fuzz/fuzz_$name
    [ -x "$bin" ] || { echo "fuzz: no harness $bin (make fuzz-build)"; status=1; continue; }
    work=$BUILD/fuzz-work/$name
    found=$BUILD/findings/$name
    rm -rf "$work"; mkdir -p "$work" "$found"
    [ -d tests/fuzz/corpus/$name ] && cp tests/fuzz/corpus/$name/* "$work"/ 2>/dev/null
    dict=(); [ -f tests/fuzz/$name.dict ] && dict=(-dict=tests/fuzz/$name.dict)
    log=$BUILD/fuzz-$name.log
    before=$(ls "$found" | wc -l)
    # -timeout: an input taking over 30 s is a hang (generous: on a loaded 2-core machine a
    # descheduled fsync once took 10 s for an input that replays in 12 ms); -rss_limit_mb: over 2 GiB is a finding.
    # -report_slow_units=30: the same threshold (fuzz_nc forks a checking child per read,
    # src/sweep/ncguard.c, and the child's sanitizer report on an input that crashes inside
    # libhdf5 is symbolized: 18 s under load for inputs that replay in 2.5 s).
    nice -n 10 "$bin" "$work" -max_total_time="$SECS" -timeout=30 -report_slow_units=30 -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$found/" ${dict[@]+"${dict[@]}"} >"$log" 2>&1
    rc=$?
    after=$(ls "$found" | wc -l)
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
    printf 'fuzz_%-8s %4ss  %9s execs  cov %5s  corpus %4d  findings %d  (log %s)\n' \
        "$name" "$SECS" "${execs:-?}" "${cov:-?}" "$(ls "$work" | wc -l)" $((after - before)) "$log"
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
        status=1
        grep -E 'ERROR|SUMMARY|runtime error|abort|Test unit written' "$log" | head -n 8 | sed 's/^/    /'
    fi
done
exit $status
