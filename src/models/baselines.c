/* baselines.c — the finetune (no protection) and ewc (Kirkpatrick et al. 2017) baselines
 * of docs/spec.md §4.1–4.2 on one MLP, for every benchmark kind:
 *   classification: softmax cross-entropy (task-incremental: only the task's classes);
 *   teacher_student: ½·Σ_out squared error on fresh batches, one optimiser step per step;
 *   curves3d: the HSF paper's MLP autoencoder 3→64→64→24→64→64→3 (GELU, no activation at
 *   the bottleneck), PyTorch MSELoss (mean over elements), AdamW, full batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clbase.h"
#include "ewc.h"
#include "mlp.h"
#include "model.h"
#include "train.h"
#include "util.h"

typedef struct {
    int ewc;                 /* 0 = finetune */
    train_settings ts;
    mlp_t net;
    optim_t opt;
    rng_t rng;               /* shuffling and teacher-student batches */
    int *order;              /* (max n_train) shuffle buffer */
    float *bx, *by;          /* (batch, in) / (batch, out) staging */
    int *blab;               /* (batch) */
    float *probs, *dout;     /* (batch, out) */
    int fisher_samples;
    int ewc_prox;            /* ewc.ewc_step: 1 proximal, 0 gradient */
    ewc_t ewc_state;
} baseline_t;

#define MLP_PARAM_SPECS                                                                    \
    {"mlp.hidden", PARAM_INTLIST, "[0]", NULL, 0, 1e5,                                     \
     "hidden layer sizes; [0] = auto: [256,256], or the HSF autoencoder [64,64,24,64,64] on curves3d"}, \
    {"mlp.activation", PARAM_STR, "auto", "auto|relu|gelu|tanh|sigmoid|leaky_relu", 1, 0, \
     "hidden activation; auto = relu, gelu on curves3d"}

static const param_spec finetune_params[] = {TRAIN_PARAM_SPECS, MLP_PARAM_SPECS,
                                             TRAIN_CURVE_PARAM_SPECS};
static const param_spec ewc_params[] = {
    TRAIN_PARAM_SPECS, MLP_PARAM_SPECS, TRAIN_CURVE_PARAM_SPECS,
    {"ewc.lambda", PARAM_FLOAT, "1000", NULL, 0, 1e12, "EWC penalty strength λ"},
    {"ewc.fisher_samples", PARAM_INT, "200", NULL, 1, 1e7,
     "examples used for the empirical Fisher after each block"},
    {"ewc.gamma", PARAM_FLOAT, "1", NULL, 0, 1,
     "online EWC decay of the accumulated Fisher (1 = sum over tasks)"},
    {"ewc.ewc_step", PARAM_STR, "proximal", "gradient|proximal", 1, 0,
     "penalty step: proximal θ ← θ* + (θ − θ*)/(1 + lr·λ·F) after the optimiser step (stable for "
     "any λ) or gradient (λF(θ − θ*) added to the gradient; diverges once lr·λ·max F > 2)"},
};

static int is_half_mse(const bench_t *b) { return b->kind == BENCH_KIND_REGRESSION; }

