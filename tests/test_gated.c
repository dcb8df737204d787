/* test_gated.c — the gated linear network of docs/spec.md §4.4: its layer and gate regulariser
 * against naive references and central finite differences, the full loss gradient (W and c,
 * regulariser included), the flexible regime against the forgetful control on the
 * teacher-student stream, determinism, divergence as a status, and classification. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "data.h"
#include "analysis_mpi.h"
#include "model.h"
#include "nn.h"
#include "rng.h"
#include "gradcheck.h"
#include "test.h"
#include "test_run.h"
#include "util.h"

/* Gradient checks: tests/gradcheck.h. The losses are float32 forwards, so the steps are wider
 * than the default 1e-3 (1e-2 for the layer and the regulariser, 2e-2 for the full loss):
 * float rounding of L stays out of the differences; the gates sit ≥ 0.3 from the
 * regulariser's kinks at 0, far beyond the step. */
static gc_opts gated_gc(double eps) {
    gc_opts o = GC_DEFAULTS;
    o.eps = eps;
    return o;
}

/* ---- layer: forward against a double reference, backward against finite differences ---- */

enum { GB = 5, GP = 3, GI = 6, GO = 4 };

typedef struct {
    float inp[GB * GI], w[GP * GO * GI], c[GP], wts[GB * GO];
    float out[GB * GO], weff[GO * GI], g[GO * GI];
} glayer;

static double glayer_objective(glayer *L) {
    gated_linear_forward(L->out, L->weff, L->inp, L->w, L->c, GB, GP, GI, GO);
    double s = 0;
    for (int i = 0; i < GB * GO; i++) s += (double)L->out[i] * L->wts[i];
    return s;
}

static double glayer_loss(void *p) { return glayer_objective(p); }

static void test_gated_linear_forward(void) {
    glayer L;
    rng_t r;
    rng_init(&r, 11, 0);
    rng_fill_normal(&r, L.inp, GB * GI, 0, 1);
    rng_fill_normal(&r, L.w, GP * GO * GI, 0, 1);
    rng_fill_normal(&r, L.c, GP, 0, 1);
    gated_linear_forward(L.out, L.weff, L.inp, L.w, L.c, GB, GP, GI, GO);
    double maxd = 0;
    for (int b = 0; b < GB; b++)
        for (int o = 0; o < GO; o++) {
            double ref = 0;
            for (int p = 0; p < GP; p++)
                for (int i = 0; i < GI; i++)
                    ref += (double)L.c[p] * L.w[(p * GO + o) * GI + i] * L.inp[b * GI + i];
            maxd = fmax(maxd, fabs(ref - L.out[b * GO + o]));
        }
    printf("#   gated_linear forward max |diff| vs double reference %.2e\n", maxd);
    CHECK(maxd < 1e-5, "forward differs by %g", maxd);
}

static void test_gated_linear_gradcheck(void) {
    glayer L;
    rng_t r;
    rng_init(&r, 12, 0);
    rng_fill_normal(&r, L.inp, GB * GI, 0, 1);
    rng_fill_normal(&r, L.w, GP * GO * GI, 0, 1);
    rng_fill_normal(&r, L.c, GP, 0, 1);
    rng_fill_normal(&r, L.wts, GB * GO, 0, 1);
    float dinp[GB * GI] = {0}, dw[GP * GO * GI] = {0}, dc[GP] = {0};
    glayer_objective(&L);
    /* twice: backward must accumulate, so the analytic gradient is half the buffer */
    for (int k = 0; k < 2; k++)
        gated_linear_backward(dinp, dw, dc, L.g, L.wts, L.inp, L.w, L.c, L.weff, GB, GP, GI, GO);
    float *params[3] = {L.inp, L.w, L.c}, *grads[3] = {dinp, dw, dc};
    int counts[3] = {GB * GI, GP * GO * GI, GP};
    const char *names[3] = {"gated_linear dinp", "gated_linear dw", "gated_linear dc"};
    for (int t = 0; t < 3; t++) {
        float half[GP * GO * GI];
        for (int i = 0; i < counts[t]; i++) half[i] = 0.5f * grads[t][i];
        gradcheck(names[t], glayer_loss, &L, params[t], counts[t], half, gated_gc(1e-2));
    }
}

/* ---- gate regulariser ---- */

typedef struct {
    float *c;
    float scale, a, b;
} reg_ctx;

