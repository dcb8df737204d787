/* gated.c — linear network with fast, bounded gates (Sandbrink, Bauer, Proca et al. 2024,
 * "Flexible task abstractions emerge in linear networks with fast and bounded units";
 * docs/spec.md §4.4; authors' code aproca/neural_task_abstraction, lcs/joint_learning.py).
 *
 *   y = Σ_p c_p W_p x,   L = ½·mean_batch Σ_out (ŷ − y)² + s·R(c)   (teacher_student)
 *
 * trained by joint Euler steps θ −= (dt/τ)·∇θL with separate timescales τ_w (weights) and
 * τ_c = τ_w / tau_ratio (gates); R is the nonnegativity + L1-manifold gate regulariser
 * (gate_reg_forward in nn.h; R_nonneg weight 1, R_L1 weight gated.l1_weight: 10 as the
 * authors' default configs.py, 5 in their hyper-parameter figure). Training batches come from the run seed's stream 2, as in the
 * baselines, so finetune/ewc see the same batches. On classification benchmarks the same
 * gated layer reads fixed features (gated.features = 64: a frozen, seeded random ReLU
 * projection of the input) with softmax cross-entropy, as in the authors' MNIST variant
 * (lcs_mnist/: step = dt·lr·∇ with dt 0.1, W lr 1e-3, c lr 2, batch 100). curves3d is not
 * supported.
 *
 * Extras: R itself is R_frozen (current gates). "R_adapted" (stage, task): metric after
 * adapt_steps gate-only steps on the evaluated task (weights frozen; the model is restored
 * afterwards). "gates" (stage, path) at each block end. teacher_student only:
 * "switch_time" (stage): steps from the block start until the training loss first drops
 * below 0.1, −1 if it never does; "block_loss" (stage): mean training loss over the block
 * (the area under the post-switch loss curve); "specialisation_stage" (stage) and the final
 * "specialisation": for each teacher the best-matching path (argmax over paths) of |mean
 * row-wise cosine| between teacher and W_p (authors' calc_specialization takes the absolute
 * value), averaged over teachers. Scalars "switch_time_mean" (stages ≥ 1),
 * "switch_time_first" (stage 1) and "switch_time_late" (mean of the last 4 stages): a block
 * that never reaches the threshold counts as block_size (a lower bound). "acc_adapted": mean
 * of the last row of R_adapted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "nn.h"
#include "train.h"
#include "util.h"

#define SWITCH_THRESHOLD 0.1    /* docs/spec.md §4.4: loss below which the switch counts as done */
#define REG_A 1.0f              /* weight of R_nonneg (authors' configs.py) */
#define EVAL_CHUNK 256

typedef struct {
    int P, din, dout;            /* din = feature size on classification */
    int cls;                     /* 1: classification (features + cross-entropy) */
    float s;                     /* regulariser strength */
    float l1w;                   /* weight of R_L1 against R_nonneg's 1 (gated.l1_weight) */
    float lr_w, lr_c;            /* per-step rates: dt/τ_w, dt/τ_c (or dt·lr, classification) */
    int B;                       /* batch */
    int adapt_steps;
    long nw, nparams;            /* nw = P·dout·din; arena = [W | c] */
    float *params;               /* W (P, dout, din) then c (P) */
    float *grads;                /* same layout */
    float *saved;                /* (nparams) snapshot while adapting the gates */
    float *act;                  /* one allocation for the activations below */
    float *x;                    /* (B, din) batch inputs (teacher_student: raw; cls: features) */
    float *y;                    /* (B, dout) regression targets */
    float *out, *dout_;          /* (B, dout) outputs / their gradient */
    float *probs;                /* (max(B, EVAL_CHUNK), dout) softmax / eval outputs */
    float *weff, *g;             /* (dout, din) Σ c_p W_p and its gradient */
    int *blab;                   /* (B) labels */
    /* classification: frozen features of every task's train/test split */
    int nfeat;
    float *feat;                 /* one allocation, carved into ftrain/ftest */
    float **ftrain, **ftest;     /* (ntasks) → (n, nfeat) */
    float *proj;                 /* (nfeat, in_dim) the frozen projection Φ */
    const float **xsrc;          /* (ntasks) the test inputs ftest was computed from */
    float *fscratch;             /* (EVAL_CHUNK, nfeat) features of another test set (the
                                  * anytime curve's subsets), allocated on first use */
    rng_t rng;                   /* training batches */
    uint64_t seed;
    /* teacher_student per-block trajectory statistics, filled by train_block */
    int last_switch;
    double last_block_loss;      /* mean training loss over the block */
} gated_t;

