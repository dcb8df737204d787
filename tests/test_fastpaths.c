/* test_fastpaths.c — the kernels rewritten for speed (docs/performance.md) against what they
 * replace.
 * Normal generator (src/core/rng.c): float Box–Muller with polynomial log/sin/cos and
 * vectorised bulk fills. Bulk and scalar draws must be bit-identical from any stream state,
 * every value must match the double-precision Box–Muller of the same two words, and the
 * draws must be standard normal (moments, Kolmogorov–Smirnov, tails). The mean/variance
 * check of test_nn.c stays as it is.
 * 2×2 max-pool (src/nn/layers.c): the branch-free forward must give the obvious loop's
 * outputs and argmax bit for bit, ties and NaN included.
 * Outer-product Adam(W) (src/nn/optim.c, optim_step_outer, HSF's hypernetworks): against
 * optim_step on the materialised gradient Σ_k u_k ⊗ v_k — bit for bit for K = 1, to float
 * rounding for K > 1 — and its input gradient against Wᵀu_k in double.
 * HSF's tanh/sigmoid (src/models/hsf_parts.c): the AVX-512, AVX2 and SSE loops against the
 * scalar code, bit for bit (NaN, ±inf and the clamp included); a whole HSF loss + gradient
 * at every ISA level (tanh, its derivative, GELU), bit for bit; HSF's GELU and its
 * derivative against libm's erff/expf (act_forward/act_backward) to 3e-7, and bit for bit
 * across ISAs.
 * "Every ISA level" is every cpu_cap() level (scalar, SSE, AVX2, AVX-512); a level above
 * what the CPU has runs at the best it has (the test prints which).
 * Fused batch-1 SGD step of the MLP (src/models/mlp.c, mlp_sgd_step1, finetune at batch 1):
 * against zeroing the gradient, mlp_backward and optim_step (SGD, momentum 0), parameters bit
 * for bit after every step, on 784-256-256-10 and on small odd-sized nets with each
 * activation, with and without weight decay, at every ISA level; and whole finetune runs at
 * batch 1 (teacher-student, Split-MNIST when present) give the same R with the fused step
 * and with the plain path. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "data.h"
#include "hsf.h"
#include "mlp.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "rng.h"
#include "test.h"
#include "test_run.h"

/* A fill of n from any state (part-used Philox block, pending Box–Muller spare) equals n
 * calls of rng_normal, and leaves the stream where they leave it. */
static void test_fill_matches_scalar(void) {
    const long nmax = 5003;
    float *a = malloc(sizeof(float) * (size_t)nmax), *b = malloc(sizeof(float) * (size_t)nmax);
    int bad = 0;
    for (int trial = 0; trial < 60 && !bad; trial++) {
        rng_t r1, r2;
        rng_init(&r1, 1000 + (uint64_t)trial, (uint64_t)trial % 5);
        rng_init(&r2, 1000 + (uint64_t)trial, (uint64_t)trial % 5);
        for (int k = 0; k < trial % 7; k++) {   /* leave 0..3 words of the block unused */
            rng_u32(&r1);
            rng_u32(&r2);
        }
        if (trial % 3 == 1) {                   /* leave a spare pending */
            rng_normal(&r1);
            rng_normal(&r2);
        }
        long n = trial < 10 ? trial : 1 + (trial * 7919L) % nmax;
        rng_fill_normal(&r1, a, n, 0.25f, 1.5f);
        for (long i = 0; i < n; i++) b[i] = 0.25f + 1.5f * rng_normal(&r2);
        if (memcmp(a, b, sizeof(float) * (size_t)n) != 0) {
            CHECK(0, "trial %d: fill of %ld differs from rng_normal", trial, n);
            bad = 1;
        }
        uint32_t u1 = rng_u32(&r1), u2 = rng_u32(&r2);
        CHECK(u1 == u2, "trial %d: stream position differs after the fill", trial);
        float z1 = rng_normal(&r1), z2 = rng_normal(&r2);
        CHECK(z1 == z2, "trial %d: spare state differs after the fill", trial);
    }
    free(a);
    free(b);
}

