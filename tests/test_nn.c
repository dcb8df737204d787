/* test_nn.c — the numerics core: forwards against naive double references, every backward
 * against central finite differences (which also checks that backward accumulates),
 * optimisers against hand-computed updates, Haar QR and Philox sanity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "nn.h"
#include "optim.h"
#include "rng.h"
#include "gradcheck.h"
#include "test.h"
#include "util.h"

/* Gradient checks use tests/gradcheck.h (error relative to the global ∞-norm, GC_DEFAULTS
 * tolerance 1e-2). Forwards run in float, the objective in double; the step is the
 * float-representable difference actually applied. The steps are the callers': 1e-2 (wider
 * than the default 1e-3, so the float32 forward's rounding stays out of the differences),
 * 1e-3 for max-pool, whose inputs are 0.05 apart so that no step changes an argmax. */
static rng_t R;
static double gc_worst;            /* worst gradcheck error over the whole run, for the summary */
static char gc_worst_name[64];

static float *fbuf(long n) { return xcalloc((size_t)n, sizeof(float)); }

static void fill(float *x, long n, float lo, float hi) { rng_fill_uniform(&R, x, n, lo, hi); }

static double maxabsdiff(const float *a, const double *b, long n) {
    double m = 0.0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ---- one evaluator for every op: L = Σ out·wts for layers, scale·loss for losses ---- */

typedef enum { OP_DENSE, OP_PDENSE, OP_CONV, OP_POOL, OP_ACT, OP_XENT, OP_MSE, OP_KD,
               OP_RESIZE } op_kind;

typedef struct {
    op_kind op;
    int B, n_in, n_out;       /* dense, pdense; conv: c_in, c_out */
    int C, H, W, Ho, Wo;      /* conv/pool/resize planes; C = classes for losses */
    act_kind act;
    int half;
    float T, scale;
    float *inp, *w, *b;       /* b may be NULL */
    float *tgt;               /* mse target / kd teacher */
    int *labels, *mask;
    float *out, *wts, *col;   /* out/wts (n_outs) */
    int *argmax;
    long n_outs;
} op_t;

static double dot_out(const op_t *o) {
    double s = 0.0;
    for (long i = 0; i < o->n_outs; i++) s += (double)o->out[i] * (double)o->wts[i];
    return s;
}

static double op_loss(op_t *o) {
    switch (o->op) {
    case OP_DENSE:
        dense_forward(o->out, o->inp, o->w, o->b, o->B, o->n_in, o->n_out);
        return dot_out(o);
    case OP_PDENSE:
        pdense_forward(o->out, o->inp, o->w, o->B, o->n_in, o->n_out);
        return dot_out(o);
    case OP_CONV:
        conv2d_forward(o->out, o->inp, o->w, o->b, o->col, o->B, o->n_in, o->H, o->W, o->n_out);
        return dot_out(o);
    case OP_POOL:
        maxpool2_forward(o->out, o->argmax, o->inp, o->B, o->C, o->H, o->W);
        return dot_out(o);
    case OP_ACT:
        act_forward(o->act, o->out, o->inp, o->n_outs);
        return dot_out(o);
    case OP_RESIZE:
        resize_bilinear_forward(o->out, o->inp, o->B, o->C, o->H, o->W, o->Ho, o->Wo);
        return dot_out(o);
    case OP_XENT:
        return o->scale * (double)softmax_xent_forward(o->out, o->inp, o->labels, o->mask, o->B, o->C);
    case OP_MSE:
        return o->scale * (double)mse_forward(o->inp, o->tgt, o->B, o->C, o->half);
    case OP_KD:
        return o->scale * (double)kd_forward(o->inp, o->tgt, o->mask, o->T, o->B, o->C);
    }
    return 0.0;
}

/* Runs forward then backward with dout = wts; gradients accumulate into the given buffers. */
static void op_backward(op_t *o, float *dinp, float *dw, float *db) {
    op_loss(o);
    switch (o->op) {
    case OP_DENSE:
        dense_backward(dinp, dw, db, o->wts, o->inp, o->w, o->B, o->n_in, o->n_out);
        break;
    case OP_PDENSE:
        pdense_backward(dinp, dw, o->wts, o->inp, o->w, o->B, o->n_in, o->n_out);
        break;
    case OP_CONV:
        conv2d_backward(dinp, dw, db, o->wts, o->inp, o->w, o->col, o->B, o->n_in, o->H, o->W,
                        o->n_out);
        break;
    case OP_POOL:
        maxpool2_backward(dinp, o->wts, o->argmax, o->B, o->C, o->H, o->W);
        break;
    case OP_ACT:
        act_backward(o->act, dinp, o->wts, o->inp, o->out, o->n_outs);
        break;
    case OP_RESIZE:
        resize_bilinear_backward(dinp, o->wts, o->B, o->C, o->H, o->W, o->Ho, o->Wo);
        break;
    case OP_XENT:
        softmax_xent_backward(dinp, o->out, o->labels, o->mask, o->scale, o->B, o->C);
        break;
    case OP_MSE:
        mse_backward(dinp, o->inp, o->tgt, o->scale, o->B, o->C, o->half);
        break;
    case OP_KD:
        kd_backward(dinp, o->inp, o->tgt, o->mask, o->T, o->scale, o->B, o->C);
        break;
    }
}

static double op_loss_cb(void *ctx) { return op_loss((op_t *)ctx); }

/* Checks (g − g0), the gradient backward accumulated onto g0, against central differences
 * of the op's objective with respect to x[n] (tests/gradcheck.h). */
static double check_grad(const char *what, op_t *o, float *x, long n, const float *g,
                         const float *g0, double eps) {
    float *d = fbuf(n);
    for (long i = 0; i < n; i++) d[i] = (float)((double)g[i] - (double)g0[i]);
    gc_opts opt = GC_DEFAULTS;
    opt.eps = eps;
    gc_result r = gradcheck(what, op_loss_cb, o, x, n, d, opt);
    free(d);
    if (r.err > gc_worst) {
        gc_worst = r.err;
        snprintf(gc_worst_name, sizeof gc_worst_name, "%s", what);
    }
    return r.err;
}

/* Gradient buffer pre-filled with random values, so the check also proves accumulation. */
static float *gbuf(long n, float **g0) {
    float *g = fbuf(n);
    *g0 = fbuf(n);
    fill(*g0, n, -1.0f, 1.0f);
    memcpy(g, *g0, (size_t)n * sizeof(float));
    return g;
}

/* ---- naive double references ---- */

static void ref_dense(double *out, const float *inp, const float *w, const float *b, int B,
                      int n_in, int n_out) {
    for (int s = 0; s < B; s++)
        for (int o = 0; o < n_out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < n_in; i++) acc += (double)inp[s * n_in + i] * w[o * n_in + i];
            out[s * n_out + o] = acc;
        }
}

