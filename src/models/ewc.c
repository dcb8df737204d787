/* ewc.c — EWC state and penalty (see ewc.h). */
#include "ewc.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void ewc_init(ewc_t *e, long n, float lambda, float gamma) {
    memset(e, 0, sizeof *e);
    e->n = n;
    e->lambda = lambda;
    e->gamma = gamma;
    e->fisher = xcalloc((size_t)n, sizeof(float));
    e->anchor = xcalloc((size_t)n, sizeof(float));
    e->acc = xcalloc((size_t)n, sizeof(float));
}

void ewc_free(ewc_t *e) {
    free(e->fisher);
    free(e->anchor);
    free(e->acc);
    memset(e, 0, sizeof *e);
}

void ewc_begin(ewc_t *e) {
    for (long i = 0; i < e->n; i++) e->fisher[i] *= e->gamma;
    memset(e->acc, 0, sizeof(float) * (size_t)e->n);
    e->nsamples = 0;
}

void ewc_add_sample(ewc_t *e, const float *grad) {
    float *a = e->acc;
    for (long i = 0; i < e->n; i++) a[i] += grad[i] * grad[i];
    e->nsamples++;
}

void ewc_end(ewc_t *e, const float *params) {
    if (e->nsamples > 0) {
        float inv = 1.0f / (float)e->nsamples;
        for (long i = 0; i < e->n; i++) e->fisher[i] += e->acc[i] * inv;
    }
    memcpy(e->anchor, params, sizeof(float) * (size_t)e->n);
    e->consolidated = 1;
}

void ewc_penalty_grad(const ewc_t *e, const float *params, float *grads) {
    if (!e->consolidated || e->lambda == 0) return;
    const float lam = e->lambda;
    for (long i = 0; i < e->n; i++) grads[i] += lam * e->fisher[i] * (params[i] - e->anchor[i]);
}

double ewc_penalty(const ewc_t *e, const float *params) {
    if (!e->consolidated) return 0;
    double s = 0;
    for (long i = 0; i < e->n; i++) {
        double d = (double)params[i] - e->anchor[i];
        s += (double)e->fisher[i] * d * d;
    }
    return 0.5 * e->lambda * s;
}

void ewc_proximal(const ewc_t *e, float *params, float lr) {
    if (!e->consolidated || e->lambda == 0) return;
    const float lrl = lr * e->lambda;
    for (long i = 0; i < e->n; i++) {
        const float a = e->anchor[i];
        params[i] = a + (params[i] - a) / (1.0f + lrl * e->fisher[i]);
    }
}

double ewc_step_bound(const ewc_t *e, float lr) {
    if (!e->consolidated) return 0;
    float fmax = 0;
    for (long i = 0; i < e->n; i++)
        if (e->fisher[i] > fmax) fmax = e->fisher[i];
    return (double)lr * e->lambda * fmax;
}
