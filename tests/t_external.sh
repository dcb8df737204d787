#!/usr/bin/env bash
# External-program models (programs: in a sweep, issue 19): a stdlib-only Python program runs
# next to a built-in model with one process and under mpirun -np 3; its R rows and metrics
# land in the NetCDF file; a crashing, hanging, garbage-printing, wrong-shape and NaN program
# each fail cleanly while the other runs finish; a rerun is bit-identical; a SIGKILLed sweep
# resumes to the same file; editing the program changes its run ids.
source "$(dirname "$0")/e2e/lib.sh"
export CLSWEEP_STREAM_CACHE=$TMP/streams

verify() {
    "$PY" - "$1" <<'PYEOF'
import sys, math, xarray as xr
ds = xr.open_dataset(sys.argv[1])
got = {}
for i in range(len(ds.model)):
    m = str(ds.model.values[i])
    key = str(ds.prior__mode.values[i]) if m == "prior" else m
    got[key] = (str(ds.status.values[i]), str(ds.message.values[i]), i)
want = {"finetune": ("ok", ""), "ok": ("ok", ""), "crash": ("failed", "stage 1 (task 2-3): the program exited with status 3"),
        "hang": ("failed", "stage 1 (task 2-3): the program ran into the run's time limit"), "garbage": ("failed", "stage 1 (task 2-3): report line"),
        "shape": ("failed", "expected 5 task metrics"), "nan": ("diverged", "non-finite")}
bad = [k for k, (st, frag) in want.items() if k not in got or got[k][0] != st or frag not in got[k][1]]
for k in bad:
    print("unexpected:", k, got.get(k), "want", want[k])
# The ok program predicts the most frequent label seen: after stage s, the metric of every
# task is the share of that label in the task's test set; ACC is clsweep's mean of the last row.
i = got["ok"][2]
R = ds.R.values[i]
last = R[-1]
if abs(float(ds.acc.values[i]) - sum(last) / len(last)) > 1e-6:
    bad.append("acc"); print("acc", float(ds.acc.values[i]), last)
if not (0 <= R.min() and R.max() <= 1) or float(ds.ext_classes_seen.values[i]) != 10:
    bad.append("R"); print("R", R, ds.ext_classes_seen.values[i])
if list(ds.ext_loss.values[i]) != [1.0] * len(R):
    bad.append("loss"); print("ext_loss", ds.ext_loss.values[i])
# partial rows are kept: the crashing and the hanging program reported stage 0
if not all(math.isfinite(float(ds.R.values[got[k][2]][0][0])) for k in ("crash", "hang")):
    bad.append("partial"); print("partial", ds.R.values[got["crash"][2]])
sys.exit(1 if bad else 0)
PYEOF
}
Y=tests/e2e/external.yaml
"$CLSWEEP" run "$Y" --output "$TMP/solo.nc" --quiet 2>"$TMP/solo.err"
check "single process: the sweep completes despite misbehaving programs" test $? -eq 0
check "single process: R, metrics and each failure recorded" verify "$TMP/solo.nc"
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$TMP/mpi.nc" --quiet 2>"$TMP/mpi.err"
check "mpirun -np 3: the sweep completes" test $? -eq 0
check "mpirun -np 3: R, metrics and each failure recorded" verify "$TMP/mpi.nc"
check "mpirun -np 3 equals one process (bit-identical rerun)" nc_equal "$TMP/solo.nc" "$TMP/mpi.nc"
# (argv holds "ext/prior.py" as written: count only the programs started from this checkout)
ours() { for p in $(pgrep -f "ext/prior.py"); do [ "$(readlink "/proc/$p/cwd")" = "$PWD" ] && echo "$p"; done; }
check "no program outlives its run (the hanging one is killed with it)" test "$(ours | wc -l)" -eq 0

# SIGKILL the job once a run is journalled, then resume: equals the uninterrupted file.
out=$TMP/k.nc
setsid $MPIRUN -np 2 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$TMP/k.err" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(grep -ao CLSJ "$out.journal" 2>/dev/null | wc -l)" -ge 2 ] && break
    sleep 0.05
done
kill -9 -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
sleep 1
$MPIRUN -np 2 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$TMP/k.err"
check "resumed after SIGKILL: the sweep completes" test $? -eq 0
check "killed-and-resumed file equals the uninterrupted one" nc_equal "$TMP/solo.nc" "$out"

# Editing the program changes its run ids (and only its runs').
mkdir -p "$TMP/sw/ext"
cp "$Y" "$TMP/sw/x.yaml"
cp tests/e2e/ext/prior.py "$TMP/sw/ext/prior.py"
"$CLSWEEP" expand "$TMP/sw/x.yaml" 2>/dev/null | awk '{print $1}' > "$TMP/ids1"
echo "# edited" >> "$TMP/sw/ext/prior.py"
"$CLSWEEP" expand "$TMP/sw/x.yaml" 2>/dev/null | awk '{print $1}' > "$TMP/ids2"
changed=$(comm -3 <(sort "$TMP/ids1") <(sort "$TMP/ids2") | wc -l)
check "editing the program changes its 6 run ids, not finetune's" test "$changed" -eq 12
check "run ids were listed" test "$(wc -l < "$TMP/ids1")" -eq 7

# Bad declarations are clear errors with file:line:column.
printf 'benchmark: split_mnist\nprograms:\n  finetune: {command: [python3, x.py]}\n' > "$TMP/bad1.yaml"
"$CLSWEEP" expand "$TMP/bad1.yaml" >/dev/null 2>"$TMP/bad1.err"
check "a program named like a built-in model is refused" grep -q "bad1.yaml:3:3: .*already a built-in model" "$TMP/bad1.err"
printf 'benchmark: split_mnist\nprograms:\n  p: {command: x, params: {p.a: {type: int, default: 1.5}}}\n' > "$TMP/bad2.yaml"
"$CLSWEEP" expand "$TMP/bad2.yaml" >/dev/null 2>"$TMP/bad2.err"
check "a command that is not a list is refused" grep -q "bad2.yaml:3:.*argv list" "$TMP/bad2.err"
printf 'benchmark: split_mnist\nprograms:\n  p: {command: [x], params: {p.a: {type: int, default: 1.5}}}\n' > "$TMP/bad3.yaml"
"$CLSWEEP" expand "$TMP/bad3.yaml" >/dev/null 2>"$TMP/bad3.err"
check "a default of the wrong type is refused" grep -q "bad3.yaml:3:.*expected" "$TMP/bad3.err"
finish
