/* model.h — the model interface (models layer). Every model implements these operations and
 * declares the benchmark kinds it supports and the configuration keys it reads. The run
 * layer, the sweep and the scheduler only ever see this table, so adding a model means
 * adding one entry to model_table (src/models/registry.c). Includes registry.h, the
 * parameter registry built from these tables. Running a model is run.h's. */
#ifndef CLS_MODEL_H
#define CLS_MODEL_H

#include "bench.h"
#include "config.h"
#include "registry.h"
#include "result.h"
#include "rng.h"

typedef struct model model_t;   /* opaque per-model state */
struct train_budget;            /* train.h */

typedef struct {
    const char *name;
    unsigned kinds;              /* bitwise OR of bench_kind it supports */
    const param_spec *params;    /* keys it reads: "<name>.*" and shared "train.*" keys */
    int nparams;
    /* Relative cost estimate (any unit, consistent across models) for longest-first
     * ordering. May be NULL (cost 1). cfg is the effective config. */
    double (*cost)(const run_config *cfg);
    /* Creates the model for benchmark b. NULL with cls_seterr on failure. */
    model_t *(*init)(const run_config *cfg, const bench_t *b, uint64_t seed);
    /* Trains one block (stage) on task b->stage_task[stage]. Returns RUN_STATUS_OK,
     * RUN_STATUS_DIVERGED (non-finite loss), or RUN_STATUS_FAILED with cls_seterr. */
    run_status (*train_block)(model_t *m, const bench_t *b, int stage);
    /* Metric of task t on its test set (accuracy in [0,1] or MSE). */
    double (*eval_task)(model_t *m, const bench_t *b, int t);
    /* Optional (may be NULL): after each stage's evaluation, record stage-wise extras. */
    void (*after_stage)(model_t *m, const bench_t *b, int stage, run_result *res);
    /* Optional: at the end of the run, record final extras. */
    void (*report)(model_t *m, const bench_t *b, run_result *res);
    void (*free)(model_t *m);
    /* Optional (may be NULL): the matrix of the weight-space analysis — one row per probe
     * sample (up to samples_per_task fixed test examples of every task; or one row per
     * task/path for models whose state is not per-sample), holding what the model generates
     * or switches with (EWGN: the generated weights; gated: gate-weighted path weights; PAH:
     * generated head weights and prototypes; HSF: task-conditioned generated layers).
     * Returns a malloc'd (*rows, *cols) row-major matrix and sets *row_task (malloc'd, the
     * task of each row); NULL when there is nothing to analyse. */
    float *(*weights)(model_t *m, const bench_t *b, int samples_per_task, int *rows, int *cols,
                      int **row_task);
    /* Optional (NULL: every key in params is read on every benchmark kind): 0 when the model
     * does not read its key `key` on benchmarks of kind `kind` (a BENCH_KIND_* bit). Such a
     * key is left out of those runs' configuration and identity, so a grid axis over it
     * does not multiply them (e.g. gated's teacher-student timescales on MNIST). */
    int (*reads_key)(const char *key, unsigned kind);
    /* Optional (NULL: the shared train.* keys, train_budget_shared): the optimiser, step size,
     * batch and the examples and steps of one block under cfg, for `clsweep expand`'s budget
     * table (models with their own training keys, e.g. pah.lr, gated.batch). */
    void (*budget)(const run_config *cfg, struct train_budget *out);
    /* Optional (NULL: every benchmark of a supported kind): NULL when the model can take
     * benchmark b under cfg, else the reason it cannot (a shape, a scenario; static or
     * string-literal text). The run executor checks it before init and records the run
     * `unsupported: REASON` — never failed, never a crash. */
    const char *(*accepts)(const bench_t *b, const run_config *cfg);
} model_ops;

/* The models of the suite (the default `models` of a sweep are those supporting the
 * benchmark kind). Test-only models (e.g. crashtest) are not in this table but are found by
 * model_find and param_find, so a sweep may name them explicitly. */
extern const model_ops *const model_table[];
extern const int model_count;
/* The ops of a model (suite or test-only) by name, or NULL. */
const model_ops *model_find(const char *name);
/* The ops that run cfg: model_find of its "model", or for a program model's run (it has
 * "program.command") the program template, even on a rank that never registered it. */
const model_ops *model_find_run(const run_config *cfg);
/* Registers a program model (a sweep's `programs:`, external.c) named name, supporting
 * kinds, reading params (copied; their strings must outlive the process). 0, or -1 with
 * cls_seterr when the name is taken. Not thread-safe: called while parsing a sweep. */
int model_register_program(const char *name, unsigned kinds, const param_spec *params,
                           int nparams);
/* Registers m (a C plugin's ops, plugin.c; m must outlive the process), replacing a program
 * or plugin of the same name. 0, or -1 with cls_seterr when it is a built-in model's name. */
int model_register_ops(model_ops *m);
/* The program and plugin models registered so far (for listings): count and the i-th. */
int model_extra_count(void);
const model_ops *model_extra_at(int i);
/* "finetune, ewc, ..." (static buffer). */
const char *model_names(void);

#endif
