/* metrics.c — ACC, BWT, FWT (GEM, Lopez-Paz & Ranzato 2017) and forgetting (Chaudhry et
 * al. 2018) from R, generalised to blocked curricula; plasticity, BWT+/REM (Díaz-Rodríguez et
 * al. 2018) and intransigence (Chaudhry et al. 2018); from the anytime curve: average anytime
 * accuracy, learning-curve area (Chaudhry et al. 2019) and the stability gap (De Lange et
 * al. 2023) (see metrics.h). Core layer: called by
 * the run executor and the aggregation. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

void metrics_compute_stream(cl_metrics *m, const float *R, const float *R0, int S, int T,
                            const int *stage_task, int higher_is_better) {
    double sgn = higher_is_better ? 1.0 : -1.0;
    m->acc = m->bwt = m->fwt = m->forgetting = NAN;
    if (S < 1 || T < 1) return;
    const float *last = R + (long)(S - 1) * T;
    double sum = 0;
    for (int j = 0; j < T; j++) sum += last[j];
    m->acc = sum / T;
    double bwt = 0, fgt = 0, fwt = 0;
    int nb = 0, nf = 0;
    for (int j = 0; j < T; j++) {
        int first = -1, lastt = -1;
        for (int s = 0; s < S; s++)
            if (stage_task[s] == j) {
                if (first < 0) first = s;
                lastt = s;
            }
        if (first < 0) continue;                       /* never trained */
        if (first >= 1 && R0) {
            fwt += sgn * (R[(long)(first - 1) * T + j] - R0[j]);
            nf++;
        }
        if (lastt == S - 1) continue;                  /* still being trained at the end */
        bwt += sgn * (last[j] - R[(long)lastt * T + j]);
        double best = R[j];
        for (int l = 1; l < S - 1; l++) {
            double v = R[(long)l * T + j];
            if (higher_is_better ? v > best : v < best) best = v;
        }
        fgt += sgn * (best - last[j]);
        nb++;
    }
    if (nb) {
        m->bwt = bwt / nb;
        m->forgetting = fgt / nb;
    }
    if (nf) m->fwt = fwt / nf;
}

void metrics_compute(cl_metrics *m, const float *R, const float *R0, int T, int higher_is_better) {
    int *st = xmalloc(sizeof(int) * (size_t)(T > 0 ? T : 1));
    for (int s = 0; s < T; s++) st[s] = s;
    metrics_compute_stream(m, R, R0, T, T, st, higher_is_better);
    free(st);
}

double metrics_plasticity(const float *R, int S, int T, const int *stage_task) {
    if (S < 1 || T < 1) return NAN;
    double s = 0;
    for (int i = 0; i < S; i++) s += R[(long)i * T + stage_task[i]];
    return s / S;
}

double metrics_bwt_diaz(const float *R, int S, int T, const int *stage_task, int higher_is_better) {
    double sgn = higher_is_better ? 1.0 : -1.0, sum = 0;
    long n = 0;
    for (int i = 1; i < S; i++)
        for (int j = 0; j < T; j++) {
            if (stage_task[i] == j) continue;
            int l = -1;
            for (int k = i - 1; k >= 0 && l < 0; k--)
                if (stage_task[k] == j) l = k;
            if (l < 0) continue;
            sum += sgn * ((double)R[(long)i * T + j] - R[(long)l * T + j]);
            n++;
        }
    return n ? sum / (double)n : NAN;
}

double metrics_bwt_plus(double b) { return isnan(b) ? NAN : (b > 0 ? b : 0.0); }
double metrics_rem(double b) { return isnan(b) ? NAN : 1.0 - (b < 0 ? -b : 0.0); }

double metrics_intransigence(const float *R, const float *R_joint, int S, int T,
                             const int *stage_task, int higher_is_better) {
    if (S < 1 || T < 1) return NAN;
    double sgn = higher_is_better ? 1.0 : -1.0, s = 0;
    for (int i = 0; i < S; i++) {
        long k = (long)i * T + stage_task[i];
        s += sgn * ((double)R_joint[k] - R[k]);
    }
    return s / S;
}

void metrics_add_extras(run_result *res, const int *stage_task) {
    int S = res->nstages, T = res->ntasks;
    if (!res->R || S < 1 || T < 1) return;
    result_set_scalar(res, "plasticity", "mean over stages s of R[s][task trained at s]",
                      metrics_plasticity(res->R, S, T, stage_task));
    double bd = metrics_bwt_diaz(res->R, S, T, stage_task, res->higher_is_better);
    result_set_scalar(res, "bwt_plus",
                      "max(BWT_D,0), BWT_D = mean over i>j of R[i][j]-R[j][j] (Diaz-Rodriguez 2018)",
                      metrics_bwt_plus(bd));
    result_set_scalar(res, "rem", "1-|min(BWT_D,0)|, BWT_D as for bwt_plus (Diaz-Rodriguez 2018)",
                      metrics_rem(bd));
}