/* Same (seed, stream) → same draws; another stream or seed → different draws. */
static void test_normal_determinism(void) {
    enum { N = 1000 };
    float a[N], b[N], c[N], d[N];
    rng_t r;
    rng_init(&r, 77, 3);
    rng_fill_normal(&r, a, N, 0, 1);
    rng_init(&r, 77, 3);
    rng_fill_normal(&r, b, N, 0, 1);
    rng_init(&r, 77, 4);
    rng_fill_normal(&r, c, N, 0, 1);
    rng_init(&r, 78, 3);
    rng_fill_normal(&r, d, N, 0, 1);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed and stream, different draws");
    CHECK(memcmp(a, c, sizeof a) != 0, "different stream, same draws");
    CHECK(memcmp(a, d, sizeof a) != 0, "different seed, same draws");
}

/* Every value is the Box–Muller transform of its two words to float accuracy: the
 * polynomial log/sin/cos and the integer angle reduction cover every quadrant. */
static void test_normal_accuracy(void) {
    rng_t r, s;
    rng_init(&r, 5, 9);
    double maxerr = 0.0, maxrel = 0.0;
    for (long i = 0; i < 200000; i++) {
        s = r;   /* peek the two words the pair consumes */
        uint32_t w0 = rng_u32(&s), w1 = rng_u32(&s);
        float z0 = rng_normal(&r), z1 = rng_normal(&r);
        double u1 = ((double)(w0 >> 8) + 1.0) / 16777216.0;
        double th = 6.283185307179586 * (double)(w1 >> 8) / 16777216.0;
        double rad = sqrt(-2.0 * log(u1));
        double e0 = fabs(z0 - rad * cos(th)), e1 = fabs(z1 - rad * sin(th));
        if (e0 > maxerr) maxerr = e0;
        if (e1 > maxerr) maxerr = e1;
        if (rad > 0.1) {
            double rel = (e0 > e1 ? e0 : e1) / rad;
            if (rel > maxrel) maxrel = rel;
        }
    }
    printf("#   float Box-Muller vs double: max abs error %.3g, max error / radius %.3g\n",
           maxerr, maxrel);
    CHECK(maxerr < 2e-6, "max abs error %g", maxerr);
    CHECK(maxrel < 1e-6, "max error relative to the radius %g", maxrel);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Moments, the Kolmogorov–Smirnov distance to Φ, and the two-sided 3σ tail. */
static void test_normal_distribution(void) {
    const long N = 200000;
    float *x = malloc(sizeof(float) * (size_t)N);
    rng_t r;
    rng_init(&r, 2024, 1);
    rng_fill_normal(&r, x, N, 0.0f, 1.0f);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    long tail = 0;
    for (long i = 0; i < N; i++) {
        double v = x[i];
        s1 += v;
        s2 += v * v;
        s3 += v * v * v;
        s4 += v * v * v * v;
        tail += fabs(v) > 3.0;
    }
    double mean = s1 / N, var = s2 / N - mean * mean;
    double skew = s3 / N, kurt = s4 / N;
    qsort(x, (size_t)N, sizeof(float), cmp_float);
    double ks = 0;
    for (long i = 0; i < N; i++) {
        double cdf = 0.5 * erfc(-x[i] / sqrt(2.0));
        double d1 = fabs(cdf - (double)i / N), d2 = fabs((double)(i + 1) / N - cdf);
        if (d1 > ks) ks = d1;
        if (d2 > ks) ks = d2;
    }
    double ptail = (double)tail / N;
    printf("#   N %ld: mean %.5f var %.5f E[z^3] %.4f E[z^4] %.4f KS %.5f (0.1%% critical %.5f) "
           "P(|z|>3) %.5f (0.00270)\n", N, mean, var, skew, kurt, ks, 1.95 / sqrt((double)N), ptail);
    /* bounds ≈ 4 standard errors; the KS bound is the 0.1 % critical value */
    CHECK(fabs(mean) < 4.0 / sqrt((double)N), "mean %g", mean);
    CHECK(fabs(var - 1.0) < 4.0 * sqrt(2.0 / N), "variance %g", var);
    CHECK(fabs(skew) < 4.0 * sqrt(15.0 / N), "third moment %g", skew);
    CHECK(fabs(kurt - 3.0) < 4.0 * sqrt(96.0 / N), "fourth moment %g", kurt);
    CHECK(ks < 1.95 / sqrt((double)N), "Kolmogorov-Smirnov distance %g", ks);
    CHECK(fabs(ptail - 0.0026998) < 4.0 * sqrt(0.0027 / N), "P(|z| > 3) = %g", ptail);
    CHECK(x[0] > -6.0f && x[N - 1] < 6.0f, "range [%g, %g]", x[0], x[N - 1]);
    free(x);
}

/* The obvious loop (window order, strict >, NaN wins): the reference for maxpool2_forward. */
static void maxpool_ref(float *out, int *argmax, const float *inp, int B, int C, int H, int W) {
    int Ho = H / 2, Wo = W / 2;
    for (long p = 0; p < (long)B * C; p++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                int i0 = 2 * oy * W + 2 * ox, cand[4] = {i0, i0 + 1, i0 + W, i0 + W + 1}, bi = i0;
                const float *in = inp + p * H * W;
                float best = in[i0];
                for (int k = 1; k < 4; k++)
                    if (in[cand[k]] > best || isnan(in[cand[k]])) {
                        best = in[cand[k]];
                        bi = cand[k];
                    }
                out[p * Ho * Wo + oy * Wo + ox] = best;
                argmax[p * Ho * Wo + oy * Wo + ox] = bi;
            }
}

static void test_maxpool_matches_reference(void) {
    const int shapes[][4] = {{2, 3, 28, 28}, {1, 2, 14, 14}, {3, 1, 6, 10}, {1, 1, 2, 2}, {2, 2, 8, 34}};
    rng_t r;
    rng_init(&r, 31, 0);
    for (int s = 0; s < 5; s++) {
        int B = shapes[s][0], C = shapes[s][1], H = shapes[s][2], W = shapes[s][3];
        long n = (long)B * C * H * W, no = n / 4;
        float *x = malloc(sizeof(float) * (size_t)n), *o1 = malloc(sizeof(float) * (size_t)no),
              *o2 = malloc(sizeof(float) * (size_t)no);
        int *a1 = malloc(sizeof(int) * (size_t)no), *a2 = malloc(sizeof(int) * (size_t)no);
        /* coarse values: many ties (the first index must win); some NaN, ±inf, −0 */
        for (long i = 0; i < n; i++) {
            uint32_t k = rng_below(&r, 40);
            x[i] = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : k == 3 ? -0.0f
                 : (float)((int)rng_below(&r, 5) - 2);
        }
        maxpool2_forward(o1, a1, x, B, C, H, W);
        maxpool_ref(o2, a2, x, B, C, H, W);
        long bad = 0;
        for (long i = 0; i < no; i++)
            if (a1[i] != a2[i] || memcmp(&o1[i], &o2[i], sizeof(float)) != 0) bad++;
        CHECK(bad == 0, "shape %dx%dx%dx%d: %ld of %ld outputs differ from the reference", B, C, H,
              W, bad, no);
        free(x); free(o1); free(o2); free(a1); free(a2);
    }
}

/* rows × cols block inside an arena (offset 5, 3 floats after it, outside the groups),
 * odd cols for the SSE and scalar tails; several steps so that the moments matter; every
 * ISA level (scalar, SSE, AVX2, AVX-512 where the CPU has them). */
static void test_outer_adam_matches_dense(void) {
    const int rows = 37, cols = 23, off = 5, n = off + rows * cols + 3;
    const optim_kind kinds[2] = {OPTIM_ADAMW, OPTIM_ADAM};
    int prev = cpu_cap(-1);
    for (int isa = CPU_SCALAR; isa <= CPU_AVX512; isa++)
    for (int kind = 0; kind < 2; kind++)
        for (int K = 1; K <= 3; K += 2) {
            cpu_cap(isa);
            float *pa = malloc(sizeof(float) * (size_t)n), *pb = malloc(sizeof(float) * (size_t)n);
            float *g = malloc(sizeof(float) * (size_t)n);
            float u[3][37], v[3][23];
            double back_ref[3][23];
            float back[3][23];
            rng_t r;
            rng_init(&r, 77, (uint64_t)(K + 10 * kind));
            rng_fill_normal(&r, pa, n, 0, 1);
            memcpy(pb, pa, sizeof(float) * (size_t)n);
            optim_t oa, ob;
            optim_init(&oa, kinds[kind], n, 1e-2f);
            optim_init(&ob, kinds[kind], n, 1e-2f);
            oa.weight_decay = ob.weight_decay = 0.05f;
            optim_group grp = {.offset = off, .count = (long)rows * cols, .lr = 1e-2f};
            optim_set_groups(&oa, &grp, 1);
            optim_group rest[2] = {{0, off, 1e-2f}, {off + (long)rows * cols, 3, 1e-2f}};
            optim_set_groups(&ob, rest, 2);
            double maxd = 0, maxb = 0;
            int identical = 1;
            for (int step = 0; step < 4; step++) {
                for (int k = 0; k < K; k++) {
                    rng_fill_normal(&r, u[k], rows, 0, 1);
                    rng_fill_normal(&r, v[k], cols, 0, 1);
                }
                if (step == 2) for (int j = 0; j < cols; j += 3) v[0][j] = 0.0f;   /* ReLU zeros */
                /* reference: the gradient as sger would build it, then optim_step */
                memset(g, 0, sizeof(float) * (size_t)n);
                for (int k = 0; k < K; k++)
                    for (int i = 0; i < rows; i++)
                        for (int j = 0; j < cols; j++) g[off + i * cols + j] += u[k][i] * v[k][j];
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < cols; j++) {
                        back_ref[k][j] = 0;
                        for (int i = 0; i < rows; i++)
                            back_ref[k][j] += (double)u[k][i] * pb[off + i * cols + j];
                        back[k][j] = 0.0f;
                    }
                optim_step(&oa, pa, g);
                const float *uk[3] = {u[0], u[1], u[2]}, *vk[3] = {v[0], v[1], v[2]};
                float *bk[3] = {back[0], back[1], back[2]};
                optim_step_outer(&ob, pb, off, rows, cols, 1e-2f, K, uk, vk, bk);
                memset(g, 0, sizeof(float) * (size_t)n);
                optim_step(&ob, pb, g);   /* the step's other groups; counts the step */
                for (int i = 0; i < rows * cols; i++) {
                    maxd = fmax(maxd, fabs((double)pa[off + i] - pb[off + i]));
                    identical &= pa[off + i] == pb[off + i] && oa.m[off + i] == ob.m[off + i] &&
                                 oa.v[off + i] == ob.v[off + i];
                }
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < cols; j++)
                        maxb = fmax(maxb, fabs(back[k][j] - back_ref[k][j]) / (1 + fabs(back_ref[k][j])));
            }
            int outside = 1;   /* the reference's outside-group entries never move; ob's do */
            for (int i = 0; i < off; i++) outside &= pa[i] != pb[i];
            printf("#   ISA %s, %s K=%d: max |outer - dense| %.3g (bit-identical: %s), input "
                   "gradient rel err %.3g\n", cpu_level_name(cpu_level()), kind ? "adam" : "adamw", K, maxd,
                   identical ? "yes" : "no", maxb);
            if (K == 1) CHECK(identical, "K = 1 must be bit-identical to optim_step (max diff %g)", maxd);
            CHECK(maxd < 1e-6, "K = %d: params differ by %g", K, maxd);
            CHECK(maxb < 1e-5, "K = %d: input gradient error %g", K, maxb);
            CHECK(outside && oa.t == 4 && ob.t == 4, "groups / step count");
            optim_free(&oa);
            optim_free(&ob);
            free(pa);
            free(pb);
            free(g);
        }
    cpu_cap(prev);
}

