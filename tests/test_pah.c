/* test_pah.c — the Prototype-Augmented Hypernetwork (src/models/pah.c): finite-difference
 * checks of the hypernetwork-generated head and of both PAH losses (step 1 w.r.t. every
 * parameter, step 2 w.r.t. the prototypes through resize + backbone + hypernetwork), the
 * two-step update (step 2 moves only prototypes), semantic initialisation, learning,
 * forgetting well below finetune on a 2-task stream, determinism, divergence as a status.
 *
 * Like llm.c's test_gpt2.c, the test includes the model's source to reach its internals;
 * the archive's copy of pah.o is then never linked (this object already defines pah_ops). */
#include "../src/models/pah.c"

#include <stdarg.h>

#include "analysis_mpi.h"
#include "data.h"
#include "gradcheck.h"
#include "test.h"
#include "test_run.h"

/* ---- helpers ---- */


/* A tiny PAH: HW×HW inputs (HW = 4 or 8), T = 3 tasks of C = 2 classes; current task 2, old
 * tasks 0 and 1, f_prev = the parameters plus noise (so every KD term is non-zero).
 * For the finite-difference checks (smooth = 1) tanh replaces the backbone's ReLU and the
 * hypernetwork's LeakyReLU: with their kinks a perturbed conv weight crosses several
 * non-differentiable points at once and the numeric derivative is not defined at the
 * resolution float32 allows. The wiring checked is the same (one act_kind field); ReLU and
 * LeakyReLU themselves are checked in test_nn.c. Max-pool stays; its rare near-ties are
 * caught by the kink detector. PAH_GC_SEED=n shifts the seeds (robustness sweeps). */
static pah_t *tiny_pah(int HW, int ph, int pw, int B, uint64_t seed, int smooth) {
    pah_geom g = {.T = 3, .C = 2, .H = HW, .W = HW, .c1 = 2, .c2 = 3, .F = 6, .ph = ph, .pw = pw, .hid = 4};
    rng_t r;
    rng_init(&r, seed + (getenv("PAH_GC_SEED") ? (uint64_t)atoi(getenv("PAH_GC_SEED")) : 0), 0);
    pah_t *m = pah_create(&g, B, &r);
    pah_optim_init(m, 1e-3f, 1e-4f, 0.01f);
    /* image-like prototypes; heads of order one (undo the /10 of the last layer's init) so
     * that every path has gradients well above float32 finite-difference noise */
    rng_fill_uniform(&r, m->params + m->off_proto, (long)g.T * m->E, 0.0f, 1.0f);
    for (long i = m->off_h3; i < m->off_proto; i++) m->params[i] *= 10.0f;
    /* and live features: a positive dense bias keeps the last ReLU open (smooth = 0) */
    for (long i = m->off_fb; i < m->off_fb + g.F; i++) m->params[i] += 0.5f;
    for (long i = 0; i < m->nparams; i++) m->prev[i] = m->params[i] + 0.3f * rng_normal(&r);
    m->lambda_sm = 0.5f;
    m->lambda_sp = 1.0f;
    m->temp = 2.0f;
    if (smooth) m->act = m->hyper_act = ACT_TANH;
    m->seen[0] = m->seen[1] = 1;
    pah_set_task(m, 2);
    pah_teacher_cache(m);
    return m;
}

/* Gradient checks: tests/gradcheck.h, with two settings that differ from GC_DEFAULTS.
 * eps is the caller's: 1e-2 for the head (a float32 linear map, loss O(1)), 3e-3 through the
 * backbone (float32 loss noise against max-pool near-ties crossed by the step). Up to 10 % of
 * the coordinates may be skipped as kinks (the default allows 5 %): in the tiny 4×4/8×8
 * backbone one near-tied max-pool window touches every weight of a conv filter at once.
 * PAH_GC_SEED=n (above) reruns the checks on other draws. */
static void pah_gc(const char *what, double (*loss)(void *), void *ctx, float *p, long n,
                   const float *ga, double eps) {
    gc_opts o = GC_DEFAULTS;
    o.eps = eps;
    o.max_kink_frac = 0.1;
    gc_result r = gradcheck(what, loss, ctx, p, n, ga, o);
    CHECK(r.checked > r.kinks, "%s: nothing checked", what);
}

/* ---- gradient checks ---- */

typedef struct {
    pah_t *m;
    float *feat;        /* (B, F) */
    const float *r;     /* (B, C) output weights */
    int B, j;
} head_ctx;

