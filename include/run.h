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

/* What a run reports after each stage (successive halving, prune.h): the stage just
 * finished (0-based) of nstages, and its row of R summarised two ways. */
typedef struct {
    int stage, nstages, higher_is_better;
    double acc_seen;   /* mean of R[stage][t] over the tasks trained in stages 0..stage */
    double acc_all;    /* mean of R[stage][t] over every task */
} run_stage_report;

/* Called after every stage but the last; returns 1 to continue, 0 to stop the run there. */
typedef int (*run_stage_hook)(void *ctx, const run_stage_report *rep);

/* run_execute with a stage hook (NULL: run_execute). With a hook, res holds the extra
 * "acc_seen" over ("stage") (the reports' values), and a run the hook stops ends with status
 * RUN_STATUS_PRUNED, its R filled up to that stage. */
void run_execute_staged(const run_config *cfg, run_result *res, run_stage_hook hook, void *ctx);

#endif
