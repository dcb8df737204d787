#!/usr/bin/env bash
# End to end: the weight-space analysis (docs/weightspace.md).
# - test_pca under mpirun -np 2: ScaLAPACK == LAPACK on 1x1, 1x2 and 2x1 grids;
# - the weightspace sweep with ranks_per_run 1 and 2, on one process and on world sizes 3
#   and 4 (3 workers in groups of 2: a leftover rank): the analysis extras land in the
#   NetCDF file and agree across group sizes, the leftover group is reported, the matrices
#   never reach the journal, and nothing hangs (every launch runs under timeout).
# The figures of analysis/plot_weightspace are tested in tests/test_plot_weightspace.py.
source "$(dirname "$0")/e2e/lib.sh"
T="timeout 120"
SW=tests/e2e/weightspace.yaml

$T $MPIRUN -np 2 "$BUILD/tests/test_pca" >"$TMP/test_pca.out" 2>&1
rc=$?
sed 's/^/#   /' "$TMP/test_pca.out" | grep -E "grid|not ok" | head -20
check "test_pca under mpirun -np 2 exits 0 (rc $rc)" test $rc -eq 0
for g in 1x1 1x2 2x1; do
    check "ScaLAPACK == LAPACK on a $g grid" grep -qx "ok - test_scalapack_equals_lapack_grid_$g" "$TMP/test_pca.out"
done

sweep() {  # sweep NAME RANKS_PER_RUN [mpirun args...]: runs the sweep into $TMP/NAME.nc
    local name=$1 k=$2; shift 2
    sed "s/^ranks_per_run: 1/ranks_per_run: $k/" $SW >"$TMP/$name.yaml"
    $T "$@" "$CLSWEEP" run "$TMP/$name.yaml" --output "$TMP/$name.nc" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    check "$name: finishes in time with exit 0 (rc $rc)" test $rc -eq 0
    [ $rc -eq 0 ] || tail -n 5 "$TMP/$name.err" | sed 's/^/#   /'
}

sweep solo 1
sweep np3k1 1 $MPIRUN -np 3
sweep np3k2 2 $MPIRUN -np 3
sweep np4k2 2 $MPIRUN -np 4
check "np 3, ranks_per_run 2: no leftover reported" bash -c "! grep -q 'last group' '$TMP/np3k2.err'"
check "np 4, ranks_per_run 2: the leftover group is reported" grep -q "the last group has 1 rank(s)" "$TMP/np4k2.err"
"$PY" tests/e2e/check_weightspace.py \
    "solo: extras in the NetCDF file, separation as predicted=$TMP/solo.nc=1" \
    "np 3, ranks_per_run 1: same analysis as one process=$TMP/np3k1.nc=1" \
    "np 3, ranks_per_run 2: every run analysed on a 2-rank grid, same results=$TMP/np3k2.nc=2" \
    "np 4, ranks_per_run 2: groups of 2 and 1, same results=$TMP/np4k2.nc=1,2" || FAILED=1

# One process asked for groups of 2; wide matrices (400 x 1024 floats = 1.6 MB per stage)
# must stay out of the journal and the NetCDF file.
sed -e "s/^ranks_per_run: 1/ranks_per_run: 2/" -e "s/crashtest.ws_dim: 4/crashtest.ws_dim: 1024/" \
    -e "s/analysis.samples_per_task: 400/analysis.samples_per_task: 200/" $SW >"$TMP/wide.yaml"
$T "$CLSWEEP" run "$TMP/wide.yaml" --output "$TMP/wide.nc" 2>"$TMP/wide.err"
check "wide, one process, ranks_per_run 2: exits 0" test $? -eq 0
check "wide: one process with ranks_per_run 2 is reported" grep -q "one process only" "$TMP/wide.err"
jsize=$(stat -c %s "$TMP/wide.nc.journal" 2>/dev/null || echo 0)
nsize=$(stat -c %s "$TMP/wide.nc" 2>/dev/null || echo 0)
check "wide: journal ($jsize B) and NetCDF ($nsize B) carry no matrices (10 x 1.6 MB analysed)" \
    test "$jsize" -gt 0 -a "$jsize" -lt 200000 -a "$nsize" -lt 400000
finish
