/* test_hsf.c — the Hypernetwork-SDE-Flow autoencoder (docs/spec.md §4.6): each hand-written part
 * against central finite differences (hypernetwork, coupling flow with log-det, SDE solver
 * through all its steps, embedding separation, the whole composite loss with replay), the
 * flow's inverse and its log-det against a finite-difference Jacobian, the fast tanh, and
 * the model's behaviour on short curves3d streams (learns, continual-learning terms act,
 * MLP baseline reconstructs, determinism, divergence as a status). */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "analysis_mpi.h"
#include "bench.h"
#include "hsf.h"
#include "model.h"
#include "nn.h"
#include "gradcheck.h"
#include "test.h"
#include "test_run.h"
#include "util.h"

/* ---------------------------------------------------------------- helpers */



/* Gradient checks: tests/gradcheck.h. The losses here are float32 forwards of O(1–10); a
 * step of 1e-2 (the default is 1e-3) keeps their rounding (~1e-6) out of the differences,
 * and no ReLU pre-activation sits within 0.05 of its kink (the margins below), so the step
 * never crosses one. */
static gc_opts hsf_gc(void) {
    gc_opts o = GC_DEFAULTS;
    o.eps = 1e-2;
    return o;
}

static double dot(const float *a, const float *b, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* min |pre-activation| of a hypernetwork's two ReLU layers for embedding e. */
static double hyper_margin(const hsf_hyper *h, const float *p, const float *e) {
    double m = 1e30;
    for (int i = 0; i < h->h; i++) {
        double v = p[h->w1.b + i] + dot(p + h->w1.w + (long)i * h->E, e, h->E);
        m = fmin(m, fabs(v));
    }
    for (int i = 0; i < h->h2; i++) {
        double v = p[h->v1.b + i] + dot(p + h->v1.w + (long)i * h->E, e, h->E);
        m = fmin(m, fabs(v));
    }
    return m;
}

/* min |pre-activation| of the flow's ReLU layers for the last forward on B rows. */
static double flow_margin(const hsf_flow *f, const hsf_flow_buf *fb, const float *p, int B) {
    double m = 1e30;
    long slab = (long)B * f->half;
    for (int l = 0; l < f->L; l++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < f->Hf; j++) {
                const float *a = fb->c + (l + 1) * slab + (long)b * f->half;
                double v = p[f->net1[l].b + j] + dot(p + f->net1[l].w + (long)j * f->half, a, f->half);
                m = fmin(m, fabs(v));
            }
    return m;
}

static const hsf_dims tiny_dims = {
    .in_dim = 3, .hidden = 6, .latent = 4, .emb_dim = 3, .ntasks = 3, .flow_layers = 2,
    .flow_hidden = 5, .sde_hidden = 5, .sde_steps = 10, .enc_t = 1.0f, .dec_t = 0.5f,
};

/* ---------------------------------------------------------------- fast tanh */

static void test_tanh_accuracy(void) {
    enum { N = 40001 };
    static float x[N], y[N], s[N];
    for (int i = 0; i < N; i++) x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    hsf_tanh(y, x, N);
    hsf_sigmoid(s, x, N);
    double et = 0, es = 0;
    for (int i = 0; i < N; i++) {
        et = fmax(et, fabs((double)y[i] - tanh((double)x[i])));
        es = fmax(es, fabs((double)s[i] - 1.0 / (1.0 + exp(-(double)x[i]))));
    }
    printf("#   fast tanh max abs error %.2e, sigmoid %.2e\n", et, es);
    CHECK(et < 2e-6, "tanh error %g", et);
    CHECK(es < 2e-6, "sigmoid error %g", es);
    /* NaN propagates through both the vector and the scalar path */
    float nan_in[5] = {0.5f, NAN, 1, 2, NAN}, nan_out[5];
    hsf_tanh(nan_out, nan_in, 5);
    CHECK(isnan(nan_out[1]) && isnan(nan_out[4]) && !isnan(nan_out[0]), "tanh(NaN) must be NaN");
    hsf_sigmoid(nan_out, nan_in, 5);
    CHECK(isnan(nan_out[1]) && isnan(nan_out[4]), "sigmoid(NaN) must be NaN");
}

/* ---------------------------------------------------------------- hypernetwork */

typedef struct {
    hsf_net *n;
    const hsf_hyper *h;
    float *e;
    const float *RW, *Rb;
    float *W, *bias, *a1, *a2;
} hyper_ctx;

static double hyper_loss(void *p) {
    hyper_ctx *c = p;
    hsf_hyper_forward(c->W, c->bias, c->a1, c->a2, c->e, c->h, c->n->params);
    return dot(c->W, c->RW, (long)c->h->in * c->h->out) + dot(c->bias, c->Rb, c->h->out);
}

static void test_hyper_gradcheck(void) {
    hsf_net n;
    CHECK(hsf_net_init(&n, &tiny_dims, 4, 3, 1) == 0, "init: %s", cls_geterr());
    const hsf_hyper *h = &n.L.enc2;   /* 6 → 6: h = 9, h2 = 4 */
    long io = (long)h->in * h->out;
    float e[3], RW[36], Rb[6], de[3] = {0};
    float W[36], bias[6], a1[16], a2[16], scratch[32];
    rng_t r;
    int seed;
    for (seed = 0; seed < 1000; seed++) {   /* keep every ReLU pre-activation off its kink */
        rng_init(&r, 77, (uint64_t)seed);
        rng_fill_normal(&r, e, 3, 0, 1);
        if (hyper_margin(h, n.params, e) > 0.05) break;
    }
    CHECK(seed < 1000, "no embedding away from the ReLU kinks");
    rng_fill_normal(&r, RW, io, 0, 1);
    rng_fill_normal(&r, Rb, h->out, 0, 1);
    hyper_ctx c = {&n, h, e, RW, Rb, W, bias, a1, a2};
    memset(n.grads, 0, sizeof(float) * (size_t)n.L.nparams);
    hyper_loss(&c);
    hsf_hyper_backward(de, n.grads, scratch, RW, Rb, e, a1, a2, h, n.params);
    long off = h->w1.w, cnt = h->v2.b + h->out - h->w1.w;   /* the hypernet's own block */
    gradcheck("hypernetwork params", hyper_loss, &c, n.params + off, cnt, n.grads + off, hsf_gc());
    gradcheck("hypernetwork embedding", hyper_loss, &c, e, 3, de, hsf_gc());
    hsf_net_free(&n);
}

/* ---------------------------------------------------------------- flow */

typedef struct {
    hsf_net *n;
    float *z;
    const float *Ru, *Rl;
    int B;
} flow_ctx;

static double flow_loss(void *p) {
    flow_ctx *c = p;
    hsf_net *n = c->n;
    hsf_flow_forward(n->u, n->logdet, c->z, &n->L.flow, &n->fb, n->params, c->B);
    return dot(n->u, c->Ru, (long)c->B * n->L.d.latent) + dot(n->logdet, c->Rl, c->B);
}

static void test_flow_gradcheck(void) {
    hsf_dims d = tiny_dims;
    d.latent = 6;
    d.flow_layers = 3;
    const int B = 3;
    hsf_net n;
    CHECK(hsf_net_init(&n, &d, B, 1, 2) == 0, "init: %s", cls_geterr());
    const hsf_flow *f = &n.L.flow;
    float z[18], Ru[18], Rl[3], dz[18] = {0};
    rng_t r;
    rng_init(&r, 5, 0);
    for (int l = 0; l < f->L; l++)   /* scales well away from 0 so log-det matters */
        rng_fill_normal(&r, n.params + f->scale[l], f->half, 0, 0.7f);
    rng_fill_normal(&r, Ru, 18, 0, 1);
    rng_fill_normal(&r, Rl, 3, 0, 1);
    flow_ctx c = {&n, z, Ru, Rl, B};
    int s;
    for (s = 0; s < 1000; s++) {
        rng_init(&r, 6, (uint64_t)s);
        rng_fill_normal(&r, z, 18, 0, 1);
        flow_loss(&c);
        if (flow_margin(f, &n.fb, n.params, B) > 0.05) break;
    }
    CHECK(s < 1000, "no input away from the ReLU kinks");
    memset(n.grads, 0, sizeof(float) * (size_t)n.L.nparams);
    flow_loss(&c);
    hsf_flow_backward(dz, n.grads, Ru, Rl, f, &n.fb, n.params, B);
    long off = f->net1[0].w, cnt = f->scale[f->L - 1] + f->half - off;
    gradcheck("coupling flow + log-det params", flow_loss, &c, n.params + off, cnt, n.grads + off,
              hsf_gc());
    gradcheck("coupling flow + log-det input", flow_loss, &c, z, 18, dz, hsf_gc());
    hsf_net_free(&n);
}

/* log|det A| of a small dense matrix by partial-pivoting LU in double. */
static double logabsdet(double *A, int n) {
    double ld = 0;
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(A[i * n + k]) > fabs(A[p * n + k])) p = i;
        if (p != k)
            for (int j = 0; j < n; j++) {
                double t = A[k * n + j]; A[k * n + j] = A[p * n + j]; A[p * n + j] = t;
            }
        ld += log(fabs(A[k * n + k]));
        for (int i = k + 1; i < n; i++) {
            double m = A[i * n + k] / A[k * n + k];
            for (int j = k; j < n; j++) A[i * n + j] -= m * A[k * n + j];
        }
    }
    return ld;
}

