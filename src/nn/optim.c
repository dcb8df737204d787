/* optim.c — SGD (momentum, L2), Adam and AdamW with PyTorch's update rules over one flat
 * parameter arena; one loop per group. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "util.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* The update loops touch every parameter each step (most of the cost at batch 1), so they
 * must vectorise: CLS_HOT_LOOP (cpu.h). */
#define HOT_LOOP CLS_HOT_LOOP

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

/* Row i of the block: g_j = Σ_k u_k[i]·v_k[j] (for K = 1 the single product sger would
 * store into a zeroed gradient), back_k += u_k[i]·p (before the update), then the Adam(W)
 * update in step_adam's operation order (l2 = 0 for AdamW), so K = 1 is bit-identical. */
HOT_LOOP static void outer_row(float *restrict p, float *restrict m, float *restrict v, long cols,
                               int K, const float *ui, const float *const *vk, float *const *back,
                               float b1, float b2, float eps, float l2, float shrink, float step,
                               float inv_sqrt_bc2) {
    long j = 0;
#if defined(__SSE__)
    const __m128 vb1 = _mm_set1_ps(b1), vc1 = _mm_set1_ps(1.0f - b1);
    const __m128 vb2 = _mm_set1_ps(b2), vc2 = _mm_set1_ps(1.0f - b2);
    const __m128 vl2 = _mm_set1_ps(l2), vshr = _mm_set1_ps(shrink), vstep = _mm_set1_ps(step);
    const __m128 vbc = _mm_set1_ps(inv_sqrt_bc2), veps = _mm_set1_ps(eps);
    for (; j + 4 <= cols; j += 4) {
        __m128 pv = _mm_loadu_ps(p + j);
        __m128 gv = _mm_mul_ps(_mm_set1_ps(ui[0]), _mm_loadu_ps(vk[0] + j));
        if (back) {
            __m128 bk = _mm_loadu_ps(back[0] + j);
            _mm_storeu_ps(back[0] + j, _mm_add_ps(bk, _mm_mul_ps(_mm_set1_ps(ui[0]), pv)));
        }
        for (int k = 1; k < K; k++) {
            __m128 uk = _mm_set1_ps(ui[k]);
            gv = _mm_add_ps(gv, _mm_mul_ps(uk, _mm_loadu_ps(vk[k] + j)));
            if (back) {
                __m128 bk = _mm_loadu_ps(back[k] + j);
                _mm_storeu_ps(back[k] + j, _mm_add_ps(bk, _mm_mul_ps(uk, pv)));
            }
        }
        __m128 d = _mm_add_ps(gv, _mm_mul_ps(vl2, pv));
        __m128 mv = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + j)), _mm_mul_ps(vc1, d));
        __m128 vv = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + j)),
                               _mm_mul_ps(_mm_mul_ps(vc2, d), d));
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vv), vbc), veps);
        _mm_storeu_ps(m + j, mv);
        _mm_storeu_ps(v + j, vv);
        _mm_storeu_ps(p + j, _mm_sub_ps(_mm_mul_ps(pv, vshr), _mm_div_ps(_mm_mul_ps(vstep, mv), den)));
    }
#endif
    for (; j < cols; j++) {
        float g = ui[0] * vk[0][j];
        if (back) back[0][j] += ui[0] * p[j];
        for (int k = 1; k < K; k++) {
            g += ui[k] * vk[k][j];
            if (back) back[k][j] += ui[k] * p[j];
        }
        float pj = p[j] * shrink;
        float d = g + l2 * p[j];
        m[j] = b1 * m[j] + (1.0f - b1) * d;
        v[j] = b2 * v[j] + (1.0f - b2) * d * d;
        p[j] = pj - step * m[j] / (sqrtf(v[j]) * inv_sqrt_bc2 + eps);
    }
}

#if CLS_X86_SIMD
#include <immintrin.h>
#define OUTER_WIDE 1
/* The same row with 8 and 16 lanes (the update is bound by divps/sqrtps, not memory): the
 * same IEEE operations per lane in the same order (no FMA intrinsics, and -std=c11 does not
 * contract), so every ISA gives the same bits. Columns below the vector
 * width are left to outer_row. OUTER_ROW_LOOP is the loop written once: V the vector type,
 * P the intrinsic prefix, L the lanes. */
