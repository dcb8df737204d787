/* perf_pah_conv.c — PAH's conv 1 (1 → 8 channels, 3×3, 28×28, batch 64) alone: the direct
 * kernel (convd_, src/nn/conv_direct.c) against im2col + sgemm (convb_, conv_batch.c, in
 * PAH's chunks of PAH_COL_BUDGET floats), forward and weight gradient, and each with PAH's
 * fused bias + ReLU + max-pool epilogue (forward) / un-pool (backward, + bias gradient), at
 * the ISA level in force (CLSWEEP_ISA caps it; OPENBLAS_CORETYPE picks OpenBLAS's kernels).
 * Best of 5 rounds, alternating the variants. Prints "name | value | unit | notes";
 * GFLOP/s counts the convolution's multiply-adds only (2 FLOPs each). */
#include <stdio.h>
#include <stdlib.h>

#include "cpu.h"
#include "nn.h"
#include "rng.h"
#include "util.h"

static int B = 64, CI = 1, CO = 8, H = 28, W = 28;

/* Optional arguments: B c_in c_out H W (another layer's shape, e.g. conv 2: 64 8 16 14 14). */
int main(int argc, char **argv) {
    if (argc == 6) {
        B = atoi(argv[1]);
        CI = atoi(argv[2]);
        CO = atoi(argv[3]);
        H = atoi(argv[4]);
        W = atoi(argv[5]);
    }
    long HW = (long)H * W, nx = (long)B * CI * HW, nz = (long)B * CO * HW, K = CI * 9;
    long cap = 16L << 10;   /* PAH_COL_BUDGET */
    float *x = malloc(sizeof(float) * (size_t)nx), *z = malloc(sizeof(float) * (size_t)nz);
    float *dz = malloc(sizeof(float) * (size_t)nz), *w = malloc(sizeof(float) * (size_t)(CO * K));
    float *dw = calloc((size_t)(CO * K), sizeof(float)), *col = malloc(sizeof(float) * (size_t)cap);
    float *dcol = malloc(sizeof(float) * (size_t)cap);
    float *scr = malloc(sizeof(float) * (size_t)convd_scratch_size(CI, CO, H, W));
    float *b = malloc(sizeof(float) * CO), *db = calloc(CO, sizeof(float));
    float *p = malloc(sizeof(float) * (size_t)(nz / 4)), *dp = malloc(sizeof(float) * (size_t)(nz / 4));
    int *am = malloc(sizeof(int) * (size_t)(nz / 4));
    rng_t r;
    rng_init(&r, 5, 0);
    rng_fill_uniform(&r, x, nx, 0, 1);
    rng_fill_normal(&r, dz, nz, 0, 1);
    rng_fill_normal(&r, w, CO * K, 0, 0.3f);
    rng_fill_normal(&r, b, CO, 0, 0.3f);
    rng_fill_normal(&r, dp, nz / 4, 0, 1);
    convd_forward_pool(p, am, x, w, b, scr, B, CI, H, W, CO, 1, 0);
    enum { NV = 8 };
    double flop = 2.0 * B * HW * CO * K, best[NV] = {0};
    const int reps = 100;
    for (int round = 0; round < 5; round++)
        for (int v = 0; v < NV; v++) {
            double t = cls_now();
            for (int k = 0; k < reps; k++) {
                if (v == 0) convd_forward(z, x, w, scr, B, CI, H, W, CO, 1);
                if (v == 1) convb_forward(z, x, w, col, cap, B, CI, H, W, CO, 1);
                if (v == 2) convd_backward_w(dw, NULL, dz, x, scr, B, CI, H, W, CO, 1);
                if (v == 3) convb_backward(NULL, dw, NULL, dz, x, w, col, 0, dcol, cap, B, CI, H, W, CO, 1);
                if (v == 4) convd_forward_pool(p, am, x, w, b, scr, B, CI, H, W, CO, 1, 0);
                if (v == 5) {
                    convb_forward(z, x, w, col, cap, B, CI, H, W, CO, 1);
                    pool2b_forward(p, am, z, b, 1, B, CO, H, W, 0);
                }
                if (v == 6) convd_backward_pool(dw, db, dp, p, am, x, scr, B, CI, H, W, CO, 1);
                if (v == 7) {
                    pool2b_backward_set(dz, dp, p, am, B, CO, H, W, 0);
                    convb_backward(NULL, dw, db, dz, x, w, col, 0, dcol, cap, B, CI, H, W, CO, 1);
                }
            }
            double g = reps * flop / (cls_now() - t) / 1e9;
            if (g > best[v]) best[v] = g;
        }
    const char *name[NV] = {"conv1 forward, direct (convd)", "conv1 forward, im2col + sgemm",
                            "conv1 weight gradient, direct", "conv1 weight gradient, im2col + sgemm",
                            "conv1 fwd + bias/ReLU/pool, direct fused", "conv1 fwd + bias/ReLU/pool, sgemm + pool2b",
                            "conv1 unpool + dW + db, direct fused", "conv1 unpool + dW + db, pool2b + sgemm"};
    for (int v = 0; v < NV; v++)
        printf("%-44s | %6.1f | GFLOP/s | ISA %s, %.1f µs per batch of 64\n", name[v], best[v],
               cpu_level_name(cpu_level()), flop / best[v] / 1e3);
    free(x); free(z); free(dz); free(w); free(dw); free(col); free(dcol); free(scr);
    free(b); free(db); free(p); free(dp); free(am);
    return 0;
}
