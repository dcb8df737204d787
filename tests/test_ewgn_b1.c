/* test_ewgn_b1.c — the wide kernels of EWGN's fused batch-1 step (src/models/ewgn_b1.c) against
 * the C reference loops of src/models/ewgn.c, bit for bit:
 *  - whole fused steps (forward, softmax, update of W2/b2/W1/b1/b, lazy EWC) at every ISA
 *    level the CPU has, against the scalar level: the whole parameter arena after 60 steps
 *    must be identical, for C = 20 (the paper's), 13, 10, 8 and 3 (full groups of eight rows
 *    and tails), every g, masked classes (rows skipped), and EWC off / gradient / proximal;
 *  - the forward kernels alone on edge values: dead ReLUs (h = 0, so every product is ±0),
 *    negative zeros in b2 and W, huge and tiny magnitudes: z and hpre identical to the C loops.
 * At H ≠ 32 every level runs the C loops (checked once: C = 6, H = 16).
 * The model file is included so its static functions can be called directly. */
#include "../src/models/ewgn.c"

#include "test.h"

static void make_model(ewgn_t *m, act_kind act, int D, int C, int H, int ewc, int prox) {
    memset(m, 0, sizeof *m);
    ewgn_alloc(m, D, C, H, act, 1);
    rng_t r;
    rng_init(&r, 21, (uint64_t)C);
    rng_fill_normal(&r, m->params, m->nparams, 0, 0.4f);
    m->n_ewc = m->n_wgn;
    m->ts.lr = 0.05f;
    m->ts.optimizer = OPTIM_SGD;
    train_optim_init(&m->opt, &m->ts, m->nparams);
    if (!ewc) return;
    m->use_ewc = 1;
    m->prox = prox;
    ewc_init(&m->ewc, m->n_ewc, prox ? 300.0f : 2.0f, 1.0f);
    for (long i = 0; i < m->n_ewc; i++) {
        m->ewc.fisher[i] = rng_uniform(&r) * 2.0f;
        m->ewc.anchor[i] = m->params[i] + rng_normal(&r) * 0.3f;
    }
    m->ewc.consolidated = 1;
    after_consolidation(m);
}

/* N fused steps of a fresh model at the current level; returns the flushed arena (malloc'd). */
static float *run_steps(act_kind act, int D, int C, int H, int ewc, int prox, int N) {
    ewgn_t m;
    make_model(&m, act, D, C, H, ewc, prox);
    rng_t r;
    rng_init(&r, 5, 5);
    float *x = xmalloc(sizeof(float) * (size_t)D);
    int *mask = xmalloc(sizeof(int) * (size_t)C);
    for (int c = 0; c < C; c++) mask[c] = c % 3 != 1;
    for (int n = 0; n < N; n++) {
        for (int d = 0; d < D; d++)
            x[d] = (d % 5 == 0 && n % 17) || rng_uniform(&r) < 0.5f ? 0.0f : rng_uniform(&r);
        int y = (int)rng_below(&r, (uint32_t)C);
        if (n % 2 && !mask[y]) y = 0;
        CHECK(step_fast(&m, x, y, n % 2 ? mask : NULL) == RUN_STATUS_OK, "step %d", n);
    }
    flush(&m);
    float *out = xmalloc(sizeof(float) * (size_t)m.nparams);
    memcpy(out, m.params, sizeof(float) * (size_t)m.nparams);
    free(x);
    free(mask);
    ewgn_release(&m);
    return out;
}

