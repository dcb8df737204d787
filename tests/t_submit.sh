#!/usr/bin/env bash
# jobs/submit without SLURM: the scripts it writes (--dry-run), its checks of the options and
# the sweep, and the batch script's signal handling run locally (--launcher none): SIGUSR1
# to the script makes clsweep save and exit 3, and running it again completes the sweep.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/e2e/lib.sh"
submit() { jobs/submit "$@" --clsweep "$CLSWEEP"; }
# The first script of a --dry-run listing (from "#!" up to the next "# ---- " or "# submit:").
first_script() { awk '/^# ---- /{if (n++) exit; next} /^# submit:/{exit} n' "$1"; }

submit --help >"$TMP/help" 2>&1
check "--help exits 0 and documents --requeue and --array" grep -q -- "--array N" "$TMP/help"

submit tests/e2e/tiny.yaml --dry-run --output "$TMP/d/tiny.nc" >"$TMP/plain" 2>&1
check "dry run exits 0" test $? -eq 0
check "dry run writes nothing" test ! -e "$TMP/d"
check "warning signal to the batch shell, 300 s before the limit" \
    grep -qx "#SBATCH --signal=B:USR1@300" "$TMP/plain"
check "srun --mpi=pmix is the default launcher" grep -q "^LAUNCHER=srun$" "$TMP/plain"
check "srun --mpi type pmix" grep -q "^SRUN_MPI=pmix$" "$TMP/plain"
check "one BLAS thread per rank" grep -q "OPENBLAS_NUM_THREADS=1" "$TMP/plain"
check "not requeueable by default" grep -qx "#SBATCH --no-requeue" "$TMP/plain"
check "two ranks by default" grep -qx "#SBATCH --ntasks=2" "$TMP/plain"
check "absolute output path" grep -qx "OUTPUT=$TMP/d/tiny.nc" "$TMP/plain"
check "the generated script is valid bash" bash -n <(first_script "$TMP/plain")

submit tests/e2e/tiny.yaml --dry-run --requeue --launcher mpirun --time 2:00:00 \
    --signal-time 600 --partition short --account proj --sbatch=--mail-type=END \
    --setup "module load openmpi" >"$TMP/full" 2>&1
check "--requeue" grep -qx "#SBATCH --requeue" "$TMP/full"
check "--requeue sets REQUEUE=1" grep -q "^REQUEUE=1$" "$TMP/full"
check "--launcher mpirun" grep -q "^LAUNCHER=mpirun$" "$TMP/full"
check "--partition/--account/--time/--signal-time" \
    bash -c "grep -qx '#SBATCH --partition=short' '$TMP/full' && grep -qx '#SBATCH --account=proj' '$TMP/full' && grep -qx '#SBATCH --time=2:00:00' '$TMP/full' && grep -qx '#SBATCH --signal=B:USR1@600' '$TMP/full'"
check "--sbatch passes an option through" grep -qx "#SBATCH --mail-type=END" "$TMP/full"
check "--setup adds a line" grep -qx "module load openmpi" "$TMP/full"
check "grace defaults to half the signal time" grep -q "^GRACE=300$" "$TMP/full"

submit tests/e2e/tiny.yaml --dry-run --array 3 --array-limit 2 --output "$TMP/a/t.nc" >"$TMP/array" 2>&1
check "--array: an array of 3 shards, at most 2 at a time" grep -qx "#SBATCH --array=0-2%2" "$TMP/array"
check "--array: ARRAY_COUNT=3 and one task each" \
    bash -c "grep -q '^ARRAY_COUNT=3$' '$TMP/array' && grep -qx '#SBATCH --ntasks=1' '$TMP/array'"
check "--array: one process per task runs without a launcher" grep -q "^LAUNCHER=none$" "$TMP/array"
check "--array: a merge script runs clsweep merge" grep -qF "exec \"\$CLSWEEP\" merge --force" "$TMP/array"
check "--array: the merge job depends on the array (afterok)" grep -q "dependency=afterok" "$TMP/array"

# Refusals, each with exit code 2 and a message.
refuse() {  # refuse NAME PATTERN ARGS...
    local name=$1 pat=$2; shift 2
    submit "$@" --dry-run >"$TMP/r.out" 2>"$TMP/r.err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$pat" "$TMP/r.err"; then ok "$name"
    else notok "$name (exit $rc: $(cat "$TMP/r.err"))"; fi
}
bad=$(find tests/sweeps_bad -name '*.yaml' | sort | head -n 1)
refuse "an invalid sweep is refused with file:line:column" "$(basename "$bad"):[0-9]*:[0-9]*" "$bad"
refuse "a missing sweep file" "no such sweep file" "$TMP/none.yaml"
refuse "signal time not shorter than the time limit" "must be shorter" tests/e2e/tiny.yaml --time 5
refuse "a malformed time" "not a SLURM time" tests/e2e/tiny.yaml --time 1h
refuse "an unknown launcher" "expects srun, mpirun or none" tests/e2e/tiny.yaml --launcher foo
refuse "more shards than runs" "more shards" tests/e2e/tiny.yaml --array 13
refuse "an unknown option" "unknown option" tests/e2e/tiny.yaml --bogus 1
refuse "--launcher none with several tasks" "--ntasks 1" tests/e2e/tiny.yaml --launcher none --ntasks 2

