/* test_baselines.c — the continual-learning baselines si, mas, lwf, er, agem, derpp, joint:
 * finite-difference checks of their gradient terms (tests/gradcheck.h), the reservoir
 * buffer and A-GEM's projection, that each model learns, their characteristic behaviour on
 * tiny Split-MNIST streams, and the domain scenario and rotated_mnist benchmark. Data tests
 * SKIP when MNIST is absent. */
#include <math.h>
#include <string.h>

#include "clbase.h"
#include "data.h"
#include "gradcheck.h"
#include "mlp.h"
#include "model.h"
#include "replay.h"
#include "test.h"
#include "test_run.h"
#include "util.h"

static int have_mnist(void) { return data_get(DATA_MNIST, 1) != NULL; }

/* ---- gradient checks ---- */

typedef struct {
    const float *omega, *anchor;
    float *theta;
    long n;
    float c;
} quad_ctx;

static double quad_loss(void *p) {
    quad_ctx *q = p;
    return quad_penalty(q->omega, q->theta, q->anchor, q->n, q->c);
}

/* SI's and MAS's penalty c·Σ Ω(θ − θ*)². */
static void test_gradcheck_quad_penalty(void) {
    enum { N = 40 };
    float omega[N], theta[N], anchor[N], g[N] = {0};
    rng_t r;
    rng_init(&r, 5, 1);
    rng_fill_uniform(&r, omega, N, 0, 2);
    rng_fill_normal(&r, theta, N, 0, 1);
    rng_fill_normal(&r, anchor, N, 0, 1);
    quad_ctx q = {omega, anchor, theta, N, 3.5f};
    quad_penalty_grad(g, omega, theta, anchor, N, 3.5f);
    gradcheck("quad penalty dθ", quad_loss, &q, theta, N, g, (gc_opts)GC_DEFAULTS);
}

typedef struct {
    float *s;
    const float *t;
    const int *mask;
    float T;
    int B, C;
} kd_ctx;

static double kd_loss(void *p) {
    kd_ctx *k = p;
    return kd_soft_forward(k->s, k->t, k->mask, k->T, k->B, k->C);
}

/* LwF's distillation term, all classes and a head mask, two temperatures. */
static void test_gradcheck_kd(void) {
    enum { B = 4, C = 6 };
    const int mask[C] = {0, 1, 1, 0, 1, 0};
    for (int v = 0; v < 4; v++) {
        float s[B * C], t[B * C], g[B * C] = {0};
        rng_t r;
        rng_init(&r, 11, (uint64_t)v);
        rng_fill_normal(&r, s, B * C, 0, 2);
        rng_fill_normal(&r, t, B * C, 0, 2);
        kd_ctx k = {s, t, (v & 1) ? mask : NULL, (v & 2) ? 2.0f : 1.0f, B, C};
        kd_soft_backward(g, s, t, k.mask, k.T, 1.0f, B, C);
        char what[64];
        snprintf(what, sizeof what, "LwF KD dstudent (mask %d, T %g)", v & 1, k.T);
        gradcheck(what, kd_loss, &k, s, B * C, g, (gc_opts)GC_DEFAULTS);
        if (v == 0) {   /* KD of identical logits is the teacher's entropy: minimal, zero gradient */
            float z[B * C] = {0};
            kd_soft_backward(z, t, t, NULL, 1.0f, 1.0f, B, C);
            double mx = 0;
            for (int i = 0; i < B * C; i++) mx = fmax(mx, fabs(z[i]));
            CHECK(mx < 1e-6, "KD gradient at student == teacher: %g", mx);
        }
    }
}

typedef struct {
    mlp_t *net;
    const float *x1, *z1, *x2;
    const int *y2;
    int B;
    float alpha, beta;
} derpp_ctx;