/* The paper-size flow (D = 24, 4 couplings of width 64): inverse(forward(z)) = z, and the
 * log-det equals log|det| of the finite-difference Jacobian. */
static void test_flow_inverse_logdet(void) {
    hsf_dims d = tiny_dims;
    d.latent = 24;
    d.flow_layers = 4;
    d.flow_hidden = 64;
    const int B = 4, D = 24;
    hsf_net n;
    CHECK(hsf_net_init(&n, &d, B, 1, 3) == 0, "init: %s", cls_geterr());
    const hsf_flow *f = &n.L.flow;
    rng_t r;
    rng_init(&r, 9, 0);
    for (int l = 0; l < f->L; l++) rng_fill_normal(&r, n.params + f->scale[l], f->half, 0, 1.0f);
    float z[4 * 24], u[4 * 24], zi[4 * 24], ld[4];
    rng_fill_normal(&r, z, B * D, 0, 1.5f);
    hsf_flow_forward(u, ld, z, f, &n.fb, n.params, B);
    hsf_flow_inverse(zi, u, f, &n.fb, n.params, B);
    double inv_err = 0, moved = 0;
    for (int i = 0; i < B * D; i++) {
        inv_err = fmax(inv_err, fabs((double)zi[i] - z[i]));
        moved = fmax(moved, fabs((double)u[i] - z[i]));
    }
    printf("#   flow inverse: max |inverse(forward(z)) - z| = %.2e (forward moves z by up to %.2f)\n",
           inv_err, moved);
    CHECK(inv_err < 1e-4, "inverse error %g", inv_err);
    CHECK(moved > 0.1, "the flow should not be near the identity in this test (%g)", moved);

    static double J[24 * 24];
    float zp[24], up[24], um[24], ldtmp;
    const float eps = 1e-2f;
    double worst = 0, biggest = 0;
    for (int b = 0; b < 2; b++) {
        for (int j = 0; j < D; j++) {
            memcpy(zp, z + b * D, sizeof zp);
            zp[j] += eps;
            hsf_flow_forward(up, &ldtmp, zp, f, &n.fb, n.params, 1);
            zp[j] -= 2 * eps;
            hsf_flow_forward(um, &ldtmp, zp, f, &n.fb, n.params, 1);
            for (int i = 0; i < D; i++) J[i * D + j] = ((double)up[i] - um[i]) / (2.0 * eps);
        }
        double fd = logabsdet(J, D);
        printf("#   sample %d: log-det %.5f, finite-difference Jacobian %.5f\n", b, ld[b], fd);
        worst = fmax(worst, fabs(fd - ld[b]));
        biggest = fmax(biggest, fabs(ld[b]));
    }
    CHECK(biggest > 0.5, "log-dets (max %g) too small to test", biggest);
    CHECK(worst < 1e-2, "log-det vs Jacobian: %g", worst);
    hsf_net_free(&n);
}

