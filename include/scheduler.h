/* scheduler.h — running a sweep: the MPI master/worker scheduler (docs/spec.md §7).
 *
 * Rank 0 (master) expands the sweep, resumes from the journal, orders pending runs
 * longest-expected first and hands them out in chunks sized from the measured run time
 * (one run per message when runs are long; two messages in flight per worker); the other
 * ranks (workers) execute runs and send back one result per run. With one process the
 * master executes runs itself. The master polls with MPI_Iprobe and sleeps with
 * exponential back-off, so it does not burn a core while waiting. */
#ifndef CLS_SCHED_H
#define CLS_SCHED_H

#include <signal.h>

typedef struct {
    const char *sweep_path;
    const char *output;     /* override of the sweep's output path, or NULL */
    int quiet;              /* no progress lines */
    double grace_seconds;   /* < 0: take the sweep's options.grace_seconds */
    int shard_index, shard_count;   /* job-array sharding (count 0 = no sharding) */
} sched_options;

/* Exit codes of clsweep run. */
enum {
    SCHED_EXIT_OK = 0,          /* every run finished (some may be failed/diverged) */
    SCHED_EXIT_ERROR = 2,       /* bad sweep file, unwritable output, ... (nothing run) */
    SCHED_EXIT_INCOMPLETE = 3,  /* stopped by a signal: valid partial file, resumable */
};

/* Set by the SIGTERM/SIGUSR1/SIGINT handler (sched_install_signals). */
extern volatile sig_atomic_t sched_stop_signal;
/* Installs the stop handlers. */
void sched_install_signals(void);
/* Called between training stages by run_execute: 1 when the run should be abandoned
 * because a stop was requested and the grace period is over. */
int sched_should_abandon(void);

/* Runs the sweep on MPI_COMM_WORLD (MPI must be initialised). Every rank calls it.
 * Returns one of the SCHED_EXIT_* codes (the same on every rank that returns). */
int sched_run(const sched_options *o);

#endif
