/* curve.c — the anytime curve of a run (curve.h): with eval.every = N > 0, every task is
 * evaluated every N optimiser steps of each stage and at the stage's end, on a fixed random
 * subset of eval.subset test examples per task (all of them when the task has fewer), chosen
 * by a Philox stream of the run seed that nothing else draws from. Evaluation only reads the
 * model (model_ops.eval_task), so the trained model — and R — are the same bit for bit with
 * and without a curve. Cost: one evaluation of T · eval.subset examples per point, i.e. about
 * (T · subset) / (N · batch) of the training forward+backward work. Run layer: called by
 * run_execute (src/run/run.c) only. */
#include "curve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"
#include "util.h"

#define CURVE_SEED_KEY 0x414E5954494D45ULL   /* "ANYTIME": the subsets' Philox key */
/* At most this many points per run (memory and file size stay bounded whatever eval.every
 * and the stream's length): later points are dropped and curve_truncated is stored. */
#define CURVE_MAX_POINTS 20000

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Cuts task t's test set of c->sub to k examples drawn without replacement. */
static void curve_subset(run_curve *c, const bench_t *b, int t, int k) {
    const task_t *src = &b->tasks[t];
    task_t *dst = &c->tasks[t];
    int n = src->n_test;
    if (k >= n) return;   /* all of them: the original arrays */
    int *idx = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) idx[i] = i;
    rng_t r;
    rng_init(&r, b->seed ^ CURVE_SEED_KEY, 400 + (uint64_t)t);
    for (int i = 0; i < k; i++) {   /* partial Fisher–Yates */
        int j = i + (int)rng_below(&r, (uint32_t)(n - i));
        int tmp = idx[i]; idx[i] = idx[j]; idx[j] = tmp;
    }
    qsort(idx, (size_t)k, sizeof(int), cmp_int);
    size_t D = (size_t)b->in_dim, C = (size_t)b->out_dim;
    float *x = xmalloc(sizeof(float) * (size_t)k * D);
    for (int i = 0; i < k; i++) memcpy(x + (size_t)i * D, src->x_test + (size_t)idx[i] * D, sizeof(float) * D);
    dst->x_test = c->own[2 * t] = x;
    if (src->t_test) {
        float *y = xmalloc(sizeof(float) * (size_t)k * C);
        for (int i = 0; i < k; i++)
            memcpy(y + (size_t)i * C, src->t_test + (size_t)idx[i] * C, sizeof(float) * C);
        dst->t_test = c->own[2 * t + 1] = y;
    }
    if (src->y_test) {
        int *y = c->own_y[t] = xmalloc(sizeof(int) * (size_t)k);
        for (int i = 0; i < k; i++) y[i] = src->y_test[idx[i]];
        dst->y_test = y;
    }
    dst->n_test = k;
    free(idx);
}

/* Records a point of model m: every task on its subset. */
static void curve_take(run_curve *c, model_t *m, long step) {
    if (c->np >= CURVE_MAX_POINTS) {
        c->truncated = 1;
        return;
    }
    if (c->np == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->R = xrealloc(c->R, sizeof(double) * (size_t)c->cap * (size_t)c->T);
        c->pstage = xrealloc(c->pstage, sizeof(int) * (size_t)c->cap);
        c->pstep = xrealloc(c->pstep, sizeof(long) * (size_t)c->cap);
    }
    double *row = c->R + (size_t)c->np * (size_t)c->T;
    for (int t = 0; t < c->T; t++) row[t] = c->ops->eval_task(m, &c->sub, t);
    c->pstage[c->np] = c->stage;
    c->pstep[c->np] = step;
    c->np++;
}

static void curve_point(train_curve *h, struct model *m, const bench_t *b) {
    (void)b;
    run_curve *c = (run_curve *)h;
    curve_take(c, m, h->step);
}