/* ---------------------------------------------------------------- SDE */

typedef struct {
    hsf_net *n;
    float *z0;
    const float *R;
    int B;
} sde_ctx;

static double sde_loss(void *p) {
    sde_ctx *c = p;
    hsf_net *n = c->n;
    const float *zT = hsf_sde_forward(c->z0, &n->L.sde_enc, &n->sb_enc, n->params, 1.0f, c->B);
    return dot(zT, c->R, (long)c->B * n->L.d.latent);
}

static void test_sde_gradcheck(void) {
    const int B = 3;
    hsf_net n;
    CHECK(hsf_net_init(&n, &tiny_dims, B, 1, 4) == 0, "init: %s", cls_geterr());
    const hsf_sde *s = &n.L.sde_enc;
    float z0[12], R[12], dz0[12] = {0};
    rng_t r;
    rng_init(&r, 11, 0);
    rng_fill_normal(&r, z0, 12, 0, 1);
    rng_fill_normal(&r, R, 12, 0, 1);
    /* noise fixed across evaluations; scaled up so the diffusion path carries weight */
    hsf_sde_noise(&n.sb_enc, s, &r, 1.0f, 3.0f, B);
    sde_ctx c = {&n, z0, R, B};
    memset(n.grads, 0, sizeof(float) * (size_t)n.L.nparams);
    sde_loss(&c);
    hsf_sde_backward(dz0, n.grads, R, s, &n.sb_enc, n.params, 1.0f, B);
    long off = s->f1.w, cnt = s->g3.b + s->D - off;
    gradcheck("SDE (10 Euler-Maruyama steps) params", sde_loss, &c, n.params + off, cnt,
              n.grads + off, hsf_gc());
    gradcheck("SDE (10 Euler-Maruyama steps) z0", sde_loss, &c, z0, 12, dz0, hsf_gc());
    /* the diffusion net alone: its gradient only comes through g ⊙ dW */
    double gnorm = 0;
    for (long i = s->g1.w; i < s->g3.b + s->D; i++) gnorm += fabs(n.grads[i]);
    CHECK(gnorm > 1e-3, "diffusion gradient vanished (%g)", gnorm);
    hsf_net_free(&n);
}

