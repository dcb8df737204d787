/* sched.c — the master/worker scheduler (see sched.h).
 *
 * Protocol (STYLE.md): tags in an enum; the payload always carries the run index.
 *   TAG_WORK   master → worker: a chunk of runs: int32 count, run_limits, then per run
 *              int32 index, uint32 length, cfg_pack bytes
 *   TAG_RESULT worker → master: int32 index, int32 abandoned, result_pack bytes (one
 *              message per run, in chunk order)
 *   TAG_STOP   master → worker: empty; the worker returns
 *   TAG_CANCEL master → worker: empty; the master is stopping: runs not yet started (the
 *              rest of a chunk, a prefetched chunk) go back as abandoned
 * Variable-size payloads are received after MPI_Iprobe + MPI_Get_count.
 *
 * Chunked dispatch. Runs go out in chunks whose size adapts to the measured run time (an
 * EWMA of the runs' wall seconds): about CHUNK_SECONDS of work per chunk, at most half of
 * a fair share of what is left (so the tail stays balanced), and 1 run while nothing has
 * been measured or when runs are long. Every result is appended to the journal as it
 * arrives (write(2): safe from a kill of the process); when a worker's chunk is complete
 * the journal is fsync'd and only then is that worker handed more — so every run that
 * finished before a hand-out is on disk before the hand-out, as with one run per message.
 * A worker holds two chunks (once a run time has been measured), so it computes while the
 * master notices its result, syncs and sends more. Near the end of the sweep (at most two
 * runs per worker left) long runs (>= PREFETCH_BELOW s) go out one at a time again, which
 * is plain longest-first list scheduling where it matters for the makespan.
 *
 * Rank groups (ranks_per_run k): rank 0 announces k, the workers split into consecutive
 * groups of k (the last one smaller when k does not divide the number of workers) and
 * the master talks to group leaders only. A leader executes the run (in its forked child)
 * and then analyses the run's probe matrices with its group on a BLACS grid
 * (analysis.h); the other group members wait in analysis_member_loop. */
#include "scheduler.h"

#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analysis.h"
#include "bench.h"
#include "model.h"
#include "output.h"
#include "result.h"
#include "sweep.h"
#include "util.h"

enum { TAG_WORK = 1, TAG_RESULT = 2, TAG_STOP = 3, TAG_CANCEL = 4 };

#define CHUNK_SECONDS 0.05     /* work per chunk the master aims for */
#define CHUNK_MAX 4096         /* runs per chunk at most */
#define PREFETCH_BELOW 0.05    /* runs shorter than this (s): two chunks per worker to the end */

/* How a run is executed: sent with every work message. */
typedef struct {
    double grace;        /* seconds an in-flight run may continue after a stop signal */
    double time_limit;   /* seconds, 0 = none */
    double memory_mb;    /* address-space limit, 0 = none */
    int32_t isolate;     /* run in a forked child */
    int32_t pad;
} run_limits;

#define RUN_EXIT_OOM 86   /* exit code of a run process that ran out of (limited) memory */

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

