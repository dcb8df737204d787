/* hsf_parts.c — the parts of the Hypernetwork-SDE-Flow autoencoder (see hsf.h): fast tanh
 * and sigmoid, the DynamicLinear hypernetwork, the affine-coupling flow with its
 * log-determinant and inverse, the Euler–Maruyama neural SDE with backprop through the
 * stored trajectory, and the embedding-separation loss. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hsf.h"
#include "nn.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define HOT_LOOP __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define HOT_LOOP
#endif

/* ---- tanh / sigmoid ----
 * Odd rational minimax approximation on [−7.9053, 7.9053] (the form Eigen uses for float
 * tanh); beyond that tanhf rounds to ±1 anyway. The SDE evaluates ~1.5 M of them per
 * training step, more work than its matrix products with libm's tanhf, so the loop is
 * written with SSE (GCC will not if-convert the clamps of a scalar loop). */
#define TANH_A1 4.89352455891786e-03f
#define TANH_A3 6.37261928875436e-04f
#define TANH_A5 1.48572235717979e-05f
#define TANH_A7 5.12229709037114e-08f
#define TANH_A9 -8.60467152213735e-11f
#define TANH_A11 2.00018790482477e-13f
#define TANH_A13 -2.76076847742355e-16f
#define TANH_B0 4.89352518554385e-03f
#define TANH_B2 2.26843463243900e-03f
#define TANH_B4 1.18534705686654e-04f
#define TANH_B6 1.19825839466702e-06f
#define TANH_CLIP 7.90531110763549805f

static inline float tanh_scalar(float x) {
    /* NaN fails both comparisons and propagates */
    x = x > TANH_CLIP ? TANH_CLIP : x;
    x = x < -TANH_CLIP ? -TANH_CLIP : x;
    float x2 = x * x;
    float p = ((((((TANH_A13 * x2 + TANH_A11) * x2 + TANH_A9) * x2 + TANH_A7) * x2 + TANH_A5) * x2 +
                TANH_A3) * x2 + TANH_A1) * x;
    float q = ((TANH_B6 * x2 + TANH_B4) * x2 + TANH_B2) * x2 + TANH_B0;
    return p / q;
}

/* The rational tanh over a vector, written once for every width: V the vector type, P the
 * intrinsic prefix (_mm, _mm512), L the lanes. The same operations in the same order at
 * every width (no FMA: -std=c11 does not contract, the wide one targets avx512f only), so
 * every width gives the same bits (test_fastpaths compares them with tanh_scalar); min/max
 * return their second operand when either is NaN, so NaN propagates. Leaves i at the first
 * element not done. */
#define TANH_LOOP(V, P, L)                                                                    \
    {                                                                                        \
        const V hi = P##_set1_ps(TANH_CLIP), lo = P##_set1_ps(-TANH_CLIP);                   \
        for (; i + (L) <= n; i += (L)) {                                                     \
            V x = P##_max_ps(lo, P##_min_ps(hi, P##_loadu_ps(in + i)));                      \
            V x2 = P##_mul_ps(x, x);                                                         \
            V p = P##_set1_ps(TANH_A13);                                                     \
            p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(TANH_A11));                        \
            p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(TANH_A9));                         \
            p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(TANH_A7));                         \
            p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(TANH_A5));                         \
            p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(TANH_A3));                         \
            p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(TANH_A1));                         \
            p = P##_mul_ps(p, x);                                                            \
            V q = P##_set1_ps(TANH_B6);                                                      \
            q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(TANH_B4));                         \
            q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(TANH_B2));                         \
            q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(TANH_B0));                         \
            P##_storeu_ps(out + i, P##_div_ps(p, q));                                        \
        }                                                                                    \
    }

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HSF_WIDE 1
__attribute__((target("avx512f"))) static long tanh_avx512(float *out, const float *in, long n) {
    long i = 0;
    TANH_LOOP(__m512, _mm512, 16)
    return i;
}
#endif

/* 1 = AVX-512 allowed (the default), 0 = SSE only; -1 = CPU not yet checked. */
static int wide_allowed = 1, wide_have = -1;

int hsf_simd(int level) {
    int prev = wide_allowed;
    if (level >= 0) wide_allowed = level > 0;
    return prev;
}

static int use_wide(void) {
    if (wide_have < 0) {
        wide_have = 0;
#if defined(HSF_WIDE)
        __builtin_cpu_init();
        wide_have = __builtin_cpu_supports("avx512f") != 0;
#endif
    }
    return wide_have && wide_allowed;
}