/* L = Σ r ⊙ (feat · Υ(e_j)ᵀ) */
static double head_loss(void *p) {
    head_ctx *c = p;
    pah_t *m = c->m;
    int C = m->g.C, F = m->g.F;
    hyper_forward(m, m->params, &m->hy);
    dense_forward(m->logits, c->feat, m->hy.heads + (long)c->j * C * F, NULL, c->B, F, C);
    double s = 0;
    for (int i = 0; i < c->B * C; i++) s += (double)m->logits[i] * c->r[i];
    return s;
}

static void test_hyperhead_gradcheck(void) {
    pah_t *m = tiny_pah(8, 3, 3, 4, 11, 1);
    int B = 4, C = m->g.C, F = m->g.F, j = 1;
    float feat[4 * 6], r[4 * 2], dfeat[4 * 6] = {0};
    rng_t rr;
    rng_init(&rr, 5, 0);
    rng_fill_normal(&rr, feat, B * F, 0, 1);
    rng_fill_normal(&rr, r, B * C, 0, 1);
    head_ctx c = {m, feat, r, B, j};
    memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    memset(m->dheads, 0, sizeof(float) * (size_t)m->g.T * C * F);
    head_loss(&c);
    const float *Wj = m->hy.heads + (long)j * C * F;
    dense_backward(dfeat, m->dheads + (long)j * C * F, NULL, r, feat, Wj, B, F, C);
    hyper_backward(m);
    long nh = m->nparams - m->off_h1;   /* hypernet weights and all prototypes */
    pah_gc("hypernet head: W1 W2 W3 prototypes", head_loss, &c, m->params + m->off_h1, nh,
           m->grads + m->off_h1, 1e-2);
    pah_gc("hypernet head: input features", head_loss, &c, feat, B * F, dfeat, 1e-2);
    pah_free((model_t *)m);
}

typedef struct {
    pah_t *m;
    const float *x;
    const int *y;
    int B;
} step_ctx;

static double step1_loss(void *p) {
    step_ctx *c = p;
    memset(c->m->grads, 0, sizeof(float) * (size_t)c->m->nparams);
    return pah_step1(c->m, c->x, c->y, c->B, 2, NULL, NULL);
}

static double step2_loss(void *p) {
    step_ctx *c = p;
    memset(c->m->grads, 0, sizeof(float) * (size_t)c->m->nparams);
    return pah_step2(c->m);
}

/* Full step-1 loss CE + λ_sm Σ KD (two old tasks) w.r.t. every parameter: backbone (conv,
 * max-pool, dense), hypernetwork, prototypes. */
static void test_step1_loss_gradcheck(void) {
    const int B = 2;
    pah_t *m = tiny_pah(4, 3, 3, B, 21, 1);
    float x[2 * 16];
    int y[2] = {0, 1};
    rng_t r;
    rng_init(&r, 6, 0);
    rng_fill_uniform(&r, x, B * 16, 0, 1);
    step_ctx c = {m, x, y, B};
    printf("#   step-1 loss %.6f\n", step1_loss(&c));
    float *ga = xmalloc(sizeof(float) * (size_t)m->nparams);
    memcpy(ga, m->grads, sizeof(float) * (size_t)m->nparams);
    float ce, kd;
    memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    pah_step1(m, x, y, B, 2, &ce, &kd);
    CHECK(kd > 1e-3, "the KD term should be active (%g)", kd);
    pah_gc("step-1 loss: backbone", step1_loss, &c, m->params, m->n_backbone, ga, 3e-3);
    long nh = m->nparams - m->off_h1;
    pah_gc("step-1 loss: hypernet + prototypes", step1_loss, &c, m->params + m->off_h1, nh,
           ga + m->off_h1, 3e-3);
    free(ga);
    pah_free((model_t *)m);
}

/* Step-2 loss λ_sp Σ_j mean_c KD(g(p_j^c), g_prev) w.r.t. the prototypes: two paths, the
 * bilinear resize into the backbone and the hypernetwork that generates head_j from p_j.
 * Upsampled (3×3 → 8×8) and downsampled (12×10 → 8×8) prototypes. */
