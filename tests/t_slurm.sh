#!/usr/bin/env bash
# The SLURM workflow on a real single-node SLURM started by this test (as root): a private
# munged, slurmctld and slurmd on free ports with a generated slurm.conf, all under $TMP and
# stopped at exit. Through jobs/submit: an MPI sweep (srun --mpi=pmix, and mpirun), a job
# array + merge job, and a requeue: the time-limit warning (SIGUSR1 to the batch shell,
# what --signal=B:USR1@S delivers) stops clsweep, the job requeues itself and the
# restarted job completes the same sweep into the same file.
# Skips (with the reason) only where SLURM cannot be installed or started.
# CLSWEEP_SLURM_TIMELIMIT=1 adds a slow case where SLURM itself sends the warning (--time 1).
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/e2e/lib.sh"
SLURM_TEST_NAME="slurm workflow"
# shellcheck source=e2e/slurm_lib.sh
source "$(dirname "$0")/e2e/slurm_lib.sh"

# shellcheck disable=SC2119  # slurm_init's arguments are extra commands: none needed here
slurm_init
slurm_single
t_start=$(date +%s)

"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/ref.nc" --quiet || notok "reference tiny sweep"

# ---- 1. an MPI sweep through jobs/submit (srun --mpi=pmix, the default launcher) ----
out=$TMP/srun/tiny.nc
jid=$(jobs/submit tests/e2e/tiny.yaml --clsweep "$CLSWEEP" --ntasks 2 --time 5 --signal-time 60 \
      --output "$out" 2>"$TMP/submit1.err")
check "jobs/submit prints the job id ($jid)" test -n "$jid"
st=$(wait_job "$jid" 120)
check "srun --mpi=pmix job completes ($st)" test "$st" = "COMPLETED "
check "exit code 0:0" test "$(job_field "$jid" ExitCode)" = "0:0"
log1=$(ls "$TMP"/srun/slurm/tiny-"$jid".out 2>/dev/null)
check "job log says the sweep is complete" grep -q "sweep complete" "$log1"
check "both ranks ran (a master and a worker)" grep -q "workers" "$log1"
check "the NetCDF has the tiny sweep's schema and values" "$PY" tests/e2e/check_tiny.py "$out"
check "SLURM file equals the local single-process file" nc_equal "$TMP/ref.nc" "$out"

# ---- 2. the same through mpirun inside the allocation ----
out=$TMP/mpirun/tiny.nc
jid=$(jobs/submit tests/e2e/tiny.yaml --clsweep "$CLSWEEP" --launcher mpirun --ntasks 2 --time 5 \
      --signal-time 60 --output "$out" 2>/dev/null)
st=$(wait_job "$jid" 120)
check "mpirun job completes ($st)" test "$st" = "COMPLETED "
check "mpirun file equals the local single-process file" nc_equal "$TMP/ref.nc" "$out"

# ---- 3. job array: three single-process shards and a dependent merge job ----
out=$TMP/array/tiny.nc
ids=$(jobs/submit tests/e2e/tiny.yaml --clsweep "$CLSWEEP" --array 3 --time 5 --signal-time 60 \
      --output "$out" 2>"$TMP/submit3.err")
read -r aid mid <<<"${ids//$'\n'/ }"
check "array mode prints the array and merge job ids ($aid, $mid)" test -n "$aid" -a -n "$mid"
check "the merge job depends on the array (afterok)" \
    grep -q "afterok:$aid" <<<"$(scontrol show job -o "$mid")"
st=$(wait_job "$aid" 120)
check "all three array tasks complete ($st)" test "$st" = "COMPLETED "
st=$(wait_job "$mid" 60)
check "the merge job completes ($st)" test "$st" = "COMPLETED "
check "three part files" test -f "$TMP/array/tiny.part0.nc" -a -f "$TMP/array/tiny.part1.nc" \
    -a -f "$TMP/array/tiny.part2.nc"
check "merged array file equals the local single-process file" nc_equal "$TMP/ref.nc" "$out"

# ---- 4. requeue on the time-limit warning ----
"$CLSWEEP" run tests/e2e/slurm_requeue.yaml --output "$TMP/ref-requeue.nc" --quiet ||
    notok "reference requeue sweep"
out=$TMP/requeue/r.nc
jid=$(jobs/submit tests/e2e/slurm_requeue.yaml --clsweep "$CLSWEEP" --ntasks 2 --requeue \
      --time 10 --signal-time 120 --grace 30 --output "$out" 2>/dev/null)
script=$TMP/requeue/slurm/r.sbatch
check "script asks for the warning signal" grep -q '^#SBATCH --signal=B:USR1@120$' "$script"
check "script is requeueable" grep -q '^#SBATCH --requeue$' "$script"
ended() { case $(job_field "$1" JobState) in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) return 0 ;; esac; return 1; }
for _ in $(seq 1200); do
    [ "$(records "$out.journal")" -ge 2 ] && break
    ended "$jid" && break
    sleep 0.1
done
before=$(records "$out.journal")
# What --signal=B:USR1@S does at limit - S: SIGUSR1 to the batch shell only.
scancel --signal=USR1 --batch "$jid"
for _ in $(seq 300); do
    [ "$(job_field "$jid" Restarts)" -ge 1 ] 2>/dev/null && break
    sleep 0.1
done
stopped_at=$(records "$out.journal")
check "the warning arrived mid-sweep ($before runs done then, $stopped_at when stopped)" \
    test "$before" -ge 1 -a "$stopped_at" -lt 12
check "the job requeued itself (Restarts=$(job_field "$jid" Restarts))" \
    test "$(job_field "$jid" Restarts)" -ge 1
st=$(wait_job "$jid" 180)
check "the requeued job completes ($st)" test "$st" = "COMPLETED "
log=$TMP/requeue/slurm/r-$jid.out
check "log: clsweep stopped with exit 3 and the job requeued" \
    grep -q "requeueing job $jid" "$log"
check "log: the restarted job resumed the finished runs" \
    grep -Eq "[1-9][0-9]* already done" "$log"
check "requeued-and-resumed file equals an uninterrupted run" nc_equal "$TMP/ref-requeue.nc" "$out"

# ---- 5. (opt-in, slow) SLURM itself sends the warning before the time limit ----
# slurmctld checks time limits every 30 s and warns once at most signal-time + 30 s before
# the limit, so with --time 1 each job instance is warned within ~30 s of its start; a
# sweep 4x longer than the one above needs a few instances to finish.
if [ "${CLSWEEP_SLURM_TIMELIMIT:-0}" = 1 ]; then
    sed 's/block_size: 1500/block_size: 6000/; s/^name: .*/name: slurm-timelimit/' \
        tests/e2e/slurm_requeue.yaml >"$TMP/timelimit.yaml"
    "$CLSWEEP" run "$TMP/timelimit.yaml" --output "$TMP/ref-timelimit.nc" --quiet
    out=$TMP/timelimit/r.nc
    jid=$(jobs/submit "$TMP/timelimit.yaml" --clsweep "$CLSWEEP" --ntasks 2 --requeue \
          --time 1 --signal-time 40 --grace 5 --output "$out" 2>/dev/null)
    st=$(wait_job "$jid" 540)
    check "time limit: the job completes ($st)" test "$st" = "COMPLETED "
    n=$(job_field "$jid" Restarts)
    check "time limit: SLURM's warning requeued the job ($n restarts)" test "$n" -ge 1
    check "time limit: file equals an uninterrupted run" nc_equal "$TMP/ref-timelimit.nc" "$out"
fi
echo "# SLURM cases took $(($(date +%s) - t_start)) s"
finish
