#!/usr/bin/env bash
# The layering check (tools/check_layers.sh): the tree passes it, and the checker catches a
# lower layer including a higher one's header, an include loop between two modules of one
# layer, and a file missing from its layer table (each on a temporary copy of the tree).
set -u
cd "$(dirname "$0")/.." || exit 1
FAILED=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; FAILED=1; }
TMP=$(mktemp -d /tmp/clsweep-layers.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

if out=$(tools/check_layers.sh 2>&1); then ok "the tree passes the layering check"
else notok "the tree passes the layering check"; echo "$out" | sed 's/^/# /'; fi

copy() {  # a fresh copy of src/ include/ tools/ in $TMP/t
    rm -rf "$TMP/t" && mkdir -p "$TMP/t" && cp -r src include tools "$TMP/t/"
}
expect_fail() {  # expect_fail NAME PATTERN
    local out
    if out=$("$TMP/t/tools/check_layers.sh" "$TMP/t" 2>&1); then
        notok "$1 (not detected)"
    elif echo "$out" | grep -q -- "$2"; then ok "$1"
    else notok "$1 (wrong message)"; echo "$out" | sed 's/^/# /'; fi
}

copy
sed -i '0,/#include "util.h"/s//#include "util.h"\n#include "scheduler.h"/' "$TMP/t/src/core/util.c"
expect_fail "core including the scheduler's header is caught" "src/core/util.c (core) includes scheduler.h (sweep"

copy
sed -i '0,/#include "model.h"/s//#include "model.h"\n#include "run.h"/' "$TMP/t/src/models/crashtest.c"
expect_fail "a model including the run layer is caught" "crashtest.c (models) includes run.h (run"

copy
sed -i '0,/#include "analysis.h"/s//#include "analysis.h"\n#include "run.h"/' "$TMP/t/src/run/probe.c"
expect_fail "an include loop within one layer (run.c <-> probe.c) is caught" "in a loop"

copy
printf '/* new.c */\n#include "util.h"\n' > "$TMP/t/src/core/new_module_x.c"
printf '/* x.h */\n' > "$TMP/t/include/new_header_x.h"
expect_fail "a header missing from the layer table is caught" "include/new_header_x.h is not in the layer table"
exit $FAILED