static const param_spec gated_params[] = {
    TRAIN_CURVE_PARAM_SPECS,
    {"gated.paths", PARAM_INT, "2", NULL, 1, 64, "number of gated paths P"},
    {"gated.tau_ratio", PARAM_FLOAT, "43.3333333", NULL, 1e-3, 1e6,
     "gate timescale ratio tau_w/tau_c (default 1.3/0.03; 1 with strength 0 = forgetful control)"},
    {"gated.tau_w", PARAM_FLOAT, "1.3", NULL, 1e-6, 1e6, "weight timescale tau_w (teacher_student)"},
    {"gated.dt", PARAM_FLOAT, "0.001", NULL, 1e-7, 10,
     "Euler step dt (teacher_student; 1000 steps = block duration 1)"},
    {"gated.strength", PARAM_FLOAT, "0.1", NULL, 0, 1e6,
     "gate regulariser strength s (nonnegativity + L1 manifold, weights 1 : l1_weight)"},
    {"gated.l1_weight", PARAM_FLOAT, "10", NULL, 0, 1e6,
     "weight of the L1-manifold term against the nonnegativity term's 1 (authors' default 10; "
     "5 in their hyper-parameter figure)"},
    {"gated.adapt_steps", PARAM_INT, "100", NULL, 0, 1e7,
     "gate-only steps on the evaluated task before measuring R_adapted"},
    {"gated.init_c", PARAM_FLOAT, "0.5", NULL, -1e3, 1e3, "initial value of every gate"},
    {"gated.init_w_std", PARAM_FLOAT, "0.01", NULL, 0, 1e3,
     "initial weight std, divided by sqrt(input size)"},
    {"gated.features", PARAM_INT, "64", NULL, 1, 4096,
     "classification: size of the frozen random ReLU feature layer"},
    {"gated.lr_w", PARAM_FLOAT, "0.001", NULL, 0, 1e6, "classification: W learning rate"},
    {"gated.lr_c", PARAM_FLOAT, "2", NULL, 0, 1e6, "classification: gate learning rate"},
    {"gated.cls_dt", PARAM_FLOAT, "0.1", NULL, 1e-7, 1e3,
     "classification: step = cls_dt * lr * grad (authors' MNIST code, dt 0.1)"},
    {"gated.batch", PARAM_INT, "100", NULL, 1, 1e6, "classification: minibatch size"},
};

static float *W_of(gated_t *m) { return m->params; }
static float *c_of(gated_t *m) { return m->params + m->nw; }

/* ---- classification features ---- */

/* Frozen random features f = relu(Φ x), Φ (nfeat, in_dim) ~ N(0, 2/in_dim), seeded by the
 * run seed; computed once for every example of every task. */
static void features_init(gated_t *m, const bench_t *b, uint64_t seed) {
    int F = m->nfeat, D = b->in_dim;
    long total = 0;
    for (int k = 0; k < b->ntasks; k++) total += (long)(b->tasks[k].n_train + b->tasks[k].n_test) * F;
    float *proj = xmalloc(sizeof(float) * (size_t)F * (size_t)D);   /* (F, D) */
    rng_t r;
    rng_init(&r, seed, 3);
    rng_fill_normal(&r, proj, (long)F * D, 0.0f, sqrtf(2.0f / (float)D));
    m->feat = xmalloc(sizeof(float) * (size_t)(total > 0 ? total : 1));
    m->ftrain = xmalloc(sizeof(float *) * (size_t)b->ntasks * 2);
    m->ftest = m->ftrain + b->ntasks;
    m->xsrc = xmalloc(sizeof(float *) * (size_t)b->ntasks);
    float *p = m->feat;
    for (int k = 0; k < b->ntasks; k++) {
        const task_t *t = &b->tasks[k];
        m->xsrc[k] = t->x_test;
        for (int split = 0; split < 2; split++) {
            int n = split ? t->n_test : t->n_train;
            const float *x = split ? t->x_test : t->x_train;
            (split ? m->ftest : m->ftrain)[k] = p;
            if (n > 0) {
                dense_forward(p, x, proj, NULL, n, D, F);
                act_forward(ACT_RELU, p, p, (long)n * F);
            }
            p += (long)n * F;
        }
    }
    m->proj = proj;
}

