/* runindex.c — a sweep's runs by id: sorted index + binary search (see runindex.h). Sweep
 * layer: called by the scheduler's resume (sched_resume.c). */
#include "runindex.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int cmp_id(const void *a, const void *b, void *ctx) {
    const sweep_t *sw = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(sw->runs[i].id, sw->runs[j].id);
    return c ? c : (i > j) - (i < j);
}

void runindex_init(runindex *ix, const sweep_t *sw) {
    ix->sw = sw;
    ix->n = sw->nruns;
    ix->order = xmalloc(sizeof(int) * (size_t)(ix->n ? ix->n : 1));
    for (int i = 0; i < ix->n; i++) ix->order[i] = i;
    qsort_r(ix->order, (size_t)ix->n, sizeof(int), cmp_id, (void *)sw);
}

int runindex_find(const runindex *ix, const char *id) {
    int lo = 0, hi = ix->n;   /* first position whose id is >= id */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(ix->sw->runs[ix->order[mid]].id, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < ix->n && !strcmp(ix->sw->runs[ix->order[lo]].id, id) ? ix->order[lo] : -1;
}

void runindex_free(runindex *ix) {
    free(ix->order);
    ix->order = NULL;
    ix->n = 0;
}
