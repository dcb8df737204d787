/* perf_ewgn.c — EWGN training throughput on one core (perf/run.sh sets one BLAS thread):
 * samples/s of the fused batch-1 SGD step (the paper's setting) on MNIST and Fashion, with
 * and without EWC active, of the generic batch-1 step (dense gradient + optimiser) for
 * comparison, and of the batched path at batch 32; achieved GFLOP/s from an analytic count.
 *
 * FLOPs per sample, forward + backward (D = 784 inputs, C = 20 classes, H = 32), counting a
 * multiply-add as 2 and leaving out g and the softmax:
 *   dense:  layer 1 2DH, layer 2 2DCH, W(x)·x 2DC; backward dz 2DC, dW2 2DCH, W2ᵀdz 2DCH,
 *           dW1 2DH  →  6DCH + 4DH + 4DC  (3.17 MFLOP)
 *   sparse: the same with D replaced by nnz(x) (what the batch-1 step performs; the skipped
 *           terms are exactly zero).
 * "dense-equivalent GFLOP/s" = dense FLOPs × samples/s: the rate a dense implementation would
 * need for the same throughput. Timings are process CPU time (the machine is shared: wall
 * time would count other processes' time slices), best of 3 repetitions. */
#include "../src/models/ewgn.c"

#include <stdio.h>

#include "data.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

static double flops_dense(const ewgn_t *m) {
    double D = m->D, C = m->C, H = m->H;
    return 6 * D * C * H + 4 * D * H + 4 * D * C;
}

static double mean_nnz(const task_t *t, int D, int n) {
    long s = 0;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) s += t->x_train[(long)i * D + d] != 0.0f;
    return (double)s / n;
}

typedef enum { MODE_FAST, MODE_GENERIC } mode_t_;

/* CPU seconds for `steps` samples of task t (cycling through its training set) at batch B. */
static double time_steps(ewgn_t *m, const task_t *t, int steps, int B, mode_t_ mode) {
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cls_cputime();
        for (int s = 0; s < steps; s += B) {
            int i0 = s % (t->n_train - B);
            if (mode == MODE_FAST) {
                step_fast(m, t->x_train + (long)i0 * m->D, t->y_train[i0], NULL);
            } else {
                int idx[64];
                for (int k = 0; k < B; k++) idx[k] = i0 + k;
                step_generic(m, t->x_train, t->y_train, idx, NULL, B);
            }
        }
        flush(m);
        double dt = cls_cputime() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static void row(const char *name, double v, const char *unit, const char *notes) {
    printf("%-34s | %10.1f | %-9s | %s\n", name, v, unit, notes);
}

static void report(const char *tag, ewgn_t *m, const task_t *t, int steps, int B, mode_t_ mode,
                   double nnz) {
    double sec = time_steps(m, t, steps, B, mode);
    double sps = steps / sec;
    char name[96], note[160];
    snprintf(name, sizeof name, "%s samples/s", tag);
    snprintf(note, sizeof note, "%d samples, %.1f us/sample", steps, 1e6 / sps);
    row(name, sps, "samples/s", note);
    snprintf(name, sizeof name, "%s GFLOP/s", tag);
    if (mode == MODE_FAST) {
        double sparse = flops_dense(m) * nnz / m->D;
        snprintf(note, sizeof note, "performed (nnz %.0f of %d pixels); dense-equivalent %.2f",
                 nnz, m->D, flops_dense(m) * sps * 1e-9);
        printf("%-34s | %10.2f | %-9s | %s\n", name, sparse * sps * 1e-9, "GFLOP/s", note);
    } else {
        snprintf(note, sizeof note, "dense count %.2f MFLOP/sample", flops_dense(m) * 1e-6);
        printf("%-34s | %10.2f | %-9s | %s\n", name, flops_dense(m) * sps * 1e-9, "GFLOP/s", note);
    }
}

int main(void) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    run_config c;
    cfg_init(&c);
    cfg_set(&c, "benchmark.train_per_task", "2000");
    cfg_set(&c, "benchmark.test_per_task", "100");
    if (cfg_fill_defaults(&c, "ewgn", "mnist_fashion")) return 1;
    bench_t b;
    if (bench_init(&b, &c, 0)) {
        printf("perf_ewgn: %s\n", cls_geterr());
        cfg_free(&c);
        return 0;   /* no data: nothing to measure */
    }
    const task_t *mn = &b.tasks[0], *fa = &b.tasks[1];
    const int steps = 4000;
    double nnz_m = mean_nnz(mn, b.in_dim, mn->n_train), nnz_f = mean_nnz(fa, b.in_dim, fa->n_train);

    /* batch 1, fused sparse SGD step; then with EWC active after consolidating on MNIST */
    ewgn_t *m = (ewgn_t *)ewgn_ops.init(&c, &b, 0);
    report("batch 1 fused, MNIST", m, mn, steps, 1, MODE_FAST, nnz_m);
    report("batch 1 fused, Fashion", m, fa, steps, 1, MODE_FAST, nnz_f);
    consolidate(m, &b, 0);
    report("batch 1 fused + EWC, Fashion", m, fa, steps, 1, MODE_FAST, nnz_f);
    report("batch 1 generic + EWC, Fashion", m, fa, steps / 8, 1, MODE_GENERIC, nnz_f);
    ewgn_ops.free((model_t *)m);

    /* batch 32, batched sgemm path, EWC active */
    cfg_set(&c, "train.batch_size", "32");
    m = (ewgn_t *)ewgn_ops.init(&c, &b, 0);
    report("batch 32, MNIST", m, mn, steps, 32, MODE_GENERIC, nnz_m);
    consolidate(m, &b, 0);
    report("batch 32 + EWC, Fashion", m, fa, steps, 32, MODE_GENERIC, nnz_f);
    ewgn_ops.free((model_t *)m);

    bench_free(&b);
    cfg_free(&c);
    data_cache_free();
    return 0;
}
