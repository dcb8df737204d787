/* hsf_parts.c — the parts of the Hypernetwork-SDE-Flow autoencoder (see hsf.h): fast tanh
 * and sigmoid, the DynamicLinear hypernetwork, the affine-coupling flow with its
 * log-determinant and inverse, the Euler–Maruyama neural SDE with backprop through the
 * stored trajectory, and the embedding-separation loss. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "hsf.h"
#include "nn.h"

#define HOT_LOOP CLS_HOT_LOOP

/* ---- tanh / sigmoid ----
 * Odd rational minimax approximation on [−7.9053, 7.9053] (the form Eigen uses for float
 * tanh); beyond that tanhf rounds to ±1 anyway. The SDE evaluates ~1.5 M of them per
 * training step, more work than its matrix products with libm's tanhf, so the loop is
 * written with intrinsics at every width (KERNELS below; GCC will not if-convert the clamps
 * of a scalar loop). */
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

/* ---- GELU ----
 * 0.5·x·(1 + erf(x/√2)) with erf as an odd rational minimax approximation on [−4, 4]
 * (the form Eigen uses for float erf; |error| < 1e-7, erf(±4) rounds to ±1 in float), and
 * the backward's φ(x) = exp(−x²/2)/√(2π) with a Cephes-style expf (2^k · polynomial,
 * ~1 ulp; 0 below exp(−87)). libm's erff/expf, one element at a time, were 12 % of an HSF
 * epoch. The vector loops (KERNELS below) do the scalar code's operations in the same order,
 * lane by lane, so every ISA gives the same bits. */
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

/* ---- the vector loops: tanh, tanh', GELU, GELU' at every width ----
 * KERNELS(ATTR, SFX, V, P, L, VI, MASK, GE, SEL, KEEP, CASTI) defines the four loops of one
 * width once: ATTR its target attribute, SFX the name suffix, V/VI the float/int vector
 * types, P the intrinsic prefix, L the lanes; MASK the lane-mask type, GE(a, b) the ordered
 * a >= b mask, SEL(m, a, b) a where m else b, KEEP(m, x) x where m else +0, CASTI the bits
 * of an int vector as floats. Every loop does the scalar code's operations in the same
 * order, lane by lane, without FMA (no FMA intrinsics; -std=c11 does not contract), so every
 * width gives the scalar code's bits (tests/test_fastpaths.c compares them at every level).
 * min/max return their second operand when either is NaN, so NaN propagates as in the
 * scalar code; rounding k = rint(a·log2 e) is cvtps_epi32 in the default rounding mode.
 * Each returns the number of leading elements done; the caller finishes the tail. */
