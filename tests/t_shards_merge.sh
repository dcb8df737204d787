#!/usr/bin/env bash
# Job-array mode without SLURM: three --shard I/3 runs of the tiny sweep, merged with
# `clsweep merge`, equal the file of one MPI run; the merge's error cases. Then the result
# files' round trips with array extras (resume from the .nc alone, merge), and malformed,
# foreign and linked files at the output path (status, merge, resume: exit 2, nothing
# overwritten).
source "$(dirname "$0")/e2e/lib.sh"

$MPIRUN -np 2 "$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/mpi.nc" --quiet ||
    notok "reference MPI sweep"

for i in 0 1 2; do
    "$CLSWEEP" run tests/e2e/tiny.yaml --shard "$i/3" --output "$TMP/part$i.nc" --quiet ||
        notok "shard $i/3 exits 0"
done
n=$("$PY" -c "import sys, xarray as x; print(sum(x.open_dataset(p).sizes['run'] for p in sys.argv[1:]))" \
    "$TMP"/part{0,1,2}.nc)
check "the three shards hold 12 runs between them ($n)" test "$n" -eq 12

"$CLSWEEP" merge "$TMP/merged.nc" "$TMP"/part{2,0,1}.nc 2>"$TMP/merge.err"
check "merge of three shards exits 0" test $? -eq 0
check "merge reports 12 of 12 runs" grep -q "12 of 12 runs from 3 part(s)" "$TMP/merge.err"
check "merged file equals the MPI run's file" nc_equal "$TMP/mpi.nc" "$TMP/merged.nc"
check "merged file has the tiny sweep's schema and values" "$PY" tests/e2e/check_tiny.py "$TMP/merged.nc"

"$CLSWEEP" merge --sweep tests/e2e/tiny.yaml "$TMP/merged2.nc" "$TMP"/part{0,1,2}.nc 2>/dev/null
check "merge with an explicit --sweep equals it too" nc_equal "$TMP/mpi.nc" "$TMP/merged2.nc"

"$CLSWEEP" merge "$TMP/merged.nc" "$TMP/part0.nc" 2>"$TMP/exists.err"
check "merge refuses to overwrite an existing file without --force" \
    grep -q -- "--force" "$TMP/exists.err"

# A missing shard: exit 3, a valid partial file, and `clsweep run` completes it.
"$CLSWEEP" merge "$TMP/partial.nc" "$TMP"/part{0,1}.nc "$TMP/part0.nc" 2>"$TMP/partial.err"
check "merge with a shard missing exits 3" test $? -eq 3
check "merge names the missing runs" grep -q "4 run(s) MISSING" "$TMP/partial.err"
check "duplicate identical results are accepted" grep -q "4 duplicate(s)" "$TMP/partial.err"
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/partial.nc" 2>"$TMP/resume.err"
check "clsweep run resumes the partial merge (8 already done)" grep -q "8 already done" "$TMP/resume.err"
check "resumed partial merge equals the MPI run's file" nc_equal "$TMP/mpi.nc" "$TMP/partial.nc"

# Conflicting results for one run id: an error, and the output is not written.
# (nccopy first: the file as clsweep writes it does not reopen for appending)
nccopy "$TMP/part1.nc" "$TMP/bad1.nc"
"$PY" - "$TMP/bad1.nc" <<'PYEOF'
import sys, netCDF4
with netCDF4.Dataset(sys.argv[1], "a") as d:
    d["acc"][0] = d["acc"][0] + 0.125
PYEOF
"$CLSWEEP" merge "$TMP/conflict.nc" "$TMP"/part{0,1,2}.nc "$TMP/bad1.nc" 2>"$TMP/conflict.err"
check "conflicting results for a run id: exit 2" test $? -eq 2
check "conflict message names both files" grep -q "conflicting results in .*part1.nc and .*bad1.nc" "$TMP/conflict.err"
check "no output written on a conflict" test ! -e "$TMP/conflict.nc"