/* ---- init / free ---- */

static model_t *gated_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    if (b->kind == BENCH_KIND_RECONSTRUCTION) {
        cls_seterr("gated: curves3d is not supported");
        return NULL;
    }
    gated_t *m = xcalloc(1, sizeof *m);
    m->seed = seed;
    m->cls = b->kind == BENCH_KIND_CLASSIFICATION;
    m->P = (int)cfg_int(cfg, "gated.paths");
    m->s = (float)cfg_float(cfg, "gated.strength");
    m->l1w = (float)cfg_float(cfg, "gated.l1_weight");
    m->adapt_steps = (int)cfg_int(cfg, "gated.adapt_steps");
    m->dout = b->out_dim;
    if (m->cls) {
        m->nfeat = (int)cfg_int(cfg, "gated.features");
        m->din = m->nfeat;
        float dt = (float)cfg_float(cfg, "gated.cls_dt");
        m->lr_w = dt * (float)cfg_float(cfg, "gated.lr_w");
        m->lr_c = dt * (float)cfg_float(cfg, "gated.lr_c");
        m->B = (int)cfg_int(cfg, "gated.batch");
    } else {
        m->din = b->in_dim;
        float dt = (float)cfg_float(cfg, "gated.dt"), tau_w = (float)cfg_float(cfg, "gated.tau_w");
        float tau_c = tau_w / (float)cfg_float(cfg, "gated.tau_ratio");
        m->lr_w = dt / tau_w;
        m->lr_c = dt / tau_c;
        m->B = b->stream_batch;
    }
    int P = m->P, din = m->din, dout = m->dout, B = m->B;
    m->nw = (long)P * dout * din;
    m->nparams = m->nw + P;
    /* params | grads | saved: one allocation for the parameter families */
    m->params = xcalloc((size_t)m->nparams * 3, sizeof(float));
    m->grads = m->params + m->nparams;
    m->saved = m->grads + m->nparams;
    rng_t init_rng;
    rng_init(&init_rng, seed, 1);
    rng_fill_normal(&init_rng, W_of(m), m->nw, 0.0f,
                    (float)cfg_float(cfg, "gated.init_w_std") / sqrtf((float)din));
    float c0 = (float)cfg_float(cfg, "gated.init_c");
    for (int p = 0; p < P; p++) c_of(m)[p] = c0;
    int rows = B > EVAL_CHUNK ? B : EVAL_CHUNK;
    long sizes[7] = {(long)rows * din, (long)B * dout, (long)rows * dout, (long)B * dout,
                     (long)rows * dout, (long)dout * din, (long)dout * din};
    long total = 0;
    for (int i = 0; i < 7; i++) total += sizes[i];
    m->act = xmalloc(sizeof(float) * (size_t)total);
    float *q = m->act;
    float **dst[7] = {&m->x, &m->y, &m->out, &m->dout_, &m->probs, &m->weff, &m->g};
    for (int i = 0; i < 7; i++) {
        *dst[i] = q;
        q += sizes[i];
    }
    m->blab = xmalloc(sizeof(int) * (size_t)rows);
    if (m->cls) features_init(m, b, seed);
    rng_init(&m->rng, seed, 2);
    return (model_t *)m;
}

