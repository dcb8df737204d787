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

int main(void) {
    RUN_TEST(test_task_scores);
    RUN_TEST(test_task_scores_task_scenario);
    TEST_EXIT();
}
