/* ewgn_b1.c — the wide kernels of EWGN's fused batch-1 SGD step at H = 32 (include/ewgn_b1.h);
 * called only by src/models/ewgn.c (step_fast), which keeps the plain C reference loops.
 *
 * Why hand-written: the step is ~150 nonzero pixels × C = 20 rows of 32 floats per sample,
 * i.e. ~3,000 short rows. GCC's vectorisation of the C loops (unknown trip counts, dh and the
 * hidden pre-activation kept in memory) turns each row into a loop with its own reduction,
 * and every row's dh += dz·w into a store-to-load-forwarding chain through memory. Here
 *  - h, dh and hpre live in registers for the whole pass over the blocks;
 *  - a block's rows are processed eight at a time: eight dot products in flight, and their
 *    eight horizontal sums done together in one transposing reduction (3 hadd);
 *  - the update pass is one straight sweep over the (C, H) block per pixel.
 * Bit-identity with the C loops (the levels' contract, include/cpu.h): no FMA; the dot
 * product's lane j holds the reference's partial sum s[j] = p_j + p_{j+8} + p_{j+16} +
 * p_{j+24} in that order (the reference starts from 0 + p_j: the same bits, as a zero's sign
 * can only reach a zero result, and the final "+ 0" the reference adds is kept), and the
 * reduction forms ((s0+s4) + (s1+s5)) + ((s2+s6) + (s3+s7)) exactly as ewgn.c's dot8. The
 * update is element-wise, so its 512-bit variant gives the same bits too. */
#include "ewgn_b1.h"

#include "cpu.h"

#if CLS_X86_SIMD
#include <immintrin.h>

#define EB1_INLINE static inline __attribute__((always_inline))
/* The next pixel's block is elsewhere in the 2 MB W2: fetched into L1 while this one is worked on. */
#define EB1_PREFETCH_ROW(p)                                        \
    do {                                                           \
        _mm_prefetch((const char *)(p), _MM_HINT_T0);              \
        _mm_prefetch((const char *)(p) + 64, _MM_HINT_T0);         \
    } while (0)
#define EB1_PREFETCH8(p)                                           \
    do {                                                           \
        for (int pf_ = 0; pf_ < 8; pf_++) EB1_PREFETCH_ROW((p) + 32 * pf_); \
    } while (0)

#pragma GCC push_options
#pragma GCC target("avx2")

/* One row's eight partial sums: lane j = ((p_j + p_{j+8}) + p_{j+16}) + p_{j+24}. */
EB1_INLINE __m256 eb1_row(const float *w, __m256 h0, __m256 h1, __m256 h2, __m256 h3) {
    __m256 a = _mm256_mul_ps(_mm256_loadu_ps(w), h0);
    a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(w + 8), h1));
    a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(w + 16), h2));
    return _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(w + 24), h3));
}

/* u(a) = (s0+s4, s1+s5, s2+s6, s3+s7) of two rows: [u(a) | u(b)]. */
EB1_INLINE __m256 eb1_fold(__m256 a, __m256 b) {
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

/* Eight rows' sums ((s0+s4) + (s1+s5)) + ((s2+s6) + (s3+s7)), in row order. hadd(X, Y) gives
 * per 128-bit half (X0+X1, X2+X3, Y0+Y1, Y2+Y3); pairing rows (0,4), (1,5), (2,6), (3,7) in
 * the folds makes the last hadd's lanes rows 0..7. */
EB1_INLINE __m256 eb1_reduce8(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5,
                              __m256 r6, __m256 r7) {
    const __m256 e = _mm256_hadd_ps(eb1_fold(r0, r4), eb1_fold(r1, r5));
    const __m256 f = _mm256_hadd_ps(eb1_fold(r2, r6), eb1_fold(r3, r7));
    return _mm256_hadd_ps(e, f);
}

EB1_INLINE void eb1_hpre(float *hpre, const float *b1, const float *w1t, const int *nz,
                         const float *xv, int nnz) {
    __m256 a0 = _mm256_loadu_ps(b1), a1 = _mm256_loadu_ps(b1 + 8);
    __m256 a2 = _mm256_loadu_ps(b1 + 16), a3 = _mm256_loadu_ps(b1 + 24);
    for (int j = 0; j < nnz; j++) {
        const float *w = w1t + (long)nz[j] * EWGN_B1_H;
        const __m256 x = _mm256_set1_ps(xv[j]);
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(x, _mm256_loadu_ps(w)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(x, _mm256_loadu_ps(w + 8)));
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(x, _mm256_loadu_ps(w + 16)));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(x, _mm256_loadu_ps(w + 24)));
    }
    _mm256_storeu_ps(hpre, a0);
    _mm256_storeu_ps(hpre + 8, a1);
    _mm256_storeu_ps(hpre + 16, a2);
    _mm256_storeu_ps(hpre + 24, a3);
}

