/* sched_master.h — the master's state and steps (sweep layer, internal to the scheduler):
 * setup and resume, recording results, the pending queue, the .nc rewrites, the end of a
 * sweep and its exit code (CLS_EXIT_*, stop.h). Called by scheduler.c (entry) and
 * sched_resume.c; implemented by sched_master.c (one process and the MPI dispatch loop). */
#ifndef CLS_SCHED_MASTER_H
#define CLS_SCHED_MASTER_H

#include <stdint.h>

#include "analysis_mpi.h"
#include "isolate.h"
#include "output.h"
#include "result.h"
#include "sched_options.h"
#include "sweep.h"

typedef struct {
    sweep_t sw;
    const char *out;
    char *journal_path;
    journal_t journal;
    run_result **results;       /* (nruns) finished results, NULL if pending (with prune:) */
    struct resstore *rs;        /* without prune: the finished results, compact (resstore.h);
                                 * results is then NULL */
    int *pending;               /* run indices, longest first; [0, next) handed out */
    int npending, next;
    int *requeue;               /* runs handed out and abandoned: handed out again first */
    int nrequeue;
    unsigned char *nabandoned;  /* (nruns) times each run came back abandoned */
    int ndone, ntotal, nfail, ndiv, nresumed;
    double t0, last_progress, last_write, write_cost, last_sync;
    double run_ewma;            /* EWMA of the runs' wall seconds; < 0 before the first */
    double run_seconds;         /* sum of the wall seconds of the runs recorded here */
    int nrecorded;              /* runs recorded by this process (not resumed) */
    int nworkers;               /* ranks (group leaders) executing runs */
    int nworkers_stopped;       /* workers that stopped on their own (a signal reached them) */
    double loop_cpu, loop_wall; /* the MPI master's CPU and wall seconds while dispatching */
    int nchunks, max_chunk;     /* work messages sent, most runs in one */
    int nreturned;              /* runs handed out but abandoned (pending again) */
    int nstray;                 /* earlier results of runs not in this sweep (resume) */
    int ncompactions;           /* journal compactions (issue 23) */
    int nwrites;                /* .nc writes, and their seconds in total */
    double write_total;
    struct ncbg *bg;            /* a .nc write in the background (ncbg.h), or NULL */
    double bg_t0;               /*   started then, */
    uint32_t bg_nbase;          /*   of this many runs, */
    long long bg_from;          /*   the journal's size then (its later records stay) */
    int nbg;                    /* .nc writes done in the background, their seconds */
    double bg_total;
    char *reported;             /* the error already printed (master_finish does not repeat it) */
    int quiet;
} master_t;

/* Loads the sweep, resumes (sched_resume), opens the journal, queues the pending runs of
 * the shard longest first. 0, or -1 with cls_seterr. */
int master_setup(master_t *m, const sched_options *o);
void master_free(master_t *m);
/* Resume: the journal is the source of truth; without one, an existing sweep file. Fills
 * m->results with the earlier final results. 0, or -1 with cls_seterr. */
int sched_resume(master_t *m);

/* One process: the master executes every run itself. Returns the exit code. */
int master_solo(master_t *m, analysis_group *ag);
/* MPI: hands chunks to the group leaders and records their results. Returns the exit code. */
int master_mpi(master_t *m, const int *leaders, int nleaders, int size);

/* The limits sent with the runs (from the sweep's options). */
run_limits master_limits(const master_t *m);

#endif
