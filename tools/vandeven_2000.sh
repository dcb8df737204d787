#!/usr/bin/env bash
# tools/vandeven_2000.sh — the side-by-side of docs/results/baselines.md "The paper's budget":
# every (scenario, seed, method) of sweeps/baselines_split_mnist_2000.yaml run once in clsweep
# (`clsweep single --sweep` that file: the same run as in the sweep) and once in van de Ven et
# al.'s reference implementation at 2,000 iterations per context (tools/vandeven_ref.sh), the two
# sides of each (seed, method) next to each other in one queue, VDV_JOBS (2) at a time, so that
# whatever has finished when it is stopped is a coherent block. A developer tool, not part of
# clsweep; run it under `nice -n 19` on a shared machine.
#
#   tools/vandeven_2000.sh WORKDIR TSV [SCENARIOS] [SEEDS] [METHODS]
#     SCENARIOS  default "class task" (in this order)
#     SEEDS      default "0 1 2 3 4"
#     METHODS    default "none joint ewc si lwf er agem" (reference names; none = finetune)
#
# Each finished run appends one line to TSV (created with a header; lines are appended under
# flock, so a partial queue loses nothing) and runs already in TSV are skipped (resume):
#   side scenario method seed budget acc cpu_s wall_s R finished_utc
# side: clsweep | reference; budget: "145ep" (clsweep: 145 epochs per task, 10,005 steps in all)
# or "2000it"; acc: mean final accuracy over the 5 tasks (0–1); cpu_s: user + system of the
# process and its children (/usr/bin/time), wall_s: its wall time, both startup included;
# R: the accuracy matrix, rows (after task i) separated by ';', entries by ','.
# VDV_CLS_SET="key=value ..." adds --set options to the clsweep side (tests only: the results
# are then not the sweep's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SWEEP=$ROOT/sweeps/baselines_split_mnist_2000.yaml
ITERS=${VDV_ITERS:-2000}

clsname() { case $1 in none) echo finetune ;; *) echo "$1" ;; esac; }

# one run: WORKDIR TSV SIDE SCENARIO METHOD SEED
one() {
    local W=$1 TSV=$2 side=$3 scen=$4 m=$5 s=$6 budget acc R t
    local d=$W/$side/$scen-$m-$s
    if [ "$side" = clsweep ]; then
        budget=145ep
        local sets=(--set "benchmark.scenario=$scen")
        case $m:$scen in
            ewc:task) sets+=(--set ewc.lambda=100000) ;;
            ewc:class) sets+=(--set ewc.lambda=1000000000) ;;
            si:task) sets+=(--set si.c=10) ;;
            si:class) sets+=(--set si.c=5000) ;;
        esac
        for kv in ${VDV_CLS_SET:-}; do sets+=(--set "$kv"); done
        rm -rf "$d" && mkdir -p "$d"
        /usr/bin/time -o "$d/cpu.txt" -f "%e %U %S" "$ROOT/build/clsweep" single --sweep "$SWEEP" \
            --model "$(clsname "$m")" --seed "$s" "${sets[@]}" >"$d/log.txt" 2>&1 ||
            { echo "clsweep failed: $d/log.txt" >&2; return 1; }
        acc=$(awk '$1 == "acc" {print $2}' "$d/log.txt")
        R=$(awk '/^R\[/ {sub(/^R\[ *[0-9]+\] */, ""); gsub(/ +/, ","); printf "%s%s", sep, $0; sep=";"}' "$d/log.txt")
    else
        budget=${ITERS}it
        rm -rf "$W/reference/results/$scen-$m-$s-$ITERS"
        "$ROOT/tools/vandeven_ref.sh" "$W/reference" "$scen" "$m" "$s" "$ITERS" >/dev/null ||
            { echo "reference failed: $W/reference/results/$scen-$m-$s-$ITERS/log.txt" >&2; return 1; }
        d=$W/reference/results/$scen-$m-$s-$ITERS
        acc=$(cat "$d"/acc-*.txt)
        R=$(awk '{gsub(/ +/, ","); printf "%s%s", sep, $0; sep=";"}' "$d/R.txt")
    fi
    read -r wall u sy <"$d/cpu.txt"
    t=$(date -u +%FT%TZ)
    (
        flock 9
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$side" "$scen" "$m" "$s" "$budget" "$acc" \
            "$(printf "%.2f" "$(echo "$u + $sy" | bc)")" "$wall" "$R" "$t" >>"$TSV"
    ) 9>>"$W/tsv.lock"
    echo "# $t $side $scen $m seed $s: acc $acc, cpu $(echo "$u + $sy" | bc) s, wall $wall s" >&2
}

if [ "${1:-}" = --one ]; then
    shift
    one "$@"
    exit
fi
[ $# -ge 2 ] || { sed -n 2,24p "$0" >&2; exit 2; }
W=$1 TSV=$2
SCENS=${3:-class task} SEEDS=${4:-0 1 2 3 4} METHODS=${5:-none joint ewc si lwf er agem}
[ -x "$ROOT/build/clsweep" ] || { echo "build/clsweep missing: make" >&2; exit 2; }
mkdir -p "$W"
[ -s "$TSV" ] || printf 'side\tscenario\tmethod\tseed\tbudget\tacc\tcpu_s\twall_s\tR\tfinished_utc\n' >"$TSV"
queue=$W/queue.txt
: >"$queue"
for scen in $SCENS; do
    for s in $SEEDS; do
        for m in $METHODS; do
            for side in clsweep reference; do
                awk -F'\t' -v a="$side" -v b="$scen" -v c="$m" -v d="$s" \
                    '$1 == a && $2 == b && $3 == c && $4 == d {f = 1} END {exit !f}' "$TSV" ||
                    echo "$side $scen $m $s" >>"$queue"
            done
        done
    done
done
echo "# $(wc -l <"$queue") runs queued in $queue" >&2
# xargs starts the lines in order, VDV_JOBS at a time; a failed run is reported and skipped
xargs -P "${VDV_JOBS:-2}" -L 1 "$0" --one "$W" "$TSV" <"$queue" || true
