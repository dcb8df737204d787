/* train.h — shared training settings (train.* keys) and helpers used by several models. */
#ifndef CLS_TRAIN_H
#define CLS_TRAIN_H

#include "bench.h"
#include "config.h"
#include "optim.h"

/* The train.* keys, for a model's param table. "auto"/0 values are resolved per benchmark
 * kind by train_resolve. */
#define TRAIN_PARAM_SPECS                                                                  \
    {"train.optimizer", PARAM_STR, "auto", "auto|sgd|adam|adamw", 1, 0,                    \
     "optimiser; auto = sgd (classification, regression), adamw (curves3d)"},              \
    {"train.lr", PARAM_FLOAT, "0", NULL, 0, 1e6,                                           \
     "learning rate; 0 = auto: 0.05 sgd (classification), 0.05 (regression), 5e-4 (curves3d)"}, \
    {"train.batch_size", PARAM_INT, "0", NULL, 0, 1e7,                                     \
     "minibatch size; 0 = auto: 32 (classification), benchmark.batch (regression), full (curves3d)"}, \
    {"train.weight_decay", PARAM_FLOAT, "-1", NULL, -1, 1e3,                               \
     "weight decay; -1 = optimiser default (AdamW 0.01, else 0)"},                         \
    {"train.momentum", PARAM_FLOAT, "0", NULL, 0, 0.999, "SGD momentum"}

typedef struct {
    optim_kind optimizer;
    float lr;
    int batch_size;      /* resolved; full batch = n_train */
    float weight_decay;  /* resolved */
    float momentum;
} train_settings;

/* Resolves the train.* keys of cfg for benchmark b. */
void train_resolve(train_settings *t, const run_config *cfg, const bench_t *b);
/* Initialises o from t over an arena of n parameters. */
void train_optim_init(optim_t *o, const train_settings *t, long n);
/* 1 if every x[i] is finite. */
int all_finite(const float *x, long n);
/* Test-set metric helper: accuracy of logits (n, C) against labels with an optional mask. */
double accuracy_of(const float *logits, const int *labels, const int *mask, int n, int C);

#endif
