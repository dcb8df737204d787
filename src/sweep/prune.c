/* prune.c — the master's book of successive halving (prune.h): groups, the values each run
 * reported at each rung, and the decisions (asynchronous at arrival, synchronous once a rung
 * is complete), using the rule of search_prune.c. Pure bookkeeping, no I/O: the scheduler
 * glue (prune_sched.c) journals what changes. Sweep layer; called by prune_sched.c and the
 * tests. */
#include "prune.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    int group;          /* -1: not a member (another shard) */
    int nst;            /* stages of the run, 0 while unknown */
    double *val;        /* (nst) value after each stage, NaN unknown */
    char *decided;      /* (nst) async: 0 none, 1 continue, 2 stop */
    int ended;          /* 1 when its final result is known */
    int done_stages;    /* stages it completed (when ended) */
    int pruned_at;      /* stage of the rung where it was pruned, -1 */
    char message[RESULT_MSG_MAX];
} prun_t;

typedef struct {
    int *member, n;     /* run indices */
    int maximize;       /* -1 until a run says */
    int sync_next;      /* synchronous: next stage whose rung is undecided (INT_MAX: done) */
    double **rung;      /* async: values that arrived at the rung after stage s (by stage) */
    int *nrung, nrungst;
} pgroup_t;

struct prune_state {
    prune_spec sp;
    int nruns, ngroups;
    const uint64_t *ids;
    prun_t *run;
    pgroup_t *g;
    int ndecisions, npruned;
};

const char *prune_metric_name(int metric) {
    return metric == PRUNE_ACC_ALL ? "acc_all" : "acc_seen";
}

/* ---- groups ---- */

static char *group_key(const prune_spec *sp, const run_config *cfg) {
    size_t n = 1;
    for (int k = 0; k < sp->ngroup; k++) {
        const char *v = cfg_get(cfg, sp->group_by[k]);
        n += strlen(v ? v : "") + 2;
    }
    char *s = xmalloc(n), *p = s;
    *p = 0;
    for (int k = 0; k < sp->ngroup; k++) {
        const char *v = cfg_get(cfg, sp->group_by[k]);
        p += sprintf(p, "%s%s\x1f", v ? "=" : "!", v ? v : "");
    }
    return s;
}

static char **sort_keys;
static int cmp_key(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(sort_keys[i], sort_keys[j]);
    return c ? c : i - j;
}

prune_state *prune_new(const prune_spec *sp, const run_config *const *cfg, const uint64_t *ids,
                       const unsigned char *member, int nruns) {
    prune_state *ps = xcalloc(1, sizeof *ps);
    ps->sp = *sp;
    ps->nruns = nruns;
    ps->ids = ids;
    ps->run = xcalloc((size_t)(nruns ? nruns : 1), sizeof(prun_t));
    char **keys = xcalloc((size_t)(nruns ? nruns : 1), sizeof(char *));
    int *order = xmalloc(sizeof(int) * (size_t)(nruns ? nruns : 1)), nm = 0;
    for (int i = 0; i < nruns; i++) {
        ps->run[i].group = -1;
        ps->run[i].pruned_at = -1;
        if (!member || member[i]) {
            keys[i] = group_key(sp, cfg[i]);
            order[nm++] = i;
        }
    }
    sort_keys = keys;
    qsort(order, (size_t)nm, sizeof(int), cmp_key);
    ps->g = xcalloc((size_t)(nm ? nm : 1), sizeof(pgroup_t));
    for (int a = 0; a < nm; a++) {
        int i = order[a];
        if (a == 0 || strcmp(keys[i], keys[order[a - 1]])) {
            pgroup_t *g = &ps->g[ps->ngroups++];
            g->member = xmalloc(sizeof(int) * (size_t)nm);
            g->maximize = -1;
        }
        pgroup_t *g = &ps->g[ps->ngroups - 1];
        g->member[g->n++] = i;   /* in run order: the sort is stable by index */
        ps->run[i].group = ps->ngroups - 1;
    }
    for (int i = 0; i < nruns; i++) free(keys[i]);
    free(keys);
    free(order);
    return ps;
}