#define MPI_CHECK(call)                                                              \
    do {                                                                             \
        int mpi_rc_ = (call);                                                        \
        if (mpi_rc_ != MPI_SUCCESS) {                                                \
            char mpi_msg_[MPI_MAX_ERROR_STRING];                                     \
            int mpi_len_ = 0;                                                        \
            MPI_Error_string(mpi_rc_, mpi_msg_, &mpi_len_);                          \
            fprintf(stderr, "clsweep: %s:%d: %s failed: %s\n", __FILE__, __LINE__,   \
                    #call, mpi_msg_);                                                \
            MPI_Abort(MPI_COMM_WORLD, SCHED_EXIT_ERROR);                             \
        }                                                                            \
    } while (0)

volatile sig_atomic_t sched_stop_signal = 0;
static double stop_seen_at = 0;     /* when a stop was first noticed (cls_now) */
static double grace_current = 60;   /* grace of the run in progress */

static void on_stop(int sig) { sched_stop_signal = sig; }

void sched_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void note_stop(void) {
    if (sched_stop_signal && stop_seen_at == 0) stop_seen_at = cls_now();
}

int sched_should_abandon(void) {
    note_stop();
    return sched_stop_signal && cls_now() - stop_seen_at > grace_current;
}

/* Sleeps for *backoff seconds and doubles it up to max: the master's idle wait. */
static void backoff_sleep(double *backoff, double max) {
    struct timespec ts;
    ts.tv_sec = (time_t)*backoff;
    ts.tv_nsec = (long)((*backoff - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    *backoff *= 2;
    if (*backoff > max) *backoff = max;
}

static int mkdir_parents(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) && errno != EEXIST) {
            cls_seterr("cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

/* ---- crash isolation ----
 * Each run executes in a forked child of the rank (unless options.isolate is false), which
 * sends its packed result back through a pipe and _exit()s. A segfault, abort, runaway
 * memory (RLIMIT_AS) or time limit then kills only the child, and the rank records the run
 * as failed with the reason. Interaction with MPI: the child never calls MPI (it only
 * computes and writes to the pipe) and leaves with _exit, so MPI's state in the parent is
 * untouched; Open MPI's shared-memory and TCP transports tolerate fork(). Data sets are
 * loaded in the parent first so children share them copy-on-write. */
static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void run_child(int fd, const run_config *cfg, const run_limits *lim, pid_t parent) {
    /* Reliability review: die with the rank. Without this a run process outlives a rank
     * that is SIGKILLed (OOM killer, a dead node's cleanup, MPI_Abort of the job) and
     * computes on as an orphan — forever for a hung run (seen with crashtest mode=hang). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);   /* the rank died before prctl took effect */
    /* Die quietly: the parent reports the signal (Open MPI's handlers would print a trace). */
    const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    if (lim->memory_mb > 0 && !CLS_ASAN) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)(lim->memory_mb * 1048576.0);
        setrlimit(RLIMIT_AS, &rl);
    }
    cls_set_oom_exit(RUN_EXIT_OOM);
    run_result r;
    run_execute(cfg, &r);
    char *buf;
    size_t len;
    result_pack(&r, &buf, &len);
    uint64_t n = len;
    int rc = write_all(fd, &n, sizeof n) || write_all(fd, buf, len);
    _exit(rc ? 1 : 0);
}

static void run_isolated(const run_config *cfg, const run_limits *lim, run_result *res) {
    if (!lim->isolate) {
        run_execute(cfg, res);
        return;
    }
    static int asan_noted;
    if (CLS_ASAN && lim->memory_mb > 0 && !asan_noted) {
        asan_noted = 1;
        fprintf(stderr, "clsweep: note: run_memory_mb is not applied in an AddressSanitizer build\n");
    }
    double t0 = cls_now();
    bench_prefetch(cfg);
    int fds[2];
    if (pipe(fds)) {
        run_execute(cfg, res);   /* no pipe: run unprotected rather than not at all */
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        run_execute(cfg, res);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        run_child(fds[1], cfg, lim, parent);
    }
    close(fds[1]);
    char *buf = NULL;
    size_t have = 0, cap = 0;
    int timed_out = 0, forwarded = 0, abandoned = 0;
    for (;;) {
        struct pollfd pf = {fds[0], POLLIN, 0};
        int k = poll(&pf, 1, 100);
        if (sched_stop_signal && !forwarded) {
            /* The signal may have reached only this process: pass it on to the run. */
            kill(pid, (int)sched_stop_signal);
            forwarded = 1;
        }
        if (forwarded && sched_should_abandon()) {
            /* Reliability review: the run ignored the stop for the whole grace period (a
             * hang, or a long stage): kill it, so that a single-process sweep, which has no
             * master to give up on it, still exits and can be requeued. */
            kill(pid, SIGKILL);
            abandoned = 1;
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
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    uint64_t n = 0;
    if (have >= sizeof n) memcpy(&n, buf, sizeof n);
    if (!timed_out && !abandoned && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        have >= sizeof n && n == have - sizeof n &&
        result_unpack(res, buf + sizeof n, (size_t)n) == 0) {
        free(buf);
        return;
    }
    free(buf);
    result_init(res);
    if (abandoned)   /* "abandoned" is what run_abandoned() looks for */
        result_fail(res, RUN_STATUS_FAILED, "abandoned: stop requested; run killed after the "
                    "%g s grace period", grace_current);
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
    res->wall_seconds = cls_now() - t0;
}

/* ---- master state ---- */
typedef struct {
    sweep_t sw;
    const char *out;
    char *journal_path;
    journal_t journal;
    run_result **results;       /* (nruns) finished results, NULL if pending */
    int *pending;               /* run indices, longest first */
    int npending, next;
    int ndone, ntotal, nfail, ndiv, nresumed;
    double t0, last_progress, last_write, write_cost, last_sync;
    double run_ewma;            /* EWMA of the runs' wall seconds; < 0 before the first */
    double run_seconds;         /* sum of the wall seconds of the runs recorded here */
    int nrecorded;              /* runs recorded by this process (not resumed) */
    int nworkers;               /* ranks (group leaders) executing runs */
    double loop_cpu, loop_wall; /* the MPI master's CPU and wall seconds while dispatching */
    int nchunks, max_chunk;     /* work messages sent, most runs in one */
    int nreturned;              /* runs handed out but abandoned (pending again) */
    int quiet;
    char *reported;             /* the error already printed (master_finish skips it) */
} master_t;

typedef struct { master_t *m; int nstray; } resume_ctx;

static void resume_one(const char *id, run_result *r, void *ctx) {
    resume_ctx *rc = ctx;
    master_t *m = rc->m;
    for (int i = 0; i < m->sw.nruns; i++) {
        if (strcmp(m->sw.runs[i].id, id)) continue;
        /* failed runs are retried on resume; everything else is final */
        if (r->status != RUN_STATUS_FAILED) {
            if (m->results[i]) {
                result_free(m->results[i]);
                free(m->results[i]);
            }
            m->results[i] = xmalloc(sizeof(run_result));
            *m->results[i] = *r;
            return;
        }
        break;
    }
    if (r->status != RUN_STATUS_FAILED) rc->nstray++;
    result_free(r);
}

static const sweep_t *cmp_sweep;
static int cmp_cost(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    double ci = cmp_sweep->runs[i].cost, cj = cmp_sweep->runs[j].cost;
    if (ci != cj) return ci > cj ? -1 : 1;
    return i - j;
}

static int write_output(master_t *m) {
    double t = cls_now();
    if (output_write(m->out, &m->sw, m->results)) return -1;
    m->last_write = cls_now();
    m->write_cost = m->last_write - t;
    return 0;
}

static void progress(master_t *m, int force) {
    double now = cls_now();
    if (m->quiet || (!force && now - m->last_progress < 1.0)) return;
    m->last_progress = now;
    int done_here = m->ndone - m->nresumed;
    double el = now - m->t0;
    double rate = el > 0 ? done_here / el : 0;
    int left = m->ntotal - m->ndone;
    char eta[32] = "--";
    if (rate > 0) {
        long s = (long)(left / rate + 0.5);
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    fprintf(stderr, "clsweep: %d/%d runs done (%d failed, %d diverged), %.2f runs/s, ETA %s\n",
            m->ndone, m->ntotal, m->nfail, m->ndiv, rate, eta);
}

/* Records a finished run in the journal (written through to the kernel; fsync'd by the
 * caller at the end of the run's chunk, before more work goes out). The .nc rewrite is
 * maybe_write's, called after the next hand-out so that workers do not wait on it. */
static int master_record(master_t *m, int idx, run_result *r) {
    if (journal_append(&m->journal, m->sw.runs[idx].id, r, 0)) return -1;
    double w = isfinite(r->wall_seconds) && r->wall_seconds >= 0 ? r->wall_seconds : 0;
    m->run_ewma = m->run_ewma < 0 ? w : 0.8 * m->run_ewma + 0.2 * w;
    m->run_seconds += w;
    m->nrecorded++;
    m->results[idx] = xmalloc(sizeof(run_result));
    *m->results[idx] = *r;
    m->ndone++;
    if (r->status == RUN_STATUS_FAILED) m->nfail++;
    if (r->status == RUN_STATUS_DIVERGED) m->ndiv++;
    progress(m, 0);
    return 0;
}

/* Rewrites the .nc if it is due: every options.flush_seconds, by default when the time since
 * the last rewrite is at least WRITE_GAP_FACTOR times what the last rewrite took (so the
 * rewrites cost the master at most ~1 % of the wall time; the journal has every run). */
#define WRITE_GAP_FACTOR 100.0
static int maybe_write(master_t *m) {
    if (m->ndone == 0) return 0;
    double gap = m->sw.flush_seconds > 0 ? m->sw.flush_seconds : WRITE_GAP_FACTOR * m->write_cost;
    return cls_now() - m->last_write >= gap ? write_output(m) : 0;
}

static int master_setup(master_t *m, const sched_options *o) {
    memset(m, 0, sizeof *m);
    if (sweep_load(&m->sw, o->sweep_path)) return -1;
    m->out = o->output ? o->output : m->sw.output;
    m->quiet = o->quiet || m->sw.quiet;
    if (o->grace_seconds >= 0) m->sw.grace_seconds = o->grace_seconds;
    size_t jl = strlen(m->out) + 16;
    m->journal_path = xmalloc(jl);
    snprintf(m->journal_path, jl, "%s.journal", m->out);
    m->results = xcalloc((size_t)m->sw.nruns, sizeof(run_result *));
    if (mkdir_parents(m->out)) return -1;
    /* Resume: the journal is the source of truth; without one, an existing sweep file. */
    resume_ctx rc = {m, 0};
    struct stat st;
    journal_damage dmg;
    if (stat(m->journal_path, &st) == 0) {
        if (journal_read_damage(m->journal_path, resume_one, &rc, &dmg)) return -1;
        char what[512];
        journal_damage_describe(&dmg, what, sizeof what);
        /* damage in the middle is said even when quiet: results were lost */
        if (what[0] && (!m->quiet || dmg.nmiddle))
            fprintf(stderr, "clsweep: %s: %s\n", m->journal_path, what);
    } else if (stat(m->out, &st) == 0) {
        if (output_read(m->out, resume_one, &rc)) {
            cls_adderr("refusing to overwrite %s", m->out);
            return -1;
        }
    }
    if (rc.nstray && !m->quiet)
        fprintf(stderr, "clsweep: %d earlier result(s) belong to no run of this sweep; left out of %s\n",
                rc.nstray, m->out);
    if (journal_open(&m->journal, m->journal_path)) return -1;
    /* Pending runs, optionally one shard of them, longest expected first. */
    m->pending = xmalloc(sizeof(int) * (size_t)(m->sw.nruns ? m->sw.nruns : 1));
    for (int i = 0; i < m->sw.nruns; i++) {
        if (o->shard_count > 0 && i % o->shard_count != o->shard_index) continue;
        m->ntotal++;
        if (m->results[i]) {
            m->ndone++;
            m->nresumed++;
            if (m->results[i]->status == RUN_STATUS_DIVERGED) m->ndiv++;
        } else {
            m->pending[m->npending++] = i;
        }
    }
    cmp_sweep = &m->sw;
    qsort(m->pending, (size_t)m->npending, sizeof(int), cmp_cost);
    m->t0 = m->last_write = m->last_sync = cls_now();
    m->run_ewma = -1;
    m->nworkers = 1;
    if (!m->quiet)
        fprintf(stderr, "clsweep: sweep %s: %d runs (%d before deduplication), %d already done, "
                        "output %s\n", m->sw.name, m->ntotal, m->sw.n_before_dedup, m->nresumed, m->out);
    return 0;
}

static run_limits master_limits(const master_t *m) {
    run_limits l;
    memset(&l, 0, sizeof l);
    l.grace = m->sw.grace_seconds;
    l.time_limit = m->sw.run_time_limit;
    l.memory_mb = m->sw.run_memory_mb;
    l.isolate = m->sw.isolate;
    return l;
}

static void master_free(master_t *m) {
    if (m->results) {
        for (int i = 0; i < m->sw.nruns; i++)
            if (m->results[i]) {
                result_free(m->results[i]);
                free(m->results[i]);
            }
        free(m->results);
    }
    journal_close(&m->journal);
    free(m->journal_path);
    free(m->reported);
    free(m->pending);
    sweep_free(&m->sw);
}

static int run_abandoned(const run_result *r) {
    return r->status == RUN_STATUS_FAILED && !strncmp(r->message, "abandoned", 9);
}

static int master_finish(master_t *m, int interrupted) {
    int rc = write_output(m);
    if (journal_sync(&m->journal)) rc = -1;
    progress(m, 1);
    if (rc) {
        /* After an error already printed, a final write failing for the same reason (a full
         * disk) is one line more, not the reason twice. */
        const char *a = m->reported ? strrchr(m->reported, ':') : NULL, *b = strrchr(cls_geterr(), ':');
        if (a && b && !strcmp(a, b))
            fprintf(stderr, "clsweep: %s was not rewritten either (same cause); a resume "
                            "continues from the journal\n", m->out);
        else
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        return SCHED_EXIT_ERROR;
    }
    if (interrupted) {
        if (m->nreturned)
            fprintf(stderr, "clsweep: %d run(s) handed out but stopped or not started are pending "
                            "again\n", m->nreturned);
        fprintf(stderr, "clsweep: stopped by signal %d: %d of %d runs finished and saved in %s; "
                        "the sweep is incomplete — run the same command again to resume\n",
                (int)sched_stop_signal, m->ndone, m->ntotal, m->out);
        return SCHED_EXIT_INCOMPLETE;
    }
    double el = cls_now() - m->t0;
    if (!m->quiet || getenv("CLSWEEP_SCHED_REPORT")) {
        fprintf(stderr, "clsweep: done: %d runs (%d failed, %d diverged) in %.1f s → %s\n",
                m->ndone, m->nfail, m->ndiv, el, m->out);
        /* How well the workers were kept busy: the runs' own time over workers × wall. */
        if (m->nrecorded > 0 && el > 0)
            fprintf(stderr, "clsweep: scheduler: %d runs in %.3f s (%.1f runs/s) on %d worker(s); "
                            "run time %.3f s = %.1f%% of workers x wall\n",
                    m->nrecorded, el, m->nrecorded / el, m->nworkers, m->run_seconds,
                    100.0 * m->run_seconds / (m->nworkers * el));
        if (m->loop_wall > 0)
            fprintf(stderr, "clsweep: scheduler: master CPU while dispatching %.3f s = %.2f%% of "
                            "%.3f s; %d work message(s), up to %d run(s) each\n", m->loop_cpu,
                    100.0 * m->loop_cpu / m->loop_wall, m->loop_wall, m->nchunks, m->max_chunk);
    }
    return SCHED_EXIT_OK;
}

/* The weight-space analysis of a finished run on the rank's group; drops the probe
 * matrices either way, so they never reach the master or the journal. */
static void run_analyse(analysis_group *ag, const run_config *cfg, run_result *r) {
    if (run_abandoned(r)) result_drop_probes(r);
    else analysis_apply(ag, cfg, r);
}

static int master_solo(master_t *m, analysis_group *ag) {
    grace_current = m->sw.grace_seconds;
    run_limits lim = master_limits(m);
    while (m->next < m->npending) {
        if (sched_stop_signal) return master_finish(m, 1);
        int idx = m->pending[m->next++];
        run_result r;
        run_isolated(&m->sw.runs[idx].cfg, &lim, &r);
        run_analyse(ag, &m->sw.runs[idx].cfg, &r);
        if (run_abandoned(&r)) {
            result_free(&r);
            return master_finish(m, 1);
        }
        if (master_record(m, idx, &r) || maybe_write(m)) {
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
            return SCHED_EXIT_ERROR;
        }
        /* One process: a "chunk" is the runs of the last CHUNK_SECONDS (each run when runs
         * are long); they are fsync'd before the next run starts. */
        if (cls_now() - m->last_sync >= CHUNK_SECONDS) {
            if (journal_sync(&m->journal)) {
                fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
                return SCHED_EXIT_ERROR;
            }
            m->last_sync = cls_now();
        }
    }
    return master_finish(m, sched_stop_signal != 0);
}

/* Runs in the next chunk for a worker, given nslots workers (see the top of the file). */
static int chunk_size(const master_t *m, int nslots) {
    int left = m->npending - m->next;
    if (left <= 0) return 0;
    int k = 1;
    if (m->run_ewma >= 0) {
        double want = CHUNK_SECONDS / (m->run_ewma > 1e-7 ? m->run_ewma : 1e-7);
        k = want >= CHUNK_MAX ? CHUNK_MAX : want < 1 ? 1 : (int)want;
    }
    int share = (left + 2 * nslots - 1) / (2 * nslots);
    if (k > share) k = share;
    return k < 1 ? 1 : k;
}

static void put32(char **p, int32_t v) {
    memcpy(*p, &v, 4);
    *p += 4;
}

/* Sends the next k pending runs to worker as one TAG_WORK message, non-blocking: *req and
 * the returned buffer (free it once *req completes). A chunk of a few KiB exceeds the eager
 * limit, and a blocking send to a worker that is busy computing (a prefetched chunk)
 * would wait — spinning — for the whole run. */
static char *send_chunk(master_t *m, int worker, int k, MPI_Request *req) {
    char **cb = xmalloc(sizeof(char *) * (size_t)k);
    size_t *cl = xmalloc(sizeof(size_t) * (size_t)k);
    run_limits lim = master_limits(m);
    size_t n = 4 + sizeof lim;
    for (int j = 0; j < k; j++) {
        cfg_pack(&m->sw.runs[m->pending[m->next + j]].cfg, &cb[j], &cl[j]);
        n += 8 + cl[j];
    }
    char *msg = xmalloc(n), *p = msg;
    put32(&p, k);
    memcpy(p, &lim, sizeof lim);
    p += sizeof lim;
    for (int j = 0; j < k; j++) {
        put32(&p, m->pending[m->next + j]);
        put32(&p, (int32_t)cl[j]);
        memcpy(p, cb[j], cl[j]);
        p += cl[j];
        free(cb[j]);
    }
    m->next += k;
    m->nchunks++;
    if (k > m->max_chunk) m->max_chunk = k;
    MPI_CHECK(MPI_Isend(msg, (int)n, MPI_BYTE, worker, TAG_WORK, MPI_COMM_WORLD, req));
    free(cb);
    free(cl);
    return msg;
}

/* A worker (group leader) as the master sees it: up to two chunks in flight, the runs
 * still to come back from each (queue[0] is the chunk being computed). */
typedef struct {
    int rank, nchunks, queue[2];
    MPI_Request req[2];         /* the chunks' sends */
    char *msg[2];               /* their buffers */
} slot_t;

/* Drops slot s's oldest chunk (all its results are in, so its send has completed). */
static void pop_chunk(slot_t *s) {
    MPI_CHECK(MPI_Wait(&s->req[0], MPI_STATUS_IGNORE));
    free(s->msg[0]);
    s->queue[0] = s->queue[1];
    s->req[0] = s->req[1];
    s->msg[0] = s->msg[1];
    s->msg[1] = NULL;
    s->nchunks--;
}

/* Hands slot s chunks up to the prefetch depth while runs are pending; returns the runs
 * sent. */
static int top_up(master_t *m, slot_t *s, int nslots) {
    int sent = 0;
    for (;;) {
        int left = m->npending - m->next;
        int depth = m->run_ewma < 0 ? 1
                    : m->run_ewma < PREFETCH_BELOW || left > 2 * nslots ? 2 : 1;
        if (s->nchunks >= depth || left <= 0) break;
        int k = chunk_size(m, nslots);
        s->msg[s->nchunks] = send_chunk(m, s->rank, k, &s->req[s->nchunks]);
        s->queue[s->nchunks++] = k;
        sent += k;
    }
    return sent;
}

static int master_mpi(master_t *m, const int *leaders, int nleaders, int size) {
    int outstanding = 0, failed = 0;
    m->nworkers = nleaders;
    slot_t *slots = xcalloc((size_t)nleaders, sizeof *slots);
    int *slot_of = xmalloc(sizeof(int) * (size_t)size);
    for (int r = 0; r < size; r++) slot_of[r] = -1;
    for (int l = 0; l < nleaders; l++) {
        slots[l].rank = leaders[l];
        slot_of[leaders[l]] = l;
        outstanding += top_up(m, &slots[l], nleaders);
        if (slots[l].nchunks == 0)
            MPI_CHECK(MPI_Send(NULL, 0, MPI_BYTE, leaders[l], TAG_STOP, MPI_COMM_WORLD));
    }
    double backoff = 1e-5, cpu0 = cls_cputime(), wall0 = cls_now(), last_msg = wall0;
    int stopping = 0;
    while (outstanding > 0) {
        note_stop();
        if (sched_stop_signal && !stopping) {
            stopping = 1;
            if (!m->quiet)
                fprintf(stderr, "clsweep: signal %d: no more runs handed out; waiting up to %.0f s "
                                "for %d run(s) in flight\n", (int)sched_stop_signal,
                        m->sw.grace_seconds, outstanding);
            /* The workers may not have the signal (kill of the master alone): they drop the
             * runs they have not started. */
            for (int l = 0; l < nleaders; l++)
                if (slots[l].nchunks > 0)
                    MPI_CHECK(MPI_Send(NULL, 0, MPI_BYTE, slots[l].rank, TAG_CANCEL, MPI_COMM_WORLD));
        }
        if (stopping && cls_now() - stop_seen_at > m->sw.grace_seconds + 10.0) {
            /* Workers did not return in time: save what we have, then take the job down. */
            master_finish(m, 1);
            fprintf(stderr, "clsweep: %d run(s) still in flight after the grace period; aborting them\n",
                    outstanding);
            MPI_Abort(MPI_COMM_WORLD, SCHED_EXIT_INCOMPLETE);
        }
        int flag = 0;
        MPI_Status st;
        MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st));
        if (!flag) {
            /* Sleep longer the longer nothing has come back: the delay in noticing a result
             * stays within ~2 % of the time the runs have been computing, and a master
             * waiting on long runs wakes up at most 5-10 times a second. */
            double idle = cls_now() - last_msg;
            backoff_sleep(&backoff, fmin(0.2, fmax(0.01, 0.02 * idle)));
            continue;
        }
        backoff = 1e-5;
        last_msg = cls_now();
        int count = 0;
        MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &count));
        char *buf = xmalloc((size_t)count + 1);
        MPI_CHECK(MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
        int si = st.MPI_SOURCE >= 0 && st.MPI_SOURCE < size ? slot_of[st.MPI_SOURCE] : -1;
        if (si < 0 || slots[si].nchunks == 0) {
            fprintf(stderr, "clsweep: result from rank %d, which has no work; aborting\n", st.MPI_SOURCE);
            master_finish(m, 1);
            MPI_Abort(MPI_COMM_WORLD, SCHED_EXIT_ERROR);
        }
        slot_t *s = &slots[si];
        outstanding--;
        s->queue[0]--;
        int32_t idx = -1, abandoned = 0;
        run_result r;
        if (count < 8 || (memcpy(&idx, buf, 4), memcpy(&abandoned, buf + 4, 4),
                          idx < 0 || idx >= m->sw.nruns) ||
            result_unpack(&r, buf + 8, (size_t)count - 8)) {
            fprintf(stderr, "clsweep: malformed result message from rank %d\n", st.MPI_SOURCE);
            failed = 1;
            /* The worker gives up the rest of a chunk it cannot read: expect no more of it. */
            outstanding -= s->queue[0];
            s->queue[0] = 0;
        } else if (abandoned) {
            m->nreturned++;
            result_free(&r);
        } else if (!failed && master_record(m, idx, &r)) {
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
            failed = 1;
        }
        free(buf);
        if (s->queue[0] > 0) continue;
        /* The worker's chunk is complete: make it durable, then hand out more. */
        pop_chunk(s);
        if (!failed && journal_sync(&m->journal)) {
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
            failed = 1;
        }
        m->last_sync = cls_now();
        if (!stopping && !failed) outstanding += top_up(m, s, nleaders);
        if (s->nchunks == 0)
            MPI_CHECK(MPI_Send(NULL, 0, MPI_BYTE, s->rank, TAG_STOP, MPI_COMM_WORLD));
        if (!failed && maybe_write(m)) {
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
            failed = 1;
        }
    }
    m->loop_cpu = cls_cputime() - cpu0;
    m->loop_wall = cls_now() - wall0;
    free(slots);
    free(slot_of);
    if (failed) {
        m->reported = xstrdup(cls_geterr()); /* printed above: not again if the write fails alike */
        master_finish(m, 0);
        return SCHED_EXIT_ERROR;
    }
    return master_finish(m, stopping || m->next < m->npending);
}

static void send_result(int32_t idx, run_result *r) {
    char *rb;
    size_t rl;
    result_pack(r, &rb, &rl);
    int32_t abandoned = run_abandoned(r);
    char *msg = xmalloc(rl + 8);
    memcpy(msg, &idx, 4);
    memcpy(msg + 4, &abandoned, 4);
    memcpy(msg + 8, rb, rl);
    MPI_CHECK(MPI_Send(msg, (int)(rl + 8), MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD));
    free(msg);
    free(rb);
    result_free(r);
}

static int worker_cancelled;   /* the master sent TAG_CANCEL */

/* 1 when runs not yet started should be dropped: a stop signal here, or the master's. */
static int worker_stopping(void) {
    if (!worker_cancelled) {
        int flag = 0;
        MPI_CHECK(MPI_Iprobe(0, TAG_CANCEL, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE));
        if (flag) {
            MPI_CHECK(MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
            worker_cancelled = 1;
        }
    }
    return worker_cancelled || sched_stop_signal;
}

/* Executes one chunk (see the protocol at the top) and sends a result for every run in
 * it. Runs not started when a stop signal (or the master's cancel) arrived go back as
 * abandoned (not recorded; pending on resume). A damaged message gets a result with
 * index -1. */
static void worker_chunk(analysis_group *ag, const char *buf, size_t count) {
    run_limits lim;
    int32_t k = 0;
    run_result r;
    if (count < 4 + sizeof lim || (memcpy(&k, buf, 4), k < 1)) {
        result_init(&r);
        result_fail(&r, RUN_STATUS_FAILED, "malformed work message");
        send_result(-1, &r);
        return;
    }
    memcpy(&lim, buf + 4, sizeof lim);
    grace_current = lim.grace;
    size_t off = 4 + sizeof lim;
    for (int32_t j = 0; j < k; j++) {
        int32_t idx = -1, len = -1;
        if (count - off < 8) {
            result_init(&r);
            result_fail(&r, RUN_STATUS_FAILED, "malformed work message");
            send_result(-1, &r);
            return;
        }
        memcpy(&idx, buf + off, 4);
        memcpy(&len, buf + off + 4, 4);
        off += 8;
        run_config cfg;
        if (len < 0 || (size_t)len > count - off || cfg_unpack(&cfg, buf + off, (size_t)len)) {
            result_init(&r);
            result_fail(&r, RUN_STATUS_FAILED, "malformed work message");
            send_result(-1, &r);
            return;
        }
        off += (size_t)len;
        if (worker_stopping()) {
            result_init(&r);
            result_fail(&r, RUN_STATUS_FAILED, "abandoned: stop requested before the run started");
        } else {
            run_isolated(&cfg, &lim, &r);
            run_analyse(ag, &cfg, &r);
        }
        cfg_free(&cfg);
        send_result(idx, &r);
    }
}

static void worker_loop(analysis_group *ag) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        double backoff = 1e-5;
        for (;;) {
            MPI_CHECK(MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st));
            if (flag) break;
            backoff_sleep(&backoff, 0.01);
        }
        int count = 0;
        MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &count));
        char *buf = xmalloc((size_t)count + 1);
        MPI_CHECK(MPI_Recv(buf, count, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        if (st.MPI_TAG == TAG_CANCEL) {
            worker_cancelled = 1;
            free(buf);
            continue;
        }
        if (st.MPI_TAG != TAG_WORK) {
            free(buf);
            return;
        }
        worker_chunk(ag, buf, (size_t)count);
        free(buf);
    }
}

