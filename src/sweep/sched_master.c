/* sched_master.c — the master (rank 0): setup, the pending queue, recording results, the
 * .nc rewrites, the end of a sweep and its exit code; the one-process loop and the MPI
 * dispatch loop. Sweep layer: called by scheduler.c (sched_run) only.
 *
 * Chunked dispatch. Runs go out in chunks whose size adapts to the measured run time (an
 * EWMA of the runs' wall seconds): about CHUNK_SECONDS of work per chunk, at most half of
 * a fair share of what is left (so the tail stays balanced), and 1 run while nothing has
 * been measured or when runs are long. Every result is appended to the journal as it
 * arrives (a worker batches the results of a chunk into a few messages, sched_proto.h; the
 * records of a message go out in one write(2): safe from a kill of the process); when a
 * worker's chunk is complete
 * the journal is fsync'd and only then is that worker handed more — so every run that
 * finished before a hand-out is on disk before the hand-out, as with one run per message.
 * A worker holds two chunks (once a run time has been measured), so it computes while the
 * master notices its result, syncs and sends more. Near the end of the sweep (at most two
 * runs per worker left) long runs (>= PREFETCH_BELOW s) go out one at a time again, which
 * is plain longest-first list scheduling where it matters for the makespan.
 *
 * Stops. A run that comes back abandoned (status RUN_STATUS_ABANDONED: a stop reached its
 * worker or its run process) is queued again, to be handed out first; a worker that says
 * it is stopping gets no more work. The exit code follows one invariant (master_finish): 0
 * only when every run of the sweep (shard) has a final status in the file, else 3
 * (resumable) or 2 (error). */
#include "sched_master.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cls_mpi.h"
#include "protocol_sched.h"
#include "prune_sched.h"
#include "ncbg.h"
#include "resstore.h"
#include "sched_proto.h"
#include "stop.h"
#include "util.h"

#define CHUNK_SECONDS 0.05     /* work per chunk the master aims for */
#define CHUNK_MAX 4096         /* runs per chunk at most */
#define PREFETCH_BELOW 0.05    /* runs shorter than this (s): two chunks per worker to the end */
/* The .nc is rewritten when the time since the last rewrite is at least WRITE_GAP_FACTOR
 * times what the last rewrite took (or every options.flush_seconds). */
#define WRITE_GAP_FACTOR 100.0
/* A run that comes back abandoned this often while this process has no stop (its run
 * process keeps being stopped) is left pending for the next resume rather than retried. */
#define MAX_ABANDONED 3

/* ---- setup ---- */

static const sweep_t *cmp_sweep;
static int cmp_cost(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    double ci = cmp_sweep->runs[i].cost, cj = cmp_sweep->runs[j].cost;
    if (ci != cj) return ci > cj ? -1 : 1;
    return i - j;
}

