/* rng.c — Philox4x32-10 (Salmon et al. 2011): counter-based, so a draw depends only on
 * (seed, stream, position).
 *
 * Normal draws: Box–Muller on pairs of 24-bit uniforms, in float, with branch-free
 * polynomial log/sin/cos (Cephes coefficients, within 2 ulp of libm) so that bulk fills
 * vectorise. Every value is computed by the same element-wise float operations (no
 * reductions, no FMA contraction: -std=c11 implies -ffp-contract=off in GCC and the pragma
 * below covers clang), so rng_normal and rng_fill_normal, scalar or vectorised, SSE or
 * AVX2 clone, draw bit-identical numbers: a fill of n equals n calls of rng_normal.
 * Per pair (a, b) of 32-bit words: u1 = ((a >> 8) + 1)·2⁻²⁴ ∈ (0, 1] and
 * θ = 2π·(b >> 8)·2⁻²⁴; the pair yields r·cos θ, then r·sin θ, r = √(−2 ln u1). The angle
 * is reduced exactly in integers (quadrant + residual in [−π/4, π/4)). */
#include "rng.h"

#include <math.h>
#include <string.h>

#include "cpu.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* GCC's -O2 cost model skips these loops; none of the options changes a result (the
 * arguments of sqrtf are never negative, no operation traps). The AVX2 clone (no FMA) is
 * picked at load time where the CPU has it. */
#define RNG_HOT CLS_HOT_LOOP_OPTS("no-math-errno", "no-trapping-math")
#if defined(__GNUC__) && !defined(__clang__)
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define RNG_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#if defined(__GNUC__)
#define RNG_INLINE static inline __attribute__((always_inline))
#else
#define RNG_INLINE static inline
#endif
#ifndef RNG_CLONES
#define RNG_CLONES
#endif

static void philox_block(uint32_t out[4], const uint32_t ctr[4], const uint32_t key_in[2]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

#define PHILOX_LANES 16   /* blocks computed side by side in philox_blocks */

/* The next nblk blocks of r's stream into out (4·nblk words), exactly as nblk refills of
 * rng_u32 would produce them; advances the counter. Lanes run side by side (structure of
 * arrays) so the rounds vectorise. */
RNG_CLONES RNG_HOT static void philox_blocks(uint32_t *out, rng_t *r, long nblk) {
    const uint32_t hi = r->ctr[2], hi2 = r->ctr[3];
    uint64_t pos = (uint64_t)r->ctr[0] | (uint64_t)r->ctr[1] << 32;
    while (nblk > 0) {
        const int nl = nblk < PHILOX_LANES ? (int)nblk : PHILOX_LANES;
        uint32_t c0[PHILOX_LANES], c1[PHILOX_LANES], c2[PHILOX_LANES], c3[PHILOX_LANES];
        for (int j = 0; j < PHILOX_LANES; j++) {
            const uint64_t p = pos + (uint64_t)j;
            c0[j] = (uint32_t)p;
            c1[j] = (uint32_t)(p >> 32);
            c2[j] = hi;
            c3[j] = hi2;
        }
        uint32_t k0 = r->key[0], k1 = r->key[1];
        for (int round = 0; round < 10; round++) {
            for (int j = 0; j < PHILOX_LANES; j++) {
                const uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j];
                const uint64_t p1 = (uint64_t)PHILOX_M1 * c2[j];
                const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
                const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
                c1[j] = (uint32_t)p1;
                c3[j] = (uint32_t)p0;
                c0[j] = n0;
                c2[j] = n2;
            }
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        for (int j = 0; j < nl; j++) {
            out[4 * j] = c0[j];
            out[4 * j + 1] = c1[j];
            out[4 * j + 2] = c2[j];
            out[4 * j + 3] = c3[j];
        }
        out += 4 * nl;
        pos += (uint64_t)nl;
        nblk -= nl;
    }
    r->ctr[0] = (uint32_t)pos;
    r->ctr[1] = (uint32_t)(pos >> 32);
}

void rng_init(rng_t *r, uint64_t seed, uint64_t stream) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = 0;
    r->ctr[2] = (uint32_t)stream;
    r->ctr[3] = (uint32_t)(stream >> 32);
    r->pos = 4;
    r->has_spare = 0;
    r->spare = 0.0f;
}