void hsf_tanh(float *out, const float *in, long n) {
    long i = 0;
#if defined(HSF_WIDE)
    if (use_wide()) i = tanh_avx512(out, in, n);
#endif
#if defined(__SSE__)
    TANH_LOOP(__m128, _mm, 4)
#endif
    for (; i < n; i++) out[i] = tanh_scalar(in[i]);
}

HOT_LOOP void hsf_sigmoid(float *out, const float *in, long n) {
    for (long i = 0; i < n; i++) out[i] = 0.5f * in[i];
    hsf_tanh(out, out, n);
    for (long i = 0; i < n; i++) out[i] = 0.5f + 0.5f * out[i];
}

HOT_LOOP static void relu_inplace(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : (x[i] == x[i] ? 0.0f : x[i]);
}

/* d ⊙= (a > 0): ReLU backward through its output a. */
HOT_LOOP static void relu_mask(float *d, const float *a, long n) {
    for (long i = 0; i < n; i++) d[i] = a[i] > 0.0f ? d[i] : 0.0f;
}

/* d ⊙= 1 − y², y = tanh(·). */
#if defined(HSF_WIDE)
__attribute__((target("avx512f"))) static long tanh_grad_avx512(float *d, const float *y, long n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 yv = _mm512_loadu_ps(y + i);
        _mm512_storeu_ps(d + i, _mm512_mul_ps(_mm512_loadu_ps(d + i),
                                              _mm512_sub_ps(one, _mm512_mul_ps(yv, yv))));
    }
    return i;
}
#endif

HOT_LOOP static void tanh_grad(float *d, const float *y, long n) {
    long i = 0;
#if defined(HSF_WIDE)
    if (use_wide()) i = tanh_grad_avx512(d, y, n);
#endif
    for (; i < n; i++) d[i] *= 1.0f - y[i] * y[i];
}

/* ---- GELU ----
 * 0.5·x·(1 + erf(x/√2)) with erf as an odd rational minimax approximation on [−4, 4]
 * (the form Eigen uses for float erf; |error| < 1e-7, erf(±4) rounds to ±1 in float), and
 * the backward's φ(x) = exp(−x²/2)/√(2π) with a Cephes-style expf (2^k · polynomial,
 * ~1 ulp; 0 below exp(−87)). libm's erff/expf, one element at a time, were 12 % of an HSF
 * epoch. The AVX-512 loops do the scalar code's operations in the same order, lane by
 * lane, so every ISA gives the same bits. */
#define ERF_A1 -1.60960333262415e-02f
#define ERF_A3 -2.95459980854025e-03f
#define ERF_A5 -7.34990630326855e-04f
#define ERF_A7 -5.69250639462346e-05f
#define ERF_A9 -2.10102402082508e-06f
#define ERF_A11 2.77068142495902e-08f
#define ERF_A13 -2.72614225801306e-10f
#define ERF_B0 -1.42647390514189e-02f
#define ERF_B2 -7.37332916720468e-03f
#define ERF_B4 -1.68282697438203e-03f
#define ERF_B6 -2.13374055278905e-04f
#define ERF_B8 -1.45660718464996e-05f
#define GELU_INV_SQRT2 0.70710678118654752440f
#define GELU_INV_SQRT_2PI 0.39894228040143267794f
#define EXP_LO -87.0f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_C1 0.693359375f
#define EXP_C2 -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline float erf_scalar(float x) {
    x = 4.0f < x ? 4.0f : x;   /* NaN propagates, as minps/maxps with x second */
    x = -4.0f > x ? -4.0f : x;
    float x2 = x * x;
    float p = ((((((ERF_A13 * x2 + ERF_A11) * x2 + ERF_A9) * x2 + ERF_A7) * x2 + ERF_A5) * x2 +
                ERF_A3) * x2 + ERF_A1) * x;
    float q = (((ERF_B8 * x2 + ERF_B6) * x2 + ERF_B4) * x2 + ERF_B2) * x2 + ERF_B0;
    return p / q;
}

