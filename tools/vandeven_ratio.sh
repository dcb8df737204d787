#!/usr/bin/env bash
# tools/vandeven_ratio.sh — CPU and wall time of the same Split-MNIST runs in clsweep and in van
# de Ven et al.'s reference implementation (tools/vandeven_ref.sh), measured side by side on
# this machine: for each seed, the reference run and the clsweep run of one method alternate,
# so both see the same load. Protocol of sweeps/baselines_split_mnist.yaml (784-400-400 MLP,
# Adam 0.001, batch 128, 133 iterations ≈ 10 epochs per task, class-incremental).
#
#   tools/vandeven_ratio.sh OUTFILE [SEEDS] [METHODS]
#     SEEDS    default "0 1"; METHODS default "none er" (reference names; none = finetune)
# OUTFILE gets `make bench` lines "name | value | unit | notes" (perf/table.py reads them when
# it is DIR/ROUND.vandeven_ratio.txt): per method the summed CPU seconds of each side and the
# ratio reference / clsweep, and the same for wall seconds. Needs build/clsweep and
# python3-torch (tools/deps.sh --bench). CPU time = user + system of the process tree.
# When docs/results/baselines_2000_runs.tsv exists (tools/vandeven_2000.sh: the paper's budget,
# both sides, all methods), its whole-sweep CPU and wall ratio are appended as two more lines
# (recorded runs, not measured again: tools/vandeven_2000_table.sh --bench).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$1
SEEDS=${2:-0 1}
METHODS=${3:-none er}
W=${VDV_WORK:-/tmp/clsweep-vdv}
mkdir -p "$W/cls"
: >"$OUT"
clsname() { case $1 in none) echo finetune ;; joint) echo joint ;; *) echo "$1" ;; esac; }
tot_all=(0 0 0 0)   # ref cpu, cls cpu, ref wall, cls wall
for m in $METHODS; do
    sums=(0 0 0 0)
    for s in $SEEDS; do
        # the reference (fresh results directory so it really runs)
        rm -rf "$W/results/class-$m-$s-133"
        ref=$( { /usr/bin/time -f "%e %U %S" "$ROOT/tools/vandeven_ref.sh" "$W" class "$m" "$s" 133 \
            >/dev/null; } 2>&1 | tail -1)
        # clsweep: the same run through `clsweep run` (one process, the run isolated in a child)
        y=$W/cls/$m-$s.yaml
        cat >"$y" <<EOF
name: vdv-ratio
benchmark: {name: split_mnist, block_size: 10, scenario: class}
models: [$(clsname "$m")]
seeds: [$s]
defaults: {mlp.hidden: [400, 400], replay.buffer_size: 1000, replay.batch_size: 128, si.xi: 0.1,
           si.c: 5000, ewc.lambda: 1000000000, lwf.alpha: 1, lwf.temperature: 2}
train: {optimizer: adam, lr: 0.001, batch_size: 128}
options: {quiet: true}
EOF
        rm -f "$W/cls/$m-$s.nc" "$W/cls/$m-$s.nc.journal"
        cls=$( { /usr/bin/time -f "%e %U %S" "$ROOT/build/clsweep" run "$y" --output "$W/cls/$m-$s.nc" \
            --quiet >/dev/null; } 2>&1 | tail -1)
        read -r rw ru rs <<<"$ref"
        read -r cw cu cs <<<"$cls"
        mapfile -t sums < <(echo "${sums[0]} + $ru + $rs; ${sums[1]} + $cu + $cs; ${sums[2]} + $rw; ${sums[3]} + $cw" | bc)
        echo "# $m seed $s: reference wall $rw s cpu $(echo "$ru + $rs" | bc) s; clsweep wall $cw s cpu $(echo "$cu + $cs" | bc) s" >&2
    done
    n=$(echo "$SEEDS" | wc -w)
    c=$(clsname "$m")
    echo "vdv $m cpu reference | ${sums[0]} | s | $n runs, class-IL, 133 it/task" >>"$OUT"
    echo "vdv $m cpu clsweep | ${sums[1]} | s | $c, the same runs" >>"$OUT"
    echo "vdv $m cpu ratio | $(echo "scale=2; ${sums[0]} / ${sums[1]}" | bc) | x | reference / clsweep" >>"$OUT"
    echo "vdv $m wall ratio | $(echo "scale=2; ${sums[2]} / ${sums[3]}" | bc) | x | reference / clsweep, alternating runs" >>"$OUT"
    for i in 0 1 2 3; do tot_all[$i]=$(echo "${tot_all[$i]} + ${sums[$i]}" | bc); done
done
echo "vdv all cpu ratio | $(echo "scale=2; ${tot_all[0]} / ${tot_all[1]}" | bc) | x | $METHODS; reference / clsweep" >>"$OUT"
echo "vdv all wall ratio | $(echo "scale=2; ${tot_all[2]} / ${tot_all[3]}" | bc) | x | $METHODS; reference / clsweep" >>"$OUT"
TSV2000=$ROOT/docs/results/baselines_2000_runs.tsv
if [ -s "$TSV2000" ]; then "$ROOT/tools/vandeven_2000_table.sh" --bench "$TSV2000" >>"$OUT"; fi
cat "$OUT"
