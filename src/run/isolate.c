/* isolate.c — a run in a forked child of the rank (see isolate.h). Run layer: called by the
 * scheduler (master with one process, workers); calls run_execute, the stop state and the
 * benchmark data prefetch.
 *
 * Each run executes in a forked child of the rank (unless options.isolate is false), which
 * sends its packed result back through a pipe and _exit()s. A segfault, abort, runaway
 * memory (RLIMIT_AS) or time limit then kills only the child, and the rank records the run
 * as failed with the reason. Interaction with MPI: the child never calls MPI (it only
 * computes and writes to the pipe) and leaves with _exit, so MPI's state in the parent is
 * untouched; Open MPI's shared-memory and TCP transports tolerate fork(). Data sets are
 * loaded in the parent first so children share them copy-on-write. */
#include "isolate.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "run.h"
#include "stop.h"
#include "util.h"

/* An AddressSanitizer build reserves terabytes of address space for its shadow memory, so
 * an RLIMIT_AS below that makes every allocation of the run process fail (it exits 1):
 * there the memory limit is not applied (a note says so once). */
#if defined(__SANITIZE_ADDRESS__)
#define CLS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLS_ASAN 1
#endif
#endif
#ifndef CLS_ASAN
#define CLS_ASAN 0
#endif

/* Frames on the run process's pipe: a type byte, a uint64 length, the payload. 'S' is a
 * stage report (run_stage_report, this host's layout: both ends are one program image) after
 * which the run waits for one answer byte ('c' continue, anything else stop) on the answer
 * socket; 'R' is the packed result, the last frame. */
#define FRAME_HEAD 9

typedef struct {
    int out, in;   /* frames to the rank, answers from it */
} child_chan;

static int put_frame(int fd, char type, const void *p, uint64_t n) {
    unsigned char h[FRAME_HEAD];
    h[0] = (unsigned char)type;
    memcpy(h + 1, &n, sizeof n);
    return cls_write_all(fd, h, sizeof h) || cls_write_all(fd, p, (size_t)n);
}

/* The run process's stage hook: report, then wait for the rank's answer (no answer — the
 * rank is gone or cannot say — stops the run). */
static int child_stage(void *ctx, const run_stage_report *rep) {
    const child_chan *c = ctx;
    if (put_frame(c->out, 'S', rep, sizeof *rep)) return 0;
    char a = 0;
    for (;;) {
        ssize_t n = read(c->in, &a, 1);
        if (n < 0 && errno == EINTR) continue;
        return n == 1 && a == 'c';
    }
}

static void run_child(int fd, int ans, const run_config *cfg, const run_limits *lim,
                      pid_t parent) {
    /* Reliability review: die with the rank. Without this a run process outlives a rank
     * that is SIGKILLed (OOM killer, a dead node's cleanup, MPI_Abort of the job) and
     * computes on as an orphan — forever for a hung run (seen with crashtest mode=hang). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);   /* the rank died before prctl took effect */
    stop_child_init();                   /* "launcher gone" now means: the rank is gone */
    /* Die quietly: the parent reports the signal (Open MPI's handlers would print a trace). */
    const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    if (lim->memory_mb > 0 && !CLS_ASAN) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)(lim->memory_mb * 1048576.0);
        setrlimit(RLIMIT_AS, &rl);
    }
    cls_set_oom_exit(RUN_EXIT_OOM);
    if (lim->time_limit > 0) {   /* for models that run a program (external.c): its deadline */
        char dl[64];
        snprintf(dl, sizeof dl, "%.17g", cls_now() + lim->time_limit);
        setenv("CLSWEEP_RUN_DEADLINE", dl, 1);
    }
    run_result r;
    child_chan chan = {fd, ans};
    run_execute_staged(cfg, &r, ans >= 0 ? child_stage : NULL, &chan);
    if (r.status == RUN_STATUS_ABANDONED && cls_stop_signal)   /* say who got the signal */
        snprintf(r.message, sizeof r.message, "the run process received signal %d and gave up "
                 "after the %g s grace period", (int)cls_stop_signal, lim->grace);
    char *buf;
    size_t len;
    result_pack(&r, &buf, &len);
    int rc = put_frame(fd, 'R', buf, len);
    _exit(rc ? 1 : 0);
}

/* In this process: no limits (refused by the scheduler), a hard deadline on a stop. */
static void run_here(const run_config *cfg, run_result *res, run_stage_hook hook, void *ctx) {
    stop_hard_deadline(1, CLS_EXIT_INCOMPLETE);
    run_execute_staged(cfg, res, hook, ctx);
    stop_hard_deadline(0, CLS_EXIT_INCOMPLETE);
}

