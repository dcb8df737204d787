#!/usr/bin/env bash
# C plugins (issue 19, docs/extending.md): `make install DESTDIR=...` installs the header,
# libclsweep, clsweep and clsweep.pc; examples/c_plugin builds out of tree against that
# pkg-config file; the plugin runs in a sweep next to a built-in model with one process and
# under mpirun -np 3, landing in the NetCDF with correct R and metrics; a rerun is
# bit-identical; a SIGKILLed sweep resumes to the same file; a crashing, failing or hanging
# plugin fails only its runs; a wrong-ABI and a missing-symbol plugin are refused clearly at expand time; moving the
# project directory keeps the run ids, rebuilding the .so changes the plugin's.
source "$(dirname "$0")/e2e/lib.sh"
command -v cc >/dev/null || { echo "ok - SKIP no C compiler"; finish; }

inst=$TMP/inst
make -s install BUILD="$BUILD" DESTDIR="$inst" >"$TMP/install.log" 2>&1
check "make install DESTDIR=... succeeds" test $? -eq 0
for f in usr/local/bin/clsweep usr/local/lib/libclsweep.a usr/local/include/clsweep/plugin.h \
         usr/local/lib/pkgconfig/clsweep.pc; do
    check "installed $f" test -s "$inst/$f"
done
export PKG_CONFIG_SYSROOT_DIR=$inst PKG_CONFIG_PATH=$inst/usr/local/lib/pkgconfig
proj=$TMP/proj
mkdir -p "$proj"
cp examples/c_plugin/Makefile examples/c_plugin/l2mlp.c "$proj/"
make -s -C "$proj" >"$TMP/build.log" 2>&1
check "the example plugin builds out of tree against the installed clsweep.pc" test -s "$proj/libl2mlp.so"
cflags=$(pkg-config --cflags clsweep)
for p in crash badabi nosym; do
    # shellcheck disable=SC2086  # cflags is a list of flags
    cc -std=c11 -fPIC -shared $cflags -o "$proj/lib$p.so" "tests/e2e/plugin/$p.c" 2>>"$TMP/build.log"
done
check "the test plugins build" test -s "$proj/libcrash.so" -a -s "$proj/libnosym.so"

cat > "$proj/p.yaml" <<'YAML'
name: plugin
benchmark: {name: split_mnist, train_per_task: 200, test_per_task: 100, block_size: 1}
programs:
  boom: {plugin: libcrash.so}
models: [finetune, plugin:libl2mlp.so, boom]
seeds: 1
grid: {l2mlp.lambda: [0, 1], boom.mode: [ok, segv, fail]}
options: {run_time_limit: 30}
YAML

verify() {
    "$PY" - "$1" <<'PYEOF'
import sys, xarray as xr, numpy as np
ds = xr.open_dataset(sys.argv[1])
got = {}
for i in range(len(ds.model)):
    m = str(ds.model.values[i])
    key = m + ("/" + str(ds.boom__mode.values[i]) if m == "boom" else
               "/" + str(ds.l2mlp__lambda.values[i]) if m == "l2mlp" else "")
    got[key] = (str(ds.status.values[i]), str(ds.message.values[i]), i)
want = {"finetune": ("ok", ""), "l2mlp/0.0": ("ok", ""), "l2mlp/1.0": ("ok", ""),
        "boom/ok": ("ok", ""), "boom/segv": ("failed", "signal 11"),
        "boom/fail": ("failed", "deliberate failure in stage 1")}
bad = [k for k, (st, frag) in want.items() if k not in got or got[k][0] != st or frag not in got[k][1]]
for k in bad:
    print("unexpected:", k, got.get(k), "want", want[k], "have", list(got))
for k in ("l2mlp/0.0", "l2mlp/1.0"):
    if k not in got: continue
    i = got[k][2]
    R = ds.R.values[i]
    if abs(float(ds.acc.values[i]) - R[-1].mean()) > 1e-6 or not (R[-1].mean() > 0.6):
        bad.append("acc " + k); print(k, "acc", float(ds.acc.values[i]), R)
    if not np.isfinite(float(ds.plugin_last_loss.values[i])):
        bad.append("extra " + k); print(k, "plugin_last_loss", ds.plugin_last_loss.values[i])
if "boom/ok" in got:
    R = ds.R.values[got["boom/ok"][2]]
    if not np.allclose(R, np.tile(0.1 * np.arange(R.shape[1]), (R.shape[0], 1))):
        bad.append("R boom"); print("boom R", R)
sys.exit(1 if bad else 0)
PYEOF
}
Y=$proj/p.yaml
"$CLSWEEP" run "$Y" --output "$TMP/solo.nc" --quiet 2>"$TMP/solo.err"
check "single process: the sweep completes despite the crashing plugin" test $? -eq 0
check "single process: R, metrics, extras and each failure recorded" verify "$TMP/solo.nc"
"$CLSWEEP" run "$Y" --output "$TMP/solo2.nc" --quiet 2>>"$TMP/solo.err"
check "a rerun is bit-identical" nc_equal "$TMP/solo.nc" "$TMP/solo2.nc"
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$TMP/mpi.nc" --quiet 2>"$TMP/mpi.err"
check "mpirun -np 3: the sweep completes" test $? -eq 0
check "mpirun -np 3: R, metrics and failures recorded" verify "$TMP/mpi.nc"
check "mpirun -np 3 equals one process" nc_equal "$TMP/solo.nc" "$TMP/mpi.nc"

