/* metrics.h — continual-learning metrics of docs/spec.md §5 from R and the initial row, and the
 * further per-run metrics (plasticity, BWT+ and REM) and intransigence. Pure functions of R;
 * called by the run executor (and, for intransigence, at aggregation time). */
#ifndef CLS_METRICS_H
#define CLS_METRICS_H

#include "result.h"

typedef struct {
    double acc;         /* mean of the last row */
    double bwt;         /* GEM backward transfer (higher-is-better sign convention) */
    double fwt;         /* GEM forward transfer */
    double forgetting;  /* Chaudhry et al.: positive = forgot */
} cl_metrics;

/* R (T, T) row-major: R[i*T + j] = metric on task j after stage i; R0 (T) at init.
 * For loss metrics (higher_is_better == 0) the signs flip so that bwt < 0 and
 * forgetting > 0 still mean "forgot": bwt = mean(R[j][j] − R[T−1][j]),
 * forgetting = mean(R[T−1][j] − min_{l<T−1} R[l][j]), fwt = mean(b_j − R[j−1][j]).
 * acc is always the plain mean of the last row. With T == 1, bwt/fwt/forgetting are NaN.
 * For a blocked curriculum with S stages ≠ T, use the rows where each task was last
 * trained: metrics_compute_stream. */
void metrics_compute(cl_metrics *m, const float *R, const float *R0, int T, int higher_is_better);

/* General curriculum: R (S, T); stage_task (S). Uses, for each task j, the row after the
 * last stage in which j was trained before the end as "R[j][j]", and the row before the first
 * stage training j for forward transfer. Reduces to metrics_compute when stage_task[s] == s. */
void metrics_compute_stream(cl_metrics *m, const float *R, const float *R0, int S, int T,
                            const int *stage_task, int higher_is_better);

/* Plasticity: the mean over stages s of R[s][stage_task[s]], the metric on a task right
 * after training it (for the classical sequence, the mean of the diagonal). NaN if S < 1. */
double metrics_plasticity(const float *R, int S, int T, const int *stage_task);

/* BWT of Díaz-Rodríguez et al. 2018: the mean over all pairs (stage i, task j) with j
 * trained before i and not at i of R[i][j] − R[l][j], l the last stage ≤ i − 1 training j
 * (classical sequence: Σ_{i>j} (R[i][j] − R[j][j]) / (T(T−1)/2)); signs flip for loss
 * metrics (negative = forgot). NaN when there is no such pair. */
double metrics_bwt_diaz(const float *R, int S, int T, const int *stage_task, int higher_is_better);
/* BWT+ = max(BWT_D, 0) and REM = 1 − |min(BWT_D, 0)| (Díaz-Rodríguez et al. 2018). */
double metrics_bwt_plus(double bwt_diaz);
double metrics_rem(double bwt_diaz);

/* Intransigence (Chaudhry et al. 2018): the mean over stages s of
 * R_joint[s][k] − R[s][k], k = stage_task[s], R_joint the R of the joint-training reference
 * run of the same stream (same S, T and curriculum); signs flip for loss metrics
 * (positive = less able to learn the new task than joint training). NaN if S < 1. */
double metrics_intransigence(const float *R, const float *R_joint, int S, int T,
                             const int *stage_task, int higher_is_better);

/* ---- the anytime curve (eval.every; src/run/curve.c) ----
 * Rc (P, T): Rc[p*T + j] = metric on task j (on the curve's test subset) at point p, taken
 * after pstep[p] optimiser steps of stage pstage[p]; points in time order, each stage ending
 * with its end point; a point (stage 0, step 0) before any training may come first. */
typedef struct {
    double anytime;     /* mean over points p (after training began) of the mean over the
                           tasks trained in stages ≤ pstage[p] of Rc[p][j] */
    double lca;         /* learning-curve area (Chaudhry et al. 2019), see metrics_curve */
    double gap;         /* stability gap (De Lange et al. 2023): mean over task switches */
    double recovery;    /* its recovery: mean over task switches */
} cl_curve_metrics;

/* The curve metrics (higher_is_better 0 flips the signs of gap and recovery, so positive
 * still means "worse right after the switch" and "got better again"):
 *   LCA_β: per task k, at its first stage s_k: the mean of Z_k(0), Z_k(b) for the points of
 *     s_k with 0 < b ≤ beta steps, where Z_k(b) = Rc[point][k] and Z_k(0) is the point just
 *     before s_k's training (end of stage s_k − 1, or the initial point); the mean over k.
 *     With a point every step this is Chaudhry et al.'s 1/(β+1) Σ_{b=0..β} Z_b.
 *   stability gap at switch s ≥ 1, per old task j (trained in a stage < s, not at s):
 *     drop_j = Rc[end of s−1][j] − min_{points of s, step > 0} Rc[.][j],
 *     recovery_j = Rc[end of s][j] − that minimum; the mean over j is gap_stage[s] /
 *     rec_stage[s] (NaN for stage 0 or without old tasks); gap and recovery are the means
 *     over the switches that have one.
 * gap_stage, rec_stage: (S) or NULL. Every value NaN when undefined. */
void metrics_curve(cl_curve_metrics *out, double *gap_stage, double *rec_stage,
                   const double *Rc, const int *pstage, const long *pstep, int P, int T,
                   const int *stage_task, int S, int higher_is_better, long beta);

/* Stores plasticity, bwt_plus and rem of res->R (res->nstages × res->ntasks, curriculum
 * stage_task) as scalar extras, the formula in each long name. */
void metrics_add_extras(run_result *res, const int *stage_task);

#endif
