/* probe.c — collecting a run's weight-space probes (see probe.h). Run layer: called by
 * run_execute in the run process; uses the models' weights hook and the analysis keys. */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>

#include "analysis.h"

void run_collect_probe(const run_config *cfg, const model_ops *ops, model_t *m, const bench_t *b,
                       int stage, run_result *res) {
    if (!ops->weights || !analysis_wants_stage(cfg, stage, b->nstages)) return;
    int spt = analysis_samples_per_task(cfg);
    int rows = 0, cols = 0, *task = NULL;
    float *w = ops->weights(m, b, spt, &rows, &cols, &task);
    if (!w || !task || rows < 1 || cols < 1) {
        free(w);
        free(task);
        return;
    }
    for (int i = 0; i < rows; i++)
        if (task[i] < 0 || task[i] >= b->ntasks) {
            fprintf(stderr, "clsweep: %s: weights() row %d has task %d (of %d): matrix discarded\n",
                    ops->name, i, task[i], b->ntasks);
            free(w);
            free(task);
            return;
        }
    result_add_probe(res, stage, w, rows, cols, task);
}