/* ---------------------------------------------------------------- separation */

typedef struct {
    float *emb;
    int t, E;
} sep_ctx;

static double sep_loss(void *p) {
    sep_ctx *c = p;
    return hsf_sep_forward(c->emb, c->t, c->E);
}

static void test_sep_gradcheck(void) {
    float emb[4 * 5], g[4 * 5] = {0};
    rng_t r;
    rng_init(&r, 13, 0);
    rng_fill_normal(&r, emb, 20, 0, 0.5f);
    sep_ctx c = {emb, 3, 5};
    hsf_sep_backward(g, emb, 3, 5, 1.0f);
    gc_opts o = GC_DEFAULTS;
    o.tol = 1e-3;   /* tighter than the default: a closed-form double loss, no float forward */
    gradcheck("embedding separation", sep_loss, &c, emb, 20, g, o);
    /* task 0 has no earlier task: no loss, no gradient */
    CHECK(hsf_sep_forward(emb, 0, 5) == 0.0, "sep loss of task 0");
    float g0[20] = {0};
    hsf_sep_backward(g0, emb, 0, 5, 1.0f);
    CHECK(dot(g0, g0, 20) == 0.0, "sep gradient of task 0");
    /* closer embeddings pay more */
    float near[10] = {0, 0, 0, 0, 0, 0.1f, 0, 0, 0, 0}, far[10] = {0, 0, 0, 0, 0, 3, 0, 0, 0, 0};
    CHECK(hsf_sep_forward(near, 1, 5) > hsf_sep_forward(far, 1, 5), "separation ordering");
}

/* ---------------------------------------------------------------- whole loss */

typedef struct {
    hsf_net *n;
    const float *x, *rx, *rz;
    const int *rt;
    int B, R, t;
    float beta, sep_w, rep_w;
} whole_ctx;

static double whole_loss_eval(whole_ctx *c, int backward) {
    double L = hsf_net_task_loss(c->n, c->x, c->B, c->t, c->beta, c->sep_w, backward, NULL);
    return L + c->rep_w * hsf_net_replay_loss(c->n, c->rx, c->rz, c->rt, c->R, c->rep_w, backward);
}

static double whole_loss(void *p) { return whole_loss_eval(p, 0); }

/* The composite loss MSE + β·NLL + δ·sep + γ·replay of a tiny network, every parameter:
 * embeddings (current and replayed tasks), three hypernetworks, flow, both SDEs, dense
 * layers. The noise is fixed; inputs are chosen so that no ReLU sits near its kink. */
static void test_whole_loss_gradcheck(void) {
    const int B = 4, R = 3;
    hsf_net n;
    float x[12], rx[9], rz[12];
    const int rt[3] = {0, 0, 2};
    rng_t r;
    int seed;
    double margin = 0;
    for (seed = 0; seed < 2000; seed++) {
        CHECK(hsf_net_init(&n, &tiny_dims, B, R, 100 + (uint64_t)seed) == 0, "init");
        rng_init(&r, 21, (uint64_t)seed);
        rng_fill_normal(&r, n.params + n.L.emb, 9, 0, 1.0f);   /* distinct embeddings */
        rng_fill_normal(&r, x, 12, 0, 1);
        rng_fill_normal(&r, rx, 9, 0, 1);
        rng_fill_normal(&r, rz, 12, 0, 1);
        hsf_sde_noise(&n.sb_enc, &n.L.sde_enc, &r, 1.0f, 1.0f, B);
        hsf_sde_noise(&n.sb_dec, &n.L.sde_dec, &r, 0.5f, 1.0f, B);
        hsf_sde_noise(&n.sb_rep, &n.L.sde_dec, &r, 0.5f, 1.0f, R);
        hsf_net_forward(&n, x, B, 1, 1);
        margin = flow_margin(&n.L.flow, &n.fb, n.params, B);
        const hsf_hyper *hs[3] = {&n.L.enc1, &n.L.enc2, &n.L.dec1};
        for (int k = 0; k < 3; k++)
            for (int t = 0; t < 3; t++)
                margin = fmin(margin, hyper_margin(hs[k], n.params, n.params + n.L.emb + 3 * t));
        if (margin > 0.05) break;
        hsf_net_free(&n);
    }
    CHECK(seed < 2000, "no configuration away from the ReLU kinks");
    if (seed >= 2000) return;
    whole_ctx c = {&n, x, rx, rz, rt, B, R, 1, 0.7f, 1.5f, 2.0f};
    memset(n.grads, 0, sizeof(float) * (size_t)n.L.nparams);
    double L = whole_loss_eval(&c, 1);
    hsf_losses parts;
    hsf_net_task_loss(&n, x, B, 1, 0.7f, 1.5f, 0, &parts);
    printf("#   whole loss %.4f (recon %.4f, nll %.4f, sep %.4f): %ld parameters\n", L, parts.recon,
           parts.nll, parts.sep, n.L.nparams);
    /* tol 1e-3, tighter than the default: it stands in for the former per-entry 5e-3 bound on
     * the large entries (measured err ~1e-4) */
    gc_opts o = hsf_gc();
    o.tol = 1e-3;
    gradcheck("whole loss, every parameter", whole_loss, &c, n.params, n.L.nparams, n.grads, o);
    CHECK(parts.sep > 0 && parts.nll != 0, "every term should be active");
    /* the replayed tasks' embeddings get gradient from the replay; the unused one none */
    double g0 = 0, g2 = 0;
    for (int j = 0; j < 3; j++) {
        g0 += fabs(n.grads[n.L.emb + j]);
        g2 += fabs(n.grads[n.L.emb + 6 + j]);
    }
    CHECK(g0 > 0 && g2 > 0, "replayed task embeddings should receive gradient");
    hsf_net_free(&n);
}