/* exp(a) for a ≤ 0; 0 below EXP_LO (and for NaN). */
static inline float expneg_scalar(float a) {
    int keep = a >= EXP_LO;
    a = keep ? a : EXP_LO;
    float k = rintf(a * EXP_LOG2E);
    float r = a - k * EXP_C1;
    r = r - k * EXP_C2;
    float p = ((((EXP_P0 * r + EXP_P1) * r + EXP_P2) * r + EXP_P3) * r + EXP_P4) * r + EXP_P5;
    p = p * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return keep ? p * scale : 0.0f;
}

#if defined(HSF_WIDE)
__attribute__((target("avx512f"))) static inline __m512 erf_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(4.0f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-4.0f), x);
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(ERF_A13);
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(ERF_A11));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(ERF_A9));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(ERF_A7));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(ERF_A5));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(ERF_A3));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(ERF_A1));
    p = _mm512_mul_ps(p, x);
    __m512 q = _mm512_set1_ps(ERF_B8);
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(ERF_B6));
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(ERF_B4));
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(ERF_B2));
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(ERF_B0));
    return _mm512_div_ps(p, q);
}

__attribute__((target("avx512f"))) static inline __m512 expneg_avx512(__m512 a) {
    __mmask16 keep = _mm512_cmp_ps_mask(a, _mm512_set1_ps(EXP_LO), _CMP_GE_OQ);
    a = _mm512_mask_blend_ps(keep, _mm512_set1_ps(EXP_LO), a);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(EXP_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(a, _mm512_mul_ps(k, _mm512_set1_ps(EXP_C1)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(k, _mm512_set1_ps(EXP_C2)));
    __m512 p = _mm512_set1_ps(EXP_P0);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(EXP_P5));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(keep, p, _mm512_castsi512_ps(bits));
}

__attribute__((target("avx512f"))) static long gelu_avx512(float *out, const float *in, long n) {
    long i = 0;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(in + i);
        __m512 e = erf_avx512(_mm512_mul_ps(x, _mm512_set1_ps(GELU_INV_SQRT2)));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, e)));
    }
    return i;
}

__attribute__((target("avx512f"))) static long gelu_backward_avx512(float *dinp, const float *dout,
                                                                     const float *inp, long n) {
    long i = 0;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(inp + i);
        __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, erf_avx512(_mm512_mul_ps(
                                                                 v, _mm512_set1_ps(GELU_INV_SQRT2)))));
        __m512 a = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), v), v);
        __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(GELU_INV_SQRT_2PI), expneg_avx512(a));
        __m512 g = _mm512_mul_ps(_mm512_loadu_ps(dout + i), _mm512_add_ps(cdf, _mm512_mul_ps(v, pdf)));
        _mm512_storeu_ps(dinp + i, _mm512_add_ps(_mm512_loadu_ps(dinp + i), g));
    }
    return i;
}
#endif

void hsf_gelu(float *out, const float *in, long n) {
    long i = 0;
#if defined(HSF_WIDE)
    if (use_wide()) i = gelu_avx512(out, in, n);
#endif
    for (; i < n; i++) {
        float x = in[i];
        out[i] = (0.5f * x) * (1.0f + erf_scalar(x * GELU_INV_SQRT2));
    }
}

void hsf_gelu_backward(float *dinp, const float *dout, const float *inp, long n) {
    long i = 0;
#if defined(HSF_WIDE)
    if (use_wide()) i = gelu_backward_avx512(dinp, dout, inp, n);
#endif
    for (; i < n; i++) {
        float v = inp[i];
        float cdf = 0.5f * (1.0f + erf_scalar(v * GELU_INV_SQRT2));
        float pdf = GELU_INV_SQRT_2PI * expneg_scalar((-0.5f * v) * v);
        dinp[i] += dout[i] * (cdf + v * pdf);
    }
}

/* ---- hypernetwork ---- */

void hsf_hyper_forward(float *W, float *bias, float *a1, float *a2, const float *e,
                       const hsf_hyper *hn, const float *params) {
    dense_forward(a1, e, params + hn->w1.w, params + hn->w1.b, 1, hn->E, hn->h);
    relu_inplace(a1, hn->h);
    dense_forward(W, a1, params + hn->w2.w, params + hn->w2.b, 1, hn->h, hn->in * hn->out);
    dense_forward(a2, e, params + hn->v1.w, params + hn->v1.b, 1, hn->E, hn->h2);
    relu_inplace(a2, hn->h2);
    dense_forward(bias, a2, params + hn->v2.w, params + hn->v2.b, 1, hn->h2, hn->out);
}

