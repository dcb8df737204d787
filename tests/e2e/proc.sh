# shellcheck shell=bash
# Helpers for the tests that signal or kill processes of a job (sourced after lib.sh):
# journal records, the pid of a rank, processes left behind. Issue 17.
# Journal records so far (the header is not one).
nrecords() { local n; n=$(grep -ao CLSJ "$1" 2>/dev/null | wc -l); echo $((n > 0 ? n - 1 : 0)); }
wait_records() {  # wait_records JOURNAL N: until N records (30 s at most)
    for _ in $(seq 1 600); do
        [ "$(nrecords "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
# The pid of MPI rank R among the clsweep processes whose command line holds OUT.
rank_pid() {  # rank_pid OUT R
    local p
    for p in $(pgrep -f -- "clsweep run .*$1"); do
        tr '\0' '\n' < /proc/"$p"/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" &&
            { echo "$p"; return 0; }
    done
    return 1
}
# Processes (not zombies) whose command line holds OUT: the job's ranks and run processes.
survivors() { local p n=0; for p in $(pgrep -f -- "clsweep run .*$1"); do
    st=$(ps -o stat= -p "$p" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ] && n=$((n + 1)); done
    echo $n; }
# Kills (-9) every survivor of OUT, one pid at a time (cleanup after a failed check).
kill_survivors() { local p; for p in $(pgrep -f -- "clsweep run .*$1"); do kill -9 "$p" 2>/dev/null; done; }
# Runs in a sweep file.
nruns() { ncdump -h "$1" 2>/dev/null | sed -n 's/^[[:space:]]*run = \([0-9]*\).*/\1/p' | head -1; }
# kill -9 of the job PID (started with setsid: its process group) writing OUT; waits until
# its processes are gone (5 s at most) and sets leftover=1 if any survived, readable=0 if OUT
# exists and does not read.
# shellcheck disable=SC2034  # leftover and readable are the caller's
kill_job() {  # kill_job PID OUT
    kill -9 -- -"$1" 2>/dev/null
    wait "$1" 2>/dev/null
    for _ in $(seq 1 50); do [ "$(survivors "$2")" -eq 0 ] && break; sleep 0.1; done
    if [ "$(survivors "$2")" -ne 0 ]; then leftover=1; kill_survivors "$2"; fi
    if [ -f "$2" ] && ! ncdump -h "$2" >/dev/null 2>&1; then readable=0; fi
}