#define KERNELS(ATTR, SFX, V, P, L, VI, MASK, GE, SEL, KEEP, CASTI)                            \
    ATTR static long tanh_##SFX(float *out, const float *in, long n) {                       \
        const V hi = P##_set1_ps(TANH_CLIP), lo = P##_set1_ps(-TANH_CLIP);                   \
        long i = 0;                                                                          \
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
        return i;                                                                            \
    }                                                                                        \
    ATTR static long tanh_grad_##SFX(float *d, const float *y, long n) {                     \
        const V one = P##_set1_ps(1.0f);                                                     \
        long i = 0;                                                                          \
        for (; i + (L) <= n; i += (L)) {                                                     \
            V yv = P##_loadu_ps(y + i);                                                      \
            P##_storeu_ps(d + i, P##_mul_ps(P##_loadu_ps(d + i),                             \
                                            P##_sub_ps(one, P##_mul_ps(yv, yv))));           \
        }                                                                                    \
        return i;                                                                            \
    }                                                                                        \
    ATTR static inline V erf_##SFX(V x) {                                                    \
        x = P##_min_ps(P##_set1_ps(4.0f), x);                                                \
        x = P##_max_ps(P##_set1_ps(-4.0f), x);                                               \
        V x2 = P##_mul_ps(x, x);                                                             \
        V p = P##_set1_ps(ERF_A13);                                                          \
        p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(ERF_A11));                             \
        p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(ERF_A9));                              \
        p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(ERF_A7));                              \
        p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(ERF_A5));                              \
        p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(ERF_A3));                              \
        p = P##_add_ps(P##_mul_ps(p, x2), P##_set1_ps(ERF_A1));                              \
        p = P##_mul_ps(p, x);                                                                \
        V q = P##_set1_ps(ERF_B8);                                                           \
        q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(ERF_B6));                              \
        q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(ERF_B4));                              \
        q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(ERF_B2));                              \
        q = P##_add_ps(P##_mul_ps(q, x2), P##_set1_ps(ERF_B0));                              \
        return P##_div_ps(p, q);                                                             \
    }                                                                                        \
    ATTR static inline V expneg_##SFX(V a) {                                                 \
        MASK keep = GE(a, P##_set1_ps(EXP_LO));                                              \
        a = SEL(keep, a, P##_set1_ps(EXP_LO));                                               \
        VI ki = P##_cvtps_epi32(P##_mul_ps(a, P##_set1_ps(EXP_LOG2E)));                      \
        V k = P##_cvtepi32_ps(ki);                                                           \
        V r = P##_sub_ps(a, P##_mul_ps(k, P##_set1_ps(EXP_C1)));                             \
        r = P##_sub_ps(r, P##_mul_ps(k, P##_set1_ps(EXP_C2)));                               \
        V p = P##_set1_ps(EXP_P0);                                                           \
        p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(EXP_P1));                               \
        p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(EXP_P2));                               \
        p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(EXP_P3));                               \
        p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(EXP_P4));                               \
        p = P##_add_ps(P##_mul_ps(p, r), P##_set1_ps(EXP_P5));                               \
        p = P##_add_ps(P##_add_ps(P##_mul_ps(p, P##_mul_ps(r, r)), r), P##_set1_ps(1.0f));   \
        VI bits = P##_slli_epi32(P##_add_epi32(ki, P##_set1_epi32(127)), 23);                \
        return KEEP(keep, P##_mul_ps(p, CASTI(bits)));                                       \
    }                                                                                        \
    ATTR static long gelu_##SFX(float *out, const float *in, long n) {                       \
        const V half = P##_set1_ps(0.5f), one = P##_set1_ps(1.0f);                           \
        long i = 0;                                                                          \
        for (; i + (L) <= n; i += (L)) {                                                     \
            V x = P##_loadu_ps(in + i);                                                      \
            V e = erf_##SFX(P##_mul_ps(x, P##_set1_ps(GELU_INV_SQRT2)));                     \
            P##_storeu_ps(out + i, P##_mul_ps(P##_mul_ps(half, x), P##_add_ps(one, e)));     \
        }                                                                                    \
        return i;                                                                            \
    }                                                                                        \
    ATTR static long gelu_backward_##SFX(float *dinp, const float *dout, const float *inp,   \
                                         long n) {                                           \
        const V half = P##_set1_ps(0.5f), one = P##_set1_ps(1.0f);                           \
        long i = 0;                                                                          \
        for (; i + (L) <= n; i += (L)) {                                                     \
            V v = P##_loadu_ps(inp + i);                                                     \
            V cdf = P##_mul_ps(                                                              \
                half, P##_add_ps(one, erf_##SFX(P##_mul_ps(v, P##_set1_ps(GELU_INV_SQRT2))))); \
            V a = P##_mul_ps(P##_mul_ps(P##_set1_ps(-0.5f), v), v);                          \
            V pdf = P##_mul_ps(P##_set1_ps(GELU_INV_SQRT_2PI), expneg_##SFX(a));             \
            V g = P##_mul_ps(P##_loadu_ps(dout + i), P##_add_ps(cdf, P##_mul_ps(v, pdf)));   \
            P##_storeu_ps(dinp + i, P##_add_ps(P##_loadu_ps(dinp + i), g));                  \
        }                                                                                    \
        return i;                                                                            \
    }