static void test_step2_loss_gradcheck(void) {
    const int shapes[2][2] = {{3, 3}, {12, 10}};
    for (int s = 0; s < 2; s++) {
        pah_t *m = tiny_pah(4, shapes[s][0], shapes[s][1], 2, 31 + (uint64_t)s, 1);
        step_ctx c = {m, NULL, NULL, 0};
        double l = step2_loss(&c);
        printf("#   step-2 loss %.6f\n", l);
        CHECK(l > 1e-3, "prototype KD should be active (%g)", l);
        float *ga = xmalloc(sizeof(float) * (size_t)m->nparams);
        memcpy(ga, m->grads, sizeof(float) * (size_t)m->nparams);
        long np = (long)m->g.T * m->E;
        char what[64];
        snprintf(what, sizeof what, "step-2 loss: prototypes %dx%d", shapes[s][0], shapes[s][1]);
        pah_gc(what, step2_loss, &c, m->params + m->off_proto, np, ga + m->off_proto, 3e-3);
        /* the current task's prototypes do not enter step 2 */
        double cur = 0;
        for (long i = 0; i < m->E; i++) cur += fabs(ga[m->off_proto + 2 * m->E + i]);
        CHECK(cur == 0.0, "current task's prototypes got a step-2 gradient (%g)", cur);
        if (s == 1)   /* upsampled prototypes make near-tied max-pool windows: use 12×10 */
            pah_gc("step-2 loss: backbone + hypernet", step2_loss, &c, m->params, m->off_proto, ga,
                   3e-3);
        free(ga);
        pah_free((model_t *)m);
    }
}

/* ---- new layers and any input shape ---- */

typedef struct {
    float *x, *gamma, *beta, *out, *xh, *mu, *rs;
    const float *r;
    int B, C, HW;
} bn_ctx;

/* L = Σ r ⊙ BN(x)² / 2 + Σ r ⊙ BN(x): non-linear in the output so that every path counts. */
static double bn_loss(void *p) {
    bn_ctx *c = p;
    batchnorm_forward(c->out, c->xh, c->mu, c->rs, c->x, c->gamma, c->beta, c->B, c->C, c->HW, 1e-5f);
    double s = 0;
    for (long i = 0; i < (long)c->B * c->C * c->HW; i++)
        s += c->r[i] * ((double)c->out[i] + 0.5 * (double)c->out[i] * c->out[i]);
    return s;
}

/* BatchNorm (train mode, batch statistics) forward: normalised per channel; backward against
 * finite differences w.r.t. the input (through the statistics), γ and β. GAP likewise. */
static void test_batchnorm_gap_gradcheck(void) {
    enum { B = 3, C = 2, HW = 5, N = B * C * HW };
    float x[N], out[N], xh[N], r[N], dout[N], dx[N] = {0}, gamma[C] = {1.3f, 0.7f},
          beta[C] = {0.1f, -0.2f}, dg[C] = {0}, db[C] = {0}, mu[C], rs[C];
    rng_t rr;
    rng_init(&rr, 41, 0);
    rng_fill_normal(&rr, x, N, 0.5f, 2.0f);
    rng_fill_normal(&rr, r, N, 0, 1);
    bn_ctx c = {x, gamma, beta, out, xh, mu, rs, r, B, C, HW};
    bn_loss(&c);
    for (int ch = 0; ch < C; ch++) {   /* x̂ has mean 0 and (biased) variance ≈ 1 per channel */
        double m1 = 0, m2 = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double v = xh[(b * C + ch) * HW + i];
                m1 += v;
                m2 += v * v;
            }
        CHECK(fabs(m1 / (B * HW)) < 1e-5 && fabs(m2 / (B * HW) - 1) < 1e-3,
              "channel %d: mean %g, var %g", ch, m1 / (B * HW), m2 / (B * HW));
    }
    for (int i = 0; i < N; i++) dout[i] = r[i] * (1.0f + out[i]);
    batchnorm_backward(dx, dg, db, dout, xh, rs, gamma, B, C, HW);
    gc_opts o = GC_DEFAULTS;
    o.eps = 1e-2;
    gradcheck("batchnorm: input", bn_loss, &c, x, N, dx, o);
    gradcheck("batchnorm: gamma", bn_loss, &c, gamma, C, dg, o);
    gradcheck("batchnorm: beta", bn_loss, &c, beta, C, db, o);

    float g[B * C], dxg[N] = {0};
    gap_forward(g, x, B, C, HW);
    double s = 0;
    for (int i = 0; i < HW; i++) s += x[HW + i];
    CHECK(fabs(g[1] - s / HW) < 1e-5, "gap: %g vs %g", g[1], s / HW);
    gap_backward(dxg, r, B, C, HW);
    CHECK(fabs(dxg[HW + 2] - r[1] / HW) < 1e-7, "gap backward: %g vs %g", dxg[HW + 2], r[1] / HW);
}

/* A tiny PAH of any geometry (Cin channels, H×W not multiples of 4, native/bn), set up as
 * tiny_pah: T = 3 tasks of C = 2, current task 2, f_prev = parameters + noise, tanh. */
