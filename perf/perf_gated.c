/* perf_gated.c — throughput of the gated model on the teacher-student stream (one core):
 * whole Euler steps through run_execute, and the two parts of a step on their own (drawing
 * the batch, and the gated layer's forward + backward + update). Prints
 * "name | value | unit | notes" lines; measures, never asserts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "model.h"
#include "nn.h"
#include "rng.h"
#include "run.h"
#include "util.h"

static void make_cfg(run_config *c, const char *model, int blocks, int block_size) {
    char nb[16], bs[16];
    snprintf(nb, sizeof nb, "%d", blocks);
    snprintf(bs, sizeof bs, "%d", block_size);
    cfg_init(c);
    cfg_set(c, "benchmark.blocks", nb);
    cfg_set(c, "benchmark.block_size", bs);
    cfg_set(c, "gated.adapt_steps", "0");
    cfg_set(c, "mlp.hidden", "[64]");
    if (cfg_fill_defaults(c, model, "teacher_student")) {
        fprintf(stderr, "%s\n", cls_geterr());
        exit(1);
    }
    cfg_project(c, model, "teacher_student");
}

/* Whole runs: Euler steps per second including evaluation after every block. */
static void bench_run(const char *model, const char *name, const char *notes) {
    const int blocks = 4, bs = 1000;
    run_config c;
    make_cfg(&c, model, blocks, bs);
    run_result r;
    double t0 = cls_now();
    run_execute(&c, &r);
    double dt = cls_now() - t0;
    if (r.status != RUN_STATUS_OK) fprintf(stderr, "%s: %s\n", name, r.message);
    printf("%s | %.0f | steps/s | %s; %d steps in %.2f s\n", name, blocks * bs / dt, notes,
           blocks * bs, dt);
    result_free(&r);
    cfg_free(&c);
}

int main(void) {
    bench_run("gated", "gated_ts_run", "gated, P=2, 20->10, batch 200, dt 1e-3 (default)");
    bench_run("finetune", "finetune_ts_run", "finetune MLP 20-64-10 on the same stream, for scale");

    /* the parts of one step */
    run_config c;
    make_cfg(&c, "gated", 1, 1);
    bench_t b;
    if (bench_init(&b, &c, 0)) {
        fprintf(stderr, "%s\n", cls_geterr());
        return 1;
    }
    const int B = b.stream_batch, din = b.in_dim, dout = b.out_dim, P = 2;
    const long nw = (long)P * dout * din, np = nw + P;
    /* one arena: x (B, din) | y, out, dy (B, dout) | weff, g (dout, din) | w, gw (np) */
    long sz = (long)B * din + 3L * B * dout + 2L * dout * din + 2 * np;
    float *arena = xcalloc((size_t)sz, sizeof(float));
    float *x = arena, *y = x + (long)B * din, *out = y + (long)B * dout, *dy = out + (long)B * dout;
    float *weff = dy + (long)B * dout, *g = weff + (long)dout * din, *w = g + (long)dout * din;
    float *gw = w + np, *cc = w + nw;
    rng_t r;
    rng_init(&r, 1, 2);
    rng_fill_normal(&r, w, nw, 0, 0.01f);
    cc[0] = cc[1] = 0.5f;

    const int n = 20000;
    double t0 = cls_now();
    for (int i = 0; i < n; i++) bench_sample(&b, 0, &r, x, y, B);
    double ts = cls_now() - t0;
    printf("teacher_sample | %.0f | batches/s | bench_sample: %d x %d normals + teacher product (%.1f us)\n",
           n / ts, B, din, 1e6 * ts / n);

    volatile float sink = 0;
    t0 = cls_now();
    for (int i = 0; i < n; i++) {
        memset(gw, 0, sizeof(float) * (size_t)np);
        gated_linear_forward(out, weff, x, w, cc, B, P, din, dout);
        memset(dy, 0, sizeof(float) * (size_t)B * dout);
        sink += mse_forward(out, y, B, dout, 1);
        mse_backward(dy, out, y, 1.0f, B, dout, 1);
        gated_linear_backward(NULL, gw, gw + nw, g, dy, x, w, cc, weff, B, P, din, dout);
        gate_reg_backward(gw + nw, cc, 0.1f, P, 1, 10);
        for (long k = 0; k < np; k++) w[k] -= 1e-6f * gw[k];
    }
    double tl = cls_now() - t0;
    printf("gated_layer_step | %.0f | steps/s | forward + loss + backward + regulariser + "
           "update, no sampling (%.1f us)\n", n / tl, 1e6 * tl / n);
    (void)sink;
    free(arena);
    bench_free(&b);
    cfg_free(&c);
    return 0;
}