static void gated_free(model_t *mm) {
    gated_t *m = (gated_t *)mm;
    if (!m) return;
    free(m->params);
    free(m->act);
    free(m->blab);
    free(m->feat);
    free(m->ftrain);
    free(m->proj);
    free(m->xsrc);
    free(m->fscratch);
    free(m);
}

/* ---- one step ---- */

/* Stages the training examples idx[0..bs) of task as a classification batch. */
static void stage_cls(gated_t *m, const bench_t *b, int task, const int *idx, int bs) {
    const task_t *t = &b->tasks[task];
    for (int r = 0; r < bs; r++) {
        memcpy(m->x + (size_t)r * m->din, m->ftrain[task] + (size_t)idx[r] * m->din,
               sizeof(float) * (size_t)m->din);
        m->blab[r] = t->y_train[idx[r]];
    }
}

/* Loss (without the regulariser) of the staged batch and, into grads, the gradient of the
 * full loss including s·R(c). */
static float loss_grad(gated_t *m, const bench_t *b, int task, int bs) {
    int P = m->P, din = m->din, dout = m->dout;
    memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    gated_linear_forward(m->out, m->weff, m->x, W_of(m), c_of(m), bs, P, din, dout);
    memset(m->dout_, 0, sizeof(float) * (size_t)bs * (size_t)dout);
    float loss;
    if (m->cls) {
        const int *mask = b->tasks[task].class_mask;
        loss = softmax_xent_forward(m->probs, m->out, m->blab, mask, bs, dout);
        softmax_xent_backward(m->dout_, m->probs, m->blab, mask, 1.0f, bs, dout);
    } else {
        loss = mse_forward(m->out, m->y, bs, dout, 1);
        mse_backward(m->dout_, m->out, m->y, 1.0f, bs, dout, 1);
    }
    gated_linear_backward(NULL, m->grads, m->grads + m->nw, m->g, m->dout_, m->x, W_of(m),
                          c_of(m), m->weff, bs, P, din, dout);
    if (m->s != 0.0f) gate_reg_backward(m->grads + m->nw, c_of(m), m->s, P, REG_A, m->l1w);
    return loss;
}

/* Euler step on the staged batch: c always, W unless gates_only. Returns the batch loss. */
static float euler_step(gated_t *m, const bench_t *b, int task, int bs, int gates_only) {
    float loss = loss_grad(m, b, task, bs);
    if (!gates_only) {
        float *W = W_of(m);
        for (long i = 0; i < m->nw; i++) W[i] -= m->lr_w * m->grads[i];
    }
    float *c = c_of(m);
    for (int p = 0; p < m->P; p++) c[p] -= m->lr_c * m->grads[m->nw + p];
    return loss;
}

/* Draws the next training batch of task into x/y/blab from r. */
static void draw_batch(gated_t *m, const bench_t *b, int task, rng_t *r, int *idx) {
    if (!m->cls) {
        bench_sample(b, task, r, m->x, m->y, m->B);
        return;
    }
    int n = b->tasks[task].n_train;
    for (int i = 0; i < m->B; i++) idx[i] = (int)rng_below(r, (uint32_t)n);
    stage_cls(m, b, task, idx, m->B);
}

