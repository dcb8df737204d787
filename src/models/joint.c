/* joint.c — the joint-training upper bound on the clbase MLP: at each stage it trains on the
 * union of the training sets of every task seen so far (including the stage's task), with
 * the SAME budget per block as every other model: per epoch it takes n_train(stage's task)
 * examples of a fresh Philox shuffle of the union, i.e. the same number of examples and
 * optimiser steps per block. Each example keeps its own task's head (task-incremental).
 * At stage 0 it is finetune bit for bit. Classification benchmarks; registered in registry.c. */
#include <stdlib.h>

#include "clbase.h"
#include "util.h"

static void joint_begin_block(clb_t *m, const bench_t *b, int stage) {
    (void)stage;
    int n = 0;
    for (int k = 0; k < b->ntasks; k++)
        if (m->seen[k] || k == m->task) n += b->tasks[k].n_train;
    if (n <= m->npool) return;
    /* clb_train_block sized the pool for the stage's task; grow it here. */
    m->cap_pool = n;
    m->pool_task = xrealloc(m->pool_task, sizeof(int) * (size_t)n);
    m->pool_idx = xrealloc(m->pool_idx, sizeof(int) * (size_t)n);
    m->order = xrealloc(m->order, sizeof(int) * (size_t)n);
    int j = 0;
    for (int k = 0; k < b->ntasks; k++) {
        if (!m->seen[k] && k != m->task) continue;
        for (int i = 0; i < b->tasks[k].n_train; i++, j++) {
            m->pool_task[j] = k;
            m->pool_idx[j] = i;
        }
    }
    m->npool = n;
}

static const clb_hooks joint_hooks = {.begin_block = joint_begin_block};

static model_t *joint_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    clb_t *m = clb_create(cfg, b, seed, 0);
    if (m) {
        m->h = &joint_hooks;
        m->stream_all = 1;
    }
    return (model_t *)m;
}

static double joint_cost(const run_config *cfg) { return clb_cost(cfg, 1.0); }

static const param_spec joint_params[] = {TRAIN_PARAM_SPECS, CLB_MLP_PARAM_SPECS,
                                          TRAIN_CURVE_PARAM_SPECS};

const model_ops joint_ops = {
    .name = "joint",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = joint_params,
    .nparams = (int)(sizeof joint_params / sizeof joint_params[0]),
    .cost = joint_cost,
    .init = joint_init,
    .train_block = clb_train_block,
    .eval_task = clb_eval,
    .free = clb_free,
};