/* Bulk calls at every offset/length mix (wide loop, SSE loop, scalar tail) against one call
 * per element (always the scalar code). */
static void test_hsf_tanh_simd_matches_scalar(void) {
    const long n = 1000;
    float *x = malloc(sizeof(float) * (size_t)n), *a = malloc(sizeof(float) * (size_t)n);
    float *b = malloc(sizeof(float) * (size_t)n);
    rng_t r;
    rng_init(&r, 31, 0);
    rng_fill_normal(&r, x, n, 0, 4);
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 7.9053111f, -7.9053111f, 8.0f,
                             -8.0f, 1e-30f, -1e-30f, 100.0f};
    for (int k = 0; k < 12; k++) x[37 * k + 3] = special[k];
    int prev = cpu_cap(-1), bad = 0;
    for (int wide = CPU_SCALAR; wide <= CPU_AVX512; wide++) {
        cpu_cap(wide);
        for (int fn = 0; fn < 2; fn++) {
            void (*f)(float *, const float *, long) = fn ? hsf_sigmoid : hsf_tanh;
            for (long i = 0; i < n; i++) f(b + i, x + i, 1);
            for (long off = 0; off < 3; off++) {
                long len = n - off - (off == 2 ? 5 : 0);
                f(a + off, x + off, len);
                for (long i = off; i < off + len; i++)
                    if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
                        if (bad++ < 5)
                            printf("#   %s %s(%g): bulk %.9g, scalar %.9g\n",
                                   cpu_level_name(cpu_level()), fn ? "sigmoid" : "tanh", x[i],
                                   a[i], b[i]);
                    }
            }
        }
    }
    cpu_cap(prev);
    CHECK(bad == 0, "%d values differ from the scalar code", bad);
    free(x);
    free(a);
    free(b);
}

