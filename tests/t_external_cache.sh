#!/usr/bin/env bash
# The stream cache of external programs (src/models/external.c, docs/extending.md "Stream
# cache"): created 0700; refused with a clear message when it is a symbolic link, not a
# directory, writable by others or owned by another user; evicted least recently used first
# down to CLSWEEP_STREAM_CACHE_MB; and keyed by the files benchmark's data content, so new
# data in the same paths never reuses an old stream.
source "$(dirname "$0")/e2e/lib.sh"
mkdir -p "$TMP/sw/ext"
cp tests/e2e/ext/prior.py "$TMP/sw/ext/"
cat > "$TMP/sw/c.yaml" <<'YAML'
benchmark: {name: split_mnist, train_per_task: 100, test_per_task: 50, block_size: 1}
programs:
  prior:
    command: [python3, ext/prior.py]
    params: {prior.mode: {type: str, default: ok}, prior.bonus: {type: float, default: 0}}
models: [prior]
seeds: [0, 1]
YAML
# messages ITEM: the status and message of every run of the file
messages() {
    "$PY" -c "import sys, xarray as xr; ds = xr.open_dataset(sys.argv[1]); [print(s, m) for s, m in zip(ds.status.values, ds.message.values)]" "$1"
}
run() {  # run CACHE OUT
    CLSWEEP_STREAM_CACHE=$1 "$CLSWEEP" run "$TMP/sw/c.yaml" --output "$2" --quiet 2>>"$TMP/err"
}
nstreams() { find "$1" -maxdepth 1 -name 'stream-*' -type d | wc -l; }

run "$TMP/c1/cache" "$TMP/a.nc"
check "a sweep with a fresh cache completes" test "$(messages "$TMP/a.nc" | grep -c '^ok')" -eq 2
check "the cache is created with mode 0700" test "$(stat -c %a "$TMP/c1/cache")" = 700
check "one stream per seed is cached (under the cap)" test "$(nstreams "$TMP/c1/cache")" -eq 2
CLSWEEP_STREAM_CACHE_MB=0 run "$TMP/c0" "$TMP/b.nc"
check "cap 0: the sweep completes" test "$(messages "$TMP/b.nc" | grep -c '^ok')" -eq 2
check "cap 0: streams not in use are evicted (only the last one stays)" test "$(nstreams "$TMP/c0")" -eq 1
check "cap 0: no temporaries are left" test -z "$(find "$TMP/c0" -maxdepth 1 -name '.*-*')"

refused() {  # refused NAME CACHE PATTERN
    rm -f "$TMP/$1.nc" "$TMP/$1.nc.journal"
    run "$2" "$TMP/$1.nc"
    messages "$TMP/$1.nc" > "$TMP/$1.msg"
    grep -q "^failed .*stream cache $2 $3.*refused" "$TMP/$1.msg" || { cat "$TMP/$1.msg"; return 1; }
}
mkdir -p "$TMP/real"
chmod 700 "$TMP/real"
ln -s "$TMP/real" "$TMP/link"
check "a cache that is a symbolic link is refused" refused link "$TMP/link" "is a symbolic link"
check "nothing was written through the link" test -z "$(ls -A "$TMP/real")"
: > "$TMP/file"
check "a cache that is a file is refused" refused file "$TMP/file" "is not a directory"
mkdir -p "$TMP/open" && chmod 777 "$TMP/open"
check "a cache writable by others is refused" refused open "$TMP/open" "is writable by group or others"
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$TMP/other" && chmod 700 "$TMP/other" && chown 65534 "$TMP/other"
    check "a cache owned by another user is refused" refused other "$TMP/other" "is owned by another user"
else
    echo "ok - SKIP a cache owned by another user (needs root to create one)"
fi

# The files benchmark: the same paths with new content make a new stream.
D=$TMP/sw/data
mkdir -p "$D"
"$PY" - "$D" <<'PYEOF'
import sys, numpy as np
d, rng = sys.argv[1], np.random.default_rng(0)
for split, n in (("train", 200), ("test", 100)):
    np.save(f"{d}/{split}_x.npy", rng.normal(size=(n, 8)).astype(np.float32))
    np.save(f"{d}/{split}_y.npy", np.arange(n) % 4)
PYEOF
sed -e 's|^benchmark:.*|benchmark: {name: files, train: {x: data/train_x.npy, y: data/train_y.npy}, test: {x: data/test_x.npy, y: data/test_y.npy}, split: {classes_per_task: 2}, block_size: 1}|' \
    -e 's|^seeds:.*|seeds: [0]|' "$TMP/sw/c.yaml" > "$TMP/sw/f.yaml"
frun() { CLSWEEP_STREAM_CACHE=$TMP/cf "$CLSWEEP" run "$TMP/sw/f.yaml" --output "$1" --quiet 2>>"$TMP/err"; }
frun "$TMP/f1.nc"
check "files benchmark: the program runs" test "$(messages "$TMP/f1.nc" | grep -c '^ok')" -eq 1
"$PY" -c "import numpy as np, sys; y = np.load(sys.argv[1]); y[0] = (y[0] + 1) % 4; np.save(sys.argv[1], y)" "$D/test_y.npy"
frun "$TMP/f2.nc"
check "files benchmark: new data in the same files makes a new stream" test "$(nstreams "$TMP/cf")" -eq 2
finish