static run_status gated_train_block(model_t *mm, const bench_t *b, int stage) {
    gated_t *m = (gated_t *)mm;
    int task = b->stage_task[stage];
    m->last_switch = -1;
    m->last_block_loss = NAN;
    if (!m->cls) {
        double acc = 0;
        for (int s = 0; s < b->block_size; s++) {
            bench_sample(b, task, &m->rng, m->x, m->y, m->B);
            float loss = euler_step(m, b, task, m->B, 0);
            if (!isfinite(loss)) {
                cls_seterr("non-finite training loss at step %d", s);
                return RUN_STATUS_DIVERGED;
            }
            if (m->last_switch < 0 && loss < SWITCH_THRESHOLD) m->last_switch = s;
            acc += loss;
            train_curve_tick(mm, b);   /* anytime curve: a step = one Euler step */
        }
        m->last_block_loss = acc / b->block_size;
    } else {
        const task_t *t = &b->tasks[task];
        int n = t->n_train;
        if (n == 0) {
            cls_seterr("task %s has no training examples", t->name);
            return RUN_STATUS_FAILED;
        }
        int *order = xmalloc(sizeof(int) * (size_t)n);
        run_status st = RUN_STATUS_OK;
        for (int e = 0; e < b->block_size && st == RUN_STATUS_OK; e++) {
            for (int i = 0; i < n; i++) order[i] = i;
            rng_shuffle(&m->rng, order, n);
            for (int i0 = 0; i0 < n; i0 += m->B) {
                int bs = n - i0 < m->B ? n - i0 : m->B;
                stage_cls(m, b, task, order + i0, bs);
                if (!isfinite(euler_step(m, b, task, bs, 0))) {
                    cls_seterr("non-finite training loss");
                    st = RUN_STATUS_DIVERGED;
                    break;
                }
                train_curve_tick(mm, b);   /* a step = one minibatch Euler step */
            }
        }
        free(order);
        if (st != RUN_STATUS_OK) return st;
    }
    if (!all_finite(m->params, m->nparams)) {
        cls_seterr("non-finite parameters");
        return RUN_STATUS_DIVERGED;
    }
    return RUN_STATUS_OK;
}

/* ---- evaluation ---- */

/* Classification reads the cached features of the task's test set; a test set other than
 * the one they were computed from (the anytime curve's subset, curve.c) gets its features
 * computed chunk by chunk with the same frozen projection. */
static double gated_eval(model_t *mm, const bench_t *b, int task) {
    gated_t *m = (gated_t *)mm;
    const task_t *t = &b->tasks[task];
    const int cached = m->cls && t->x_test == m->xsrc[task];
    const float *X = cached ? m->ftest[task] : t->x_test;
    double total = 0;
    for (int i0 = 0; i0 < t->n_test; i0 += EVAL_CHUNK) {
        int bs = t->n_test - i0 < EVAL_CHUNK ? t->n_test - i0 : EVAL_CHUNK;
        const float *xin = X + (size_t)i0 * m->din;
        if (m->cls && !cached) {
            if (!m->fscratch) m->fscratch = xmalloc(sizeof(float) * EVAL_CHUNK * (size_t)m->din);
            dense_forward(m->fscratch, t->x_test + (size_t)i0 * b->in_dim, m->proj, NULL, bs,
                          b->in_dim, m->din);
            act_forward(ACT_RELU, m->fscratch, m->fscratch, (long)bs * m->din);
            xin = m->fscratch;
        }
        gated_linear_forward(m->probs, m->weff, xin, W_of(m), c_of(m), bs, m->P, m->din,
                             m->dout);
        if (m->cls)
            total += accuracy_of(m->probs, t->y_test + i0, t->class_mask, bs, m->dout) * bs;
        else
            total += (double)mse_forward(m->probs, t->t_test + (size_t)i0 * m->dout, bs, m->dout, 1) * bs;
    }
    return t->n_test ? total / t->n_test : NAN;
}

/* Metric of task after adapt_steps gate-only Euler steps on it; the model is restored. The
 * batches come from a stream of their own, so R_adapted never perturbs training. */
static double adapted_metric(gated_t *m, const bench_t *b, int stage, int task) {
    if (m->cls && b->tasks[task].n_train == 0) return NAN;
    memcpy(m->saved, m->params, sizeof(float) * (size_t)m->nparams);
    rng_t r;
    rng_init(&r, m->seed ^ 0xADA97ED5EEDULL, (uint64_t)stage * (uint64_t)b->ntasks + (uint64_t)task);
    int *idx = m->cls ? xmalloc(sizeof(int) * (size_t)m->B) : NULL;
    double v = NAN;
    int ok = 1;
    for (int s = 0; s < m->adapt_steps && ok; s++) {
        draw_batch(m, b, task, &r, idx);
        ok = isfinite(euler_step(m, b, task, m->B, 1));
    }
    if (ok) v = gated_eval((model_t *)m, b, task);
    free(idx);
    memcpy(m->params, m->saved, sizeof(float) * (size_t)m->nparams);
    return v;
}

