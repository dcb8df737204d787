/* mlp.c — the multi-layer perceptron (see mlp.h). */
#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "util.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#if CLS_X86_SIMD
#include <immintrin.h>
#endif

long mlp_param_count(int nlayers, const int *sizes) {
    long n = 0;
    for (int l = 0; l < nlayers; l++) n += (long)sizes[l + 1] * (sizes[l] + 1);
    return n;
}

void mlp_init(mlp_t *m, int nlayers, const int *sizes, const act_kind *acts,
              float *arena_params, float *arena_grads, rng_t *r) {
    memset(m, 0, sizeof *m);
    m->nlayers = nlayers;
    long off = 0;
    for (int l = 0; l < nlayers; l++) {
        m->sizes[l] = sizes[l];
        m->act[l] = acts[l];
        m->off_w[l] = off;
        off += (long)sizes[l + 1] * sizes[l];
        m->off_b[l] = off;
        off += sizes[l + 1];
    }
    m->sizes[nlayers] = sizes[nlayers];
    m->nparams = off;
    if (arena_params) {
        m->params = arena_params;
        m->grads = arena_grads;
    } else {
        m->params = xcalloc((size_t)off, sizeof(float));
        m->grads = xcalloc((size_t)off, sizeof(float));
        m->own_arena = 1;
    }
    for (int l = 0; l < nlayers; l++) {
        float bound = 1.0f / sqrtf((float)sizes[l]);
        rng_fill_uniform(r, m->params + m->off_w[l], (long)sizes[l + 1] * sizes[l], -bound, bound);
        rng_fill_uniform(r, m->params + m->off_b[l], sizes[l + 1], -bound, bound);
    }
}

static void mlp_reserve(mlp_t *m, int B) {
    if (B <= m->cap_batch) return;
    int maxw = 0;
    for (int l = 0; l <= m->nlayers; l++)
        if (m->sizes[l] > maxw) maxw = m->sizes[l];
    for (int l = 0; l < m->nlayers; l++) {
        size_t n = (size_t)B * (size_t)m->sizes[l + 1];
        m->z[l] = xrealloc(m->z[l], sizeof(float) * n);
        m->a[l] = m->act[l] == ACT_IDENTITY ? m->z[l] : xrealloc(m->a[l], sizeof(float) * n);
    }
    for (int k = 0; k < 3; k++) m->dbuf[k] = xrealloc(m->dbuf[k], sizeof(float) * (size_t)B * (size_t)maxw);
    m->cap_batch = B;
}

void mlp_free(mlp_t *m) {
    for (int l = 0; l < m->nlayers; l++) {
        if (m->a[l] != m->z[l]) free(m->a[l]);
        free(m->z[l]);
    }
    for (int k = 0; k < 3; k++) free(m->dbuf[k]);
    if (m->own_arena) {
        free(m->params);
        free(m->grads);
    }
    memset(m, 0, sizeof *m);
}

const float *mlp_forward(mlp_t *m, const float *x, int B) {
    mlp_reserve(m, B);
    m->input = x;
    const float *in = x;
    for (int l = 0; l < m->nlayers; l++) {
        dense_forward(m->z[l], in, m->params + m->off_w[l], m->params + m->off_b[l], B,
                      m->sizes[l], m->sizes[l + 1]);
        if (m->act[l] != ACT_IDENTITY)
            act_forward(m->act[l], m->a[l], m->z[l], (long)B * m->sizes[l + 1]);
        in = m->a[l];
    }
    return m->a[m->nlayers - 1];
}

void mlp_backward(mlp_t *m, const float *dout, float *dx, int B) {
    /* g = gradient w.r.t. the post-activation output of layer l; dz w.r.t. its input z. */
    const float *g = dout;
    int gi = 2;   /* scratch buffer holding g (dout is external: any index works) */
    for (int l = m->nlayers - 1; l >= 0; l--) {
        long n = (long)B * m->sizes[l + 1];
        const float *dz = g;
        if (m->act[l] != ACT_IDENTITY) {
            float *buf = m->dbuf[(gi + 1) % 3];
            memset(buf, 0, sizeof(float) * (size_t)n);
            act_backward(m->act[l], buf, g, m->z[l], m->a[l], n);
            dz = buf;
        }
        const float *in = l ? m->a[l - 1] : m->input;
        float *din = NULL;
        if (l > 0) {
            gi = (gi + 2) % 3;
            din = m->dbuf[gi];
            memset(din, 0, sizeof(float) * (size_t)B * (size_t)m->sizes[l]);
        } else if (dx) {
            din = dx;
        }
        dense_backward(din, m->grads + m->off_w[l], m->grads + m->off_b[l], dz, in,
                       m->params + m->off_w[l], B, m->sizes[l], m->sizes[l + 1]);
        g = din;
    }
}

