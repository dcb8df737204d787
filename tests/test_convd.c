/* test_convd.c — the direct 3×3 convolution of src/nn/conv_direct.c (nn.h convd_), PAH's
 * conv 1:
 *   - convd_forward / convd_backward_w / convd_backward_x against the per-image reference
 *     conv2d_* of layers.c
 *     (up to float rounding: the sums are grouped differently), input NCHW and CBHW, shapes
 *     with full vectors and tails (H·W not a multiple of 8 or 16), 1-wide edges, c_in 1–3;
 *   - the same bits at every ISA level from scalar to the CPU's (forward, weight and bias
 *     gradients, and the fused forms), the scalar level being the reference;
 *   - the fused forms bit for bit equal to the separate passes: convd_forward_pool =
 *     convd_forward → pool2b_forward(relu, bias), convd_backward_pool =
 *     pool2b_backward_set → convd_backward_w;
 *   - a finite-difference check (tests/gradcheck.h) of conv → bias + ReLU + pool → weighted
 *     sum through convd_forward_pool / convd_backward_pool (weights and bias) and
 *     pool2b_backward_set → convd_backward_x (input). */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gradcheck.h"
#include "nn.h"
#include "rng.h"
#include "test.h"

static float *fbuf(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* B, c_in, c_out, H, W: PAH's conv 1 (28×28, prototypes 10×10 with a 4-pixel tail), odd
 * sizes, 1-wide edges, several input channels (the register tiles: full ones need c_out ≥ 4
 * and 16 / 64 pixels at AVX2 / AVX-512; PAH's conv 2 shape has both). */
static const int shapes[8][5] = {{3, 1, 8, 28, 28}, {2, 1, 8, 10, 10}, {2, 3, 4, 6, 10},
                                 {2, 2, 3, 1, 5}, {3, 2, 2, 4, 1}, {2, 1, 5, 7, 9},
                                 {1, 1, 16, 20, 20}, {2, 8, 16, 14, 14}};

static void fill(int si, int seed, float *x, long nx, float *w, long nw, float *dz, long nz) {
    rng_t r;
    rng_init(&r, (uint64_t)seed, (uint64_t)si);
    rng_fill_normal(&r, x, nx, 0, 1);
    rng_fill_normal(&r, w, nw, 0, 0.3f);
    rng_fill_normal(&r, dz, nz, 0, 1);
}

/* (B, C, HW) NCHW → (C, B, HW) CBHW. */
static void to_cbhw(float *dst, const float *src, int B, int C, long HW) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            memcpy(dst + ((long)c * B + b) * HW, src + ((long)b * C + c) * HW,
                   sizeof(float) * (size_t)HW);
}

static void test_convd_matches_conv2d(void) {
    for (int si = 0; si < 8; si++) {
        int B = shapes[si][0], ci = shapes[si][1], co = shapes[si][2], H = shapes[si][3],
            W = shapes[si][4];
        long HW = (long)H * W, nx = (long)B * ci * HW, nz = (long)B * co * HW, K = ci * 9;
        float *x = fbuf(nx), *xc = fbuf(nx), *w = fbuf(co * K), *dz = fbuf(nz), *dzc = fbuf(nz);
        fill(si, 3, x, nx, w, co * K, dz, nz);
        to_cbhw(xc, x, B, ci, HW);
        to_cbhw(dzc, dz, B, co, HW);
        float *zero = fbuf(co), *zr = fbuf(nz), *zrc = fbuf(nz), *dxr = fbuf(nx);
        float *dwr = fbuf(co * K), *dbr = fbuf(co), *col = fbuf(2 * conv2d_col_size(ci, H, W));
        conv2d_forward(zr, x, w, zero, col, B, ci, H, W, co);
        conv2d_backward(dxr, dwr, dbr, dz, x, w, col, B, ci, H, W, co);
        to_cbhw(zrc, zr, B, co, HW);
        float *scr = fbuf(convd_scratch_size(ci, co, H, W) + convd_scratch_size_x(ci, co, H, W));
        float *dx = fbuf(nx), *dxr_c = fbuf(nx);
        convd_backward_x(dx, dzc, w, scr, B, ci, H, W, co);
        to_cbhw(dxr_c, dxr, B, ci, HW);
        double ex = test_maxrel(dx, dxr_c, nx);
        printf("#   B%d %d→%d %dx%d: dx %.1e\n", B, ci, co, H, W, ex);
        CHECK(ex < 1e-5, "convd_backward_x differs from conv2d (%d)", si);
        free(dx); free(dxr_c);
        for (int layout = 0; layout < 2; layout++) {   /* 0: x CBHW, 1: x NCHW */
            float *z = fbuf(nz), *dw = fbuf(co * K), *db = fbuf(co);
            convd_forward(z, layout ? x : xc, w, scr, B, ci, H, W, co, layout);
            convd_backward_w(dw, db, dzc, layout ? x : xc, scr, B, ci, H, W, co, layout);
            double ef = test_maxrel(z, zrc, nz), ew = test_maxrel(dw, dwr, co * K), eb = test_maxrel(db, dbr, co);
            printf("#   B%d %d→%d %dx%d x %s: fwd %.1e dw %.1e db %.1e\n", B, ci, co, H, W,
                   layout ? "NCHW" : "CBHW", ef, ew, eb);
            CHECK(ef < 1e-5 && ew < 1e-5 && eb < 1e-5, "convd differs from conv2d (%d, %d)", si,
                  layout);
            free(z); free(dw); free(db);
        }
        free(x); free(xc); free(w); free(dz); free(dzc); free(zero); free(zr); free(zrc);
        free(dxr); free(dwr); free(dbr); free(col); free(scr);
    }
}

/* Every output of the four entry points at one level, into one buffer (for memcmp). */
static float *run_all(int si, int with_nan, long *nout) {
    int B = shapes[si][0], ci = shapes[si][1], co = shapes[si][2], H = shapes[si][3],
        W = shapes[si][4];
    long HW = (long)H * W, nx = (long)B * ci * HW, nz = (long)B * co * HW, K = ci * 9;
    long HWo = (long)(H / 2) * (W / 2), np = (long)B * co * HWo;
    float *x = fbuf(nx), *w = fbuf(co * K), *dz = fbuf(nz), *bias = fbuf(co), *dp = fbuf(np);
    fill(si, 11, x, nx, w, co * K, dz, nz);
    rng_t r;
    rng_init(&r, 12, (uint64_t)si);
    rng_fill_normal(&r, bias, co, 0, 0.5f);
    rng_fill_normal(&r, dp, np, 0, 1);
    if (with_nan) {   /* non-finite inputs travel the same way at every level */
        x[0] = NAN;
        x[nx / 2] = INFINITY;
        dz[nz - 1] = -INFINITY;
        x[nx - 1] = -0.0f;
    }
    *nout = nz + 2 * (co * K + co) + 2 * np + 2 * (co * K + co) + nx;
    float *o = fbuf(*nout);
    float *scr = fbuf(convd_scratch_size(ci, co, H, W) + convd_scratch_size_x(ci, co, H, W));
    float *z = o, *dw = z + nz, *db = dw + co * K, *p = db + co, *pa = p + np;
    float *dw2 = pa + np, *db2 = dw2 + co * K, *dw3 = db2 + co, *db3 = dw3 + co * K;
    int *am = calloc((size_t)np + 1, sizeof(int));
    convd_backward_x(db3 + co, dz, w, scr, B, ci, H, W, co);
    convd_forward(z, x, w, scr, B, ci, H, W, co, 1);
    convd_backward_w(dw, db, dz, x, scr, B, ci, H, W, co, 1);
    convd_forward_pool(p, am, x, w, bias, scr, B, ci, H, W, co, 1, 0);
    for (long i = 0; i < np; i++) pa[i] = (float)am[i];
    convd_backward_pool(dw2, db2, dp, p, am, x, scr, B, ci, H, W, co, 1);
    /* the separate passes: pool2b of convd_forward's z, un-pool, then convd_backward_w */
    float *p_ref = fbuf(np), *dz_ref = fbuf(nz);
    int *am_ref = calloc((size_t)np + 1, sizeof(int));
    pool2b_forward(p_ref, am_ref, z, bias, 1, B, co, H, W, 0);
    CHECK(!memcmp(p_ref, p, sizeof(float) * (size_t)np) &&
              !memcmp(am_ref, am, sizeof(int) * (size_t)np),
          "convd_forward_pool differs from convd_forward + pool2b_forward (shape %d)", si);
    pool2b_backward_set(dz_ref, dp, p, am, B, co, H, W, 0);
    convd_backward_w(dw3, db3, dz_ref, x, scr, B, ci, H, W, co, 1);
    CHECK(!memcmp(dw2, dw3, sizeof(float) * (size_t)(co * K + co)),
          "convd_backward_pool differs from pool2b_backward_set + convd_backward_w (shape %d)", si);
    free(x); free(w); free(dz); free(bias); free(dp); free(scr); free(am); free(p_ref);
    free(dz_ref); free(am_ref);
    return o;
}

static void test_convd_levels_bits(void) {
    int top = cpu_level();
    long bad = 0;
    for (int si = 0; si < 8; si++)
        for (int nan = 0; nan < 2; nan++) {
            float *ref = NULL;
            long n = 0;
            for (int lv = 0; lv <= top; lv++) {
                cpu_cap(lv);
                float *o = run_all(si, nan, &n);
                if (!ref) {
                    ref = o;
                } else {
                    int d = memcmp(ref, o, sizeof(float) * (size_t)n) != 0;
                    if (d) printf("#   shape %d nan %d: level %s differs from scalar\n", si, nan,
                                  cpu_level_name(lv));
                    bad += d;
                    free(o);
                }
            }
            free(ref);
        }
    cpu_cap(CPU_AVX512);
    CHECK(!bad, "%ld convd results differ between ISA levels", bad);
    printf("#   convd checked at levels scalar..%s\n", cpu_level_name(top));
}

typedef struct {
    const float *x, *wt;
    float *w, *b, *p, *scr;
    int *a;
    int B, ci, co, H, W;
} gc_ctx;

/* L = Σ wt ⊙ pool(relu(conv(x; w) + b)), pooled output CBHW. */
static double conv_pool_loss(void *pc) {
    gc_ctx *c = pc;
    convd_forward_pool(c->p, c->a, c->x, c->w, c->b, c->scr, c->B, c->ci, c->H, c->W, c->co, 1, 0);
    long no = (long)c->B * c->co * (c->H / 2) * (c->W / 2);
    double s = 0;
    for (long i = 0; i < no; i++) s += (double)c->wt[i] * c->p[i];
    return s;
}

static void test_convd_gradcheck(void) {
    for (int ci = 1; ci <= 2; ci++) {
        gc_ctx c = {.B = 2, .ci = ci, .co = 3, .H = 6, .W = 6};
        long HW = (long)c.H * c.W, nx = c.B * c.ci * HW, np = c.B * c.co * HW / 4, K = c.ci * 9;
        rng_t r;
        rng_init(&r, 21, (uint64_t)ci);
        float *x = fbuf(nx), *w = fbuf(c.co * K), *b = fbuf(c.co), *wt = fbuf(np);
        rng_fill_normal(&r, x, nx, 0, 1);
        rng_fill_normal(&r, w, c.co * K, 0, 0.5f);
        rng_fill_uniform(&r, b, c.co, 0.2f, 0.6f);
        rng_fill_normal(&r, wt, np, 0, 1);
        c.x = x; c.w = w; c.b = b; c.wt = wt;
        c.p = fbuf(np);
        c.scr = fbuf(convd_scratch_size(c.ci, c.co, c.H, c.W));
        c.a = calloc((size_t)np, sizeof(int));
        conv_pool_loss(&c);
        float *dw = fbuf(c.co * K), *db = fbuf(c.co);
        convd_backward_pool(dw, db, wt, c.p, c.a, x, c.scr, c.B, c.ci, c.H, c.W, c.co, 1);
        gc_opts o = GC_DEFAULTS;
        o.eps = 3e-3;
        o.max_kink_frac = 0.15;   /* max-pool near-ties of a tiny random conv (as test_convb) */
        gradcheck(ci == 1 ? "convd + pool, c_in 1: weights" : "convd + pool, c_in 2: weights",
                  conv_pool_loss, &c, w, c.co * K, dw, o);
        gradcheck(ci == 1 ? "convd + pool, c_in 1: bias" : "convd + pool, c_in 2: bias",
                  conv_pool_loss, &c, b, c.co, db, o);
        /* input: un-pool into dz (CBHW), then the direct input gradient (CBHW → NCHW) */
        long nz = np * 4;
        float *dz = fbuf(nz), *dxc = fbuf(nx), *dx = fbuf(nx);
        float *sx = fbuf(convd_scratch_size_x(c.ci, c.co, c.H, c.W));
        conv_pool_loss(&c);
        pool2b_backward_set(dz, wt, c.p, c.a, c.B, c.co, c.H, c.W, 0);
        convd_backward_x(dxc, dz, w, sx, c.B, c.ci, c.H, c.W, c.co);
        for (int bb = 0; bb < c.B; bb++)
            for (int k = 0; k < c.ci; k++)
                memcpy(dx + ((long)bb * c.ci + k) * HW, dxc + ((long)k * c.B + bb) * HW,
                       sizeof(float) * (size_t)HW);
        gradcheck(ci == 1 ? "convd + pool, c_in 1: input" : "convd + pool, c_in 2: input",
                  conv_pool_loss, &c, x, nx, dx, o);
        free(dz); free(dxc); free(dx); free(sx);
        free(x); free(w); free(b); free(wt); free(c.p); free(c.scr); free(c.a); free(dw); free(db);
    }
}

int main(void) {
    RUN_TEST(test_convd_matches_conv2d);
    RUN_TEST(test_convd_levels_bits);
    RUN_TEST(test_convd_gradcheck);
    TEST_EXIT();
}