/* Mean over rows i of cos(a_i, b_i); a, b (rows, cols). */
static double rowwise_cosine(const float *a, const float *b, int rows, int cols) {
    double s = 0;
    for (int i = 0; i < rows; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < cols; j++) {
            double x = a[i * cols + j], y = b[i * cols + j];
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        s += aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
    }
    return s / rows;
}

static double specialisation(gated_t *m, const bench_t *b) {
    double tot = 0;
    for (int k = 0; k < b->ntasks; k++) {
        double best = 0;
        for (int p = 0; p < m->P; p++) {
            double c = fabs(rowwise_cosine(b->tasks[k].teacher, W_of(m) + p * (long)m->dout * m->din,
                                           m->dout, m->din));
            if (c > best) best = c;
        }
        tot += best;
    }
    return tot / b->ntasks;
}

static void gated_after_stage(model_t *mm, const bench_t *b, int stage, run_result *res) {
    gated_t *m = (gated_t *)mm;
    int S = b->nstages, T = b->ntasks;
    double *gates = result_array(res, "gates", "gate values c_p at the end of each block",
                                 "stage", S, "path", m->P);
    for (int p = 0; p < m->P; p++) gates[(long)stage * m->P + p] = c_of(m)[p];
    double *ra = result_array(res, "R_adapted",
                              "metric after adapt_steps gate-only steps on the evaluated task",
                              "stage", S, "task", T);
    for (int t = 0; t < T; t++) ra[(long)stage * T + t] = adapted_metric(m, b, stage, t);
    if (m->cls) return;
    double *sw = result_array(res, "switch_time",
                              "steps from block start until training loss < 0.1 (-1: never)",
                              "stage", S, NULL, 0);
    sw[stage] = m->last_switch;
    double *sl = result_array(res, "block_loss", "mean training loss over the block",
                              "stage", S, NULL, 0);
    sl[stage] = m->last_block_loss;
    double *sp = result_array(res, "specialisation_stage",
                              "teacher-path |row-wise cosine|, best path per teacher, mean",
                              "stage", S, NULL, 0);
    sp[stage] = specialisation(m, b);
}

/* Summaries of the per-stage extras. Every value is read before any scalar is added: adding
 * an extra may move res->extra, so pointers from result_find do not survive it. */
static void gated_report(model_t *mm, const bench_t *b, run_result *res) {
    gated_t *m = (gated_t *)mm;
    int S = b->nstages, T = b->ntasks;
    const result_extra *ra = result_find(res, "R_adapted");
    double acc_adapted = NAN;
    if (ra) {
        acc_adapted = 0;
        for (int t = 0; t < T; t++) acc_adapted += ra->data[(long)(S - 1) * T + t] / T;
    }
    double mean = NAN, first = NAN, late = NAN;
    const result_extra *sw = m->cls ? NULL : result_find(res, "switch_time");
    if (sw && S >= 2) {
        /* never reaching the threshold counts as the whole block: a lower bound */
        int nlate = S - 1 < 4 ? S - 1 : 4;
        mean = late = 0;
        for (int s = 1; s < S; s++) {
            double v = sw->data[s] < 0 ? b->block_size : sw->data[s];
            mean += v / (S - 1);
            if (s >= S - nlate) late += v / nlate;
            if (s == 1) first = v;
        }
    }
    if (ra) result_set_scalar(res, "acc_adapted", "mean of the last row of R_adapted", acc_adapted);
    if (m->cls) return;
    result_set_scalar(res, "specialisation",
                      "final teacher-path |row-wise cosine| (best path per teacher, mean)",
                      specialisation(m, b));
    if (isnan(mean)) return;
    result_set_scalar(res, "switch_time_mean",
                      "mean switch time, stages >= 1 (never reached counts as block_size)", mean);
    result_set_scalar(res, "switch_time_first",
                      "switch time of stage 1 (never reached counts as block_size)", first);
    result_set_scalar(res, "switch_time_late",
                      "mean switch time, last 4 stages (never reached counts as block_size)", late);
}

