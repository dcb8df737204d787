/* prune_sched.h — successive halving in the scheduler (sweep layer, internal): the master's
 * side (its book, prune.h; answering stage reports; journaling the runs a decision prunes)
 * and the worker's side (sending a run's stage report and waiting for the answer). Called
 * by sched_master.c and sched_worker.c only; implemented by prune_sched.c.
 *
 * The channel: the run process writes a stage report to its pipe and waits (isolate.c);
 * its rank passes it on — to the master's book directly in one process, else as TAG_STAGE —
 * and the answer (TAG_DECIDE) goes back the same way. Decisions are journaled as results:
 * a run stopped at a rung is recorded pruned; in synchronous mode a run recorded before its
 * rung was decided gets a second journal record, pruned, which replaces the first on
 * resume. On resume the book is rebuilt from the journaled results (a run that finished
 * was kept at each rung it passed; a pruned one lost at its last). */
#ifndef CLS_PRUNE_SCHED_H
#define CLS_PRUNE_SCHED_H

#include "output.h"
#include "run.h"
#include "sched_options.h"
#include "sweep.h"

/* After resume and journal_open: the book of sw->prune (nothing when prune is off), fed
 * with the resumed results[nruns]; synchronous decisions now possible are taken and
 * journaled in j. sw, results and j are the master's and must outlive the book (until
 * prune_master_free). 0, or -1 with cls_seterr. */
int prune_master_init(const sweep_t *sw, run_result **results, journal_t *j,
                      const sched_options *o, int quiet);
void prune_master_free(void);

/* A final result of run idx, before it is journaled: brought into the canonical pruned
 * form when the run is pruned. */
void prune_master_result(int idx, run_result *r);
/* After a result is stored in m->results: synchronous decisions now possible, journaling
 * the recorded runs they prune. 0, or -1 with cls_seterr. */
int prune_master_settle(void);

/* One process: the stage hook of the run whose index is *(int *)ctx (run.h). */
int prune_solo_hook(void *ctx, const run_stage_report *rep);

/* MPI master: answers one waiting TAG_STAGE message, if any; 1 when it did. */
int prune_master_poll(void);

/* MPI worker: the stage hook of the run whose index is *(int32_t *)ctx: TAG_STAGE to the
 * master, then waits for TAG_DECIDE (no answer because the launcher is gone: stop). */
int prune_worker_hook(void *ctx, const run_stage_report *rep);

/* One line for the end-of-sweep summary (nothing when prune is off). */
void prune_master_summary(void);

#endif
