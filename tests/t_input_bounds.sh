#!/usr/bin/env bash
# Bounded sweep input (issue 17, item 9; docs/reliability.md "Bounded sweep input"): what is
# not a regular file, a file over the size cap, nesting deeper than the cap, a mapping with
# too many keys, very long value and seed lists each end promptly (under `timeout`, no timing measured) with exit 2 and a message
# naming the file; a `name:` that would leave results/ writes nothing.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/e2e/lib.sh"

# expect_error NAME PATTERN SECONDS ARGS...: clsweep ARGS exits 2 within SECONDS and its
# message matches PATTERN.
expect_error() {
    local name=$1 pat=$2 secs=$3; shift 3
    timeout -k 5 "$secs" "$CLSWEEP" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$?
    if [ $rc -eq 2 ] && grep -qE -- "$pat" "$TMP/err"; then ok "$name"
    else notok "$name (exit $rc, $(head -c 300 "$TMP/err"))"; fi
}

mkfifo "$TMP/fifo"
expect_error "a FIFO as the sweep file: refused at once (no wait for a writer)" \
    "fifo: the sweep file is a FIFO" 20 expand "$TMP/fifo"
expect_error "... also by clsweep run" "the sweep file is a FIFO" 30 run "$TMP/fifo" --output "$TMP/f.nc"
expect_error "/dev/zero: refused, memory does not grow" "/dev/zero: the sweep file is a device" 20 \
    expand /dev/zero
expect_error "a directory" "the sweep file is a directory" 20 expand "$TMP"
truncate -s 17M "$TMP/big.yaml"
expect_error "a 17 MiB file: over the 16 MiB cap" "limited to 16 MiB" 20 expand "$TMP/big.yaml"

# 100,000 '[': the depth cap stops the parser at level 65, with file:line:column.
{ printf 'benchmark: split_mnist\nmodels: [ewc]\ngrid:\n  ewc.lambda: '
  head -c 100000 /dev/zero | tr '\0' '['; echo; } >"$TMP/deep.yaml"
expect_error "100,000 nested '[': refused with file:line:column" \
    "deep.yaml:4:77: nesting deeper than 64 levels" 20 expand "$TMP/deep.yaml"
{ printf 'benchmark: split_mnist\n'; for i in $(seq 1 100); do printf '%*sk%d:\n' $((2 * i - 2)) '' "$i"; done; } \
    >"$TMP/deepmap.yaml"
expect_error "100 nested block mappings: refused" "deepmap.yaml:[0-9]+:[0-9]+: nesting deeper" 20 \
    expand "$TMP/deepmap.yaml"

# A 40,000-value explicit list and a 100,000-value one: accepted,
# each value kept once (duplicates are found with a hash set, not pairwise).
list_sweep() {  # list_sweep N FILE [EXTRA VALUE]
    { printf 'benchmark: split_mnist\nmodels: [ewc]\ngrid:\n  ewc.lambda: ['
      seq -s ', ' 1 "$1" | tr -d '\n'; [ -z "${3:-}" ] || printf ', %s' "$3"; echo ']'; } >"$2"
}
list_sweep 40000 "$TMP/l40k.yaml"
timeout -k 5 120 "$CLSWEEP" expand "$TMP/l40k.yaml" >"$TMP/l40k.out" 2>"$TMP/l40k.err"
check "a 40,000-value list expands (exit $?)" grep -q '^40000 runs' "$TMP/l40k.err"
list_sweep 100000 "$TMP/l100k.yaml"
timeout -k 5 300 "$CLSWEEP" expand "$TMP/l100k.yaml" >/dev/null 2>"$TMP/l100k.err"
check "a 100,000-value list expands (exit $?)" grep -q '^100000 runs' "$TMP/l100k.err"
list_sweep 40000 "$TMP/dup.yaml" 39999
expect_error "a repeat at the end of a 40,000-value list is found, with its location" \
    "dup.yaml:4:[0-9]+: value 39999 appears twice in the values of ewc.lambda" 120 expand "$TMP/dup.yaml"
# The per-axis cap is the run cap (10^6; it was 10^5): 100,001 values expand, a range of more
# than 10^6 values is refused with the reason.
list_sweep 100000 "$TMP/l100k1.yaml" 100001
timeout -k 5 300 "$CLSWEEP" expand "$TMP/l100k1.yaml" >/dev/null 2>"$TMP/l100k1.err"
check "a 100,001-value list expands (exit $?)" grep -q '^100001 runs' "$TMP/l100k1.err"
printf 'benchmark: split_mnist\nmodels: [ewc]\ngrid:\n  ewc.lambda: {range: [0, 1000001, 1]}\n' \
    >"$TMP/r1m.yaml"
expect_error "a range of 1,000,001 values: over the cap, which is explained" \
    "r1m.yaml:4:[0-9]+: range \\[0, 1e\\+06, 1\\] has more than 1000000 values \\(the most runs a sweep may expand to\\)" \
    20 expand "$TMP/r1m.yaml"

# 100,000 keys in one mapping: refused at key 1001 (the checks of a mapping are pairwise).
{ printf 'benchmark: split_mnist\nmodels: [ewc]\ndefaults:\n'; seq -f '  k%.0f: 1' 1 100000; } >"$TMP/keys.yaml"
expect_error "100,000 keys in one mapping: refused at the 1001st" \
    "keys.yaml:1004:3: more than 1000 keys in one mapping" 20 expand "$TMP/keys.yaml"
# 100,000 seeds listed (duplicates found by sorting, not pairwise); a repeat is located.
{ printf 'benchmark: split_mnist\nmodels: [ewc]\nseeds: ['; seq -s ', ' 0 99999 | tr -d '\n'; echo ']'; } \
    >"$TMP/seeds.yaml"
timeout -k 5 120 "$CLSWEEP" expand "$TMP/seeds.yaml" >/dev/null 2>"$TMP/seeds.err"
check "100,000 listed seeds expand (exit $?)" grep -q '^100000 runs' "$TMP/seeds.err"
sed -i 's/, 99999]/, 99999, 7]/' "$TMP/seeds.yaml"
expect_error "... and a repeated seed at the end of them is found, with its location" \
    "seeds.yaml:3:[0-9]+: seed 7 is listed twice" 120 expand "$TMP/seeds.yaml"

# name: with '/' or '..' never writes outside results/ (the sweep is refused first).
mkdir -p "$TMP/w/sub"
printf 'name: ../../escaped\nbenchmark: {name: teacher_student, blocks: 2, block_size: 50, batch: 50, test_size: 50}\nmodels: [finetune]\n' \
    >"$TMP/w/sub/n.yaml"
(cd "$TMP/w/sub" && timeout -k 5 60 "$CLSWEEP" run n.yaml >"$TMP/n.out" 2>"$TMP/n.err")
check "name: ../../escaped is refused with a location (exit $?)" \
    grep -q "n.yaml:1:7: name '../../escaped' cannot name the sweep" "$TMP/n.err"
check "... and nothing was written" test -z "$(find "$TMP/w" -newer "$TMP/w/sub/n.yaml" -type f)"
finish
