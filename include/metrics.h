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

/* Stores plasticity, bwt_plus and rem of res->R (res->nstages × res->ntasks, curriculum
 * stage_task) as scalar extras, the formula in each long name. */
void metrics_add_extras(run_result *res, const int *stage_task);

#endif