static double reg_loss(void *p) {
    const reg_ctx *r = p;
    return r->scale * (double)gate_reg_forward(r->c, 3, r->a, r->b);
}

static void test_gate_reg(void) {
    /* value: c = (0.8, −0.3, 0.45): R_nonneg = 10·0.3 = 3, ‖c‖₁ = 1.55, R_L1 = 5·0.55² */
    float c[3] = {0.8f, -0.3f, 0.45f};
    double rn = 3.0, rl = 5.0 * 0.55 * 0.55;
    CHECK_NEAR(gate_reg_forward(c, 3, 1, 10), (rn + 10 * rl) / 11, 1e-5, "R(1:10)");
    CHECK_NEAR(gate_reg_forward(c, 3, 1, 0), rn, 1e-5, "R_nonneg");
    CHECK_NEAR(gate_reg_forward(c, 3, 0, 1), rl, 1e-5, "R_L1");
    float on[2] = {0.3f, 0.7f};
    CHECK_NEAR(gate_reg_forward(on, 2, 1, 10), 0.0, 1e-7, "zero on the simplex");
    CHECK_NEAR(gate_reg_forward(c, 3, 1, 5), (rn + 5 * rl) / 6, 1e-5, "R(1:5)");
    const float ab[4][2] = {{1, 10}, {1, 5}, {1, 0}, {0, 1}};
    for (int k = 0; k < 4; k++) {
        float dc[3] = {0, 0, 0};
        const float scale = 0.7f;
        gate_reg_backward(dc, c, scale, 3, ab[k][0], ab[k][1]);
        reg_ctx rc = {c, scale, ab[k][0], ab[k][1]};
        char what[64];
        snprintf(what, sizeof what, "gate_reg (a=%g, b=%g) dc", ab[k][0], ab[k][1]);
        gradcheck(what, reg_loss, &rc, c, 3, dc, gated_gc(1e-2));
    }
}

/* ---- the model's full loss: data term + s·R(c), gradient w.r.t. W and c ---- */

enum { LB = 6, LP = 3, LI = 5, LO = 4 };

typedef struct {
    int cls;
    float s, l1w;   /* strength, gated.l1_weight */
    float x[LB * LI], y[LB * LO], params[LP * LO * LI + LP];
    int labels[LB], mask[LO];
    float out[LB * LO], probs[LB * LO], dout[LB * LO], weff[LO * LI], g[LO * LI];
} gloss;

/* Exactly the composition gated.c trains with. */
static double gloss_value(gloss *L) {
    const float *W = L->params, *c = L->params + LP * LO * LI;
    gated_linear_forward(L->out, L->weff, L->x, W, c, LB, LP, LI, LO);
    double data = L->cls ? softmax_xent_forward(L->probs, L->out, L->labels, L->mask, LB, LO)
                         : mse_forward(L->out, L->y, LB, LO, 1);
    return data + (double)L->s * gate_reg_forward(c, LP, 1, L->l1w);
}

static double gloss_loss(void *p) { return gloss_value(p); }

static void gloss_grad(gloss *L, float *grad) {
    const float *W = L->params, *c = L->params + LP * LO * LI;
    gloss_value(L);
    memset(L->dout, 0, sizeof L->dout);
    if (L->cls) softmax_xent_backward(L->dout, L->probs, L->labels, L->mask, 1.0f, LB, LO);
    else mse_backward(L->dout, L->out, L->y, 1.0f, LB, LO, 1);
    gated_linear_backward(NULL, grad, grad + LP * LO * LI, L->g, L->dout, L->x, W, c, L->weff,
                          LB, LP, LI, LO);
    gate_reg_backward(grad + LP * LO * LI, c, L->s, LP, 1, L->l1w);
}