void prune_free(prune_state *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->nruns; i++) {
        free(ps->run[i].val);
        free(ps->run[i].decided);
    }
    for (int k = 0; k < ps->ngroups; k++) {
        pgroup_t *g = &ps->g[k];
        for (int s = 0; s < g->nrungst; s++) free(g->rung[s]);
        free(g->rung);
        free(g->nrung);
        free(g->member);
    }
    free(ps->g);
    free(ps->run);
    free(ps);
}

/* ---- values ---- */

/* Gives run i its shape (nstages) on first knowledge. 0, or -1 for a shape that changed. */
static int shape(prun_t *r, int nst) {
    if (nst < 1) return -1;
    if (r->nst == nst) return 0;
    if (r->nst) return -1;
    r->nst = nst;
    r->val = xmalloc(sizeof(double) * (size_t)nst);
    for (int s = 0; s < nst; s++) r->val[s] = NAN;
    r->decided = xcalloc((size_t)nst, 1);
    return 0;
}

static int is_rung(const prune_state *ps, int stage, int nst) {
    prune_opts o = {ps->sp.eta, ps->sp.min_stages, 1};
    return prune_is_rung(&o, stage + 1, nst);
}

static prune_opts group_opts(const prune_state *ps, const pgroup_t *g) {
    prune_opts o = {ps->sp.eta, ps->sp.min_stages, g->maximize != 0};
    return o;
}

/* The message of a run pruned at stage s with value v, ranked rank (1-based) of n with k
 * continuing. */
static void say_pruned(prune_state *ps, prun_t *r, int s, double v, int rank, int n, int k) {
    snprintf(r->message, sizeof r->message, "pruned after stage %d: %s %.6g ranked %d of %d at "
             "this rung (%s; top %d continue, eta %g)", s, prune_metric_name(ps->sp.metric), v,
             rank, n, ps->sp.synchronous ? "synchronous" : "asynchronous", k, ps->sp.eta);
}

/* Appends v to group g's arrivals at the rung after stage s (asynchronous). */
static void rung_push(pgroup_t *g, int s, double v) {
    if (s >= g->nrungst) {
        g->rung = xrealloc(g->rung, sizeof(double *) * (size_t)(s + 1));
        g->nrung = xrealloc(g->nrung, sizeof(int) * (size_t)(s + 1));
        for (int k = g->nrungst; k <= s; k++) {
            g->rung[k] = NULL;
            g->nrung[k] = 0;
        }
        g->nrungst = s + 1;
    }
    g->rung[s] = xrealloc(g->rung[s], sizeof(double) * (size_t)(g->nrung[s] + 1));
    g->rung[s][g->nrung[s]++] = v;
}

/* Asynchronous decision for run idx at the rung after stage s (value v). */
static int async_decide(prune_state *ps, int idx, int s, double v) {
    prun_t *r = &ps->run[idx];
    if (r->decided[s]) return r->decided[s] == 1;
    pgroup_t *g = &ps->g[r->group];
    prune_opts o = group_opts(ps, g);
    int n = s < g->nrungst ? g->nrung[s] : 0;
    const double *vals = n ? g->rung[s] : NULL;
    int keep = prune_async_continue(&o, vals, n, v);
    int ahead = 0;
    for (int k = 0; k < n; k++)
        ahead += o.maximize ? vals[k] > v : vals[k] < v;
    rung_push(g, s, v);
    r->decided[s] = keep ? 1 : 2;
    ps->ndecisions++;
    if (!keep) {
        r->pruned_at = s;
        ps->npruned++;
        say_pruned(ps, r, s, v, ahead + 1, n + 1, prune_keep_count(&o, n + 1));
    }
    return keep;
}

