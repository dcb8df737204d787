/* analysis.h — the weight-space analysis of a run (docs/spec.md §7): which matrices are collected
 * (analysis.* keys), collecting them in the run process, and analysing them with
 * ScaLAPACK on the group of ranks that owns the run.
 *
 * Flow: run_execute (in the forked run process, no MPI) calls analysis_collect after each
 * stage; it asks the model for its matrix (model_ops.weights) and stores it in the result
 * as a probe. The rank that started the run — the leader of its group — then calls
 * analysis_apply: each probe is analysed by pca_scalapack on the group's BLACS grid, the
 * outputs become result extras, and the probes are dropped, so that only the extras travel
 * on to the master, the journal and the NetCDF file. The other ranks of a group wait in
 * analysis_member_loop for the leader's analysis work.
 *
 * Extras (stage-wise arrays are NaN for stages that were not analysed):
 *   ws_separation(stage)           between/within-task scatter ratio in the top-k PC space
 *   ws_task_r2(stage)              between/(between + within): share of it explained by task
 *   ws_explained(stage, ws_component)  explained-variance ratio of each top component
 *   ws_pc1(stage, ws_point), ws_pc2(stage, ws_point)  2-D PC coordinates of the first
 *                                  analysis.plot_points rows of every task (slot t·P + j)
 *   ws_point_task(ws_point)        task of each point slot
 *   ws_features                    columns of the analysed matrix (scalar)
 *   ws_ranks                       ranks of the grid that computed it (scalar) */
#ifndef CLS_ANALYSIS_H
#define CLS_ANALYSIS_H

#include <mpi.h>

#include "config.h"
#include "model.h"
#include "result.h"

/* analysis.* keys: read by every model that has a weights hook (param_model_reads). */
extern const param_spec analysis_params[];
extern const int analysis_nparams;

/* Run process, after stage `stage` was trained and evaluated: when cfg's analysis.when asks
 * for this stage ("stage": every one; "end": the last) and the model has a weights hook,
 * stores the model's matrix in res as a probe. A matrix with a row task outside
 * [0, ntasks) is discarded. */
void analysis_collect(const run_config *cfg, const model_ops *ops, model_t *m, const bench_t *b,
                      int stage, run_result *res);

typedef struct analysis_group analysis_group;

/* The analysis side of a group of ranks (comm: its ranks, the leader is rank 0; the
 * communicator is borrowed, not freed). The BLACS grid is created on first use. */
analysis_group *analysis_group_init(MPI_Comm comm);
/* Leader: stops the members' loops; every rank: releases the grid (collective). */
void analysis_group_free(analysis_group *g);
/* Leader: analyses res's probes on the group (NULL group: LAPACK on this process, for runs
 * outside a sweep), stores the extras described above, adds the analysis time to
 * res->wall_seconds and drops the probes. A matrix that cannot be analysed (non-finite,
 * constant) leaves its stage NaN and a note on stderr. cfg is the run's config. */
void analysis_apply(analysis_group *g, const run_config *cfg, run_result *res);
/* Member (rank > 0 of the group): serves the leader's analyses until the leader calls
 * analysis_group_free; waits with probe + sleep back-off, not a busy spin. */
void analysis_member_loop(analysis_group *g);

#endif
