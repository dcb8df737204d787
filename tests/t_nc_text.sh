#!/usr/bin/env bash
# Issue 23: text variables (run_id, model, config, status, message, metric, text axes) are
# char arrays (run, <name>_strlen) with _Encoding utf-8, not HDF5 variable-length strings
# (~10 us a value to write: ~100 s for 10^6 runs). Files of the earlier layout (string(run))
# stay readable: status, merge and resume read both; a text variable whose claimed size is
# beyond what a file of its size can hold (deflated) is refused.
source "$(dirname "$0")/e2e/lib.sh"
cat > "$TMP/s.yaml" <<'YAML'
name: text
benchmark: {name: teacher_student, blocks: 2, block_size: 50, batch: 25, test_size: 50}
models: [finetune]
seeds: 2
defaults: {mlp.hidden: [8]}
grid:
  train.optimizer: [sgd, adam]
YAML
"$CLSWEEP" run "$TMP/s.yaml" --output "$TMP/new.nc" --quiet 2>"$TMP/e0"
check "sweep: exit 0" test $? -eq 0
ncdump -h "$TMP/new.nc" >"$TMP/h" 2>&1
check "  ... char run_id(run, run_id_strlen), _Encoding utf-8" \
    grep -q 'char run_id(run, run_id_strlen)' "$TMP/h"
check "  ... config and the text axis train__optimizer are char arrays too" \
    grep -q 'char train__optimizer(run, train__optimizer_strlen)' "$TMP/h"
check "  ... no variable-length strings left" test "$(grep -c '^	string ' "$TMP/h")" -eq 0
"$PY" - "$TMP/new.nc" >"$TMP/vals" 2>&1 <<'PY'
import sys, netCDF4, xarray as xr
d = netCDF4.Dataset(sys.argv[1])
print(sorted(set(d["status"][:])), sorted(set(d["train__optimizer"][:])), d["config"][:][0].startswith("benchmark."))
x = xr.open_dataset(sys.argv[1])
print(x["status"].dims, sorted(set(x["train__optimizer"].values)))
PY
check "  ... netCDF4 and xarray read them as strings" \
    grep -qx "\['ok'\] \['adam', 'sgd'\] True" "$TMP/vals"
check "  ... xarray: one string per run" grep -qx "('run',) \['adam', 'sgd'\]" "$TMP/vals" || cat "$TMP/vals"

# The earlier layout: the same file with every text variable as string(run).
"$PY" tests/e2e/nc_old_layout.py "$TMP/new.nc" "$TMP/old.nc"
check "earlier layout written (string(run))" grep -q 'string run_id(run)' <(ncdump -h "$TMP/old.nc")
"$CLSWEEP" status "$TMP/new.nc" >"$TMP/st_new" 2>&1
"$CLSWEEP" status "$TMP/old.nc" >"$TMP/st_old" 2>&1
sed -i "s|$TMP/old.nc|$TMP/new.nc|" "$TMP/st_old"
check "status reads the earlier layout alike" cmp -s "$TMP/st_new" "$TMP/st_old"
"$CLSWEEP" merge "$TMP/merged.nc" "$TMP/old.nc" 2>"$TMP/e1"
check "merge of an earlier-layout file equals the new file" nc_equal "$TMP/new.nc" "$TMP/merged.nc"
cp "$TMP/old.nc" "$TMP/res.nc"
"$CLSWEEP" run "$TMP/s.yaml" --output "$TMP/res.nc" 2>"$TMP/e2"
check "resume over an earlier-layout file: exit 0" test $? -eq 0
check "  ... its 4 runs read as done" grep -q "4 runs (4 before deduplication), 4 already done" "$TMP/e2"
check "  ... rewritten in the new layout, the same values" nc_equal "$TMP/new.nc" "$TMP/res.nc"

# A text variable that claims more characters than a file of its size can hold, deflated.
"$PY" - "$TMP/new.nc" "$TMP/bomb.nc" <<'PY'
import sys, netCDF4, numpy as np
a = netCDF4.Dataset(sys.argv[1]); b = netCDF4.Dataset(sys.argv[2], "w")
a.set_auto_chartostring(False); b.set_auto_chartostring(False)
b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
for n, d in a.dimensions.items():
    b.createDimension(n, 2000000000 if n == "config_strlen" else len(d))
for n, v in a.variables.items():
    atts = {k: v.getncattr(k) for k in v.ncattrs()}
    fill = atts.pop("_FillValue", None)
    w = b.createVariable(n, v.dtype, v.dimensions, fill_value=fill, zlib=True,
                         chunksizes=(1, 1 << 20) if n == "config" else None)
    w.setncatts(atts)
    if n != "config": w[:] = v[:]
b.close()
PY
timeout 60 "$CLSWEEP" status "$TMP/bomb.nc" >/dev/null 2>"$TMP/e3"
rc=$?
check "a text variable claiming 4 x 2e9 characters: refused (exit 2), no hang" test $rc -eq 2
check "  ... the message names the variable and why" \
    grep -q "config claims 4 x 2000000000 characters, more than a file of this size can hold" "$TMP/e3"
[ $rc -eq 2 ] || sed 's/^/#   /' "$TMP/e3"
finish
