/* sched_worker.h — a worker rank of the scheduler (sweep layer, internal): receives chunks
 * of runs from the master, executes each (isolate.h), analyses it with its group and sends
 * one result per run (sched_proto.h). Called by scheduler.c (sched_run) only. */
#ifndef CLS_SCHED_WORKER_H
#define CLS_SCHED_WORKER_H

#include "analysis_mpi.h"

/* Serves the master until TAG_STOP. A worker that receives a stop signal (or the master's
 * TAG_CANCEL) returns the runs it has not started as abandoned and says it is stopping;
 * when the launcher is gone it exits the process (CLS_EXIT_INCOMPLETE) at once. */
void worker_loop(analysis_group *ag);

#endif
