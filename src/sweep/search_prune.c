/* search_prune.c — the decision rule of stage-aware successive halving (search_prune.h):
 * asynchronous (ASHA, Li et al. 2020: continue when in the top 1/eta of the rung so far) and
 * synchronous (top 1/eta of the complete rung, ties by run id). Pure; for the sweep layer
 * (called by prune.c). */
#include "search_prune.h"

#include <math.h>

int prune_is_rung(const prune_opts *o, int stage, int nstages) {
    return stage >= o->min_stages && stage < nstages;
}

int prune_keep_count(const prune_opts *o, int n) {
    int k = (int)floor((double)n / o->eta + 1e-12);
    return k < 1 ? 1 : k;
}

/* Whether x is strictly better than y (NaN worst). */
static int better(const prune_opts *o, double x, double y) {
    if (isnan(x)) return 0;
    if (isnan(y)) return 1;
    return o->maximize ? x > y : x < y;
}

int prune_async_continue(const prune_opts *o, const double *vals, int n, double v) {
    if (isnan(v)) return 0;
    int ahead = 0;
    for (int i = 0; i < n; i++) ahead += better(o, vals[i], v);
    return ahead < prune_keep_count(o, n + 1);
}

void prune_sync_decide(const prune_opts *o, const double *vals, const uint64_t *ids, int n,
                       int *keep) {
    int k = prune_keep_count(o, n);
    for (int i = 0; i < n; i++) {
        /* Rank of i: the runs ahead of it in the total order (value, then id). */
        int ahead = 0;
        for (int j = 0; j < n; j++)
            if (j != i && (better(o, vals[j], vals[i]) ||
                           (!better(o, vals[i], vals[j]) && ids[j] < ids[i])))
                ahead++;
        keep[i] = !isnan(vals[i]) && ahead < k;
    }
}
