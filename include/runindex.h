/* runindex.h — looking up a sweep's runs by id (sweep layer): a sorted index and binary
 * search, O(N log N) to build and O(log N) per lookup, instead of a linear search per
 * record (O(N²) for a resume at the 10⁶-run cap). Called by the scheduler's resume; usable
 * by any reader that matches records to runs (merge, status). */
#ifndef CLS_RUNINDEX_H
#define CLS_RUNINDEX_H

#include "sweep.h"

typedef struct {
    const sweep_t *sw;   /* borrowed: must outlive the index */
    int n;
    int *order;          /* run indices sorted by id (strcmp) */
} runindex;

/* Builds the index of sw's runs. */
void runindex_init(runindex *ix, const sweep_t *sw);
/* The index of the run with this id, or -1. */
int runindex_find(const runindex *ix, const char *id);
void runindex_free(runindex *ix);

#endif