uint32_t rng_u32(rng_t *r) {
    if (r->pos >= 4) {
        philox_block(r->buf, r->ctr, r->key);
        if (++r->ctr[0] == 0) ++r->ctr[1];
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

float rng_uniform(rng_t *r) { return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

uint32_t rng_below(rng_t *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* ---- Box–Muller in float ---- */

/* ln u for u = k·2⁻²⁴, k = (a >> 8) + 1 ∈ [1, 2²⁴] (exact in float): Cephes logf on the
 * mantissa in [√½, √2), exponent added in two parts (ln 2 = 0.693359375 − 2.12194440e−4). */
RNG_INLINE RNG_HOT float bm_log(uint32_t a) {
    const float u = (float)(int32_t)((a >> 8) + 1u) * (1.0f / 16777216.0f);
    uint32_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)(bits >> 23) - 126;                      /* u = m·2^e, m ∈ [½, 1) */
    uint32_t mb = (bits & 0x007FFFFFu) | 0x3F000000u;
    float m;
    memcpy(&m, &mb, sizeof m);
    const int small = m < 0.70710678f;                    /* to [√½, √2) */
    e -= small;
    m = m * (float)(1 + small);                           /* branch-free: vectorises */
    const float x = m - 1.0f, z = x * x;
    float p = 7.0376836292e-2f;
    p = p * x - 1.1514610310e-1f;
    p = p * x + 1.1676998740e-1f;
    p = p * x - 1.2420140846e-1f;
    p = p * x + 1.4249322787e-1f;
    p = p * x - 1.6668057665e-1f;
    p = p * x + 2.0000714765e-1f;
    p = p * x - 2.4999993993e-1f;
    p = p * x + 3.3333331174e-1f;
    const float fe = (float)e;
    float y = x * z * p + fe * -2.12194440e-4f;
    y = y - 0.5f * z;
    return (x + y) + fe * 0.693359375f;
}

/* cos θ and sin θ of θ = 2π·(b >> 8)·2⁻²⁴: quadrant q and residual ψ ∈ [−π/4, π/4) from
 * the 24-bit integer, Cephes sinf/cosf polynomials on ψ, then the quadrant's swap/signs. */
RNG_INLINE RNG_HOT void bm_sincos(uint32_t b, float *cs, float *sn) {
    const uint32_t k = b >> 8;   /* < 2²⁴: the int32 casts below are exact */
    const uint32_t q = ((k + (1u << 21)) >> 22) & 3u;
    const int32_t res = (int32_t)(k & 0x3FFFFFu) - (int32_t)((k & (1u << 21)) << 1);
    const float x = (float)res * 3.7450702e-7f;           /* 2π·2⁻²⁴ */
    const float z = x * x;
    float s = -1.9515295891e-4f;
    s = s * z + 8.3321608736e-3f;
    s = s * z - 1.6666654611e-1f;
    s = s * z * x + x;
    float c = 2.443315711809948e-5f;
    c = c * z - 1.388731625493765e-3f;
    c = c * z + 4.166664568298827e-2f;
    c = c * z * z - 0.5f * z + 1.0f;
    /* θ = qπ/2 + ψ: (cos, sin) = (c, s), (−s, c), (−c, −s), (s, −c); selects and sign
     * flips on the bits, so the loop has no control flow */
    uint32_t sb, cb;
    memcpy(&sb, &s, sizeof sb);
    memcpy(&cb, &c, sizeof cb);
    const uint32_t swap = 0u - (q & 1u);
    uint32_t cqb = (cb & ~swap) | (sb & swap), sqb = (sb & ~swap) | (cb & swap);
    cqb ^= ((q + 1u) & 2u) << 30;
    sqb ^= (q & 2u) << 30;
    memcpy(cs, &cqb, sizeof cqb);
    memcpy(sn, &sqb, sizeof sqb);
}

RNG_INLINE RNG_HOT void bm_pair(uint32_t a, uint32_t b, float *n0, float *n1) {
    const float rad = sqrtf(-2.0f * bm_log(a));
    float cs, sn;
    bm_sincos(b, &cs, &sn);
    *n0 = rad * cs;
    *n1 = rad * sn;
}

RNG_HOT float rng_normal(rng_t *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    uint32_t a = rng_u32(r), b = rng_u32(r);
    float n0, n1;
    bm_pair(a, b, &n0, &n1);
    r->spare = n1;
    r->has_spare = 1;
    return n0;
}

#define BM_CHUNK 256   /* words (= normals) per pass of rng_fill_normal */

/* x[0..2·npairs) = mean + std·(normal pairs of w[0..2·npairs)), npairs ≤ BM_CHUNK/2. Three
 * loops: sqrtf stays a libm-style call with errno semantics (the optimize attribute does not
 * change the builtin's declaration), which would keep the one-loop form scalar; alone in
 * its loop it is a cheap sqrtss per pair and the other two loops vectorise. The values are
 * those of bm_pair (sqrt is correctly rounded everywhere). */
RNG_CLONES RNG_HOT static void bm_fill(float *restrict x, const uint32_t *restrict w, int npairs,
                                       float mean, float std) {
    float rad[BM_CHUNK / 2];
    for (int p = 0; p < npairs; p++) rad[p] = -2.0f * bm_log(w[2 * p]);
    for (int p = 0; p < npairs; p++) rad[p] = sqrtf(rad[p]);
    for (int p = 0; p < npairs; p++) {
        float cs, sn;
        bm_sincos(w[2 * p + 1], &cs, &sn);
        x[2 * p] = mean + std * (rad[p] * cs);
        x[2 * p + 1] = mean + std * (rad[p] * sn);
    }
}

/* The stream's next words as rng_u32 would return them: first what is left of the current
 * block, then whole blocks, then a refilled current block for the rest. */
static void take_words(rng_t *r, uint32_t *w, long n) {
    long k = 0;
    while (r->pos < 4 && k < n) w[k++] = r->buf[r->pos++];
    long nblk = (n - k) / 4;
    philox_blocks(w + k, r, nblk);
    k += 4 * nblk;
    while (k < n) w[k++] = rng_u32(r);
}

void rng_fill_normal(rng_t *r, float *x, long n, float mean, float std) {
    long i = 0;
    if (n > 0 && r->has_spare) {
        x[i++] = mean + std * r->spare;
        r->has_spare = 0;
    }
    uint32_t w[BM_CHUNK];
    while (n - i >= 2) {
        long m = (n - i) & ~1L;
        if (m > BM_CHUNK) m = BM_CHUNK;
        take_words(r, w, m);
        bm_fill(x + i, w, (int)(m / 2), mean, std);
        i += m;
    }
    if (i < n) x[i] = mean + std * rng_normal(r);   /* odd tail: keeps the spare, as rng_normal */
}

void rng_fill_uniform(rng_t *r, float *x, long n, float lo, float hi) {
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(r);
}

void rng_shuffle(rng_t *r, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
