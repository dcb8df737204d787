/* clbase.c — the shared core of the continual-learning baselines (see clbase.h): the MLP
 * classifier (built from the mlp.* keys as finetune's, same Philox streams: init 1,
 * shuffling and teacher-student batches 2, so a method whose extra terms vanish reproduces
 * finetune bit for bit), the block loop with the method hooks for every benchmark kind
 * (classification: per-row heads and cross-entropy; teacher_student: ½·Σ squared error on
 * fresh batches; curves3d: the autoencoder, mean squared error, full batch), evaluation, and
 * the penalty and distillation terms. Called by the model files si/mas/lwf/rehearsal/joint.c only. */
#include "clbase.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void clb_reserve_pool(clb_t *m, int n) {
    if (n <= m->cap_pool) return;
    m->cap_pool = n;
    m->pool_task = xrealloc(m->pool_task, sizeof(int) * (size_t)n);
    m->pool_idx = xrealloc(m->pool_idx, sizeof(int) * (size_t)n);
    m->order = xrealloc(m->order, sizeof(int) * (size_t)n);
}

clb_t *clb_create(const run_config *cfg, const bench_t *b, uint64_t seed, int extra_rows) {
    clb_t *m = xcalloc(1, sizeof *m);
    if (mlp_from_config(&m->net, cfg, b, seed)) {
        free(m);
        return NULL;
    }
    train_resolve(&m->ts, cfg, b);
    rng_init(&m->rng, seed, 2);
    train_optim_init(&m->opt, &m->ts, m->net.nparams);
    m->kind = b->kind;
    m->D = b->in_dim;
    m->C = b->out_dim;
    m->cap = m->ts.batch_size > extra_rows ? m->ts.batch_size : extra_rows;
    size_t cap = (size_t)m->cap;
    m->bx = xmalloc(sizeof(float) * cap * (size_t)m->D);
    m->bt = xmalloc(sizeof(float) * cap * (size_t)m->C);
    m->blab = xcalloc(cap, sizeof(int));
    m->btask = xcalloc(cap, sizeof(int));
    m->bmask = xcalloc(cap, sizeof(int *));
    m->probs = xmalloc(sizeof(float) * cap * (size_t)m->C);
    m->dout = xmalloc(sizeof(float) * cap * (size_t)m->C);
    m->seen = xcalloc((size_t)b->ntasks, sizeof(int));
    return m;
}

void clb_free(model_t *mm) {
    clb_t *m = (clb_t *)mm;
    if (!m) return;
    if (m->h && m->h->free_ext) m->h->free_ext(m);
    mlp_free(&m->net);
    optim_free(&m->opt);
    free(m->bx); free(m->bt); free(m->blab); free(m->btask); free(m->bmask); free(m->probs); free(m->dout);
    free(m->prev); free(m->pool_task); free(m->pool_idx); free(m->order); free(m->seen);
    free(m);
}

void clb_stage(clb_t *m, const bench_t *b, int t, int idx, int r) {
    const task_t *tk = &b->tasks[t];
    memcpy(m->bx + (size_t)r * m->D, tk->x_train + (size_t)idx * m->D, sizeof(float) * (size_t)m->D);
    if (m->kind == BENCH_KIND_RECONSTRUCTION)   /* the target is the input */
        memcpy(m->bt + (size_t)r * m->C, tk->x_train + (size_t)idx * m->C, sizeof(float) * (size_t)m->C);
    else if (tk->y_train)
        m->blab[r] = tk->y_train[idx];
    m->btask[r] = t;
    m->bmask[r] = tk->class_mask;
}

double clb_xent_rows(clb_t *m, const float *out, const int *labels, const int *const *masks,
                     int n, float scale, float *dout) {
    /* Row by row with scale/n and B = 1: the same float factor as one batched call. */
    double loss = 0;
    float s = scale / (float)n;
    for (int r = 0; r < n; r++) {
        const float *o = out + (size_t)r * m->C;
        float *p = m->probs + (size_t)r * m->C;
        loss += softmax_xent_forward(p, o, &labels[r], masks[r], 1, m->C);
        softmax_xent_backward(dout + (size_t)r * m->C, p, &labels[r], masks[r], s, 1, m->C);
    }
    return loss / n;
}