# Parts of different sweeps, and a file that is not a clsweep result.
"$CLSWEEP" run tests/e2e/diverge.yaml --output "$TMP/other.nc" --quiet
"$CLSWEEP" merge "$TMP/mixed.nc" "$TMP/part0.nc" "$TMP/other.nc" 2>"$TMP/mixed.err"
check "parts of different sweeps: exit 2" test $? -eq 2
check "different sweeps: message suggests --sweep" grep -q "different sweeps" "$TMP/mixed.err"
"$PY" -c "import sys, xarray as x; x.Dataset({'a': ('r', [1.0])}).to_netcdf(sys.argv[1])" "$TMP/foreign.nc"
"$CLSWEEP" merge "$TMP/foreign-out.nc" "$TMP/foreign.nc" 2>"$TMP/foreign.err"
check "a non-clsweep part: exit 2" test $? -eq 2
check "a non-clsweep part: clear message" grep -q "not a clsweep results file" "$TMP/foreign.err"

# Round trips with array extras (ws_* over stage x ws_component, ws_point; issue 17 item 6):
# resume from the .nc alone and a merge of shards reproduce the file exactly.
"$CLSWEEP" run tests/e2e/weightspace.yaml --output "$TMP/ws.nc" --quiet || notok "weightspace sweep"
cp "$TMP/ws.nc" "$TMP/ws-copy.nc"
"$CLSWEEP" run tests/e2e/weightspace.yaml --output "$TMP/ws-copy.nc" --quiet
check "resume from the .nc alone (array extras) rewrites the same file" nc_equal "$TMP/ws.nc" "$TMP/ws-copy.nc"
for i in 0 1; do
    "$CLSWEEP" run tests/e2e/weightspace.yaml --shard "$i/2" --output "$TMP/wspart$i.nc" --quiet
done
"$CLSWEEP" merge "$TMP/ws-merged.nc" "$TMP"/wspart{1,0}.nc 2>/dev/null
check "merge of shards with array extras equals the unsharded file" nc_equal "$TMP/ws.nc" "$TMP/ws-merged.nc"

# Malformed files with clsweep's title (issue 17 item 4): status, merge and resume refuse
# them with a message naming the file, exit 2, no crash.
for kind in run_id_2d R_4d acc_float huge_run task_huge; do
    bad=$TMP/bad-$kind.nc
    "$BUILD/tests/test_ncsafety" --write-malformed $kind "$bad" || notok "write $kind"
    "$CLSWEEP" status "$bad" >/dev/null 2>"$TMP/bad.err"
    check "malformed ($kind): status exits 2 naming the file" \
        bash -c '[ $0 -eq 2 ] && grep -q "$1" "$2"' $? "$bad" "$TMP/bad.err"
    "$CLSWEEP" merge "$TMP/bad-out.nc" "$bad" --sweep tests/e2e/tiny.yaml 2>"$TMP/bad.err"
    check "malformed ($kind): merge exits 2, nothing written" \
        bash -c '[ $0 -eq 2 ] && [ ! -e "$1" ]' $? "$TMP/bad-out.nc"
    cp "$bad" "$TMP/bad-copy.nc"
    "$CLSWEEP" run tests/e2e/tiny.yaml --output "$bad" --quiet 2>"$TMP/bad.err"
    check "malformed ($kind): resume exits 2, the file untouched" \
        bash -c '[ $0 -eq 2 ] && cmp -s "$1" "$2"' $? "$bad" "$TMP/bad-copy.nc"
done

# A foreign file at the output path, with an (empty) journal next to it (item 5), and a
# symbolic link at the output path (item 2): refused, nothing written through or over.
echo "someone else's notes" >"$TMP/foreign-out.txt"
: >"$TMP/foreign-out.txt.journal"
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/foreign-out.txt" --quiet 2>"$TMP/fo.err"
check "foreign output file with a journal: exit 2" test $? -eq 2
check "  ... the message says why" grep -q "refusing to overwrite" "$TMP/fo.err"
check "  ... the file is untouched" grep -qx "someone else's notes" "$TMP/foreign-out.txt"
echo "precious" >"$TMP/victim.txt"
ln -s "$TMP/victim.txt" "$TMP/link.nc"
"$CLSWEEP" merge --force "$TMP/link.nc" "$TMP"/part{0,1,2}.nc 2>"$TMP/link.err"
check "merge onto a symbolic link: exit 2, the target untouched" \
    bash -c '[ $0 -eq 2 ] && grep -qx precious "$1"' $? "$TMP/victim.txt"
finish
