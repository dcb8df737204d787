/* test_models.c — the MLP's gradient against finite differences (tests/gradcheck.h), and the behaviour of the
 * finetune and ewc baselines: they learn, finetune forgets, EWC forgets less, runs are
 * deterministic, divergence becomes a status. */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "gradcheck.h"
#include "mlp.h"
#include "model.h"
#include "test.h"
#include "test_run.h"
#include "util.h"


typedef struct {
    mlp_t *m;
    const float *x, *wout;
    int B;
} mlp_gc_ctx;

/* L = Σ mlp(x) · wout over the batch. */
static double mlp_loss(void *p) {
    const mlp_gc_ctx *c = p;
    const float *y = mlp_forward(c->m, c->x, c->B);
    double s = 0;
    for (int i = 0; i < c->B * c->m->sizes[c->m->nlayers]; i++) s += (double)y[i] * c->wout[i];
    return s;
}

/* Every parameter and input of a small MLP against central differences (tests/gradcheck.h),
 * for each smooth activation. */
static void test_mlp_gradcheck(void) {
    /* ReLU and LeakyReLU are left out: random pre-activations near the kink defeat finite
     * differences; their own check is in test_nn.c. */
    const act_kind acts[] = {ACT_TANH, ACT_GELU, ACT_SIGMOID, ACT_GAUSSIAN};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        int sizes[4] = {5, 7, 6, 3};
        act_kind ak[3] = {acts[a], acts[a], ACT_IDENTITY};
        rng_t r;
        rng_init(&r, 42, a);
        mlp_t m;
        mlp_init(&m, 3, sizes, ak, NULL, NULL, &r);
        const int B = 4;
        float x[20], wout[12], dx[20] = {0};
        rng_fill_normal(&r, x, 20, 0, 1);
        rng_fill_normal(&r, wout, 12, 0, 1);
        memset(m.grads, 0, sizeof(float) * (size_t)m.nparams);
        mlp_gc_ctx c = {&m, x, wout, B};
        mlp_loss(&c);
        mlp_backward(&m, wout, dx, B);
        gc_opts o = GC_DEFAULTS;
        o.eps = 1e-2;   /* not 1e-3: a larger step keeps the float32 forward's rounding out of
                           the difference; the O(L‴·e²) truncation stays ~1e-5 here */
        char what[64];
        snprintf(what, sizeof what, "mlp %s params", act_name(acts[a]));
        gradcheck(what, mlp_loss, &c, m.params, m.nparams, m.grads, o);
        snprintf(what, sizeof what, "mlp %s input", act_name(acts[a]));
        gradcheck(what, mlp_loss, &c, x, 20, dx, o);
        mlp_free(&m);
    }
}


static void test_finetune_learns_mnist(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "mnist_fashion", "benchmark.blocks", "1", "benchmark.block_size", "3",
             "train.lr", "0.1", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status %s: %s", run_status_name(r.status), r.message);
    if (r.R) {
        printf("#   MNIST after 3 epochs: %.4f (chance 0.1)\n", r.R[0]);
        CHECK(r.R[0] > 0.9, "MNIST accuracy %.4f", r.R[0]);
        CHECK(r.R0[0] < 0.3, "untrained accuracy %.4f should be near chance", r.R0[0]);
    }
    result_free(&r);
}

static void test_finetune_forgets_class_incremental(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "split_mnist", "benchmark.scenario", "class",
             "benchmark.train_per_task", "1000", "benchmark.test_per_task", "400", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status %s", run_status_name(r.status));
    if (r.R) {
        float first = r.R[0], last = r.R[4 * 5 + 0];
        printf("#   class-IL task 0: %.4f after training, %.4f after task 4\n", first, last);
        CHECK(first > 0.95 && last < 0.5 * first, "task 0 %.4f → %.4f: no marked drop", first, last);
        CHECK(r.forgetting > 0.5, "forgetting %.4f", r.forgetting);
    }
    result_free(&r);
}

/* Task-incremental Split-MNIST, SGD lr 0.1, 5 epochs per task: EWC (λ = 1000) forgets
 * measurably less than finetune on the same stream and seed. */
static void test_ewc_forgets_less(void) {
    REQUIRE_DATA(DATA_MNIST);
    double fgt[2];
    for (int k = 0; k < 2; k++) {
        run_config c;
        run_result r;
        make_cfg(&c, k ? "ewc" : "finetune", "split_mnist", "benchmark.train_per_task", "1000",
                 "benchmark.test_per_task", "400", "benchmark.block_size", "5",
                 "train.optimizer", "sgd", "train.lr", "0.1", "ewc.lambda", "1000", NULL);
        run_cfg(&r, &c);
        CHECK(r.status == RUN_STATUS_OK, "status %s: %s", run_status_name(r.status), r.message);
        fgt[k] = r.forgetting;
        result_free(&r);
    }
    printf("#   task-IL forgetting: finetune %.4f, ewc %.4f\n", fgt[0], fgt[1]);
    CHECK(fgt[0] > 0.02, "finetune forgetting %.4f should be visible", fgt[0]);
    CHECK(fgt[1] < 0.75 * fgt[0], "ewc %.4f vs finetune %.4f", fgt[1], fgt[0]);
}

