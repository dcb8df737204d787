#!/usr/bin/env bash
# tests/t_cases_alone.sh BUILD_DIR — order independence: runs every case of the C test
# binaries alone (`test_x CASE`, see tests/test.h), one process per case, so no case can lean
# on state an earlier case left behind. A case that fails alone is "not ok"; one that skips
# alone (data absent) is reported as skipped.
# By default only the binaries that take seconds run (the model binaries train small models
# and take minutes, alone once more per case); CASES_ALONE_ALL=1 runs every binary.
source "$(dirname "$0")/e2e/lib.sh"
SLOW="test_ewgn test_hsf test_models test_pah"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ -z "${CASES_ALONE_ALL:-}" ] && [[ " $SLOW " == *" $name "* ]]; then
        echo "ok - $name cases alone # SKIP slow binary (CASES_ALONE_ALL=1 runs it)"
        continue
    fi
    cases=$("$t" --list 2>/dev/null | grep -E '^[A-Za-z_][A-Za-z_0-9]*$')
    if [ -z "$cases" ]; then
        notok "$name --list printed no case"
        continue
    fi
    for c in $cases; do
        out=$("$t" "$c" 2>&1)
        rc=$?
        line=$(printf '%s\n' "$out" | grep -E "^(not ok|ok) - $c( |$)" | tail -n 1)
        if [ $rc -ne 0 ] || [ -z "$line" ] || [[ "$line" == "not ok"* ]]; then
            notok "$name $c alone (exit $rc)"
            printf '%s\n' "$out" | grep -E '^(not ok|#)' | tail -n 10
        elif [[ "$line" == *"# SKIP"* ]]; then
            echo "ok - $name $c alone # SKIP ${line#*# SKIP }"
        else
            echo "ok - $name $c alone"
        fi
    done
done
# An unknown case name is a failure, not an empty pass.
if "$BUILD/tests/test_metrics" no_such_case >/dev/null 2>&1; then
    notok "an unknown case name exits 0"
else
    ok "an unknown case name fails"
fi
finish
