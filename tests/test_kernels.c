/* test_kernels.c — the CPU-feature module and the kernels dispatched on it (issue 23):
 * cpu.c: level names and parsing, the cap (cpu_cap) and the CLSWEEP_ISA environment cap —
 *   a bad value is a clear error with exit status 2 (checked in a child process: this
 *   program re-executes itself with CLSWEEP_ISA set);
 * EWGN's fused batch-1 step compiled per width (src/models/ewgn.c, step_fast_*): whole runs
 *   (MNIST → Fashion, EWC active on the second task) give the same R bit for bit at every
 *   level (scalar, SSE, AVX2, AVX-512 where the CPU has them);
 * conv2d (src/nn/layers.c): forward and backward against a direct convolution in double
 *   on odd shapes (channels, H ≠ W, several samples); the finite-difference checks stay in
 *   test_nn.c. The SIMD kernels of HSF, the MLP step and Adam(W) are tested at every level
 *   in test_fastpaths.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu.h"
#include "data.h"
#include "model.h"
#include "nn.h"
#include "rng.h"
#include "test.h"
#include "test_run.h"

static const char *self_path;

static void test_cpu_levels(void) {
    for (int l = 0; l < CPU_NLEVELS; l++)
        CHECK(cpu_level_parse(cpu_level_name(l)) == l, "level %d round trip", l);
    CHECK(cpu_level_parse("AVX2") == -1 && cpu_level_parse("") == -1 && cpu_level_parse(NULL) == -1,
          "unknown names");
    CHECK(!strcmp(cpu_level_name(-1), "?") && !strcmp(cpu_level_name(CPU_NLEVELS), "?"), "out of range");
    int det = cpu_detected();
    printf("#   CPU: %s, running at %s\n", cpu_level_name(det), cpu_level_name(cpu_level()));
    CHECK((int)cpu_level() <= det, "level above the CPU's");
    int prev = cpu_cap(CPU_AVX512);
    int top = cpu_level();   /* the CPU's level, or CLSWEEP_ISA's if the caller set one */
    for (int l = 0; l < CPU_NLEVELS; l++) {
        cpu_cap(l);
        CHECK((int)cpu_level() == (l < top ? l : top), "cap %d gives %d", l, (int)cpu_level());
    }
    CHECK(cpu_cap(prev) == CPU_AVX512, "cpu_cap returns the previous cap");
    CHECK(cpu_cap(-1) == prev, "restored");
}

/* Runs this program with CLSWEEP_ISA=value and --print-level; returns its exit status and
 * its output (first line) in out. */
static int child_level(const char *value, char *out, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        setenv("CLSWEEP_ISA", value, 1);
        execl(self_path, self_path, "--print-level", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fd[0], out + n, cap - 1 - n)) > 0) n += (size_t)k;
    out[n] = '\0';
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cpu_env_cap(void) {
    char buf[512];
    int det = cpu_detected();
    for (int l = 0; l < CPU_NLEVELS; l++) {
        int rc = child_level(cpu_level_name(l), buf, sizeof buf);
        char want[32];
        snprintf(want, sizeof want, "level %s", cpu_level_name(l < det ? l : det));
        CHECK(rc == 0 && !strncmp(buf, want, strlen(want)), "CLSWEEP_ISA=%s: rc %d, '%s'",
              cpu_level_name(l), rc, buf);
    }
    int rc = child_level("avx3", buf, sizeof buf);
    CHECK(rc == 2 && strstr(buf, "CLSWEEP_ISA") && strstr(buf, "avx3") && strstr(buf, "avx2"),
          "bad value: rc %d, message '%s'", rc, buf);
}

/* EWGN at batch 1 (the fused step), two tasks, EWC on the second: R at every level. */
static void test_ewgn_fused_every_level(void) {
    if (!data_get(DATA_MNIST, 1) || !data_get(DATA_FASHION, 1))
        SKIP("MNIST/Fashion-MNIST not present (make data)");
    int prev = cpu_cap(-1);
    run_result r[CPU_NLEVELS];
    for (int l = 0; l < CPU_NLEVELS; l++) {
        cpu_cap(l);
        run_config c;
        make_cfg(&c, "ewgn", "mnist_fashion", "benchmark.train_per_task", "300",
                 "benchmark.test_per_task", "100", "benchmark.block_size", "1", "seed", "5",
                 "ewgn.train.batch_size", "1", "ewgn.train.lr", "0.005", NULL);
        run_cfg(&r[l], &c);
    }
    cpu_cap(prev);
    CHECK(r[0].status == RUN_STATUS_OK, "status %s", run_status_name(r[0].status));
    for (int l = 1; l < CPU_NLEVELS && r[0].status == RUN_STATUS_OK; l++) {
        size_t n = (size_t)r[0].nstages * (size_t)r[0].ntasks;
        CHECK(r[l].status == RUN_STATUS_OK && r[l].nstages == r[0].nstages &&
                  !memcmp(r[l].R, r[0].R, sizeof(float) * n),
              "level %s: R differs from the scalar build", cpu_level_name(l));
    }
    if (r[0].status == RUN_STATUS_OK)
        CHECK(r[0].R[0] > 0.5f, "learned MNIST: R[0][0] = %g", (double)r[0].R[0]);
    for (int l = 0; l < CPU_NLEVELS; l++) result_free(&r[l]);
}