/* How the child ended, as the result's status and message. */
static void child_failed(run_result *res, const run_limits *lim, int status, int timed_out,
                         int abandoned) {
    result_init(res);
    if (abandoned == 2)
        result_fail(res, RUN_STATUS_ABANDONED, "the launcher is gone: run killed");
    else if (abandoned)
        result_fail(res, RUN_STATUS_ABANDONED, "stop requested (signal %d); run killed after the "
                    "%g s grace period", (int)cls_stop_signal, stop_grace());
    else if (timed_out)
        result_fail(res, RUN_STATUS_FAILED, "time limit exceeded (%g s): run killed", lim->time_limit);
    else if (WIFSIGNALED(status))
        result_fail(res, RUN_STATUS_FAILED, "crashed: signal %d (%s)", WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status) && WEXITSTATUS(status) == RUN_EXIT_OOM)
        result_fail(res, RUN_STATUS_FAILED, "out of memory%s", lim->memory_mb > 0 ? " (memory limit)" : "");
    else
        result_fail(res, RUN_STATUS_FAILED, "run process exited with code %d without a result",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (lim->memory_mb > 0 && WIFEXITED(status) && WEXITSTATUS(status) == RUN_EXIT_OOM)
        snprintf(res->message, sizeof res->message, "memory limit exceeded (%g MiB)", lim->memory_mb);
}

void run_isolated(const run_config *cfg, const run_limits *lim, run_result *res) {
    run_isolated_staged(cfg, lim, NULL, NULL, res);
}

/* The frames complete in buf[*off, have): stage reports are answered through hook on ans
 * (*off moves past them); stops at the result frame, which is read at the end. */
static void serve_frames(const char *buf, size_t have, size_t *off, int ans,
                         run_stage_hook hook, void *ctx) {
    while (have - *off >= FRAME_HEAD && buf[*off] == 'S') {
        uint64_t n;
        memcpy(&n, buf + *off + 1, sizeof n);
        if (n != sizeof(run_stage_report) || have - *off - FRAME_HEAD < n) return;
        run_stage_report rep;
        memcpy(&rep, buf + *off + FRAME_HEAD, sizeof rep);
        *off += FRAME_HEAD + n;
        char a = hook && ans >= 0 && hook(ctx, &rep) ? 'c' : 's';
        if (ans >= 0) (void)!send(ans, &a, 1, MSG_NOSIGNAL);
    }
}

void run_isolated_staged(const run_config *cfg, const run_limits *lim, run_stage_hook hook,
                         void *ctx, run_result *res) {
    stop_set_grace(lim->grace);
    if (!lim->isolate) {
        run_here(cfg, res, hook, ctx);
        return;
    }
    static int asan_noted;
    if (CLS_ASAN && lim->memory_mb > 0 && !asan_noted) {
        asan_noted = 1;
        fprintf(stderr, "clsweep: note: run_memory_mb is not applied in an AddressSanitizer build\n");
    }
    double t0 = cls_now();
    bench_prefetch(cfg);
    int fds[2], sv[2] = {-1, -1};
    if (pipe(fds)) {
        run_here(cfg, res, hook, ctx);   /* no pipe: run unprotected rather than not at all */
        return;
    }
    if (hook && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
        close(fds[0]);
        close(fds[1]);
        run_here(cfg, res, hook, ctx);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        run_here(cfg, res, hook, ctx);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        if (sv[0] >= 0) close(sv[0]);
        run_child(fds[1], sv[1], cfg, lim, parent);
    }
    close(fds[1]);
    if (sv[1] >= 0) close(sv[1]);
    char *buf = NULL;
    size_t have = 0, cap = 0, off = 0;
    int timed_out = 0, forwarded = 0, abandoned = 0;
    for (;;) {
        struct pollfd pf = {fds[0], POLLIN, 0};
        int k = poll(&pf, 1, 100);
        if (cls_stop_signal && !forwarded) {
            /* The signal may have reached only this process: pass it on to the run. */
            kill(pid, (int)cls_stop_signal);
            forwarded = 1;
        }
        if (stop_launcher_gone() || (forwarded && stop_should_abandon())) {
            /* Reliability review: the run ignored the stop for the whole grace period (a
             * hang, or a long stage), or nobody is left to collect it: kill it, so that a
             * single-process sweep, which has no master to give up on it, still exits. */
            kill(pid, SIGKILL);
            abandoned = stop_launcher_gone() ? 2 : 1;
            break;
        }
        if (lim->time_limit > 0 && cls_now() - t0 > lim->time_limit) {
            kill(pid, SIGKILL);
            timed_out = 1;
            break;
        }
        if (k <= 0) continue;
        if (have == cap) buf = xrealloc(buf, cap = cap ? 2 * cap : 65536);
        ssize_t n = read(fds[0], buf + have, cap - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) kill(pid, SIGKILL); /* cannot read the result: do not wait on the run */
        if (n <= 0) break;
        have += (size_t)n;
        serve_frames(buf, have, &off, sv[0], hook, ctx);
    }
    close(fds[0]);
    if (sv[0] >= 0) close(sv[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    uint64_t n = 0;
    int framed = have - off >= FRAME_HEAD && buf[off] == 'R';
    if (framed) memcpy(&n, buf + off + 1, sizeof n);
    if (framed && !timed_out && !abandoned && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        n == have - off - FRAME_HEAD &&
        result_unpack(res, buf + off + FRAME_HEAD, (size_t)n) == 0) {
        free(buf);
        return;
    }
    free(buf);
    child_failed(res, lim, status, timed_out, abandoned);
    res->wall_seconds = cls_now() - t0;
}