EB1_INLINE void eb1_z(float *z, const float *w2, const float *b2, const float *h, const int *nz,
                      int nnz, int C) {
    const __m256 h0 = _mm256_loadu_ps(h), h1 = _mm256_loadu_ps(h + 8);
    const __m256 h2 = _mm256_loadu_ps(h + 16), h3 = _mm256_loadu_ps(h + 24);
    const __m256 zero = _mm256_setzero_ps();
    const long CH = (long)C * EWGN_B1_H;
    for (int j = 0; j < nnz; j++) {
        const float *w = w2 + (long)nz[j] * CH, *b = b2 + (long)nz[j] * C;
        const float *wn = w2 + (long)nz[j + 1 < nnz ? j + 1 : j] * CH;
        float *zj = z + (long)j * C;
        int c = 0;
        for (; c + 8 <= C; c += 8) {
            const float *wr = w + (long)c * EWGN_B1_H;
            EB1_PREFETCH8(wn + (long)c * EWGN_B1_H);
            const __m256 s = eb1_reduce8(
                eb1_row(wr, h0, h1, h2, h3), eb1_row(wr + 32, h0, h1, h2, h3),
                eb1_row(wr + 64, h0, h1, h2, h3), eb1_row(wr + 96, h0, h1, h2, h3),
                eb1_row(wr + 128, h0, h1, h2, h3), eb1_row(wr + 160, h0, h1, h2, h3),
                eb1_row(wr + 192, h0, h1, h2, h3), eb1_row(wr + 224, h0, h1, h2, h3));
            _mm256_storeu_ps(zj + c, _mm256_add_ps(_mm256_loadu_ps(b + c), _mm256_add_ps(s, zero)));
        }
        if (c < C) {   /* the last 1–7 rows: unused accumulators are zero, results dropped */
            const int n = C - c;
            const float *wr = w + (long)c * EWGN_B1_H;
            for (int i = 0; i < n; i++) EB1_PREFETCH_ROW(wn + (long)(c + i) * EWGN_B1_H);
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = i < n ? eb1_row(wr + 32 * i, h0, h1, h2, h3) : zero;
            const __m256 s = eb1_reduce8(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
            float t[8], bb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int i = 0; i < n; i++) bb[i] = b[c + i];
            _mm256_storeu_ps(t, _mm256_add_ps(_mm256_loadu_ps(bb), _mm256_add_ps(s, zero)));
            for (int i = 0; i < n; i++) zj[c + i] = t[i];
        }
    }
}

/* logits = b + Σ_j xv[j]·g[j·C + ·], the terms added in j order; the accumulators stay in
 * registers when C is a constant (the callers below): 8-wide groups, a 4-wide one, ≤ 3 scalars. */
EB1_INLINE void eb1_logits(float *lg, const float *b, const float *g, const float *xv, int nnz,
                           const int C) {
    __m256 a[4];
    float s[3];
    const int n8 = C / 8, r4 = C % 8 >= 4, o4 = 8 * n8, os = o4 + 4 * r4, ns = C - os;
    for (int i = 0; i < n8; i++) a[i] = _mm256_loadu_ps(b + 8 * i);
    __m128 q = r4 ? _mm_loadu_ps(b + o4) : _mm_setzero_ps();
    for (int i = 0; i < ns; i++) s[i] = b[os + i];
    for (int j = 0; j < nnz; j++) {
        const float x = xv[j], *gj = g + (long)j * C;
        const __m256 X = _mm256_set1_ps(x);
        for (int i = 0; i < n8; i++)
            a[i] = _mm256_add_ps(a[i], _mm256_mul_ps(X, _mm256_loadu_ps(gj + 8 * i)));
        if (r4) q = _mm_add_ps(q, _mm_mul_ps(_mm256_castps256_ps128(X), _mm_loadu_ps(gj + o4)));
        for (int i = 0; i < ns; i++) s[i] += x * gj[os + i];
    }
    for (int i = 0; i < n8; i++) _mm256_storeu_ps(lg + 8 * i, a[i]);
    if (r4) _mm_storeu_ps(lg + o4, q);
    for (int i = 0; i < ns; i++) lg[os + i] = s[i];
}

