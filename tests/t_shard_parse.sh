#!/usr/bin/env bash
# Issue 17 item 11: `--shard I/N` is parsed strictly: two plain decimal numbers, 0 <= I < N,
# nothing else ("0/2x" used to be taken as 0/2). A bad value: exit 2, a message, nothing run.
source "$(dirname "$0")/e2e/lib.sh"
source "$(dirname "$0")/e2e/proc.sh"

bad=0
for s in "0/2x" "0/2 " " 0/2" "+0/2" "0/+2" "-1/2" "0/-2" "2/2" "1/0" "0/0" "a/b" "0/" "/2" \
         "0//2" "0/2/3" "1" "" "0x1/2" "99999999999/100000000000"; do
    "$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/bad.nc" --quiet --shard "$s" 2>"$TMP/err"
    rc=$?
    if [ $rc -ne 2 ] || ! grep -q -- "--shard expects I/N" "$TMP/err" || [ -e "$TMP/bad.nc.journal" ]; then
        bad=1
        echo "# --shard '$s': exit $rc: $(head -c 200 "$TMP/err")"
    fi
done
check "--shard: 19 malformed values are refused with exit 2 and a message, nothing run" test $bad -eq 0
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/s1.nc" --quiet --shard 1/2 2>"$TMP/err"
check "--shard 1/2 is accepted" test $? -eq 0
n=$(nruns "$TMP/s1.nc" 2>/dev/null)
check "--shard 1/2 runs half of the 12 runs ($n)" test "$n" = 6
finish