# ---- Hostile names: nothing derived from user input runs as a command or breaks the block.
# sbatch reads #SBATCH lines up to the first line that is not a comment: every #SBATCH line
# must lie in that leading block, and there must be as many as jobs/submit wrote.
# shellcheck disable=SC2317  # called through check
sbatch_block_intact() {  # FILE WANT: the script's leading comment block holds WANT #SBATCH lines
    local lead all
    lead=$(awk 'NR > 1 && !/^#/ {exit} /^#SBATCH /{n++} END {print n + 0}' "$1")
    all=$(grep -c '^#SBATCH ' "$1")
    [ "$lead" -eq "$all" ] && [ "$all" -eq "$2" ]
}
mkdir -p "$TMP/evil"
# A space, ';', $(...), backquotes, quotes and a glob in the sweep file name; the commands
# would create MARK files in the working directory (here $TMP/evil) if they ever ran.
# shellcheck disable=SC2016  # the $(...) must stay unexpanded: it is the attack
evil='a b;$(touch MARK1)`touch MARK2`'"'"'"q*.yaml'
sed 's/block_size: 150/block_size: 3000/' tests/e2e/tiny.yaml >"$TMP/evil/$evil"
submit "$TMP/evil/$evil" --dry-run --launcher none --ntasks 1 --output "$TMP/evil/out dir/r.nc" \
    --script-dir "$TMP/evil/scripts" --time 10 --signal-time 60 >"$TMP/evil.txt" 2>"$TMP/evil.err"
check "a sweep file name with a space, ;, \$(...), quotes is accepted (exit $?)" test -s "$TMP/evil.txt"
first_script "$TMP/evil.txt" >"$TMP/evil/job.sh"
check "... the #SBATCH block is intact (9 lines, all before the first command)" \
    sbatch_block_intact "$TMP/evil/job.sh" 9
check "... the default job name is reduced to a plain SLURM name" \
    grep -qx '#SBATCH --job-name=clsweep-a_b___touch_MARK1__touch_MARK2___q_' "$TMP/evil/job.sh"
check "... the script is valid bash" bash -n "$TMP/evil/job.sh"
(cd "$TMP/evil" && bash job.sh >job.log 2>&1)
check "... running the script completes the sweep (a space in the output path too)" \
    bash -c "grep -q 'sweep complete' '$TMP/evil/job.log' && test -f '$TMP/evil/out dir/r.nc'"
check "... and no injected command ran (no MARK file anywhere)" \
    test -z "$(find "$TMP" "$PWD" -maxdepth 3 -name 'MARK*' 2>/dev/null)"
# A newline in the sweep file name would end the #SBATCH block: refused.
nl="x
touch MARK3
#SBATCH --foo.yaml"
cp tests/e2e/tiny.yaml "$TMP/evil/$nl"
refuse "a newline in the sweep file name is refused" "control character" "$TMP/evil/$nl"
refuse "... also in the output path" "control character" tests/e2e/tiny.yaml --output "$TMP/o
touch MARK4/r.nc"
refuse "a job name with a ; is refused" "job-name" tests/e2e/tiny.yaml --job-name 'x;touch MARK5'
refuse "a partition with a space is refused" "partition" tests/e2e/tiny.yaml --partition 'a b'
refuse "an account with a newline is refused" "account" tests/e2e/tiny.yaml --account "a
b"
refuse "an --sbatch option with a space is refused" "cannot contain whitespace" tests/e2e/tiny.yaml \
    --sbatch '--comment=two words'
refuse "a --setup line with a newline is refused" "one shell line" tests/e2e/tiny.yaml --setup "a
b"
refuse "a malformed --mem is refused" "expected a size" tests/e2e/tiny.yaml --mem '4G;x'
refuse "a --mpi type with a \$ is refused" "plugin name" tests/e2e/tiny.yaml --mpi "pmix\$(x)"
refuse "a space in the job log directory (the output's directory) is refused clearly" \
    "job log directory" tests/e2e/tiny.yaml --output "$TMP/with space/r.nc"