/* 256-bit update of every touched block; dh in registers throughout. */
EB1_INLINE void eb1_sgd256(float *w2, float *b2, float *dh, const float *dlog, const float *gp,
                           const float *h, const int *nz, int nnz, int C, float lr) {
    const __m256 h0 = _mm256_loadu_ps(h), h1 = _mm256_loadu_ps(h + 8);
    const __m256 h2 = _mm256_loadu_ps(h + 16), h3 = _mm256_loadu_ps(h + 24);
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, d2 = d0, d3 = d0;
    const long CH = (long)C * EWGN_B1_H;
    for (int j = 0; j < nnz; j++) {
        float *w = w2 + (long)nz[j] * CH, *b = b2 + (long)nz[j] * C;
        const float *gj = gp + (long)j * C;
        const float *wn = w2 + (long)nz[j + 1 < nnz ? j + 1 : j] * CH;
        for (int c = 0; c < C; c++) {
            EB1_PREFETCH_ROW(wn + (long)c * EWGN_B1_H);
            const float g = dlog[c] * gj[c];
            if (g == 0.0f) continue;   /* masked class: the row is unchanged */
            const float lg = lr * g;
            const __m256 G = _mm256_set1_ps(g), L = _mm256_set1_ps(lg);
            float *wr = w + (long)c * EWGN_B1_H;
            const __m256 w0 = _mm256_loadu_ps(wr), w1 = _mm256_loadu_ps(wr + 8);
            const __m256 w2v = _mm256_loadu_ps(wr + 16), w3 = _mm256_loadu_ps(wr + 24);
            d0 = _mm256_add_ps(d0, _mm256_mul_ps(G, w0));
            d1 = _mm256_add_ps(d1, _mm256_mul_ps(G, w1));
            d2 = _mm256_add_ps(d2, _mm256_mul_ps(G, w2v));
            d3 = _mm256_add_ps(d3, _mm256_mul_ps(G, w3));
            _mm256_storeu_ps(wr, _mm256_sub_ps(w0, _mm256_mul_ps(L, h0)));
            _mm256_storeu_ps(wr + 8, _mm256_sub_ps(w1, _mm256_mul_ps(L, h1)));
            _mm256_storeu_ps(wr + 16, _mm256_sub_ps(w2v, _mm256_mul_ps(L, h2)));
            _mm256_storeu_ps(wr + 24, _mm256_sub_ps(w3, _mm256_mul_ps(L, h3)));
            b[c] -= lg;
        }
    }
    _mm256_storeu_ps(dh, d0);
    _mm256_storeu_ps(dh + 8, d1);
    _mm256_storeu_ps(dh + 16, d2);
    _mm256_storeu_ps(dh + 24, d3);
}

/* One 8-float chunk of block_sgd_ewc's row update:
 * w − s·(w − a) − (lg·h)·(1 − prox·s). */
EB1_INLINE __m256 eb1_ewc8(__m256 w, const float *a, const float *s, __m256 L, __m256 h,
                           __m256 P, __m256 one) {
    const __m256 sv = _mm256_loadu_ps(s);
    const __m256 t = _mm256_sub_ps(w, _mm256_mul_ps(sv, _mm256_sub_ps(w, _mm256_loadu_ps(a))));
    return _mm256_sub_ps(t, _mm256_mul_ps(_mm256_mul_ps(L, h), _mm256_sub_ps(one, _mm256_mul_ps(P, sv))));
}