/* Fused optimiser mode (hsf_net_fuse_optim + hsf_net_step: the hypernetworks' output layers
 * updated from rank-1 gradients without a gradient array) against the plain path (zeroed
 * grads, backward, optim_step) on the paper-size network: task loss with every term, then a
 * replay that reuses the current task's decoder layer and another task's. After the first
 * step enc2's weight generator (one rank-1 term) is bit-identical; over 4 steps and a fifth
 * without a backward (every block steps on a zero gradient) every
 * parameter agrees to float rounding (input gradients are summed in another order, and a
 * reused layer's rank-1 terms are added before the product), and fused mode leaves the
 * gradient arena zeroed. eps = 1e-2: with Adam's 1e-8 a gradient entry of ~1e-8 turns its
 * rounding into a different step of up to lr, which would hide the comparison. */
static void test_fused_step_matches_plain(void) {
    hsf_dims d = {.in_dim = 3, .hidden = 64, .latent = 24, .emb_dim = 16, .ntasks = 5,
                  .flow_layers = 4, .flow_hidden = 64, .sde_hidden = 64, .sde_steps = 10,
                  .enc_t = 1.0f, .dec_t = 0.5f};
    const int B = 24, R = 6;
    hsf_net na, nb;
    CHECK(hsf_net_init(&na, &d, B, R, 9) == 0 && hsf_net_init(&nb, &d, B, R, 9) == 0, "init");
    optim_t oa, ob;
    optim_init(&oa, OPTIM_ADAMW, na.L.nparams, 5e-3f);
    optim_init(&ob, OPTIM_ADAMW, nb.L.nparams, 5e-3f);
    oa.eps = ob.eps = 1e-2f;
    CHECK(hsf_net_fuse_optim(&nb, &ob) == 1 && nb.fused && ob.ngroups == 4, "fused mode refused");
    optim_t os;
    optim_init(&os, OPTIM_SGD, na.L.nparams, 1e-2f);
    CHECK(hsf_net_fuse_optim(&na, &os) == 0 && !na.fused && os.ngroups == 1, "SGD must not fuse");
    optim_free(&os);
    float x[24 * 3], rx[6 * 3], rz[6 * 24];
    const int rt[6] = {0, 0, 1, 1, 1, 1};   /* task 1 is also the current task */
    rng_t r;
    rng_init(&r, 4, 0);
    rng_fill_normal(&r, x, 24 * 3, 0, 1);
    rng_fill_normal(&r, rx, 6 * 3, 0, 1);
    rng_fill_normal(&r, rz, 6 * 24, 0, 1);
    long P = na.L.nparams;
    const hsf_lin *w2 = &na.L.enc2.w2;
    long w2n = (long)w2->in * w2->out;
    double maxd = 0, maxp = 0;
    int first_identical = 1;
    for (int step = 0; step < 5; step++) {
        hsf_net *nets[2] = {&na, &nb};
        for (int k = 0; k < 2; k++) {
            hsf_net *n = nets[k];
            if (step == 4) {   /* a step without a backward: a zero gradient for every block */
                if (k == 0) memset(n->grads, 0, sizeof(float) * (size_t)P);
                hsf_net_step(n, k == 0 ? &oa : &ob);
                continue;
            }
            rng_t rn;
            rng_init(&rn, 50, (uint64_t)step);
            hsf_sde_noise(&n->sb_enc, &n->L.sde_enc, &rn, 1.0f, 1.0f, B);
            hsf_sde_noise(&n->sb_dec, &n->L.sde_dec, &rn, 0.5f, 1.0f, B);
            hsf_sde_noise(&n->sb_rep, &n->L.sde_dec, &rn, 0.5f, 1.0f, R);
            if (k == 0) memset(n->grads, 0, sizeof(float) * (size_t)P);
            hsf_net_task_loss(n, x, B, 1, 0.5f, 1.5f, 1, NULL);
            if (step % 2 == 0) hsf_net_replay_loss(n, rx, rz, rt, R, 2.0f, 1);
            hsf_net_step(n, k == 0 ? &oa : &ob);
        }
        if (step == 0)
            first_identical = !memcmp(na.params + w2->w, nb.params + w2->w, sizeof(float) * (size_t)w2n);
    }
    for (long i = 0; i < P; i++) {
        maxd = fmax(maxd, fabs((double)na.params[i] - nb.params[i]));
        maxp = fmax(maxp, fabs((double)na.params[i]));
    }
    int zero = 1;
    for (long i = 0; i < P; i++) zero &= nb.grads[i] == 0.0f;
    printf("#   fused vs plain AdamW, 5 steps: max |param diff| %.3g (max |param| %.3g); enc2 w2 "
           "after step 1 bit-identical: %s\n", maxd, maxp, first_identical ? "yes" : "no");
    CHECK(first_identical, "enc2's weight generator differs after one step");
    CHECK(maxd < 1e-6, "parameters differ by %g", maxd);
    CHECK(zero, "fused mode must leave the gradients zeroed");
    CHECK(oa.t == 5 && ob.t == 5, "step counts %ld %ld", oa.t, ob.t);
    optim_free(&oa);
    optim_free(&ob);
    hsf_net_free(&na);
    hsf_net_free(&nb);
}

