/* analysis_mpi.h — the distributed side of the weight-space analysis (see analysis.h for
 * the flow and the extras it records): groups of ranks and the analysis of a finished run's
 * probes on their BLACS grid. Analysis layer; needs MPI. Called by the scheduler (a group per
 * ranks_per_run) and by `clsweep single` and the tests (NULL group: LAPACK on one process). */
#ifndef CLS_ANALYSIS_MPI_H
#define CLS_ANALYSIS_MPI_H

#include <mpi.h>

#include "analysis.h"
#include "config.h"
#include "result.h"

typedef struct analysis_group analysis_group;

/* The analysis side of a group of ranks (comm: its ranks, the leader is rank 0; the
 * communicator is borrowed, not freed). The BLACS grid is created on first use. */
analysis_group *analysis_group_init(MPI_Comm comm);
/* Leader: stops the members' loops; every rank: releases the grid (collective). */
void analysis_group_free(analysis_group *g);
/* Leader: analyses res's probes on the group (NULL group: LAPACK on this process, for runs
 * outside a sweep), stores the extras described in analysis.h, adds the analysis time to
 * res->wall_seconds and drops the probes. A matrix that cannot be analysed (non-finite,
 * constant) leaves its stage NaN and a note on stderr. cfg is the run's config. */
void analysis_apply(analysis_group *g, const run_config *cfg, run_result *res);
/* Member (rank > 0 of the group): serves the leader's analyses until the leader calls
 * analysis_group_free; waits with probe + sleep back-off, not a busy spin. Returns early
 * (without the collective release) when the launcher is gone (stop_launcher_gone). */
void analysis_member_loop(analysis_group *g);

#endif