static void test_hsf_gelu_matches_reference(void) {
    const long n = 20000;
    float *x = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * (size_t)n);
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    float *d = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = -15.0f + 30.0f * (float)i / (float)(n - 1);   /* dense grid */
    rng_t r;
    rng_init(&r, 12, 0);
    rng_fill_normal(&r, d, n, 0, 1);
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 4.0f * 1.41421356f, 1e-30f, 40.0f,
                             -40.0f, 13.2f, -13.2f};
    for (int k = 0; k < 11; k++) x[101 * k + 7] = special[k];
    int prev = cpu_cap(-1), bad = 0;
    double errf = 0, errb = 0;
    for (int wide = CPU_SCALAR; wide <= CPU_AVX512; wide++) {
        cpu_cap(wide);
        for (int bwd = 0; bwd < 2; bwd++) {
            if (bwd) {
                memset(ref, 0, sizeof(float) * (size_t)n);
                act_backward(ACT_GELU, ref, d, x, NULL, n);
                memset(a, 0, sizeof(float) * (size_t)n);
                memset(b, 0, sizeof(float) * (size_t)n);
                hsf_gelu_backward(a, d, x, n);
                for (long i = 0; i < n; i++) hsf_gelu_backward(b + i, d + i, x + i, 1);
            } else {
                act_forward(ACT_GELU, ref, x, n);
                hsf_gelu(a, x, n);
                for (long i = 0; i < n; i++) hsf_gelu(b + i, x + i, 1);
            }
            for (long i = 0; i < n; i++) {
                if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && bad++ < 5)
                    printf("#   %s %s(%g): bulk %.9g, scalar %.9g\n", cpu_level_name(cpu_level()),
                           bwd ? "gelu'" : "gelu", x[i], a[i], b[i]);
                if (isnan(ref[i]) != isnan(a[i]) && bad++ < 5)
                    printf("#   %s(%g): %g vs reference %g\n", bwd ? "gelu'" : "gelu", x[i], a[i], ref[i]);
                if (!isfinite(ref[i]) || !isfinite(a[i])) continue;
                /* relative to the scale of the value, as in float: 1 + |x| for GELU, |dout| for
                 * its derivative (Φ + xφ ∈ [-0.17, 1.13]) */
                double e = fabs((double)a[i] - ref[i]) / (bwd ? 1.0 + fabs(d[i]) : 1.0 + fabs(x[i]));
                if (bwd) errb = fmax(errb, e);
                else errf = fmax(errf, e);
            }
        }
    }
    cpu_cap(prev);
    printf("#   HSF GELU vs libm: max scaled error forward %.3g, backward %.3g\n", errf, errb);
    CHECK(bad == 0, "%d values differ between ISAs or in NaN-ness", bad);
    CHECK(errf < 3e-7 && errb < 3e-7, "GELU error %g / %g", errf, errb);
    free(x);
    free(ref);
    free(a);
    free(b);
    free(d);
}

