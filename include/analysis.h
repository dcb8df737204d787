/* analysis.h — the weight-space analysis of a run (docs/spec.md §7), the part without MPI: the
 * analysis.* keys and which stages they select. Analysis layer (above core, below models):
 * included by the model registry (the keys), the run layer (probe collection) and the CLI.
 * The distributed part (groups of ranks, analysis_apply) is in analysis_mpi.h.
 *
 * Flow: run_execute (in the forked run process, no MPI) collects probes after each stage
 * (run_collect_probe, probe.h): it asks the model for its matrix (model_ops.weights) and
 * stores it in the result. The rank that started the run — the leader of its group — then calls
 * analysis_apply (analysis_mpi.h): each probe is analysed by pca_scalapack on the group's BLACS grid, the
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

#include "config.h"

/* analysis.* keys: read by every model that has a weights hook (param_model_reads). */
extern const param_spec analysis_params[];
extern const int analysis_nparams;

/* Whether cfg's analysis.when asks for a probe after stage `stage` of nstages ("stage":
 * every one; "end": the last; "none" or absent: never). */
int analysis_wants_stage(const run_config *cfg, int stage, int nstages);
/* analysis.samples_per_task of cfg (default 100). */
int analysis_samples_per_task(const run_config *cfg);

#endif