# SIGKILL the job once a run is journalled, then resume: equals the uninterrupted file.
out=$TMP/k.nc
setsid $MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$TMP/k.err" &
pid=$!
for _ in $(seq 1 600); do
    [ "$(grep -ao CLSJ "$out.journal" 2>/dev/null | wc -l)" -ge 2 ] && break
    sleep 0.05
done
kill -9 -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
sleep 1
$MPIRUN -np 3 "$CLSWEEP" run "$Y" --output "$out" --quiet 2>>"$TMP/k.err"
check "resumed after SIGKILL: the sweep completes" test $? -eq 0
check "killed-and-resumed file equals the uninterrupted one" nc_equal "$TMP/solo.nc" "$out"

# A plugin that hangs is ended by the run's time limit; the other runs finish.
sed -e 's/boom.mode: \[ok, segv, fail\]/boom.mode: [hang]/' -e 's/run_time_limit: 30/run_time_limit: 8/' \
    "$Y" > "$proj/hang.yaml"
"$CLSWEEP" run "$proj/hang.yaml" --output "$TMP/hang.nc" --quiet 2>"$TMP/hang.err"
check "a hanging plugin: the sweep completes" test $? -eq 0
"$PY" -c "import sys, xarray as xr; ds = xr.open_dataset(sys.argv[1]); [print(m, s, g) for m, s, g in zip(ds.model.values, ds.status.values, ds.message.values)]" \
    "$TMP/hang.nc" > "$TMP/hang.txt"
check "a hanging plugin fails with the time limit, the others are ok" \
    bash -c "grep -q '^boom failed .*time limit exceeded' '$TMP/hang.txt' && test \$(grep -c ' ok ' '$TMP/hang.txt') -eq 3"

# A run whose .so changed after expansion (its plugin.hash no longer matches) is refused.
"$CLSWEEP" single --sweep "$Y" --model l2mlp --set plugin.hash=0123456789abcdef > "$TMP/stale" 2>&1
check "a run of a changed .so fails, naming both hashes" \
    grep -q "^status: failed: init: plugin .*libl2mlp.so: its content hash is [0-9a-f]*, the run was expanded with 0123456789abcdef" "$TMP/stale"

# Refused plugins: clear errors at expand time, with file:line:column, the .so and the cause.
refused() {  # refused NAME LIBNAME PATTERN
    printf 'benchmark: split_mnist\nmodels: [finetune, plugin:%s]\n' "$2" > "$proj/$1.yaml"
    "$CLSWEEP" expand "$proj/$1.yaml" >/dev/null 2>"$TMP/$1.err"
    local rc=$?
    [ $rc -eq 2 ] && grep -q "$1.yaml:2:20: plugin [^ ]*: $3" "$TMP/$1.err" ||
        { cat "$TMP/$1.err"; return 1; }
}
check "a wrong-ABI plugin is refused (ABI named)" \
    refused wrongabi libbadabi.so "built for plugin ABI 1000, this clsweep expects ABI 2 (or 1)"
check "a plugin without clsweep_plugin_entry is refused (symbol named)" \
    refused nosym libnosym.so "no symbol 'clsweep_plugin_entry'"
check "a missing .so is refused" refused missing libnone.so "No such file"
check "a shared object that is not a plugin is refused" \
    refused notplugin ../inst/usr/local/lib/pkgconfig/clsweep.pc "cannot load"
printf 'benchmark: split_mnist\nprograms:\n  x: {plugin: libl2mlp.so, command: [a]}\n' > "$proj/both.yaml"
"$CLSWEEP" expand "$proj/both.yaml" >/dev/null 2>"$TMP/both.err"
check "plugin: and command: together are refused" grep -q "both.yaml:3:.*either 'plugin:' or 'command:'" "$TMP/both.err"
printf 'benchmark: split_mnist\nmodels: [plugin:libl2mlp.so]\ngrid: {l2mlp.hidden: [0]}\n' > "$proj/range.yaml"
"$CLSWEEP" expand "$proj/range.yaml" >/dev/null 2>"$TMP/range.err"
check "a plugin key out of its declared range is refused" grep -q "range.yaml:3:.*l2mlp.hidden" "$TMP/range.err"

# Run ids: the same after moving the project directory; rebuilding the .so changes the
# plugin's ids only.
"$CLSWEEP" expand "$Y" 2>/dev/null | grep -oE '^[0-9a-f]{16} ' | sort > "$TMP/ids1"
mv "$proj" "$TMP/moved"
"$CLSWEEP" expand "$TMP/moved/p.yaml" 2>/dev/null | grep -oE '^[0-9a-f]{16} ' | sort > "$TMP/ids2"
check "6 run ids listed" test "$(wc -l < "$TMP/ids1")" -eq 6
check "moving the project directory keeps every run id" cmp -s "$TMP/ids1" "$TMP/ids2"
make -s -C "$TMP/moved" clean >/dev/null
make -s -C "$TMP/moved" CFLAGS="-O1" >/dev/null 2>&1
"$CLSWEEP" expand "$TMP/moved/p.yaml" 2>/dev/null | grep -oE '^[0-9a-f]{16} ' | sort > "$TMP/ids3"
changed=$(comm -3 "$TMP/ids2" "$TMP/ids3" | wc -l)
check "rebuilding the plugin changes its 2 run ids, not the others" test "$changed" -eq 4
finish