void hsf_hyper_backward(float *de, float *grads, float *scratch, const float *dW,
                        const float *dbias, const float *e, const float *a1, const float *a2,
                        const hsf_hyper *hn, const float *params) {
    memset(scratch, 0, sizeof(float) * (size_t)(hn->h + hn->h2));
    dense_backward(scratch, grads + hn->w2.w, NULL, dW, a1, params + hn->w2.w, 1, hn->h,
                   hn->in * hn->out);
    hsf_hyper_backward_rest(de, grads, scratch, dW, dbias, e, a1, a2, hn, params);
}

void hsf_hyper_backward_rest(float *de, float *grads, float *scratch, const float *dW,
                             const float *dbias, const float *e, const float *a1, const float *a2,
                             const hsf_hyper *hn, const float *params) {
    float *da1 = scratch, *da2 = scratch + hn->h;
    float *db2 = grads + hn->w2.b;
    long io = (long)hn->in * hn->out;
    for (long i = 0; i < io; i++) db2[i] += dW[i];
    relu_mask(da1, a1, hn->h);
    dense_backward(de, grads + hn->w1.w, grads + hn->w1.b, da1, e, params + hn->w1.w, 1, hn->E,
                   hn->h);
    dense_backward(da2, grads + hn->v2.w, grads + hn->v2.b, dbias, a2, params + hn->v2.w, 1,
                   hn->h2, hn->out);
    relu_mask(da2, a2, hn->h2);
    dense_backward(de, grads + hn->v1.w, grads + hn->v1.b, da2, e, params + hn->v1.w, 1, hn->E,
                   hn->h2);
}

/* ---- affine-coupling flow ---- */

long hsf_flow_buf_size(const hsf_flow *f, int B) {
    long L = f->L, h = f->half;
    return 2 * (L + 2) * B * h + L * B * f->Hf + 2 * L * B * h + (long)B * f->Hf + (long)B * h;
}

void hsf_flow_buf_init(hsf_flow_buf *fb, const hsf_flow *f, float *mem, int B) {
    long L = f->L, h = f->half;
    fb->c = mem;          mem += (L + 2) * B * h;
    fb->dc = mem;         mem += (L + 2) * B * h;
    fb->h = mem;          mem += L * B * f->Hf;
    fb->st = mem;         mem += L * B * h;
    fb->s = mem;          mem += L * B * h;
    fb->dh = mem;         mem += (long)B * f->Hf;
    fb->dsp = mem;
}

/* st = tanh(MLP(a)) and h = the MLP's ReLU layer, for layer l on B rows. */
static void coupling_net(float *st, float *h, const float *a, const hsf_flow *f, int l,
                         const float *params, int B) {
    dense_forward(h, a, params + f->net1[l].w, params + f->net1[l].b, B, f->half, f->Hf);
    relu_inplace(h, (long)B * f->Hf);
    dense_forward(st, h, params + f->net2[l].w, params + f->net2[l].b, B, f->Hf, f->half);
    hsf_tanh(st, st, (long)B * f->half);
}

void hsf_flow_forward(float *u, float *logdet, const float *z, const hsf_flow *f,
                      hsf_flow_buf *fb, const float *params, int B) {
    int D = f->D, hf = f->half;
    long slab = (long)B * hf;
    for (int b = 0; b < B; b++) {
        memcpy(fb->c + (long)b * hf, z + (long)b * D + hf, sizeof(float) * (size_t)hf);
        memcpy(fb->c + slab + (long)b * hf, z + (long)b * D, sizeof(float) * (size_t)hf);
        logdet[b] = 0.0f;
    }
    for (int l = 0; l < f->L; l++) {
        const float *a = fb->c + (l + 1) * slab, *zz = fb->c + l * slab;
        float *out = fb->c + (l + 2) * slab;
        float *st = fb->st + l * slab, *s = fb->s + l * slab;
        const float *scale = params + f->scale[l];
        coupling_net(st, fb->h + (long)l * B * f->Hf, a, f, l, params, B);
        for (int b = 0; b < B; b++) {
            double ld = 0;
            for (int j = 0; j < hf; j++) {
                long i = (long)b * hf + j;
                float ls = scale[j] * st[i];
                s[i] = expf(ls);
                out[i] = (zz[i] + st[i]) * s[i];
                ld += ls;
            }
            logdet[b] += (float)ld;
        }
    }
    const float *first = fb->c + (f->L + 1) * slab, *second = fb->c + f->L * slab;
    for (int b = 0; b < B; b++) {
        memcpy(u + (long)b * D, first + (long)b * hf, sizeof(float) * (size_t)hf);
        memcpy(u + (long)b * D + hf, second + (long)b * hf, sizeof(float) * (size_t)hf);
    }
}

