#!/usr/bin/env bash
# find_python.sh — prints the path of a python3 that can import xarray, netCDF4, matplotlib,
# pandas and scipy (the analysis scripts and pytest need all of them); exit 1 if there is none.
set -u

candidates=(/usr/bin/python3)
p=$(command -v python3 2>/dev/null) && candidates+=("$p")

for py in "${candidates[@]}"; do
    if [ -x "$py" ] && "$py" -c 'import xarray, netCDF4, matplotlib, pandas, scipy' >/dev/null 2>&1; then
        echo "$py"
        exit 0
    fi
done
echo "find_python.sh: no python3 with xarray, netCDF4, matplotlib, pandas and scipy" \
     "(tried: ${candidates[*]}); run \`make deps\` (Debian: python3-xarray python3-netcdf4" \
     "python3-matplotlib python3-pandas python3-scipy)" >&2
exit 1
