#!/usr/bin/env bash
# A sweep across several SLURM nodes on this machine (issue 17, "More than one node"; as
# root): three slurmd nodes n1..n3, each in its own network, UTS and mount namespace with its
# own address on a private bridge (10.250.X.0/24), its own munged and a node-local tmpfs on
# /tmp; slurmctld on the bridge. The sweep directory is shared (SHARED, outside /tmp).
#  1. jobs/submit --nodes 2 --ntasks 4: srun --mpi=pmix starts 2 ranks on each of two nodes;
#     the ranks of different nodes talk over TCP (seen with ss); the file equals a
#     single-process run.
#  2. mid-sweep (24 runs), the node that is not the batch host is killed (SIGKILL to its slurmd,
#     slurmstepd, munged and ranks): slurmctld marks it DOWN, requeues the job (NODE_FAIL,
#     --requeue), the job restarts on the two nodes left, resumes from the journal and
#     completes; the file equals the reference and no rank of the first run survives.
# Skips (with the reason) where SLURM, namespaces or a bridge are not available.
# shellcheck source=e2e/lib.sh
source "$(dirname "$0")/e2e/lib.sh"
case $PWD in
    /tmp|/tmp/*) echo "ok - slurm multi-node # SKIP the checkout is under /tmp, which each node replaces by its own tmpfs"; exit 0 ;;
esac
SLURM_TEST_NAME="slurm multi-node"
# Shared by all nodes; outside /tmp, which each node replaces by its own tmpfs.
SHARED=$(mktemp -d /var/tmp/clsweep-slurm.XXXXXX)
# shellcheck source=e2e/slurm_lib.sh
source "$(dirname "$0")/e2e/slurm_lib.sh"

slurm_init ip unshare nsenter ss
slurm_multi 3
t_start=$(date +%s)

# The ranks of a job: clsweep processes inside a node's namespaces.
node_ranks() {  # node_ranks NODE: PIDs of clsweep processes on NODE
    local p
    for p in $(ns_pids "$(node_holder "$1")"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = clsweep ] && echo "$p"
    done
}

# ---- 1. four ranks on two nodes equal one process ----
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/ref.nc" --quiet || notok "reference tiny sweep"
out=$SHARED/two/tiny.nc
jid=$(jobs/submit tests/e2e/tiny.yaml --clsweep "$CLSWEEP" --nodes 2 --ntasks 4 --ntasks-per-node 2 \
      --time 5 --signal-time 60 --output "$out" 2>"$TMP/submit1.err")
check "jobs/submit --nodes 2 --ntasks 4 prints the job id ($jid)" test -n "$jid"
st=$(wait_job "$jid" 180)
check "the two-node job completes ($st)" test "$st" = "COMPLETED "
nodes=$(job_field "$jid" NodeList)
check "it ran on two nodes ($nodes)" test "$(scontrol show hostnames "$nodes" | wc -l)" -eq 2
log1=$SHARED/two/slurm/tiny-$jid.out
check "three workers (ranks on both nodes)" grep -q "on 3 worker(s)" "$log1"
check "two-node file equals the single-process file" nc_equal "$TMP/ref.nc" "$out"

# ---- 2. a node dies mid-sweep; the requeued job completes ----
# The requeue sweep with 4 seeds: 24 runs of a few tenths of a second, so that the kill
# lands mid-sweep even on a fast machine.
sed 's/^seeds: 2$/seeds: 4/; s/^name: .*/name: slurm-multinode/' tests/e2e/slurm_requeue.yaml \
    >"$SHARED/kill.yaml"
"$CLSWEEP" run "$SHARED/kill.yaml" --output "$TMP/ref-requeue.nc" --quiet ||
    notok "reference requeue sweep"
out=$SHARED/kill/r.nc
jid=$(jobs/submit "$SHARED/kill.yaml" --clsweep "$CLSWEEP" --nodes 2 --ntasks 4 \
      --ntasks-per-node 2 --requeue --time 10 --signal-time 120 --grace 30 --output "$out" 2>/dev/null)
# Learn where it runs as soon as it runs, then wait for the first finished run.
for _ in $(seq 600); do
    [ "$(job_field "$jid" JobState)" = RUNNING ] && break
    sleep 0.2
done
batch=$(job_field "$jid" BatchHost)
nodes=$(scontrol show hostnames "$(job_field "$jid" NodeList)" | tr '\n' ' ')
victim=""
for n in $nodes; do [ "$n" = "$batch" ] || victim=$n; done
check "the job runs on two nodes ($nodes), batch host $batch" test -n "$victim" -a -n "$batch"
batch_ip=$(scontrol show node "$batch" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2)
for _ in $(seq 1200); do
    [ "$(records "$out.journal")" -ge 2 ] && break
    sleep 0.1
done
# Ranks on different hosts are connected over TCP: the victim's ranks to the batch host's
# (Open MPI opens a connection at the first message between two ranks: poll briefly).
tcp=""
for _ in $(seq 50); do
    tcp=$(in_node "$victim" ss -tnp 2>/dev/null | grep -F '"clsweep"' | grep -F "$batch_ip:")
    [ -n "$tcp" ] && break
    sleep 0.2
done
check "ranks on $victim hold TCP connections to $batch ($batch_ip): $(wc -l <<<"$tcp") seen" test -n "$tcp"
before=$(records "$out.journal")
victim_ranks=$(node_ranks "$victim" | tr '\n' ' ')
slurm_kill_node "$victim"
check "killed $victim (slurmd, slurmstepd, ranks $victim_ranks) mid-sweep ($before of 24 runs done)" \
    test "$before" -ge 1 -a "$before" -lt 24 -a -z "$(node_ranks "$victim")"
# slurmctld notices within SlurmdTimeout (10 s) plus a ping cycle, requeues the job (it asked
# for --requeue) and starts it again on the nodes left.
st=$(wait_job "$jid" 240)
check "the requeued job completes ($st)" test "$st" = "COMPLETED "
check "slurmctld requeued it for the node failure" \
    grep -q "requeue job JobId=$jid due to failure of node $victim" "$S/log/slurmctld.log"
check "the job restarted (Restarts=$(job_field "$jid" Restarts)) on nodes without $victim" \
    bash -c "test '$(job_field "$jid" Restarts)' -ge 1 && ! scontrol show hostnames '$(job_field "$jid" NodeList)' | grep -qx '$victim'"
log=$SHARED/kill/slurm/r-$jid.out
check "log: the restarted job resumed the finished runs" grep -Eq "[1-9][0-9]* already done" "$log"
check "file after the node failure equals an uninterrupted run" nc_equal "$TMP/ref-requeue.nc" "$out"
sleep 1
left=""
for n in "${slurm_nodes[@]}"; do left+=$(node_ranks "$n" | tr '\n' ' '); done
check "no rank of either run is left on any node (${left:-none})" test -z "$left"
echo "# multi-node cases took $(($(date +%s) - t_start)) s"
finish