static pah_t *tiny_pah_geom(int Cin, int H, int W, int ph, int pw, int native, int bn, int B,
                            uint64_t seed) {
    pah_geom g = {.T = 3, .C = 2, .Cin = Cin, .H = H, .W = W, .c1 = 2, .c2 = 3, .F = 6,
                  .ph = ph, .pw = pw, .hid = 4, .native = native, .bn = bn};
    rng_t r;
    rng_init(&r, seed + (getenv("PAH_GC_SEED") ? (uint64_t)atoi(getenv("PAH_GC_SEED")) : 0), 0);
    pah_t *m = pah_create(&g, B, &r);
    pah_optim_init(m, 1e-3f, 1e-4f, 0.01f);
    rng_fill_uniform(&r, m->params + m->off_proto, (long)g.T * m->E, 0.0f, 1.0f);
    for (long i = m->off_h3; i < m->off_proto; i++) m->params[i] *= 10.0f;
    for (long i = m->off_fb; i < m->off_fb + g.F; i++) m->params[i] += 0.5f;
    for (long i = 0; i < m->nparams; i++) m->prev[i] = m->params[i] + 0.3f * rng_normal(&r);
    m->act = m->hyper_act = ACT_TANH;
    m->seen[0] = m->seen[1] = 1;
    pah_set_task(m, 2);
    pah_teacher_cache(m);
    return m;
}

/* Both PAH losses on 3×6×7 inputs (channels follow the input, sides padded to 8×8), with
 * resized and native (GAP backbone) prototypes, with and without BatchNorm: every parameter
 * (step 1) and the prototypes plus backbone/hypernet (step 2) against finite differences. */
static void test_any_shape_gradcheck(void) {
    for (int v = 0; v < 3; v++) {
        int native = v >= 1, bn = v == 2, B = 3;
        pah_t *m = tiny_pah_geom(3, 6, 7, 5, 5, native, bn, B, 51 + (uint64_t)v);
        CHECK(m->Hp == 8 && m->Wp == 8 && m->D == (native ? 3 : 3 * 4), "geometry %d %d %ld",
              m->Hp, m->Wp, m->D);
        float x[3 * 3 * 64];
        int y[3] = {0, 1, 1};
        float raw[3 * 3 * 6 * 7];
        rng_t r;
        rng_init(&r, 7 + (uint64_t)v, 0);
        rng_fill_uniform(&r, raw, 3 * 3 * 42, 0, 1);
        stage_inputs(m, raw, NULL, 0, B);
        memcpy(x, m->bx, sizeof x);
        CHECK(x[7] == 0.0f && x[6] == raw[6] && x[8] == raw[7], "padding: %g %g %g", x[7], x[6], x[8]);
        step_ctx c = {m, x, y, B};
        char what[96];
        float *ga = xmalloc(sizeof(float) * (size_t)m->nparams);
        step1_loss(&c);
        memcpy(ga, m->grads, sizeof(float) * (size_t)m->nparams);
        snprintf(what, sizeof what, "3x6x7 %s%s step 1: backbone", native ? "native" : "resize",
                 bn ? " bn" : "");
        pah_gc(what, step1_loss, &c, m->params, m->n_backbone, ga, 3e-3);
        snprintf(what, sizeof what, "3x6x7 %s%s step 1: hypernet + prototypes",
                 native ? "native" : "resize", bn ? " bn" : "");
        pah_gc(what, step1_loss, &c, m->params + m->off_h1, m->nparams - m->off_h1,
               ga + m->off_h1, 3e-3);
        step_ctx c2 = {m, NULL, NULL, 0};
        double l = step2_loss(&c2);
        CHECK(l > 1e-4, "prototype KD should be active (%g)", l);
        memcpy(ga, m->grads, sizeof(float) * (size_t)m->nparams);
        snprintf(what, sizeof what, "3x6x7 %s%s step 2: prototypes", native ? "native" : "resize",
                 bn ? " bn" : "");
        pah_gc(what, step2_loss, &c2, m->params + m->off_proto, (long)m->g.T * m->E,
               ga + m->off_proto, 3e-3);
        snprintf(what, sizeof what, "3x6x7 %s%s step 2: backbone + hypernet",
                 native ? "native" : "resize", bn ? " bn" : "");
        pah_gc(what, step2_loss, &c2, m->params, m->off_proto, ga, 3e-3);
        free(ga);
        pah_free((model_t *)m);
    }
}

/* ---- the two-step update ---- */

/* The fused bias + ReLU + max-pool (the default: ReLU, no BatchNorm) gives the same step-1
 * and step-2 losses and gradients, bit for bit, as the separate passes the gradient checks
 * above go through (m->unfused); cutting the batch into one-image im2col chunks (col
 * recomputed in the backward) changes only the grouping of sgemm's sums. */
