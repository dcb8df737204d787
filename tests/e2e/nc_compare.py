"""nc_compare.py A.nc B.nc [--strict] [--ignore VAR ...] [--ignore-att NAME ...]: exit 0 when two clsweep
sweep files are the same, else print every difference and exit 1.

"The same" means, read at the NetCDF level (netCDF4, no CF decoding, so nothing is hidden):
  - the same dimensions (names, sizes, unlimited or not);
  - the same global attributes (names, types, values);
  - the same variables, coordinates included (run_id, model, benchmark, seed and the swept
    axes are plain variables here): names, types, dimensions, attributes and values;
    floating-point values are compared bit for bit (NaN fill included), strings exactly.
Excluded by name, because they depend on timing and nothing else: the values of the
variable wall_seconds (its definition and attributes are still compared); and the global
attribute sweep_file, the path the sweep was loaded from (two runs of one sweep from
different directories; sweep_yaml, its text, is compared) unless --strict. --ignore VAR
excludes more variables' values; --ignore-att NAME excludes another global attribute.
Used by the e2e tests (tests/e2e/lib.sh nc_equal) and tools/compare_shipped.sh."""
import sys

import netCDF4
import numpy as np

TIMING_VARS = {"wall_seconds"}


def att_value(v):
    if isinstance(v, np.ndarray):
        return (str(v.dtype), v.tobytes())
    if isinstance(v, (np.generic,)):
        return (str(np.asarray(v).dtype), np.asarray(v).tobytes())
    return (type(v).__name__, v)


def values(var):
    var.set_auto_maskandscale(False)
    x = var[...]
    if isinstance(x, np.ndarray) and x.dtype.kind in "biufc":
        return ("num", str(x.dtype), x.shape, np.ascontiguousarray(x).tobytes())
    return ("obj", np.asarray(x, dtype=object).shape, [str(s) for s in np.asarray(x, dtype=object).ravel()])


def compare(a_path, b_path, ignore, ignore_att):
    problems = []
    a, b = netCDF4.Dataset(a_path), netCDF4.Dataset(b_path)
    try:
        da = {n: (len(d), d.isunlimited()) for n, d in a.dimensions.items()}
        db = {n: (len(d), d.isunlimited()) for n, d in b.dimensions.items()}
        if da != db:
            problems.append(f"dimensions differ: {da} vs {db}")
        ga = {k: att_value(a.getncattr(k)) for k in a.ncattrs() if k not in ignore_att}
        gb = {k: att_value(b.getncattr(k)) for k in b.ncattrs() if k not in ignore_att}
        for k in sorted(set(ga) | set(gb)):
            if ga.get(k) != gb.get(k):
                problems.append(f"global attribute {k} differs")
        va, vb = list(a.variables), list(b.variables)
        if sorted(va) != sorted(vb):
            problems.append(f"variables differ: {sorted(va)} vs {sorted(vb)}")
        elif va != vb:
            problems.append(f"variable order differs: {va} vs {vb}")
        for name in va:
            if name not in b.variables:
                continue
            x, y = a.variables[name], b.variables[name]
            if str(x.dtype) != str(y.dtype) or x.dimensions != y.dimensions:
                problems.append(f"{name}: type/dimensions differ: {x.dtype}{x.dimensions} vs "
                                f"{y.dtype}{y.dimensions}")
                continue
            xa = {k: att_value(x.getncattr(k)) for k in x.ncattrs()}
            ya = {k: att_value(y.getncattr(k)) for k in y.ncattrs()}
            for k in sorted(set(xa) | set(ya)):
                if xa.get(k) != ya.get(k):
                    problems.append(f"{name}: attribute {k} differs")
            if name in ignore:
                continue
            if values(x) != values(y):
                problems.append(f"{name}: values differ")
    finally:
        a.close()
        b.close()
    return problems


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    a_path, b_path = argv[1], argv[2]
    ignore, ignore_att = set(TIMING_VARS), {"sweep_file"}
    rest = argv[3:]
    i = 0
    while i < len(rest):
        if rest[i] == "--strict":
            ignore_att.discard("sweep_file")
            i += 1
            continue
        if rest[i] == "--ignore" and i + 1 < len(rest):
            ignore.add(rest[i + 1])
        elif rest[i] == "--ignore-att" and i + 1 < len(rest):
            ignore_att.add(rest[i + 1])
        else:
            print(f"nc_compare.py: unknown argument {rest[i]}", file=sys.stderr)
            return 2
        i += 2
    problems = compare(a_path, b_path, ignore, ignore_att)
    for p in problems:
        print(f"{a_path} vs {b_path}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
