/* replay.c — the reservoir buffer and A-GEM's projection (see replay.h). Used by the
 * rehearsal models (src/models/rehearsal.c) and tests only. */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void replay_init(replay_buf *r, int cap, int D, int C, uint64_t seed, uint64_t stream) {
    memset(r, 0, sizeof *r);
    r->cap = cap > 0 ? cap : 1;
    r->D = D;
    r->C = C;
    r->x = xmalloc(sizeof(float) * (size_t)r->cap * (size_t)D);
    r->y = xmalloc(sizeof(int) * (size_t)r->cap);
    r->task = xmalloc(sizeof(int) * (size_t)r->cap);
    r->scratch = xmalloc(sizeof(int) * (size_t)r->cap);
    if (C > 0) r->logits = xmalloc(sizeof(float) * (size_t)r->cap * (size_t)C);
    rng_init(&r->rng, seed, stream);
}

void replay_free(replay_buf *r) {
    free(r->x);
    free(r->y);
    free(r->task);
    free(r->scratch);
    free(r->logits);
    memset(r, 0, sizeof *r);
}

int replay_offer(replay_buf *r, const float *x, int y, int task, const float *logits) {
    long n = r->seen++;
    int slot;
    if (n < r->cap) {
        slot = (int)n;
        r->size = slot + 1;
    } else {
        /* n + 1 examples offered: keep this one with probability cap / (n + 1). */
        uint32_t j = n + 1 > 0xFFFFFFFFL ? rng_u32(&r->rng) : rng_below(&r->rng, (uint32_t)(n + 1));
        if (j >= (uint32_t)r->cap) return -1;
        slot = (int)j;
    }
    memcpy(r->x + (size_t)slot * r->D, x, sizeof(float) * (size_t)r->D);
    r->y[slot] = y;
    r->task[slot] = task;
    if (r->logits && logits) memcpy(r->logits + (size_t)slot * r->C, logits, sizeof(float) * (size_t)r->C);
    return slot;
}

int replay_sample(replay_buf *r, rng_t *g, int n, int *idx) {
    if (n > r->size) n = r->size;
    for (int i = 0; i < r->size; i++) r->scratch[i] = i;
    for (int i = 0; i < n; i++) {   /* partial Fisher–Yates */
        int j = i + (int)rng_below(g, (uint32_t)(r->size - i));
        int t = r->scratch[i];
        r->scratch[i] = r->scratch[j];
        r->scratch[j] = t;
        idx[i] = r->scratch[i];
    }
    return n;
}

double agem_project(float *g, const float *gref, long n) {
    double dot = 0, rr = 0;
    for (long i = 0; i < n; i++) {
        dot += (double)g[i] * gref[i];
        rr += (double)gref[i] * gref[i];
    }
    if (dot < 0 && rr > 0) {
        double k = dot / rr;
        for (long i = 0; i < n; i++) g[i] = (float)((double)g[i] - k * gref[i]);
    }
    return dot;
}
