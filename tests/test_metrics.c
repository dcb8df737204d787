/* test_metrics.c — metrics on hand-computed matrices (GEM BWT/FWT, Chaudhry forgetting),
 * the loss-metric sign convention, and blocked curricula. */
#include <math.h>

#include "metrics.h"
#include "test.h"

static void test_accuracy_matrix(void) {
    const float R[9] = {0.9f, 0.1f, 0.2f, 0.6f, 0.8f, 0.4f, 0.5f, 0.7f, 0.95f};
    const float R0[3] = {0.1f, 0.15f, 0.25f};
    cl_metrics m;
    metrics_compute(&m, R, R0, 3, 1);
    CHECK_NEAR(m.acc, (0.5 + 0.7 + 0.95) / 3, 1e-6, "acc");
    CHECK_NEAR(m.bwt, -0.25, 1e-6, "bwt = ((0.5-0.9)+(0.7-0.8))/2");
    CHECK_NEAR(m.fwt, 0.05, 1e-6, "fwt = ((0.1-0.15)+(0.4-0.25))/2");
    CHECK_NEAR(m.forgetting, 0.25, 1e-6, "forgetting = ((0.9-0.5)+(0.8-0.7))/2");
}

static void test_loss_matrix_signs(void) {
    const float R[9] = {0.1f, 2, 2, 0.5f, 0.2f, 1.5f, 0.8f, 0.3f, 0.05f};
    const float R0[3] = {2, 2, 2};
    cl_metrics m;
    metrics_compute(&m, R, R0, 3, 0);
    CHECK_NEAR(m.acc, (0.8 + 0.3 + 0.05) / 3, 1e-6, "acc is the plain mean");
    CHECK_NEAR(m.bwt, -0.4, 1e-6, "bwt < 0 means the loss went up");
    CHECK_NEAR(m.forgetting, 0.4, 1e-6, "forgetting = increase of loss over its best");
    CHECK_NEAR(m.fwt, 0.25, 1e-6, "fwt = loss reduction before training");
}

static void test_chaudhry_uses_max_not_diagonal(void) {
    /* Task 0 peaks after stage 1 (0.95), not at its own stage (0.9). */
    const float R[9] = {0.9f, 0, 0, 0.95f, 0.9f, 0, 0.5f, 0.9f, 0.9f};
    cl_metrics m;
    metrics_compute(&m, R, NULL, 3, 1);
    CHECK_NEAR(m.forgetting, ((0.95 - 0.5) + (0.9 - 0.9)) / 2, 1e-6, "forgetting");
    CHECK_NEAR(m.bwt, ((0.5 - 0.9) + 0.0) / 2, 1e-6, "bwt uses the diagonal");
    CHECK(isnan(m.fwt), "fwt without R0 is NaN, got %g", m.fwt);
}

static void test_blocked_curriculum(void) {
    const float R[8] = {0.9f, 0.5f, 0.6f, 0.9f, 0.95f, 0.4f, 0.7f, 0.92f};
    const float R0[2] = {0.5f, 0.5f};
    const int st[4] = {0, 1, 0, 1};
    cl_metrics m;
    metrics_compute_stream(&m, R, R0, 4, 2, st, 1);
    CHECK_NEAR(m.acc, 0.81, 1e-6, "acc");
    CHECK_NEAR(m.bwt, -0.25, 1e-6, "bwt from task 0's last training stage");
    CHECK_NEAR(m.forgetting, 0.25, 1e-6, "forgetting");
    CHECK_NEAR(m.fwt, 0.0, 1e-6, "fwt");
}

static void test_single_task(void) {
    const float R[1] = {0.7f};
    cl_metrics m;
    metrics_compute(&m, R, R, 1, 1);
    CHECK_NEAR(m.acc, 0.7, 1e-6, "acc");
    CHECK(isnan(m.bwt) && isnan(m.forgetting) && isnan(m.fwt), "undefined metrics are NaN");
}

int main(void) {
    RUN_TEST(test_accuracy_matrix);
    RUN_TEST(test_loss_matrix_signs);
    RUN_TEST(test_chaudhry_uses_max_not_diagonal);
    RUN_TEST(test_blocked_curriculum);
    RUN_TEST(test_single_task);
    TEST_EXIT();
}