/* DER++'s buffer loss α·MSE(f(x'), z') + β·CE(f(x''), y''); gradient into net->grads if g. */
static double derpp_loss_grad(derpp_ctx *d, int grad) {
    int C = d->net->sizes[d->net->nlayers];
    float dout[4 * 3] = {0}, probs[4 * 3];
    const float *o = mlp_forward(d->net, d->x1, d->B);
    double l = d->alpha * mse_forward(o, d->z1, d->B, C, 0);
    if (grad) {
        mse_backward(dout, o, d->z1, d->alpha, d->B, C, 0);
        mlp_backward(d->net, dout, NULL, d->B);
        memset(dout, 0, sizeof dout);
    }
    o = mlp_forward(d->net, d->x2, d->B);
    l += d->beta * softmax_xent_forward(probs, o, d->y2, NULL, d->B, C);
    if (grad) {
        softmax_xent_backward(dout, probs, d->y2, NULL, d->beta, d->B, C);
        mlp_backward(d->net, dout, NULL, d->B);
    }
    return l;
}

static double derpp_loss(void *p) { return derpp_loss_grad(p, 0); }

static void test_gradcheck_derpp(void) {
    int sizes[3] = {5, 7, 3};
    act_kind acts[2] = {ACT_TANH, ACT_IDENTITY};
    rng_t r;
    rng_init(&r, 21, 1);
    mlp_t net;
    mlp_init(&net, 2, sizes, acts, NULL, NULL, &r);
    float x1[20], z1[12], x2[20];
    int y2[4] = {0, 2, 1, 2};
    rng_fill_normal(&r, x1, 20, 0, 1);
    rng_fill_normal(&r, z1, 12, 0, 1);
    rng_fill_normal(&r, x2, 20, 0, 1);
    derpp_ctx d = {&net, x1, z1, x2, y2, 4, 0.7f, 0.4f};
    memset(net.grads, 0, sizeof(float) * (size_t)net.nparams);
    derpp_loss_grad(&d, 1);
    float *g = xmalloc(sizeof(float) * (size_t)net.nparams);
    memcpy(g, net.grads, sizeof(float) * (size_t)net.nparams);
    gradcheck("DER++ buffer loss dθ", derpp_loss, &d, net.params, net.nparams, g,
              (gc_opts)GC_DEFAULTS);
    free(g);
    mlp_free(&net);
}

/* ---- buffer and projection ---- */

static void test_reservoir(void) {
    enum { CAP = 50, N = 2000, REPS = 200 };
    long hits[N / 100] = {0};
    for (int rep = 0; rep < REPS; rep++) {
        replay_buf b;
        replay_init(&b, CAP, 1, 0, (uint64_t)rep, 4);
        for (int i = 0; i < N; i++) {
            float x = (float)i;
            replay_offer(&b, &x, i % 10, i / 400, NULL);
        }
        CHECK(b.size == CAP && b.seen == N, "size %d seen %ld", b.size, b.seen);
        for (int k = 0; k < CAP; k++) hits[(int)b.x[k] / 100]++;
        int idx[CAP];
        rng_t g;
        rng_init(&g, 1, (uint64_t)rep);
        int n = replay_sample(&b, &g, 20, idx);
        CHECK(n == 20, "sampled %d", n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) CHECK(idx[i] != idx[j], "slot drawn twice");
        replay_free(&b);
    }
    /* Uniform over the stream: each block of 100 examples holds CAP/20 = 2.5 per buffer. */
    double expect = (double)REPS * CAP / (N / 100);
    for (int k = 0; k < N / 100; k++)
        CHECK(fabs(hits[k] - expect) < 0.25 * expect, "block %d: %ld of expected %.0f", k,
              hits[k], expect);
    replay_buf a, b2;
    replay_init(&a, 10, 1, 0, 7, 4);
    replay_init(&b2, 10, 1, 0, 7, 4);
    for (int i = 0; i < 500; i++) {
        float x = (float)i;
        CHECK(replay_offer(&a, &x, 0, 0, NULL) == replay_offer(&b2, &x, 0, 0, NULL),
              "same seed, different reservoir decision at %d", i);
    }
    replay_free(&a);
    replay_free(&b2);
}