/* Whether task j was trained in a stage < s. */
static int trained_before(const int *stage_task, int s, int j) {
    for (int k = 0; k < s; k++)
        if (stage_task[k] == j) return 1;
    return 0;
}

/* The anytime mean: over the points after training began, the mean over the tasks trained so
 * far (stages ≤ the point's stage). */
static double curve_anytime(const double *Rc, const int *pstage, const long *pstep, int P,
                            int T, const int *stage_task, int S) {
    double sum = 0;
    long n = 0;
    for (int p = 0; p < P; p++) {
        int s = pstage[p];
        if (s < 0 || s >= S || (s == 0 && pstep[p] <= 0)) continue;
        double a = 0;
        int k = 0;
        for (int j = 0; j < T; j++)
            if (trained_before(stage_task, s + 1, j)) {
                a += Rc[(long)p * T + j];
                k++;
            }
        if (k) {
            sum += a / k;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

/* LCA_beta (metrics.h). */
static double curve_lca(const double *Rc, const int *pstage, const long *pstep, int P, int T,
                        const int *stage_task, int S, long beta) {
    double sum = 0;
    int nk = 0;
    for (int k = 0; k < T; k++) {
        int sk = -1;
        for (int s = 0; s < S && sk < 0; s++)
            if (stage_task[s] == k) sk = s;
        if (sk < 0) continue;
        int q = -1;   /* first point of stage sk with step > 0 */
        for (int p = 0; p < P && q < 0; p++)
            if (pstage[p] == sk && pstep[p] > 0) q = p;
        if (q < 1 || pstage[q - 1] > sk || (pstage[q - 1] == sk && pstep[q - 1] > 0)) continue;
        double z = Rc[(long)(q - 1) * T + k];
        int nz = 1;
        for (int p = q; p < P && pstage[p] == sk; p++)
            if (pstep[p] <= beta) {
                z += Rc[(long)p * T + k];
                nz++;
            }
        sum += z / nz;
        nk++;
    }
    return nk ? sum / nk : NAN;
}

void metrics_curve(cl_curve_metrics *out, double *gap_stage, double *rec_stage,
                   const double *Rc, const int *pstage, const long *pstep, int P, int T,
                   const int *stage_task, int S, int higher_is_better, long beta) {
    out->anytime = out->lca = out->gap = out->recovery = NAN;
    for (int s = 0; s < S; s++) {
        if (gap_stage) gap_stage[s] = NAN;
        if (rec_stage) rec_stage[s] = NAN;
    }
    if (P < 1 || T < 1 || S < 1) return;
    out->anytime = curve_anytime(Rc, pstage, pstep, P, T, stage_task, S);
    out->lca = curve_lca(Rc, pstage, pstep, P, T, stage_task, S, beta);
    double sgn = higher_is_better ? 1.0 : -1.0, gsum = 0, rsum = 0;
    int ns = 0;
    for (int s = 1; s < S; s++) {
        int prev_end = -1, first = -1, end = -1;
        for (int p = 0; p < P; p++) {
            if (pstage[p] == s - 1) prev_end = p;
            if (pstage[p] == s && pstep[p] > 0) {
                if (first < 0) first = p;
                end = p;
            }
        }
        if (prev_end < 0 || first < 0) continue;
        double g = 0, r = 0;
        int nj = 0;
        for (int j = 0; j < T; j++) {
            if (j == stage_task[s] || !trained_before(stage_task, s, j)) continue;
            double worst = INFINITY;
            for (int p = first; p <= end; p++)
                if (pstage[p] == s && sgn * Rc[(long)p * T + j] < worst)
                    worst = sgn * Rc[(long)p * T + j];
            g += sgn * Rc[(long)prev_end * T + j] - worst;
            r += sgn * Rc[(long)end * T + j] - worst;
            nj++;
        }
        if (!nj) continue;
        if (gap_stage) gap_stage[s] = g / nj;
        if (rec_stage) rec_stage[s] = r / nj;
        gsum += g / nj;
        rsum += r / nj;
        ns++;
    }
    if (ns) {
        out->gap = gsum / ns;
        out->recovery = rsum / ns;
    }
}