static void ref_conv(double *out, const float *inp, const float *w, const float *b, int B,
                     int c_in, int H, int W, int c_out) {
    for (int s = 0; s < B; s++)
        for (int co = 0; co < c_out; co++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < c_in; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = y + ky - 1, ix = x + kx - 1;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)w[((co * c_in + ci) * 3 + ky) * 3 + kx] *
                                       inp[((s * c_in + ci) * H + iy) * W + ix];
                            }
                    out[((s * c_out + co) * H + y) * W + x] = acc;
                }
}

static double ref_act(act_kind k, double x) {
    switch (k) {
    case ACT_IDENTITY: return x;
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_LEAKY_RELU: return x > 0 ? x : 0.01 * x;
    case ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case ACT_TANH: return tanh(x);
    case ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ACT_GAUSSIAN: return exp(-x * x);
    }
    return NAN;
}

/* ---- dense ---- */

static void test_dense_forward(void) {
    int Bs[2] = {1, 7}, n_in = 13, n_out = 6;
    for (int t = 0; t < 2; t++) {
        int B = Bs[t];
        float *inp = fbuf(B * n_in), *w = fbuf(n_out * n_in), *b = fbuf(n_out), *out = fbuf(B * n_out);
        double *ref = xcalloc((size_t)B * n_out, sizeof(double));
        fill(inp, B * n_in, -1, 1);
        fill(w, n_out * n_in, -1, 1);
        fill(b, n_out, -1, 1);
        for (int withb = 0; withb < 2; withb++) {
            fill(out, B * n_out, 100, 200);   /* forward must overwrite, not accumulate */
            dense_forward(out, inp, w, withb ? b : NULL, B, n_in, n_out);
            ref_dense(ref, inp, w, withb ? b : NULL, B, n_in, n_out);
            double d = maxabsdiff(out, ref, B * n_out);
            printf("#   dense_forward B=%d bias=%d max abs diff %.2e\n", B, withb, d);
            CHECK(d < 1e-5, "B=%d bias=%d diff %g", B, withb, d);
        }
        free(inp); free(w); free(b); free(out); free(ref);
    }
}

static void test_dense_grad(void) {
    int Bs[2] = {1, 4}, n_in = 7, n_out = 5;
    for (int t = 0; t < 2; t++) {
        op_t o = {.op = OP_DENSE, .B = Bs[t], .n_in = n_in, .n_out = n_out};
        int B = o.B;
        o.n_outs = (long)B * n_out;
        o.inp = fbuf(B * n_in); o.w = fbuf(n_out * n_in); o.b = fbuf(n_out);
        o.out = fbuf(o.n_outs); o.wts = fbuf(o.n_outs);
        fill(o.inp, B * n_in, -1, 1); fill(o.w, n_out * n_in, -1, 1); fill(o.b, n_out, -1, 1);
        fill(o.wts, o.n_outs, -1, 1);
        float *gi0, *gw0, *gb0;
        float *gi = gbuf(B * n_in, &gi0), *gw = gbuf(n_out * n_in, &gw0), *gb = gbuf(n_out, &gb0);
        op_backward(&o, gi, gw, gb);
        char name[64];
        snprintf(name, sizeof name, "dense B=%d dinp", B);
        check_grad(name, &o, o.inp, B * n_in, gi, gi0, 1e-2f);
        snprintf(name, sizeof name, "dense B=%d dw", B);
        check_grad(name, &o, o.w, n_out * n_in, gw, gw0, 1e-2f);
        snprintf(name, sizeof name, "dense B=%d db", B);
        check_grad(name, &o, o.b, n_out, gb, gb0, 1e-2f);
        /* NULL gradients are skipped; dw alone must match the full call */
        float *gw2 = fbuf(n_out * n_in);
        memcpy(gw2, gw0, (size_t)n_out * n_in * sizeof(float));
        op_backward(&o, NULL, gw2, NULL);
        int same = memcmp(gw2, gw, (size_t)n_out * n_in * sizeof(float)) == 0;
        CHECK(same, "dense B=%d: dw with NULL dinp/db differs", B);
        free(o.inp); free(o.w); free(o.b); free(o.out); free(o.wts);
        free(gi); free(gi0); free(gw); free(gw0); free(gb); free(gb0); free(gw2);
    }
}

/* ---- per-sample dense ---- */