/* Every gated.l1_weight in use: 10 (authors' default) and 5 (their hyper-parameter figure). */
static void test_gated_loss_gradcheck(void) {
    static const float l1ws[2] = {10.0f, 5.0f};
    for (int cls = 0; cls < 2; cls++)
    for (int lw = 0; lw < 2; lw++) {
        gloss L;
        memset(&L, 0, sizeof L);
        L.cls = cls;
        L.s = 0.7f;
        L.l1w = l1ws[lw];
        rng_t r;
        rng_init(&r, 13, (uint64_t)cls);
        rng_fill_normal(&r, L.x, LB * LI, 0, 1);
        rng_fill_normal(&r, L.y, LB * LO, 0, 1);
        rng_fill_normal(&r, L.params, LP * LO * LI, 0, 0.5f);
        float *c = L.params + LP * LO * LI;
        c[0] = 0.8f, c[1] = -0.3f, c[2] = 0.45f;   /* one negative gate: both terms active */
        for (int i = 0; i < LB; i++) L.labels[i] = i % 3;
        for (int o = 0; o < LO; o++) L.mask[o] = o < 3;   /* a masked (task-incremental) head */
        float grad[LP * LO * LI + LP] = {0};
        gloss_grad(&L, grad);
        const char *kind = cls ? "cross-entropy" : "half-MSE";
        char what[64];
        snprintf(what, sizeof what, "gated loss (%s + s*R, l1 %g) dW", kind, (double)L.l1w);
        gradcheck(what, gloss_loss, &L, L.params, LP * LO * LI, grad, gated_gc(2e-2));
        snprintf(what, sizeof what, "gated loss (%s + s*R, l1 %g) dc", kind, (double)L.l1w);
        gradcheck(what, gloss_loss, &L, c, LP, grad + LP * LO * LI, gated_gc(2e-2));
    }
}

/* ---- behaviour on the teacher-student stream ---- */

static const double *extra(const run_result *r, const char *name) {
    const result_extra *x = result_find(r, name);
    return x ? x->data : NULL;
}

static double scalar(const run_result *r, const char *name) {
    const double *d = extra(r, name);
    return d ? d[0] : NAN;
}

static double mean_range(const double *a, int lo, int hi) {
    double s = 0;
    for (int i = lo; i < hi; i++) s += a[i];
    return s / (hi - lo);
}

/* Default flexible setting (τ_w/τ_c ≈ 43, s = 0.1) against the forgetful control
 * (τ_c = τ_w, s = 0), 10 blocks of 1000 steps, same seed and stream. */
static void test_flexible_vs_forgetful(void) {
    run_result r[2];
    for (int k = 0; k < 2; k++) {
        run_config c;
        if (k == 0)
            make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "10", "seed", "1", NULL);
        else
            make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "10", "seed", "1",
                     "gated.tau_ratio", "1", "gated.strength", "0", NULL);
        run_cfg(&r[k], &c);
        CHECK(r[k].status == RUN_STATUS_OK, "status %s: %s", run_status_name(r[k].status), r[k].message);
    }
    if (r[0].status || r[1].status) goto done;
    const int S = 10;
    double spec[2], late_sw[2];
    for (int k = 0; k < 2; k++) {
        const double *sw = extra(&r[k], "switch_time"), *sl = extra(&r[k], "block_loss");
        const double *g = extra(&r[k], "gates"), *ra = extra(&r[k], "R_adapted");
        CHECK(sw && sl && g && ra && extra(&r[k], "specialisation_stage"), "extras missing");
        if (!sw || !sl || !g || !ra) goto done;
        spec[k] = scalar(&r[k], "specialisation");
        late_sw[k] = scalar(&r[k], "switch_time_late");
        printf("#   %s: specialisation %.4f; switch time (steps)", k ? "forgetful" : "flexible ", spec[k]);
        for (int s = 0; s < S; s++) printf(" %g", sw[s]);
        printf("\n#              block loss ");
        for (int s = 0; s < S; s++) printf(" %.3f", sl[s]);
        printf("\n#              final gates %.3f %.3f; R_frozen %.4f %.4f; R_adapted %.4f %.4f\n",
               g[(S - 1) * 2], g[(S - 1) * 2 + 1], r[k].R[(S - 1) * 2], r[k].R[(S - 1) * 2 + 1],
               ra[(S - 1) * 2], ra[(S - 1) * 2 + 1]);
        if (k == 0) {
            /* specialised modules; switching gets faster with training */
            CHECK(spec[0] > 0.9, "flexible specialisation %.4f", spec[0]);
            /* blocks revisiting a task (stage ≥ 2): the late ones recover far faster */
            CHECK(late_sw[0] < 0.5 * sw[2], "switch time late %g vs first revisit %g", late_sw[0], sw[2]);
            CHECK(mean_range(sl, S - 4, S) < 0.75 * sl[2], "block loss late %.4f vs first revisit %.4f",
                  mean_range(sl, S - 4, S), sl[2]);
            for (int s = S - 4; s < S; s++) CHECK(sw[s] >= 0, "flexible block %d never switched", s);
            /* bounded, selective gates: one path on, the other off, none negative */
            CHECK(fabs(g[(S - 1) * 2] - g[(S - 1) * 2 + 1]) > 0.8, "gates not selective");
            CHECK(g[(S - 1) * 2] > -0.05 && g[(S - 1) * 2 + 1] > -0.05, "negative gate");
            /* the frozen view misses the off-block task; adapting the gates alone recovers it */
            double off = r[0].R[(S - 1) * 2], off_ad = ra[(S - 1) * 2];
            CHECK(off > 0.2, "frozen gates should not fit the off-block task: %.4f", off);
            CHECK(off_ad < 0.3 * off, "R_adapted %.4f vs R_frozen %.4f on the off-block task", off_ad, off);
            CHECK(ra[(S - 1) * 2 + 1] < 0.02, "R_adapted on the current task %.4f", ra[(S - 1) * 2 + 1]);
        } else {
            /* slow, unbounded gates: adapting them alone does not bring the other task back */
            double off = r[1].R[(S - 1) * 2], off_ad = ra[(S - 1) * 2];
            CHECK(off_ad > 0.8 * off && off_ad > 0.1, "forgetful R_adapted %.4f vs R_frozen %.4f", off_ad, off);
        }
    }
    CHECK(spec[1] < 0.8 && spec[0] - spec[1] > 0.2, "specialisation flexible %.4f vs forgetful %.4f",
          spec[0], spec[1]);
    CHECK(late_sw[1] > 2 * late_sw[0], "late switch time forgetful %g vs flexible %g", late_sw[1], late_sw[0]);