static void test_agem_projection(void) {
    enum { N = 300 };
    for (int rep = 0; rep < 50; rep++) {
        float g[N], gr[N], g0[N];
        rng_t r;
        rng_init(&r, 3, (uint64_t)rep);
        rng_fill_normal(&r, g, N, 0, 1);
        rng_fill_normal(&r, gr, N, 0, 1);
        memcpy(g0, g, sizeof g);
        double before = agem_project(g, gr, N), after = 0, nn = 0, nr = 0;
        for (int i = 0; i < N; i++) {
            after += (double)g[i] * gr[i];
            nn += (double)g[i] * g[i];
            nr += (double)gr[i] * gr[i];
        }
        if (before >= 0) CHECK(!memcmp(g, g0, sizeof g), "g changed although gᵀg_ref >= 0");
        else CHECK(fabs(after) <= 1e-5 * sqrt(nn * nr), "after projection gᵀg_ref = %g", after);
    }
}

/* ---- whole runs on tiny Split-MNIST streams ---- */

static const char *const NEW_MODELS[] = {"si", "mas", "lwf", "er", "agem", "derpp", "joint"};
#define NNEW (int)(sizeof NEW_MODELS / sizeof NEW_MODELS[0])

/* Runs model on split_mnist (scenario) with a tiny budget; returns ACC (NaN on failure). */
static double run_split(const char *model, const char *scenario, run_result *keep, const char *k1,
                        const char *v1, const char *k2, const char *v2) {
    run_config c;
    run_result r;
    make_cfg(&c, model, "split_mnist", "benchmark.scenario", scenario,
             "benchmark.train_per_task", "500", "benchmark.test_per_task", "300",
             "benchmark.block_size", "5", "train.optimizer", "adam", "train.lr", "0.001",
             k1 ? k1 : "seed", k1 ? v1 : "0", k2 ? k2 : "seed", k2 ? v2 : "0", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "%s %s: status %s: %s", model, scenario,
          run_status_name(r.status), r.message);
    double acc = r.status == RUN_STATUS_OK ? r.acc : NAN;
    if (keep) *keep = r;
    else result_free(&r);
    return acc;
}

/* Every new model learns task-incremental Split-MNIST (chance 0.5 per task). */
static void test_each_learns(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    for (int i = 0; i < NNEW; i++) {
        run_result r;
        run_split(NEW_MODELS[i], "task", &r, NULL, NULL, NULL, NULL);
        if (r.R) {
            double diag = 0;
            for (int t = 0; t < 5; t++) diag += r.R[t * 5 + t] / 5;
            printf("#   %-6s task-IL: mean accuracy right after training %.4f, final ACC %.4f\n",
                   NEW_MODELS[i], diag, r.acc);
            CHECK(diag > 0.9 && r.acc > 0.85, "%s: diag %.4f acc %.4f", NEW_MODELS[i], diag, r.acc);
        }
        result_free(&r);
    }
}

/* With its penalty off, si is finetune bit for bit (same network, streams and steps). */
static void test_si_zero_is_finetune(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    run_result a, b;
    run_split("finetune", "task", &a, NULL, NULL, NULL, NULL);
    run_split("si", "task", &b, "si.c", "0", NULL, NULL);
    CHECK(a.R && b.R && !memcmp(a.R, b.R, sizeof(float) * 25), "si.c = 0 differs from finetune");
    result_free(&a);
    result_free(&b);
}

/* Class-incremental: er beats finetune; joint is at least as good as every model. The buffer
 * holds 100 examples (4 % of the 2,500 training examples, as van de Ven et al.'s 100 per class
 * are a small fraction of MNIST): with a buffer near the data size, a rehearsal method sees up
 * to three times joint's examples per step at the same number of steps. */
static void test_class_incremental_ordering(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    static const char *const all[] = {"finetune", "ewc", "si", "mas", "lwf", "er", "agem", "derpp", "joint"};
    double acc[9];
    for (int i = 0; i < 9; i++) {
        acc[i] = run_split(all[i], "class", NULL, "replay.buffer_size", "100", NULL, NULL);
        printf("#   class-IL ACC %-8s %.4f\n", all[i], acc[i]);
    }
    CHECK(acc[5] > acc[0] + 0.2, "er %.4f vs finetune %.4f", acc[5], acc[0]);
    for (int i = 0; i < 8; i++)
        CHECK(acc[8] >= acc[i], "joint %.4f < %s %.4f", acc[8], all[i], acc[i]);
}

