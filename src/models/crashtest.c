/* crashtest.c — a model for the test suite only (never in a default suite): it misbehaves on
 * purpose at a chosen stage — segfault, abort, hang, runaway allocation or NaN — so the
 * tests can show that one bad run is recorded as failed/diverged and the sweep goes on. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "util.h"

typedef struct {
    char mode[16];
    int at_stage;
} crash_t;

static const param_spec crash_params[] = {
    {"crashtest.mode", PARAM_STR, "ok", "ok|segv|abort|hang|oom|nan", 1, 0,
     "what to do at crashtest.at_stage"},
    {"crashtest.at_stage", PARAM_INT, "0", NULL, 0, 1e6, "stage at which to misbehave"},
};

static model_t *crash_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    (void)b;
    (void)seed;
    crash_t *m = xcalloc(1, sizeof *m);
    snprintf(m->mode, sizeof m->mode, "%s", cfg_str(cfg, "crashtest.mode"));
    m->at_stage = (int)cfg_int(cfg, "crashtest.at_stage");
    return (model_t *)m;
}

static run_status crash_train(model_t *mm, const bench_t *b, int stage) {
    (void)b;
    crash_t *m = (crash_t *)mm;
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
    (void)mm;
    return 0.5 + 0.01 * t + (b->higher_is_better ? 0 : 0.1);
}

static void crash_free(model_t *m) { free(m); }

const model_ops crashtest_ops = {
    .name = "crashtest",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = crash_params,
    .nparams = (int)(sizeof crash_params / sizeof crash_params[0]),
    .init = crash_init,
    .train_block = crash_train,
    .eval_task = crash_eval,
    .free = crash_free,
};