/* Odd sizes (B·H = 35: two 16-lane blocks and a tail) through every part of the loss. */
static void test_hsf_loss_simd_identical(void) {
    const hsf_dims d = {.in_dim = 3, .hidden = 6, .latent = 4, .emb_dim = 3, .ntasks = 3,
                        .flow_layers = 2, .flow_hidden = 5, .sde_hidden = 7, .sde_steps = 3,
                        .enc_t = 1.0f, .dec_t = 0.5f};
    const int B = 5;
    float x[15];
    rng_t r;
    rng_init(&r, 8, 0);
    rng_fill_normal(&r, x, 15, 0, 1);
    float *g[CPU_NLEVELS] = {NULL};
    double loss[CPU_NLEVELS];
    long P = 0;
    int prev = cpu_cap(-1);
    for (int wide = CPU_SCALAR; wide <= CPU_AVX512; wide++) {
        cpu_cap(wide);
        hsf_net n;
        CHECK(hsf_net_init(&n, &d, B, 2, 3) == 0, "init");
        rng_t rn;
        rng_init(&rn, 9, 0);
        hsf_sde_noise(&n.sb_enc, &n.L.sde_enc, &rn, 1.0f, 1.0f, B);
        hsf_sde_noise(&n.sb_dec, &n.L.sde_dec, &rn, 0.5f, 1.0f, B);
        loss[wide] = hsf_net_task_loss(&n, x, B, 1, 0.5f, 1.5f, 1, NULL);
        P = n.L.nparams;
        g[wide] = malloc(sizeof(float) * (size_t)P);
        memcpy(g[wide], n.grads, sizeof(float) * (size_t)P);
        hsf_net_free(&n);
    }
    cpu_cap(prev);
    for (int l = CPU_SSE; l <= CPU_AVX512; l++) {
        CHECK(loss[0] == loss[l] && !memcmp(g[0], g[l], sizeof(float) * (size_t)P),
              "level %s: loss %.9g vs scalar %.9g or gradients differ", cpu_level_name(l),
              loss[l], loss[0]);
        free(g[l]);
    }
    free(g[0]);
}

