#!/usr/bin/env bash
# Bad environment: each case gives a clear message and leaves earlier results intact, and
# the sweep completes once the environment is fixed.
#   missing / corrupt data set, unwritable output directory, output file that is not ours,
#   disk full during the .nc rewrite and during a journal append, a worker rank that dies,
#   a hung run at SIGTERM (single process), a rank SIGKILLed while its run process works.
# The disk-full cases use a small tmpfs when this user may mount one (root, as in CI), and
# RLIMIT_FSIZE (ulimit -f, SIGXFSZ ignored) otherwise.
source "$(dirname "$0")/e2e/lib.sh"
# Live (not zombie: a container's PID 1 may never reap orphans) processes of a group/pid.
group_alive() { ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {n++} END {exit !n}'; }
pid_alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
TINY=tests/e2e/tiny.yaml
# Never leave a tmpfs mounted (a failed case may stop between mount and umount).
trap 'umount "$TMP/full" "$TMP/mnt" 2>/dev/null; rm -rf "$TMP"' EXIT
run_quiet() { "$CLSWEEP" run "$@" --quiet; }
nruns() { "$PY" -c "import xarray as x,sys; print(x.open_dataset(sys.argv[1]).sizes['run'])" "$1"; }
"$CLSWEEP" run "$TINY" --output "$TMP/ref.nc" --quiet 2>/dev/null || notok "reference sweep"

# ---- 1. missing and corrupt data sets: runs recorded failed, message names the path and
#         the set-up command; the sweep goes on; a resume with the data completes.
cat >"$TMP/data.yaml" <<'YAML'
name: data
benchmark: {name: split_mnist, block_size: 1, train_per_task: 100, test_per_task: 50}
models: [finetune]
seeds: 2
defaults: {mlp.hidden: [8]}
YAML
CLSWEEP_DATA=$TMP/nowhere "$CLSWEEP" run "$TMP/data.yaml" --output "$TMP/data.nc" --quiet 2>"$TMP/data.err"
check "missing MNIST: the sweep completes (exit 0)" test $? -eq 0
msg_has() {  # msg_has FILE.nc STATUS FRAGMENT...: every run has STATUS and each fragment
    "$PY" - "$@" <<'PYEOF'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1])
ok = all(str(s) == sys.argv[2] and all(f in str(m) for f in sys.argv[3:])
         for s, m in zip(ds.status.values, ds.message.values))
if not ok:
    print("#", list(zip(ds.status.values, ds.message.values)))
sys.exit(0 if ok and ds.sizes["run"] > 0 else 1)
PYEOF
}
check "missing MNIST: runs failed, message names the path and \`make data\`" \
    msg_has "$TMP/data.nc" failed "$TMP/nowhere/mnist/" "make data"