int run_curve_begin(run_curve *c, const run_config *cfg, const model_ops *ops, model_t *m,
                    const bench_t *b) {
    memset(c, 0, sizeof *c);
    int hooked = 0;   /* only models whose loop calls train_curve_tick declare eval.every */
    for (int i = 0; i < ops->nparams && !hooked; i++)
        hooked = !strcmp(ops->params[i].key, "eval.every");
    if (!hooked) return 0;
    long every = cfg_get(cfg, "eval.every") ? cfg_int(cfg, "eval.every") : 0;
    if (every <= 0 || b->ntasks < 1) return 0;
    long k = cfg_get(cfg, "eval.subset") ? cfg_int(cfg, "eval.subset") : 256;
    if (k < 1) k = 1;
    c->ops = ops;
    c->T = b->ntasks;
    c->sub = *b;
    c->tasks = xmalloc(sizeof(task_t) * (size_t)b->ntasks);
    memcpy(c->tasks, b->tasks, sizeof(task_t) * (size_t)b->ntasks);
    c->sub.tasks = c->tasks;
    c->own = xcalloc(2 * (size_t)b->ntasks, sizeof(float *));
    c->own_y = xcalloc((size_t)b->ntasks, sizeof(int *));
    for (int t = 0; t < b->ntasks; t++) curve_subset(c, b, t, (int)k);
    c->hook.every = (int)(every > 1000000000 ? 1000000000 : every);
    c->hook.point = curve_point;
    c->stage = 0;
    curve_take(c, m, 0);
    train_curve_set(&c->hook);
    return 1;
}

void run_curve_stage(run_curve *c, int s) {
    c->stage = s;
    c->hook.step = 0;
}

void run_curve_end_stage(run_curve *c, model_t *m) {
    if (!c->ops) return;
    int last = c->np - 1;
    if (last >= 0 && c->pstage[last] == c->stage && c->pstep[last] == c->hook.step &&
        c->hook.step > 0)
        return;   /* the last tick was the end */
    curve_take(c, m, c->hook.step);
}

/* The curve's points as extras, and the curve metrics when res is ok. */
static void curve_store(const run_curve *c, run_result *res, const bench_t *b) {
    int P = c->np, T = c->T;
    double *R = result_array(res, "R_curve", "metric on task (eval.subset test examples) at curve point", "point", P, "task", T);
    memcpy(R, c->R, sizeof(double) * (size_t)P * (size_t)T);
    double *st = result_array(res, "curve_stage", "stage of the anytime-curve point", "point", P,
                              NULL, 0);
    double *sp = result_array(res, "curve_step", "optimiser steps of the stage before the curve point", "point", P, NULL, 0);
    for (int p = 0; p < P; p++) {
        st[p] = c->pstage[p];
        sp[p] = (double)c->pstep[p];
    }
    if (c->truncated)
        result_set_scalar(res, "curve_truncated", "1: the run had more than 20000 curve points; "
                          "later ones were dropped", 1.0);
    if (res->status != RUN_STATUS_OK || b->nstages < 1) return;
    int S = b->nstages;
    long beta = 10L * c->hook.every;
    cl_curve_metrics cm;
    double *gs = xmalloc(sizeof(double) * 2 * (size_t)S), *rs = gs + S;
    metrics_curve(&cm, gs, rs, c->R, c->pstage, c->pstep, P, T, b->stage_task, S,
                  b->higher_is_better, beta);
    result_set_scalar(res, "anytime_acc", "mean over curve points of the mean metric on the tasks trained so far", cm.anytime);
    result_set_scalar(res, "lca", "learning-curve area, beta = 10*eval.every steps (Chaudhry 2019)", cm.lca);
    result_set_scalar(res, "stability_gap", "old-task drop after a task switch: prev. stage end - min in stage (De Lange 2023)",
                      cm.gap);
    result_set_scalar(res, "gap_recovery", "old-task recovery: stage end - min in stage, mean over switches", cm.recovery);
    double *g = result_array(res, "stability_gap_stage", "stability gap at the switch to stage",
                             "stage", S, NULL, 0);
    double *r = result_array(res, "gap_recovery_stage", "recovery from the stability gap in stage", "stage", S, NULL, 0);
    memcpy(g, gs, sizeof(double) * (size_t)S);
    memcpy(r, rs, sizeof(double) * (size_t)S);
    free(gs);
}

void run_curve_finish(run_curve *c, run_result *res, const bench_t *b) {
    if (!c->ops) return;
    train_curve_set(NULL);
    if (c->np > 0) curve_store(c, res, b);
    for (int i = 0; i < 2 * c->T; i++) free(c->own[i]);
    for (int i = 0; i < c->T; i++) free(c->own_y[i]);
    free(c->own);
    free(c->own_y);
    free(c->tasks);
    free(c->R);
    free(c->pstage);
    free(c->pstep);
    memset(c, 0, sizeof *c);
}