void hsf_flow_backward(float *dz, float *grads, const float *du, const float *dlogdet,
                       const hsf_flow *f, hsf_flow_buf *fb, const float *params, int B) {
    int D = f->D, hf = f->half, Hf = f->Hf;
    long slab = (long)B * hf;
    memset(fb->dc, 0, sizeof(float) * (size_t)((f->L + 2) * slab));
    if (du) {
        float *dfirst = fb->dc + (f->L + 1) * slab, *dsecond = fb->dc + f->L * slab;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < hf; j++) {
                dfirst[(long)b * hf + j] = du[(long)b * D + j];
                dsecond[(long)b * hf + j] = du[(long)b * D + hf + j];
            }
    }
    for (int l = f->L - 1; l >= 0; l--) {
        const float *a = fb->c + (l + 1) * slab, *out = fb->c + (l + 2) * slab;
        const float *st = fb->st + l * slab, *s = fb->s + l * slab;
        const float *h = fb->h + (long)l * B * Hf;
        const float *dout = fb->dc + (l + 2) * slab;
        float *dzz = fb->dc + l * slab, *da = fb->dc + (l + 1) * slab;
        const float *scale = params + f->scale[l];
        float *dscale = grads + f->scale[l];
        float *dsp = fb->dsp;
        /* out = (zz + st)·s, s = exp(scale·st), logdet += Σ scale·st:
         * ∂out/∂zz = s; ∂out/∂st = s + out·scale; ∂out/∂scale = out·st */
        for (int b = 0; b < B; b++) {
            float g = dlogdet ? dlogdet[b] : 0.0f;
            for (int j = 0; j < hf; j++) {
                long i = (long)b * hf + j;
                dzz[i] += dout[i] * s[i];
                float dst = dout[i] * (s[i] + out[i] * scale[j]) + g * scale[j];
                dscale[j] += dout[i] * out[i] * st[i] + g * st[i];
                dsp[i] = dst * (1.0f - st[i] * st[i]);
            }
        }
        memset(fb->dh, 0, sizeof(float) * (size_t)B * (size_t)Hf);
        dense_backward(fb->dh, grads + f->net2[l].w, grads + f->net2[l].b, dsp, h,
                       params + f->net2[l].w, B, Hf, hf);
        relu_mask(fb->dh, h, (long)B * Hf);
        dense_backward(da, grads + f->net1[l].w, grads + f->net1[l].b, fb->dh, a,
                       params + f->net1[l].w, B, hf, Hf);
    }
    const float *dc0 = fb->dc, *dc1 = fb->dc + slab;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < hf; j++) {
            dz[(long)b * D + j] += dc1[(long)b * hf + j];
            dz[(long)b * D + hf + j] += dc0[(long)b * hf + j];
        }
}

void hsf_flow_inverse(float *z, const float *u, const hsf_flow *f, hsf_flow_buf *fb,
                      const float *params, int B) {
    int D = f->D, hf = f->half;
    long slab = (long)B * hf;
    float *first = fb->c + (f->L + 1) * slab, *second = fb->c + f->L * slab;
    for (int b = 0; b < B; b++) {
        memcpy(first + (long)b * hf, u + (long)b * D, sizeof(float) * (size_t)hf);
        memcpy(second + (long)b * hf, u + (long)b * D + hf, sizeof(float) * (size_t)hf);
    }
    for (int l = f->L - 1; l >= 0; l--) {
        const float *a = fb->c + (l + 1) * slab, *out = fb->c + (l + 2) * slab;
        float *zz = fb->c + l * slab, *st = fb->st + l * slab;
        const float *scale = params + f->scale[l];
        coupling_net(st, fb->h + (long)l * B * f->Hf, a, f, l, params, B);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < hf; j++) {
                long i = (long)b * hf + j;
                zz[i] = out[i] * expf(-scale[j] * st[i]) - st[i];
            }
    }
    for (int b = 0; b < B; b++) {
        memcpy(z + (long)b * D, fb->c + slab + (long)b * hf, sizeof(float) * (size_t)hf);
        memcpy(z + (long)b * D + hf, fb->c + (long)b * hf, sizeof(float) * (size_t)hf);
    }
}

