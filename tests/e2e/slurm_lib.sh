# shellcheck shell=bash
# slurm_lib.sh — a private SLURM cluster for the SLURM tests (sourced by tests/t_slurm.sh and
# tests/t_slurm_multinode.sh after tests/e2e/lib.sh; needs root). Everything lives under
# $SHARED/slurm and is stopped at exit by slurm_stop (installed as the EXIT trap):
#   slurm_init [CMD...]        checks root, the SLURM commands and CMD... (installs them
#                              with tools/deps.sh --slurm if missing), starts munged
#   slurm_single               one node "localhost" on 127.0.0.1 (slurmctld + one slurmd)
#   slurm_multi N              N nodes n1..nN, each slurmd in its own network and UTS
#                              namespace with its own address on a private bridge
#                              (10.250.X.0/24, X free on this machine); slurmctld on the
#                              bridge address .1
#   slurm_kill_node NODE       SIGKILL to every process of a namespaced node (its slurmd,
#                              slurmstepd, batch shell and ranks): a crashed host
#   slurm_restart_node NODE    starts that node's slurmd again (same namespace and address)
#   wait_job ID SECONDS, job_field ID FIELD, records FILE
# Any failure to bring the cluster up is a SKIP with the reason (skip_all), never a hang.
# SHARED (default $TMP) is the directory all nodes share: the cluster's state and logs, and
# the tests' sweep outputs. Namespaced nodes get a private tmpfs on /tmp (node-local
# scratch, as on real hosts: Open MPI and PMIx keep per-node session files there), so a
# multi-node test sets SHARED outside /tmp before sourcing this file.

skip_all() { echo "ok - ${SLURM_TEST_NAME:-slurm} # SKIP $1"; exit 0; }

SHARED=${SHARED:-$TMP}
S=$SHARED/slurm
slurm_pids=()        # daemons started here (munged, slurmctld, slurmd of a single node)
slurm_holders=()     # one `sleep infinity` per namespaced node: holds its namespaces
slurm_nodes=()       # node names of a multi-node cluster
slurm_bridge=""      # the bridge of a multi-node cluster
slurm_net=""         # its first three octets, e.g. 10.250.17

# The PIDs of the processes in the network namespace of process $1 (that process included).
ns_pids() {
    local want p
    want=$(readlink "/proc/$1/ns/net" 2>/dev/null) || return 0
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$want" ] && echo "${p#/proc/}"
    done
}

slurm_stop() {
    if [ -f "$S/slurm.conf" ]; then
        local ids
        ids=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
        # shellcheck disable=SC2086  # a list of job ids
        [ -z "${ids// /}" ] || { scancel $ids 2>/dev/null; sleep 2; }
    fi
    local p h
    for h in ${slurm_holders[@]+"${slurm_holders[@]}"}; do
        # shellcheck disable=SC2046  # a list of PIDs
        kill -9 $(ns_pids "$h") 2>/dev/null
    done
    for p in ${slurm_pids[@]+"${slurm_pids[@]}"}; do kill "$p" 2>/dev/null; done
    for p in ${slurm_pids[@]+"${slurm_pids[@]}"}; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    [ -z "$slurm_bridge" ] || ip link del "$slurm_bridge" 2>/dev/null
    # CLSWEEP_SLURM_LOGS=DIR keeps the job scripts, job logs and daemon logs.
    if [ -n "${CLSWEEP_SLURM_LOGS:-}" ] && [ -d "$S/log" ]; then
        mkdir -p "$CLSWEEP_SLURM_LOGS" && cp -r "$S/log" "$CLSWEEP_SLURM_LOGS/daemons"
        local d
        for d in "$TMP"/*/slurm "$SHARED"/*/slurm; do
            [ -d "$d" ] && cp -r "$d" "$CLSWEEP_SLURM_LOGS/$(basename "$(dirname "$d")")"
        done
    fi
    rm -rf "$TMP"
    [ "$SHARED" = "$TMP" ] || rm -rf "$SHARED"
}

slurm_init() {  # slurm_init [MORE COMMANDS NEEDED]
    trap slurm_stop EXIT
    # A test stopped by a signal (timeout, ^C, a closed pipe) still stops the cluster: exit
    # runs the EXIT trap; SIGPIPE is ignored so that the cleanup is not cut short.
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap '' PIPE
    [ "$(id -u)" -eq 0 ] || skip_all "starting slurmctld/slurmd needs root"
    local need=(munged slurmctld slurmd sbatch srun scontrol scancel squeue sinfo "$@") c missing=0
    for c in "${need[@]}"; do command -v "$c" >/dev/null 2>&1 || missing=1; done
    if [ $missing -eq 1 ]; then
        echo "# SLURM missing: installing with tools/deps.sh --slurm"
        timeout 900 tools/deps.sh --slurm >"$TMP/deps.log" 2>&1 ||
            skip_all "SLURM is not installed and tools/deps.sh --slurm failed: $(tail -n 1 "$TMP/deps.log")"
        for c in "${need[@]}"; do
            command -v "$c" >/dev/null 2>&1 || skip_all "SLURM command $c still missing after tools/deps.sh --slurm"
        done
    fi
    chmod 755 "$SHARED"   # munged wants its socket directory (and parents) searchable by all
    mkdir -p "$S/munge-key" "$S/munge-run" "$S/state" "$S/spool" "$S/log"
    chmod 700 "$S/munge-key"
    chmod 755 "$S" "$S/munge-run"
    head -c 1024 /dev/urandom >"$S/munge-key/munge.key"
    chmod 400 "$S/munge-key/munge.key"
    munged -F --socket="$S/munge-run/munge.sock" --key-file="$S/munge-key/munge.key" \
        --pid-file="$S/munge-run/munged.pid" --log-file="$S/log/munged.log" \
        --seed-file="$S/munge-key/munged.seed" 2>"$S/log/munged.stderr" &
    slurm_pids+=($!)
    for _ in $(seq 50); do [ -S "$S/munge-run/munge.sock" ] && break; sleep 0.1; done
    [ -S "$S/munge-run/munge.sock" ] ||
        skip_all "munged did not start: $(tail -n 1 "$S/log/munged.log" 2>/dev/null)"
    # Client commands (sbatch in jobs/submit, srun in the job) find the cluster via SLURM_CONF.
    local v
    for v in $(env | grep -o '^SLURM_[A-Z_]*'); do unset "$v"; done
    export SLURM_CONF=$S/slurm.conf
}

# Free TCP ports on 127.0.0.1 (bound and released; a race with another process is unlikely).
free_ports() {
    "$PY" -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])' "$1"
}

