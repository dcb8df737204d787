/* metrics.c — ACC, BWT, FWT (GEM, Lopez-Paz & Ranzato 2017) and forgetting (Chaudhry et
 * al. 2018) from R, generalised to blocked curricula (see metrics.h). */
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
