/* scheduler.h — running a sweep: the MPI master/worker scheduler (docs/spec.md §7). Sweep layer:
 * called by the CLI.
 *
 * Rank 0 (master) expands the sweep, resumes from the journal, orders pending runs
 * longest-expected first and hands them out in chunks sized from the measured run time
 * (one run per message when runs are long; two messages in flight per worker); the other
 * ranks (workers) execute runs and send back one result per run. With one process the
 * master executes runs itself. The master polls with MPI_Iprobe and sleeps with
 * exponential back-off, so it does not burn a core while waiting. Files: scheduler.c
 * (entry), sched_proto.c, sched_master.c, sched_resume.c, sched_worker.c. */
#ifndef CLS_SCHED_H
#define CLS_SCHED_H

#include "sched_options.h"
#include "stop.h"


/* Exit codes of clsweep run (stop.h's CLS_EXIT_*). One invariant: OK only when every run
 * of the sweep (shard) has a final status in the file, whatever signal reached whichever
 * process; otherwise INCOMPLETE (resumable) or ERROR. */
enum {
    SCHED_EXIT_OK = CLS_EXIT_OK,
    SCHED_EXIT_ERROR = CLS_EXIT_ERROR,            /* bad sweep file, unwritable output, ... */
    SCHED_EXIT_INCOMPLETE = CLS_EXIT_INCOMPLETE,  /* stopped: valid partial file, resumable */
};

/* Installs the stop handlers (stop_install_signals: TERM, INT, HUP, USR1). */
void sched_install_signals(void);

/* Runs the sweep on MPI_COMM_WORLD (MPI must be initialised). Every rank calls it.
 * Returns one of the SCHED_EXIT_* codes (the same on every rank that returns). */
int sched_run(const sched_options *o);

#endif
