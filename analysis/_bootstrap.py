"""_bootstrap.py — run the analysis scripts under a Python that has xarray, netCDF4 and
matplotlib. `python3` on PATH may be a separate interpreter without Debian's packages; the
wrappers start /usr/bin/python3 and this re-executes the script under the interpreter that
tools/find_python.sh finds when the current one lacks a package (once, no loops)."""
import os
import subprocess
import sys

REEXEC = "CLSWEEP_ANALYSIS_REEXEC"


def require_analysis_python(prog):
    try:
        import matplotlib  # noqa: F401
        import netCDF4  # noqa: F401
        import pandas  # noqa: F401
        import scipy  # noqa: F401
        import xarray  # noqa: F401
        return
    except ImportError as e:
        missing = e.name or str(e)
    if os.environ.get(REEXEC) != "1":
        here = os.path.dirname(os.path.abspath(__file__))
        finder = os.path.join(here, "..", "tools", "find_python.sh")
        try:
            py = subprocess.run([finder], capture_output=True, text=True).stdout.strip()
        except OSError:
            py = ""
        if py and os.path.realpath(py) != os.path.realpath(sys.executable):
            os.environ[REEXEC] = "1"
            os.execv(py, [py, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    print(f"{prog}: error: {sys.executable} cannot import {missing}, and tools/find_python.sh "
          "found no python3 that can; install python3-xarray python3-netcdf4 "
          "python3-matplotlib python3-pandas python3-scipy (make deps)", file=sys.stderr)
    sys.exit(2)
