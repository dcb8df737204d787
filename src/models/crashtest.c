/* crashtest.c — a model for the test suite only (never in a default suite): it misbehaves on
 * purpose at a chosen stage — segfault, abort, hang, runaway allocation or NaN — so the
 * tests can show that one bad run is recorded as failed/diverged and the sweep goes on.
 *
 * Its weights hook returns a synthetic matrix with a predictable task separation, for the
 * tests of the weight-space analysis: after stage s, sample i of task t (rows interleaved,
 * row i has task i mod T) is r·e_(t mod D) + N(0, I_D) with r = s + 1, D = crashtest.ws_dim,
 * drawn from the run seed. In a PC space that keeps all D dimensions, the between/within
 * scatter ratio is then ≈ (n r² (T−1) + (T−1) D) / ((nT − T) D) for n samples per task. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "train.h"
#include "util.h"

typedef struct {
    char mode[16];
    int at_stage;
    int ws_dim;
    double work;        /* millions of multiply-adds per stage */
    double quality, drift;   /* known quality: eval = 0.5 + 0.01 t + quality + drift * stage */
    int stage;          /* last stage trained, -1 before training */
    uint64_t seed;
} crash_t;

static const param_spec crash_params[] = {
    {"crashtest.mode", PARAM_STR, "ok", "ok|segv|abort|hang|oom|nan", 1, 0,
     "what to do at crashtest.at_stage"},
    {"crashtest.at_stage", PARAM_INT, "0", NULL, 0, 1e6, "stage at which to misbehave"},
    {"crashtest.ws_dim", PARAM_INT, "4", NULL, 1, 100000, "columns of the synthetic weights() matrix"},
    {"crashtest.work", PARAM_FLOAT, "0", NULL, 0, 1e6,
     "compute per stage, in millions of dependent multiply-adds (scheduler benchmarks)"},
    {"crashtest.quality", PARAM_FLOAT, "0", NULL, -1e6, 1e6,
     "added to every evaluation: a model of known quality (successive-halving tests)"},
    {"crashtest.drift", PARAM_FLOAT, "0", NULL, -1e6, 1e6,
     "added to every evaluation times the stages trained (quality that changes along the stream)"},
    TRAIN_CURVE_PARAM_SPECS,
};

static model_t *crash_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    (void)b;
    crash_t *m = xcalloc(1, sizeof *m);
    snprintf(m->mode, sizeof m->mode, "%s", cfg_str(cfg, "crashtest.mode"));
    m->at_stage = (int)cfg_int(cfg, "crashtest.at_stage");
    m->ws_dim = cfg_get(cfg, "crashtest.ws_dim") ? (int)cfg_int(cfg, "crashtest.ws_dim") : 4;
    m->work = cfg_get(cfg, "crashtest.work") ? cfg_float(cfg, "crashtest.work") : 0;
    m->quality = cfg_get(cfg, "crashtest.quality") ? cfg_float(cfg, "crashtest.quality") : 0;
    m->drift = cfg_get(cfg, "crashtest.drift") ? cfg_float(cfg, "crashtest.drift") : 0;
    m->stage = -1;
    m->seed = seed;
    return (model_t *)m;
}

/* A fixed amount of compute, n dependent multiply-adds: the same CPU time on every call,
 * for scheduler benchmarks with compute-bound runs of known relative cost. */
static double spin(double n) {
    volatile double sink;
    double x = 0.5;
    for (long i = 0; i < (long)n; i++) x = x * 0.999999 + 0.000001;
    sink = x;
    return sink;
}

static double crash_cost(const run_config *cfg) {
    double w = cfg_get(cfg, "crashtest.work") ? cfg_float(cfg, "crashtest.work") : 0;
    return 1e-3 + w;
}

static run_status crash_train(model_t *mm, const bench_t *b, int stage) {
    crash_t *m = (crash_t *)mm;
    m->stage = stage;
    if (m->work > 0) spin(m->work * 1e6);
    train_curve_tick(mm, b);   /* anytime curve: one step per block */
    if (stage != m->at_stage) return RUN_STATUS_OK;
    if (!strcmp(m->mode, "segv")) raise(SIGSEGV);
    if (!strcmp(m->mode, "abort")) abort();
    if (!strcmp(m->mode, "hang"))
        for (;;) pause();
    if (!strcmp(m->mode, "oom"))   /* address space runs out at the limit; pages untouched */
        for (;;) ((volatile char *)xmalloc(64 << 20))[0] = 1;
    if (!strcmp(m->mode, "nan")) {
        cls_seterr("non-finite training loss");
        return RUN_STATUS_DIVERGED;
    }
    return RUN_STATUS_OK;
}

static double crash_eval(model_t *mm, const bench_t *b, int t) {
    const crash_t *m = (const crash_t *)mm;
    return 0.5 + 0.01 * t + (b->higher_is_better ? 0 : 0.1) + m->quality +
           m->drift * (m->stage + 1);
}

static float *crash_weights(model_t *mm, const bench_t *b, int samples_per_task, int *rows,
                            int *cols, int **row_task) {
    crash_t *m = (crash_t *)mm;
    int T = b->ntasks, D = m->ws_dim, n = samples_per_task * T;
    float r = (float)(m->stage + 1);
    float *x = xmalloc(sizeof(float) * (size_t)n * (size_t)D);
    int *task = xmalloc(sizeof(int) * (size_t)n);
    rng_t g;
    rng_init(&g, m->seed, 0x77u + (uint64_t)(m->stage + 1));
    rng_fill_normal(&g, x, (long)n * D, 0.0f, 1.0f);
    for (int i = 0; i < n; i++) {
        task[i] = i % T;
        x[(long)i * D + task[i] % D] += r;
    }
    *rows = n;
    *cols = D;
    *row_task = task;
    return x;
}

static void crash_free(model_t *m) { free(m); }

const model_ops crashtest_ops = {
    .name = "crashtest",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = crash_params,
    .nparams = (int)(sizeof crash_params / sizeof crash_params[0]),
    .cost = crash_cost,
    .init = crash_init,
    .train_block = crash_train,
    .eval_task = crash_eval,
    .free = crash_free,
    .weights = crash_weights,
};