static void test_fused_and_chunked_paths(void) {
    const int B = 4;
    pah_t *m = tiny_pah(8, 3, 3, B, 31, 0);
    float x[4 * 64];
    int y[4] = {0, 1, 1, 0};
    rng_t r;
    rng_init(&r, 8, 0);
    rng_fill_uniform(&r, x, B * 64, 0, 1);
    long P = m->nparams;
    float *g[3];
    double l[3][2];
    long full = m->colcap;
    for (int v = 0; v < 3; v++) {
        m->unfused = v == 1;
        m->colcap = v == 2 ? convb_col_size(m->g.c1, 1, 4, 4) : full;   /* >= one image */
        memset(m->grads, 0, sizeof(float) * (size_t)P);
        l[v][0] = pah_step1(m, x, y, B, 2, NULL, NULL);
        l[v][1] = pah_step2(m);
        g[v] = xmalloc(sizeof(float) * (size_t)P);
        memcpy(g[v], m->grads, sizeof(float) * (size_t)P);
    }
    m->colcap = full;
    CHECK(l[0][0] == l[1][0] && l[0][1] == l[1][1], "losses fused %.9g %.9g, separate %.9g %.9g",
          l[0][0], l[0][1], l[1][0], l[1][1]);
    CHECK(!memcmp(g[0], g[1], sizeof(float) * (size_t)P), "fused and separate gradients differ");
    double md = 0, sc = 1e-6;
    for (long i = 0; i < P; i++) {
        md = fmax(md, fabs((double)g[0][i] - g[2][i]));
        sc = fmax(sc, fabs((double)g[0][i]));
    }
    printf("#   one-image chunks: max |Δgrad| %.2e (scale %.2e), Δloss %.2e\n", md, sc,
           fabs(l[0][0] - l[2][0]));
    CHECK(md <= 1e-5 * sc && fabs(l[0][0] - l[2][0]) <= 1e-5 * fabs(l[0][0]), "chunked path");
    for (int v = 0; v < 3; v++) free(g[v]);
    pah_free((model_t *)m);
}

static void test_prototype_step_moves_only_prototypes(void) {
    for (int acc = 0; acc < 2; acc++) {
        const int B = 3;
        pah_t *m = tiny_pah(8, 3, 3, B, 41, 0);
        m->accumulate = acc;
        float x[3 * 64];
        int y[3] = {1, 0, 1};
        rng_t r;
        rng_init(&r, 7, 0);
        rng_fill_uniform(&r, x, B * 64, 0, 1);
        float ce, kd, lp;
        float *before = xmalloc(sizeof(float) * (size_t)m->nparams);
        /* a few batches so both optimisers carry state */
        for (int it = 0; it < 3; it++) {
            CHECK(pah_update_all(m, x, y, B, 2, &ce, &kd) == RUN_STATUS_OK, "step 1");
            memcpy(before, m->params, sizeof(float) * (size_t)m->nparams);
            CHECK(pah_update_prototypes(m, &lp) == RUN_STATUS_OK, "step 2");
            CHECK(!memcmp(before, m->params, sizeof(float) * (size_t)m->off_proto),
                  "accumulate=%d: step 2 changed a non-prototype parameter", acc);
            CHECK(memcmp(before + m->off_proto, m->params + m->off_proto, sizeof(float) * (size_t)m->E),
                  "accumulate=%d: step 2 left the old task's prototypes unchanged", acc);
        }
        free(before);
        pah_free((model_t *)m);
    }
}

/* The forward of a stage's old tasks uses f_prev's own prototypes as the teacher input. */
static void test_teacher_uses_frozen_copy(void) {
    pah_t *m = tiny_pah(8, 3, 3, 2, 51, 0);
    float *t0 = xmalloc(sizeof(float) * (size_t)m->g.T * m->g.C * m->g.C);
    memcpy(t0, m->tproto, sizeof(float) * (size_t)m->g.T * m->g.C * m->g.C);
    for (long i = 0; i < m->nparams; i++) m->params[i] += 0.5f;   /* move the student only */
    pah_teacher_cache(m);
    CHECK(!memcmp(t0, m->tproto, sizeof(float) * 2 * m->g.C * m->g.C),
          "teacher outputs depend on the student's parameters");
    free(t0);
    pah_free((model_t *)m);
}

/* ---- model runs ---- */