static model_t *baseline_init_common(const run_config *cfg, const bench_t *b, uint64_t seed, int ewc) {
    baseline_t *m = xcalloc(1, sizeof *m);
    m->ewc = ewc;
    train_resolve(&m->ts, cfg, b);
    if (mlp_from_config(&m->net, cfg, b, seed)) {
        free(m);
        return NULL;
    }
    rng_init(&m->rng, seed, 2);
    train_optim_init(&m->opt, &m->ts, m->net.nparams);
    int maxn = 1;
    for (int k = 0; k < b->ntasks; k++)
        if (b->tasks[k].n_train > maxn) maxn = b->tasks[k].n_train;
    int B = m->ts.batch_size;
    m->order = xmalloc(sizeof(int) * (size_t)maxn);
    m->bx = xmalloc(sizeof(float) * (size_t)B * (size_t)b->in_dim);
    m->by = xmalloc(sizeof(float) * (size_t)B * (size_t)b->out_dim);
    m->blab = xmalloc(sizeof(int) * (size_t)B);
    m->probs = xmalloc(sizeof(float) * (size_t)B * (size_t)b->out_dim);
    m->dout = xmalloc(sizeof(float) * (size_t)B * (size_t)b->out_dim);
    if (ewc) {
        m->fisher_samples = (int)cfg_int(cfg, "ewc.fisher_samples");
        m->ewc_prox = !strcmp(cfg_str(cfg, "ewc.ewc_step"), "proximal");
        ewc_init(&m->ewc_state, m->net.nparams, (float)cfg_float(cfg, "ewc.lambda"),
                 (float)cfg_float(cfg, "ewc.gamma"));
    }
    return (model_t *)m;
}

static model_t *finetune_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    return baseline_init_common(cfg, b, seed, 0);
}
static model_t *ewc_model_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    return baseline_init_common(cfg, b, seed, 1);
}

/* Loss of the batch whose output is out and its gradient w.r.t. out into dout. */
static float batch_loss_dout(baseline_t *m, const bench_t *b, const task_t *t, const float *out,
                             int B) {
    int C = b->out_dim;
    memset(m->dout, 0, sizeof(float) * (size_t)B * (size_t)C);
    float loss;
    if (b->kind == BENCH_KIND_CLASSIFICATION) {
        loss = softmax_xent_forward(m->probs, out, m->blab, t->class_mask, B, C);
        softmax_xent_backward(m->dout, m->probs, m->blab, t->class_mask, 1.0f, B, C);
    } else {
        int half = is_half_mse(b);
        loss = mse_forward(out, m->by, B, C, half);
        mse_backward(m->dout, out, m->by, 1.0f, B, C, half);
    }
    return loss;
}

/* Loss of one batch (staged in bx/by/blab) and its gradient into net.grads (+=). */
static float batch_loss_grad(baseline_t *m, const bench_t *b, const task_t *t, int B) {
    const float *out = mlp_forward(&m->net, m->bx, B);
    float loss = batch_loss_dout(m, b, t, out, B);
    mlp_backward(&m->net, m->dout, NULL, B);
    return loss;
}

/* Stages example idx of task t into row r of the batch buffers. */
static void stage_example(baseline_t *m, const bench_t *b, const task_t *t, int idx, int r) {
    memcpy(m->bx + (size_t)r * b->in_dim, t->x_train + (size_t)idx * b->in_dim,
           sizeof(float) * (size_t)b->in_dim);
    if (b->kind == BENCH_KIND_CLASSIFICATION) m->blab[r] = t->y_train[idx];
    else {
        const float *tgt = b->kind == BENCH_KIND_RECONSTRUCTION ? t->x_train : t->t_train;
        memcpy(m->by + (size_t)r * b->out_dim, tgt + (size_t)idx * b->out_dim,
               sizeof(float) * (size_t)b->out_dim);
    }
}

/* Batch 1 with plain SGD (no momentum, one group over the arena) and no EWC penalty: the
 * backward and the update fused into one pass over the weights (mlp_sgd_step1), no gradient
 * arena traffic; the same parameters bit for bit. */
static int fused_sgd1(const baseline_t *m, int B) {
    const optim_t *o = &m->opt;
    return B == 1 && !m->ewc && o->kind == OPTIM_SGD && o->momentum == 0.0f &&
           o->ngroups == 1 && o->groups[0].offset == 0 && o->groups[0].count == m->net.nparams &&
           mlp_fused(-1);
}