/* ---- fused batch-1 SGD step ---- */
/* One row of W: w_j = w_j − lr·((0 + d·x_j) + wd·w_j). (0 + d·x_j) is what sger stores into
 * a zeroed gradient (alpha 1; an exact zero product becomes +0 there too), and the rest is
 * step_sgd's p −= lr·(g + wd·p) in its operation order; no FMA (-std=c11 does not contract, and the
 * wide variants use no FMA intrinsics), so every ISA level gives the same bits.
 * SGD_ROW_LOOP is the vector loop, written once for every width: V the vector type, P the
 * intrinsic prefix (_mm, _mm256, _mm512), L the lanes; it returns the columns done. */
#define SGD_ROW_LOOP(V, P, L)                                                                 \
    const V vd = P##_set1_ps(d), vlr = P##_set1_ps(lr), vwd = P##_set1_ps(wd);               \
    const V zero = P##_setzero_ps();                                                         \
    long j = 0;                                                                              \
    for (; j + (L) <= n; j += (L)) {                                                         \
        V pv = P##_loadu_ps(w + j);                                                          \
        V g = P##_add_ps(zero, P##_mul_ps(vd, P##_loadu_ps(x + j)));                         \
        V t = P##_add_ps(g, P##_mul_ps(vwd, pv));                                            \
        P##_storeu_ps(w + j, P##_sub_ps(pv, P##_mul_ps(vlr, t)));                            \
    }                                                                                        \
    return j;

#if defined(__SSE__)
static long sgd_row_sse_vec(float *restrict w, const float *restrict x, long n, float d,
                            float lr, float wd) {
    SGD_ROW_LOOP(__m128, _mm, 4)
}
#endif

static void sgd_row_sse(float *restrict w, const float *restrict x, long n, float d, float lr,
                        float wd, int isa) {
    long j = 0;
#if defined(__SSE__)
    if (isa >= CPU_SSE) j = sgd_row_sse_vec(w, x, n, d, lr, wd);
#else
    (void)isa;
#endif
    for (; j < n; j++) w[j] -= lr * ((0.0f + d * x[j]) + wd * w[j]);
}

#if CLS_X86_SIMD
#define SGD_WIDE 1
/* The same row 8 and 16 lanes wide; returns the columns done (the rest go to sgd_row_sse). */
CLS_TARGET_AVX2 static long sgd_row_avx2(float *restrict w,
                                         const float *restrict x, long n,
                                                          float d, float lr, float wd) {
    SGD_ROW_LOOP(__m256, _mm256, 8)
}

CLS_TARGET_AVX512 static long sgd_row_avx512(float *restrict w,
                                             const float *restrict x, long n,
                                                               float d, float lr, float wd) {
    SGD_ROW_LOOP(__m512, _mm512, 16)
}
#endif

static int fused_on = 1;

int mlp_fused(int on) {
    int prev = fused_on;
    if (on >= 0) fused_on = on;
    return prev;
}

void mlp_sgd_step1(mlp_t *m, const float *dout, float lr, float wd) {
    const float *g = dout;
    int gi = 2;   /* the scratch rotation of mlp_backward */
    int isa = cpu_level();
    for (int l = m->nlayers - 1; l >= 0; l--) {
        int n_in = m->sizes[l], n_out = m->sizes[l + 1];
        const float *dz = g;
        if (m->act[l] != ACT_IDENTITY) {
            float *buf = m->dbuf[(gi + 1) % 3];
            memset(buf, 0, sizeof(float) * (size_t)n_out);
            act_backward(m->act[l], buf, g, m->z[l], m->a[l], n_out);
            dz = buf;
        }
        const float *in = l ? m->a[l - 1] : m->input;
        float *w = m->params + m->off_w[l], *b = m->params + m->off_b[l];
        const float *gnext = NULL;
        if (l > 0) {   /* through the old weights, with mlp_backward's call */
            gi = (gi + 2) % 3;
            float *din = m->dbuf[gi];
            memset(din, 0, sizeof(float) * (size_t)n_in);
            dense_backward(din, NULL, NULL, dz, in, w, 1, n_in, n_out);
            gnext = din;
        }
        for (int i = 0; i < n_out; i++) {
            float *row = w + (long)i * n_in;
            long j = 0;
#if defined(SGD_WIDE)
            if (isa >= CPU_AVX512) j = sgd_row_avx512(row, in, n_in, dz[i], lr, wd);
            else if (isa >= CPU_AVX2) j = sgd_row_avx2(row, in, n_in, dz[i], lr, wd);
#endif
            sgd_row_sse(row + j, in + j, n_in - j, dz[i], lr, wd, isa);
        }
        for (int i = 0; i < n_out; i++) b[i] -= lr * ((0.0f + dz[i]) + wd * b[i]);
        g = gnext;
    }
}
