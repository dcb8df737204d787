/* perf_mlp.c — single-core sgemm peak and the 784–256–256–10 MLP (finetune/ewc network)
 * training throughput at batch 1 and 64: forward + backward + optimiser step, as in a
 * training loop. Batch 1 with SGD runs what finetune runs there, the fused backward + update
 * (mlp_sgd_step1); the "unfused" line times the plain path (zero the gradient arena,
 * mlp_backward, optim_step) it replaces, which ewc and momentum still take. FLOPs counted analytically (2 per multiply-add; the first layer's input
 * gradient is not computed). Prints "name | value | unit | notes". */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "nn.h"
#include "optim.h"
#include "util.h"

static double sgemm_peak(void) {
    const int n = 512;
    float *a = xmalloc(sizeof(float) * n * n), *b = xmalloc(sizeof(float) * n * n),
          *c = xmalloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) a[i] = b[i] = 0.001f * (float)(i % 997);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = cls_now();
        int iters = 10;
        for (int k = 0; k < iters; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * n * iters / (cls_now() - t) / 1e9;
        if (g > best) best = g;
    }
    free(a); free(b); free(c);
    return best;
}

static void bench_train(int B, optim_kind ok, int fused, double peak) {
    int sizes[4] = {784, 256, 256, 10};
    act_kind acts[3] = {ACT_RELU, ACT_RELU, ACT_IDENTITY};
    rng_t r;
    rng_init(&r, 1, 1);
    mlp_t m;
    mlp_init(&m, 3, sizes, acts, NULL, NULL, &r);
    optim_t o;
    optim_init(&o, ok, m.nparams, ok == OPTIM_SGD ? 0.01f : 1e-3f);
    float *x = xmalloc(sizeof(float) * (size_t)B * 784);
    int *y = xmalloc(sizeof(int) * (size_t)B);
    float *probs = xmalloc(sizeof(float) * (size_t)B * 10), *dout = xmalloc(sizeof(float) * (size_t)B * 10);
    rng_fill_uniform(&r, x, (long)B * 784, 0, 1);
    for (int i = 0; i < B; i++) y[i] = i % 10;
    long macs = 784L * 256 + 256L * 256 + 256L * 10;
    double flops_per_sample = 2.0 * macs /* fwd */ + 2.0 * macs /* dW */ + 2.0 * (macs - 784L * 256) /* dinp */;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        int steps = B == 1 ? 3000 : 200;
        double t = cls_now();
        for (int s = 0; s < steps; s++) {
            if (!fused) memset(m.grads, 0, sizeof(float) * (size_t)m.nparams);
            const float *out = mlp_forward(&m, x, B);
            softmax_xent_forward(probs, out, y, NULL, B, 10);
            memset(dout, 0, sizeof(float) * (size_t)B * 10);
            softmax_xent_backward(dout, probs, y, NULL, 1.0f, B, 10);
            if (fused) {
                mlp_sgd_step1(&m, dout, o.groups[0].lr, o.weight_decay);
                o.t++;
            } else {
                mlp_backward(&m, dout, NULL, B);
                optim_step(&o, m.params, m.grads);
            }
        }
        double sps = (double)steps * B / (cls_now() - t);
        if (sps > best) best = sps;
    }
    double gf = best * flops_per_sample / 1e9;
    printf("mlp_784_256_256_10 train batch %-3d %-5s%s | %10.0f | samples/s | "
           "%.2f GFLOP/s, %.0f%% of sgemm peak%s\n",
           B, ok == OPTIM_SGD ? "sgd" : "adam", fused || B > 1 || ok != OPTIM_SGD ? "" : " unfused",
           best, gf, 100.0 * gf / peak, fused ? "; fused backward + SGD step" : "");
    free(x); free(y); free(probs); free(dout);
    optim_free(&o);
    mlp_free(&m);
}

int main(void) {
    double peak = sgemm_peak();
    printf("sgemm 512x512x512 (1 thread)          | %10.2f | GFLOP/s   | single-core peak reference\n", peak);
    bench_train(1, OPTIM_SGD, 1, peak);   /* finetune's batch-1 path: the table's row */
    bench_train(1, OPTIM_SGD, 0, peak);
    bench_train(1, OPTIM_ADAM, 0, peak);
    bench_train(64, OPTIM_SGD, 0, peak);
    bench_train(64, OPTIM_ADAM, 0, peak);
    return 0;
}
