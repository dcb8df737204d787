#!/usr/bin/env bash
# The SLURM workflow on a real single-node SLURM started by this test (as root): a private
# munged, slurmctld and slurmd on free ports with a generated slurm.conf, all under $TMP and
# stopped at exit. Through jobs/submit: an MPI sweep (srun --mpi=pmix, and mpirun), a job
# array + merge job, and a requeue: the time-limit warning (SIGUSR1 to the batch shell,
# what --signal=B:USR1@S delivers) stops clsweep, the job requeues itself and the
# restarted job completes the same sweep into the same file.
# Skips (with the reason) only where SLURM cannot be installed or started.
# CLSWEEP_SLURM_TIMELIMIT=1 adds a slow case where SLURM itself sends the warning (--time 1).
source "$(dirname "$0")/e2e/lib.sh"

skip_all() { echo "ok - slurm workflow # SKIP $1"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "starting slurmctld/slurmd needs root"
need=(munged slurmctld slurmd sbatch srun scontrol scancel squeue sinfo)
have_all() { local c; for c in "${need[@]}"; do command -v "$c" >/dev/null 2>&1 || return 1; done; }
if ! have_all; then
    echo "# SLURM missing: installing with tools/deps.sh --slurm"
    timeout 900 tools/deps.sh --slurm >"$TMP/deps.log" 2>&1 ||
        skip_all "SLURM is not installed and tools/deps.sh --slurm failed: $(tail -n 1 "$TMP/deps.log")"
    have_all || skip_all "SLURM commands still missing after tools/deps.sh --slurm"
fi

# ---- start a private cluster ----
chmod 755 "$TMP"   # munged wants its socket directory (and parents) searchable by all
S=$TMP/slurm
mkdir -p "$S/munge-key" "$S/munge-run" "$S/state" "$S/spool" "$S/log"
chmod 700 "$S/munge-key"
chmod 755 "$S" "$S/munge-run"
head -c 1024 /dev/urandom >"$S/munge-key/munge.key"
chmod 400 "$S/munge-key/munge.key"

pids=()
stop_cluster() {
    if [ -f "$S/slurm.conf" ]; then
        local ids
        ids=$(squeue -h -o %i 2>/dev/null)
        [ -z "$ids" ] || { scancel $ids 2>/dev/null; sleep 2; }
    fi
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    # CLSWEEP_SLURM_LOGS=DIR keeps the job scripts, job logs and daemon logs.
    if [ -n "${CLSWEEP_SLURM_LOGS:-}" ]; then
        mkdir -p "$CLSWEEP_SLURM_LOGS" && cp -r "$S/log" "$CLSWEEP_SLURM_LOGS/daemons"
        for d in "$TMP"/*/slurm; do
            [ -d "$d" ] && cp -r "$d" "$CLSWEEP_SLURM_LOGS/$(basename "$(dirname "$d")")"
        done
    fi
    rm -rf "$TMP"
}
trap stop_cluster EXIT

# Two free TCP ports (bound and released; a race with another process is unlikely).
read -r port_ctld port_d < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

munged -F --socket="$S/munge-run/munge.sock" --key-file="$S/munge-key/munge.key" \
    --pid-file="$S/munge-run/munged.pid" --log-file="$S/log/munged.log" \
    --seed-file="$S/munge-key/munged.seed" 2>"$S/log/munged.stderr" &
pids+=($!)
for _ in $(seq 50); do [ -S "$S/munge-run/munge.sock" ] && break; sleep 0.1; done
[ -S "$S/munge-run/munge.sock" ] || skip_all "munged did not start: $(tail -n 1 "$S/log/munged.log" 2>/dev/null)"

# cred_expire also sets how long a requeued job waits before it may start again
# (default 120 s); 10 s keeps the test short.
cat >"$S/slurm.conf" <<EOF
ClusterName=clsweeptest$$
SlurmctldHost=localhost
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge-run/munge.sock,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
KillWait=5
InactiveLimit=0
MinJobAge=600
JobRequeue=1
# A loaded CI machine can be slow to answer; a failed array task cancels the merge job.
MessageTimeout=60
DependencyParameters=kill_invalid_depend
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# Client commands (sbatch in jobs/submit, srun in the job) find the cluster via SLURM_CONF.
for v in $(env | grep -o '^SLURM_[A-Z_]*'); do unset "$v"; done
export SLURM_CONF=$S/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" >"$S/log/slurmctld.stderr" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$S/log/slurmd.stderr" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1)
    [ "$state" = idle ] && break
    sleep 0.2
done
if [ "$state" != idle ]; then
    tail -n 5 "$S/log/slurmctld.log" "$S/log/slurmd.log" "$S/log/"*.stderr 2>/dev/null | sed 's/^/# /'
    skip_all "the single-node SLURM did not come up (node state '$state')"
fi
ok "single-node SLURM is up (ports $port_ctld/$port_d, $(sinfo --version))"
t_start=$(date +%s)

# wait_job ID SECONDS: waits until every job of ID (array tasks too) has ended; prints the
# final states. 1 on timeout.
wait_job() {
    local id=$1 limit=$2 t0 states
    t0=$(date +%s)
    while :; do
        states=$(scontrol show job -o "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort -u | tr '\n' ' ')
        case " $states" in
            *" PENDING "*|*" RUNNING "*|*" REQUEUED "*|*" COMPLETING "*|*" CONFIGURING "*|*" SUSPENDED "*|" ") ;;
            *) echo "$states"; return 0 ;;
        esac
        if [ $(($(date +%s) - t0)) -ge "$limit" ]; then
            echo "timeout ($states)"
            scancel "$id" 2>/dev/null
            return 1
        fi
        sleep 0.5
    done
}
job_field() { scontrol show job -o "$1" | grep -o "$2=[^ ]*" | head -n 1 | cut -d= -f2; }
records() { grep -ao CLSJ "$1" 2>/dev/null | wc -l; }

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
read -r aid mid <<<"$(echo $ids)"
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