/* ---- neural SDE ---- */

long hsf_sde_buf_size(const hsf_sde *s, int steps, int B) {
    long SB = (long)steps * B;
    return (long)(steps + 1) * B * s->D + 8 * SB * s->H + 4 * SB * s->D + 2L * B * s->D;
}

void hsf_sde_buf_init(hsf_sde_buf *sb, const hsf_sde *s, int steps, float *mem, int B) {
    long SBH = (long)steps * B * s->H, SBD = (long)steps * B * s->D;
    sb->steps = steps;
    sb->cap = B;
    sb->z = mem;     mem += (long)(steps + 1) * B * s->D;
    sb->fh1 = mem;   mem += SBH;
    sb->fh2 = mem;   mem += SBH;
    sb->gh1 = mem;   mem += SBH;
    sb->gh2 = mem;   mem += SBH;
    sb->dfp1 = mem;  mem += SBH;
    sb->dfp2 = mem;  mem += SBH;
    sb->dgp1 = mem;  mem += SBH;
    sb->dgp2 = mem;  mem += SBH;
    sb->g = mem;     mem += SBD;
    sb->dW = mem;    mem += SBD;
    sb->dfp3 = mem;  mem += SBD;
    sb->dgp3 = mem;  mem += SBD;
    sb->dz = mem;    mem += (long)B * s->D;
    sb->ftmp = mem;
}

void hsf_sde_noise(hsf_sde_buf *sb, const hsf_sde *s, rng_t *r, float t, float scale, int B) {
    float sd = scale * sqrtf(t / (float)sb->steps);
    long n = (long)sb->steps * B * s->D;
    if (scale == 0.0f) memset(sb->dW, 0, sizeof(float) * (size_t)n);
    else rng_fill_normal(r, sb->dW, n, 0.0f, sd);
}

const float *hsf_sde_forward(const float *z0, const hsf_sde *s, hsf_sde_buf *sb,
                             const float *params, float t, int B) {
    int D = s->D, H = s->H, S = sb->steps;
    long BD = (long)B * D, BH = (long)B * H;
    float dt = t / (float)S;
    memcpy(sb->z, z0, sizeof(float) * (size_t)BD);
    for (int k = 0; k < S; k++) {
        const float *zk = sb->z + k * BD;
        float *zn = sb->z + (k + 1) * BD;
        float *fh1 = sb->fh1 + k * BH, *fh2 = sb->fh2 + k * BH;
        float *gh1 = sb->gh1 + k * BH, *gh2 = sb->gh2 + k * BH;
        float *g = sb->g + k * BD, *fo = sb->ftmp;
        const float *dW = sb->dW + k * BD;
        dense_forward(fh1, zk, params + s->f1.w, params + s->f1.b, B, D, H);
        hsf_tanh(fh1, fh1, BH);
        dense_forward(fh2, fh1, params + s->f2.w, params + s->f2.b, B, H, H);
        hsf_tanh(fh2, fh2, BH);
        dense_forward(fo, fh2, params + s->f3.w, params + s->f3.b, B, H, D);
        dense_forward(gh1, zk, params + s->g1.w, params + s->g1.b, B, D, H);
        hsf_tanh(gh1, gh1, BH);
        dense_forward(gh2, gh1, params + s->g2.w, params + s->g2.b, B, H, H);
        hsf_tanh(gh2, gh2, BH);
        dense_forward(g, gh2, params + s->g3.w, params + s->g3.b, B, H, D);
        hsf_sigmoid(g, g, BD);
        for (long i = 0; i < BD; i++) zn[i] = zk[i] + fo[i] * dt + g[i] * dW[i];
    }
    return sb->z + S * BD;
}