static void test_semantic_init(void) {
    REQUIRE_DATA(DATA_MNIST);
    for (int sem = 0; sem < 2; sem++) {
        run_config c;
        make_cfg(&c, "pah", "split_mnist", "benchmark.train_per_task", "200", "benchmark.test_per_task",
                 "50", "pah.prototype_shape", "[10,12]", "pah.init", sem ? "semantic" : "random", NULL);
        bench_t b;
        CHECK(bench_init(&b, &c, 0) == 0, "bench: %s", cls_geterr());
        pah_t *m = (pah_t *)pah_init(&c, &b, 0);
        CHECK(m != NULL, "init: %s", cls_geterr());
        if (!m) { bench_free(&b); cfg_free(&c); return; }
        int maxdiff_ok = 1, excluded = 1;
        double mean = 0;
        for (int t = 0; t < b.ntasks; t++) {
            CHECK(m->n_train[t] == b.tasks[t].n_train - 2, "task %d: %d of %d kept", t, m->n_train[t],
                  b.tasks[t].n_train);
            for (int cl = 0; cl < 2; cl++) {
                int h = m->held_out[t * 2 + cl];
                CHECK(h >= 0 && b.tasks[t].y_train[h] == b.tasks[t].classes[cl], "held-out label");
                for (int i = 0; i < m->n_train[t]; i++) excluded &= m->train_idx[t][i] != h;
                const float *p = m->params + m->off_proto + t * m->E + cl * 120;
                const float *img = b.tasks[t].x_train + (long)h * 784;
                for (int yy = 0; yy < 10; yy++)
                    for (int xx = 0; xx < 12; xx++) {
                        mean += p[yy * 12 + xx];
                        if (sem && p[yy * 12 + xx] != img[(9 + yy) * 28 + 8 + xx]) maxdiff_ok = 0;
                    }
            }
        }
        mean /= b.ntasks * 2 * 120;
        CHECK(excluded, "a held-out image is still in the training set");
        if (sem) CHECK(maxdiff_ok, "semantic prototypes are not the centre crops of the held-out images");
        else CHECK(fabs(mean - 0.5) < 0.02, "random init mean %g (expected N(0.5, 0.1))", mean);
        pah_free((model_t *)m);
        bench_free(&b);
        cfg_free(&c);
    }
}

/* PAH and finetune on the same 2-task Split-Fashion stream (T-shirt/trouser, then
 * pullover/dress), same seed; both learn, PAH forgets task 0 far less. Each case that needs
 * the stream calls stream_results(), which runs it on first use and keeps the (deterministic)
 * result, so either case runs alone or in any order. */
static float stream_R[2][2 * 5];
static int stream_state;   /* 0: not run yet, 1: both runs OK, -1: a run failed */

static int stream_results(void) {
    if (stream_state != 0) return stream_state == 1;
    const char *models[2] = {"finetune", "pah"};
    stream_state = 1;
    for (int k = 0; k < 2; k++) {
        run_config c;
        run_result r;
        make_cfg(&c, models[k], "split_fashion", "benchmark.blocks", "2", "benchmark.train_per_task", "600",
                 "benchmark.test_per_task", "400", "benchmark.block_size", "5", "seed", "0", NULL);
        run_execute(&c, &r);
        cfg_free(&c);
        int ok = r.status == RUN_STATUS_OK && r.R;
        CHECK(ok, "%s: status %s: %s", models[k], run_status_name(r.status), r.message);
        if (ok) memcpy(stream_R[k], r.R, sizeof(float) * 10);
        else stream_state = -1;
        if (k == 1) {
            const result_extra *e = result_find(&r, "pah_proto_loss");
            CHECK(e && e->ndim == 1 && e->shape[0] == 2 && e->data[0] == 0.0 && e->data[1] > 0.0,
                  "pah_proto_loss extra: 0 on the first stage, > 0 on the second");
        }
        result_free(&r);
    }
    return stream_state == 1;
}

static void test_pah_learns(void) {
    REQUIRE_DATA(DATA_FASHION);
    CHECK(stream_results(), "the finetune/pah stream runs failed");
    if (stream_state != 1) return;
    const float *R = stream_R[1];
    printf("#   PAH task 0: %.4f after task 0; task 1: %.4f after task 1 (chance 0.5)\n", R[0], R[6]);
    CHECK(R[0] > 0.9, "task 0 accuracy %.4f", R[0]);
    CHECK(R[6] > 0.85, "task 1 accuracy %.4f", R[6]);
}

static void test_pah_forgets_less_than_finetune(void) {
    REQUIRE_DATA(DATA_FASHION);
    CHECK(stream_results(), "the finetune/pah stream runs failed");
    if (stream_state != 1) return;
    double f_ft = stream_R[0][0] - stream_R[0][5], f_pah = stream_R[1][0] - stream_R[1][5];
    printf("#   task-0 forgetting: finetune %.4f (%.4f → %.4f), pah %.4f (%.4f → %.4f)\n", f_ft,
           stream_R[0][0], stream_R[0][5], f_pah, stream_R[1][0], stream_R[1][5]);
    CHECK(f_ft > 0.03, "finetune should forget visibly here (%.4f)", f_ft);
    CHECK(f_pah < 0.25 * f_ft, "pah %.4f vs finetune %.4f", f_pah, f_ft);
}

