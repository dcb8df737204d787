#!/usr/bin/env bash
# An absurd learning rate is recorded as diverged; the other run completes.
source "$(dirname "$0")/e2e/lib.sh"
"$CLSWEEP" run tests/e2e/diverge.yaml --output "$TMP/d.nc" --quiet
check "sweep with a diverging run exits 0" test $? -eq 0
"$PY" - "$TMP/d.nc" <<'PYEOF'
import sys, xarray as xr
ds = xr.open_dataset(sys.argv[1])
st = {float(lr): str(s) for lr, s in zip(ds["train__lr"].values, ds["status"].values)}
msg = [str(m) for m in ds["message"].values]
ok = st == {0.01: "ok", 1e6: "diverged"} and any("non-finite" in m for m in msg)
print("statuses:", st, msg)
sys.exit(0 if ok else 1)
PYEOF
check "absurd lr recorded as diverged, the other ok" test $? -eq 0
finish