static void test_pdense(void) {
    int Bs[2] = {1, 3}, n_in = 9, n_out = 4;
    for (int t = 0; t < 2; t++) {
        int B = Bs[t];
        op_t o = {.op = OP_PDENSE, .B = B, .n_in = n_in, .n_out = n_out};
        long nw = (long)B * n_out * n_in;
        o.n_outs = (long)B * n_out;
        o.inp = fbuf(B * n_in); o.w = fbuf(nw); o.out = fbuf(o.n_outs); o.wts = fbuf(o.n_outs);
        fill(o.inp, B * n_in, -1, 1); fill(o.w, nw, -1, 1); fill(o.wts, o.n_outs, -1, 1);
        /* forward: each sample through its own matrix */
        op_loss(&o);
        double *ref = xcalloc((size_t)o.n_outs, sizeof(double));
        for (int s = 0; s < B; s++)
            ref_dense(ref + s * n_out, o.inp + s * n_in, o.w + (long)s * n_out * n_in, NULL, 1,
                      n_in, n_out);
        double d = maxabsdiff(o.out, ref, o.n_outs);
        printf("#   pdense_forward B=%d max abs diff %.2e\n", B, d);
        CHECK(d < 1e-5, "pdense forward B=%d diff %g", B, d);

        float *gi0, *gw0;
        float *gi = gbuf(B * n_in, &gi0), *gw = gbuf(nw, &gw0);
        op_backward(&o, gi, gw, NULL);
        char name[64];
        snprintf(name, sizeof name, "pdense B=%d dinp", B);
        check_grad(name, &o, o.inp, B * n_in, gi, gi0, 1e-2f);
        snprintf(name, sizeof name, "pdense B=%d dw", B);
        check_grad(name, &o, o.w, nw, gw, gw0, 1e-2f);
        free(o.inp); free(o.w); free(o.out); free(o.wts); free(ref);
        free(gi); free(gi0); free(gw); free(gw0);
    }
}

/* ---- conv2d ---- */

static void test_conv2d(void) {
    int B = 2, c_in = 2, H = 5, W = 4, c_out = 3;   /* non-square catches H/W swaps */
    op_t o = {.op = OP_CONV, .B = B, .n_in = c_in, .n_out = c_out, .H = H, .W = W};
    long ni = (long)B * c_in * H * W, nw = (long)c_out * c_in * 9;
    o.n_outs = (long)B * c_out * H * W;
    o.inp = fbuf(ni); o.w = fbuf(nw); o.b = fbuf(c_out);
    o.out = fbuf(o.n_outs); o.wts = fbuf(o.n_outs);
    o.col = fbuf(2 * conv2d_col_size(c_in, H, W));
    fill(o.inp, ni, -1, 1); fill(o.w, nw, -1, 1); fill(o.b, c_out, -1, 1); fill(o.wts, o.n_outs, -1, 1);

    double *ref = xcalloc((size_t)o.n_outs, sizeof(double));
    for (int withb = 0; withb < 2; withb++) {
        fill(o.out, o.n_outs, 100, 200);
        conv2d_forward(o.out, o.inp, o.w, withb ? o.b : NULL, o.col, B, c_in, H, W, c_out);
        ref_conv(ref, o.inp, o.w, withb ? o.b : NULL, B, c_in, H, W, c_out);
        double d = maxabsdiff(o.out, ref, o.n_outs);
        printf("#   conv2d_forward bias=%d max abs diff %.2e\n", withb, d);
        CHECK(d < 1e-5, "conv forward bias=%d diff %g", withb, d);
    }

    float *gi0, *gw0, *gb0;
    float *gi = gbuf(ni, &gi0), *gw = gbuf(nw, &gw0), *gb = gbuf(c_out, &gb0);
    op_backward(&o, gi, gw, gb);
    check_grad("conv2d dinp", &o, o.inp, ni, gi, gi0, 1e-2f);
    check_grad("conv2d dw", &o, o.w, nw, gw, gw0, 1e-2f);
    check_grad("conv2d db", &o, o.b, c_out, gb, gb0, 1e-2f);
    free(o.inp); free(o.w); free(o.b); free(o.out); free(o.wts); free(o.col); free(ref);
    free(gi); free(gi0); free(gw); free(gw0); free(gb); free(gb0);
}

/* ---- maxpool ---- */

static void test_maxpool2(void) {
    int B = 2, C = 2, H = 6, W = 4;
    long n = (long)B * C * H * W;
    op_t o = {.op = OP_POOL, .B = B, .C = C, .H = H, .W = W};
    o.n_outs = n / 4;
    o.inp = fbuf(n); o.out = fbuf(o.n_outs); o.wts = fbuf(o.n_outs);
    o.argmax = xcalloc((size_t)o.n_outs, sizeof(int));
    /* distinct values 0.05 apart: a ±1e-3 step never changes the argmax */
    int *perm = xcalloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) perm[i] = i;
    rng_shuffle(&R, perm, (int)n);
    for (long i = 0; i < n; i++) o.inp[i] = 0.05f * (float)perm[i] - 2.0f;
    fill(o.wts, o.n_outs, -1, 1);

    op_loss(&o);
    double maxd = 0.0;
    int idx_ok = 1;
    for (int p = 0; p < B * C; p++)
        for (int oy = 0; oy < H / 2; oy++)
            for (int ox = 0; ox < W / 2; ox++) {
                const float *in = o.inp + (long)p * H * W;
                double m = -INFINITY;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) m = fmax(m, in[(2 * oy + dy) * W + 2 * ox + dx]);
                long k = (long)p * (H / 2) * (W / 2) + oy * (W / 2) + ox;
                maxd = fmax(maxd, fabs(o.out[k] - m));
                if (in[o.argmax[k]] != o.out[k]) idx_ok = 0;
            }
    CHECK(maxd == 0.0, "maxpool forward diff %g", maxd);
    CHECK(idx_ok, "argmax does not point at the max within its plane");

    float *gi0;
    float *gi = gbuf(n, &gi0);
    op_backward(&o, gi, NULL, NULL);
    check_grad("maxpool2 dinp", &o, o.inp, n, gi, gi0, 1e-3f);
    free(o.inp); free(o.out); free(o.wts); free(o.argmax); free(perm); free(gi); free(gi0);
}

/* ---- activations ---- */

