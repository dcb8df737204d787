/* isolate.h — executing a run in a forked child of the rank (run layer): crash isolation,
 * the memory limit (RLIMIT_AS), the time limit, and the stop/grace handling of a run in
 * progress. Called by the scheduler's master (one process) and workers. */
#ifndef CLS_ISOLATE_H
#define CLS_ISOLATE_H

#include "config.h"
#include "result.h"
#include "run.h"

/* How a run is executed (options of the sweep; sent with every work message, encoded
 * field by field by sched_proto). */
typedef struct {
    double grace;        /* seconds an in-flight run may continue after a stop signal */
    double time_limit;   /* seconds, 0 = none */
    double memory_mb;    /* address-space limit, 0 = none */
    int isolate;         /* run in a forked child */
    int report_stages;   /* successive halving: runs report after each stage (prune.h) */
} run_limits;

#define RUN_EXIT_OOM 86   /* exit code of a run process that ran out of (limited) memory */

/* Executes cfg into res (initialised here) under lim:
 * - isolate: in a forked child that sends its packed result through a pipe. A crash, the
 *   memory limit or the time limit becomes a failed result naming the reason. A stop signal
 *   of this process is forwarded to the child; when the grace period is over (or the
 *   launcher is gone) the child is killed and res is RUN_STATUS_ABANDONED.
 * - not isolated: run_execute in this process; limits cannot be enforced here (the
 *   scheduler refuses them), and a stop signal arms a hard deadline (grace + 10 s, then
 *   the process exits CLS_EXIT_INCOMPLETE) so that a hung run cannot ignore it.
 * The grace period is stop_set_grace(lim->grace)'s. */
void run_isolated(const run_config *cfg, const run_limits *lim, run_result *res);

/* run_isolated with a stage hook (run.h): the run process reports after each stage through
 * its pipe and waits for the answer, which this process gets from hook (called here, in
 * the rank, so the hook may talk MPI). NULL hook: run_isolated. */
void run_isolated_staged(const run_config *cfg, const run_limits *lim, run_stage_hook hook,
                         void *ctx, run_result *res);

#endif
