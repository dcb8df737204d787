/* perf_roofline.c — the machine's limits for the `make bench` table (perf/table.py): the
 * vector ISA level the kernels run at (cpu_level(), after CLSWEEP_ISA), the single-core
 * sgemm peak (OpenBLAS, 512³, one thread) and a STREAM-like triad bandwidth
 * a[i] = b[i] + s·c[i] at several working-set sizes (three arrays together of that size;
 * 12 bytes counted per element: two reads, one write, no write-allocate traffic), from the
 * caches to DRAM. The triad runs at the same ISA level as the kernels (AVX-512, AVX2 or
 * SSE loop), so a capped run measures what an AVX2 machine's loops could reach.
 * Prints "name | value | unit | notes"; measures, asserts nothing. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu.h"
#include "util.h"

#if CLS_X86_SIMD
#include <immintrin.h>
#endif

extern void openblas_set_num_threads(int) __attribute__((weak));

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
    free(a);
    free(b);
    free(c);
    return best;
}

/* GFLOP/s of `reps` sgemm calls C(M×N) = A(M×K)·B(K×N) (op(A) = Aᵀ with ta, op(B) = Bᵀ
 * with tb), best of 5: the ceiling of a kernel made of such products. */
static double sgemm_shape(int M, int N, int K, int ta, int tb, int reps) {
    float *a = xmalloc(sizeof(float) * (size_t)M * K), *b = xmalloc(sizeof(float) * (size_t)K * N),
          *c = xmalloc(sizeof(float) * (size_t)M * N);
    for (long i = 0; i < (long)M * K; i++) a[i] = 0.001f * (float)(i % 97);
    for (long i = 0; i < (long)K * N; i++) b[i] = 0.002f * (float)(i % 89);
    for (long i = 0; i < (long)M * N; i++) c[i] = 0.0f;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = cls_now();
        for (int k = 0; k < reps; k++)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, N, K, 1.0f, a, ta ? M : K, b, tb ? K : N, 1.0f, c, N);
        double g = 2.0 * M * N * K * reps / (cls_now() - t) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

#define TRIAD(V, P, L)                                                                        \
    {                                                                                        \
        const V vs = P##_set1_ps(s);                                                         \
        for (; i + (L) <= n; i += (L))                                                       \
            P##_storeu_ps(a + i, P##_add_ps(P##_loadu_ps(b + i),                             \
                                            P##_mul_ps(vs, P##_loadu_ps(c + i))));           \
    }

#if CLS_X86_SIMD
CLS_TARGET_AVX512 static long triad_avx512(float *a, const float *b, const float *c, float s,
                                           long n) {
    long i = 0;
    TRIAD(__m512, _mm512, 16)
    return i;
}
CLS_TARGET_AVX2 static long triad_avx2(float *a, const float *b, const float *c, float s,
                                       long n) {
    long i = 0;
    TRIAD(__m256, _mm256, 8)
    return i;
}
static long triad_sse(float *a, const float *b, const float *c, float s, long n) {
    long i = 0;
    TRIAD(__m128, _mm, 4)
    return i;
}
#endif

static void triad(float *a, const float *b, const float *c, float s, long n, int isa) {
    long i = 0;
#if CLS_X86_SIMD
    if (isa >= CPU_AVX512) i = triad_avx512(a, b, c, s, n);
    else if (isa >= CPU_AVX2) i = triad_avx2(a, b, c, s, n);
    else if (isa >= CPU_SSE) i = triad_sse(a, b, c, s, n);
#else
    (void)isa;
#endif
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}

/* Best triad bandwidth in GB/s (1e9 bytes/s) with three arrays of `bytes` in all. */
static double triad_bw(long bytes, int isa) {
    long n = bytes / 12;
    n -= n % 16;
    float *a = xmalloc(sizeof(float) * (size_t)n), *b = xmalloc(sizeof(float) * (size_t)n),
          *c = xmalloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) a[i] = b[i] = c[i] = 1.0f;
    long iters = (long)(4e8 / (double)bytes);   /* ~0.4 GB of traffic per repetition */
    if (iters < 2) iters = 2;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = cls_now();
        for (long k = 0; k < iters; k++) triad(a, b, c, 1e-7f, n, isa);
        double gbs = 12.0 * (double)n * (double)iters / (cls_now() - t) / 1e9;
        if (gbs > best) best = gbs;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return best;
}

int main(void) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    int isa = cpu_level();
    const char *env = getenv("CLSWEEP_ISA");
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("isa level | %d | level | %s (CPU: %s; CLSWEEP_ISA=%s; OPENBLAS_CORETYPE=%s)\n", isa,
           cpu_level_name(isa), cpu_level_name(cpu_detected()), env && *env ? env : "unset",
           core && *core ? core : "unset");
    printf("sgemm 512x512x512 (1 thread) | %.2f | GFLOP/s | single-core peak reference (OpenBLAS)\n",
           sgemm_peak());
    /* PAH's convolutions as im2col + sgemm, one sample per call (perf_pah's model):
     * conv1 8×784 = W(8×9)·col(9×784), conv2 16×196 = W(16×72)·col(72×196), their weight
     * gradients dW = dY·colᵀ and the input gradient of conv2 dcol = Wᵀ·dY. */
    static const struct { const char *name; int M, N, K, ta, tb; } conv[] = {
        {"conv1 forward 8x784x9", 8, 784, 9, 0, 0},
        {"conv2 forward 16x196x72", 16, 196, 72, 0, 0},
        {"conv1 dW 8x9x784", 8, 9, 784, 0, 1},
        {"conv2 dW 16x72x196", 16, 72, 196, 0, 1},
        {"conv2 dinp 72x196x16", 72, 196, 16, 1, 0},
    };
    for (size_t k = 0; k < sizeof conv / sizeof conv[0]; k++)
        printf("sgemm %s | %.2f | GFLOP/s | PAH shape (M x N x K), one sample per call\n",
               conv[k].name,
               sgemm_shape(conv[k].M, conv[k].N, conv[k].K, conv[k].ta, conv[k].tb, 2000));
    static const long kib[] = {256, 1024, 2048, 6144, 262144};
    for (size_t k = 0; k < sizeof kib / sizeof kib[0]; k++)
        printf("triad bandwidth %ld KiB | %.1f | GB/s | a = b + s*c, three arrays of %ld KiB in "
               "all, %s loop\n",
               kib[k], triad_bw(kib[k] * 1024, isa), kib[k], cpu_level_name(isa));
    return 0;
}
