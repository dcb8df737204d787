/* test_convb.c — the batched conv / pool kernels of src/nn/conv_batch.c (nn.h convb_,
 * pool2b_) against the per-image reference (conv2d_*, maxpool2_*, act_* of layers.c):
 *   - forward, weight/bias and input gradients of convb in both input layouts (NCHW, CBHW),
 *     with the whole batch in one col and cut into chunks (col kept or recomputed), equal to
 *     conv2d_* up to float rounding (the sgemm shapes differ, so the sums are grouped
 *     differently);
 *   - the fused bias + ReLU + max-pool and its backward bit for bit equal to the separate
 *     passes (bias add, act_forward/act_backward ReLU, maxpool2_*), ties, zeros and NaN
 *     included, in both output layouts;
 *   - pool2b_backward_set (the written form) bit for bit equal to clearing + pool2b_backward;
 *   - a finite-difference check (tests/gradcheck.h) of a conv → fused pool → weighted sum
 *     loss through convb_backward + pool2b_backward. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gradcheck.h"
#include "nn.h"
#include "rng.h"
#include "test.h"

static float *fbuf(long n) { return calloc((size_t)n, sizeof(float)); }

/* (B, C, HW) NCHW → (C, B, HW) CBHW, or back with inv. */
static void to_cbhw(float *dst, const float *src, int B, int C, long HW, int inv) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *s = inv ? src + ((long)c * B + b) * HW : src + ((long)b * C + c) * HW;
            float *d = inv ? dst + ((long)b * C + c) * HW : dst + ((long)c * B + b) * HW;
            memcpy(d, s, sizeof(float) * (size_t)HW);
        }
}

/* convb against conv2d_*: every layout and chunking. */
static void test_convb_matches_conv2d(void) {
    const int shapes[5][5] = {{3, 1, 8, 28, 28}, {5, 8, 16, 14, 14}, {2, 3, 4, 6, 10}, {2, 2, 3, 1, 5},
                              {3, 2, 2, 4, 1}};   /* B, c_in, c_out, H, W; 1-wide edges */
    for (int si = 0; si < 5; si++) {
        int B = shapes[si][0], ci = shapes[si][1], co = shapes[si][2], H = shapes[si][3],
            W = shapes[si][4];
        long HW = (long)H * W, nx = (long)B * ci * HW, nz = (long)B * co * HW, K = ci * 9;
        rng_t r;
        rng_init(&r, 7, (uint64_t)si);
        float *x = fbuf(nx), *xc = fbuf(nx), *w = fbuf(co * K), *b = fbuf(co), *dz = fbuf(nz);
        rng_fill_normal(&r, x, nx, 0, 1);
        rng_fill_normal(&r, w, co * K, 0, 0.3f);
        rng_fill_normal(&r, b, co, 0, 1);
        rng_fill_normal(&r, dz, nz, 0, 1);
        to_cbhw(xc, x, B, ci, HW, 0);
        /* reference */
        float *zr = fbuf(nz), *dxr = fbuf(nx), *dwr = fbuf(co * K), *dbr = fbuf(co);
        float *col = fbuf(2 * conv2d_col_size(ci, H, W));
        conv2d_forward(zr, x, w, b, col, B, ci, H, W, co);
        conv2d_backward(dxr, dwr, dbr, dz, x, w, col, B, ci, H, W, co);
        float *dzc = fbuf(nz);
        to_cbhw(dzc, dz, B, co, HW, 0);
        long full = convb_col_size(ci, B, H, W), one = full / B;
        long caps[3] = {full, one, 2 * one + 3 < full ? 2 * one + 3 : full - 1};
        for (int layout = 0; layout < 2; layout++)
            for (int k = 0; k < 3; k++) {
                float *c1 = fbuf(caps[k]), *c2 = fbuf(caps[k]), *z = fbuf(nz), *zn = fbuf(nz);
                float *dx = fbuf(nx), *dxn = fbuf(nx), *dw = fbuf(co * K), *db = fbuf(co);
                const float *xin = layout ? x : xc;
                int valid = convb_forward(z, xin, w, c1, caps[k], B, ci, H, W, co, layout);
                CHECK(valid == (k == 0), "col_valid %d for cap %ld of %ld", valid, caps[k], full);
                convb_add_bias(z, b, B, co, (int)HW);
                to_cbhw(zn, z, B, co, HW, 1);
                double ef = test_maxrel(zn, zr, nz);
                convb_backward(dx, dw, db, dzc, xin, w, c1, valid, c2, caps[k], B, ci, H, W, co,
                               layout);
                if (!layout) to_cbhw(dxn, dx, B, ci, HW, 1);
                else memcpy(dxn, dx, sizeof(float) * (size_t)nx);
                double ex = test_maxrel(dxn, dxr, nx), ew = test_maxrel(dw, dwr, co * K),
                       eb = test_maxrel(db, dbr, co);
                printf("#   B%d %d→%d %dx%d %s cap %ld: fwd %.1e dx %.1e dw %.1e db %.1e\n", B, ci,
                       co, H, W, layout ? "NCHW" : "CBHW", caps[k], ef, ex, ew, eb);
                CHECK(ef < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5, "convb differs from conv2d");
                free(c1); free(c2); free(z); free(zn); free(dx); free(dxn); free(dw); free(db);
            }
        free(x); free(xc); free(w); free(b); free(dz); free(zr); free(dxr); free(dwr); free(dbr);
        free(col); free(dzc);
    }
}