MNIST_DIR=${CLSWEEP_DATA:-data}/mnist   # where clsweep looks (src/data/datasets.c)
if [ -f "$MNIST_DIR/train-images-idx3-ubyte.gz" ] || [ -f "$MNIST_DIR/train-images-idx3-ubyte" ]; then
    run_quiet "$TMP/data.yaml" --output "$TMP/data.nc" 2>/dev/null
    check "missing MNIST: after the data is there, the resume retries the failed runs" \
        msg_has "$TMP/data.nc" ok
    # A truncated data file: a failed run naming the file and what is wrong.
    mkdir -p "$TMP/corrupt/mnist"
    for f in "$MNIST_DIR"/*; do cp "$f" "$TMP/corrupt/mnist/"; done
    img=$(ls "$TMP"/corrupt/mnist/train-images* | head -1)
    head -c 5000 "$img" >"$img.cut" && mv "$img.cut" "$img"
    CLSWEEP_DATA=$TMP/corrupt run_quiet "$TMP/data.yaml" --output "$TMP/corrupt.nc" 2>/dev/null
    check "corrupt MNIST file: runs failed, message names the file" \
        msg_has "$TMP/corrupt.nc" failed "$img"
else
    ok "missing MNIST: resume with data # SKIP $MNIST_DIR not built (make data)"
fi
sed 's/split_mnist/split_fashion/' "$TMP/data.yaml" >"$TMP/fashion.yaml"
FASHION_MNIST_DIR=$TMP/nowhere run_quiet "$TMP/fashion.yaml" --output "$TMP/fashion.nc" 2>/dev/null
check "wrong FASHION_MNIST_DIR: runs failed, message names the path and \`make deps\`" \
    msg_has "$TMP/fashion.nc" failed "$TMP/nowhere/train-images" "make deps"

echo "# data sets: ${SECONDS}s"
# ---- 2. unwritable output directory: exit 2, a message naming the path, nothing created.
touch "$TMP/afile"
run_quiet "$TINY" --output "$TMP/afile/out.nc" 2>"$TMP/e1"
check "a file where the output directory should be: exit 2" test $? -eq 2
check "  ... the message names it" grep -q "$TMP/afile" "$TMP/e1"
run_quiet "$TINY" --output /proc/clsweep-test/out.nc 2>"$TMP/e2"
check "output directory that cannot be created (/proc): exit 2 with the path" \
    bash -c "test $? -eq 2 && grep -q /proc/clsweep-test '$TMP/e2'"
can_mount=0
mkdir -p "$TMP/mnt"
if mount -t tmpfs -o size=64k tmpfs "$TMP/mnt" 2>/dev/null; then
    can_mount=1
    umount "$TMP/mnt"
    mount -t tmpfs -o ro,size=64k tmpfs "$TMP/mnt"
    run_quiet "$TINY" --output "$TMP/mnt/out.nc" 2>"$TMP/e3"
    rc=$?
    umount "$TMP/mnt"
    check "read-only file system: exit 2, message says so" \
        bash -c "test $rc -eq 2 && grep -q 'Read-only file system' '$TMP/e3'"
else
    ok "read-only file system # SKIP cannot mount a tmpfs here"
fi

# ---- 3. an output file that is not ours: exit 2, the file untouched, no journal left.
printf 'precious data\n' >"$TMP/text.nc"
cp "$TMP/text.nc" "$TMP/text.orig"
run_quiet "$TINY" --output "$TMP/text.nc" 2>"$TMP/e4"
check "an unrelated file at the output path: exit 2" test $? -eq 2
check "  ... the file is untouched" cmp -s "$TMP/text.nc" "$TMP/text.orig"
check "  ... the message says so" grep -q "refusing to overwrite" "$TMP/e4"
check "  ... no journal is created beside it" test ! -e "$TMP/text.nc.journal"
printf 'netcdf other { dimensions: x = 2 ; variables: int v(x) ; data: v = 1, 2 ; }\n' >"$TMP/o.cdl"
if ncgen -4 -o "$TMP/other.nc" "$TMP/o.cdl" 2>/dev/null; then
    cp "$TMP/other.nc" "$TMP/other.orig"
    run_quiet "$TINY" --output "$TMP/other.nc" 2>"$TMP/e5"
    check "someone else's NetCDF file at the output path: exit 2, untouched" \
        bash -c "test $? -eq 2 && cmp -s '$TMP/other.nc' '$TMP/other.orig' && grep -q 'not a clsweep results file' '$TMP/e5'"
fi
printf 'not a journal\n' >"$TMP/j.nc.journal"
run_quiet "$TINY" --output "$TMP/j.nc" 2>"$TMP/e6"
check "an unrelated file at the journal path: exit 2, untouched" \
    bash -c "test $? -eq 2 && test \"\$(cat '$TMP/j.nc.journal')\" = 'not a journal' && grep -q 'not a clsweep journal' '$TMP/e6'"

echo "# output paths: ${SECONDS}s"
# ---- 4. disk full, simulated with a small tmpfs (skipped where this user cannot mount
#         one; RLIMIT_FSIZE is no substitute: Open MPI's PMIx and orted, which even a
#         single-process run starts, fail under it).
# 4a. during the .nc rewrite (the file outgrows the space), under mpirun: exit 2 with the
#     reason, the previous .nc intact and readable, no .tmp left; after space is freed the
#     resume completes.
full=$TMP/full
mkdir -p "$full"
if [ $can_mount -eq 1 ]; then
    mount -t tmpfs -o size=72k tmpfs "$full"
    $MPIRUN -np 2 "$CLSWEEP" run "$TINY" --output "$full/out.nc" --quiet 2>"$TMP/e7"
    rc=$?
    check "disk full during the .nc rewrite: exit 2" test $rc -eq 2
    check "  ... the message gives the reason" grep -Eq "out.nc.tmp[.A-Za-z0-9]*: No space left on device" "$TMP/e7"
    [ $rc -eq 2 ] || sed 's/^/#   /' "$TMP/e7"
    check "  ... printed once" test "$(grep -c "No space left on device" "$TMP/e7")" -eq 1
    check "  ... the previous .nc is intact and readable" ncdump -h "$full/out.nc" >/dev/null
    n_before=$(nruns "$full/out.nc" 2>/dev/null || echo 0)
    check "  ... it holds the runs finished before ($n_before)" test "$n_before" -ge 1
    check "  ... no temporary file is left behind" test -z "$(find "$full" -maxdepth 1 -name '*.tmp*' -print -quit)"
    mount -o remount,size=4m "$full"
    $MPIRUN -np 2 "$CLSWEEP" run "$TINY" --output "$full/out.nc" --quiet 2>/dev/null
    check "  ... after space is freed the resume completes" test $? -eq 0
    check "  ... and equals the uninterrupted sweep" nc_equal "$TMP/ref.nc" "$full/out.nc"
    umount "$full"
else
    ok "disk full during the .nc rewrite # SKIP cannot mount a tmpfs here"
fi

# 4b. during a journal append: the .nc is only written at the end (flush_seconds) and a
#     filler leaves the journal one 4 KiB page. 60 instant crashtest runs outgrow it.
cat >"$TMP/many.yaml" <<'YAML'
name: many
benchmark: {name: teacher_student, blocks: 2, block_size: 5, batch: 10, test_size: 20}
models: [crashtest]
seeds: 60
options: {flush_seconds: 100000}
YAML
if [ $can_mount -eq 1 ]; then
    "$CLSWEEP" run "$TMP/many.yaml" --output "$TMP/many-ref.nc" --quiet 2>/dev/null
    mount -t tmpfs -o size=8k tmpfs "$full"
    head -c 4096 /dev/zero >"$full/filler"
    $MPIRUN -np 2 "$CLSWEEP" run "$TMP/many.yaml" --output "$full/jf.nc" --quiet >"$TMP/e8" 2>&1
    rc=$?
    check "disk full during a journal append: exit 2" test $rc -eq 2
    check "  ... the message names the journal and the reason" \
        grep -q "jf.nc.journal: .*No space left on device" "$TMP/e8"
    [ $rc -eq 2 ] || sed 's/^/#   /' "$TMP/e8"
    check "  ... printed once" test "$(grep -c "No space left on device" "$TMP/e8")" -eq 1
    recs=$(grep -ao CLSJ "$full/jf.nc.journal" 2>/dev/null | wc -l)
    check "  ... the journal holds the runs finished before ($recs)" test "$recs" -ge 1
    rm -f "$full/filler"
    mount -o remount,size=4m "$full"
    $MPIRUN -np 2 "$CLSWEEP" run "$TMP/many.yaml" --output "$full/jf.nc" --quiet 2>"$TMP/e9"
    check "  ... after space is freed the resume completes" test $? -eq 0
    check "  ... and equals the uninterrupted sweep" nc_equal "$TMP/many-ref.nc" "$full/jf.nc"
    umount "$full"
else
    ok "disk full during a journal append # SKIP cannot mount a tmpfs here"
fi

echo "# disk full: ${SECONDS}s"
# ---- 5. a worker rank dies (kill -9 under mpirun -np 3): Open MPI takes the whole job
#         down; the file stays readable and the resumed job completes to the reference.
out=$TMP/dead.nc
setsid $MPIRUN -np 3 "$CLSWEEP" run "$TINY" --output "$out" --quiet 2>"$TMP/dead.err" &
job=$!
for _ in $(seq 1 400); do
    [ "$(grep -ao CLSJ "$out.journal" 2>/dev/null | wc -l)" -ge 2 ] && break
    sleep 0.02
done
victim=""
for p in $(pgrep -P "$job" 2>/dev/null) $(pgrep -g "$job" 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
        # the rank itself, not its forked run process: its parent is not a clsweep rank
        pp=$(ps -o ppid= -p "$p" | tr -d ' ')
        tr '\0' '\n' <"/proc/$pp/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' || { victim=$p; break; }
    fi
done
if [ -n "$victim" ]; then
    kill -9 "$victim"
    for _ in $(seq 1 300); do pid_alive "$job" || break; sleep 0.1; done
    alive=0
    pid_alive "$job" && alive=1
    check "a dead worker: the job ends (MPI aborts it) instead of hanging" test $alive -eq 0
    [ $alive -eq 1 ] && kill -9 -- -"$job"
    wait "$job" 2>/dev/null
    sleep 0.3
    left=0
    group_alive "$job" && left=1
    check "  ... no process of the job is left (ranks, run processes)" test $left -eq 0
    [ $left -eq 1 ] && pkill -9 -g "$job"
    check "  ... the sweep file is readable" nc_readable "$out"
    echo "# the file held $(nruns "$out" 2>/dev/null) of 12 runs after the kill"
    $MPIRUN -np 3 "$CLSWEEP" run "$TINY" --output "$out" --quiet 2>>"$TMP/dead.err"
    check "  ... the resumed job completes" test $? -eq 0
    check "  ... and equals the uninterrupted sweep" nc_equal "$TMP/ref.nc" "$out"
else
    notok "a dead worker: could not find rank 1 of the job"
    kill -9 -- -"$job"
fi

echo "# dead worker: ${SECONDS}s"
# ---- 6. regressions from the crash-isolation review (src/sweep/scheduler.c run_isolated)
cat >"$TMP/hang.yaml" <<'YAML'
name: hang
benchmark: {name: teacher_student, blocks: 2, block_size: 20, batch: 10, test_size: 50}
models: [crashtest]
seeds: 2
defaults: {crashtest.at_stage: 1, crashtest.mode: hang}
options: {grace_seconds: 1}
YAML
# 6a. SIGTERM while a run hangs, one process (no master to give up on it): the run is
#     killed after the grace period and the sweep exits 3 (resumable).
wait_child() {  # wait_child PID: prints the pid of its run process once it exists
    local c=""
    for _ in $(seq 1 100); do
        c=$(pgrep -P "$1" -f "clsweep run" | head -1)
        [ -n "$c" ] && break
        sleep 0.1
    done
    echo "$c"
}
"$CLSWEEP" run "$TMP/hang.yaml" --output "$TMP/hang.nc" --quiet 2>"$TMP/hang.err" &
pid=$!
wait_child "$pid" >/dev/null
sleep 0.3
kill -TERM "$pid"
for _ in $(seq 1 60); do pid_alive "$pid" || break; sleep 0.1; done
if pid_alive "$pid"; then
    notok "SIGTERM with a hung run (single process): exits within the grace period"
    pkill -9 -P "$pid"; kill -9 "$pid"
else
    wait "$pid"
    check "SIGTERM with a hung run (single process): exits 3 within the grace period" test $? -eq 3
fi
# 6b. the rank gets SIGKILL while its run process computes: the run process dies too.
"$CLSWEEP" run "$TMP/hang.yaml" --output "$TMP/hang2.nc" --quiet 2>/dev/null &
pid=$!
child=$(wait_child "$pid")
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null
sleep 0.3
if [ -n "$child" ] && pid_alive "$child"; then
    notok "a SIGKILLed rank takes its run process with it"
    kill -9 "$child"
else
    check "a SIGKILLed rank takes its run process with it" test -n "$child"
fi
finish
