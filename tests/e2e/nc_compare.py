"""nc_compare.py A.nc B.nc [--ignore VAR ...]: exit 0 when two clsweep sweep files hold
the same runs with the same values (wall_seconds ignored), else print the differences."""
import sys

import numpy as np
import xarray as xr


def main(argv):
    a_path, b_path = argv[1], argv[2]
    ignore = {"wall_seconds"} | set(argv[4::2] if len(argv) > 3 else [])
    a, b = xr.open_dataset(a_path), xr.open_dataset(b_path)
    problems = []
    if sorted(a.data_vars) != sorted(b.data_vars):
        problems.append(f"variables differ: {sorted(a.data_vars)} vs {sorted(b.data_vars)}")
    if dict(a.sizes) != dict(b.sizes):
        problems.append(f"dimensions differ: {dict(a.sizes)} vs {dict(b.sizes)}")
    if not problems:
        for v in a.data_vars:
            if v in ignore:
                continue
            x, y = a[v].values, b[v].values
            if x.dtype.kind in "fc":
                same = np.array_equal(x, y, equal_nan=True)
            else:
                same = np.array_equal(x, y)
            if not same:
                problems.append(f"{v} differs")
    for p in problems:
        print(f"{a_path} vs {b_path}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