/* Trains two copies of one MLP on the same stream of single examples: one with
 * mlp_sgd_step1, one with memset + mlp_backward + optim_step; the arenas must stay equal bit
 * for bit (and the step counters agree). Classification (softmax cross-entropy over 10
 * outputs) when the net has 10 outputs, else half squared error. Returns 1 if equal. */
static int fused_sgd_matches(int nl, const int *sizes, const act_kind *acts, float lr, float wd,
                             int steps, int isa, uint64_t seed) {
    rng_t r1, r2, rd;
    rng_init(&r1, seed, 1);
    rng_init(&r2, seed, 1);
    rng_init(&rd, seed, 9);
    mlp_t a, b;
    mlp_init(&a, nl, sizes, acts, NULL, NULL, &r1);
    mlp_init(&b, nl, sizes, acts, NULL, NULL, &r2);
    optim_t o;
    optim_init(&o, OPTIM_SGD, b.nparams, lr);
    o.weight_decay = wd;
    int in = sizes[0], out = sizes[nl];
    float *x = malloc(sizeof(float) * (size_t)in), *y = malloc(sizeof(float) * (size_t)out);
    float *probs = malloc(sizeof(float) * (size_t)out), *dout = malloc(sizeof(float) * (size_t)out);
    int prev = cpu_cap(isa), same = 1;
    for (int s = 0; s < steps && same; s++) {
        rng_fill_uniform(&rd, x, in, -1.0f, 1.0f);
        if (s % 4 == 0)
            for (int j = 0; j < in; j += 3) x[j] = 0.0f;   /* exact zero inputs: ±0 products */
        rng_fill_uniform(&rd, y, out, -1.0f, 1.0f);
        int label = s % out;
        mlp_t *nets[2] = {&a, &b};
        for (int k = 0; k < 2; k++) {
            mlp_t *m = nets[k];
            if (k == 1) memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
            const float *z = mlp_forward(m, x, 1);
            memset(dout, 0, sizeof(float) * (size_t)out);
            if (out == 10) {
                softmax_xent_forward(probs, z, &label, NULL, 1, out);
                softmax_xent_backward(dout, probs, &label, NULL, 1.0f, 1, out);
            } else {
                mse_backward(dout, z, y, 1.0f, 1, out, 1);
            }
            if (k == 0) {
                mlp_sgd_step1(m, dout, lr, wd);
            } else {
                mlp_backward(m, dout, NULL, 1);
                optim_step(&o, m->params, m->grads);
            }
        }
        if (memcmp(a.params, b.params, sizeof(float) * (size_t)a.nparams) != 0) {
            long i = 0;
            while (i < a.nparams && !memcmp(a.params + i, b.params + i, sizeof(float))) i++;
            CHECK(0, "net %d-..-%d act %d wd %g isa %d: step %d: parameter %ld: fused %.9g, "
                  "plain %.9g",
                  in, out, (int)acts[0], (double)wd, isa, s, i, (double)a.params[i],
                  (double)b.params[i]);
            same = 0;
        }
    }
    cpu_cap(prev);
    free(x); free(y); free(probs); free(dout);
    optim_free(&o);
    mlp_free(&a);
    mlp_free(&b);
    return same;
}