#define OUTER_ROW_LOOP(V, P, L)                                                               \
    const V vb1 = P##_set1_ps(b1), vc1 = P##_set1_ps(1.0f - b1);                             \
    const V vb2 = P##_set1_ps(b2), vc2 = P##_set1_ps(1.0f - b2);                             \
    const V vl2 = P##_set1_ps(l2), vshr = P##_set1_ps(shrink);                               \
    const V vstep = P##_set1_ps(step), vbc = P##_set1_ps(inv_sqrt_bc2);                      \
    const V veps = P##_set1_ps(eps);                                                         \
    long j = 0;                                                                              \
    for (; j + (L) <= cols; j += (L)) {                                                      \
        V pv = P##_loadu_ps(p + j);                                                          \
        V gv = P##_mul_ps(P##_set1_ps(ui[0]), P##_loadu_ps(vk[0] + j));                      \
        if (back)                                                                            \
            P##_storeu_ps(back[0] + j, P##_add_ps(P##_loadu_ps(back[0] + j),                 \
                                                  P##_mul_ps(P##_set1_ps(ui[0]), pv)));      \
        for (int k = 1; k < K; k++) {                                                        \
            V uk = P##_set1_ps(ui[k]);                                                       \
            gv = P##_add_ps(gv, P##_mul_ps(uk, P##_loadu_ps(vk[k] + j)));                    \
            if (back)                                                                        \
                P##_storeu_ps(back[k] + j,                                                   \
                              P##_add_ps(P##_loadu_ps(back[k] + j), P##_mul_ps(uk, pv)));    \
        }                                                                                    \
        V d = P##_add_ps(gv, P##_mul_ps(vl2, pv));                                           \
        V mv = P##_add_ps(P##_mul_ps(vb1, P##_loadu_ps(m + j)), P##_mul_ps(vc1, d));         \
        V vv = P##_add_ps(P##_mul_ps(vb2, P##_loadu_ps(v + j)),                              \
                          P##_mul_ps(P##_mul_ps(vc2, d), d));                                \
        V den = P##_add_ps(P##_mul_ps(P##_sqrt_ps(vv), vbc), veps);                          \
        P##_storeu_ps(m + j, mv);                                                            \
        P##_storeu_ps(v + j, vv);                                                            \
        P##_storeu_ps(p + j, P##_sub_ps(P##_mul_ps(pv, vshr),                                \
                                        P##_div_ps(P##_mul_ps(vstep, mv), den)));            \
    }                                                                                        \
    return j;

CLS_TARGET_AVX2 static long outer_row_avx2(
    float *restrict p, float *restrict m, float *restrict v, long cols, int K, const float *ui,
    const float *const *vk, float *const *back, float b1, float b2, float eps, float l2,
    float shrink, float step, float inv_sqrt_bc2) {
    OUTER_ROW_LOOP(__m256, _mm256, 8)
}

CLS_TARGET_AVX512 static long outer_row_avx512(
    float *restrict p, float *restrict m, float *restrict v, long cols, int K, const float *ui,
    const float *const *vk, float *const *back, float b1, float b2, float eps, float l2,
    float shrink, float step, float inv_sqrt_bc2) {
    OUTER_ROW_LOOP(__m512, _mm512, 16)
}
#endif

void optim_step_outer(optim_t *o, float *params, long offset, int rows, int cols, float lr, int K,
                      const float *const *u, const float *const *v, float *const *back) {
    if (o->kind == OPTIM_SGD || K < 1 || K > OPTIM_MAX_OUTER || offset < 0 ||
        offset + (long)rows * cols > o->n) {
        fprintf(stderr, "clsweep: optim_step_outer: bad call (kind %d, K %d, block [%ld, %ld) of %ld)\n",
                (int)o->kind, K, offset, offset + (long)rows * cols, o->n);
        abort();
    }
    long t = o->t + 1;
    float b1 = o->beta1, b2 = o->beta2;
    float bc1 = (float)(1.0 - pow((double)b1, (double)t));
    float bc2 = (float)(1.0 - pow((double)b2, (double)t));
    float step = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    float l2 = o->kind == OPTIM_ADAM ? o->weight_decay : 0.0f;
    float shrink = o->kind == OPTIM_ADAMW ? 1.0f - lr * o->weight_decay : 1.0f;
    float ui[OPTIM_MAX_OUTER];
    const float *vj[OPTIM_MAX_OUTER];
    float *bj[OPTIM_MAX_OUTER];
    int isa = cpu_level();
    for (int i = 0; i < rows; i++) {
        long off = offset + (long)i * cols, j = 0;
        for (int k = 0; k < K; k++) ui[k] = u[k][i];
#if defined(OUTER_WIDE)
        if (isa >= CPU_AVX512)
            j = outer_row_avx512(params + off, o->m + off, o->v + off, cols, K, ui, v, back, b1, b2,
                                 o->eps, l2, shrink, step, inv_sqrt_bc2);
        else if (isa >= CPU_AVX2)
            j = outer_row_avx2(params + off, o->m + off, o->v + off, cols, K, ui, v, back, b1, b2,
                               o->eps, l2, shrink, step, inv_sqrt_bc2);
#else
        (void)isa;
#endif
        for (int k = 0; k < K; k++) {   /* the columns the wide loop left */
            vj[k] = v[k] + j;
            if (back) bj[k] = back[k] + j;
        }
        off += j;
        outer_row(params + off, o->m + off, o->v + off, cols - j, K, ui, vj, back ? bj : NULL, b1,
                  b2, o->eps, l2, shrink, step, inv_sqrt_bc2);
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
