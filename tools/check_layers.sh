#!/usr/bin/env bash
# check_layers.sh [ROOT] — checks clsweep's layering (docs/architecture.md) in ROOT (default:
# the repository this script is in). Fails (exit 1, one line per finding) when
#   - a file of a lower layer includes a header of a higher layer,
#   - source files / headers include each other in a loop (module x = x.c + x.h, plus the
#     headers named in MODULES; the graph of "x's files include y.h" must be acyclic),
#   - a file under src/ or include/ is not in the layer table below (so the table stays
#     complete).
# Prints "layers: N files, M includes checked, no violation" and exits 0 otherwise.
# Run by `make check` through tests/t_layers.sh.
set -u
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT" || exit 2

# THE layer table, bottom to top: level, name, then the files (globs relative to ROOT).
# A file may include headers of its own level or below.
LAYERS='
0 core     src/core/*.c include/util.h include/rng.h include/linalg.h include/config.h
           include/metrics.h include/result.h include/stop.h include/cls_mpi.h include/cpu.h
1 nn       src/nn/*.c include/nn.h include/optim.h
2 data     src/data/*.c include/idx.h include/data.h include/bench.h include/npy.h
           include/arrays.h include/files.h
3 analysis src/analysis/*.c include/analysis.h include/analysis_mpi.h include/pca.h
4 models   src/models/*.c include/model.h include/registry.h include/mlp.h include/ewc.h
           include/hsf.h include/train.h include/clbase.h include/replay.h
           include/plugin_load.h include/ewgn_b1.h
5 run      src/run/*.c include/run.h include/probe.h include/isolate.h include/curve.h
6 sweep    src/sweep/*.c include/curve_check.h include/sweep.h include/search.h include/search_prune.h include/prune.h include/prune_sched.h include/protocol.h include/protocol_sched.h include/yamlnode.h include/output.h include/scheduler.h
           include/sched_options.h include/sched_proto.h include/sched_master.h
           include/sched_worker.h include/runindex.h include/ncschema.h include/safefile.h
           include/runstore.h include/projcache.h
           include/exclude.h include/ncguard.h include/resstore.h include/ncdisk.h include/ncbg.h
7 cli      src/cli/*.c
'

# Headers implemented by a source file of another name: one module.
MODULES='analysis_mpi:analysis model:registry runstore:sweep'

declare -A LEVEL NAME MODULE
for m in $MODULES; do MODULE[${m%%:*}]=${m#*:}; done
modof() { local b; b=$(basename "$1"); b=${b%.*}; echo "${MODULE[$b]:-$b}"; }
fail=0
bad() { echo "layers: $*"; fail=1; }

# Parse the table (continuation lines start with a glob, not a number).
level=-1 lname=
while read -r first rest; do
    [ -z "$first" ] && continue
    if [[ $first =~ ^[0-9]+$ ]]; then
        level=$first
        lname=${rest%% *}
        rest=${rest#"$lname"}
    else
        rest="$first $rest"
    fi
    for g in $rest; do
        for f in $g; do
            [ -e "$f" ] || continue
            [ -n "${LEVEL[$f]:-}" ] && bad "$f is in the table twice (${NAME[$f]} and $lname)"
            LEVEL[$f]=$level
            NAME[$f]=$lname
        done
    done
done <<< "$LAYERS"

nfiles=0 nincl=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for f in src/*/*.c include/*.h; do
    [ -e "$f" ] || continue
    nfiles=$((nfiles + 1))
    if [ -z "${LEVEL[$f]:-}" ]; then
        bad "$f is not in the layer table of tools/check_layers.sh"
        continue
    fi
    mod=$(modof "$f")
    echo "$mod $mod" >> "$edges"
    while IFS= read -r h; do
        nincl=$((nincl + 1))
        hf=include/$h
        if [ -z "${LEVEL[$hf]:-}" ]; then
            [ -e "$hf" ] || continue   # a header not in include/ (none today)
            continue                   # reported by the loop over include/*.h
        fi
        if [ "${LEVEL[$hf]}" -gt "${LEVEL[$f]}" ]; then
            bad "$f (${NAME[$f]}) includes $h (${NAME[$hf]}, a higher layer)"
        fi
        hmod=$(modof "$h")
        [ "$hmod" != "$mod" ] && echo "$mod $hmod" >> "$edges"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

# Loops between modules: tsort names them.
loops=$(tsort "$edges" 2>&1 >/dev/null)
if [ -n "$loops" ]; then
    bad "modules include each other in a loop:"
    echo "$loops" | sed -n 's/^tsort: //p' | grep -v "input contains a loop" | sed 's/^/layers:   /'
fi

[ $fail -eq 0 ] && echo "layers: $nfiles files, $nincl includes checked, no violation"
exit $fail
