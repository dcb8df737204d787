/* search_prune.h — the decision rule of stage-aware successive halving (issue 21, part 2):
 * whether a run that reached a rung (a stage boundary) continues, given the metric values of
 * the runs of its group at that rung. Pure functions of their arguments, for the sweep layer.
 * Used by the master's book (prune.h, src/sweep/prune.c), which the prune: key drives. */
#ifndef CLS_SEARCH_PRUNE_H
#define CLS_SEARCH_PRUNE_H

#include <stdint.h>

typedef struct {
    double eta;        /* keep the top 1/eta (≥ 1 run) at each rung; eta > 1 */
    int min_stages;    /* the first rung is after this many stages (≥ 1) */
    int maximize;      /* 1: higher metric is better (accuracies); 0: lower (losses) */
} prune_opts;

/* Whether a run that has finished `stage` of `nstages` stages is at a rung: stage ≥
 * min_stages and stages remain (after the last stage there is nothing to save). */
int prune_is_rung(const prune_opts *o, int stage, int nstages);

/* How many of n runs at a rung continue: max(1, floor(n / eta)). */
int prune_keep_count(const prune_opts *o, int n);

/* Asynchronous (ASHA) decision for a run with metric value v arriving at a rung where
 * vals[n] are the values of the runs of its group that arrived before it: it continues iff
 * fewer than prune_keep_count(n + 1) earlier values are strictly better than v. A NaN v never
 * continues; NaN earlier values count as worst. Depends on arrival order by design. */
int prune_async_continue(const prune_opts *o, const double *vals, int n, double v);

/* Synchronous decision once every run of a group has reached the rung (or ended): keep[i]
 * = 1 for the prune_keep_count(n) best of vals[n], ties broken by the smaller ids[i], NaN
 * last (and never kept). A pure function of the set of (id, value) pairs: the order of the
 * arrays does not matter, so a resumed sweep decides as an uninterrupted one. */
void prune_sync_decide(const prune_opts *o, const double *vals, const uint64_t *ids, int n,
                       int *keep);

#endif
