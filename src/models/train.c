/* train.c — resolution of the shared train.* settings and small helpers. */
#include "train.h"

#include <math.h>
#include <string.h>

#include "util.h"

void train_resolve(train_settings *t, const run_config *cfg, const bench_t *b) {
    const char *opt = cfg_str(cfg, "train.optimizer");
    float lr = (float)cfg_float(cfg, "train.lr");
    int bs = (int)cfg_int(cfg, "train.batch_size");
    float wd = (float)cfg_float(cfg, "train.weight_decay");
    if (!strcmp(opt, "auto"))
        t->optimizer = b->kind == BENCH_KIND_RECONSTRUCTION ? OPTIM_ADAMW : OPTIM_SGD;
    else
        t->optimizer = (optim_kind)optim_parse(opt);
    if (lr <= 0) {
        if (b->kind == BENCH_KIND_RECONSTRUCTION) lr = 5e-4f;
        else if (t->optimizer == OPTIM_SGD) lr = 0.05f;
        else lr = 1e-3f;
    }
    if (bs <= 0) {
        if (b->kind == BENCH_KIND_CLASSIFICATION) bs = 32;
        else if (b->kind == BENCH_KIND_REGRESSION) bs = b->stream_batch;
        else bs = b->tasks[0].n_train;
    }
    if (wd < 0) wd = t->optimizer == OPTIM_ADAMW ? 0.01f : 0.0f;
    t->lr = lr;
    t->batch_size = bs;
    t->weight_decay = wd;
    t->momentum = (float)cfg_float(cfg, "train.momentum");
}

void train_optim_init(optim_t *o, const train_settings *t, long n) {
    optim_init(o, t->optimizer, n, t->lr);
    o->weight_decay = t->weight_decay;
    o->momentum = t->momentum;
    /* SGD keeps its velocity in m, which optim_init only allocates for Adam(W). */
    if (t->momentum > 0 && !o->m) o->m = xcalloc((size_t)n, sizeof(float));
}

int all_finite(const float *x, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

double accuracy_of(const float *logits, const int *labels, const int *mask, int n, int C) {
    if (n <= 0) return NAN;
    long correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (long)i * C;
        int best = -1;
        for (int c = 0; c < C; c++) {
            if (mask && !mask[c]) continue;
            if (best < 0 || z[c] > z[best]) best = c;
        }
        correct += best == labels[i];
    }
    return (double)correct / n;
}