done:
    result_free(&r[0]);
    result_free(&r[1]);
}

static void test_determinism(void) {
    run_result r[3];
    for (int i = 0; i < 3; i++) {
        run_config c;
        make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "3", "benchmark.block_size", "200",
                 "gated.adapt_steps", "20", "seed", i < 2 ? "5" : "6", NULL);
        run_cfg(&r[i], &c);
        CHECK(r[i].status == RUN_STATUS_OK, "status %s", run_status_name(r[i].status));
    }
    if (r[0].R && r[1].R && r[2].R) {
        size_t n = sizeof(float) * 3 * 2;
        CHECK(!memcmp(r[0].R, r[1].R, n), "same seed, different R");
        CHECK(memcmp(r[0].R, r[2].R, n) != 0, "different seeds, identical R");
        const char *names[3] = {"R_adapted", "gates", "block_loss"};
        for (int k = 0; k < 3; k++) {
            const result_extra *a = result_find(&r[0], names[k]), *b = result_find(&r[1], names[k]);
            CHECK(a && b && !memcmp(a->data, b->data, sizeof(double) * (size_t)a->shape[0] *
                                                         (size_t)(a->ndim == 2 ? a->shape[1] : 1)),
                  "same seed, different %s", names[k]);
        }
        const result_extra *g = result_find(&r[0], "gates");
        CHECK(g && g->ndim == 2 && !strcmp(g->dim[0], "stage") && !strcmp(g->dim[1], "path") &&
                  g->shape[0] == 3 && g->shape[1] == 2, "gates should be (stage 3, path 2)");
    }
    for (int i = 0; i < 3; i++) result_free(&r[i]);
}

/* gated.l1_weight reaches the regulariser: same seed, L1 weight 10 (default) and 5 give
 * different gate trajectories; the default equals an explicit 10. */
static void test_l1_weight(void) {
    const char *w[3] = {NULL, "10", "5"};
    run_result r[3];
    for (int i = 0; i < 3; i++) {
        run_config c;
        make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "2", "benchmark.block_size",
                 "200", "gated.adapt_steps", "0", "gated.strength", "0.3", "seed", "5",
                 w[i] ? "gated.l1_weight" : "seed", w[i] ? w[i] : "5", NULL);
        run_cfg(&r[i], &c);
        CHECK(r[i].status == RUN_STATUS_OK, "status %s", run_status_name(r[i].status));
    }
    const result_extra *g[3];
    for (int i = 0; i < 3; i++) g[i] = result_find(&r[i], "gates");
    if (g[0] && g[1] && g[2]) {
        size_t n = sizeof(double) * 2 * 2;
        CHECK(!memcmp(g[0]->data, g[1]->data, n), "default l1_weight is not 10");
        CHECK(memcmp(g[1]->data, g[2]->data, n) != 0, "l1_weight 5 and 10 give identical gates");
        printf("#   gates after block 2: l1 10 (%.4f, %.4f), l1 5 (%.4f, %.4f)\n", g[1]->data[2],
               g[1]->data[3], g[2]->data[2], g[2]->data[3]);
    }
    for (int i = 0; i < 3; i++) result_free(&r[i]);
}