/* Rank 0 announces ranks_per_run (*rpr), then every rank joins its group: workers
 * 1..size-1 in consecutive blocks of *rpr. Returns the group's communicator (MPI_COMM_SELF
 * when *rpr is 1; MPI_COMM_NULL on rank 0). Workers wait for the announcement with
 * MPI_Test and back-off while the master loads the sweep, not in a spinning MPI_Bcast. */
static MPI_Comm join_group(int rank, int *rpr) {
    MPI_Request req;
    MPI_CHECK(MPI_Ibcast(rpr, 1, MPI_INT, 0, MPI_COMM_WORLD, &req));
    double backoff = 1e-5;
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done) break;
        backoff_sleep(&backoff, 0.01);
    }
    if (*rpr <= 1) return rank ? MPI_COMM_SELF : MPI_COMM_NULL;
    MPI_Comm group = MPI_COMM_NULL;
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, rank ? (rank - 1) / *rpr : MPI_UNDEFINED, rank, &group));
    return group;
}

int sched_run(const sched_options *o) {
    int rank = 0, size = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    sched_install_signals();
    int rc;
    double wall0 = cls_now();
    if (rank != 0) {
        int rpr = 1, grank = 0;
        MPI_Comm group = join_group(rank, &rpr);
        MPI_CHECK(MPI_Comm_rank(group, &grank));
        analysis_group *ag = analysis_group_init(group);
        if (grank == 0) worker_loop(ag);
        else analysis_member_loop(ag);
        analysis_group_free(ag);
        if (group != MPI_COMM_SELF) MPI_Comm_free(&group);
        rc = SCHED_EXIT_OK;
        MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
        double cpu = cls_cputime_total();
        MPI_CHECK(MPI_Gather(&cpu, 1, MPI_DOUBLE, NULL, 0, MPI_DOUBLE, 0, MPI_COMM_WORLD));
        return rc;
    }
    master_t m;
    int setup_failed = master_setup(&m, o) != 0;
    int rpr = setup_failed ? 1 : m.sw.ranks_per_run, nleaders = 0;
    if (size > 1) join_group(rank, &rpr);
    int *leaders = xmalloc(sizeof(int) * (size_t)size);
    for (int w = 1; w < size; w += rpr) leaders[nleaders++] = w;
    if (rpr > 1) {
        int nw = size - 1, last = nw - (nleaders - 1) * rpr;
        if (size == 1)
            fprintf(stderr, "clsweep: ranks_per_run %d: one process only, so every run and its "
                            "analysis use it alone (1 x 1 grid)\n", rpr);
        else if (last != rpr)
            fprintf(stderr, "clsweep: ranks_per_run %d: %d worker rank(s) form %d group(s); the "
                            "last group has %d rank(s)\n", rpr, nw, nleaders, last);
    }
    if (setup_failed) {
        fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        for (int l = 0; l < nleaders; l++)
            MPI_Send(NULL, 0, MPI_BYTE, leaders[l], TAG_STOP, MPI_COMM_WORLD);
        rc = SCHED_EXIT_ERROR;
    } else if (size == 1) {
        analysis_group *ag = analysis_group_init(MPI_COMM_SELF);
        rc = master_solo(&m, ag);
        analysis_group_free(ag);
    } else {
        rc = master_mpi(&m, leaders, nleaders, size);
    }
    free(leaders);
    int quiet = m.quiet;
    master_free(&m);
    double cpu = cls_cputime_total(), wall = cls_now() - wall0;
    double *cpus = xmalloc(sizeof(double) * (size_t)size);
    cpus[0] = cpu;
    if (size > 1) {
        MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
        MPI_CHECK(MPI_Gather(&cpu, 1, MPI_DOUBLE, cpus, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD));
    }
    /* The master's CPU share shows that it sleeps while the workers compute. */
    if (rc != SCHED_EXIT_ERROR && (!quiet || getenv("CLSWEEP_CPU_REPORT"))) {
        fprintf(stderr, "clsweep: CPU seconds over %.2f s wall: master %.3f (%.1f%%)", wall, cpus[0],
                wall > 0 ? 100.0 * cpus[0] / wall : 0.0);
        for (int r = 1; r < size; r++)
            fprintf(stderr, "%s%.2f", r == 1 ? ", workers (with their run processes) " : " ", cpus[r]);
        fprintf(stderr, "\n");
    }
    free(cpus);
    return rc;
}