static run_status step(baseline_t *m, const bench_t *b, const task_t *t, int B) {
    if (fused_sgd1(m, B)) {
        const float *out = mlp_forward(&m->net, m->bx, 1);
        float loss = batch_loss_dout(m, b, t, out, 1);
        if (!isfinite(loss)) {
            cls_seterr("non-finite training loss");
            return RUN_STATUS_DIVERGED;
        }
        mlp_sgd_step1(&m->net, m->dout, m->opt.groups[0].lr, m->opt.weight_decay);
        m->opt.t++;
        return RUN_STATUS_OK;
    }
    memset(m->net.grads, 0, sizeof(float) * (size_t)m->net.nparams);
    float loss = batch_loss_grad(m, b, t, B);
    if (!isfinite(loss)) {
        cls_seterr("non-finite training loss");
        return RUN_STATUS_DIVERGED;
    }
    if (m->ewc && !m->ewc_prox) ewc_penalty_grad(&m->ewc_state, m->net.params, m->net.grads);
    optim_step(&m->opt, m->net.params, m->net.grads);
    if (m->ewc && m->ewc_prox) ewc_proximal(&m->ewc_state, m->net.params, m->ts.lr);
    return RUN_STATUS_OK;
}

/* Replaces the divergence message with where it happened and, for the explicit EWC step,
 * the quantity whose bound was exceeded. */
static void diverged_where(const baseline_t *m, const bench_t *b, int epoch, long stepno) {
    char what[96], ep[32] = "", why[224];
    snprintf(what, sizeof what, "%s", cls_geterr());
    if (b->kind != BENCH_KIND_REGRESSION) snprintf(ep, sizeof ep, " epoch %d,", epoch);
    if (m->ewc && !m->ewc_prox) {
        double q = ewc_step_bound(&m->ewc_state, m->ts.lr);
        double lrl = (double)m->ts.lr * m->ewc_state.lambda;
        if (q > 2)
            snprintf(why, sizeof why, ": explicit EWC step unstable, lr·λ·max F = %.3g·%.3g·%.3g "
                     "= %.3g > 2 (ewc.ewc_step: proximal is stable; or lower ewc.lambda or "
                     "train.lr)", (double)m->ts.lr, (double)m->ewc_state.lambda,
                     lrl > 0 ? q / lrl : 0.0, q);
        else
            snprintf(why, sizeof why, " (explicit EWC step: lr·λ·max F = %.3g <= 2; train.lr %g "
                     "too large?)", q, (double)m->ts.lr);
    } else {
        snprintf(why, sizeof why, " (train.lr %g, %s, batch %d: step too large?)",
                 (double)m->ts.lr,
                 m->opt.kind == OPTIM_SGD ? "sgd" : m->opt.kind == OPTIM_ADAM ? "adam" : "adamw",
                 m->ts.batch_size);
    }
    cls_seterr("%s at%s step %ld of the block%s", what, ep, stepno, why);
}

/* Empirical diagonal Fisher of task t: mean over examples of the squared per-example
 * gradient of −log p(y|x) (classification) or of ½‖f(x) − y‖² (Gaussian likelihood). */
static void ewc_consolidate(baseline_t *m, const bench_t *b, int task) {
    const task_t *t = &b->tasks[task];
    long P = m->net.nparams;
    ewc_begin(&m->ewc_state);
    int n = m->fisher_samples;
    rng_t r;
    rng_init(&r, b->seed ^ 0xF15E5EEDULL, 100 + (uint64_t)task);
    for (int s = 0; s < n; s++) {
        memset(m->net.grads, 0, sizeof(float) * (size_t)P);
        if (b->kind == BENCH_KIND_REGRESSION) {
            bench_sample(b, task, &r, m->bx, m->by, 1);
        } else {
            stage_example(m, b, t, (int)rng_below(&r, (uint32_t)t->n_train), 0);
        }
        const float *out = mlp_forward(&m->net, m->bx, 1);
        memset(m->dout, 0, sizeof(float) * (size_t)b->out_dim);
        if (b->kind == BENCH_KIND_CLASSIFICATION) {
            softmax_xent_forward(m->probs, out, m->blab, t->class_mask, 1, b->out_dim);
            softmax_xent_backward(m->dout, m->probs, m->blab, t->class_mask, 1.0f, 1, b->out_dim);
        } else {
            mse_backward(m->dout, out, m->by, 1.0f, 1, b->out_dim, 1);
        }
        mlp_backward(&m->net, m->dout, NULL, 1);
        ewc_add_sample(&m->ewc_state, m->net.grads);
    }
    ewc_end(&m->ewc_state, m->net.params);
}

