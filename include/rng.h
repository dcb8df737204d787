/* rng.h — deterministic random numbers: Philox4x32-10 (counter-based), so a run's draws
 * depend only on (seed, stream) and never on scheduling. Normal draws by Box–Muller. */
#ifndef CLS_RNG_H
#define CLS_RNG_H

#include <stdint.h>

typedef struct {
    uint32_t key[2];     /* from the seed */
    uint32_t ctr[4];     /* counter: ctr[2..3] = stream, ctr[0..1] = position */
    uint32_t buf[4];     /* current output block */
    int pos;             /* next unused word in buf (4 = empty) */
    int has_spare;       /* Box–Muller second value pending */
    float spare;
} rng_t;

/* Initialises r for (seed, stream). Different streams of the same seed are independent. */
void rng_init(rng_t *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(rng_t *r);
/* Uniform in [0, 1) with 24 random bits. */
float rng_uniform(rng_t *r);
/* Uniform integer in [0, n). n > 0. */
uint32_t rng_below(rng_t *r, uint32_t n);
/* Standard normal. */
float rng_normal(rng_t *r);
/* Fills x[n] with mean + std * N(0,1). */
void rng_fill_normal(rng_t *r, float *x, long n, float mean, float std);
/* Fills x[n] uniformly in [lo, hi). */
void rng_fill_uniform(rng_t *r, float *x, long n, float lo, float hi);
/* In-place Fisher–Yates shuffle of idx[n]. */
void rng_shuffle(rng_t *r, int *idx, int n);

#endif