/* convb_forward / convb_backward give the same bits at every ISA level (the im2col and
 * col2im copies and adds have AVX2/AVX-512 variants; the sgemm is OpenBLAS's, the same at
 * every cap): every shape, layout and chunking of the test above. */
static void test_convb_levels_bits(void) {
    const int shapes[4][5] = {{3, 1, 8, 28, 28}, {5, 8, 16, 14, 14}, {2, 3, 4, 6, 10}, {2, 2, 3, 1, 5}};
    int top = cpu_level();
    long bad = 0;
    for (int si = 0; si < 4; si++) {
        int B = shapes[si][0], ci = shapes[si][1], co = shapes[si][2], H = shapes[si][3],
            W = shapes[si][4];
        long HW = (long)H * W, nx = (long)B * ci * HW, nz = (long)B * co * HW, K = ci * 9;
        rng_t r;
        rng_init(&r, 17, (uint64_t)si);
        float *x = fbuf(nx), *w = fbuf(co * K), *dz = fbuf(nz);
        rng_fill_normal(&r, x, nx, 0, 1);
        rng_fill_normal(&r, w, co * K, 0, 0.3f);
        rng_fill_normal(&r, dz, nz, 0, 1);
        long full = convb_col_size(ci, B, H, W), caps[2] = {full, full / B};
        for (int layout = 0; layout < 2; layout++)
            for (int k = 0; k < 2; k++) {
                float *ref = NULL;
                long nout = nz + nx + co * K + co;
                for (int lv = 0; lv <= top; lv++) {
                    cpu_cap(lv);
                    float *c1 = fbuf(caps[k]), *c2 = fbuf(caps[k]), *o = fbuf(nout);
                    float *z = o, *dx = o + nz, *dw = dx + nx, *db = dw + co * K;
                    int valid = convb_forward(z, x, w, c1, caps[k], B, ci, H, W, co, layout);
                    convb_backward(dx, dw, db, dz, x, w, c1, valid, c2, caps[k], B, ci, H, W, co,
                                   layout);
                    if (!ref) ref = o;
                    else {
                        bad += memcmp(ref, o, sizeof(float) * (size_t)nout) != 0;
                        free(o);
                    }
                    free(c1); free(c2);
                }
                free(ref);
            }
        free(x); free(w); free(dz);
    }
    cpu_cap(CPU_AVX512);
    CHECK(!bad, "%ld convb results differ between ISA levels", bad);
    printf("#   convb checked at levels scalar..%s\n", cpu_level_name(top));
}

/* The fused bias + ReLU + pool and its backward equal the separate passes bit for bit. */
static void test_pool2b_fused_shape(int H, int W);
static void test_pool2b_fused_bits(void) {
    /* every level: the AVX2 / AVX-512 rows (full vectors of 8 / 16 windows and tails) */
    const int shapes[4][2] = {{6, 8}, {28, 28}, {4, 70}, {5, 37}};
    int top = cpu_level();
    for (int lv = 0; lv <= top; lv++) {
        cpu_cap(lv);
        for (int s = 0; s < 4; s++) test_pool2b_fused_shape(shapes[s][0], shapes[s][1]);
    }
    cpu_cap(CPU_AVX512);
    printf("#   fused pool checked at levels scalar..%s\n", cpu_level_name(top));
}