static void test_determinism(void) {
    const char *models[2] = {"finetune", "ewc"};
    for (int k = 0; k < 2; k++) {
        run_result r[3];
        for (int i = 0; i < 3; i++) {
            run_config c;
            make_cfg(&c, models[k], "teacher_student", "benchmark.blocks", "3",
                     "benchmark.block_size", "50", "benchmark.batch", "20", "mlp.hidden", "[16]",
                     "seed", i < 2 ? "7" : "8", NULL);
            run_cfg(&r[i], &c);
        }
        size_t n = sizeof(float) * (size_t)r[0].nstages * (size_t)r[0].ntasks;
        CHECK(r[0].R && r[1].R && !memcmp(r[0].R, r[1].R, n), "%s: same seed, different R", models[k]);
        CHECK(r[2].R && memcmp(r[0].R, r[2].R, n), "%s: different seeds, identical R", models[k]);
        for (int i = 0; i < 3; i++) result_free(&r[i]);
    }
}

static void test_determinism_split_mnist(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_result r[2];
    for (int i = 0; i < 2; i++) {
        run_config c;
        make_cfg(&c, "ewc", "split_mnist", "benchmark.train_per_task", "300",
                 "benchmark.test_per_task", "200", NULL);
        run_cfg(&r[i], &c);
    }
    CHECK(r[0].R && r[1].R && !memcmp(r[0].R, r[1].R, sizeof(float) * 25),
          "split_mnist: same seed, different R");
    for (int i = 0; i < 2; i++) result_free(&r[i]);
}

static void test_teacher_student_learns(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "teacher_student", "benchmark.blocks", "2", "benchmark.block_size", "300",
             "mlp.hidden", "[64]", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status");
    if (r.R) {
        printf("#   teacher 0 loss %.4f → %.4f; teacher 1 after block 1 %.4f\n", r.R0[0], r.R[0], r.R[3]);
        CHECK(r.R[0] < 0.25 * r.R0[0], "loss on teacher 0 should fall: %.4f → %.4f", r.R0[0], r.R[0]);
        CHECK(r.R[2] > 2 * r.R[0], "finetune forgets teacher 0 after training teacher 1");
    }
    result_free(&r);
}

static void test_curves_autoencoder(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "curves3d", "benchmark.blocks", "2", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status");
    if (r.R) {
        printf("#   curves3d MLP autoencoder: T0 %.5f after T0, T1 %.5f after T1\n", r.R[0], r.R[1 * 5 + 1]);
        CHECK(r.R[0] < 0.02 && r.R[6] < 0.02, "reconstruction MSE too high");
        CHECK(r.higher_is_better == 0 && !strcmp(r.metric, "mse"), "metric");
    }
    result_free(&r);
}

static void test_divergence_is_a_status(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "teacher_student", "benchmark.blocks", "2", "benchmark.block_size", "50",
             "train.lr", "1000000", "mlp.hidden", "[16]", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_DIVERGED, "status %s", run_status_name(r.status));
    CHECK(strstr(r.message, "non-finite") != NULL, "message '%s'", r.message);
    result_free(&r);
}

static void test_missing_data_is_a_failure(void) {
    const char *prev = getenv("CLSWEEP_DATA");
    char *saved = prev ? strdup(prev) : NULL;   /* restored below: later cases see the caller's */
    setenv("CLSWEEP_DATA", "/nonexistent-clsweep", 1);
    data_cache_free();
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "split_mnist", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_FAILED, "status %s", run_status_name(r.status));
    CHECK(strstr(r.message, "make data") != NULL, "message should name the set-up command: '%s'", r.message);
    result_free(&r);
    if (saved) setenv("CLSWEEP_DATA", saved, 1);
    else unsetenv("CLSWEEP_DATA");
    free(saved);
    data_cache_free();
}

int main(void) {
    RUN_TEST(test_mlp_gradcheck);
    RUN_TEST(test_finetune_learns_mnist);
    RUN_TEST(test_finetune_forgets_class_incremental);
    RUN_TEST(test_ewc_forgets_less);
    RUN_TEST(test_determinism);
    RUN_TEST(test_determinism_split_mnist);
    RUN_TEST(test_teacher_student_learns);
    RUN_TEST(test_curves_autoencoder);
    RUN_TEST(test_divergence_is_a_status);
    RUN_TEST(test_missing_data_is_a_failure);
    data_cache_free();
    TEST_EXIT();
}