void hsf_sde_backward(float *dz0, float *grads, const float *dzT, const hsf_sde *s,
                      hsf_sde_buf *sb, const float *params, float t, int B) {
    int D = s->D, H = s->H, S = sb->steps;
    long BD = (long)B * D, BH = (long)B * H;
    float dt = t / (float)S;
    float *dz = sb->dz;
    memcpy(dz, dzT, sizeof(float) * (size_t)BD);
    /* The adjoint runs step by step; the weight gradients need only the per-step
     * pre-activation gradients, so they are summed over all steps in one product each at
     * the end (K = steps·B). */
    for (int k = S - 1; k >= 0; k--) {
        const float *g = sb->g + k * BD, *dW = sb->dW + k * BD;
        float *dfp3 = sb->dfp3 + k * BD, *dgp3 = sb->dgp3 + k * BD;
        float *dfp2 = sb->dfp2 + k * BH, *dgp2 = sb->dgp2 + k * BH;
        float *dfp1 = sb->dfp1 + k * BH, *dgp1 = sb->dgp1 + k * BH;
        for (long i = 0; i < BD; i++) {
            dfp3[i] = dz[i] * dt;
            dgp3[i] = dz[i] * dW[i] * g[i] * (1.0f - g[i]);
        }
        memset(dfp2, 0, sizeof(float) * (size_t)BH);
        dense_backward(dfp2, NULL, NULL, dfp3, NULL, params + s->f3.w, B, H, D);
        tanh_grad(dfp2, sb->fh2 + k * BH, BH);
        memset(dfp1, 0, sizeof(float) * (size_t)BH);
        dense_backward(dfp1, NULL, NULL, dfp2, NULL, params + s->f2.w, B, H, H);
        tanh_grad(dfp1, sb->fh1 + k * BH, BH);
        memset(dgp2, 0, sizeof(float) * (size_t)BH);
        dense_backward(dgp2, NULL, NULL, dgp3, NULL, params + s->g3.w, B, H, D);
        tanh_grad(dgp2, sb->gh2 + k * BH, BH);
        memset(dgp1, 0, sizeof(float) * (size_t)BH);
        dense_backward(dgp1, NULL, NULL, dgp2, NULL, params + s->g2.w, B, H, H);
        tanh_grad(dgp1, sb->gh1 + k * BH, BH);
        /* z_{k+1} = z_k + …: the identity path keeps dz; the nets add theirs */
        dense_backward(dz, NULL, NULL, dfp1, NULL, params + s->f1.w, B, D, H);
        dense_backward(dz, NULL, NULL, dgp1, NULL, params + s->g1.w, B, D, H);
    }
    int SB = S * B;
    dense_backward(NULL, grads + s->f1.w, grads + s->f1.b, sb->dfp1, sb->z, NULL, SB, D, H);
    dense_backward(NULL, grads + s->f2.w, grads + s->f2.b, sb->dfp2, sb->fh1, NULL, SB, H, H);
    dense_backward(NULL, grads + s->f3.w, grads + s->f3.b, sb->dfp3, sb->fh2, NULL, SB, H, D);
    dense_backward(NULL, grads + s->g1.w, grads + s->g1.b, sb->dgp1, sb->z, NULL, SB, D, H);
    dense_backward(NULL, grads + s->g2.w, grads + s->g2.b, sb->dgp2, sb->gh1, NULL, SB, H, H);
    dense_backward(NULL, grads + s->g3.w, grads + s->g3.b, sb->dgp3, sb->gh2, NULL, SB, H, D);
    if (dz0)
        for (long i = 0; i < BD; i++) dz0[i] += dz[i];
}

/* ---- embedding separation ---- */

double hsf_sep_forward(const float *emb, int t, int E) {
    double L = 0;
    for (int p = 0; p < t; p++) {
        double d2 = 0;
        for (int j = 0; j < E; j++) {
            double d = (double)emb[(long)t * E + j] - emb[(long)p * E + j];
            d2 += d * d;
        }
        L += exp(-sqrt(d2));
    }
    return L;
}

void hsf_sep_backward(float *demb, const float *emb, int t, int E, float scale) {
    for (int p = 0; p < t; p++) {
        double d2 = 0;
        for (int j = 0; j < E; j++) {
            double d = (double)emb[(long)t * E + j] - emb[(long)p * E + j];
            d2 += d * d;
        }
        double dist = sqrt(d2);
        if (dist == 0) continue;   /* PyTorch's norm subgradient at 0 */
        /* ∂ exp(−‖Δ‖)/∂e_t = −exp(−‖Δ‖)·Δ/‖Δ‖, and the opposite for e_p */
        double c = -scale * exp(-dist) / dist;
        for (int j = 0; j < E; j++) {
            double d = (double)emb[(long)t * E + j] - emb[(long)p * E + j];
            demb[(long)t * E + j] += (float)(c * d);
            demb[(long)p * E + j] -= (float)(c * d);
        }
    }
}