double clb_loss_rows(clb_t *m, const float *out, int n, float scale, float *dout) {
    if (m->kind == BENCH_KIND_CLASSIFICATION)
        return clb_xent_rows(m, out, m->blab, m->bmask, n, scale, dout);
    int half = m->kind == BENCH_KIND_REGRESSION;
    mse_backward(dout, out, m->bt, scale, n, m->C, half);
    return mse_forward(out, m->bt, n, m->C, half);
}

/* One optimiser step on the staged current batch (bs rows). */
static run_status clb_step(clb_t *m, const bench_t *b, int bs) {
    long P = m->net.nparams;
    memset(m->net.grads, 0, sizeof(float) * (size_t)P);
    const float *out = mlp_forward(&m->net, m->bx, bs);
    memset(m->dout, 0, sizeof(float) * (size_t)bs * (size_t)m->C);
    double loss = clb_loss_rows(m, out, bs, 1.0f, m->dout);
    if (m->h->on_forward) loss += m->h->on_forward(m, b, out, bs);
    mlp_backward(&m->net, m->dout, NULL, bs);
    if (m->h->extra_grad) loss += m->h->extra_grad(m, b, bs);
    if (!isfinite(loss)) {
        cls_seterr("non-finite training loss");
        return RUN_STATUS_DIVERGED;
    }
    if (m->h->want_prev) memcpy(m->prev, m->net.params, sizeof(float) * (size_t)P);
    optim_step(&m->opt, m->net.params, m->net.grads);
    if (m->h->after_step) m->h->after_step(m, m->prev);
    return RUN_STATUS_OK;
}

/* Finishes a block: divergence check, end_block hook, the task marked seen. */
static run_status clb_finish_block(clb_t *m, const bench_t *b, int stage, run_status st) {
    if (st != RUN_STATUS_OK) return st;
    if (!all_finite(m->net.params, m->net.nparams)) {
        cls_seterr("non-finite parameters");
        return RUN_STATUS_DIVERGED;
    }
    if (m->h->end_block) m->h->end_block(m, b, stage);
    m->seen[m->task] = 1;
    return RUN_STATUS_OK;
}

/* teacher_student: block_size steps on fresh batches (finetune's stream: m->rng). With
 * m->stream_all (joint), each row comes from a task drawn among those seen so far. */
static run_status clb_train_stream(clb_t *m, const bench_t *b, int stage) {
    if (m->h->want_prev && !m->prev) m->prev = xmalloc(sizeof(float) * (size_t)m->net.nparams);
    if (m->h->begin_block) m->h->begin_block(m, b, stage);
    int B = m->ts.batch_size, ntask = 0;
    int *tasks = xmalloc(sizeof(int) * (size_t)b->ntasks);
    for (int k = 0; k < b->ntasks; k++)
        if (k == m->task || (m->stream_all && m->seen[k])) tasks[ntask++] = k;
    run_status st = RUN_STATUS_OK;
    for (int s = 0; s < b->block_size && st == RUN_STATUS_OK; s++) {
        if (ntask == 1) {
            bench_sample(b, m->task, &m->rng, m->bx, m->bt, B);
            for (int r = 0; r < B; r++) m->btask[r] = m->task;
        } else {
            for (int r = 0; r < B; r++) {
                m->btask[r] = tasks[rng_below(&m->rng, (uint32_t)ntask)];
                bench_sample(b, m->btask[r], &m->rng, m->bx + (size_t)r * m->D,
                             m->bt + (size_t)r * m->C, 1);
            }
        }
        st = clb_step(m, b, B);
        if (st == RUN_STATUS_OK) train_curve_tick((model_t *)m, b);
    }
    free(tasks);
    return clb_finish_block(m, b, stage, st);
}

