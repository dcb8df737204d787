/* cpu.h — the one place that knows the CPU: the vector ISA level the hot loops may use
 * (detected once, capped by the CLSWEEP_ISA environment variable and by cpu_cap()), its name
 * for printing, and the function attributes of hot loops and of their wide variants.
 * Any layer may include it (it is core); it includes nothing of the project.
 *
 * Contract of the levels: every kernel that dispatches on cpu_level() gives the same bits
 * at every level where its documentation says so (no FMA contraction: -std=c11 implies
 * -ffp-contract=off in GCC, and the wide variants use explicit mul/add intrinsics), so the
 * level changes speed, never results. OpenBLAS picks its own kernels (OPENBLAS_CORETYPE). */
#ifndef CLS_CPU_H
#define CLS_CPU_H

typedef enum {
    CPU_SCALAR = 0,   /* plain C loops only (what the compiler makes of them) */
    CPU_SSE = 1,      /* + 128-bit SSE intrinsic loops (always there on x86-64) */
    CPU_AVX2 = 2,     /* + 256-bit AVX2 (+FMA available) loops */
    CPU_AVX512 = 3    /* + 512-bit AVX-512F loops */
} cpu_level_t;
#define CPU_NLEVELS 4

/* The level kernels run at now: min(what the CPU has, CLSWEEP_ISA, cpu_cap()). The CPU and
 * the environment are read once, at the first call. A CLSWEEP_ISA that is not one of
 * scalar|sse|avx2|avx512 is an error: the message names the variable and the accepted
 * values, and the process exits with status 2 (a benchmark must not silently run at
 * another level than the one asked for). */
cpu_level_t cpu_level(void);
/* The best level this CPU (and this build) supports, before any cap. */
cpu_level_t cpu_detected(void);
/* Caps the level (for tests and benchmarks; on top of CLSWEEP_ISA); < 0 only queries.
 * Returns the previous cap (CPU_AVX512 = no cap). */
int cpu_cap(int level);
/* "scalar", "sse", "avx2", "avx512" ("?" out of range). */
const char *cpu_level_name(int level);
/* The level named s (the names above, case-sensitive), or -1. */
int cpu_level_parse(const char *s);

/* ---- attributes ----
 * CLS_HOT_LOOP: element-wise loops that must vectorise (GCC's -O2 cost model skips loops of
 * unknown trip count). CLS_HOT_LOOP_OPTS("no-trapping-math", ...) adds GCC optimize options
 * that change no result (e.g. to if-convert clamps). CLS_TARGET_AVX2 / CLS_TARGET_AVX512
 * mark the wide variants of a loop; CLS_X86_SIMD is 1 where they are compiled. */
#if defined(__GNUC__) && !defined(__clang__)
#define CLS_HOT_LOOP_OPTS(...) \
    __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic", __VA_ARGS__)))
#define CLS_HOT_LOOP __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define CLS_HOT_LOOP_OPTS(...)
#define CLS_HOT_LOOP
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define CLS_X86_SIMD 1
#define CLS_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define CLS_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define CLS_X86_SIMD 0
#define CLS_TARGET_AVX2
#define CLS_TARGET_AVX512
#endif

#endif