int prune_on_report(prune_state *ps, int idx, const run_stage_report *rep) {
    if (idx < 0 || idx >= ps->nruns || ps->run[idx].group < 0) return 1;
    prun_t *r = &ps->run[idx];
    if (shape(r, rep->nstages) || rep->stage < 0 || rep->stage >= r->nst) return 1;
    pgroup_t *g = &ps->g[r->group];
    if (g->maximize < 0) g->maximize = rep->higher_is_better != 0;
    int s = rep->stage;
    double v = ps->sp.metric == PRUNE_ACC_ALL ? rep->acc_all : rep->acc_seen;
    if (r->pruned_at >= 0) return r->pruned_at > s;
    r->val[s] = v;
    if (!is_rung(ps, s, r->nst)) return 1;
    if (ps->sp.synchronous) return 1;   /* the caller settles, then asks prune_is_pruned */
    return async_decide(ps, idx, s, v);
}

/* Stages a result completed: the finite rows of its acc_seen extra, else of R. */
static int result_values(const run_result *res, double *out, int metric) {
    const result_extra *e = result_find(res, "acc_seen");
    int done = 0;
    for (int s = 0; s < res->nstages; s++) {
        double seen = e && e->ndim == 1 && e->shape[0] == res->nstages ? e->data[s] : NAN;
        double all = 0;
        for (int t = 0; t < res->ntasks; t++) all += res->R[(long)s * res->ntasks + t];
        all = res->ntasks ? all / res->ntasks : NAN;
        double v = metric == PRUNE_ACC_ALL ? all : seen;
        if (!isfinite(v) || !isfinite(all)) break;
        out[s] = v;
        done = s + 1;
    }
    return done;
}

void prune_on_result(prune_state *ps, int idx, run_result *res) {
    if (idx < 0 || idx >= ps->nruns || ps->run[idx].group < 0) return;
    prun_t *r = &ps->run[idx];
    if (res->nstages < 1 || !res->R || shape(r, res->nstages)) {
        r->ended = 1;
        return;
    }
    pgroup_t *g = &ps->g[r->group];
    if (g->maximize < 0) g->maximize = res->higher_is_better != 0;
    double *v = xmalloc(sizeof(double) * (size_t)r->nst);
    int done = result_values(res, v, ps->sp.metric);
    int last = res->status == RUN_STATUS_PRUNED && done > 0 ? done - 1 : INT_MAX;
    for (int s = 0; s < done; s++) {
        if (!isfinite(r->val[s])) r->val[s] = v[s];
        if (ps->sp.synchronous || !is_rung(ps, s, r->nst) || r->decided[s]) continue;
        /* Read back on resume: the decision it had is known from how it ended. */
        rung_push(g, s, v[s]);
        r->decided[s] = s == last ? 2 : 1;
    }
    free(v);
    r->ended = 1;
    r->done_stages = done;
    if (r->pruned_at < 0 && last != INT_MAX) {   /* a journaled decision */
        r->pruned_at = last;
        ps->npruned++;
    }
    if (r->pruned_at >= 0)
        prune_canonical(res, r->pruned_at, r->message[0] ? r->message : NULL);
}

/* ---- synchronous decisions ---- */

/* Decides the next rung of group g if every run of it has reached it or ended. 1 when a
 * rung was decided (the caller tries the next), 0 when it must wait or nothing is left. */
