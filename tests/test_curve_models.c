/* test_curve_models.c — the anytime curve (eval.every, src/run/curve.c) of the models with
 * their own training loops: ewgn (fused batch-1 path with the lazy EWC decay, and the generic
 * batched path), gated (teacher-student Euler steps; classification on cached features and
 * on a test subset's features), hsf (curves3d), pah and crashtest. Per model: R, R0 and ACC
 * bit-identical with and without a curve (also with a small subset); the points' layout
 * (stage, step: 0 first, multiples of eval.every, then the stage's end); the last point of
 * each stage equals R's row when the subset covers the whole test set; the curve is a pure
 * function of the configuration. SKIP without MNIST for the image benchmarks. */
#include <math.h>
#include <string.h>

#include "data.h"
#include "model.h"
#include "registry.h"
#include "test.h"
#include "test_run.h"

typedef struct {
    const char *what, *model, *bench;
    const char *kv[16];   /* key, value pairs, NULL-terminated */
    const char *every;    /* eval.every of the curve runs */
    long steps;           /* optimiser steps per stage (the points' layout) */
    int mnist;            /* needs MNIST */
} mcase;

static void run_case(run_result *r, const mcase *c, const char *every, const char *subset) {
    run_config cfg;
    cfg_init(&cfg);
    for (int i = 0; c->kv[i]; i += 2) cfg_set(&cfg, c->kv[i], c->kv[i + 1]);
    if (every) {
        cfg_set(&cfg, "eval.every", every);
        cfg_set(&cfg, "eval.subset", subset);
    }
    if (cfg_fill_defaults(&cfg, c->model, c->bench)) {
        CHECK(0, "%s: %s", c->what, cls_geterr());
        abort();
    }
    cfg_project(&cfg, c->model, c->bench);
    run_cfg(r, &cfg);
}

static int same_R(const run_result *a, const run_result *b) {
    size_t n = (size_t)a->nstages * (size_t)a->ntasks;
    return a->nstages == b->nstages && a->ntasks == b->ntasks &&
           !memcmp(a->R, b->R, sizeof(float) * n) &&
           !memcmp(a->R0, b->R0, sizeof(float) * (size_t)a->ntasks) &&
           !memcmp(&a->acc, &b->acc, sizeof(double));
}

static void check_case(const mcase *c) {
    if (c->mnist && !data_get(DATA_MNIST, 1)) {
        printf("# %s: MNIST not present, skipped\n", c->what);
        return;
    }
    run_result a, b, d;
    run_case(&a, c, NULL, NULL);
    run_case(&b, c, c->every, "100000");   /* the subset is the whole test set */
    CHECK(a.status == RUN_STATUS_OK && b.status == RUN_STATUS_OK, "%s: runs ok: %s / %s",
          c->what, a.message, b.message);
    CHECK(same_R(&a, &b), "%s: R, R0, ACC bit-identical with a curve", c->what);
    CHECK(!result_find(&a, "R_curve"), "%s: no curve when eval.every is 0", c->what);
    const result_extra *rc = result_find(&b, "R_curve"), *cs = result_find(&b, "curve_stage"),
                       *cp = result_find(&b, "curve_step");
    CHECK(rc && cs && cp, "%s: curve extras present", c->what);
    if (!rc || !cs || !cp) goto out;
    const int S = b.nstages, T = b.ntasks, P = rc->shape[0];
    const long every = atol(c->every), per = (c->steps + every - 1) / every;
    CHECK(P == 1 + S * per, "%s: %d points, want 1 + %d x %ld", c->what, P, S, per);
    CHECK(cs->data[0] == 0 && cp->data[0] == 0, "%s: the first point is (0, 0)", c->what);
    for (int p = 1; p < P; p++) {
        int s = (p - 1) / (int)per;
        long k = (p - 1) % per + 1, want = k < per ? k * every : c->steps;
        CHECK(cs->data[p] == s && cp->data[p] == want, "%s: point %d at (%g, %g), want (%d, %ld)",
              c->what, p, cs->data[p], cp->data[p], s, want);
    }
    for (int s = 0; s < S; s++)   /* each stage's last point */
        for (int t = 0; t < T; t++) {
            double v = rc->data[(size_t)(s + 1) * (size_t)per * (size_t)T + (size_t)t];
            CHECK((float)v == b.R[s * T + t] || (isnan(v) && isnan(b.R[s * T + t])),
                  "%s: end of stage %d, task %d: curve %.9g, R %.9g", c->what, s, t, v,
                  (double)b.R[s * T + t]);
        }
    const result_extra *g = result_find(&b, "anytime_acc");
    CHECK(g && isfinite(g->data[0]), "%s: anytime_acc stored and finite", c->what);
    run_case(&d, c, c->every, "100000");
    const result_extra *rd = result_find(&d, "R_curve");
    CHECK(rd && rd->shape[0] == P &&
              !memcmp(rd->data, rc->data, sizeof(double) * (size_t)P * (size_t)T),
          "%s: the curve is a pure function of the configuration", c->what);
    result_free(&d);
    run_case(&d, c, c->every, "7");   /* a subset smaller than every test set */
    CHECK(d.status == RUN_STATUS_OK && same_R(&a, &d), "%s: R bit-identical (subset 7): %s",
          c->what, d.message);
    rd = result_find(&d, "R_curve");
    CHECK(rd && rd->shape[0] == P, "%s: subset 7: %d points", c->what, rd ? rd->shape[0] : -1);
    if (b.higher_is_better)
        for (int i = 0; rd && i < P * T; i++) {
            double k = rd->data[i] * 7;
            CHECK(fabs(k - round(k)) < 1e-9, "%s: point value %g is a count over 7", c->what,
                  rd->data[i]);
        }
    result_free(&d);
out:
    result_free(&a);
    result_free(&b);
}

