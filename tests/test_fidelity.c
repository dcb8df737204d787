/* test_fidelity.c — issue 22's run-level options: benchmark.task_scores (the task-masked
 * score R_task of a class-trained run) and the models' `accepts` hooks (a benchmark or shape
 * a model cannot take is `unsupported` with its reason, never a crash). */
#include <math.h>
#include <string.h>

#include "bench.h"
#include "data.h"
#include "test.h"
#include "test_run.h"

/* task_scores leaves training and R bit-identical and adds R_task ≥ R entrywise (the joint
 * argmax, when right, is also the argmax among the task's classes) and retention_task. */
static void test_task_scores(void) {
    REQUIRE_DATA(DATA_MNIST);
    REQUIRE_DATA(DATA_FASHION);
    const char *models[3] = {"finetune", "ewc", "ewgn"};
    for (int k = 0; k < 3; k++) {
        run_result r[2];
        for (int ts = 0; ts < 2; ts++) {
            run_config c;
            make_cfg(&c, models[k], "mnist_fashion", "benchmark.train_per_task", "300",
                     "benchmark.test_per_task", "300", "benchmark.task_scores",
                     ts ? "true" : "false", NULL);
            run_cfg(&r[ts], &c);
            CHECK(r[ts].status == RUN_STATUS_OK, "%s: %s", models[k], r[ts].message);
        }
        if (r[0].status != RUN_STATUS_OK || r[1].status != RUN_STATUS_OK) goto next;
        CHECK(!memcmp(r[0].R, r[1].R, sizeof(float) * 4), "%s: R changed by task_scores",
              models[k]);
        CHECK(result_find(&r[0], "R_task") == NULL, "%s: R_task without task_scores", models[k]);
        const result_extra *e = result_find(&r[1], "R_task");
        CHECK(e && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 2, "%s: R_task shape",
              models[k]);
        if (e) {
            int better = 0;
            for (int i = 0; i < 4; i++) {
                CHECK(e->data[i] >= r[1].R[i] - 1e-6, "%s: R_task[%d] %g < R %g", models[k], i,
                      e->data[i], (double)r[1].R[i]);
                better += e->data[i] > r[1].R[i] + 1e-6;
            }
            /* after stage 0 the untrained Fashion classes steal nothing among MNIST's own,
             * but task 1 (never trained at stage 0) is near chance among its 10 classes */
            CHECK(better >= 1, "%s: masking never helped", models[k]);
            const result_extra *rt = result_find(&r[1], "retention_task");
            CHECK(rt && isfinite(rt->data[0]), "%s: retention_task missing", models[k]);
            if (rt)
                CHECK_NEAR(rt->data[0], 100.0 * e->data[2] / e->data[0], 1e-9, "retention_task");
        }
    next:
        result_free(&r[0]);
        result_free(&r[1]);
    }
}

/* Under the task scenario task_scores adds nothing (R is already the masked score). */
static void test_task_scores_task_scenario(void) {
    REQUIRE_DATA(DATA_MNIST);
    REQUIRE_DATA(DATA_FASHION);
    run_config c;
    make_cfg(&c, "finetune", "mnist_fashion", "benchmark.train_per_task", "50",
             "benchmark.test_per_task", "50", "benchmark.scenario", "task",
             "benchmark.task_scores", "true", NULL);
    run_result r;
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "%s", r.message);
    CHECK(result_find(&r, "R_task") == NULL, "R_task under the task scenario");
    result_free(&r);
}

/* A bench_t shell of the given kind and shape (no data), ntasks tasks of n examples. */
static void shell(bench_t *b, task_t *t, bench_kind kind, int in, int out, int ntasks, int n) {
    memset(b, 0, sizeof *b);
    memset(t, 0, sizeof(task_t) * (size_t)ntasks);
    b->kind = kind;
    b->in_dim = in;
    b->out_dim = out;
    b->ntasks = ntasks;
    b->tasks = t;
    b->stream_batch = kind == BENCH_KIND_REGRESSION ? 64 : 0;
    for (int k = 0; k < ntasks; k++) t[k].n_train = t[k].n_test = n;
}

/* accepts of EWGN, gated and HSF: the shapes they take give NULL; the ones they cannot give
 * a reason naming the problem (and a run is then `unsupported: REASON`, run.c). */