static void test_activations(void) {
    const char *names[] = {"identity", "relu", "leaky_relu", "gelu", "tanh", "sigmoid", "gaussian"};
    for (int k = 0; k < 7; k++) {
        CHECK(act_parse(names[k]) == k, "act_parse(%s)", names[k]);
        CHECK(strcmp(act_name((act_kind)k), names[k]) == 0, "act_name(%d)", k);
    }
    CHECK(act_parse("swish") == -1, "unknown activation accepted");

    long n = 64;
    for (int k = 0; k < 7; k++) {
        op_t o = {.op = OP_ACT, .act = (act_kind)k, .n_outs = n};
        o.inp = fbuf(n); o.out = fbuf(n); o.wts = fbuf(n);
        fill(o.inp, n, -3, 3);
        for (long i = 0; i < n; i++)   /* keep away from the kink at 0 */
            if (fabsf(o.inp[i]) < 0.1f) o.inp[i] = o.inp[i] < 0 ? -0.1f - o.inp[i] : 0.1f + o.inp[i];
        o.inp[0] = -20.0f;   /* saturated tails stay finite */
        o.inp[1] = 20.0f;
        fill(o.wts, n, -1, 1);

        op_loss(&o);
        double maxd = 0.0;
        for (long i = 0; i < n; i++) {
            double r = ref_act(o.act, o.inp[i]);
            maxd = fmax(maxd, fabs(o.out[i] - r) / fmax(1.0, fabs(r)));
        }
        printf("#   %-10s forward max rel diff %.2e\n", names[k], maxd);
        CHECK(maxd < 1e-6, "%s forward diff %g", names[k], maxd);

        float *gi0;
        float *gi = gbuf(n, &gi0);
        op_backward(&o, gi, NULL, NULL);
        char name[64];
        snprintf(name, sizeof name, "act %s dinp", names[k]);
        check_grad(name, &o, o.inp, n, gi, gi0, 1e-2f);

        /* out == NULL recomputes f from inp: same result */
        float *gi2 = fbuf(n);
        memcpy(gi2, gi0, (size_t)n * sizeof(float));
        act_backward(o.act, gi2, o.wts, o.inp, NULL, n);
        double dd = 0.0;
        for (long i = 0; i < n; i++) dd = fmax(dd, fabs((double)gi2[i] - gi[i]));
        CHECK(dd < 1e-6, "%s backward without out differs by %g", names[k], dd);

        /* in place forward */
        float *x = fbuf(n);
        memcpy(x, o.inp, (size_t)n * sizeof(float));
        act_forward(o.act, x, x, n);
        CHECK(memcmp(x, o.out, (size_t)n * sizeof(float)) == 0, "%s in-place forward differs", names[k]);
        free(o.inp); free(o.out); free(o.wts); free(gi); free(gi0); free(gi2); free(x);
    }
}

/* ---- softmax cross-entropy ---- */

static double ref_xent(const float *z, const int *y, const int *mask, int B, int C, double *p) {
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        double mx = -INFINITY, s = 0.0;
        for (int c = 0; c < C; c++)
            if (!mask || mask[c]) mx = fmax(mx, z[b * C + c]);
        for (int c = 0; c < C; c++)
            if (!mask || mask[c]) s += exp(z[b * C + c] - mx);
        for (int c = 0; c < C; c++)
            p[b * C + c] = (!mask || mask[c]) ? exp(z[b * C + c] - mx) / s : 0.0;
        loss += -log(p[b * C + y[b]]);
    }
    return loss / B;
}

static void test_softmax_xent(void) {
    int B = 3, C = 6;
    int labels[3] = {0, 4, 2}, mask[6] = {1, 0, 1, 1, 1, 0};
    for (int m = 0; m < 2; m++) {
        op_t o = {.op = OP_XENT, .B = B, .C = C, .scale = 1.5f, .labels = labels,
                  .mask = m ? mask : NULL};
        o.inp = fbuf(B * C); o.out = fbuf(B * C);
        fill(o.inp, B * C, -2, 2);
        double pref[18];
        double lref = ref_xent(o.inp, labels, o.mask, B, C, pref);
        float l = softmax_xent_forward(o.out, o.inp, labels, o.mask, B, C);
        double dp = maxabsdiff(o.out, pref, B * C);
        printf("#   softmax_xent mask=%d loss %.6f ref %.6f, probs max abs diff %.2e\n", m, l, lref, dp);
        CHECK(fabs(l - lref) < 1e-5, "xent loss mask=%d", m);
        CHECK(dp < 1e-6, "xent probs mask=%d", m);
        CHECK(softmax_xent_forward(NULL, o.inp, labels, o.mask, B, C) == l, "probs NULL changes loss");

        float *gi0;
        float *gi = gbuf(B * C, &gi0);
        op_backward(&o, gi, NULL, NULL);
        if (m)
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++)
                    if (!mask[c]) CHECK(gi[b * C + c] == gi0[b * C + c], "masked class got gradient");
        check_grad(m ? "softmax_xent masked dlogits" : "softmax_xent dlogits", &o, o.inp, B * C, gi,
                  gi0, 1e-2f);
        free(o.inp); free(o.out); free(gi); free(gi0);
    }
    /* stability: huge logits */
    float z[4] = {1e4f, -1e4f, 3e3f, 1e4f - 1.0f};
    float p[4];
    int y = 2;
    float l = softmax_xent_forward(p, z, &y, NULL, 1, 4);
    CHECK(isfinite(l) && fabsf(l - (7000.0f + logf(1.0f + expf(-1.0f)))) < 1.0f, "huge logits loss %g", l);
    CHECK(isfinite(p[0]) && fabsf(p[0] + p[3] - 1.0f) < 1e-6f, "huge logits probs");
}

/* ---- mse ---- */

static void test_mse(void) {
    float pred[6] = {1, 2, 3, 4, 5, 6}, tgt[6] = {1, 0, 3, 1, 5, 4};   /* diffs 0 2 0 3 0 2 */
    /* B=2, n=3: Σd² = 17 */
    CHECK_NEAR(mse_forward(pred, tgt, 2, 3, 1), 0.5 * 17 / 2, 1e-6, "mse half");
    CHECK_NEAR(mse_forward(pred, tgt, 2, 3, 0), 17.0 / 6, 1e-6, "mse mean");
    int B = 4, n = 5;
    for (int half = 0; half < 2; half++) {
        op_t o = {.op = OP_MSE, .B = B, .C = n, .half = half, .scale = 0.7f};
        o.inp = fbuf(B * n); o.tgt = fbuf(B * n);
        fill(o.inp, B * n, -1, 1); fill(o.tgt, B * n, -1, 1);
        float *gi0;
        float *gi = gbuf(B * n, &gi0);
        op_backward(&o, gi, NULL, NULL);
        check_grad(half ? "mse half dpred" : "mse mean dpred", &o, o.inp, B * n, gi, gi0, 1e-2f);
        free(o.inp); free(o.tgt); free(gi); free(gi0);
    }
}

