/* test_metrics.c — metrics on hand-computed matrices (GEM BWT/FWT, Chaudhry forgetting;
 * plasticity, Díaz-Rodríguez BWT/BWT+/REM, intransigence), the loss-metric sign convention,
 * and blocked curricula. */
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

static void test_plasticity_rem_bwtplus(void) {
    const float R[9] = {0.9f, 0.1f, 0.2f, 0.6f, 0.8f, 0.4f, 0.5f, 0.7f, 0.95f};
    const int st[3] = {0, 1, 2};
    CHECK_NEAR(metrics_plasticity(R, 3, 3, st), (0.9 + 0.8 + 0.95) / 3, 1e-6, "plasticity");
    double bd = metrics_bwt_diaz(R, 3, 3, st, 1);
    CHECK_NEAR(bd, ((0.6 - 0.9) + (0.5 - 0.9) + (0.7 - 0.8)) / 3, 1e-6, "BWT_D over i > j");
    CHECK_NEAR(metrics_bwt_plus(bd), 0.0, 0, "BWT+ of a negative BWT");
    CHECK_NEAR(metrics_rem(bd), 1 - 0.8 / 3, 1e-6, "REM = 1 - |BWT_D|");
    const float Rp[4] = {0.5f, 0.0f, 0.7f, 0.9f};
    double bp = metrics_bwt_diaz(Rp, 2, 2, st, 1);
    CHECK_NEAR(bp, 0.2, 1e-6, "positive BWT_D");
    CHECK_NEAR(metrics_bwt_plus(bp), 0.2, 1e-6, "BWT+");
    CHECK_NEAR(metrics_rem(bp), 1.0, 0, "REM of a positive BWT");
    CHECK(isnan(metrics_bwt_diaz(R, 1, 3, st, 1)), "BWT_D of one stage is NaN");
    CHECK(isnan(metrics_rem(NAN)) && isnan(metrics_bwt_plus(NAN)), "NaN propagates");
}

static void test_extras_blocked_and_loss(void) {
    const float R[8] = {0.9f, 0.5f, 0.6f, 0.9f, 0.95f, 0.4f, 0.7f, 0.92f};
    const int st[4] = {0, 1, 0, 1};
    CHECK_NEAR(metrics_plasticity(R, 4, 2, st), (0.9 + 0.9 + 0.95 + 0.92) / 4, 1e-6, "plasticity");
    CHECK_NEAR(metrics_bwt_diaz(R, 4, 2, st, 1), ((0.6 - 0.9) + (0.4 - 0.9) + (0.7 - 0.95)) / 3,
               1e-6, "BWT_D against the last training of each task");
    const float L[4] = {0.1f, 2.0f, 0.5f, 0.2f};
    CHECK_NEAR(metrics_bwt_diaz(L, 2, 2, st, 0), -0.4, 1e-6, "loss went up: negative BWT_D");
    run_result res;
    result_init(&res);
    result_alloc(&res, 4, 2);
    for (int i = 0; i < 8; i++) res.R[i] = R[i];
    res.higher_is_better = 1;
    metrics_add_extras(&res, st);
    const result_extra *e = result_find(&res, "plasticity");
    CHECK(e && fabs(e->data[0] - 0.9175) < 1e-6, "plasticity extra");
    e = result_find(&res, "rem");
    CHECK(e && fabs(e->data[0] - (1 - 1.05 / 3)) < 1e-6, "rem extra");
    e = result_find(&res, "bwt_plus");
    CHECK(e && e->data[0] == 0.0, "bwt_plus extra");
    result_free(&res);
}

static void test_intransigence(void) {
    const float R[9] = {0.9f, 0.1f, 0.2f, 0.6f, 0.8f, 0.4f, 0.5f, 0.7f, 0.95f};
    const float J[9] = {0.95f, 0, 0, 0, 0.9f, 0, 0, 0, 0.97f};
    const int st[3] = {0, 1, 2};
    CHECK_NEAR(metrics_intransigence(R, J, 3, 3, st, 1), (0.05 + 0.1 + 0.02) / 3, 1e-6,
               "mean of joint diagonal - diagonal");
    CHECK_NEAR(metrics_intransigence(J, J, 3, 3, st, 1), 0.0, 0, "joint against itself");
    CHECK_NEAR(metrics_intransigence(R, J, 3, 3, st, 0), -(0.05 + 0.1 + 0.02) / 3, 1e-6,
               "loss metrics flip the sign");
}

int main(void) {
    RUN_TEST(test_accuracy_matrix);
    RUN_TEST(test_loss_matrix_signs);
    RUN_TEST(test_chaudhry_uses_max_not_diagonal);
    RUN_TEST(test_blocked_curriculum);
    RUN_TEST(test_single_task);
    RUN_TEST(test_plasticity_rem_bwtplus);
    RUN_TEST(test_extras_blocked_and_loss);
    RUN_TEST(test_intransigence);
    TEST_EXIT();
}