static void test_accepts_hooks(void) {
    const model_ops *ew = model_find("ewgn"), *ga = model_find("gated"), *hs = model_find("hsf");
    CHECK(ew && ew->accepts && ga && ga->accepts && hs && hs->accepts, "hooks missing");
    if (!(ew && ew->accepts && ga && ga->accepts && hs && hs->accepts)) return;
    bench_t b;
    task_t t[4];
    run_config c;
    make_cfg(&c, "ewgn", "mnist_fashion", NULL);
    shell(&b, t, BENCH_KIND_CLASSIFICATION, 784, 20, 2, 60000);
    CHECK(ew->accepts(&b, &c) == NULL, "ewgn refuses mnist_fashion: %s", ew->accepts(&b, &c));
    shell(&b, t, BENCH_KIND_CLASSIFICATION, 150528, 1000, 2, 100);   /* ImageNet-size */
    const char *why = ew->accepts(&b, &c);
    CHECK(why && strstr(why, "GiB") && strstr(why, "ewgn.hidden"), "ewgn huge: %s", why ? why : "(accepted)");
    shell(&b, t, BENCH_KIND_CLASSIFICATION, 784, 1, 2, 100);
    CHECK(ew->accepts(&b, &c) != NULL, "ewgn with one class accepted");
    cfg_free(&c);

    make_cfg(&c, "gated", "split_mnist", NULL);
    shell(&b, t, BENCH_KIND_CLASSIFICATION, 784, 10, 4, 12000);
    CHECK(ga->accepts(&b, &c) == NULL, "gated refuses split_mnist: %s", ga->accepts(&b, &c));
    cfg_set(&c, "gated.features", "4096");
    shell(&b, t, BENCH_KIND_CLASSIFICATION, 784, 10, 4, 1000000);
    why = ga->accepts(&b, &c);
    CHECK(why && strstr(why, "gated.features"), "gated huge: %s", why ? why : "(accepted)");
    cfg_free(&c);
    make_cfg(&c, "gated", "teacher_student", NULL);
    shell(&b, t, BENCH_KIND_REGRESSION, 30, 1, 2, 0);
    CHECK(ga->accepts(&b, &c) == NULL, "gated refuses teacher_student: %s", ga->accepts(&b, &c));
    b.stream_batch = 0;
    CHECK(ga->accepts(&b, &c) != NULL, "gated with no stream batch accepted");
    shell(&b, t, BENCH_KIND_RECONSTRUCTION, 3, 3, 2, 10);
    CHECK(ga->accepts(&b, &c) != NULL, "gated accepts curves3d");
    cfg_free(&c);

    make_cfg(&c, "hsf", "curves3d", NULL);
    shell(&b, t, BENCH_KIND_RECONSTRUCTION, 3, 3, 3, 100);
    CHECK(hs->accepts(&b, &c) == NULL, "hsf refuses curves3d: %s", hs->accepts(&b, &c));
    shell(&b, t, BENCH_KIND_RECONSTRUCTION, 3, 2, 3, 100);
    why = hs->accepts(&b, &c);
    CHECK(why && strstr(why, "autoencoder"), "hsf in != out: %s", why ? why : "(accepted)");
    shell(&b, t, BENCH_KIND_RECONSTRUCTION, 3, 3, 3, 0);
    CHECK(hs->accepts(&b, &c) != NULL, "hsf without training examples accepted");
    shell(&b, t, BENCH_KIND_CLASSIFICATION, 784, 10, 3, 100);
    CHECK(hs->accepts(&b, &c) != NULL, "hsf accepts a classifier benchmark");
    cfg_free(&c);
}

/* Whole runs a model cannot take end `unsupported` with the reason, never failed or a crash:
 * HSF and EWGN across kinds (the executor's kind check), gated on curves3d. */
static void test_unsupported_runs(void) {
    const char *pairs[3][2] = {{"hsf", "teacher_student"}, {"ewgn", "curves3d"}, {"gated", "curves3d"}};
    for (int i = 0; i < 3; i++) {
        run_config c;
        make_cfg(&c, pairs[i][0], pairs[i][1], "benchmark.blocks", "1", NULL);
        run_result r;
        run_cfg(&r, &c);
        CHECK(r.status == RUN_STATUS_UNSUPPORTED, "%s on %s: %s (%s)", pairs[i][0], pairs[i][1],
              run_status_name(r.status), r.message);
        result_free(&r);
    }
}

int main(void) {
    RUN_TEST(test_accepts_hooks);
    RUN_TEST(test_unsupported_runs);
    RUN_TEST(test_task_scores);
    RUN_TEST(test_task_scores_task_scenario);
    TEST_EXIT();
}