static void test_pool2b_fused_shape(int H, int W) {
    const int B = 3, C = 4;
    long HW = (long)H * W, n = (long)B * C * HW, no = (long)B * C * (H / 2) * (W / 2);
    rng_t r;
    rng_init(&r, 9, 0);
    float *z = fbuf(n), *zb = fbuf(n), *rl = fbuf(n), bias[4] = {0.3f, -0.2f, 0.0f, 1e-3f};
    rng_fill_normal(&r, z, n, 0, 1);
    for (long i = 0; i < n; i += 7) z[i] = z[i + 1 < n ? i + 1 : i];   /* ties */
    for (long i = 3; i < n; i += 11) z[i] = -bias[(i / HW) / B];       /* exact zeros after bias */
    z[5] = NAN;
    z[HW + 2] = NAN;
    float *dp = fbuf(no);
    rng_fill_normal(&r, dp, no, 0, 1);
    for (int p_nchw = 0; p_nchw < 2; p_nchw++) {
        /* separate passes on CBHW planes */
        memcpy(zb, z, sizeof(float) * (size_t)n);
        convb_add_bias(zb, bias, B, C, (int)HW);
        act_forward(ACT_RELU, rl, zb, n);
        float *pr = fbuf(no), *pf = fbuf(no), *pu = fbuf(no);
        int *ar = calloc((size_t)no, sizeof(int)), *af = calloc((size_t)no, sizeof(int));
        int *au = calloc((size_t)no, sizeof(int));
        maxpool2_forward(pr, ar, rl, 1, B * C, H, W);   /* planes in CBHW order */
        pool2b_forward(pf, af, z, bias, 1, B, C, H, W, p_nchw);
        pool2b_forward(pu, au, rl, NULL, 0, B, C, H, W, p_nchw);
        /* bring the reference to the output layout */
        float *prl = fbuf(no);
        if (p_nchw) to_cbhw(prl, pr, B, C, no / (B * C), 1);
        else memcpy(prl, pr, sizeof(float) * (size_t)no);
        CHECK(!memcmp(prl, pf, sizeof(float) * (size_t)no), "fused pool output (layout %d, %s, %dx%d)",
              p_nchw, cpu_level_name(cpu_level()), H, W);
        CHECK(!memcmp(ar, af, sizeof(int) * (size_t)no) || p_nchw, "fused pool argmax (%s, %dx%d)",
              cpu_level_name(cpu_level()), H, W);
        CHECK(!memcmp(prl, pu, sizeof(float) * (size_t)no), "plain pool2b output (layout %d)", p_nchw);
        /* backward: separate = maxpool2_backward then ReLU's act_backward */
        float *dpl = fbuf(no), *dr = fbuf(n), *dzr = fbuf(n), *dzf = fbuf(n), *dzu = fbuf(n);
        if (p_nchw) to_cbhw(dpl, dp, B, C, no / (B * C), 0);
        else memcpy(dpl, dp, sizeof(float) * (size_t)no);
        maxpool2_backward(dr, dpl, ar, 1, B * C, H, W);
        act_backward(ACT_RELU, dzr, dr, zb, rl, n);
        pool2b_backward(dzf, dp, pf, af, B, C, H, W, p_nchw);
        pool2b_backward(dzu, dp, NULL, au, B, C, H, W, p_nchw);
        long bad = 0;
        for (long i = 0; i < n; i++) bad += dzr[i] != dzf[i] && !(dzr[i] == 0 && dzf[i] == 0);
        CHECK(!bad, "fused backward differs at %ld of %ld values (layout %d)", bad, n, p_nchw);
        CHECK(!memcmp(dr, dzu, sizeof(float) * (size_t)n), "plain pool2b backward (layout %d)", p_nchw);
        free(pr); free(pf); free(pu); free(ar); free(af); free(au); free(prl);
        free(dpl); free(dr); free(dzr); free(dzf); free(dzu);
    }
    free(z); free(zb); free(rl); free(dp);
}

/* pool2b_backward_set (written, not accumulated) equals memset 0 + pool2b_backward bit for
 * bit at every ISA level (portable, AVX2, AVX-512 rows; full vectors and tails): with and
 * without the ReLU gate, both layouts, even and odd plane sizes, ties, NaN and exact zeros
 * in the forward, −0 and NaN in the gradient; every element of a dirty dz is written. */