/* ---- distillation ---- */

static double ref_kd(const float *s, const float *t, const int *mask, double T, int B, int C) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        double ps[32], pt[32], ss = 0, st = 0;
        for (int c = 0; c < C; c++) {
            ps[c] = (!mask || mask[c]) ? exp(s[b * C + c] / T) : 0.0;
            pt[c] = (!mask || mask[c]) ? exp(t[b * C + c] / T) : 0.0;
            ss += ps[c];
            st += pt[c];
        }
        for (int c = 0; c < C; c++)
            if (!mask || mask[c]) total += ps[c] / ss * log((ps[c] / ss) / (pt[c] / st));
    }
    return T * T * total / B;
}

static void test_kd(void) {
    int B = 3, C = 7;
    int mask[7] = {0, 1, 1, 0, 1, 1, 1};
    for (int m = 0; m < 2; m++) {
        op_t o = {.op = OP_KD, .B = B, .C = C, .T = 2.0f, .scale = 1.3f, .mask = m ? mask : NULL};
        o.inp = fbuf(B * C); o.tgt = fbuf(B * C);
        rng_fill_normal(&R, o.inp, B * C, 0, 2);
        rng_fill_normal(&R, o.tgt, B * C, 0, 2);
        double r = ref_kd(o.inp, o.tgt, o.mask, 2.0, B, C);
        float k = kd_forward(o.inp, o.tgt, o.mask, 2.0f, B, C);
        printf("#   kd mask=%d %.7f ref %.7f\n", m, k, r);
        CHECK(fabs(k - r) < 1e-5 * fmax(1, fabs(r)), "kd forward mask=%d", m);
        CHECK(fabsf(kd_forward(o.inp, o.inp, o.mask, 2.0f, B, C)) < 1e-6f, "KD(s, s) != 0");
        float *gi0;
        float *gi = gbuf(B * C, &gi0);
        op_backward(&o, gi, NULL, NULL);
        if (m)
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++)
                    if (!mask[c]) CHECK(gi[b * C + c] == gi0[b * C + c], "masked class got gradient");
        check_grad(m ? "kd masked dstudent" : "kd dstudent", &o, o.inp, B * C, gi, gi0, 1e-2f);
        free(o.inp); free(o.tgt); free(gi); free(gi0);
    }
    /* student first: KL(p_s‖p_t), not KL(p_t‖p_s) */
    float s[2] = {0.0f, 0.0f}, t[2] = {0.0f, 2.0f};
    double pt1 = 1.0 / (1.0 + exp(-1.0)), want = 4.0 * (0.5 * log(0.5 / (1 - pt1)) + 0.5 * log(0.5 / pt1));
    CHECK_NEAR(kd_forward(s, t, NULL, 2.0f, 1, 2), want, 1e-6, "kd direction");
    float big_s[3] = {3e3f, -3e3f, 0}, big_t[3] = {-3e3f, 3e3f, 0};
    float kb = kd_forward(big_s, big_t, NULL, 2.0f, 1, 3);
    CHECK(isfinite(kb) && kb > 0, "kd huge logits %g", kb);
}

/* ---- bilinear resize ---- */

