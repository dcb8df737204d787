/* clbase.h — the shared core of the continual-learning baselines si, mas, lwf, er, agem,
 * derpp and joint (src/models/{clbase,si,mas,lwf,rehearsal,joint}.c): one MLP classifier
 * built from the mlp.* keys exactly as finetune's, the training loop over a block with hooks
 * for each method's extra loss terms, per-example task heads, and the loss terms that are
 * not layers of src/nn (quadratic importance penalty, soft-target distillation).
 * Only the model files above include it; the sweep sees the models through model_ops. */
#ifndef CLS_CLBASE_H
#define CLS_CLBASE_H

#include "bench.h"
#include "config.h"
#include "mlp.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "train.h"

/* The mlp.* keys, identical to finetune's (src/models/baselines.c). */
#define CLB_MLP_PARAM_SPECS                                                                \
    {"mlp.hidden", PARAM_INTLIST, "[0]", NULL, 0, 1e5,                                     \
     "hidden layer sizes; [0] = auto: [256,256], or the HSF autoencoder [64,64,24,64,64] on curves3d"}, \
    {"mlp.activation", PARAM_STR, "auto", "auto|relu|gelu|tanh|sigmoid|leaky_relu", 1, 0, \
     "hidden activation; auto = relu, gelu on curves3d"}

/* The replay keys shared by er, agem and derpp. */
#define CLB_REPLAY_PARAM_SPECS                                                             \
    {"replay.buffer_size", PARAM_INT, "500", NULL, 1, 1e7,                                 \
     "reservoir buffer capacity (examples, all tasks together)"},                          \
    {"replay.batch_size", PARAM_INT, "0", NULL, 0, 1e6,                                    \
     "examples drawn from the buffer per step; 0 = train.batch_size"}

typedef struct clb clb_t;

/* Method hooks; any may be NULL. */
typedef struct {
    /* Before the first step of a block. */
    void (*begin_block)(clb_t *m, const bench_t *b, int stage);
    /* After the forward of the current batch (out: (bs, C) logits); may add to m->dout
     * before the backward (lwf's distillation) or record the logits (derpp). Returns the
     * extra loss (for the divergence check). */
    double (*on_forward)(clb_t *m, const bench_t *b, const float *out, int bs);
    /* After the backward of the current batch, before the optimiser step: add gradient
     * terms to m->net.grads (penalties, replay) or transform them (agem). Returns the extra
     * loss. May run further forwards of m->net. */
    double (*extra_grad)(clb_t *m, const bench_t *b, int bs);
    /* After the optimiser step; prev holds the parameters before it (si's path integral). */
    void (*after_step)(clb_t *m, const float *prev);
    /* After the last step of a block (importance, buffer filling). */
    void (*end_block)(clb_t *m, const bench_t *b, int stage);
    void (*free_ext)(clb_t *m);
    int want_prev;   /* keep a copy of the parameters before each step for after_step */
} clb_hooks;

struct clb {
    const clb_hooks *h;
    void *ext;                 /* the method's own state */
    train_settings ts;
    mlp_t net;
    optim_t opt;
    rng_t rng;                 /* shuffling (stream 2, as finetune) */
    bench_kind kind;
    int D, C;                  /* input size, outputs */
    int stage, task;           /* the block being trained */
    int cap;                   /* rows of the staging buffers */
    float *bx;                 /* (cap, D) staged inputs */
    float *bt;                 /* (cap, C) staged targets (regression, reconstruction) */
    int *blab, *btask;         /* (cap) labels and tasks of the staged rows */
    const int **bmask;         /* (cap) head mask of each row (NULL: all outputs) */
    float *probs, *dout;       /* (cap, C) */
    float *prev;               /* (nparams) parameters before the step, when want_prev */
    /* The pool a block samples its batches from: (task, index) pairs. The default is the
     * block's task; joint replaces it by the union of the tasks seen. Per epoch the block
     * takes n_train(current task) of them, so every model has the same steps per block. */
    int npool, cap_pool;
    int *pool_task, *pool_idx, *order;
    int *seen;                 /* (ntasks) 1 once the task has been trained */
    int stream_all;            /* teacher_student: draw rows from every task seen (joint) */
};

/* Creates the core for benchmark b (any kind; the network of finetune for that kind), with
 * staging buffers for max(batch, extra_rows) rows; NULL with cls_seterr on a bad mlp.*
 * setting. The caller sets h and ext. */
clb_t *clb_create(const run_config *cfg, const bench_t *b, uint64_t seed, int extra_rows);
/* model_ops entry points shared by every clbase model. */
run_status clb_train_block(model_t *m, const bench_t *b, int stage);
double clb_eval(model_t *m, const bench_t *b, int t);
void clb_free(model_t *m);
/* model_ops.cost of the clbase models: blocks · epochs · examples per task, times factor. */
double clb_cost(const run_config *cfg, double factor);

/* The head mask of task t (NULL unless task-incremental). */
static inline const int *clb_mask(const bench_t *b, int t) { return b->tasks[t].class_mask; }
/* Stages training example idx of task t of b into row r of m's staging buffers (input,
 * label or reconstruction target, task, head). */
void clb_stage(clb_t *m, const bench_t *b, int t, int idx, int r);
/* The task loss of the staged rows [0, n) of out (classification: clb_xent_rows with the
 * staged labels and heads; else the mean squared error against the staged targets, ½·Σ on
 * teacher_student); adds scale · its gradient into dout; returns the loss. */
double clb_loss_rows(clb_t *m, const float *out, int n, float scale, float *dout);
/* Cross-entropy of rows [0, n) of out, each against its own label and head mask
 * (labels, masks); returns the mean loss and adds scale · its gradient into dout. */
double clb_xent_rows(clb_t *m, const float *out, const int *labels, const int *const *masks,
                     int n, float scale, float *dout);

/* ---- loss terms that are not layers of src/nn ---- */
/* Quadratic importance penalty c · Σ_i Ω_i (θ_i − θ*_i)² (SI, MAS). */
double quad_penalty(const float *omega, const float *theta, const float *anchor, long n, float c);
/* g += 2c · Ω ⊙ (θ − θ*). */
void quad_penalty_grad(float *g, const float *omega, const float *theta, const float *anchor,
                       long n, float c);
/* Soft-target distillation (Hinton et al. 2015; LwF's modified cross-entropy):
 * KD = T² · mean_b [ −Σ_c p_t,c · log p_s,c ],  p = softmax(logits / T) over the classes with
 * mask[c] != 0 (mask NULL: all). student, teacher (B, C). */
double kd_soft_forward(const float *student, const float *teacher, const int *mask, float T,
                       int B, int C);
/* dstudent += scale · dKD/dstudent = scale · T · (p_s − p_t) / B on the masked classes. */
void kd_soft_backward(float *dstudent, const float *student, const float *teacher,
                      const int *mask, float T, float scale, int B, int C);

#endif
