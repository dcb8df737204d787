#!/usr/bin/env bash
# Issue 17 (bounded input): `exclude:` is indexed (src/sweep/exclude.c). 20,000 entries over
# a 200 x 200 grid (40,000 points) expand in about a second (the per-point loop over every
# entry took > 60 s); exactly the points no entry names are kept, numbers still compare with
# the relative tolerance, and zipped axes are matched at one position. The hang guard is
# generous (120 s): this is not a timing assertion.
source "$(dirname "$0")/e2e/lib.sh"

Y=$TMP/big.yaml
{
    echo "name: bigex"
    echo "benchmark: {name: teacher_student, blocks: 2, block_size: 10, batch: 5, test_size: 10}"
    echo "models: [ewc]"
    echo "seeds: 1"
    echo "grid:"
    printf '  train.lr: ['; seq -s ', ' 10001 10200 | sed 's/1\([0-9]*\)/0.\1/g'; echo ']'
    printf '  ewc.lambda: ['; seq -s ', ' 1 200; echo ']'
    echo "exclude:"
    # every point with i + j even: 20,000 entries
    awk 'BEGIN { for (i = 1; i <= 200; i++) for (j = 1; j <= 200; j++)
                     if ((i + j) % 2 == 0) printf "  - {train.lr: 0.%04d, ewc.lambda: %d}\n", i, j }'
} >"$Y"
check "the sweep file has 20,000 exclude entries" test "$(grep -c '^  - {' "$Y")" -eq 20000
t0=$(date +%s.%N)
timeout 120 "$CLSWEEP" expand "$Y" --swept >"$TMP/runs" 2>"$TMP/err"
rc=$?
t1=$(date +%s.%N)
echo "# expand with 20,000 exclude entries x 40,000 points: $(echo "$t1 - $t0" | bc) s (rc $rc)"
check "20,000 entries x 40,000 points expand within the hang guard (rc $rc)" test $rc -eq 0
check "20,000 of 40,000 points are kept" test "$(wc -l <"$TMP/runs")" -eq 20000
# lr 0.0i (i = 1..200, printed shortest) and lambda j; every kept point has i + j odd
sed -n 's/.*ewc\.lambda=\([0-9]*\) train\.lr=\([0-9.e-]*\).*/\2 \1/p' "$TMP/runs" >"$TMP/ij"
bad=$(awk '{ i = int($1 * 10000 + 0.5); if ((i + $2) % 2 == 0) n++ } END { print n + 0 }' "$TMP/ij")
parsed=$(wc -l <"$TMP/ij")
check "no kept point is named by an entry ($bad of $parsed)" test "$bad" -eq 0 -a "$parsed" -eq 20000

# Semantics kept: a number within the relative tolerance (1e-9) matches; a zip is matched
# at one position; an entry that can never match is still a located error.
cat >"$TMP/tol.yaml" <<'YAML'
name: tol
benchmark: {name: teacher_student, blocks: 2, block_size: 10, batch: 5, test_size: 10}
models: [ewc]
grid:
  train.lr: [0.1, 0.2, 0.3]
zip:
  - {ewc.lambda: [1, 2, 3], ewc.gamma: [0.5, 0.6, 0.7]}
exclude:
  - {train.lr: 0.1000000000001}
  - {ewc.lambda: 2, ewc.gamma: 0.6, train.lr: 0.2}
YAML
"$CLSWEEP" expand "$TMP/tol.yaml" --swept >"$TMP/tol.runs" 2>"$TMP/tol.err"
check "tolerance and zip: expand succeeds" test $? -eq 0
check "tolerance and zip: 9 - 3 - 1 = 5 points kept" test "$(wc -l <"$TMP/tol.runs")" -eq 5
check "tolerance: no point with lr 0.1 is kept" bash -c "! grep -q 'train.lr=0.1\$' '$TMP/tol.runs'"
check "zip: (lr 0.2, lambda 2, gamma 0.6) is excluded" \
    bash -c "! grep -q 'ewc.lambda=2 train.lr=0.2$' '$TMP/tol.runs' && grep -q 'ewc.lambda=2 train.lr=0.3$' '$TMP/tol.runs'"
sed 's/ewc.gamma: 0.6, /ewc.gamma: 0.7, /' "$TMP/tol.yaml" >"$TMP/never.yaml"
"$CLSWEEP" expand "$TMP/never.yaml" >/dev/null 2>"$TMP/never.err"
check "an entry whose zipped values never meet: exit 2" test $? -eq 2
check "... with a located message" grep -q "never.yaml:10:5: .*exclude entry can never match: ewc.lambda: 2, ewc.gamma: 0.7" "$TMP/never.err"
finish