static void test_pool2b_backward_set_bits(void) {
    const int B = 3, C = 2, shapes[5][2] = {{6, 8}, {7, 5}, {28, 28}, {4, 70}, {3, 33}};
    int top = cpu_level();
    for (int s = 0; s < 5; s++) {
        int H = shapes[s][0], W = shapes[s][1];
        long HW = (long)H * W, n = (long)B * C * HW, no = (long)B * C * (H / 2) * (W / 2);
        rng_t r;
        rng_init(&r, 11, (uint64_t)s);
        float *z = fbuf(n), *dp = fbuf(no), bias[2] = {0.1f, -0.3f};
        rng_fill_normal(&r, z, n, 0, 1);
        rng_fill_normal(&r, dp, no, 0, 1);
        for (long i = 0; i < n; i += 5) z[i] = z[i + 1 < n ? i + 1 : i];   /* ties */
        z[3] = NAN;
        dp[0] = -0.0f;
        dp[no > 2 ? 2 : 0] = NAN;
        for (int lv = 0; lv <= top; lv++)
        for (int p_nchw = 0; p_nchw < 2; p_nchw++)
            for (int relu = 0; relu < 2; relu++) {
                cpu_cap(lv);
                float *p = fbuf(no), *da = fbuf(n), *ds = fbuf(n);
                int *a = calloc((size_t)no, sizeof(int));
                pool2b_forward(p, a, z, bias, relu, B, C, H, W, p_nchw);
                for (long i = 0; i < n; i++) ds[i] = 1e30f;   /* dirty: must all be written */
                pool2b_backward(da, dp, relu ? p : NULL, a, B, C, H, W, p_nchw);
                pool2b_backward_set(ds, dp, relu ? p : NULL, a, B, C, H, W, p_nchw);
                CHECK(!memcmp(da, ds, sizeof(float) * (size_t)n),
                      "set differs from accumulate (level %s, H %d W %d layout %d relu %d)",
                      cpu_level_name(lv), H, W, p_nchw, relu);
                free(p); free(da); free(ds); free(a);
            }
        free(z); free(dp);
    }
    cpu_cap(CPU_AVX512);
    printf("#   pool2b_backward_set checked at levels scalar..%s\n", cpu_level_name(top));
}

typedef struct {
    const float *x, *b, *wt;
    float *w, *z, *p, *col;
    int *a;
    long cap;
    int B, ci, co, H, W;
} gc_ctx;

/* L = Σ wt ⊙ pool(relu(conv(x; w) + b)) with the pooled output in NCHW. */
static double conv_pool_loss(void *pc) {
    gc_ctx *c = pc;
    convb_forward(c->z, c->x, c->w, c->col, c->cap, c->B, c->ci, c->H, c->W, c->co, 1);
    pool2b_forward(c->p, c->a, c->z, c->b, 1, c->B, c->co, c->H, c->W, 1);
    long no = (long)c->B * c->co * c->H * c->W / 4;
    double s = 0;
    for (long i = 0; i < no; i++) s += (double)c->wt[i] * c->p[i];
    return s;
}

static void test_convb_gradcheck(void) {
    gc_ctx c = {.B = 2, .ci = 2, .co = 3, .H = 6, .W = 4};
    long HW = (long)c.H * c.W, nx = c.B * c.ci * HW, nz = c.B * c.co * HW, K = c.ci * 9;
    rng_t r;
    rng_init(&r, 13, 0);
    float *x = fbuf(nx), *w = fbuf(c.co * K), *b = fbuf(c.co), *wt = fbuf(nz / 4);
    rng_fill_normal(&r, x, nx, 0, 1);
    rng_fill_normal(&r, w, c.co * K, 0, 0.5f);
    rng_fill_uniform(&r, b, c.co, 0.2f, 0.6f);
    rng_fill_normal(&r, wt, nz / 4, 0, 1);
    c.x = x; c.w = w; c.b = b; c.wt = wt;
    c.cap = convb_col_size(c.ci, 1, c.H, c.W);   /* one image per chunk */
    c.z = fbuf(nz); c.p = fbuf(nz / 4); c.col = fbuf(c.cap);
    c.a = calloc((size_t)(nz / 4), sizeof(int));
    conv_pool_loss(&c);
    float *dz = fbuf(nz), *dw = fbuf(c.co * K), *dx = fbuf(nx), *db = fbuf(c.co), *dcol = fbuf(c.cap);
    pool2b_backward(dz, wt, c.p, c.a, c.B, c.co, c.H, c.W, 1);
    convb_backward(dx, dw, db, dz, x, w, c.col, 0, dcol, c.cap, c.B, c.ci, c.H, c.W, c.co, 1);
    gc_opts o = GC_DEFAULTS;
    o.eps = 3e-3;
    o.max_kink_frac = 0.15;   /* max-pool near-ties of a tiny random conv (as test_pah) */
    gradcheck("convb + fused pool: weights", conv_pool_loss, &c, w, c.co * K, dw, o);
    gradcheck("convb + fused pool: input", conv_pool_loss, &c, x, nx, dx, o);
    free(x); free(w); free(b); free(wt); free(c.z); free(c.p); free(c.col); free(c.a);
    free(dz); free(dw); free(dx); free(db); free(dcol);
}

int main(void) {
    RUN_TEST(test_convb_matches_conv2d);
    RUN_TEST(test_convb_levels_bits);
    RUN_TEST(test_pool2b_fused_bits);
    RUN_TEST(test_pool2b_backward_set_bits);
    RUN_TEST(test_convb_gradcheck);
    TEST_EXIT();
}