/* Direct 3×3 convolution, zero padding 1, in double. */
static double conv_ref(const float *inp, const float *w, const float *b, int s, int co, int y,
                       int x, int c_in, int H, int W) {
    double acc = b ? b[co] : 0.0;
    for (int ci = 0; ci < c_in; ci++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                int iy = y + ky - 1, ix = x + kx - 1;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += (double)w[((co * c_in + ci) * 3 + ky) * 3 + kx] *
                       inp[(((long)s * c_in + ci) * H + iy) * W + ix];
            }
    return acc;
}

static void test_conv2d_direct(void) {
    const int shapes[][5] = {{3, 1, 28, 28, 8}, {2, 3, 7, 5, 4}, {2, 8, 14, 14, 16}, {1, 2, 1, 6, 3},
                             {2, 1, 5, 1, 2}, {1, 1, 2, 2, 1}};
    rng_t r;
    rng_init(&r, 21, 0);
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int B = shapes[t][0], ci_n = shapes[t][1], H = shapes[t][2], W = shapes[t][3],
            co_n = shapes[t][4];
        long ni = (long)B * ci_n * H * W, no = (long)B * co_n * H * W, nw = (long)co_n * ci_n * 9;
        float *x = malloc(sizeof(float) * ni), *w = malloc(sizeof(float) * nw);
        float *b = malloc(sizeof(float) * co_n), *y = malloc(sizeof(float) * no);
        float *dy = malloc(sizeof(float) * no), *dx = calloc(ni, sizeof(float));
        float *dw = calloc(nw, sizeof(float)), *db = calloc(co_n, sizeof(float));
        float *col = malloc(sizeof(float) * 2 * conv2d_col_size(ci_n, H, W));
        rng_fill_normal(&r, x, ni, 0, 1);
        rng_fill_normal(&r, w, nw, 0, 0.3f);
        rng_fill_normal(&r, b, co_n, 0, 1);
        rng_fill_normal(&r, dy, no, 0, 1);
        conv2d_forward(y, x, w, b, col, B, ci_n, H, W, co_n);
        double ef = 0;
        for (int s = 0; s < B; s++)
            for (int co = 0; co < co_n; co++)
                for (int yy = 0; yy < H; yy++)
                    for (int xx = 0; xx < W; xx++) {
                        double ref = conv_ref(x, w, b, s, co, yy, xx, ci_n, H, W);
                        double got = y[(((long)s * co_n + co) * H + yy) * W + xx];
                        ef = fmax(ef, fabs(got - ref) / (1 + fabs(ref)));
                    }
        conv2d_backward(dx, dw, db, dy, x, w, col, B, ci_n, H, W, co_n);
        /* references: dW = Σ dy·x (shifted), db = Σ dy, dx = Σ w·dy (shifted) */
        double edw = 0, edb = 0, edx = 0;
        for (int co = 0; co < co_n; co++) {
            double sb = 0;
            for (long p = 0; p < (long)H * W; p++)
                for (int s = 0; s < B; s++) sb += dy[((long)s * co_n + co) * H * W + p];
            edb = fmax(edb, fabs(db[co] - sb) / (1 + fabs(sb)));
            for (int ci = 0; ci < ci_n; ci++)
                for (int k = 0; k < 9; k++) {
                    int ky = k / 3, kx = k % 3;
                    double acc = 0;
                    for (int s = 0; s < B; s++)
                        for (int yy = 0; yy < H; yy++)
                            for (int xx = 0; xx < W; xx++) {
                                int iy = yy + ky - 1, ix = xx + kx - 1;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)dy[(((long)s * co_n + co) * H + yy) * W + xx] *
                                       x[(((long)s * ci_n + ci) * H + iy) * W + ix];
                            }
                    edw = fmax(edw, fabs(dw[(co * ci_n + ci) * 9 + k] - acc) / (1 + fabs(acc)));
                }
        }
        for (int s = 0; s < B; s++)
            for (int ci = 0; ci < ci_n; ci++)
                for (int iy = 0; iy < H; iy++)
                    for (int ix = 0; ix < W; ix++) {
                        double acc = 0;
                        for (int co = 0; co < co_n; co++)
                            for (int k = 0; k < 9; k++) {
                                int yy = iy - (k / 3) + 1, xx = ix - (k % 3) + 1;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                acc += (double)w[(co * ci_n + ci) * 9 + k] *
                                       dy[(((long)s * co_n + co) * H + yy) * W + xx];
                            }
                        double got = dx[(((long)s * ci_n + ci) * H + iy) * W + ix];
                        edx = fmax(edx, fabs(got - acc) / (1 + fabs(acc)));
                    }
        printf("#   conv %dx%dx%dx%d -> %d: rel err forward %.2g, dW %.2g, db %.2g, dx %.2g\n", B,
               ci_n, H, W, co_n, ef, edw, edb, edx);
        /* dW sums B·H·W products: float rounding grows with that count */
        CHECK(ef < 1e-5 && edw < 1e-4 && edb < 1e-5 && edx < 1e-5, "shape %zu: errors %g %g %g %g",
              t, ef, edw, edb, edx);
        free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db); free(col);
    }
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc > 1 && !strcmp(argv[1], "--print-level")) {
        printf("level %s\n", cpu_level_name(cpu_level()));
        return 0;
    }
    RUN_TEST(test_cpu_levels);
    RUN_TEST(test_cpu_env_cap);
    RUN_TEST(test_ewgn_fused_every_level);
    RUN_TEST(test_conv2d_direct);
    data_cache_free();
    TEST_EXIT();
}