static void test_fused_steps_every_level(void) {
    const int D = 50, N = 60;
    const int Cs[5] = {20, 13, 10, 8, 3};
    const act_kind acts[3] = {ACT_GAUSSIAN, ACT_SIGMOID, ACT_TANH};
    const int prev = cpu_cap(-1), top = cpu_detected();
    int compared = 0;
    for (int ci = 0; ci < 6; ci++)
        for (int a = 0; a < 3; a++)
            for (int e = 0; e < 3; e++) {
                const int C = ci < 5 ? Cs[ci] : 6, H = ci < 5 ? EWGN_B1_H : 16;
                if (a && (ci || e)) continue;   /* the other activations: C = 20, no EWC */
                cpu_cap(CPU_SCALAR);
                float *ref = run_steps(acts[a], D, C, H, e > 0, e == 2, N);
                long n = (long)D * C * H + (long)D * C + (long)D * H + H + C;
                for (int l = CPU_SSE; l <= top; l++) {
                    cpu_cap(l);
                    float *got = run_steps(acts[a], D, C, H, e > 0, e == 2, N);
                    long first = -1;
                    for (long i = 0; i < n && first < 0; i++)
                        if (memcmp(&got[i], &ref[i], sizeof(float))) first = i;
                    CHECK(first < 0, "level %s, C %d, H %d, %s, ewc %d: parameter %ld is %.9g, "
                          "scalar %.9g", cpu_level_name(l), C, H, act_name(acts[a]), e, first,
                          first < 0 ? 0.0 : (double)got[first], first < 0 ? 0.0 : (double)ref[first]);
                    compared++;
                    free(got);
                }
                free(ref);
            }
    cpu_cap(prev);
    printf("#   %d runs compared with the scalar level (CPU: %s)\n", compared,
           cpu_level_name(top));
}

/* The forward kernels on edge values, against the C loops of fwd1. */
static void test_forward_kernels_edges(void) {
#if CLS_X86_SIMD
    if (cpu_detected() < CPU_AVX2) SKIP("CPU without AVX2");
    const int C = 20, H = EWGN_B1_H, D = 12;
    float *w2 = xmalloc(sizeof(float) * (size_t)(D * C * H)), *b2 = xmalloc(sizeof(float) * (size_t)(D * C));
    float *w1 = xmalloc(sizeof(float) * (size_t)(D * H));
    float h[EWGN_B1_H], b1[EWGN_B1_H], xv[12];
    int nz[12];
    rng_t r;
    rng_init(&r, 8, 8);
    for (int trial = 0; trial < 6; trial++) {
        for (long i = 0; i < (long)D * C * H; i++) {
            float v = rng_normal(&r);
            if (trial == 1) v = -0.0f;   /* every product −0: the sums' zero signs matter */
            if (trial == 2) v *= rng_uniform(&r) < 0.5f ? 1e30f : 1e-30f;
            w2[i] = v;
        }
        for (long i = 0; i < (long)D * C; i++) b2[i] = trial == 3 || i % 3 == 0 ? -0.0f : rng_normal(&r);
        for (long i = 0; i < (long)D * H; i++) w1[i] = trial == 4 ? -0.0f : rng_normal(&r) * 3.0f;
        for (int k = 0; k < H; k++) {
            h[k] = trial == 0 || trial == 3 ? 0.0f : (k % 4 == 0 ? 0.0f : rng_uniform(&r));
            b1[k] = trial == 4 ? -0.0f : rng_normal(&r);
        }
        const int nnz = trial == 5 ? 0 : D - trial;
        for (int j = 0; j < nnz; j++) {
            nz[j] = (j * 5) % D;
            xv[j] = trial == 4 ? -0.0f : rng_uniform(&r) * 2.0f - 0.5f;
        }
        float zr[12 * 20], zk[12 * 20], hr[EWGN_B1_H], hk[EWGN_B1_H];
        for (int j = 0; j < nnz; j++)
            for (int c = 0; c < C; c++)
                zr[j * C + c] = b2[nz[j] * C + c] + dot8(w2 + ((long)nz[j] * C + c) * H, h, H);
        memcpy(hr, b1, sizeof hr);
        for (int j = 0; j < nnz; j++)
            for (int k = 0; k < H; k++) hr[k] += xv[j] * w1[nz[j] * H + k];
        ewgn_b1_z_avx2(zk, w2, b2, h, nz, nnz, C);
        ewgn_b1_hpre_avx2(hk, b1, w1, nz, xv, nnz);
        CHECK(!memcmp(zr, zk, sizeof(float) * (size_t)(nnz * C)), "trial %d: z differs", trial);
        CHECK(!memcmp(hr, hk, sizeof hr), "trial %d: hpre differs", trial);
    }
    free(w2);
    free(b2);
    free(w1);
#else
    SKIP("not an x86-64 build");
#endif
}

int main(void) {
    RUN_TEST(test_fused_steps_every_level);
    RUN_TEST(test_forward_kernels_edges);
    TEST_EXIT();
}
