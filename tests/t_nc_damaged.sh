#!/usr/bin/env bash
# Issue 17: damage inside libhdf5's own structures, below clsweep's schema checks. A file
# whose global heap (where HDF5 keeps variable-length strings: text in files of the layout
# before issue 23, which clsweep still reads) has a damaged object size
# makes libhdf5 itself segfault. Files clsweep did not just write (status, merge inputs,
# resume from a .nc without journal, a file at the output path) are read first in a forked
# child (src/sweep/ncguard.c): a crash there is exit 2 with "FILE: damaged: the HDF5
# library crashed reading it", nothing written, never a crash of clsweep.
source "$(dirname "$0")/e2e/lib.sh"

"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/new.nc" --quiet || notok "reference sweep"
# Since issue 23 clsweep writes text as char arrays; files of the earlier layout (text as
# variable-length strings, in the global heap) are still read: one is made and damaged here.
CLSWEEP_NC_TEXT_STRINGS=1 "$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/ok.nc" --quiet ||
    notok "earlier-layout sweep"
# The first global-heap collection ("GCOL"): its first object's size (8 bytes at +24) set to
# 2^31: H5HG_read copies that many bytes.
"$PY" - "$TMP/ok.nc" "$TMP/bad.nc" <<'PYEOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(b"GCOL")
assert i > 0, "no global heap"
struct.pack_into("<Q", d, i + 24, 1 << 31)
open(sys.argv[2], "wb").write(d)
PYEOF
check "the damaged file was made" test -s "$TMP/bad.nc"

"$CLSWEEP" status "$TMP/ok.nc" >/dev/null
check "status of the intact file: exit 0" test $? -eq 0
"$CLSWEEP" status "$TMP/bad.nc" >/dev/null 2>"$TMP/st.err"
rc=$?
check "status of the damaged file: exit 2, not a crash (got $rc)" test $rc -eq 2
check "... naming the file and what happened" grep -q "bad.nc: damaged: the HDF5 library crashed reading it" "$TMP/st.err"

"$CLSWEEP" merge "$TMP/m.nc" "$TMP/ok.nc" "$TMP/bad.nc" 2>"$TMP/m.err"
rc=$?
check "merge with a damaged part: exit 2 (got $rc)" test $rc -eq 2
check "... naming the part" grep -q "bad.nc: damaged: the HDF5 library crashed" "$TMP/m.err"
check "... and writing nothing" test ! -e "$TMP/m.nc"

cp "$TMP/bad.nc" "$TMP/r.nc"
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/r.nc" --quiet 2>"$TMP/r.err"
rc=$?
check "resume from a damaged .nc without journal: exit 2 (got $rc)" test $rc -eq 2
check "... naming the file" grep -q "r.nc: damaged: the HDF5 library crashed" "$TMP/r.err"
check "... leaving it untouched" cmp -s "$TMP/bad.nc" "$TMP/r.nc"

# With a journal the .nc is only a view of it: a damaged file that is still clsweep's
# (its title reads) is regenerated from the journal, not read.
cp "$TMP/bad.nc" "$TMP/j.nc"
: >"$TMP/j.nc.journal"
"$CLSWEEP" run tests/e2e/tiny.yaml --output "$TMP/j.nc" --quiet 2>"$TMP/j.err"
rc=$?
check "a damaged .nc of clsweep's next to a journal: exit 0, not a crash (got $rc)" test $rc -eq 0
check "... rewritten from the runs, equal to the reference" nc_equal "$TMP/new.nc" "$TMP/j.nc"
finish
