/* test_curve.c — the anytime curve (eval.every; src/run/curve.c, metrics_curve in
 * src/core/metrics.c): the curve metrics on hand-made curves (anytime accuracy, LCA, the
 * stability gap and its recovery, the loss-metric signs, blocked curricula), and whole runs:
 * a curve leaves R bit-identical, its points and steps, its end points equal R when the
 * subset is the whole test set, determinism, and which models record one. SKIP without MNIST. */
#include <math.h>
#include <string.h>

#include "data.h"
#include "metrics.h"
#include "model.h"
#include "registry.h"
#include "test.h"
#include "test_run.h"

static int have_mnist(void) { return data_get(DATA_MNIST, 1) != NULL; }

/* Two tasks, two stages, a point every 10 steps; task 0 drops from 0.9 to 0.5 right after
 * the switch and recovers to 0.8. */
static const double RC[12] = {0.1, 0.2, 0.6, 0.1, 0.9, 0.1, 0.5, 0.5, 0.7, 0.8, 0.8, 0.9};
static const int PST[6] = {0, 0, 0, 1, 1, 1};
static const long PSP[6] = {0, 10, 20, 10, 20, 25};

static void test_metrics_hand(void) {
    const int st[2] = {0, 1};
    cl_curve_metrics m;
    double g[2], r[2];
    metrics_curve(&m, g, r, RC, PST, PSP, 6, 2, st, 2, 1, 10);
    CHECK_NEAR(m.anytime, (0.6 + 0.9 + 0.5 + 0.75 + 0.85) / 5, 1e-12, "anytime accuracy");
    CHECK_NEAR(m.lca, ((0.1 + 0.6) / 2 + (0.1 + 0.5) / 2) / 2, 1e-12, "LCA_10");
    CHECK_NEAR(m.gap, 0.9 - 0.5, 1e-12, "stability gap");
    CHECK_NEAR(m.recovery, 0.8 - 0.5, 1e-12, "recovery");
    CHECK(isnan(g[0]) && isnan(r[0]), "no switch into stage 0");
    CHECK_NEAR(g[1], 0.4, 1e-12, "gap at stage 1");
    metrics_curve(&m, NULL, NULL, RC, PST, PSP, 6, 2, st, 2, 1, 20);
    CHECK_NEAR(m.lca, ((0.1 + 0.6 + 0.9) / 3 + (0.1 + 0.5 + 0.8) / 3) / 2, 1e-12, "LCA_20");
    /* read as a loss (higher = worse), signs flipped: drop = −0.9 − min(−0.5, −0.7, −0.8)
     * = −0.1 (the loss of task 0 never rose above 0.9), recovery = −0.8 + 0.8 = 0 */
    metrics_curve(&m, NULL, NULL, RC, PST, PSP, 6, 2, st, 2, 0, 10);
    CHECK_NEAR(m.gap, -0.1, 1e-12, "loss: gap sign");
    CHECK_NEAR(m.recovery, 0.0, 1e-12, "loss: recovery sign");
    metrics_curve(&m, g, r, RC, PST, PSP, 0, 2, st, 2, 1, 10);
    CHECK(isnan(m.anytime) && isnan(m.lca) && isnan(m.gap) && isnan(g[1]), "no points: NaN");
}

static void test_metrics_blocked(void) {
    /* stages train tasks 0, 1, 0: at the switch to stage 2, task 0 is trained (not old),
     * task 1 is old: 0.8 → min 0.3 → end 0.6. Stage 1 has a single point (its end). */
    const int st[3] = {0, 1, 0};
    const double R[12] = {0.0, 0.0, 0.9, 0.1, 0.7, 0.8, 0.95, 0.3, 0.96, 0.6, 0.5, 0.5};
    const int ps[6] = {0, 0, 1, 2, 2, 9};   /* the last point belongs to no stage: ignored */
    const long sp[6] = {0, 5, 5, 2, 5, 5};
    cl_curve_metrics m;
    double g[3], r[3];
    metrics_curve(&m, g, r, R, ps, sp, 6, 2, st, 3, 1, 100);
    CHECK_NEAR(g[1], 0.9 - 0.7, 1e-12, "switch 1: task 0 drop");
    CHECK_NEAR(g[2], 0.8 - 0.3, 1e-12, "switch 2: only task 1 is old");
    CHECK_NEAR(r[2], 0.6 - 0.3, 1e-12, "switch 2: recovery");
    CHECK_NEAR(m.gap, (0.2 + 0.5) / 2, 1e-12, "mean over switches");
    CHECK_NEAR(m.lca, ((0.0 + 0.9) / 2 + (0.1 + 0.8) / 2) / 2, 1e-12,
               "LCA: each task at its first stage only");
}

static void run_er(run_result *r, const char *every, const char *subset) {
    run_config c;
    if (every)
        make_cfg(&c, "er", "split_mnist", "benchmark.scenario", "class",
                 "benchmark.train_per_task", "200", "benchmark.test_per_task", "100",
                 "eval.every", every, "eval.subset", subset, NULL);
    else
        make_cfg(&c, "er", "split_mnist", "benchmark.scenario", "class",
                 "benchmark.train_per_task", "200", "benchmark.test_per_task", "100", NULL);
    run_cfg(r, &c);
}