static void test_determinism(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_result r[3];
    for (int i = 0; i < 3; i++) {
        run_config c;
        make_cfg(&c, "pah", "split_mnist", "benchmark.blocks", "2", "benchmark.train_per_task", "200",
                 "benchmark.test_per_task", "200", "seed", i < 2 ? "3" : "4", NULL);
        run_execute(&c, &r[i]);
        cfg_free(&c);
        CHECK(r[i].status == RUN_STATUS_OK, "status %s: %s", run_status_name(r[i].status), r[i].message);
    }
    size_t n = sizeof(float) * 2 * 5;
    CHECK(r[0].R && r[1].R && !memcmp(r[0].R, r[1].R, n), "same seed, different R");
    CHECK(r[0].R && r[2].R && memcmp(r[0].R, r[2].R, n), "different seeds, identical R");
    for (int i = 0; i < 3; i++) result_free(&r[i]);
}

static void test_divergence_is_a_status(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_config c;
    make_cfg(&c, "pah", "split_mnist", "benchmark.train_per_task", "100", "benchmark.test_per_task", "50", NULL);
    bench_t b;
    CHECK(bench_init(&b, &c, 0) == 0, "bench");
    pah_t *m = (pah_t *)pah_init(&c, &b, 0);
    CHECK(m != NULL, "init");
    if (m) {
        m->params[m->off_c1w] = NAN;
        run_status st = pah_train_block((model_t *)m, &b, 0);
        CHECK(st == RUN_STATUS_DIVERGED, "NaN weight: status %s", run_status_name(st));
        CHECK(strstr(cls_geterr(), "non-finite") != NULL, "message '%s'", cls_geterr());
        pah_free((model_t *)m);
    }
    bench_free(&b);
    cfg_free(&c);
    /* through the run executor: an absurd learning rate */
    run_result r;
    make_cfg(&c, "pah", "split_mnist", "benchmark.blocks", "2", "benchmark.train_per_task", "300",
             "benchmark.test_per_task", "50", "pah.lr", "1000000", "pah.backbone_lr", "1000000", NULL);
    run_execute(&c, &r);
    cfg_free(&c);
    CHECK(r.status == RUN_STATUS_DIVERGED, "lr 1e6: status %s (%s)", run_status_name(r.status), r.message);
    result_free(&r);
}

static void test_class_incremental_is_refused(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_config c;
    run_result r;
    make_cfg(&c, "pah", "split_mnist", "benchmark.scenario", "class", "benchmark.train_per_task", "50",
             "benchmark.test_per_task", "50", NULL);
    run_execute(&c, &r);
    cfg_free(&c);
    CHECK(r.status == RUN_STATUS_UNSUPPORTED && strstr(r.message, "unsupported: ") && strstr(r.message, "scenario=task"), "status %s: %s",
          run_status_name(r.status), r.message);
    result_free(&r);
}

/* The weights hook: T·C rows (every task, trained or not), row t·C + c = the generated head
 * row W_t[c] (F values, equal to a fresh hyper_forward's) then the prototype p_t^c (ph·pw
 * values, equal to the arena's); task = t; the parameters are untouched. */
static void test_weights_hook(void) {
    REQUIRE_DATA(DATA_MNIST);
    run_config c;
    make_cfg(&c, "pah", "split_mnist", "benchmark.train_per_task", "100", "benchmark.test_per_task", "50",
             "pah.prototype_shape", "[6,7]", NULL);
    bench_t b;
    CHECK(bench_init(&b, &c, 0) == 0, "bench: %s", cls_geterr());
    pah_t *m = (pah_t *)pah_init(&c, &b, 0);
    CHECK(m != NULL, "init: %s", cls_geterr());
    if (!m) {
        bench_free(&b);
        cfg_free(&c);
        return;
    }
    CHECK(pah_ops.weights == pah_weights, "pah_ops.weights not set");
    CHECK(pah_train_block((model_t *)m, &b, 0) == RUN_STATUS_OK, "train: %s", cls_geterr());
    const int T = m->g.T, C = m->g.C, F = m->g.F, PP = 6 * 7;
    float *before = xmalloc(sizeof(float) * (size_t)m->nparams);
    memcpy(before, m->params, sizeof(float) * (size_t)m->nparams);
    int rows = -1, cols = -1, *task = NULL;
    float *w = pah_weights((model_t *)m, &b, 100, &rows, &cols, &task);
    CHECK(w && task && rows == T * C && cols == F + PP, "shape %d x %d (expected %d x %d)", rows, cols,
          T * C, F + PP);
    if (w && task && rows == T * C && cols == F + PP) {
        hyper_forward(m, m->params, &m->thy);   /* reference heads, in the teacher's buffer */
        int tasks_ok = 1, finite = 1, heads_ok = 1, protos_ok = 1;
        for (int r = 0; r < rows; r++) {
            const float *row = w + (long)r * cols;
            tasks_ok &= task[r] == r / C;
            for (int i = 0; i < cols; i++) finite &= isfinite(row[i]);
            heads_ok &= !memcmp(row, m->thy.heads + (long)r * F, sizeof(float) * (size_t)F);
            protos_ok &= !memcmp(row + F, m->params + m->off_proto + (long)r * PP, sizeof(float) * PP);
        }
        CHECK(tasks_ok, "row tasks");
        CHECK(finite, "non-finite rows");
        CHECK(heads_ok, "head part differs from hyper_forward");
        CHECK(protos_ok, "prototype part differs from the arena");
        CHECK(memcmp(w, w + cols, sizeof(float) * (size_t)cols) != 0, "the two classes' rows are equal");
    }
    free(w);
    free(task);
    CHECK(!memcmp(before, m->params, sizeof(float) * (size_t)m->nparams), "weights changed the parameters");
    free(before);
    pah_free((model_t *)m);
    bench_free(&b);
    cfg_free(&c);
}