#define SMALL_MNIST "benchmark.train_per_task", "40", "benchmark.test_per_task", "30"

static void test_ewgn(void) {
    /* batch 1: the fused step; 40 steps per stage, every 10 (the last tick is the end:
     * taken in the loop from the caught-up copy) and every 7 (the end taken after flush) */
    mcase c = {"ewgn fused", "ewgn", "split_mnist",
               {SMALL_MNIST, "train.batch_size", "1", "ewgn.fisher_samples", "20", NULL},
               "10", 40, 1};
    check_case(&c);
    c.every = "7";
    check_case(&c);
    mcase g = {"ewgn batched", "ewgn", "split_mnist",
               {SMALL_MNIST, "train.batch_size", "8", "ewgn.fisher_samples", "20", NULL}, "2",
               5, 1};
    check_case(&g);
}

static void test_gated(void) {
    mcase ts = {"gated teacher_student", "gated", "teacher_student",
                {"benchmark.block_size", "30", "benchmark.blocks", "3", "benchmark.test_size",
                 "50", "gated.adapt_steps", "5", NULL},
                "4", 30, 0};
    check_case(&ts);
    mcase cl = {"gated classification", "gated", "split_mnist",
                {"benchmark.train_per_task", "100", "benchmark.test_per_task", "30",
                 "gated.batch", "10", "gated.adapt_steps", "3", NULL},
                "3", 10, 1};
    check_case(&cl);
}

static void test_hsf(void) {
    mcase c = {"hsf", "hsf", "curves3d",
               {"benchmark.block_size", "6", "benchmark.points", "24", "hsf.sde_steps", "3",
                NULL},
               "4", 6, 0};
    check_case(&c);
}

static void test_pah(void) {
    mcase c = {"pah", "pah", "split_mnist",
               {SMALL_MNIST, "pah.batch_size", "8", "pah.channels", "[4,4]", "pah.features",
                "8", NULL},
               "2", 5, 1};   /* 40 − 2 held-out images = 38 → 5 batches of 8 */
    check_case(&c);
}

static void test_crashtest(void) {
    mcase c = {"crashtest", "crashtest", "teacher_student",
               {"benchmark.block_size", "5", "benchmark.blocks", "3", "benchmark.test_size",
                "20", NULL},
               "1", 1, 0};
    check_case(&c);
}

int main(void) {
    (void)make_cfg;   /* test_run.h's other helper */
    RUN_TEST(test_ewgn);
    RUN_TEST(test_gated);
    RUN_TEST(test_hsf);
    RUN_TEST(test_pah);
    RUN_TEST(test_crashtest);
    TEST_EXIT();
}