static void test_curve_leaves_R(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    run_result a, b, d;
    run_er(&a, NULL, NULL);
    run_er(&b, "3", "256");   /* 200 examples / batch 32 = 7 steps: points at 3, 6, 7 */
    CHECK(a.status == RUN_STATUS_OK && b.status == RUN_STATUS_OK, "runs ok: %s / %s",
          a.message, b.message);
    int S = a.nstages, T = a.ntasks;
    CHECK(S == 5 && T == 5 && b.nstages == S, "shape %d x %d", S, T);
    CHECK(!memcmp(a.R, b.R, sizeof(float) * (size_t)(S * T)), "R bit-identical with a curve");
    CHECK(!memcmp(a.R0, b.R0, sizeof(float) * (size_t)T), "R0 bit-identical");
    CHECK(!memcmp(&a.acc, &b.acc, sizeof(double)), "acc bit-identical");
    CHECK(!result_find(&a, "R_curve") && !result_find(&a, "stability_gap"), "no curve when off");
    const result_extra *rc = result_find(&b, "R_curve"), *cs = result_find(&b, "curve_stage"),
                       *cp = result_find(&b, "curve_step");
    CHECK(rc && cs && cp, "curve extras present");
    if (!rc || !cs || !cp) return;
    CHECK(rc->ndim == 2 && rc->shape[0] == 1 + 3 * S && rc->shape[1] == T &&
          !strcmp(rc->dim[0], "point") && !strcmp(rc->dim[1], "task"),
          "R_curve (point %d, task %d)", rc->shape[0], rc->shape[1]);
    static const double steps[4] = {0, 3, 6, 7};
    for (int p = 0; p < cs->shape[0]; p++) {
        double want_stage = p ? (p - 1) / 3 : 0, want_step = p ? steps[1 + (p - 1) % 3] : 0;
        CHECK(cs->data[p] == want_stage && cp->data[p] == want_step,
              "point %d: stage %g step %g (want %g %g)", p, cs->data[p], cp->data[p],
              want_stage, want_step);
    }
    /* the subset (256) covers the 100 test examples: each stage's end point is R's row */
    for (int s = 0; s < S; s++)
        for (int t = 0; t < T; t++)
            CHECK((float)rc->data[(size_t)(3 + 3 * s) * T + t] == b.R[s * T + t],
                  "end of stage %d, task %d: curve %g vs R %g", s, t,
                  rc->data[(size_t)(3 + 3 * s) * T + t], (double)b.R[s * T + t]);
    const char *names[] = {"anytime_acc", "lca", "stability_gap", "gap_recovery"};
    for (int i = 0; i < 4; i++) {
        const result_extra *x = result_find(&b, names[i]);
        CHECK(x && x->ndim == 0 && isfinite(x->data[0]), "%s stored and finite", names[i]);
    }
    /* deterministic; a subset of 40 of the 100 examples is a fixed one */
    run_er(&d, "3", "256");
    const result_extra *rd = result_find(&d, "R_curve");
    CHECK(rd && !memcmp(rd->data, rc->data, sizeof(double) * (size_t)(rc->shape[0] * T)),
          "the curve is a pure function of the configuration");
    result_free(&d);
    run_er(&d, "7", "40");
    rd = result_find(&d, "R_curve");
    CHECK(rd && rd->shape[0] == 1 + S, "every = steps per stage: one point per stage (got %d)",
          rd ? rd->shape[0] : -1);
    for (int p = 0; rd && p < rd->shape[0] * T; p++) {
        double k = rd->data[p] * 40;
        CHECK(fabs(k - round(k)) < 1e-9, "point value %g is a count over 40 examples", rd->data[p]);
    }
    CHECK(!memcmp(a.R, d.R, sizeof(float) * (size_t)(S * T)), "R bit-identical (subset 40)");
    result_free(&a);
    result_free(&b);
    result_free(&d);
}

static void test_which_models(void) {
    /* Every built-in model's training loop calls train_curve_tick, so each declares
     * eval.every (external programs and plugins: tests/t_curve_models.sh). */
    const char *with[] = {"finetune", "ewc", "si", "mas", "lwf", "er", "agem", "derpp", "joint",
                          "ewgn", "gated", "pah", "crashtest"};
    for (int i = 0; i < 13; i++)
        CHECK(param_model_reads(with[i], "split_mnist", "eval.every"), "%s reads eval.every",
              with[i]);
    CHECK(param_model_reads("hsf", "curves3d", "eval.every"), "hsf reads eval.every");
}

static void test_curve_stream(void) {
    /* a generated stream (teacher_student): block_size steps per stage, a loss metric */
    run_config c;
    make_cfg(&c, "finetune", "teacher_student", "benchmark.block_size", "20", "eval.every", "8",
             NULL);
    run_result r;
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "ok: %s", r.message);
    const result_extra *cp = result_find(&r, "curve_step");
    CHECK(cp && cp->shape[0] == 1 + 3 * r.nstages, "points 0 | 8 16 20 per stage (got %d)",
          cp ? cp->shape[0] : -1);
    if (cp) CHECK(cp->data[1] == 8 && cp->data[2] == 16 && cp->data[3] == 20, "steps");
    const result_extra *g = result_find(&r, "stability_gap");
    CHECK(g && isfinite(g->data[0]), "stability gap of an mse metric");
    result_free(&r);
}

int main(void) {
    RUN_TEST(test_metrics_hand);
    RUN_TEST(test_metrics_blocked);
    RUN_TEST(test_curve_leaves_R);
    RUN_TEST(test_which_models);
    RUN_TEST(test_curve_stream);
    TEST_EXIT();
}