static void test_divergence_is_a_status(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "2", "benchmark.block_size", "200",
             "gated.dt", "10", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_DIVERGED, "status %s: %s", run_status_name(r.status), r.message);
    CHECK(strstr(r.message, "non-finite") != NULL, "message '%s'", r.message);
    result_free(&r);
}

static void test_curves_unsupported(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "gated", "curves3d", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_UNSUPPORTED, "status %s", run_status_name(r.status));
    result_free(&r);
}

/* Task-incremental Split-MNIST on the frozen random features: learns well above chance
 * (0.5) with a raised W rate; with the paper's rates (W step 1e-4) the run is stable. */
static void test_classification(void) {
    REQUIRE_DATA(DATA_MNIST);
    const char *lr[2] = {"1", "0.001"};
    for (int k = 0; k < 2; k++) {
        run_config c;
        run_result r;
        make_cfg(&c, "gated", "split_mnist", "benchmark.train_per_task", "1000",
                 "benchmark.test_per_task", "400", "benchmark.block_size", "3", "gated.lr_w", lr[k], NULL);
        run_cfg(&r, &c);
        CHECK(r.status == RUN_STATUS_OK, "status %s: %s", run_status_name(r.status), r.message);
        if (r.status == RUN_STATUS_OK) {
            printf("#   split_mnist (task-IL), gated.lr_w %s: ACC %.4f (R0 mean %.4f), acc_adapted %.4f\n",
                   lr[k], r.acc, (r.R0[0] + r.R0[1] + r.R0[2] + r.R0[3] + r.R0[4]) / 5.0,
                   scalar(&r, "acc_adapted"));
            const result_extra *g = result_find(&r, "gates");
            CHECK(g && g->shape[0] == 5 && g->shape[1] == 2, "gates shape");
            CHECK(result_find(&r, "specialisation") == NULL, "no teachers, no specialisation");
            if (k == 0) CHECK(r.acc > 0.85, "ACC %.4f should be well above chance 0.5", r.acc);
        }
        result_free(&r);
    }
}

/* Weight-space analysis through the weights hook: path contributions separate by task in the
 * flexible regime, not in the forgetful control (same seed, 6 blocks). */
static void test_weightspace_separation(void) {
    double sep[2];
    for (int k = 0; k < 2; k++) {
        run_config c;
        run_result r;
        if (k == 0)
            make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "6", "seed", "1", NULL);
        else
            make_cfg(&c, "gated", "teacher_student", "benchmark.blocks", "6", "seed", "1",
                     "gated.tau_ratio", "1", "gated.strength", "0", NULL);
        run_execute(&c, &r);
        analysis_apply(NULL, &c, &r);
        cfg_free(&c);
        const result_extra *e = result_find(&r, "ws_separation");
        CHECK(e != NULL && e->ndim == 1 && e->shape[0] == 6, "ws_separation per stage missing");
        sep[k] = e ? e->data[e->shape[0] - 1] : NAN;
        result_free(&r);
    }
    printf("#   task separation after 6 blocks: flexible %.4f, forgetful %.4f\n", sep[0], sep[1]);
    CHECK(sep[0] > 5 * sep[1], "flexible %.4f should separate tasks far more than forgetful %.4f",
          sep[0], sep[1]);
}

int main(void) {
    RUN_TEST(test_gated_linear_forward);
    RUN_TEST(test_gated_linear_gradcheck);
    RUN_TEST(test_gate_reg);
    RUN_TEST(test_gated_loss_gradcheck);
    RUN_TEST(test_flexible_vs_forgetful);
    RUN_TEST(test_determinism);
    RUN_TEST(test_l1_weight);
    RUN_TEST(test_divergence_is_a_status);
    RUN_TEST(test_curves_unsupported);
    RUN_TEST(test_classification);
    RUN_TEST(test_weightspace_separation);
    data_cache_free();
    TEST_EXIT();
}