run_status clb_train_block(model_t *mm, const bench_t *b, int stage) {
    clb_t *m = (clb_t *)mm;
    m->stage = stage;
    m->task = b->stage_task[stage];
    if (b->kind == BENCH_KIND_REGRESSION) return clb_train_stream(m, b, stage);
    const task_t *t = &b->tasks[m->task];
    int n = t->n_train;
    if (n == 0) {
        cls_seterr("task %s has no training examples", t->name);
        return RUN_STATUS_FAILED;
    }
    if (m->h->want_prev && !m->prev) m->prev = xmalloc(sizeof(float) * (size_t)m->net.nparams);
    /* The default pool: the block's own task. begin_block may replace it (joint). */
    clb_reserve_pool(m, n);
    m->npool = n;
    for (int i = 0; i < n; i++) {
        m->pool_task[i] = m->task;
        m->pool_idx[i] = i;
    }
    if (m->h->begin_block) m->h->begin_block(m, b, stage);
    clb_reserve_pool(m, m->npool);
    int B = m->ts.batch_size;
    run_status st = RUN_STATUS_OK;
    for (int e = 0; e < b->block_size && st == RUN_STATUS_OK; e++) {
        for (int i = 0; i < m->npool; i++) m->order[i] = i;
        if (B < m->npool) rng_shuffle(&m->rng, m->order, m->npool);
        for (int i0 = 0; i0 < n && st == RUN_STATUS_OK; i0 += B) {
            int bs = n - i0 < B ? n - i0 : B;
            for (int r = 0; r < bs; r++) {
                int k = m->order[i0 + r];
                clb_stage(m, b, m->pool_task[k], m->pool_idx[k], r);
            }
            st = clb_step(m, b, bs);
            if (st == RUN_STATUS_OK) train_curve_tick((model_t *)m, b);
        }
    }
    return clb_finish_block(m, b, stage, st);
}

double clb_eval(model_t *mm, const bench_t *b, int task) {
    return mlp_eval_task(&((clb_t *)mm)->net, b, task);
}

double clb_cost(const run_config *cfg, double factor) {
    bench_size z;   /* the benchmark's nominal size (bench.h), as finetune's cost uses it */
    if (bench_size_of(cfg, &z)) return factor;
    double blocks = z.nstages, bs = z.block_size;
    if (!z.epochs) return blocks * bs * z.stream_batch * 0.1 * factor;
    if (z.kind == BENCH_KIND_RECONSTRUCTION) return blocks * bs * z.n_train * 0.05 * factor;
    return blocks * bs * z.n_train * factor;
}

/* ---- loss terms ---- */
double quad_penalty(const float *omega, const float *theta, const float *anchor, long n, float c) {
    double s = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)theta[i] - anchor[i];
        s += omega[i] * d * d;
    }
    return c * s;
}

void quad_penalty_grad(float *g, const float *omega, const float *theta, const float *anchor,
                       long n, float c) {
    float c2 = 2.0f * c;
    for (long i = 0; i < n; i++) g[i] += c2 * omega[i] * (theta[i] - anchor[i]);
}

/* Softmax of z/T over the masked classes into p (C; 0 elsewhere); returns log-sum-exp. */
static double soft_t(double *p, const float *z, const int *mask, float T, int C) {
    double mx = -INFINITY;
    for (int c = 0; c < C; c++)
        if ((!mask || mask[c]) && z[c] / T > mx) mx = z[c] / T;
    double s = 0;
    for (int c = 0; c < C; c++) {
        p[c] = (!mask || mask[c]) ? exp(z[c] / T - mx) : 0.0;
        s += p[c];
    }
    for (int c = 0; c < C; c++) p[c] /= s;
    return mx + log(s);
}

double kd_soft_forward(const float *student, const float *teacher, const int *mask, float T,
                       int B, int C) {
    double *ps = xmalloc(sizeof(double) * 2 * (size_t)C), *pt = ps + C;
    double loss = 0;
    for (int b = 0; b < B; b++) {
        const float *s = student + (size_t)b * C, *t = teacher + (size_t)b * C;
        double lse = soft_t(ps, s, mask, T, C);
        soft_t(pt, t, mask, T, C);
        for (int c = 0; c < C; c++)
            if ((!mask || mask[c]) && pt[c] > 0) loss -= pt[c] * (s[c] / T - lse);
    }
    free(ps);
    return (double)T * T * loss / B;
}

void kd_soft_backward(float *dstudent, const float *student, const float *teacher,
                      const int *mask, float T, float scale, int B, int C) {
    double *ps = xmalloc(sizeof(double) * 2 * (size_t)C), *pt = ps + C;
    double k = (double)scale * T / B;
    for (int b = 0; b < B; b++) {
        soft_t(ps, student + (size_t)b * C, mask, T, C);
        soft_t(pt, teacher + (size_t)b * C, mask, T, C);
        float *d = dstudent + (size_t)b * C;
        for (int c = 0; c < C; c++)
            if (!mask || mask[c]) d[c] += (float)(k * (ps[c] - pt[c]));
    }
    free(ps);
}