# slurm_conf CTLD_HOST CTLD_PORT SLURMD_PORT NODE_LINES PARTITION_NODES: writes slurm.conf.
# cred_expire also sets how long a requeued job waits before it may start again (default
# 120 s); 10 s keeps the tests short. SlurmdTimeout 10 s: a dead node is DOWN within ~15 s.
slurm_conf() {
    cat >"$S/slurm.conf" <<EOF
ClusterName=clsweeptest$$
SlurmctldHost=$1
SlurmctldPort=$2
SlurmdPort=$3
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge-run/munge.sock,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/%n
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd-%n.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd-%n.log
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
SlurmdTimeout=10
# A loaded CI machine can be slow to answer; a failed array task cancels the merge job.
MessageTimeout=60
DependencyParameters=kill_invalid_depend
$4
PartitionName=debug Nodes=$5 Default=YES MaxTime=INFINITE State=UP
EOF
}

# slurm_wait_idle N: waits until N nodes are idle; skips (with the daemons' last log lines)
# if they do not come up within 40 s.
slurm_wait_idle() {
    local n=0
    for _ in $(seq 200); do
        n=$(sinfo -h -N -o '%N %T' 2>/dev/null | grep -c ' idle$')
        [ "$n" -ge "$1" ] && return 0
        sleep 0.2
    done
    tail -n 5 "$S/log/"*.log "$S/log/"*.stderr 2>/dev/null | sed 's/^/# /'
    skip_all "the SLURM cluster did not come up ($n of $1 nodes idle)"
}

slurm_start_ctld() {
    slurmctld -D -i -f "$SLURM_CONF" >"$S/log/slurmctld.stderr" 2>&1 &
    slurm_pids+=($!)
}

slurm_single() {
    local port_ctld port_d
    read -r port_ctld port_d < <(free_ports 2)
    mkdir -p "$S/spool/localhost"
    slurm_conf localhost "$port_ctld" "$port_d" \
        "NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN" localhost
    slurm_start_ctld
    slurmd -D -N localhost -f "$SLURM_CONF" >"$S/log/slurmd.stderr" 2>&1 &
    slurm_pids+=($!)
    slurm_wait_idle 1
    ok "single-node SLURM is up (ports $port_ctld/$port_d, $(sinfo --version))"
}

# The holder PID of node $1 (n1 → slurm_holders[0]).
node_holder() { echo "${slurm_holders[$((${1#n} - 1))]}"; }
in_node() { local h; h=$(node_holder "$1"); shift; nsenter -t "$h" -n -u -m "$@"; }