EB1_INLINE void eb1_sgd_ewc256(float *w2, float *b2, const float *aw, const float *sw,
                               const float *ab, const float *sb, float *dh, const float *dlog,
                               const float *gp, const float *h, const int *nz, int nnz, int C,
                               float lr, float prox) {
    const __m256 h0 = _mm256_loadu_ps(h), h1 = _mm256_loadu_ps(h + 8);
    const __m256 h2 = _mm256_loadu_ps(h + 16), h3 = _mm256_loadu_ps(h + 24);
    const __m256 P = _mm256_set1_ps(prox), one = _mm256_set1_ps(1.0f);
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, d2 = d0, d3 = d0;
    const long CH = (long)C * EWGN_B1_H;
    for (int j = 0; j < nnz; j++) {
        const long ow = (long)nz[j] * CH, ob = (long)nz[j] * C;
        const float *gj = gp + (long)j * C;
        for (int c = 0; c < C; c++) {
            const float g = dlog[c] * gj[c], lg = lr * g;
            const __m256 G = _mm256_set1_ps(g), L = _mm256_set1_ps(lg);
            const long o = ow + (long)c * EWGN_B1_H;
            float *wr = w2 + o;
            const float *ar = aw + o, *sr = sw + o;
            const __m256 w0 = _mm256_loadu_ps(wr), w1 = _mm256_loadu_ps(wr + 8);
            const __m256 w2v = _mm256_loadu_ps(wr + 16), w3 = _mm256_loadu_ps(wr + 24);
            d0 = _mm256_add_ps(d0, _mm256_mul_ps(G, w0));
            d1 = _mm256_add_ps(d1, _mm256_mul_ps(G, w1));
            d2 = _mm256_add_ps(d2, _mm256_mul_ps(G, w2v));
            d3 = _mm256_add_ps(d3, _mm256_mul_ps(G, w3));
            _mm256_storeu_ps(wr, eb1_ewc8(w0, ar, sr, L, h0, P, one));
            _mm256_storeu_ps(wr + 8, eb1_ewc8(w1, ar + 8, sr + 8, L, h1, P, one));
            _mm256_storeu_ps(wr + 16, eb1_ewc8(w2v, ar + 16, sr + 16, L, h2, P, one));
            _mm256_storeu_ps(wr + 24, eb1_ewc8(w3, ar + 24, sr + 24, L, h3, P, one));
            const long i = ob + c;
            b2[i] -= sb[i] * (b2[i] - ab[i]) + lg * (1.0f - prox * sb[i]);
        }
    }
    _mm256_storeu_ps(dh, d0);
    _mm256_storeu_ps(dh + 8, d1);
    _mm256_storeu_ps(dh + 16, d2);
    _mm256_storeu_ps(dh + 24, d3);
}

void ewgn_b1_hpre_avx2(float *hpre, const float *b1, const float *w1t, const int *nz,
                       const float *xv, int nnz) {
    eb1_hpre(hpre, b1, w1t, nz, xv, nnz);
}

void ewgn_b1_z_avx2(float *z, const float *w2, const float *b2, const float *h, const int *nz,
                    int nnz, int C) {
    eb1_z(z, w2, b2, h, nz, nnz, C);
}

void ewgn_b1_logits_avx2(float *lg, const float *b, const float *g, const float *xv, int nnz,
                         int C) {
    if (C == 20) eb1_logits(lg, b, g, xv, nnz, 20);       /* the paper's 20 classes */
    else if (C == 10) eb1_logits(lg, b, g, xv, nnz, 10);
    else if (C <= 35) eb1_logits(lg, b, g, xv, nnz, C);
    else
        for (int c = 0; c < C; c++) {
            float t = b[c];
            for (int j = 0; j < nnz; j++) t += xv[j] * g[(long)j * C + c];
            lg[c] = t;
        }
}

void ewgn_b1_sgd_avx2(float *w2, float *b2, float *dh, const float *dlog, const float *gp,
                      const float *h, const int *nz, int nnz, int C, float lr) {
    eb1_sgd256(w2, b2, dh, dlog, gp, h, nz, nnz, C, lr);
}

void ewgn_b1_sgd_ewc_avx2(float *w2, float *b2, const float *aw, const float *sw,
                          const float *ab, const float *sb, float *dh, const float *dlog,
                          const float *gp, const float *h, const int *nz, int nnz, int C,
                          float lr, float prox) {
    eb1_sgd_ewc256(w2, b2, aw, sw, ab, sb, dh, dlog, gp, h, nz, nnz, C, lr, prox);
}

#pragma GCC pop_options

/* ---- the update pass at 512-bit width: a row of 32 floats is two vectors */
#pragma GCC push_options
#pragma GCC target("avx512f,avx2")

