/* ncguard.h — reading a result file clsweep did not just write itself in a forked child
 * first (src/sweep/ncguard.c), so that damage below clsweep's schema checks (inside
 * libhdf5's own structures, e.g. a damaged global heap) that crashes the HDF5 library
 * becomes an error naming the file instead of a crash of clsweep. Called by the readers of
 * src/sweep (ncread.c, status.c, merge.c, ncfile.c) only. */
#ifndef CLS_NCGUARD_H
#define CLS_NCGUARD_H

#include "output.h"

typedef enum {
    NCG_OPEN,   /* what output_is_ours does: open, title check */
    NCG_FULL    /* a full validation read: schema, every run (output_read), every attribute */
} ncg_depth;

/* Reads path in a forked child to depth. 0 when the child ended normally (it accepted the
 * file or refused it with a message: the caller's own read then does the same, safely);
 * -1 with cls_seterr "PATH: damaged: the HDF5 library crashed reading it (…)" when the
 * child was killed by a signal or ended abnormally, or when no child could be started. */
int ncg_check(const char *path, ncg_depth depth);

/* The read of output_read without the guard (ncread.c): what the child does. */
int output_read_unguarded(const char *path,
                          void (*fn)(const char *run_id, run_result *r, void *ctx), void *ctx);

#endif