/* ---------------------------------------------------------------- model behaviour */

static void test_hsf_learns(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "1", "benchmark.block_size", "60",
             "benchmark.points", "100", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status %s: %s", run_status_name(r.status), r.message);
    if (r.R) {
        printf("#   hsf T0 MSE %.4f at init → %.4f after 60 epochs\n", r.R0[0], r.R[0]);
        CHECK(r.R[0] < 0.5 * r.R0[0], "reconstruction should improve: %g → %g", r.R0[0], r.R[0]);
        CHECK(r.higher_is_better == 0 && !strcmp(r.metric, "mse"), "metric");
    }
    result_free(&r);
}

/* 2 tasks: after T1 the replay memory holds T0 pairs (replay and separation losses are
 * live), and the stream is evaluated on both tasks. */
static void test_hsf_continual(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "2", "benchmark.block_size", "40",
             "benchmark.points", "100", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status %s: %s", run_status_name(r.status), r.message);
    const result_extra *rep = result_find(&r, "loss_replay"), *sep = result_find(&r, "loss_sep");
    const result_extra *nll = result_find(&r, "loss_nll"), *f0 = result_find(&r, "t0_forgetting");
    CHECK(rep && sep && nll && f0, "extras missing");
    if (rep && sep && nll && f0 && r.R) {
        printf("#   stage 0: replay %.4f sep %.4f; stage 1: replay %.4f sep %.4f; T0 %.4f → %.4f\n",
               rep->data[0], sep->data[0], rep->data[1], sep->data[1], r.R[0], r.R[5]);
        CHECK(rep->data[0] == 0 && sep->data[0] == 0, "no replay or separation on the first task");
        CHECK(rep->data[1] > 0 && sep->data[1] > 0, "replay and separation live on the second task");
        CHECK(fabs(f0->data[0] - (r.R[5] - r.R[0])) < 1e-6, "t0_forgetting = R[1][0] - R[0][0]");
        CHECK(r.R[6] < r.R0[1], "T1 should improve when trained");
    }
    result_free(&r);
    /* the ablation switches: no replay, no separation, no NLL */
    make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "2", "benchmark.block_size", "6",
             "benchmark.points", "50", "hsf.replay_weight", "0", "hsf.sep_weight", "0",
             "hsf.beta_max", "0", "hsf.beta_min", "0", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "ablation status %s: %s", run_status_name(r.status), r.message);
    rep = result_find(&r, "loss_replay");
    sep = result_find(&r, "loss_sep");
    nll = result_find(&r, "loss_nll");
    CHECK(rep && sep && nll && rep->data[1] == 0 && sep->data[1] == 0 && nll->data[1] == 0,
          "ablated terms must be zero");
    result_free(&r);
}

/* The MLP autoencoder baseline (finetune on curves3d) on a 2-task short stream reconstructs
 * its current task to low MSE. */
static void test_mlp_autoencoder_short(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "finetune", "curves3d", "benchmark.blocks", "2", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status");
    if (r.R) {
        printf("#   MLP autoencoder: T0 %.5f after T0, T1 %.5f after T1\n", r.R[0], r.R[6]);
        CHECK(r.R[0] < 0.02 && r.R[6] < 0.02, "current-task MSE %g %g", r.R[0], r.R[6]);
    }
    result_free(&r);
}

