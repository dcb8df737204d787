/* rng.c — Philox4x32-10 (Salmon et al. 2011): counter-based, so a draw depends only on
 * (seed, stream, position). */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

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

float rng_normal(rng_t *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = ((double)(rng_u32(r) >> 8) + 1.0) / 16777217.0;   /* (0, 1] */
    double u2 = (double)(rng_u32(r) >> 8) / 16777216.0;
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return (float)(rad * cos(th));
}

void rng_fill_normal(rng_t *r, float *x, long n, float mean, float std) {
    for (long i = 0; i < n; i++) x[i] = mean + std * rng_normal(r);
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
