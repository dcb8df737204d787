/* perf_pah.c — PAH training throughput on one core: full training batches (step 1 on all
 * parameters + step 2 on the prototypes, both AdamW updates) of the default model
 * (28×28 inputs, CNN 8/16 channels, F = 64, hypernet 16, batch 64, 5 tasks of 2 classes) on
 * synthetic images, on the first task (no old tasks: CE only) and on the last (4 old tasks:
 * f_prev forward, 4 KD heads, 8 prototype images through the backbone), for two prototype
 * shapes; and evaluation throughput. FLOPs counted analytically (2 per multiply-add;
 * backward ≈ 2× forward except conv1, which needs no input gradient in step 1).
 * Prints "name | value | unit | notes".
 *
 * Like the tests, it includes the model's source to drive its batches directly.
 * PERF_PAH_CONV1_GEMM=1 runs conv 1, PERF_PAH_CONV2_GEMM=1 conv 2's forward through im2col +
 * sgemm (the code before the direct kernels), for side-by-side comparisons with one binary. */
#include "../src/models/pah.c"

static pah_t *bench_model(int ph, int pw) {
    pah_geom g = {.T = 5, .C = 2, .H = 28, .W = 28, .c1 = 8, .c2 = 16, .F = 64, .ph = ph, .pw = pw, .hid = 16};
    rng_t r;
    rng_init(&r, 1, 1);
    pah_t *m = pah_create(&g, 64, &r);
    pah_optim_init(m, 1e-3f, 1e-4f, 0.01f);
    const char *e = getenv("PERF_PAH_CONV1_GEMM");
    m->conv1_gemm = e && *e == '1';
    e = getenv("PERF_PAH_CONV2_GEMM");
    m->conv2_gemm = e && *e == '1';
    return m;
}

/* Multiply-adds of one backbone forward of one image. */
static double backbone_macs(const pah_t *m) {
    const pah_geom *g = &m->g;
    return (double)m->S * 9 * g->Cin * g->c1 + (double)(m->S / 4) * 9 * g->c1 * g->c2 + (double)m->D * g->F;
}

static void bench_train(int ph, int pw, int task) {
    pah_t *m = bench_model(ph, pw);
    const int B = 64;
    float *x = xmalloc(sizeof(float) * (size_t)B * 784);
    int y[64];
    rng_t r;
    rng_init(&r, 2, 0);
    rng_fill_uniform(&r, x, (long)B * 784, 0, 1);
    for (int i = 0; i < B; i++) y[i] = i % 2;
    for (int j = 0; j < task; j++) m->seen[j] = 1;
    pah_set_task(m, task);
    pah_teacher_cache(m);
    double ce = 0, sm = 0, sp = 0, best = 0;
    for (int rep = 0; rep < 3; rep++) {
        int steps = 30;
        double t = cls_now();
        for (int s = 0; s < steps; s++) pah_batch(m, x, y, B, task, &ce, &sm, &sp);
        double bps = steps / (cls_now() - t);
        if (bps > best) best = bps;
    }
    double conv1 = (double)m->S * 9 * m->g.Cin * m->g.c1, f = backbone_macs(m);
    double macs = B * (3 * f - conv1);                       /* student fwd + bwd */
    if (m->nold) macs += B * f + m->nold * m->g.C * 3 * f;  /* teacher fwd; prototypes fwd + bwd */
    printf("pah train batch 64, task %d (%d old), proto %2dx%-2d | %8.1f | batches/s | %.0f samples/s, ~%.2f GFLOP/s\n",
           task, m->nold, ph, pw, best, best * B, best * 2 * macs / 1e9);
    free(x);
    pah_free((model_t *)m);
}

static void bench_eval(void) {
    pah_t *m = bench_model(10, 10);
    const int N = 64;
    float *x = xmalloc(sizeof(float) * (size_t)N * 784);
    rng_t r;
    rng_init(&r, 3, 0);
    rng_fill_uniform(&r, x, (long)N * 784, 0, 1);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        int steps = 50;
        double t = cls_now();
        for (int s = 0; s < steps; s++) {
            hyper_forward(m, m->params, &m->hy);
            backbone_forward(m, m->params, &m->ta, x, N, m->Hp, m->Wp);
            dense_forward(m->logits, m->ta.feat, m->hy.heads, NULL, N, m->g.F, m->g.C);
        }
        double sps = steps * N / (cls_now() - t);
        if (sps > best) best = sps;
    }
    printf("pah eval (backbone + generated head)          | %8.0f | samples/s | chunks of 64, ~%.2f GFLOP/s\n",
           best, best * 2 * backbone_macs(m) / 1e9);
    free(x);
    pah_free((model_t *)m);
}

int main(void) {
    bench_train(10, 10, 0);
    bench_train(10, 10, 4);
    bench_train(20, 20, 4);
    bench_eval();
    return 0;
}