/* Task-incremental: the regularisation/distillation methods forget less than finetune. */
static void test_task_incremental_forgetting(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    static const char *const m[4] = {"finetune", "si", "mas", "lwf"};
    static const char *const key[4] = {NULL, "si.c", "mas.lambda", "lwf.alpha"};
    static const char *const val[4] = {NULL, "10", "1", "1"};
    double f[4];
    for (int i = 0; i < 4; i++) {
        run_result r;
        run_split(m[i], "task", &r, key[i], val[i], NULL, NULL);
        f[i] = r.forgetting;
        printf("#   task-IL forgetting %-8s %.4f (ACC %.4f)\n", m[i], f[i], r.acc);
        result_free(&r);
    }
    CHECK(f[0] > 0.01, "finetune forgetting %.4f should be visible", f[0]);
    for (int i = 1; i < 4; i++) CHECK(f[i] < 0.75 * f[0], "%s %.4f vs finetune %.4f", m[i], f[i], f[0]);
}

/* A-GEM on real batches: every projected step leaves gᵀg_ref >= 0 (cosine recorded per run),
 * and projections do happen in class-incremental learning. */
static void test_agem_real_batches(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    run_result r;
    run_split("agem", "class", &r, NULL, NULL, NULL, NULL);
    const result_extra *p = result_find(&r, "agem_projected"), *c = result_find(&r, "agem_min_cos");
    CHECK(p && c, "agem extras missing");
    if (p && c) {
        printf("#   agem: %.1f%% of steps projected, min cos(g, g_ref) after %.2e\n",
               100 * p->data[0], c->data[0]);
        CHECK(p->data[0] > 0.01, "no projection happened (%g)", p->data[0]);
        CHECK(c->data[0] >= -1e-5, "projected gradient against the memory: cos %g", c->data[0]);
    }
    result_free(&r);
}

static void test_determinism_and_kinds(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    const char *m[3] = {"derpp", "er", "lwf"};
    for (int i = 0; i < 3; i++) {
        run_result a, b;
        run_split(m[i], "class", &a, "seed", "3", NULL, NULL);
        run_split(m[i], "class", &b, "seed", "3", NULL, NULL);
        CHECK(a.R && b.R && !memcmp(a.R, b.R, sizeof(float) * 25), "%s: same seed, different R", m[i]);
        result_free(&a);
        result_free(&b);
    }
    run_config c;
    run_result r;
    make_cfg(&c, "lwf", "teacher_student", "benchmark.blocks", "2", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_UNSUPPORTED, "lwf on regression: %s", run_status_name(r.status));
    result_free(&r);
}

/* Regression and reconstruction (si, mas, joint): with its penalty off si is finetune bit for
 * bit on both kinds; on teacher_student joint ends with a lower MSE than finetune and MAS
 * forgets less. */
static void test_other_kinds(void) {
    static const char *const bn[2] = {"teacher_student", "curves3d"};
    for (int k = 0; k < 2; k++) {
        run_result r[4];
        static const char *const m[4] = {"finetune", "si", "mas", "joint"};
        for (int i = 0; i < 4; i++) {
            run_config c;
            make_cfg(&c, m[i], bn[k], "benchmark.blocks", "4", "benchmark.block_size", "60",
                     "si.c", "0", "mas.lambda", "1", "mas.samples", "100", NULL);
            run_cfg(&r[i], &c);
            CHECK(r[i].status == RUN_STATUS_OK, "%s %s: %s", m[i], bn[k], r[i].message);
            printf("#   %-15s %-8s final MSE %.5f forgetting %.5f\n", bn[k], m[i], r[i].acc,
                   r[i].forgetting);
        }
        int n = r[0].nstages * r[0].ntasks;
        CHECK(r[0].R && r[1].R && !memcmp(r[0].R, r[1].R, sizeof(float) * (size_t)n),
              "%s: si.c = 0 differs from finetune", bn[k]);
        CHECK(r[3].R && r[3].R[0] == r[0].R[0], "%s: joint's first stage is not finetune's", bn[k]);
        if (k == 0) {
            CHECK(r[3].acc < r[0].acc, "joint MSE %.4f vs finetune %.4f", r[3].acc, r[0].acc);
            CHECK(r[2].forgetting < r[0].forgetting, "mas forgetting %.4f vs finetune %.4f",
                  r[2].forgetting, r[0].forgetting);
        }
        for (int i = 0; i < 4; i++) result_free(&r[i]);
    }
}

