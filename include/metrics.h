/* metrics.h — continual-learning metrics of docs/spec.md §5 from R and the initial row. */
#ifndef CLS_METRICS_H
#define CLS_METRICS_H

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

#endif
