/* protocol_sched.h — the tuning protocol (protocol.h) in the sweep and the scheduler (sweep
 * layer, internal): the master's side (which
 * runs wait, the selection when a model's phase 1 is complete, filling its placeholders).
 * Implemented by src/sweep/protocol_sched.c; called by sched_master.c and merge.c
 * (protocol_resolve).
 *
 * Phase 2 of a model starts when every phase-1 run of that model has a final result (ok,
 * diverged, unsupported or failed; a failed phase-1 run counts as done and is left out of
 * the selection — a resume retries it, and when that changes the selection the phase-2
 * runs have new ids and run again). Meanwhile the other models' runs keep the workers busy.
 * On resume the selection is recomputed from the journaled phase-1 results (a pure
 * function) before the journal is matched to the runs, so phase-2 results come back under
 * the ids of the configurations they ran. */
#ifndef CLS_PROTOCOL_SCHED_H
#define CLS_PROTOCOL_SCHED_H

#include "protocol.h"
#include "output.h"
#include "sched_options.h"
#include "sweep.h"

/* The phase of run i: 1, 2 or 0 (no protocol). */
int protocol_phase(const sweep_t *s, int i);

/* Before sched_resume: builds the master's book and fills the placeholders of every model
 * whose phase-1 runs all have final results in the journal (or, without one, the existing
 * file). sw, results and j are the master's (results[nruns], j opened later) and must
 * outlive the book. Nothing when the sweep has no protocol. 0, or -1 with cls_seterr. */
int protocol_master_init(sweep_t *sw, run_result **results, journal_t *j,
                         const char *journal_path, const char *out, const sched_options *o,
                         int quiet);
/* After sched_resume and journal_open: records the phase-2 runs of ready models without an
 * eligible configuration as failed (journaled). 0, or -1 with cls_seterr. */
int protocol_master_resumed(void);
void protocol_master_free(void);

/* Whether run idx waits for its model's selection (not queued yet). */
int protocol_held(int idx);

/* A final result of run idx, before it is journaled: its phase (and for phase 2 the
 * selection) as extras. */
void protocol_master_result(int idx, run_result *r);

/* After run idx was recorded: when it completed its model's phase 1, the selection is made
 * and printed and the model's phase-2 runs are returned in *runs (n of them, the buffer is
 * the book's, valid until the next call); *fail is set when there was no eligible
 * configuration (the caller records them with protocol_fail_status() — unsupported when
 * every phase-1 run of the model was, else failed — and protocol_fail_message()). */
void protocol_master_after(int idx, const int **runs, int *n, int *fail);
const char *protocol_fail_message(void);
run_status protocol_fail_status(void);

/* Outside a sweep run (merge): fills the placeholders of every model whose phase-1 runs
 * all have results[] (final ones), with their selection. Returns the models filled. */
int protocol_resolve(sweep_t *sw, run_result **results);

#endif