/* Relative cost in the units of the baselines (baselines.c: one teacher-student step of
 * their MLP = 20 units ≈ 1.4 ms; one classification example of the 784-256-256 MLP = 1 unit
 * ≈ 270k multiply-adds). A teacher-student Euler step here is dominated by drawing the batch
 * (batch·din normals and the teacher product), measured at ≈ 1.8 units for the defaults;
 * R_adapted adds adapt_steps gate-only steps per (stage, task). */
static double gated_cost(const run_config *cfg) {
    bench_size z;
    if (bench_size_of(cfg, &z)) return 1.0;
    double blocks = z.nstages, bs = z.block_size;
    double adapt = (double)cfg_int(cfg, "gated.adapt_steps");
    double P = (double)cfg_int(cfg, "gated.paths");
    if (z.kind == BENCH_KIND_REGRESSION) {
        double din = (double)cfg_int(cfg, "benchmark.d_in"), dout = (double)cfg_int(cfg, "benchmark.d_out");
        double step = 1.3e-4 * z.stream_batch * din * (1.0 + 0.25 * dout) + 1e-4 * P * din * dout;
        return blocks * (bs + z.ntasks * adapt) * step;
    }
    double F = (double)cfg_int(cfg, "gated.features");
    double n = z.n_train;
    double per_example = 3.0 * P * F * 20 / 270000.0;   /* forward + backward of the head */
    double features = 784.0 * F / 270000.0;            /* once per example */
    double batch = (double)cfg_int(cfg, "gated.batch");
    return blocks * (n * features + bs * n * per_example + 2 * adapt * batch * per_example);
}

/* gated trains by Euler steps of its gradient flow: on teacher_student dt/tau_w per step with
 * a fresh batch of benchmark.batch, on classification cls_dt·lr_w with gated.batch. */
static void gated_budget(const run_config *cfg, train_budget *out) {
    bench_size z;
    if (bench_size_of(cfg, &z) == 0 && z.kind == BENCH_KIND_REGRESSION)
        train_budget_fill(out, cfg, "euler", cfg_float(cfg, "gated.dt") / cfg_float(cfg, "gated.tau_w"),
                          z.stream_batch);
    else
        train_budget_fill(out, cfg, "euler",
                          cfg_float(cfg, "gated.cls_dt") * cfg_float(cfg, "gated.lr_w"),
                          (int)cfg_int(cfg, "gated.batch"));
}

#define NP(a) (int)(sizeof a / sizeof a[0])
/* Weight-space analysis (model.h weights hook): for each task, the gates are first adapted to
 * it (gate-only steps, as for R_adapted, on their own seeded stream); each row is then the
 * per-path contributions c_p·W_p·x of one probe input followed by the P gate values. Paths
 * that specialise make the rows of different tasks separate. Parameters are restored. */
static float *gated_weights(model_t *mm, const bench_t *b, int spt, int *rows, int *cols,
                            int **row_task) {
    gated_t *m = (gated_t *)mm;
    int per = spt < m->B ? spt : m->B;
    int T = b->ntasks, C = m->P * m->dout + m->P;
    if (per < 1) return NULL;
    float *out = xmalloc(sizeof(float) * (size_t)T * (size_t)per * (size_t)C);
    int *task = xmalloc(sizeof(int) * (size_t)T * (size_t)per);
    int *idx = m->cls ? xmalloc(sizeof(int) * (size_t)m->B) : NULL;
    int r = 0;
    for (int t = 0; t < T; t++) {
        if (m->cls && b->tasks[t].n_train == 0) continue;
        memcpy(m->saved, m->params, sizeof(float) * (size_t)m->nparams);
        rng_t rr;
        rng_init(&rr, m->seed ^ 0x3E16475EEDULL, (uint64_t)t);
        draw_batch(m, b, t, &rr, idx);
        for (int s = 0; s < m->adapt_steps; s++) {
            euler_step(m, b, t, m->B, 1);
            draw_batch(m, b, t, &rr, idx);
        }
        const float *W = W_of(m), *c = c_of(m);
        for (int i = 0; i < per; i++, r++) {
            float *row = out + (size_t)r * C;
            const float *x = m->x + (size_t)i * m->din;
            for (int p = 0; p < m->P; p++)
                for (int o = 0; o < m->dout; o++) {
                    const float *w = W + ((size_t)p * m->dout + o) * m->din;
                    float acc = 0;
                    for (int k = 0; k < m->din; k++) acc += w[k] * x[k];
                    row[p * m->dout + o] = c[p] * acc;
                }
            for (int p = 0; p < m->P; p++) row[m->P * m->dout + p] = c[p];
            task[r] = t;
        }
        memcpy(m->params, m->saved, sizeof(float) * (size_t)m->nparams);
    }
    free(idx);
    if (r == 0) {
        free(out);
        free(task);
        return NULL;
    }
    *rows = r;
    *cols = C;
    *row_task = task;
    return out;
}