static run_status baseline_train_block(model_t *mm, const bench_t *b, int stage) {
    baseline_t *m = (baseline_t *)mm;
    int task = b->stage_task[stage];
    const task_t *t = &b->tasks[task];
    int B = m->ts.batch_size;
    run_status st = RUN_STATUS_OK;
    long nstep = 0;
    int e = 0;
    if (b->kind == BENCH_KIND_REGRESSION) {
        for (int s = 0; s < b->block_size && st == RUN_STATUS_OK; s++, nstep++) {
            bench_sample(b, task, &m->rng, m->bx, m->by, B);
            st = step(m, b, t, B);
            if (st == RUN_STATUS_OK) train_curve_tick(mm, b);
        }
    } else {
        int n = t->n_train;
        if (n == 0) {
            cls_seterr("task %s has no training examples", t->name);
            return RUN_STATUS_FAILED;
        }
        for (; e < b->block_size && st == RUN_STATUS_OK; e++) {
            for (int i = 0; i < n; i++) m->order[i] = i;
            if (B < n) rng_shuffle(&m->rng, m->order, n);
            nstep = 0;
            for (int i0 = 0; i0 < n && st == RUN_STATUS_OK; i0 += B, nstep++) {
                int bs = n - i0 < B ? n - i0 : B;
                for (int r = 0; r < bs; r++) stage_example(m, b, t, m->order[i0 + r], r);
                st = step(m, b, t, bs);
                if (st == RUN_STATUS_OK) train_curve_tick(mm, b);
            }
        }
        e--;   /* the epoch the loop was in */
    }
    if (st == RUN_STATUS_DIVERGED) diverged_where(m, b, e, nstep - 1);
    if (st != RUN_STATUS_OK) return st;
    if (!all_finite(m->net.params, m->net.nparams)) {
        cls_seterr("non-finite parameters");
        diverged_where(m, b, e, nstep - 1);
        return RUN_STATUS_DIVERGED;
    }
    if (m->ewc) ewc_consolidate(m, b, task);
    return RUN_STATUS_OK;
}

static double baseline_eval(model_t *mm, const bench_t *b, int task) {
    return mlp_eval_task(&((baseline_t *)mm)->net, b, task);
}

static void baseline_free(model_t *mm) {
    baseline_t *m = (baseline_t *)mm;
    if (!m) return;
    mlp_free(&m->net);
    optim_free(&m->opt);
    free(m->order); free(m->bx); free(m->by); free(m->blab); free(m->probs); free(m->dout);
    if (m->ewc) ewc_free(&m->ewc_state);
    free(m);
}

/* Relative cost: one classification example of the 784-256-256 MLP = 1 unit; a generated
 * example (teacher_student) 0.1; a curves3d row 0.05 (the small autoencoder). */
static double baseline_cost(const run_config *cfg) { return clb_cost(cfg, 1.0); }

#define NP(a) (int)(sizeof a / sizeof a[0])
const model_ops finetune_ops = {
    .name = "finetune",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = finetune_params,
    .nparams = NP(finetune_params),
    .cost = baseline_cost,
    .init = finetune_init,
    .train_block = baseline_train_block,
    .eval_task = baseline_eval,
    .free = baseline_free,
};
const model_ops ewc_ops = {
    .name = "ewc",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = ewc_params,
    .nparams = NP(ewc_params),
    .cost = baseline_cost,
    .init = ewc_model_init,
    .train_block = baseline_train_block,
    .eval_task = baseline_eval,
    .free = baseline_free,
};
