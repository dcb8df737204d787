/* cpu.c — CPU feature detection and the CLSWEEP_ISA cap (see cpu.h). Called by the kernels
 * that dispatch on the vector width (src/nn, the models' hot loops), by tests and by the
 * perf/ programs. Detection runs once; the cap is a plain process-wide setting. */
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const level_names[CPU_NLEVELS] = {"scalar", "sse", "avx2", "avx512"};

static int detected = -1;    /* -1: not yet detected */
static int env_cap = -1;     /* from CLSWEEP_ISA; -1: not yet read */
static int test_cap = CPU_AVX512;

const char *cpu_level_name(int level) {
    return level >= 0 && level < CPU_NLEVELS ? level_names[level] : "?";
}

int cpu_level_parse(const char *s) {
    if (!s) return -1;
    for (int l = 0; l < CPU_NLEVELS; l++)
        if (strcmp(s, level_names[l]) == 0) return l;
    return -1;
}

cpu_level_t cpu_detected(void) {
    if (detected < 0) {
        int d = CPU_SCALAR;
#if CLS_X86_SIMD
        __builtin_cpu_init();
        d = CPU_SSE;   /* x86-64 has SSE2 */
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) d = CPU_AVX2;
        if (d == CPU_AVX2 && __builtin_cpu_supports("avx512f")) d = CPU_AVX512;
#elif defined(__SSE__)
        d = CPU_SSE;
#endif
        detected = d;
    }
    return (cpu_level_t)detected;
}

static int read_env_cap(void) {
    if (env_cap < 0) {
        const char *s = getenv("CLSWEEP_ISA");
        if (!s || !*s) {
            env_cap = CPU_AVX512;
        } else {
            int l = cpu_level_parse(s);
            if (l < 0) {
                fprintf(stderr, "clsweep: CLSWEEP_ISA='%s' is not one of scalar, sse, avx2, avx512\n", s);
                exit(2);
            }
            env_cap = l;
        }
    }
    return env_cap;
}

cpu_level_t cpu_level(void) {
    int l = cpu_detected(), e = read_env_cap();
    if (e < l) l = e;
    if (test_cap < l) l = test_cap;
    return (cpu_level_t)l;
}

int cpu_cap(int level) {
    int prev = test_cap;
    if (level >= 0) test_cap = level < CPU_NLEVELS ? level : CPU_AVX512;
    return prev;
}
