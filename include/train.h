/* train.h — shared training settings (train.* keys) and helpers used by several models. */
#ifndef CLS_TRAIN_H
#define CLS_TRAIN_H

#include "bench.h"
#include "config.h"
#include "mlp.h"
#include "optim.h"

/* The train.* keys, for a model's param table. "auto"/0/-1 values are resolved per benchmark
 * kind, the same for every model, by train_resolve_config before a run's identity is
 * computed (cfg_fill_defaults), so a configuration always holds the values a run uses. A
 * model with a different paper setting gets it from an explicit, model-scoped key in the
 * sweep ("ewgn.train.batch_size: 1"), never from its own auto. */
#define TRAIN_PARAM_SPECS                                                                  \
    {"train.optimizer", PARAM_STR, "auto", "auto|sgd|adam|adamw", 1, 0,                    \
     "optimiser; auto = sgd (classification, regression), adamw (curves3d)"},              \
    {"train.lr", PARAM_FLOAT, "0", NULL, 0, 1e6,                                           \
     "learning rate; 0 = auto: 0.05 sgd, 1e-3 adam(w) (classification, regression), 5e-4 (curves3d)"}, \
    {"train.batch_size", PARAM_INT, "0", NULL, 0, 1e7,                                     \
     "minibatch size; 0 = auto: 32 (classification), benchmark.batch (regression), full (curves3d)"}, \
    {"train.weight_decay", PARAM_FLOAT, "-1", NULL, -1, 1e3,                               \
     "weight decay; -1 = optimiser default (AdamW 0.01, else 0)"},                         \
    {"train.momentum", PARAM_FLOAT, "0", NULL, 0, 0.999, "SGD momentum"}

/* The anytime-curve keys (eval.*), for the param table of a model whose training loop calls
 * train_curve_tick after every step (finetune, ewc, the clbase models, ewgn, gated, hsf, pah,
 * crashtest, C plugins of ABI 2 through host->step; what a step is per model: docs/spec.md).
 * A model without them (external programs, plugins of ABI 1) never has eval.* in its
 * configuration and records no curve; the sweep refuses eval.every for them
 * (src/sweep/curve_check.c). */
#define TRAIN_CURVE_PARAM_SPECS                                                            \
    {"eval.every", PARAM_INT, "0", NULL, 0, 1e9,                                           \
     "anytime curve: evaluate every task every N optimiser steps of a stage (and at its end) "\
     "on eval.subset test examples per task; 0 = off"},                                    \
    {"eval.subset", PARAM_INT, "256", NULL, 1, 1e7,                                        \
     "anytime curve: test examples per task at each point (a fixed random subset; all when "\
     "the task has fewer)"}

/* The hook of the anytime curve. The run layer (src/run/curve.c) installs one for the
 * duration of a run's training (one run per process at a time); a training loop calls
 * train_curve_tick(m, b) after each optimiser step. It counts the steps of the block and,
 * every `every` steps, calls point(c, m, b) — which only evaluates (no training RNG draw,
 * no parameter change), so the trained model is the same with and without a curve. */
struct model;
typedef struct train_curve {
    int every;                 /* steps between points; 0 = off */
    long step;                 /* optimiser steps of the current block so far */
    void (*point)(struct train_curve *c, struct model *m, const bench_t *b);
} train_curve;
/* Installs c (NULL: none). Not thread-safe; the run executor's. */
void train_curve_set(train_curve *c);
/* The installed hook, or NULL. */
train_curve *train_curve_get(void);
/* After each optimiser step of a block: counts it and takes a point when one is due. */
void train_curve_tick(struct model *m, const bench_t *b);
/* 1 when the next train_curve_tick will take a point: for a model whose parameters are not
 * all current between steps (ewgn's lazy EWC decay) to evaluate a current copy then. */
int train_curve_due(void);

/* What one block of training costs in data and steps, for `clsweep expand`'s budget table
 * (model_ops.budget; train_budget_shared for models that read the train.* keys). */
typedef struct train_budget {
    char optimizer[24];  /* "sgd", "adamw", "euler" (gated's gradient flow), ... */
    double lr;           /* effective step size */
    int batch;           /* examples per gradient step */
    double examples;     /* examples seen per block (nominal: bench_size_of) */
    double steps;        /* gradient steps per block */
} train_budget;

typedef struct {
    optim_kind optimizer;
    float lr;
    int batch_size;      /* resolved; full batch = n_train */
    float weight_decay;  /* resolved */
    float momentum;
} train_settings;

/* Rewrites the train.* keys present in cfg (a filled configuration with "benchmark.name")
 * to the values a run uses: auto/0/-1 become the per-kind defaults above. Idempotent. */
void train_resolve_config(run_config *cfg);
/* Reads the (resolved) train.* keys of cfg for benchmark b; any auto value left (a
 * configuration built by hand) is resolved the same way as train_resolve_config. */
void train_resolve(train_settings *t, const run_config *cfg, const bench_t *b);
/* Fills out from optimizer, lr and batch with the examples and steps of one block of cfg's
 * benchmark (bench_size_of): a data set is block_size epochs over n_train examples in
 * batches of batch; a generated stream is block_size steps of batch fresh examples. */
void train_budget_fill(train_budget *out, const run_config *cfg, const char *optimizer,
                       double lr, int batch);
/* The budget of a model that reads the shared train.* keys (resolved). */
void train_budget_shared(const run_config *cfg, train_budget *out);
/* The budget of cfg's model (a filled configuration): its model_ops.budget, or the shared
 * train.* keys; all zero for a model without training settings. (src/models/registry.c) */
void model_budget(const run_config *cfg, train_budget *out);
/* Initialises o from t over an arena of n parameters. */
void train_optim_init(optim_t *o, const train_settings *t, long n);
/* 1 if every x[i] is finite. */
int all_finite(const float *x, long n);
/* Test-set metric helper: accuracy of logits (n, C) against labels with an optional mask. */
double accuracy_of(const float *logits, const int *labels, const int *mask, int n, int C);
/* The MLP of cfg's mlp.hidden and mlp.activation for benchmark b (b->in_dim → hidden →
 * b->out_dim), initialised from stream 1 of seed (mlp_init). mlp.hidden [0] = auto:
 * [256, 256], or on a reconstruction benchmark (curves3d) the HSF paper's autoencoder
 * [64, 64, 24, 64, 64] with a linear bottleneck; mlp.activation auto = relu, gelu on
 * reconstruction. 0, or -1 with a message (too many layers, a size < 1). The one network
 * of finetune, ewc and the clbase models (si, mas, lwf, er, agem, derpp, joint). */
int mlp_from_config(mlp_t *net, const run_config *cfg, const bench_t *b, uint64_t seed);
/* The metric of an MLP (b->in_dim → b->out_dim) on task's test set, in chunks of 256:
 * accuracy (classification, the task's class mask), or the mean MSE (½·Σ for regression,
 * the input as target for reconstruction). NaN for an empty test set. */
double mlp_eval_task(mlp_t *net, const bench_t *b, int task);

#endif