/* The gate timescales and Euler step are teacher-student settings; the feature layer,
 * learning rates, step scale and batch are classification settings (gated_init). */
static int gated_reads_key(const char *key, unsigned kind) {
    static const char *const ts_only[] = {"gated.tau_ratio", "gated.tau_w", "gated.dt"};
    static const char *const cls_only[] = {"gated.features", "gated.lr_w", "gated.lr_c",
                                           "gated.cls_dt", "gated.batch"};
    for (int i = 0; i < NP(ts_only); i++)
        if (!strcmp(key, ts_only[i])) return (kind & BENCH_KIND_REGRESSION) != 0;
    for (int i = 0; i < NP(cls_only); i++)
        if (!strcmp(key, cls_only[i])) return (kind & BENCH_KIND_CLASSIFICATION) != 0;
    return 1;
}

/* model.h accepts hook: classification (frozen random features of every example) or the
 * teacher-student stream; the paths' weights P·dout·din and the feature cache must fit in
 * GATED_MAX_GIB, else the run is unsupported with the size in the reason. */
#define GATED_MAX_GIB 8.0
static const char *gated_accepts(const bench_t *b, const run_config *cfg) {
    static char why[256];
    if (b->kind == BENCH_KIND_RECONSTRUCTION) return "gated does not reconstruct (curves3d)";
    if (b->in_dim < 1 || b->out_dim < 1) return "gated needs inputs and outputs (in_dim, out_dim >= 1)";
    if (b->kind == BENCH_KIND_REGRESSION && b->stream_batch < 1)
        return "gated's teacher-student training needs a stream batch >= 1";
    const char *ps = cfg ? cfg_get(cfg, "gated.paths") : NULL, *fs = cfg ? cfg_get(cfg, "gated.features") : NULL;
    double P = ps ? atof(ps) : 2, F = fs ? atof(fs) : 64;
    double din = b->kind == BENCH_KIND_CLASSIFICATION ? F : b->in_dim, n = 0;
    if (b->kind == BENCH_KIND_CLASSIFICATION) {
        for (int k = 0; k < b->ntasks; k++) n += b->tasks[k].n_train + b->tasks[k].n_test;
        n = n * F + F * b->in_dim;
    }
    double gib = (3.0 * P * b->out_dim * din + n) * sizeof(float) / 1073741824.0;
    if (gib > GATED_MAX_GIB) {
        snprintf(why, sizeof why, "gated would need %.1f GiB (%.0f paths × %d outputs × %.0f "
                 "inputs, plus features) — over %.0f GiB; lower gated.features or gated.paths",
                 gib, P, b->out_dim, din, GATED_MAX_GIB);
        return why;
    }
    return NULL;
}

const model_ops gated_ops = {
    .name = "gated",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION,
    .params = gated_params,
    .nparams = NP(gated_params),
    .cost = gated_cost,
    .budget = gated_budget,
    .accepts = gated_accepts,
    .init = gated_init,
    .train_block = gated_train_block,
    .eval_task = gated_eval,
    .after_stage = gated_after_stage,
    .report = gated_report,
    .free = gated_free,
    .weights = gated_weights,
    .reads_key = gated_reads_key,
};