static void test_resize_values(void) {
    float in[4] = {1, 2, 3, 4}, out[16];
    float want[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                      2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
    resize_bilinear_forward(out, in, 1, 1, 2, 2, 4, 4);
    double d = 0.0;
    for (int i = 0; i < 16; i++) d = fmax(d, fabs(out[i] - want[i]));
    CHECK(d < 1e-6, "2x2->4x4 max diff %g (row0 %g %g %g %g)", d, out[0], out[1], out[2], out[3]);
    /* 4x4 -> 2x2 samples at source 0.5 and 2.5: averages of 2x2 blocks */
    float in4[16], out2[4], want2[4] = {2.5f, 4.5f, 10.5f, 12.5f};
    for (int i = 0; i < 16; i++) in4[i] = (float)i;
    resize_bilinear_forward(out2, in4, 1, 1, 4, 4, 2, 2);
    d = 0.0;
    for (int i = 0; i < 4; i++) d = fmax(d, fabs(out2[i] - want2[i]));
    CHECK(d < 1e-6, "4x4->2x2 max diff %g", d);
    /* 1x3 -> 1x2: source x = 0.25 and 1.75 */
    float a[3] = {1, 5, 9}, o2[2];
    resize_bilinear_forward(o2, a, 1, 1, 1, 3, 1, 2);
    CHECK(fabsf(o2[0] - 2.0f) < 1e-6f && fabsf(o2[1] - 8.0f) < 1e-6f, "1x3->1x2 %g %g", o2[0], o2[1]);
    /* same size is the identity */
    float id[6] = {1, 2, 3, 4, 5, 6}, oid[6];
    resize_bilinear_forward(oid, id, 1, 1, 2, 3, 2, 3);
    CHECK(memcmp(id, oid, sizeof id) == 0, "same-size resize is not the identity");
}

static void test_resize_grad(void) {
    int sizes[4][4] = {{10, 10, 28, 28}, {28, 28, 5, 5}, {7, 7, 10, 10}, {3, 5, 6, 4}};
    for (int t = 0; t < 4; t++) {
        int B = 1, C = 2, Hi = sizes[t][0], Wi = sizes[t][1], Ho = sizes[t][2], Wo = sizes[t][3];
        op_t o = {.op = OP_RESIZE, .B = B, .C = C, .H = Hi, .W = Wi, .Ho = Ho, .Wo = Wo};
        long ni = (long)B * C * Hi * Wi;
        o.n_outs = (long)B * C * Ho * Wo;
        o.inp = fbuf(ni); o.out = fbuf(o.n_outs); o.wts = fbuf(o.n_outs);
        fill(o.inp, ni, -1, 1); fill(o.wts, o.n_outs, -1, 1);
        float *gi0;
        float *gi = gbuf(ni, &gi0);
        op_backward(&o, gi, NULL, NULL);
        char name[64];
        snprintf(name, sizeof name, "resize %dx%d->%dx%d dinp", Hi, Wi, Ho, Wo);
        check_grad(name, &o, o.inp, ni, gi, gi0, 1e-2f);
        /* adjoint identity <Rx, y> = <x, Rᵀy> */
        float *rt = fbuf(ni);
        resize_bilinear_backward(rt, o.wts, B, C, Hi, Wi, Ho, Wo);
        double lhs = dot_out(&o), rhs = 0.0;
        for (long i = 0; i < ni; i++) rhs += (double)o.inp[i] * rt[i];
        CHECK(fabs(lhs - rhs) < 1e-4 * fmax(1, fabs(lhs)), "%s adjoint %g vs %g", name, lhs, rhs);
        free(o.inp); free(o.out); free(o.wts); free(gi); free(gi0); free(rt);
    }
}

/* ---- optimisers ---- */

static void test_optim_adam(void) {
    CHECK(optim_parse("sgd") == OPTIM_SGD && optim_parse("adam") == OPTIM_ADAM &&
          optim_parse("adamw") == OPTIM_ADAMW && optim_parse("rmsprop") == -1, "optim_parse");
    optim_t o;
    optim_init(&o, OPTIM_ADAM, 2, 0.1f);
    CHECK(o.weight_decay == 0.0f && o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f, "adam defaults");
    float p[2] = {1.0f, -2.0f};
    float g1[2] = {0.5f, 0.0f}, g2[2] = {-0.2f, 3.0f};
    /* hand-computed PyTorch Adam in double */
    double P[2] = {1.0, -2.0}, M[2] = {0, 0}, V[2] = {0, 0};
    const float *gs[2] = {g1, g2};
    for (int t = 1; t <= 2; t++) {
        optim_step(&o, p, gs[t - 1]);
        for (int i = 0; i < 2; i++) {
            double g = gs[t - 1][i];
            M[i] = 0.9 * M[i] + 0.1 * g;
            V[i] = 0.999 * V[i] + 0.001 * g * g;
            double mh = M[i] / (1 - pow(0.9, t)), vh = V[i] / (1 - pow(0.999, t));
            P[i] -= 0.1 * mh / (sqrt(vh) + 1e-8);
        }
        CHECK(fabs(p[0] - P[0]) < 1e-6 && fabs(p[1] - P[1]) < 1e-6, "adam step %d: %.8f %.8f vs %.8f %.8f",
              t, p[0], p[1], P[0], P[1]);
    }
    /* first step moves by lr·sign(g): 1 − 0.1 */
    optim_reset(&o);
    CHECK(o.t == 0 && o.m[0] == 0.0f && o.v[1] == 0.0f, "optim_reset");
    float q[2] = {1.0f, 1.0f}, g[2] = {0.5f, -4.0f};
    optim_step(&o, q, g);
    CHECK(fabsf(q[0] - 0.9f) < 1e-6f && fabsf(q[1] - 1.1f) < 1e-6f, "adam first step %g %g", q[0], q[1]);
    optim_free(&o);
    CHECK(o.m == NULL && o.v == NULL, "optim_free clears state");
}

static void test_optim_adamw(void) {
    optim_t w, a;
    optim_init(&w, OPTIM_ADAMW, 1, 0.1f);
    CHECK(w.weight_decay == 0.01f, "adamw default weight_decay %g", w.weight_decay);
    optim_init(&a, OPTIM_ADAM, 1, 0.1f);
    a.weight_decay = 0.01f;
    /* zero gradient: AdamW only shrinks (p·(1 − lr·wd)); Adam's L2 goes through the moments */
    float pw = 2.0f, pa = 2.0f, g = 0.0f;
    optim_step(&w, &pw, &g);
    optim_step(&a, &pa, &g);
    CHECK(fabsf(pw - 2.0f * (1.0f - 0.1f * 0.01f)) < 1e-7f, "adamw decay %.8f", pw);
    CHECK(fabsf(pa - 1.9f) < 1e-6f, "adam L2 step %.8f", pa);
    /* with a gradient: decoupled decay + plain Adam step */
    float p = 1.0f, g1 = 0.5f;
    optim_reset(&w);
    optim_step(&w, &p, &g1);
    CHECK(fabsf(p - (1.0f * (1.0f - 0.001f) - 0.1f)) < 1e-6f, "adamw step %.8f", p);
    optim_free(&w);
    optim_free(&a);
}

/* The vectorised body and the scalar tail must agree bit for bit: same inputs in every
 * slot of an arena whose size is not a multiple of the vector width. */
static void test_optim_lanes(void) {
    for (int kind = OPTIM_ADAM; kind <= OPTIM_ADAMW; kind++) {
        optim_t o;
        optim_init(&o, (optim_kind)kind, 11, 0.05f);
        o.weight_decay = 0.1f;
        float p[11], g[11];
        for (int t = 0; t < 5; t++) {
            for (int i = 0; i < 11; i++) {
                if (t == 0) p[i] = 0.7f;
                g[i] = 0.3f - 0.2f * (float)t;
            }
            optim_step(&o, p, g);
        }
        int same = 1;
        for (int i = 1; i < 11; i++) same &= p[i] == p[0] && o.m[i] == o.m[0] && o.v[i] == o.v[0];
        CHECK(same, "%s: lanes differ (p[0] %.9g p[10] %.9g)", kind == OPTIM_ADAM ? "adam" : "adamw",
              p[0], p[10]);
        optim_free(&o);
    }
}

static void test_optim_groups(void) {
    optim_t o;
    optim_init(&o, OPTIM_SGD, 10, 1.0f);
    CHECK(o.m == NULL, "plain SGD allocates no state");
    optim_group gr[2] = {{.offset = 0, .count = 3, .lr = 0.1f}, {.offset = 5, .count = 3, .lr = 0.01f}};
    optim_set_groups(&o, gr, 2);
    float p[10], g[10];
    for (int i = 0; i < 10; i++) {
        p[i] = (float)i;
        g[i] = 1.0f + (float)i;
    }
    optim_step(&o, p, g);
    for (int i = 0; i < 10; i++) {
        float want = i < 3 ? (float)i - 0.1f * g[i] : (i >= 5 && i < 8) ? (float)i - 0.01f * g[i] : (float)i;
        CHECK(fabsf(p[i] - want) < 1e-6f, "param %d: %g vs %g", i, p[i], want);
    }
    optim_free(&o);
    /* Adam groups: same lr-scaling, state confined to the range */
    optim_init(&o, OPTIM_ADAM, 6, 1.0f);
    optim_group ga[1] = {{.offset = 2, .count = 2, .lr = 0.05f}};
    optim_set_groups(&o, ga, 1);
    float q[6] = {0, 0, 0, 0, 0, 0}, h[6] = {1, 1, 1, -1, 1, 1};
    optim_step(&o, q, h);
    CHECK(q[0] == 0 && q[1] == 0 && q[4] == 0 && q[5] == 0 && o.m[0] == 0 && o.v[5] == 0, "adam outside group");
    CHECK(fabsf(q[2] + 0.05f) < 1e-6f && fabsf(q[3] - 0.05f) < 1e-6f, "adam group lr %g %g", q[2], q[3]);
    optim_free(&o);
}

static void test_optim_sgd(void) {
    /* momentum by hand: buf1 = g1, buf2 = 0.9·g1 + g2 */
    optim_t o;
    optim_init(&o, OPTIM_SGD, 1, 0.1f);
    o.momentum = 0.9f;
    float p = 1.0f, g1 = 1.0f, g2 = 2.0f;
    optim_step(&o, &p, &g1);
    optim_step(&o, &p, &g2);
    CHECK(fabsf(p - (1.0f - 0.1f - 0.1f * 2.9f)) < 1e-6f, "sgd momentum %.8f", p);
    optim_free(&o);
    /* L2 weight decay adds wd·p to the gradient */
    optim_init(&o, OPTIM_SGD, 1, 0.1f);
    o.weight_decay = 0.5f;
    p = 2.0f;
    float z = 0.0f;
    optim_step(&o, &p, &z);
    CHECK(fabsf(p - 1.9f) < 1e-6f, "sgd weight decay %.8f", p);
    optim_free(&o);
    /* minimises f = ½ Σ a_i (p_i − c_i)², with and without momentum */
    for (int mom = 0; mom < 2; mom++) {
        int n = 8;
        float x[8], gr[8], a[8], c[8];
        fill(a, n, 0.5f, 2.0f);
        fill(c, n, -3, 3);
        memset(x, 0, sizeof x);
        optim_init(&o, OPTIM_SGD, n, 0.1f);
        o.momentum = mom ? 0.9f : 0.0f;
        for (int it = 0; it < 500; it++) {
            for (int i = 0; i < n; i++) gr[i] = a[i] * (x[i] - c[i]);
            optim_step(&o, x, gr);
        }
        double err = 0.0;
        for (int i = 0; i < n; i++) err = fmax(err, fabs(x[i] - c[i]));
        CHECK(err < 1e-4, "sgd momentum=%d did not converge: max err %g", mom, err);
        optim_free(&o);
    }
}

/* ---- Haar orthogonal ---- */

static void test_haar(void) {
    int n = 20;
    float *q = fbuf(n * n), *q2 = fbuf(n * n);
    rng_t r;
    rng_init(&r, 42, 7);
    CHECK(linalg_haar_orthogonal(q, n, &r) == 0, "haar failed: %s", cls_geterr());
    double e1 = 0.0, e2 = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double qtq = 0.0, qqt = 0.0;
            for (int k = 0; k < n; k++) {
                qtq += (double)q[k * n + i] * q[k * n + j];
                qqt += (double)q[i * n + k] * q[j * n + k];
            }
            e1 = fmax(e1, fabs(qtq - (i == j)));
            e2 = fmax(e2, fabs(qqt - (i == j)));
        }
    printf("#   haar n=%d max |QtQ - I| %.2e, max |QQt - I| %.2e\n", n, e1, e2);
    CHECK(e1 < 1e-4 && e2 < 1e-4, "not orthogonal: %g %g", e1, e2);
    rng_init(&r, 42, 7);
    linalg_haar_orthogonal(q2, n, &r);
    CHECK(memcmp(q, q2, (size_t)n * n * sizeof(float)) == 0, "same seed, different matrix");
    rng_init(&r, 43, 7);
    linalg_haar_orthogonal(q2, n, &r);
    CHECK(memcmp(q, q2, (size_t)n * n * sizeof(float)) != 0, "different seed, same matrix");
    /* Haar: E[tr Q] = 0 and Var[tr Q] = 1; without the sign fix the trace is biased */
    int S = 2000, m = 4;
    double s1 = 0.0, s2 = 0.0;
    float qm[16];
    for (int k = 0; k < S; k++) {
        linalg_haar_orthogonal(qm, m, &r);
        double tr = qm[0] + qm[5] + qm[10] + qm[15];
        s1 += tr;
        s2 += tr * tr;
    }
    double mean = s1 / S, var = s2 / S - mean * mean;
    printf("#   haar n=%d trace over %d draws: mean %.4f var %.4f\n", m, S, mean, var);
    CHECK(fabs(mean) < 0.1 && fabs(var - 1.0) < 0.15, "trace stats mean %g var %g", mean, var);
    CHECK(linalg_haar_orthogonal(q, 0, &r) == -1, "n = 0 accepted");
    free(q);
    free(q2);
}