static int sync_rung(prune_state *ps, pgroup_t *g, run_result **results,
                     int (*changed)(int, void *), void *ctx, int *nchanged) {
    if (g->sync_next == INT_MAX) return 0;
    int s = g->sync_next < ps->sp.min_stages - 1 ? ps->sp.min_stages - 1 : g->sync_next;
    double *vals = xmalloc(sizeof(double) * (size_t)g->n);
    uint64_t *ids = xmalloc(sizeof(uint64_t) * (size_t)g->n);
    int *who = xmalloc(sizeof(int) * (size_t)g->n), *keep = xmalloc(sizeof(int) * (size_t)g->n);
    int n = 0, blocked = 0, later = 0;
    for (int a = 0; a < g->n && !blocked; a++) {
        int i = g->member[a];
        prun_t *r = &ps->run[i];
        if (r->pruned_at >= 0 && r->pruned_at < s) continue;
        if (r->nst && s < r->nst && isfinite(r->val[s])) {
            if (is_rung(ps, s, r->nst)) {
                vals[n] = r->val[s];
                ids[n] = ps->ids ? ps->ids[i] : (uint64_t)i;
                who[n++] = i;
                later = 1;
            }
            continue;
        }
        if (r->ended) continue;                       /* ended before this rung */
        if (r->nst && !is_rung(ps, s, r->nst)) continue;
        blocked = 1;                                  /* not there yet */
    }
    int rc = 0;
    if (blocked) goto out;
    if (!later) {
        g->sync_next = INT_MAX;
        goto out;
    }
    prune_opts o = group_opts(ps, g);
    prune_sync_decide(&o, vals, ids, n, keep);
    int k = prune_keep_count(&o, n);
    for (int a = 0; a < n; a++) {
        ps->ndecisions++;
        if (keep[a]) continue;
        int i = who[a], rank = 1;
        prun_t *r = &ps->run[i];
        if (r->pruned_at == s) continue;   /* resumed: this decision is journaled already */
        for (int b = 0; b < n; b++)
            if (b != a && (o.maximize ? vals[b] > vals[a] : vals[b] < vals[a])) rank++;
        r->pruned_at = s;
        ps->npruned++;
        say_pruned(ps, r, s, vals[a], rank, n, k);
        if (results && results[i]) {
            prune_canonical(results[i], s, r->message);
            if (changed && changed(i, ctx)) *nchanged = -1;
            else if (*nchanged >= 0) (*nchanged)++;
        }
    }
    g->sync_next = s + 1;
    rc = 1;
out:
    free(vals);
    free(ids);
    free(who);
    free(keep);
    return rc;
}

int prune_settle(prune_state *ps, run_result **results, int (*changed)(int idx, void *ctx),
                 void *ctx) {
    if (!ps->sp.synchronous) return 0;
    int nchanged = 0;
    for (int k = 0; k < ps->ngroups; k++)
        while (sync_rung(ps, &ps->g[k], results, changed, ctx, &nchanged)) {}
    return nchanged;
}

int prune_is_pruned(const prune_state *ps, int idx) {
    return idx >= 0 && idx < ps->nruns && ps->run[idx].pruned_at >= 0;
}

void prune_counts(const prune_state *ps, int *ndecisions, int *npruned) {
    *ndecisions = ps->ndecisions;
    *npruned = ps->npruned;
}

/* ---- the canonical pruned result ---- */

void prune_canonical(run_result *r, int stage, const char *message) {
    r->status = RUN_STATUS_PRUNED;
    if (message) snprintf(r->message, sizeof r->message, "%s", message);
    for (int s = stage + 1; s < r->nstages; s++)
        for (int t = 0; t < r->ntasks; t++) r->R[(long)s * r->ntasks + t] = NAN;
    r->acc = r->bwt = r->fwt = r->forgetting = NAN;
    double *seen = NULL;
    const result_extra *e = result_find(r, "acc_seen");
    if (e && e->ndim == 1 && e->shape[0] == r->nstages) {
        seen = xmalloc(sizeof(double) * (size_t)r->nstages);
        for (int s = 0; s < r->nstages; s++) seen[s] = s <= stage ? e->data[s] : NAN;
    }
    for (int k = 0; k < r->nextra; k++) free(r->extra[k].data);
    free(r->extra);
    r->extra = NULL;
    r->nextra = 0;
    result_drop_probes(r);
    if (seen) {
        double *d = result_array(r, "acc_seen", "mean metric over the tasks trained so far, "
                                 "after each stage", "stage", r->nstages, NULL, 0);
        memcpy(d, seen, sizeof(double) * (size_t)r->nstages);
        free(seen);
    }
    result_set_scalar(r, "stage_reached", "stages completed before the run was pruned",
                      (double)(stage + 1));
}
