#!/usr/bin/env bash
# Successive halving saves an external program's compute (issue 21): under prune: the
# program is followed while it runs (external.c) and a run that loses a rung stops its
# program at that stage boundary (SIGTERM). tests/e2e/ext/prior.py appends a line per stage
# it trained to a trace file and sleeps 0.5 s per stage; asynchronous halving (eta 2) over 4
# bonuses, best first, keeps the first and prunes the rest after stage 0: their programs must
# have trained 1 stage (2 at most, if the answer was late), not 5; the kept one all 5. Under
# 3 MPI ranks (arrival order varies) every pruned program stopped within a stage of its rung.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"
trap 'kill_survivors "$TMP"; rm -rf "$TMP"' EXIT
export CLSWEEP_STREAM_CACHE=$TMP/streams
if [ ! -d data ] && [ ! -d /usr/share/datasets ]; then
    echo "ok - # SKIP no MNIST data"
    finish
fi
sweep() {  # sweep TRACEDIR
    cat <<YAML
name: ext_prune_save
benchmark: {name: split_mnist, train_per_task: 100, test_per_task: 50, block_size: 1}
programs:
  prior:
    command: [python3, $PWD/tests/e2e/ext/prior.py]
    kinds: [classification]
    params:
      prior.mode: {type: str, default: ok}
      prior.bonus: {type: float, default: 0}
      prior.trace: {type: str, default: $1}
      prior.sleep: {type: float, default: 0.5}
models: [prior]
seeds: 1
grid:
  prior.bonus: [0.3, 0.2, 0.1, 0]
prune: {eta: 2, synchronous: false}
YAML
}
cat >"$TMP/check.py" <<'PY'
import sys, os, netCDF4, numpy as np
d = netCDF4.Dataset(sys.argv[1])
st = {round(float(b), 3): str(s) for b, s in zip(d["prior__bonus"][:], d["status"][:])}
trained = {}
for b in st:
    p = os.path.join(sys.argv[2], "%g.trace" % b)
    trained[b] = len(open(p).read().split("\n")) - 1 if os.path.exists(p) else 0
reached = {round(float(b), 3): float(r) for b, r in zip(d["prior__bonus"][:], np.ma.filled(d["stage_reached"][:].astype(float), np.nan))}
print(f"# status {st}; stages each program trained {trained}")
if sys.argv[3] == "solo":   # one process: arrivals in dispatch order, best first
    ok = st[0.3] == "ok" and trained[0.3] == 5
    ok = ok and all(st[b] == "pruned" and 1 <= trained[b] <= 2 for b in (0.2, 0.1, 0.0))
else:                       # MPI: arrival order varies; each pruned program stopped at its rung
    ok = sum(s == "pruned" for s in st.values()) >= 2
    ok = ok and all(trained[b] == 5 if st[b] == "ok" else
                    st[b] == "pruned" and reached[b] <= trained[b] <= reached[b] + 1 < 5 for b in st)
sys.exit(0 if ok else 1)
PY
for how in solo mpi; do
    mkdir -p "$TMP/trace_$how"
    sweep "$TMP/trace_$how" >"$TMP/$how.yaml"
    if [ $how = solo ]; then
        "$CLSWEEP" run "$TMP/$how.yaml" --output "$TMP/$how.nc" --quiet 2>"$TMP/$how.err"
    else
        $MPIRUN -np 3 "$CLSWEEP" run "$TMP/$how.yaml" --output "$TMP/$how.nc" --quiet 2>"$TMP/$how.err"
    fi
    check "$how: external-program sweep with asynchronous halving exits 0" test $? -eq 0
    check "$how: pruned runs stopped their programs at the boundary (1 stage of 5 trained)" \
        "$PY" "$TMP/check.py" "$TMP/$how.nc" "$TMP/trace_$how" $how
done
check "no program outlives its run" test "$(pgrep -fc "prior.py" || true)" -eq 0
finish
