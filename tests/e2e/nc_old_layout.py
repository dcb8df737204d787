#!/usr/bin/env python3
"""nc_old_layout.py IN OUT: OUT = the sweep file IN in the layout clsweep wrote before issue 23,
every text variable (char (run, <name>_strlen), _Encoding utf-8) as a NetCDF-4
variable-length string variable (run) — the same values, attributes and dimensions
otherwise. For the tests that read files of that layout (t_nc_text.sh, t_nc_damaged.sh)."""
import sys

import netCDF4
import numpy as np


def main(src, dst):
    a = netCDF4.Dataset(src)
    b = netCDF4.Dataset(dst, "w")
    b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
    for n, d in a.dimensions.items():
        if not n.endswith("_strlen"):
            b.createDimension(n, None if d.isunlimited() else len(d))
    for n, v in a.variables.items():
        text = v.dtype == np.dtype("S1")
        atts = {k: v.getncattr(k) for k in v.ncattrs() if k != "_Encoding"}
        fill = atts.pop("_FillValue", None)
        w = b.createVariable(n, str if text else v.dtype,
                             v.dimensions[:1] if text else v.dimensions, fill_value=fill)
        w.setncatts(atts)
        w[:] = np.array(v[:], dtype=object) if text else v[:]
    b.close()
    a.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