/* ---- Philox ---- */

static void test_rng(void) {
    rng_t r;
    rng_init(&r, 123, 0);
    long N = 100000;
    double s1 = 0.0, s2 = 0.0;
    for (long i = 0; i < N; i++) {
        double x = rng_normal(&r);
        s1 += x;
        s2 += x * x;
    }
    double mean = s1 / N, var = s2 / N - mean * mean;
    printf("#   rng_normal over %ld: mean %.5f var %.5f\n", N, mean, var);
    CHECK(fabs(mean) < 0.015 && fabs(var - 1.0) < 0.02, "normal mean %g var %g", mean, var);

    uint32_t ns[6] = {1, 2, 3, 10, 1000, 2147483649u};
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < 10000; i++) {
            uint32_t v = rng_below(&r, ns[k]);
            if (v >= ns[k]) {
                CHECK(v < ns[k], "rng_below(%u) = %u", ns[k], v);
                break;
            }
        }
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) counts[rng_below(&r, 10)]++;
    int lo = counts[0], hi = counts[0];
    for (int i = 1; i < 10; i++) {
        if (counts[i] < lo) lo = counts[i];
        if (counts[i] > hi) hi = counts[i];
    }
    CHECK(lo > 9500 && hi < 10500, "rng_below(10) counts range [%d, %d]", lo, hi);
    /* same (seed, stream) reproduces; another stream differs */
    rng_t a, b, c;
    rng_init(&a, 9, 1);
    rng_init(&b, 9, 1);
    rng_init(&c, 9, 2);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = rng_u32(&a), y = rng_u32(&b), z = rng_u32(&c);
        same &= x == y;
        diff |= x != z;
    }
    CHECK(same && diff, "stream determinism");
}