void ewgn_b1_sgd_avx512(float *w2, float *b2, float *dh, const float *dlog, const float *gp,
                        const float *h, const int *nz, int nnz, int C, float lr) {
    const __m512 h0 = _mm512_loadu_ps(h), h1 = _mm512_loadu_ps(h + 16);
    __m512 d0 = _mm512_setzero_ps(), d1 = d0;
    const long CH = (long)C * EWGN_B1_H;
    for (int j = 0; j < nnz; j++) {
        float *w = w2 + (long)nz[j] * CH, *b = b2 + (long)nz[j] * C;
        const float *gj = gp + (long)j * C;
        const float *wn = w2 + (long)nz[j + 1 < nnz ? j + 1 : j] * CH;
        for (int c = 0; c < C; c++) {
            EB1_PREFETCH_ROW(wn + (long)c * EWGN_B1_H);
            const float g = dlog[c] * gj[c];
            if (g == 0.0f) continue;
            const float lg = lr * g;
            const __m512 G = _mm512_set1_ps(g), L = _mm512_set1_ps(lg);
            float *wr = w + (long)c * EWGN_B1_H;
            const __m512 w0 = _mm512_loadu_ps(wr), w1 = _mm512_loadu_ps(wr + 16);
            d0 = _mm512_add_ps(d0, _mm512_mul_ps(G, w0));
            d1 = _mm512_add_ps(d1, _mm512_mul_ps(G, w1));
            _mm512_storeu_ps(wr, _mm512_sub_ps(w0, _mm512_mul_ps(L, h0)));
            _mm512_storeu_ps(wr + 16, _mm512_sub_ps(w1, _mm512_mul_ps(L, h1)));
            b[c] -= lg;
        }
    }
    _mm512_storeu_ps(dh, d0);
    _mm512_storeu_ps(dh + 16, d1);
}

EB1_INLINE __m512 eb1_ewc16(__m512 w, const float *a, const float *s, __m512 L, __m512 h,
                            __m512 P, __m512 one) {
    const __m512 sv = _mm512_loadu_ps(s);
    const __m512 t = _mm512_sub_ps(w, _mm512_mul_ps(sv, _mm512_sub_ps(w, _mm512_loadu_ps(a))));
    return _mm512_sub_ps(t, _mm512_mul_ps(_mm512_mul_ps(L, h), _mm512_sub_ps(one, _mm512_mul_ps(P, sv))));
}

void ewgn_b1_sgd_ewc_avx512(float *w2, float *b2, const float *aw, const float *sw,
                            const float *ab, const float *sb, float *dh, const float *dlog,
                            const float *gp, const float *h, const int *nz, int nnz, int C,
                            float lr, float prox) {
    const __m512 h0 = _mm512_loadu_ps(h), h1 = _mm512_loadu_ps(h + 16);
    const __m512 P = _mm512_set1_ps(prox), one = _mm512_set1_ps(1.0f);
    __m512 d0 = _mm512_setzero_ps(), d1 = d0;
    const long CH = (long)C * EWGN_B1_H;
    for (int j = 0; j < nnz; j++) {
        const long ow = (long)nz[j] * CH, ob = (long)nz[j] * C;
        const float *gj = gp + (long)j * C;
        for (int c = 0; c < C; c++) {
            const float g = dlog[c] * gj[c], lg = lr * g;
            const __m512 G = _mm512_set1_ps(g), L = _mm512_set1_ps(lg);
            const long o = ow + (long)c * EWGN_B1_H;
            float *wr = w2 + o;
            const __m512 w0 = _mm512_loadu_ps(wr), w1 = _mm512_loadu_ps(wr + 16);
            d0 = _mm512_add_ps(d0, _mm512_mul_ps(G, w0));
            d1 = _mm512_add_ps(d1, _mm512_mul_ps(G, w1));
            _mm512_storeu_ps(wr, eb1_ewc16(w0, aw + o, sw + o, L, h0, P, one));
            _mm512_storeu_ps(wr + 16, eb1_ewc16(w1, aw + o + 16, sw + o + 16, L, h1, P, one));
            const long i = ob + c;
            b2[i] -= sb[i] * (b2[i] - ab[i]) + lg * (1.0f - prox * sb[i]);
        }
    }
    _mm512_storeu_ps(dh, d0);
    _mm512_storeu_ps(dh + 16, d1);
}

#pragma GCC pop_options

#endif /* CLS_X86_SIMD */