#if defined(__SSE2__)
#include <emmintrin.h>
#define HSF_SSE 1
#define SSE_GE(a, b) _mm_cmpge_ps(a, b)
#define SSE_SEL(m, a, b) _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b))
#define SSE_KEEP(m, x) _mm_and_ps(m, x)
KERNELS(, sse, __m128, _mm, 4, __m128i, __m128, SSE_GE, SSE_SEL, SSE_KEEP, _mm_castsi128_ps)
#endif

#if CLS_X86_SIMD
#include <immintrin.h>
#define HSF_WIDE 1
#define AVX2_GE(a, b) _mm256_cmp_ps(a, b, _CMP_GE_OQ)
#define AVX2_SEL(m, a, b) _mm256_blendv_ps(b, a, m)
#define AVX2_KEEP(m, x) _mm256_and_ps(m, x)
KERNELS(CLS_TARGET_AVX2, avx2, __m256, _mm256, 8, __m256i, __m256, AVX2_GE, AVX2_SEL, AVX2_KEEP,
        _mm256_castsi256_ps)
#define AVX512_GE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)
#define AVX512_SEL(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define AVX512_KEEP(m, x) _mm512_maskz_mov_ps(m, x)
KERNELS(CLS_TARGET_AVX512, avx512, __m512, _mm512, 16, __m512i, __mmask16, AVX512_GE, AVX512_SEL,
        AVX512_KEEP, _mm512_castsi512_ps)
#endif

/* The widest loop cpu_level() allows, then SSE for what is left of a vector, then scalar.
 * KERNEL_DISPATCH(name, args...) sets i to the elements done. */
#if defined(HSF_WIDE)
#define DISPATCH_WIDE(name, ...)                                                              \
    if (isa >= CPU_AVX512) i = name##_avx512(__VA_ARGS__);                                   \
    else if (isa >= CPU_AVX2) i = name##_avx2(__VA_ARGS__);
#else
#define DISPATCH_WIDE(name, ...)
#endif

void hsf_tanh(float *out, const float *in, long n) {
    long i = 0;
    int isa = cpu_level();
    DISPATCH_WIDE(tanh, out, in, n)
#if defined(HSF_SSE)
    if (isa >= CPU_SSE) i += tanh_sse(out + i, in + i, n - i);
#endif
    (void)isa;
    for (; i < n; i++) out[i] = tanh_scalar(in[i]);
}

/* d ⊙= 1 − y², y = tanh(·). */
static void tanh_grad(float *d, const float *y, long n) {
    long i = 0;
    int isa = cpu_level();
    DISPATCH_WIDE(tanh_grad, d, y, n)
#if defined(HSF_SSE)
    if (isa >= CPU_SSE) i += tanh_grad_sse(d + i, y + i, n - i);
#endif
    (void)isa;
    for (; i < n; i++) d[i] *= 1.0f - y[i] * y[i];
}

void hsf_gelu(float *out, const float *in, long n) {
    long i = 0;
    int isa = cpu_level();
    DISPATCH_WIDE(gelu, out, in, n)
#if defined(HSF_SSE)
    if (isa >= CPU_SSE) i += gelu_sse(out + i, in + i, n - i);
#endif
    (void)isa;
    for (; i < n; i++) {
        float x = in[i];
        out[i] = (0.5f * x) * (1.0f + erf_scalar(x * GELU_INV_SQRT2));
    }
}

void hsf_gelu_backward(float *dinp, const float *dout, const float *inp, long n) {
    long i = 0;
    int isa = cpu_level();
    DISPATCH_WIDE(gelu_backward, dinp, dout, inp, n)
#if defined(HSF_SSE)
    if (isa >= CPU_SSE) i += gelu_backward_sse(dinp + i, dout + i, inp + i, n - i);
#endif
    (void)isa;
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