/* Minibatches, a memory that overflows (oldest pairs dropped), a cyclic curriculum. */
static void test_hsf_minibatch_memory(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "6", "benchmark.block_size", "2",
             "benchmark.points", "50", "train.batch_size", "16", "hsf.memory_per_task", "30",
             "hsf.memory_max", "40", "hsf.replay_every", "1", "hsf.replay_batch", "64", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_OK, "status %s: %s", run_status_name(r.status), r.message);
    const result_extra *rep = result_find(&r, "loss_replay");
    CHECK(rep && rep->data[5] > 0, "replay should run on the sixth block");
    result_free(&r);
}

static void test_hsf_determinism(void) {
    run_result r[3];
    for (int i = 0; i < 3; i++) {
        run_config c;
        make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "2", "benchmark.block_size", "6",
                 "benchmark.points", "60", "seed", i < 2 ? "3" : "4", NULL);
        run_cfg(&r[i], &c);
        CHECK(r[i].status == RUN_STATUS_OK, "status %s", r[i].message);
    }
    size_t nb = sizeof(float) * 2 * 5;
    CHECK(r[0].R && r[1].R && !memcmp(r[0].R, r[1].R, nb), "same seed, different R");
    CHECK(r[0].R && r[2].R && memcmp(r[0].R, r[2].R, nb), "different seeds, identical R");
    for (int i = 0; i < 3; i++) result_free(&r[i]);
}

static void test_hsf_divergence(void) {
    run_config c;
    run_result r;
    make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "2", "benchmark.block_size", "30",
             "benchmark.points", "50", "train.lr", "100000", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_DIVERGED, "status %s (%s)", run_status_name(r.status), r.message);
    CHECK(strstr(r.message, "non-finite") != NULL, "message '%s'", r.message);
    result_free(&r);
    /* an odd latent is a clean init failure, not a crash */
    make_cfg(&c, "hsf", "curves3d", "benchmark.block_size", "1", "hsf.latent", "5", NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_FAILED && strstr(r.message, "even"), "odd latent: %s", r.message);
    result_free(&r);
}

/* ---------------------------------------------------------------- weight-space analysis */

/* The weights hook: shape (T·T·per, H), tasks in blocks of T·per, finite, deterministic, and
 * equal to the encoder's h2 = GELU(DynLinear(GELU(DynLinear(x)))) of a reference network
 * built from the same seed (hsf_net_encode's e2), for task t's embedding on every pooled
 * probe: probes are the test points strided n_test/per apart. */
static void test_hsf_weights_hook(void) {
    run_config c;
    make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "2", "benchmark.block_size", "2",
             "benchmark.points", "50", NULL);
    bench_t b;
    CHECK(bench_init(&b, &c, 0) == 0, "bench: %s", cls_geterr());
    const model_ops *ops = model_find("hsf");
    CHECK(ops && ops->weights, "hsf has no weights hook");
    if (!ops || !ops->weights) { bench_free(&b); cfg_free(&c); return; }
    const uint64_t seed = 17;
    model_t *m = ops->init(&c, &b, seed);
    CHECK(m != NULL, "init: %s", cls_geterr());
    if (!m) { bench_free(&b); cfg_free(&c); return; }
    const int per = 7, T = b.ntasks, H = 64, P = T * per;
    int rows = 0, cols = 0, *task = NULL;
    float *w = ops->weights(m, &b, per, &rows, &cols, &task);
    CHECK(w && task && rows == T * P && cols == H, "shape %d x %d (expected %d x %d)", rows, cols,
          T * P, H);
    if (!w || !task || rows != T * P || cols != H) {
        free(w); free(task); ops->free(m); bench_free(&b); cfg_free(&c);
        return;
    }
    int finite = 1, tasks_ok = 1;
    for (long i = 0; i < (long)rows * cols; i++) finite &= isfinite(w[i]) != 0;
    for (int i = 0; i < rows; i++) tasks_ok &= task[i] == i / P;
    CHECK(finite, "non-finite rows");
    CHECK(tasks_ok, "row tasks must be t for rows [t·P, (t+1)·P)");
    /* reference: the untrained model's network is hsf_net_init(seed) with the same sizes */
    hsf_dims d = {.in_dim = 3, .hidden = H, .latent = 24, .emb_dim = 16, .ntasks = T,
                  .flow_layers = 4, .flow_hidden = 64, .sde_hidden = 64, .sde_steps = 10,
                  .enc_t = 1.0f, .dec_t = 0.5f};
    hsf_net n;
    CHECK(hsf_net_init(&n, &d, P, 1, seed) == 0, "reference net: %s", cls_geterr());
    float *x = xmalloc(sizeof(float) * 3 * (size_t)P);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < per; i++)
            memcpy(x + 3 * (t * per + i), b.tasks[t].x_test + 3 * (i * b.tasks[t].n_test / per),
                   sizeof(float) * 3);
    double maxd = 0;
    for (int t = 0; t < T; t++) {
        hsf_net_encode(&n, x, P, t);
        for (long i = 0; i < (long)P * H; i++)
            maxd = fmax(maxd, fabs((double)n.e2[i] - w[(long)t * P * H + i]));
    }
    printf("#   weights: %d x %d, max |row - reference h2| = %.3g\n", rows, cols, maxd);
    CHECK(maxd < 1e-6, "rows differ from the encoder's h2 by %g", maxd);
    /* the same inputs for every task: rows differ between tasks only through e_t */
    double dt = 0;
    for (long i = 0; i < (long)P * H; i++) dt = fmax(dt, fabs((double)w[i] - w[(long)P * H + i]));
    CHECK(dt > 0, "tasks 0 and 1 give identical rows");
    int rows2 = 0, cols2 = 0, *task2 = NULL;
    float *w2 = ops->weights(m, &b, per, &rows2, &cols2, &task2);
    CHECK(w2 && rows2 == rows && cols2 == cols && !memcmp(w, w2, sizeof(float) * (size_t)rows * cols),
          "weights not deterministic");
    /* spt larger than the test set: every test point of every task */
    int rows3 = 0, cols3 = 0, *task3 = NULL;
    float *w3 = ops->weights(m, &b, 1000, &rows3, &cols3, &task3);
    CHECK(w3 && rows3 == T * T * 50 && cols3 == H, "spt > n_test: %d rows", rows3);
    free(x);
    hsf_net_free(&n);
    free(w); free(task); free(w2); free(task2); free(w3); free(task3);
    ops->free(m);
    bench_free(&b);
    cfg_free(&c);
}

