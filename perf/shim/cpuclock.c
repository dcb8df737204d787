/* cpuclock.c — LD_PRELOAD shim for perf/run.sh on a shared machine: CLOCK_MONOTONIC reads
 * become CLOCK_PROCESS_CPUTIME_ID, so the bench programs' wall-clock timers (cls_now)
 * measure the CPU time the process got, the same clock the PyTorch reference uses
 * (time.process_time). On an idle machine with one thread per process the two agree; on a
 * loaded one only CPU time compares programs run one after another. Built by perf/run.sh:
 *   cc -O2 -shared -fPIC -o cpuclock.so perf/shim/cpuclock.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

int clock_gettime(clockid_t id, struct timespec *ts) {
    static clock_gettime_fn real;
    if (!real) real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    if (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_RAW) id = CLOCK_PROCESS_CPUTIME_ID;
    return real(id, ts);
}