static void test_mlp_sgd_step1_matches_plain(void) {
    const int big[4] = {784, 256, 256, 10};
    const act_kind big_acts[3] = {ACT_RELU, ACT_RELU, ACT_IDENTITY};
    printf("#   CPU: %s (levels above it run at it)\n", cpu_level_name(cpu_detected()));
    for (int isa = CPU_SCALAR; isa <= CPU_AVX512; isa++)
        CHECK(fused_sgd_matches(3, big, big_acts, 0.05f, 0.0f, 20, isa, 11 + (uint64_t)isa),
              "784-256-256-10 relu, isa %s", cpu_level_name(isa));
    CHECK(fused_sgd_matches(3, big, big_acts, 0.05f, 1e-3f, 20, CPU_AVX512, 5), "784-256-256-10, wd");
    CHECK(fused_sgd_matches(3, big, big_acts, 0.05f, 1e-3f, 20, CPU_AVX2, 5), "784-256-256-10, wd, avx2");
    /* odd widths: the 16-, 8- and 4-lane loops and the scalar tails all run */
    const int small[5] = {37, 29, 6, 23, 10};
    const act_kind kinds[] = {ACT_IDENTITY, ACT_RELU, ACT_LEAKY_RELU, ACT_GELU,
                              ACT_TANH, ACT_SIGMOID, ACT_GAUSSIAN};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        act_kind acts[4] = {kinds[k], kinds[k], kinds[k], ACT_IDENTITY};
        for (int isa = CPU_SCALAR; isa <= CPU_AVX512; isa++) {
            float wd = isa % 2 ? 0.01f : 0.0f;
            CHECK(fused_sgd_matches(4, small, acts, 0.1f, wd, 20, isa, 100 + k),
                  "act %d isa %d", (int)kinds[k], isa);
        }
        const int reg[3] = {13, 9, 3};   /* regression outputs, activation on the top layer */
        act_kind racts[2] = {kinds[k], kinds[k]};
        CHECK(fused_sgd_matches(2, reg, racts, 0.2f, 0.0f, 20, CPU_AVX2, 200 + k), "act %d regression",
              (int)kinds[k]);
    }
}