/* Domain scenario: one 2-way head, labels the class within the task; every new model runs it. */
static void test_domain_scenario(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    run_config c;
    make_cfg(&c, "finetune", "split_mnist", "benchmark.scenario", "domain",
             "benchmark.train_per_task", "100", "benchmark.test_per_task", "50", NULL);
    bench_t b;
    CHECK(bench_init(&b, &c, 0) == 0, "bench_init: %s", cls_geterr());
    CHECK(b.out_dim == 2 && b.ntasks == 5, "out_dim %d ntasks %d", b.out_dim, b.ntasks);
    for (int k = 0; k < b.ntasks; k++) {
        CHECK(!b.tasks[k].class_mask, "task %d has a head mask", k);
        int ok = 1, n1 = 0;
        for (int i = 0; i < b.tasks[k].n_train; i++) {
            ok &= b.tasks[k].y_train[i] == 0 || b.tasks[k].y_train[i] == 1;
            n1 += b.tasks[k].y_train[i];
        }
        CHECK(ok && n1 > 20 && n1 < 80, "task %d: labels not 0/1 or unbalanced (%d ones)", k, n1);
    }
    bench_free(&b);
    cfg_free(&c);
    for (int i = 0; i < NNEW; i++) {
        double a = run_split(NEW_MODELS[i], "domain", NULL, NULL, NULL, NULL, NULL);
        CHECK(a > 0.55, "%s domain-IL ACC %.4f (chance 0.5)", NEW_MODELS[i], a);
    }
}

/* rotated_mnist: task 1 of a 2-task stream at 180° holds digits turned upside down: its mean
 * image matches task 0's mean image rotated by 180° far better than unrotated. */
static void test_rotated_mnist(void) {
    if (!have_mnist()) SKIP("MNIST not present (make data)");
    run_config c;
    make_cfg(&c, "finetune", "rotated_mnist", "benchmark.tasks", "2", "benchmark.max_angle", "180",
             "benchmark.train_per_task", "2000", "benchmark.test_per_task", "10", NULL);
    bench_t b;
    CHECK(bench_init(&b, &c, 0) == 0, "bench_init: %s", cls_geterr());
    CHECK(b.ntasks == 2 && b.out_dim == 10, "shape");
    double m0[784] = {0}, m1[784] = {0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < b.tasks[k].n_train; i++)
            for (int p = 0; p < 784; p++)
                (k ? m1 : m0)[p] += b.tasks[k].x_train[(size_t)i * 784 + p] / b.tasks[k].n_train;
    double d_rot = 0, d_id = 0;
    for (int p = 0; p < 784; p++) {
        d_rot += fabs(m1[p] - m0[783 - p]);
        d_id += fabs(m1[p] - m0[p]);
    }
    printf("#   rotated_mnist: |mean1 - rot180(mean0)| %.2f, |mean1 - mean0| %.2f\n", d_rot, d_id);
    CHECK(d_rot < 0.3 * d_id, "task 1 does not look rotated by 180°");
    bench_free(&b);
    cfg_free(&c);
}

int main(void) {
    RUN_TEST(test_gradcheck_quad_penalty);
    RUN_TEST(test_gradcheck_kd);
    RUN_TEST(test_gradcheck_derpp);
    RUN_TEST(test_reservoir);
    RUN_TEST(test_agem_projection);
    RUN_TEST(test_each_learns);
    RUN_TEST(test_si_zero_is_finetune);
    RUN_TEST(test_class_incremental_ordering);
    RUN_TEST(test_task_incremental_forgetting);
    RUN_TEST(test_agem_real_batches);
    RUN_TEST(test_determinism_and_kinds);
    RUN_TEST(test_other_kinds);
    RUN_TEST(test_domain_scenario);
    RUN_TEST(test_rotated_mnist);
    TEST_EXIT();
}
