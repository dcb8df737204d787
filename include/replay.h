/* replay.h — the reservoir buffer of the rehearsal baselines (er, agem, derpp) and A-GEM's
 * gradient projection. Pure data structure over floats; every random draw comes from a
 * Philox stream (rng.h), so a buffer's content is a function of the run seed and the order
 * of the examples offered. Called by src/models/rehearsal.c and the tests. */
#ifndef CLS_REPLAY_H
#define CLS_REPLAY_H

#include "rng.h"

typedef struct {
    int cap, size;        /* capacity, examples held */
    int D, C;             /* input size; logits stored per example (0: none) */
    long seen;            /* examples offered so far */
    float *x;             /* (cap, D) */
    int *y, *task;        /* (cap) */
    float *logits;        /* (cap, C) or NULL */
    int *scratch;         /* (cap) for sampling without replacement */
    rng_t rng;            /* reservoir decisions */
} replay_buf;

/* C > 0 stores a logit vector with each example (DER++). */
void replay_init(replay_buf *r, int cap, int D, int C, uint64_t seed, uint64_t stream);
void replay_free(replay_buf *r);
/* Offers one example (reservoir sampling, Vitter's algorithm R: the n-th example offered
 * replaces a uniformly chosen slot with probability cap/n once the buffer is full).
 * logits (C) may be NULL when C == 0. Returns the slot written, or -1. */
int replay_offer(replay_buf *r, const float *x, int y, int task, const float *logits);
/* Draws min(n, size) distinct slots uniformly from g into idx; returns how many. */
int replay_sample(replay_buf *r, rng_t *g, int n, int *idx);

/* A-GEM (Chaudhry et al. 2019): if gᵀg_ref < 0, g ← g − (gᵀg_ref / g_refᵀg_ref) · g_ref, so
 * that afterwards gᵀg_ref = 0 (up to rounding); otherwise g is unchanged. Returns gᵀg_ref
 * before the projection. Sums in double. */
double agem_project(float *g, const float *gref, long n);

#endif