/* A run with analysis.when = stage (5 tasks, one stage each): every stage gets a finite,
 * positive ws_separation; R and R0 are bit-identical to the same run with
 * analysis.when = none (the hook does not perturb training). */
static void test_weightspace_run(void) {
    REQUIRE_DATA(DATA_MNIST);
    const char *when[2] = {"stage", "none"};
    run_result r[2];
    for (int k = 0; k < 2; k++) {
        run_config c;
        make_cfg(&c, "pah", "split_mnist", "benchmark.train_per_task", "150", "benchmark.test_per_task", "50",
                 "analysis.when", when[k], "seed", "1", NULL);
        run_execute(&c, &r[k]);
        analysis_apply(NULL, &c, &r[k]);
        cfg_free(&c);
        CHECK(r[k].status == RUN_STATUS_OK, "when=%s: status %s: %s", when[k],
              run_status_name(r[k].status), r[k].message);
    }
    const int S = r[0].nstages, T = r[0].ntasks;
    const result_extra *e = result_find(&r[0], "ws_separation"), *f = result_find(&r[0], "ws_features");
    CHECK(S == 5 && T == 5, "shape %d x %d", S, T);
    CHECK(e && e->ndim == 1 && e->shape[0] == S, "ws_separation per stage missing");
    CHECK(f && f->data[0] == 64 + 100, "ws_features %g", f ? f->data[0] : NAN);
    if (e && e->ndim == 1 && e->shape[0] == S) {
        printf("#   pah ws_separation per stage:");
        for (int s = 0; s < S; s++) printf(" %.4f", e->data[s]);
        printf("\n");
        for (int s = 0; s < S; s++)
            CHECK(isfinite(e->data[s]) && e->data[s] > 0, "stage %d: separation %g", s, e->data[s]);
    }
    CHECK(result_find(&r[1], "ws_separation") == NULL, "when=none stored an analysis");
    CHECK(r[0].R && r[1].R && r[1].nstages == S &&
              !memcmp(r[0].R, r[1].R, sizeof(float) * (size_t)(S * T)),
          "R differs with the analysis on");
    CHECK(r[0].R0 && r[1].R0 && !memcmp(r[0].R0, r[1].R0, sizeof(float) * (size_t)T), "R0 differs");
    for (int k = 0; k < 2; k++) result_free(&r[k]);
}

int main(void) {
    RUN_TEST(test_hyperhead_gradcheck);
    RUN_TEST(test_step1_loss_gradcheck);
    RUN_TEST(test_step2_loss_gradcheck);
    RUN_TEST(test_batchnorm_gap_gradcheck);
    RUN_TEST(test_any_shape_gradcheck);
    RUN_TEST(test_fused_and_chunked_paths);
    RUN_TEST(test_prototype_step_moves_only_prototypes);
    RUN_TEST(test_teacher_uses_frozen_copy);
    RUN_TEST(test_semantic_init);
    RUN_TEST(test_pah_learns);
    RUN_TEST(test_pah_forgets_less_than_finetune);
    RUN_TEST(test_determinism);
    RUN_TEST(test_divergence_is_a_status);
    RUN_TEST(test_class_incremental_is_refused);
    RUN_TEST(test_weights_hook);
    RUN_TEST(test_weightspace_run);
    data_cache_free();
    TEST_EXIT();
}