# slurm_start_node NODE: its munged and slurmd, inside its namespaces. Each node has its own
# munged (as real hosts do: one munged decoding a credential twice, once per node of a
# step, refuses it as a replay), seen inside the node at the path slurm.conf names: the
# node's mount namespace binds $S/munge-NODE over $S/munge-run.
slurm_start_node() {
    local m=$S/munge-$1
    mkdir -p "$S/spool/$1" "$m"
    chmod 755 "$m"
    rm -f "$m/munge.sock"
    in_node "$1" munged -F --socket="$S/munge-run/munge.sock" --key-file="$S/munge-key/munge.key" \
        --pid-file="$S/munge-run/munged.pid" --log-file="$S/log/munged-$1.log" \
        --seed-file="$m/munged.seed" >>"$S/log/munged-$1.stderr" 2>&1 &
    for _ in $(seq 50); do [ -S "$m/munge.sock" ] && break; sleep 0.1; done
    in_node "$1" slurmd -D -N "$1" -f "$SLURM_CONF" >>"$S/log/slurmd-$1.stderr" 2>&1 &
}

# slurm_multi N [CPUS]: N namespaced nodes of CPUS (default 2) CPUs each.
slurm_multi() {
    local n=$1 cpus=${2:-2} i x="" h node_lines="" port_ctld port_d
    # A /24 in 10.250.0.0/16 that no interface or route of this machine uses yet.
    for i in $(seq 0 20); do
        x=$(( ($$ + i * 37) % 250 + 1 ))
        ip -4 addr show | grep -q "inet 10\.250\.$x\." || ip -4 route show | grep -q "^10\.250\.$x\." ||
            break
        x=""
    done
    [ -n "$x" ] || skip_all "no free 10.250.X.0/24 network for the test bridge"
    slurm_net=10.250.$x
    slurm_bridge=clsbr$(( $$ % 100000 ))
    ip link add "$slurm_bridge" type bridge 2>"$TMP/ip.err" ||
        { slurm_bridge=""; skip_all "cannot create a bridge (needs CAP_NET_ADMIN): $(cat "$TMP/ip.err")"; }
    ip addr add "$slurm_net.1/24" dev "$slurm_bridge"
    ip link set "$slurm_bridge" up
    for i in $(seq 1 "$n"); do
        unshare --net --uts --mount --propagation private sleep infinity &
        h=$!
        disown "$h"   # no "Killed" notice from bash when slurm_stop ends it
        slurm_holders+=("$h")
        slurm_nodes+=("n$i")
        for _ in $(seq 50); do
            [ "$(readlink "/proc/$h/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
            sleep 0.05
        done
        local veth=${slurm_bridge}v$i
        ip link add "$veth" type veth peer name eth0 netns "$h" 2>"$TMP/ip.err" ||
            skip_all "cannot create a veth pair into a namespace: $(cat "$TMP/ip.err")"
        ip link set "$veth" master "$slurm_bridge"
        ip link set "$veth" up
        mkdir -p "$S/munge-n$i"
        nsenter -t "$h" -n -u -m sh -c "hostname n$i && ip link set lo up &&
            ip addr add $slurm_net.$((10 + i))/24 dev eth0 && ip link set eth0 up &&
            mount --bind '$S/munge-n$i' '$S/munge-run' &&
            mount -t tmpfs -o size=256m,mode=1777 clsweep-n$i-tmp /tmp" 2>"$SHARED/ns.err" ||
            skip_all "cannot configure the namespaces of node n$i: $(cat "$SHARED/ns.err")"
        node_lines+="NodeName=n$i NodeAddr=$slurm_net.$((10 + i)) NodeHostname=n$i CPUs=$cpus State=UNKNOWN"$'\n'
    done
    read -r port_ctld port_d < <(free_ports 2)
    slurm_conf "localhost($slurm_net.1)" "$port_ctld" "$port_d" "$node_lines" "n[1-$n]"
    slurm_start_ctld
    for i in $(seq 1 "$n"); do slurm_start_node "n$i"; done
    slurm_wait_idle "$n"
    ok "$n-node SLURM is up: nodes n1..n$n at $slurm_net.11-$((10 + n)) in their own network/UTS namespaces (bridge $slurm_bridge, $(sinfo --version))"
}

slurm_kill_node() {  # slurm_kill_node NODE: every process of the node but its holder
    local h p
    h=$(node_holder "$1")
    for p in $(ns_pids "$h"); do [ "$p" = "$h" ] || kill -9 "$p" 2>/dev/null; done
}
slurm_restart_node() { slurm_start_node "$1"; }

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
job_field() { scontrol show job -o "$1" | grep -oE "(^| )$2=[^ ]*" | head -n 1 | cut -d= -f2-; }
records() { grep -ao CLSJ "$1" 2>/dev/null | wc -l; }