/* A run with the analysis after every stage stores a finite, positive ws_separation per
 * stage; the analysis does not change the training trajectory (R, R_noise_free bit-identical
 * with analysis.when none). */
static void test_hsf_weightspace_run(void) {
    run_result r[2];
    for (int k = 0; k < 2; k++) {
        run_config c;
        make_cfg(&c, "hsf", "curves3d", "benchmark.blocks", "3", "benchmark.block_size", "8",
                 "benchmark.points", "60", "analysis.samples_per_task", "20", "analysis.when",
                 k == 0 ? "stage" : "none", NULL);
        run_execute(&c, &r[k]);
        analysis_apply(NULL, &c, &r[k]);
        cfg_free(&c);
        CHECK(r[k].status == RUN_STATUS_OK, "status %s: %s", run_status_name(r[k].status), r[k].message);
    }
    const result_extra *e = result_find(&r[0], "ws_separation");
    CHECK(e != NULL && e->ndim == 1 && e->shape[0] == 3, "ws_separation per stage missing");
    if (e && e->ndim == 1 && e->shape[0] == 3) {
        printf("#   ws_separation per stage: %.4f %.4f %.4f\n", e->data[0], e->data[1], e->data[2]);
        for (int s = 0; s < 3; s++)
            CHECK(isfinite(e->data[s]) && e->data[s] > 0, "stage %d separation %g", s, e->data[s]);
    }
    const result_extra *none = result_find(&r[1], "ws_separation");
    CHECK(none == NULL || !isfinite(none->data[0]), "analysis.when none stored a separation");
    CHECK(r[0].R && r[1].R && !memcmp(r[0].R, r[1].R, sizeof(float) * 3 * 5) &&
              r[0].R0 && r[1].R0 && !memcmp(r[0].R0, r[1].R0, sizeof(float) * 5),
          "the analysis changed R");
    const result_extra *q0 = result_find(&r[0], "R_noise_free"), *q1 = result_find(&r[1], "R_noise_free");
    CHECK(q0 && q1 && !memcmp(q0->data, q1->data, sizeof(double) * 3 * 5),
          "the analysis changed R_noise_free");
    result_free(&r[0]);
    result_free(&r[1]);
}

int main(void) {
    RUN_TEST(test_tanh_accuracy);
    RUN_TEST(test_hyper_gradcheck);
    RUN_TEST(test_flow_gradcheck);
    RUN_TEST(test_flow_inverse_logdet);
    RUN_TEST(test_sde_gradcheck);
    RUN_TEST(test_sep_gradcheck);
    RUN_TEST(test_whole_loss_gradcheck);
    RUN_TEST(test_fused_step_matches_plain);
    RUN_TEST(test_hsf_learns);
    RUN_TEST(test_hsf_continual);
    RUN_TEST(test_mlp_autoencoder_short);
    RUN_TEST(test_hsf_minibatch_memory);
    RUN_TEST(test_hsf_determinism);
    RUN_TEST(test_hsf_divergence);
    RUN_TEST(test_hsf_weights_hook);
    RUN_TEST(test_hsf_weightspace_run);
    TEST_EXIT();
}
