/* run.h — executing one model run (run layer: above models and analysis, below the
 * scheduler). Called by the isolation wrapper (isolate.h), `clsweep single`, the tests and
 * benchmarks. */
#ifndef CLS_RUN_H
#define CLS_RUN_H

#include "config.h"
#include "result.h"

/* Executes one model run described by cfg (which has "model", "seed", "benchmark.name" and
 * every key the model reads): builds the benchmark, trains stage by stage, evaluates every
 * task after every stage, computes metrics, and collects the weight-space probes
 * (probe.h). Never aborts on model trouble: the status and message in res say what
 * happened. A stop whose grace period is over (stop.h) ends the run between stages with
 * status RUN_STATUS_ABANDONED. res is initialised by this call. */
void run_execute(const run_config *cfg, run_result *res);

#endif