int master_setup(master_t *m, const sched_options *o) {
    memset(m, 0, sizeof *m);
    if (sweep_load(&m->sw, o->sweep_path)) return -1;
    m->out = o->output ? o->output : m->sw.output;
    m->quiet = o->quiet || m->sw.quiet;
    if (o->grace_seconds >= 0) m->sw.grace_seconds = o->grace_seconds;
    if (!m->sw.isolate && (m->sw.run_time_limit > 0 || m->sw.run_memory_mb > 0)) {
        /* Reliability review (issue 17): they used to be dropped silently. */
        cls_seterr("%s: options: isolate: false cannot enforce %s (a limit needs a run process of "
                   "its own): remove the limit or set isolate: true", o->sweep_path,
                   m->sw.run_time_limit > 0 ? "run_time_limit" : "run_memory_mb");
        return -1;
    }
    size_t jl = strlen(m->out) + 16;
    m->journal_path = xmalloc(jl);
    snprintf(m->journal_path, jl, "%s.journal", m->out);
    /* Results: compact unless successive halving or the tuning protocol needs them whole
     * (issue 23). */
    if (m->sw.prune.enabled || m->sw.protocol.enabled) m->results = xcalloc((size_t)m->sw.nruns, sizeof(run_result *));
    else m->rs = resstore_new(m->sw.nruns);
    if (cls_mkdir_parents(m->out)) return -1;
    /* tuning protocol (protocol_sched.h): the selections the earlier results allow, first */
    if (protocol_master_init(&m->sw, m->results, &m->journal, m->journal_path, m->out, o,
                             m->quiet))
        return -1;
    if (sched_resume(m)) return -1;
    if (journal_open(&m->journal, m->journal_path)) return -1;
    if (protocol_master_resumed()) return -1;
    /* successive halving (prune_sched.h) */
    if (prune_master_init(&m->sw, m->results, &m->journal, o, m->quiet)) return -1;
    /* Pending runs, optionally one shard of them, longest expected first. */
    size_t cap = (size_t)(m->sw.nruns ? m->sw.nruns : 1);
    m->pending = xmalloc(sizeof(int) * cap);
    m->requeue = xmalloc(sizeof(int) * cap);
    m->nabandoned = xcalloc(cap, 1);
    for (int i = 0; i < m->sw.nruns; i++) {
        if (o->shard_count > 0 && i % o->shard_count != o->shard_index) continue;
        m->ntotal++;
        int st = m->rs ? resstore_status(m->rs, i) : m->results[i] ? (int)m->results[i]->status : -1;
        if (st >= 0) {
            m->ndone++;
            m->nresumed++;
            if (st == RUN_STATUS_DIVERGED) m->ndiv++;
        } else if (!protocol_held(i)) {   /* phase 2 waits for its model's selection */
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

run_limits master_limits(const master_t *m) {
    run_limits l;
    memset(&l, 0, sizeof l);
    l.grace = m->sw.grace_seconds;
    l.time_limit = m->sw.run_time_limit;
    l.memory_mb = m->sw.run_memory_mb;
    l.isolate = m->sw.isolate;
    l.report_stages = m->sw.prune.enabled;
    return l;
}

void master_free(master_t *m) {
    if (m->results) {
        for (int i = 0; i < m->sw.nruns; i++)
            if (m->results[i]) {
                result_free(m->results[i]);
                free(m->results[i]);
            }
        free(m->results);
    }
    resstore_free(m->rs);
    prune_master_free();
    protocol_master_free();
    journal_close(&m->journal);
    free(m->journal_path);
    free(m->reported);
    free(m->pending);
    free(m->requeue);
    free(m->nabandoned);
    sweep_free(&m->sw);
}

/* ---- the queue ---- */

static int master_left(const master_t *m) { return m->npending - m->next + m->nrequeue; }

static int master_take(master_t *m) {
    return m->nrequeue ? m->requeue[--m->nrequeue] : m->pending[m->next++];
}

/* A run came back abandoned: it is pending again, handed out first (unless its own run
 * process gave it up MAX_ABANDONED times — counted when the worker is not stopping —: then
 * it waits for the next resume). */
static void master_requeue(master_t *m, int idx, const char *why, int count_it) {
    m->nreturned++;
    if (!count_it || ++m->nabandoned[idx] < MAX_ABANDONED || cls_stop_signal) {
        m->requeue[m->nrequeue++] = idx;
        return;
    }
    fprintf(stderr, "clsweep: run %s was abandoned %d times (last: %s); left pending for the "
                    "next resume\n", m->sw.runs[idx].id, MAX_ABANDONED, why);
}

/* ---- recording ---- */

/* The journal is compacted (journal_compact, output.h) once it exceeds this many bytes and
 * the .nc has just been written with every run recorded; CLSWEEP_JOURNAL_COMPACT_BYTES
 * overrides it (tests). Not with prune: (its book is rebuilt from the journal's results)
 * nor when the journal holds results of runs that are not in this sweep (they are in no
 * .nc and would be lost). */
#define JOURNAL_COMPACT_BYTES (64LL << 20)
/* Sweep files of more finished runs than this are rewritten in the background (ncbg.h) —
 * also as soon as the journal passes JOURNAL_COMPACT_BYTES, so that it is compacted during
 * the sweep, not only at its end; smaller ones (built in memory, < 1 s) in the master.
 * CLSWEEP_NC_BG_RUNS overrides it (tests). */
#define NC_BG_RUNS 50000

static long long env_ll(const char *name, long long dflt) {
    const char *env = getenv(name);
    return env && *env ? strtoll(env, NULL, 10) : dflt;
}

/* Whether the journal may be compacted (see JOURNAL_COMPACT_BYTES) and is due. */
static int compact_due(master_t *m) {
    return m->rs && !m->nstray &&
           journal_size(&m->journal) > env_ll("CLSWEEP_JOURNAL_COMPACT_BYTES", JOURNAL_COMPACT_BYTES);
}

static uint32_t runs_recorded(const master_t *m) {
    uint32_t n = 0;
    for (int i = 0; m->rs && i < m->sw.nruns; i++) n += resstore_has(m->rs, i) ? 1u : 0u;
    return n;
}

/* nbase runs are in the .nc just written: those up to journal offset keep_from (< 0: all). */
static int maybe_compact(master_t *m, uint32_t nbase, long long keep_from) {
    if (nbase == 0 || !compact_due(m)) return 0;
    if (journal_compact(&m->journal, nbase, keep_from)) return -1;
    m->ncompactions++;
    return 0;
}

/* A write started at t0 has ended: the next one is due WRITE_GAP_FACTOR times its time
 * later. The master's own (blocking) writes and the background ones are counted apart. */
static void wrote(master_t *m, double t0, int background) {
    m->last_write = cls_now();
    m->write_cost = m->last_write - t0;
    if (background) {
        m->nbg++;
        m->bg_total += m->write_cost;
    } else {
        m->nwrites++;
        m->write_total += m->write_cost;
    }
}

static int bg_work(void *ctx) {
    master_t *m = ctx;
    return output_write_store(m->out, &m->sw, m->rs);
}

/* Whether the background write has ended (waits when wait); when it has ended well, the
 * journal is compacted down to the records that came after its snapshot. */
static int bg_check(master_t *m, int wait) {
    if (!m->bg) return 0;
    int r = ncbg_poll(m->bg, wait);
    if (r == 1) return 0;
    m->bg = NULL;
    if (r < 0) return -1;
    wrote(m, m->bg_t0, 1);
    return maybe_compact(m, m->bg_nbase, m->bg_from);
}

/* Stops a background write (a synchronous one supersedes it) and removes its temporary file. */
static void bg_stop(master_t *m) {
    if (!m->bg) return;
    ncbg_cancel(m->bg);
    m->bg = NULL;
    journal_remove_temps(&m->journal);
}

/* Starts the rewrite of the .nc in the background. 0, or -1 with cls_seterr. */
static int bg_begin(master_t *m, uint32_t nbase) {
    /* every record in the kernel: the journal's size is where the snapshot ends */
    if (journal_flush(&m->journal)) return -1;
    m->bg_from = journal_size(&m->journal);
    m->bg_nbase = nbase;
    m->bg_t0 = cls_now();
    m->bg = ncbg_start(bg_work, m);
    return m->bg ? 0 : -1;
}

static int write_output(master_t *m) {
    bg_stop(m);
    double t = cls_now();
    /* every record in the kernel before the .nc that may become the journal's base */
    if (journal_flush(&m->journal)) return -1;
    if (m->rs ? output_write_store(m->out, &m->sw, m->rs) : output_write(m->out, &m->sw, m->results))
        return -1;
    wrote(m, t, 0);
    return maybe_compact(m, runs_recorded(m), -1);
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

/* Records a finished run in the journal (buffered: the caller flushes it to the kernel
 * after the message, one write(2) for the results of a message, and fsyncs it at the end of
 * the run's chunk, before more work goes out). The .nc rewrite is maybe_write's, called
 * after the next hand-out so that workers do not wait on it. */
static int master_record(master_t *m, int idx, run_result *r);

/* Tuning protocol: when run idx completed its model's phase 1, that model's phase-2 runs are
 * handed out next, or recorded failed when no configuration was eligible. */
static int master_protocol(master_t *m, int idx) {
    const int *runs;
    int n, fail;
    protocol_master_after(idx, &runs, &n, &fail);
    for (int k = 0; k < n; k++) {
        if (m->results[runs[k]]) continue;
        if (!fail) {
            m->requeue[m->nrequeue++] = runs[k];
            continue;
        }
        run_result r;
        result_init(&r);
        result_fail(&r, protocol_fail_status(), "%s", protocol_fail_message());
        if (master_record(m, runs[k], &r)) return -1;
    }
    return 0;
}

static int master_record(master_t *m, int idx, run_result *r) {
    prune_master_result(idx, r);   /* successive halving: a pruned run's form */
    protocol_master_result(idx, r);   /* tuning protocol: its phase (and selection) */
    if (journal_append_buffered(&m->journal, m->sw.runs[idx].id, r)) return -1;
    double w = isfinite(r->wall_seconds) && r->wall_seconds >= 0 ? r->wall_seconds : 0;
    m->run_ewma = m->run_ewma < 0 ? w : 0.8 * m->run_ewma + 0.2 * w;
    m->run_seconds += w;
    m->nrecorded++;
    if (m->rs) {
        resstore_put(m->rs, idx, r);
        result_free(r);
    } else {
        m->results[idx] = xmalloc(sizeof(run_result));
        *m->results[idx] = *r;
    }
    m->ndone++;
    if (r->status == RUN_STATUS_FAILED) m->nfail++;
    if (r->status == RUN_STATUS_DIVERGED) m->ndiv++;
    progress(m, 0);
    if (prune_master_settle()) return -1;
    return master_protocol(m, idx);
}

/* Rewrites the .nc if it is due (see WRITE_GAP_FACTOR): the rewrites cost the master at most
 * ~1 % of the wall time; the journal has every run. */
static int maybe_write(master_t *m) {
    if (m->ndone == 0) return 0;
    if (m->bg) return bg_check(m, 0);
    double gap = m->sw.flush_seconds > 0 ? m->sw.flush_seconds : WRITE_GAP_FACTOR * m->write_cost;
    int due = cls_now() - m->last_write >= gap;
    if (m->rs && (due || compact_due(m))) {
        uint32_t n = runs_recorded(m);
        if (n > (uint32_t)env_ll("CLSWEEP_NC_BG_RUNS", NC_BG_RUNS)) return bg_begin(m, n);
    }
    return due ? write_output(m) : 0;
}

/* Why the sweep ends with runs missing, in words. */
static void say_incomplete(const master_t *m) {
    if (m->nreturned)
        fprintf(stderr, "clsweep: %d run(s) handed out but stopped or not started are pending "
                        "again\n", m->nreturned);
    int missing = m->ntotal - m->ndone;
    if (stop_launcher_gone())
        fprintf(stderr, "clsweep: the launcher of this job is gone: ");
    else if (cls_stop_signal)
        fprintf(stderr, "clsweep: stopped by signal %d (%s): ", (int)cls_stop_signal,
                strsignal((int)cls_stop_signal));
    else if (m->nworkers_stopped)
        fprintf(stderr, "clsweep: %d of %d worker(s) stopped on a signal of their own and the "
                        "others could not take over their runs: ", m->nworkers_stopped, m->nworkers);
    else
        fprintf(stderr, "clsweep: stopped: ");
    fprintf(stderr, "%d of %d runs finished and saved in %s, %d pending; the sweep is incomplete "
                    "— run the same command again to resume\n", m->ndone, m->ntotal, m->out, missing);
}

/* Prints the current error once and remembers it (master_finish does not repeat it). */
static void report_error(master_t *m) {
    fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
    if (!m->reported) m->reported = xstrdup(cls_geterr());
}

/* Ends the sweep: final .nc, journal synced, summary. The exit code follows the one
 * invariant: OK only when every run of the sweep (shard) has a final status in the file. */
static int master_finish(master_t *m) {
    int rc = write_output(m);
    if (journal_sync(&m->journal)) rc = -1;
    progress(m, 1);
    if (rc) {
        /* After an error already printed, a final write failing for the same reason (a full
         * disk) is one line more, not the reason twice. */
        const char *a = m->reported ? strrchr(m->reported, ':') : NULL;
        const char *b = strrchr(cls_geterr(), ':');
        if (a && b && !strcmp(a, b))
            fprintf(stderr, "clsweep: %s was not rewritten either (same cause); a resume "
                            "continues from the journal\n", m->out);
        else
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        return CLS_EXIT_ERROR;
    }
    prune_master_summary();
    if (m->ndone < m->ntotal) {
        say_incomplete(m);
        return CLS_EXIT_INCOMPLETE;
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
        fprintf(stderr, "clsweep: scheduler: %d .nc write(s), %.3f s in total, the last %.3f s; "
                        "%d more in the background (%.3f s, while dispatching); %d journal "
                        "compaction(s)\n", m->nwrites, m->write_total, m->write_cost, m->nbg,
                m->bg_total, m->ncompactions);
        struct rusage ru;   /* issue 23: the master's memory at a million runs */
        if (!getrusage(RUSAGE_SELF, &ru))
            fprintf(stderr, "clsweep: scheduler: master peak RSS %ld MiB\n", ru.ru_maxrss / 1024);
        /* The .nc writer of large files (ncdisk.c) is a child; its RSS counts the master's
         * pages it reads (shared, copy-on-write) too. */
        if (!getrusage(RUSAGE_CHILDREN, &ru) && ru.ru_maxrss > 0)
            fprintf(stderr, "clsweep: scheduler: largest child process peak RSS %ld MiB\n",
                    ru.ru_maxrss / 1024);
    }
    return CLS_EXIT_OK;
}

/* The launcher is gone (kill -9 of mpirun, a lost node): save what there is and leave
 * without MPI (the peers may be gone too, so MPI_Finalize could wait forever). */
static void master_orphaned(master_t *m) {
    fprintf(stderr, "clsweep: the launcher of this job is gone; saving and exiting\n");
    master_finish(m);
    fflush(stderr);
    _exit(CLS_EXIT_INCOMPLETE);
}

/* ---- one process ---- */

int master_solo(master_t *m, analysis_group *ag) {
    run_limits lim = master_limits(m);
    while (master_left(m) > 0 && !cls_stop_signal) {
        if (stop_launcher_gone()) master_orphaned(m);
        int idx = master_take(m);
        run_config cfgv;
        sweep_cfg(&m->sw, idx, &cfgv);
        const run_config *cfg = &cfgv;
        run_result r;
        run_isolated_staged(cfg, &lim, m->sw.prune.enabled ? prune_solo_hook : NULL, &idx, &r);
        if (r.status == RUN_STATUS_ABANDONED) {
            /* This process stopped (the loop ends) or only the run process got the signal:
             * either way the run is pending again, and tried again unless we stop. */
            if (!cls_stop_signal && !m->quiet)
                fprintf(stderr, "clsweep: run %s: %s; queued again\n", m->sw.runs[idx].id, r.message);
            master_requeue(m, idx, r.message, 1);
            result_free(&r);
            cfg_free(&cfgv);
            continue;
        }
        analysis_apply(ag, cfg, &r);
        cfg_free(&cfgv);
        if (master_record(m, idx, &r) || journal_flush(&m->journal) || maybe_write(m)) {
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
            return CLS_EXIT_ERROR;
        }
        /* One process: a "chunk" is the runs of the last CHUNK_SECONDS (each run when runs
         * are long); they are fsync'd before the next run starts. */
        if (cls_now() - m->last_sync >= CHUNK_SECONDS) {
            if (journal_sync(&m->journal)) {
                fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
                return CLS_EXIT_ERROR;
            }
            m->last_sync = cls_now();
        }
    }
    return master_finish(m);
}

/* ---- MPI dispatch ---- */

/* Runs in the next chunk for a worker, given nslots workers (see the top of the file). */
static int chunk_size(const master_t *m, int nslots) {
    int left = master_left(m);
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

/* Sends the next k pending runs to worker as one TAG_WORK message, non-blocking: *req and
 * the returned buffer (free it once *req completes). A chunk of a few KiB exceeds the eager
 * limit, and a blocking send to a worker that is busy computing (a prefetched chunk)
 * would wait — spinning — for the whole run. */
static char *send_chunk(master_t *m, int worker, int k, MPI_Request *req) {
    int *idx = xmalloc(sizeof(int) * (size_t)k);
    run_config *cfgv = xmalloc(sizeof(*cfgv) * (size_t)k);
    const run_config **cfg = xmalloc(sizeof(*cfg) * (size_t)k);
    for (int j = 0; j < k; j++) {
        idx[j] = master_take(m);
        sweep_cfg_view(&m->sw, idx[j], &cfgv[j]);   /* from the compact store, not copied */
        cfg[j] = &cfgv[j];
    }
    run_limits lim = master_limits(m);
    size_t n;
    char *msg = proto_work_pack(&lim, k, idx, cfg, &n);
    for (int j = 0; j < k; j++) cfg_free(&cfgv[j]);
    free(idx);
    free(cfg);
    free(cfgv);
    m->nchunks++;
    if (k > m->max_chunk) m->max_chunk = k;
    CLS_MPI_CHECK(MPI_Isend(msg, (int)n, MPI_BYTE, worker, TAG_WORK, MPI_COMM_WORLD, req));
    return msg;
}

/* A worker (group leader) as the master sees it: up to two chunks in flight, the runs
 * still to come back from each (queue[0] is the chunk being computed). */
typedef struct {
    int rank, nchunks, queue[2];
    MPI_Request req[2];         /* the chunks' sends */
    char *msg[2];               /* their buffers */
    int stopping;               /* it said it is stopping: no more work */
    int released;               /* TAG_STOP sent */
} slot_t;

/* Drops slot s's oldest chunk (all its results are in, so its send has completed). */
static void pop_chunk(slot_t *s) {
    CLS_MPI_CHECK(MPI_Wait(&s->req[0], MPI_STATUS_IGNORE));
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
    if (s->stopping || s->released) return 0;
    for (;;) {
        int left = master_left(m);
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

/* At the end: TAG_STOP to a worker (it returns from its loop to the collective end). */
static void release(slot_t *s) {
    if (s->released) return;
    CLS_MPI_CHECK(MPI_Send(NULL, 0, MPI_BYTE, s->rank, TAG_STOP, MPI_COMM_WORLD));
    s->released = 1;
}

/* The state of the dispatch loop. */
typedef struct {
    master_t *m;
    slot_t *slots;
    int nslots, size, outstanding, failed, stopping;
    int *slot_of;               /* (size) slot of a rank, -1 for none */
} dispatch_t;

/* The master got a stop signal: no more hand-outs; the workers, which may not have the
 * signal (kill of the master alone), drop the runs they have not started. Past the grace
 * period (+10 s) the master saves what it has and takes the job down. */
static void dispatch_stop(dispatch_t *d) {
    master_t *m = d->m;
    if (cls_stop_signal && !d->stopping) {
        d->stopping = 1;
        if (!m->quiet)
            fprintf(stderr, "clsweep: signal %d: no more runs handed out; waiting up to %.0f s "
                            "for %d run(s) in flight\n", (int)cls_stop_signal,
                    m->sw.grace_seconds, d->outstanding);
        for (int l = 0; l < d->nslots; l++)
            if (d->slots[l].nchunks > 0)
                CLS_MPI_CHECK(MPI_Send(NULL, 0, MPI_BYTE, d->slots[l].rank, TAG_CANCEL, MPI_COMM_WORLD));
    }
    if (d->stopping && stop_elapsed() > m->sw.grace_seconds + 10.0) {
        master_finish(m);
        fprintf(stderr, "clsweep: %d run(s) still in flight after the grace period; aborting them\n",
                d->outstanding);
        MPI_Abort(MPI_COMM_WORLD, CLS_EXIT_INCOMPLETE);
    }
}

/* One record of a TAG_RESULT message from slot s. */
static void dispatch_record(dispatch_t *d, slot_t *s, int32_t idx, uint32_t flags, run_result *r) {
    master_t *m = d->m;
    d->outstanding--;
    s->queue[0]--;
    if ((flags & PROTO_WORKER_STOPPING) && !s->stopping) {
        s->stopping = 1;   /* a stop reached that worker: it gets no more work */
        m->nworkers_stopped++;
    }
    if (r->status == RUN_STATUS_ABANDONED) {
        master_requeue(m, idx, r->message, !(flags & PROTO_WORKER_STOPPING));
        result_free(r);
    } else if (d->failed) {
        result_free(r);
    } else if (master_record(m, idx, r)) {
        report_error(m);
        d->failed = 1;
    }
}

/* One TAG_RESULT message from st's source: the results of some runs of its oldest chunk
 * (sched_proto.h). */
static void dispatch_result(dispatch_t *d, const MPI_Status *st) {
    master_t *m = d->m;
    int count = 0;
    CLS_MPI_CHECK(MPI_Get_count(st, MPI_BYTE, &count));
    char *buf = xmalloc((size_t)count + 1);
    CLS_MPI_CHECK(MPI_Recv(buf, count, MPI_BYTE, st->MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
    int si = st->MPI_SOURCE >= 0 && st->MPI_SOURCE < d->size ? d->slot_of[st->MPI_SOURCE] : -1;
    if (si < 0 || d->slots[si].nchunks == 0) {
        fprintf(stderr, "clsweep: result from rank %d, which has no work; aborting\n", st->MPI_SOURCE);
        master_finish(m);
        MPI_Abort(MPI_COMM_WORLD, CLS_EXIT_ERROR);
    }
    slot_t *s = &d->slots[si];
    proto_result_reader rd;
    int bad = proto_results_open(&rd, buf, (size_t)count) != 0;
    for (;;) {
        if (bad) {
            fprintf(stderr, "clsweep: malformed result message from rank %d\n", st->MPI_SOURCE);
            d->failed = 1;
            /* The worker gives up the rest of a chunk it cannot read: expect no more of it. */
            d->outstanding -= s->queue[0];
            s->queue[0] = 0;
            break;
        }
        int32_t idx = -1;
        uint32_t flags = 0;
        run_result r;
        int k = proto_results_next(&rd, &idx, &flags, &r);
        if (k == 0) break;
        if (k < 0 || idx < 0 || idx >= m->sw.nruns || s->queue[0] <= 0) {
            result_free(&r);
            bad = 1;
            continue;
        }
        dispatch_record(d, s, idx, flags, &r);
    }
    free(buf);
    if (s->queue[0] > 0) {
        if (!d->failed && journal_flush(&m->journal)) {
            report_error(m);
            d->failed = 1;
        }
        return;
    }
    /* The worker's chunk is complete: make it durable, then hand out more (to every worker
     * with room: abandoned runs may have come back). */
    pop_chunk(s);
    if (!d->failed && journal_sync(&m->journal)) {
        report_error(m);
        d->failed = 1;
    }
    m->last_sync = cls_now();
    if (!d->stopping && !d->failed)
        for (int l = 0; l < d->nslots; l++) {
            slot_t *t = &d->slots[(si + l) % d->nslots];
            d->outstanding += top_up(m, t, d->nslots);
        }
    if (!d->failed && maybe_write(m)) {
        report_error(m);
        d->failed = 1;
    }
}

int master_mpi(master_t *m, const int *leaders, int nleaders, int size) {
    dispatch_t d = {m, xcalloc((size_t)nleaders, sizeof(slot_t)), nleaders, size, 0, 0, 0,
                    xmalloc(sizeof(int) * (size_t)size)};
    m->nworkers = nleaders;
    for (int r = 0; r < size; r++) d.slot_of[r] = -1;
    for (int l = 0; l < nleaders; l++) {
        d.slots[l].rank = leaders[l];
        d.slot_of[leaders[l]] = l;
        d.outstanding += top_up(m, &d.slots[l], nleaders);
    }
    double backoff = 1e-5, cpu0 = cls_cputime(), wall0 = cls_now(), last_msg = wall0;
    while (d.outstanding > 0) {
        if (stop_launcher_gone()) master_orphaned(m);
        dispatch_stop(&d);
        if (prune_master_poll()) {   /* a run waits at a stage boundary: answer first */
            backoff = 1e-5;
            last_msg = cls_now();
            continue;
        }
        int flag = 0;
        MPI_Status st;
        CLS_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st));
        if (!flag) {
            /* Sleep longer the longer nothing has come back: the delay in noticing a result
             * stays within ~2 % of the time the runs have been computing, and a master
             * waiting on long runs wakes up at most 5-10 times a second. */
            double idle = cls_now() - last_msg;
            cls_sleep_backoff(&backoff, fmin(0.2, fmax(0.01, 0.02 * idle)));
            continue;
        }
        backoff = 1e-5;
        last_msg = cls_now();
        dispatch_result(&d, &st);
    }
    for (int l = 0; l < nleaders; l++) release(&d.slots[l]);
    m->loop_cpu = cls_cputime() - cpu0;
    m->loop_wall = cls_now() - wall0;
    free(d.slots);
    free(d.slot_of);
    if (d.failed) {
        master_finish(m);
        return CLS_EXIT_ERROR;
    }
    return master_finish(m);
}
