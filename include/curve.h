/* curve.h — the anytime curve of a run (eval.every, eval.subset): evaluation points inside
 * each stage, taken through the training loops' hook (train.h: train_curve_tick), on a
 * fixed random subset of each task's test set; stored as the extras R_curve (point, task),
 * curve_stage (point), curve_step (point) with the metrics of metrics_curve. Run layer
 * (src/run/curve.c): called by run_execute only. */
#ifndef CLS_CURVE_H
#define CLS_CURVE_H

#include "bench.h"
#include "config.h"
#include "model.h"
#include "result.h"
#include "train.h"

typedef struct {
    train_curve hook;          /* first: the hook hands back &hook */
    const model_ops *ops;
    bench_t sub;               /* b with each task's test set cut to the subset */
    task_t *tasks;             /* (ntasks) sub's tasks */
    float **own;               /* (2 * ntasks) the subset arrays this curve allocated */
    int **own_y;               /* (ntasks) the subsets' labels this curve allocated */
    int stage;                 /* the stage being trained */
    int truncated;             /* points were dropped (CURVE_MAX_POINTS) */
    int np, cap, T;
    double *R;                 /* (cap, T) */
    int *pstage;               /* (cap) */
    long *pstep;               /* (cap) */
} run_curve;

/* Reads eval.every / eval.subset of cfg. With eval.every > 0: builds the subsets (a Philox
 * stream of the run seed that training never uses), takes the point (stage 0, step 0) of
 * model m, installs the hook and returns 1; else leaves the curve off and returns 0. */
int run_curve_begin(run_curve *c, const run_config *cfg, const model_ops *ops, model_t *m,
                    const bench_t *b);
/* Before train_block of stage s: the step count starts again. */
void run_curve_stage(run_curve *c, int s);
/* After stage s trained successfully: the end point (unless the last tick just took it). */
void run_curve_end_stage(run_curve *c, model_t *m);
/* Uninstalls the hook; stores the points in res as extras and, when res is ok, the curve
 * metrics (anytime_acc, lca, stability_gap, gap_recovery and their per-stage arrays);
 * frees c. Safe on a curve that is off. */
void run_curve_finish(run_curve *c, run_result *res, const bench_t *b);

#endif
