/* optim.c — SGD (momentum, L2), Adam and AdamW with PyTorch's update rules over one flat
 * parameter arena; one loop per group. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* The update loops touch every parameter each step (most of the cost at batch 1), so they
 * must vectorise; GCC's -O2 cost model skips loops of unknown trip count. */
#if defined(__GNUC__) && !defined(__clang__)
#define HOT_LOOP __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define HOT_LOOP
#endif

int optim_parse(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "sgd") == 0) return OPTIM_SGD;
    if (strcmp(name, "adam") == 0) return OPTIM_ADAM;
    if (strcmp(name, "adamw") == 0) return OPTIM_ADAMW;
    return -1;
}

void optim_init(optim_t *o, optim_kind kind, long n, float lr) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->n = n;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = kind == OPTIM_ADAMW ? 0.01f : 0.0f;
    o->ngroups = 1;
    o->groups[0] = (optim_group){.offset = 0, .count = n, .lr = lr};
    if (kind != OPTIM_SGD) {
        /* one allocation for both moments */
        o->m = xcalloc((size_t)(2 * n), sizeof(float));
        o->v = o->m + n;
    }
}

/* Bad ranges are programming errors, not run failures: abort loudly. */
void optim_set_groups(optim_t *o, const optim_group *groups, int ngroups) {
    if (ngroups < 0 || ngroups > OPTIM_MAX_GROUPS) {
        fprintf(stderr, "clsweep: optim_set_groups: %d groups (max %d)\n", ngroups,
                OPTIM_MAX_GROUPS);
        abort();
    }
    for (int g = 0; g < ngroups; g++) {
        if (groups[g].offset < 0 || groups[g].count < 0 || groups[g].offset + groups[g].count > o->n) {
            fprintf(stderr, "clsweep: optim_set_groups: group %d [%ld, %ld) outside arena of %ld\n",
                    g, groups[g].offset, groups[g].offset + groups[g].count, o->n);
            abort();
        }
        o->groups[g] = groups[g];
    }
    o->ngroups = ngroups;
}

HOT_LOOP static void step_sgd(optim_t *o, const optim_group *g, float *params, const float *grads) {
    float lr = g->lr, wd = o->weight_decay, mu = o->momentum;
    float *restrict p = params + g->offset;
    const float *restrict gr = grads + g->offset;
    long n = g->count;
    if (mu != 0.0f) {
        /* dampening 0: PyTorch's first buffer equals the gradient, as 0·mu + g does */
        float *restrict buf = o->m + g->offset;
        for (long i = 0; i < n; i++) {
            float d = gr[i] + wd * p[i];
            buf[i] = mu * buf[i] + d;
            p[i] -= lr * buf[i];
        }
    } else {
        for (long i = 0; i < n; i++) p[i] -= lr * (gr[i] + wd * p[i]);
    }
}

HOT_LOOP static void step_adam(optim_t *o, const optim_group *g, float *params, const float *grads) {
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    float bc1 = (float)(1.0 - pow((double)b1, (double)o->t));
    float bc2 = (float)(1.0 - pow((double)b2, (double)o->t));
    float step = g->lr / bc1;
    float inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    /* Adam: L2 folded into the gradient; AdamW: decoupled shrink before the update */
    float l2 = o->kind == OPTIM_ADAM ? o->weight_decay : 0.0f;
    float shrink = o->kind == OPTIM_ADAMW ? 1.0f - g->lr * o->weight_decay : 1.0f;
    float *restrict p = params + g->offset;
    float *restrict m = o->m + g->offset;
    float *restrict v = o->v + g->offset;
    const float *restrict gr = grads + g->offset;
    long n = g->count, i = 0;
#if defined(__SSE__)
    /* sqrtf's errno path stops the auto-vectoriser; sqrtps is the same correctly rounded
     * root, and the operation order matches the scalar loop, so results are identical */
    const __m128 vb1 = _mm_set1_ps(b1), vc1 = _mm_set1_ps(1.0f - b1);
    const __m128 vb2 = _mm_set1_ps(b2), vc2 = _mm_set1_ps(1.0f - b2);
    const __m128 vl2 = _mm_set1_ps(l2), vshr = _mm_set1_ps(shrink), vstep = _mm_set1_ps(step);
    const __m128 vbc = _mm_set1_ps(inv_sqrt_bc2), veps = _mm_set1_ps(eps);
    for (; i + 4 <= n; i += 4) {
        __m128 pv = _mm_loadu_ps(p + i);
        __m128 d = _mm_add_ps(_mm_loadu_ps(gr + i), _mm_mul_ps(vl2, pv));
        __m128 mv = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vc1, d));
        __m128 vv = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)),
                               _mm_mul_ps(_mm_mul_ps(vc2, d), d));
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vv), vbc), veps);
        _mm_storeu_ps(m + i, mv);
        _mm_storeu_ps(v + i, vv);
        _mm_storeu_ps(p + i, _mm_sub_ps(_mm_mul_ps(pv, vshr), _mm_div_ps(_mm_mul_ps(vstep, mv), den)));
    }
#endif
    for (; i < n; i++) {
        float pi = p[i] * shrink;
        float d = gr[i] + l2 * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * d;
        v[i] = b2 * v[i] + (1.0f - b2) * d * d;
        p[i] = pi - step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

void optim_step(optim_t *o, float *params, const float *grads) {
    if (o->kind == OPTIM_SGD && o->momentum != 0.0f && !o->m)
        o->m = xcalloc((size_t)o->n, sizeof(float));   /* momentum set after init */
    o->t++;
    for (int g = 0; g < o->ngroups; g++) {
        if (o->kind == OPTIM_SGD)
            step_sgd(o, &o->groups[g], params, grads);
        else
            step_adam(o, &o->groups[g], params, grads);
    }
}

void optim_reset(optim_t *o) {
    o->t = 0;
    if (o->m) memset(o->m, 0, (size_t)o->n * sizeof(float));
    if (o->v) memset(o->v, 0, (size_t)o->n * sizeof(float));
}

void optim_free(optim_t *o) {
    free(o->m);   /* v lives in the same block for Adam(W) */
    o->m = o->v = NULL;
}