submit tests/e2e/tiny.yaml --dry-run --output "$TMP/sp/my run.nc" >"$TMP/sp.txt" 2>&1
check "a space in the output's file name works: quoted in OUTPUT, plain in the log name" \
    bash -c "grep -qxF 'OUTPUT=$(printf %q "$TMP/sp/my run.nc")' '$TMP/sp.txt' && grep -qxF '#SBATCH --output=$TMP/sp/slurm/my_run-%j.out' '$TMP/sp.txt'"
refuse "a device as the sweep file is refused" "not a regular file" /dev/null
refuse "a % in the job log path is refused (sbatch would expand it)" "contains '%'" \
    tests/e2e/tiny.yaml --output "$TMP/p%j/r.nc"
check "no refused submission created a file or ran a command" \
    test -z "$(find "$TMP" "$PWD" -maxdepth 3 -name 'MARK*' 2>/dev/null)"
# The script is written through a new file renamed into place: a symlink there is replaced,
# its target untouched (needs no SLURM: a fake sbatch on PATH).
mkdir -p "$TMP/fake/bin" "$TMP/fake/out/slurm"
printf '#!/bin/sh\necho 4242\n' >"$TMP/fake/bin/sbatch"
chmod +x "$TMP/fake/bin/sbatch"
echo precious >"$TMP/fake/target"
ln -s "$TMP/fake/target" "$TMP/fake/out/slurm/tiny.sbatch"
jid=$(PATH="$TMP/fake/bin:$PATH" submit tests/e2e/tiny.yaml --output "$TMP/fake/out/tiny.nc" 2>/dev/null)
check "a symlink at the script path is replaced, not followed (job $jid)" \
    bash -c "test '$jid' = 4242 && test ! -L '$TMP/fake/out/slurm/tiny.sbatch' && grep -qx precious '$TMP/fake/target'"

# The batch script itself, run here without SLURM (launcher none): the warning signal
# stops clsweep with a valid partial file (exit 3, no requeue without SLURM), a second run
# resumes and completes it, equal to an uninterrupted sweep.
# tiny.yaml with 20x longer runs (~0.2 s): the tiny sweep's 10 ms runs can all finish before
# the signal arrives.
sed 's/block_size: 150/block_size: 3000/' tests/e2e/tiny.yaml > "$TMP/slow.yaml"
"$CLSWEEP" run "$TMP/slow.yaml" --output "$TMP/ref.nc" --quiet || notok "reference sweep"
submit "$TMP/slow.yaml" --dry-run --launcher none --ntasks 1 --output "$TMP/l/r.nc" \
    --time 10 --signal-time 60 >"$TMP/job.txt"
first_script "$TMP/job.txt" >"$TMP/job.sh"
mkdir -p "$TMP/l"
bash "$TMP/job.sh" >"$TMP/job1.log" 2>&1 &
pid=$!
for _ in $(seq 600); do   # a run recorded: 2 "CLSJ" (the header "CLSJOURNAL1" is one)
    [ "$(grep -ao CLSJ "$TMP/l/r.nc.journal" 2>/dev/null | wc -l)" -ge 2 ] && break
    sleep 0.05
done
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "script: SIGUSR1 makes clsweep save and exit 3" test $rc -eq 3
check "script: it logs the warning and the resumable file" \
    bash -c "grep -q 'got SIGUSR1' '$TMP/job1.log' && grep -q 'valid and resumable' '$TMP/job1.log'"
n=$("$PY" -c "import sys, xarray as x; print(x.open_dataset(sys.argv[1]).sizes['run'])" "$TMP/l/r.nc")
check "script: the partial file holds some runs ($n of 12)" test "$n" -ge 1 -a "$n" -lt 12
bash "$TMP/job.sh" >"$TMP/job2.log" 2>&1
check "script: a second run completes the sweep" test $? -eq 0
check "script: resumed file equals an uninterrupted run" nc_equal "$TMP/ref.nc" "$TMP/l/r.nc"

# The warning right after the launch, before clsweep has installed its handlers (it may
# die of the signal): still a resumable stop (exit 3), and the next run completes.
rm -rf "$TMP/l"
mkdir -p "$TMP/l"
bash "$TMP/job.sh" >"$TMP/early.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "start (restart" "$TMP/early.log" && break; sleep 0.01; done
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "script: a warning at launch is a resumable stop (exit $rc)" test $rc -eq 3
bash "$TMP/job.sh" >"$TMP/early2.log" 2>&1
check "script: after an early warning the next run completes" test $? -eq 0
check "script: ... and equals an uninterrupted run" nc_equal "$TMP/ref.nc" "$TMP/l/r.nc"
finish