/* A whole run with the fused step and with the plain path: R (and R0) bit for bit. */
static void fused_run_pair(const char *bench, int with_wd) {
    run_result r[2];
    for (int f = 0; f < 2; f++) {
        run_config c;
        if (!strcmp(bench, "teacher_student"))
            make_cfg(&c, "finetune", bench, "benchmark.blocks", "3", "benchmark.block_size", "200",
                     "train.batch_size", "1", "train.optimizer", "sgd", "train.lr", "0.05",
                     "train.weight_decay", with_wd ? "0.001" : "0", "mlp.hidden", "[32,16]",
                     "seed", "3", NULL);
        else
            make_cfg(&c, "finetune", bench, "benchmark.train_per_task", "150",
                     "benchmark.test_per_task", "100", "benchmark.block_size", "1",
                     "train.batch_size", "1", "train.optimizer", "sgd", "train.lr", "0.01",
                     "train.weight_decay", with_wd ? "0.0001" : "0", "seed", "4", NULL);
        int prev = mlp_fused(f == 0);
        run_cfg(&r[f], &c);
        mlp_fused(prev);
    }
    CHECK(r[0].status == RUN_STATUS_OK && r[1].status == RUN_STATUS_OK, "%s: status %s / %s",
          bench, run_status_name(r[0].status), run_status_name(r[1].status));
    if (r[0].status == RUN_STATUS_OK && r[1].status == RUN_STATUS_OK) {
        CHECK(r[0].nstages == r[1].nstages && r[0].ntasks == r[1].ntasks, "%s: shapes", bench);
        size_t n = (size_t)r[0].nstages * (size_t)r[0].ntasks;
        CHECK(!memcmp(r[0].R, r[1].R, sizeof(float) * n), "%s wd %d: R differs fused/plain",
              bench, with_wd);
        CHECK(!memcmp(r[0].R0, r[1].R0, sizeof(float) * (size_t)r[0].ntasks), "%s: R0", bench);
        /* the run trained: R moved away from the initial metric */
        CHECK(r[0].R[0] != r[0].R0[0], "%s: R[0][0] %g == R0 %g", bench, (double)r[0].R[0],
              (double)r[0].R0[0]);
    }
    result_free(&r[0]);
    result_free(&r[1]);
}

static void test_finetune_batch1_fused_same_R(void) {
    CHECK(mlp_fused(-1) == 1, "fused step on by default");
    fused_run_pair("teacher_student", 0);
    fused_run_pair("teacher_student", 1);
}

static void test_finetune_batch1_fused_same_R_split_mnist(void) {
    REQUIRE_DATA(DATA_MNIST);
    fused_run_pair("split_mnist", 0);
    fused_run_pair("split_mnist", 1);
}

int main(void) {
    RUN_TEST(test_fill_matches_scalar);
    RUN_TEST(test_normal_determinism);
    RUN_TEST(test_normal_accuracy);
    RUN_TEST(test_normal_distribution);
    RUN_TEST(test_maxpool_matches_reference);
    RUN_TEST(test_outer_adam_matches_dense);
    RUN_TEST(test_hsf_tanh_simd_matches_scalar);
    RUN_TEST(test_hsf_gelu_matches_reference);
    RUN_TEST(test_hsf_loss_simd_identical);
    RUN_TEST(test_mlp_sgd_step1_matches_plain);
    RUN_TEST(test_finetune_batch1_fused_same_R);
    RUN_TEST(test_finetune_batch1_fused_same_R_split_mnist);
    TEST_EXIT();
}