/* ---- the checker itself (tests/gradcheck.h) ---- */

/* L(x) = Σ_i w_i · f(x_i) with f = tanh (smooth) or ReLU (kink at 0). */
typedef struct {
    const float *x, *w;
    long n;
    int relu;
} gc_self_ctx;

static double gc_self_loss(void *p) {
    const gc_self_ctx *c = p;
    double s = 0.0;
    for (long i = 0; i < c->n; i++) {
        double v = c->x[i];
        s += (double)c->w[i] * (c->relu ? (v > 0 ? v : 0.0) : tanh(v));
    }
    return s;
}

/* Runs gradcheck without letting its CHECKs fail this case; returns whether they failed. */
static int gc_self_fails(const char *what, gc_self_ctx *c, float *x, const float *g, gc_opts o,
                         gc_result *res) {
    int before = test_case_failed;
    test_case_failed = 0;
    *res = gradcheck(what, gc_self_loss, c, x, c->n, g, o);
    int failed = test_case_failed;
    test_case_failed = before;
    return failed;
}

/* The checker passes a right gradient at large curvature (no false kinks at eps 1e-2),
 * fails one entry off by 5 % of the scale, skips an isolated kink (at x and at eps/3 from
 * it) and fails when half the coordinates sit on kinks. */
static void test_gradcheck_itself(void) {
    enum { N = 40 };
    float x[N], w[N], g[N];
    fill(x, N, -1.5f, 1.5f);
    fill(w, N, 0.5f, 2.0f);
    gc_self_ctx c = {x, w, N, 0};
    for (long i = 0; i < N; i++) {
        double t = tanh(x[i]);
        g[i] = (float)(w[i] * (1.0 - t * t));
    }
    gc_opts o = GC_DEFAULTS;
    o.eps = 1e-2;
    gc_result r;
    CHECK(!gc_self_fails("self: tanh, right gradient", &c, x, g, o, &r), "right gradient failed");
    CHECK(r.kinks == 0 && r.err < 1e-4, "tanh: %ld kinks, err %g", r.kinks, r.err);
    float saved = g[7];
    g[7] += (float)(0.05 * r.scale);
    CHECK(gc_self_fails("self: tanh, one entry 5% off", &c, x, g, o, &r), "wrong entry passed");
    CHECK(r.worst == 7, "worst index %ld, expected 7", r.worst);
    g[7] = saved;

    /* ReLU, away from 0 except one coordinate at the kink and one at eps/3 from it */
    c.relu = 1;
    for (long i = 0; i < N; i++) {
        if (fabsf(x[i]) < 0.1f) x[i] = x[i] < 0 ? x[i] - 0.1f : x[i] + 0.1f;
        g[i] = x[i] > 0 ? w[i] : 0.0f;
    }
    x[3] = 0.0f;
    g[3] = 0.0f;            /* the one-sided derivative a ReLU backward gives at 0 */
    x[11] = (float)(-o.eps / 3);
    g[11] = 0.0f;
    o.max_kink_frac = 0.1;
    CHECK(!gc_self_fails("self: relu, two kinks", &c, x, g, o, &r), "isolated kinks failed");
    CHECK(r.kinks == 2, "kinks %ld, expected 2 (at 0 and at -eps/3)", r.kinks);
    for (long i = 0; i < N; i += 2) {
        x[i] = 0.0f;
        g[i] = 0.0f;
    }
    /* more kinks than the noise estimate (a median) tolerates: checked, and they fail */
    CHECK(gc_self_fails("self: relu, half on kinks", &c, x, g, o, &r), "half kinks passed");
}

/* Every case starts from the same seeded stream R, so it sees the same numbers whether it
 * runs alone or after others. */
#define NN_TEST(fn)                                                               \
    do {                                                                          \
        rng_init(&R, 2024, 0);                                                    \
        RUN_TEST(fn);                                                             \
    } while (0)

int main(void) {
    NN_TEST(test_dense_forward);
    NN_TEST(test_dense_grad);
    NN_TEST(test_pdense);
    NN_TEST(test_conv2d);
    NN_TEST(test_maxpool2);
    NN_TEST(test_activations);
    NN_TEST(test_softmax_xent);
    NN_TEST(test_mse);
    NN_TEST(test_kd);
    NN_TEST(test_resize_values);
    NN_TEST(test_resize_grad);
    NN_TEST(test_optim_adam);
    NN_TEST(test_optim_adamw);
    NN_TEST(test_optim_lanes);
    NN_TEST(test_optim_groups);
    NN_TEST(test_optim_sgd);
    NN_TEST(test_haar);
    NN_TEST(test_rng);
    NN_TEST(test_gradcheck_itself);
    if (!test_list_only) printf("# worst gradcheck error %.2e (%s)\n", gc_worst, gc_worst_name);
    TEST_EXIT();
}
