/* probe.h — collecting the weight-space probes of a run (run layer, no MPI): after a stage,
 * the model's matrix (model_ops.weights) is stored in the result as a probe, to be analysed
 * by the rank's group (analysis_mpi.h). Called by run_execute only. */
#ifndef CLS_PROBE_H
#define CLS_PROBE_H

#include "bench.h"
#include "config.h"
#include "model.h"
#include "result.h"

/* After stage `stage` was trained and evaluated: when cfg's analysis.when asks for this
 * stage and the model has a weights hook, stores the model's matrix in res as a probe. A
 * matrix with a row task outside [0, ntasks) is discarded (with a note on stderr). */
void run_collect_probe(const run_config *cfg, const model_ops *ops, model_t *m, const bench_t *b,
                       int stage, run_result *res);

#endif
