/* rehearsal.c — the rehearsal baselines on the clbase MLP, sharing one reservoir buffer
 * (replay.h; capacity replay.buffer_size, replay.batch_size examples drawn per step):
 *   er    — experience replay: after each block its task's training set is offered to the
 *           reservoir (in a Philox order); each step adds the cross-entropy of a buffer batch,
 *           weighted as van de Ven et al.'s code: loss = (1/n)·CE(current) + (1 − 1/n)·CE(buffer),
 *           n the number of distinct tasks trained so far including the current one;
 *   agem  — Averaged GEM (Chaudhry et al. 2019), buffer filled as er's: g the gradient of the
 *           current batch, g_ref that of a buffer batch; if gᵀg_ref < 0 the step uses
 *           g − (gᵀg_ref / g_refᵀg_ref)·g_ref;
 *   derpp — Dark Experience Replay++ (Buzzega et al. 2020): every training example is offered
 *           to the reservoir with its logits at that step; each step adds
 *           α·MSE(f(x'), z') + β·CE(f(x''), y'') on two independent buffer batches
 *           (MSE the mean over batch and logits, as PyTorch's mse_loss).
 * A replayed example keeps its own task's head (task-incremental). Classification benchmarks;
 * registered in registry.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clbase.h"
#include "replay.h"
#include "util.h"

enum { RH_ER, RH_AGEM, RH_DERPP };

typedef struct {
    int kind;
    int rbs;                 /* replay batch */
    float alpha, beta;       /* derpp */
    uint64_t seed;
    replay_buf buf;
    rng_t draw;              /* buffer batches (stream 3) */
    int *idx;                /* (rbs) */
    float *z;                /* (rbs, C) derpp logit targets */
    float *gcur;             /* (P) agem: the current gradient */
    long steps, projected;   /* agem statistics */
    double min_cos;          /* agem: smallest cos(g_projected, g_ref) seen */
} rh_t;

/* Stages min(rbs, size) buffer examples into the clbase staging rows; returns the count. */
static int stage_buffer(clb_t *m, const bench_t *b, rh_t *s) {
    int n = replay_sample(&s->buf, &s->draw, s->rbs, s->idx);
    for (int r = 0; r < n; r++) {
        int k = s->idx[r];
        memcpy(m->bx + (size_t)r * m->D, s->buf.x + (size_t)k * m->D, sizeof(float) * (size_t)m->D);
        m->blab[r] = s->buf.y[k];
        m->btask[r] = s->buf.task[k];
        m->bmask[r] = clb_mask(b, s->buf.task[k]);
        if (s->z) memcpy(s->z + (size_t)r * m->C, s->buf.logits + (size_t)k * m->C, sizeof(float) * (size_t)m->C);
    }
    return n;
}

/* Forward + cross-entropy backward of the staged buffer rows with weight w. */
static double replay_xent(clb_t *m, int n, float w) {
    const float *out = mlp_forward(&m->net, m->bx, n);
    memset(m->dout, 0, sizeof(float) * (size_t)n * (size_t)m->C);
    double l = clb_xent_rows(m, out, m->blab, m->bmask, n, w, m->dout);
    mlp_backward(&m->net, m->dout, NULL, n);
    return w * l;
}

static int tasks_so_far(const clb_t *m, const bench_t *b) {
    int n = 1;
    for (int k = 0; k < b->ntasks; k++) n += m->seen[k] && k != m->task;
    return n;
}

static double er_extra(clb_t *m, const bench_t *b, rh_t *s) {
    int nt = tasks_so_far(m, b);
    if (nt < 2 || s->buf.size == 0) return 0;
    float rnt = 1.0f / (float)nt;
    long P = m->net.nparams;
    for (long i = 0; i < P; i++) m->net.grads[i] *= rnt;
    int n = stage_buffer(m, b, s);
    return replay_xent(m, n, 1.0f - rnt);
}

static double agem_extra(clb_t *m, const bench_t *b, rh_t *s) {
    if (s->buf.size == 0) return 0;
    long P = m->net.nparams;
    memcpy(s->gcur, m->net.grads, sizeof(float) * (size_t)P);
    memset(m->net.grads, 0, sizeof(float) * (size_t)P);
    int n = stage_buffer(m, b, s);
    replay_xent(m, n, 1.0f);
    double dot = agem_project(s->gcur, m->net.grads, P);
    s->steps++;
    if (dot < 0) s->projected++;
    double gg = 0, rr = 0, after = 0;
    for (long i = 0; i < P; i++) {
        gg += (double)s->gcur[i] * s->gcur[i];
        rr += (double)m->net.grads[i] * m->net.grads[i];
        after += (double)s->gcur[i] * m->net.grads[i];
    }
    if (gg > 0 && rr > 0) {
        double cs = after / sqrt(gg * rr);
        if (cs < s->min_cos) s->min_cos = cs;
    }
    memcpy(m->net.grads, s->gcur, sizeof(float) * (size_t)P);
    return 0;
}

static double derpp_extra(clb_t *m, const bench_t *b, rh_t *s) {
    if (s->buf.size == 0) return 0;
    double loss = 0;
    int n = stage_buffer(m, b, s);
    const float *out = mlp_forward(&m->net, m->bx, n);
    memset(m->dout, 0, sizeof(float) * (size_t)n * (size_t)m->C);
    loss += s->alpha * mse_forward(out, s->z, n, m->C, 0);
    mse_backward(m->dout, out, s->z, s->alpha, n, m->C, 0);
    mlp_backward(&m->net, m->dout, NULL, n);
    n = stage_buffer(m, b, s);
    return loss + replay_xent(m, n, s->beta);
}

static double rh_extra_grad(clb_t *m, const bench_t *b, int bs) {
    (void)bs;
    rh_t *s = m->ext;
    if (s->kind == RH_ER) return er_extra(m, b, s);
    if (s->kind == RH_AGEM) return agem_extra(m, b, s);
    return derpp_extra(m, b, s);
}

/* derpp: offer the current batch with its logits before the step. */
static double derpp_on_forward(clb_t *m, const bench_t *b, const float *out, int bs) {
    (void)b;
    rh_t *s = m->ext;
    for (int r = 0; r < bs; r++)
        replay_offer(&s->buf, m->bx + (size_t)r * m->D, m->blab[r], m->btask[r], out + (size_t)r * m->C);
    return 0;
}

/* er, agem: offer the block's task after the block. */
static void rh_end_block(clb_t *m, const bench_t *b, int stage) {
    rh_t *s = m->ext;
    const task_t *t = &b->tasks[m->task];
    int *order = xmalloc(sizeof(int) * (size_t)t->n_train);
    for (int i = 0; i < t->n_train; i++) order[i] = i;
    rng_t r;
    rng_init(&r, s->seed, 400 + (uint64_t)stage);
    rng_shuffle(&r, order, t->n_train);
    for (int i = 0; i < t->n_train; i++)
        replay_offer(&s->buf, t->x_train + (size_t)order[i] * m->D, t->y_train[order[i]], m->task, NULL);
    free(order);
}

static void rh_free_ext(clb_t *m) {
    rh_t *s = m->ext;
    if (!s) return;
    replay_free(&s->buf);
    free(s->idx); free(s->z); free(s->gcur);
    free(s);
}

static const clb_hooks er_hooks = {
    .extra_grad = rh_extra_grad, .end_block = rh_end_block, .free_ext = rh_free_ext,
};
static const clb_hooks derpp_hooks = {
    .on_forward = derpp_on_forward, .extra_grad = rh_extra_grad, .free_ext = rh_free_ext,
};

static model_t *rh_init(const run_config *cfg, const bench_t *b, uint64_t seed, int kind) {
    int rbs = (int)cfg_int(cfg, "replay.batch_size");
    if (rbs <= 0) {
        train_settings ts;
        train_resolve(&ts, cfg, b);
        rbs = ts.batch_size;
    }
    clb_t *m = clb_create(cfg, b, seed, rbs);
    if (!m) return NULL;
    rh_t *s = xcalloc(1, sizeof *s);
    s->kind = kind;
    s->rbs = rbs;
    s->seed = seed;
    s->min_cos = 1.0;
    replay_init(&s->buf, (int)cfg_int(cfg, "replay.buffer_size"), m->D,
                kind == RH_DERPP ? m->C : 0, seed, 4);
    rng_init(&s->draw, seed, 3);
    s->idx = xmalloc(sizeof(int) * (size_t)rbs);
    if (kind == RH_DERPP) {
        s->alpha = (float)cfg_float(cfg, "derpp.alpha");
        s->beta = (float)cfg_float(cfg, "derpp.beta");
        s->z = xmalloc(sizeof(float) * (size_t)rbs * (size_t)m->C);
    }
    if (kind == RH_AGEM) s->gcur = xmalloc(sizeof(float) * (size_t)m->net.nparams);
    m->h = kind == RH_DERPP ? &derpp_hooks : &er_hooks;
    m->ext = s;
    return (model_t *)m;
}

static model_t *er_init(const run_config *c, const bench_t *b, uint64_t seed) { return rh_init(c, b, seed, RH_ER); }
static model_t *agem_init(const run_config *c, const bench_t *b, uint64_t seed) { return rh_init(c, b, seed, RH_AGEM); }
static model_t *derpp_init(const run_config *c, const bench_t *b, uint64_t seed) { return rh_init(c, b, seed, RH_DERPP); }

static void agem_report(model_t *mm, const bench_t *b, run_result *res) {
    (void)b;
    rh_t *s = ((clb_t *)mm)->ext;
    result_set_scalar(res, "agem_projected", "fraction of A-GEM steps with g.g_ref < 0 (projected)",
                      s->steps ? (double)s->projected / (double)s->steps : NAN);
    result_set_scalar(res, "agem_min_cos", "min over steps of cos(g after projection, g_ref) (>= 0)",
                      s->steps ? s->min_cos : NAN);
}

static double er_cost(const run_config *cfg) { return clb_cost(cfg, 2.0); }
static double derpp_cost(const run_config *cfg) { return clb_cost(cfg, 3.0); }

static const param_spec er_params[] = {TRAIN_PARAM_SPECS, CLB_MLP_PARAM_SPECS, CLB_REPLAY_PARAM_SPECS,
                                       TRAIN_CURVE_PARAM_SPECS};
static const param_spec derpp_params[] = {
    TRAIN_PARAM_SPECS, CLB_MLP_PARAM_SPECS, CLB_REPLAY_PARAM_SPECS, TRAIN_CURVE_PARAM_SPECS,
    {"derpp.alpha", PARAM_FLOAT, "0.5", NULL, 0, 1e6, "DER++ weight α of the logit MSE on the buffer"},
    {"derpp.beta", PARAM_FLOAT, "0.5", NULL, 0, 1e6, "DER++ weight β of the label CE on the buffer"},
};

#define NP(a) (int)(sizeof a / sizeof a[0])
const model_ops er_ops = {
    .name = "er", .kinds = BENCH_KIND_CLASSIFICATION, .params = er_params, .nparams = NP(er_params),
    .cost = er_cost, .init = er_init, .train_block = clb_train_block, .eval_task = clb_eval,
    .free = clb_free,
};
const model_ops agem_ops = {
    .name = "agem", .kinds = BENCH_KIND_CLASSIFICATION, .params = er_params, .nparams = NP(er_params),
    .cost = er_cost, .init = agem_init, .train_block = clb_train_block, .eval_task = clb_eval,
    .report = agem_report, .free = clb_free,
};
const model_ops derpp_ops = {
    .name = "derpp", .kinds = BENCH_KIND_CLASSIFICATION, .params = derpp_params,
    .nparams = NP(derpp_params), .cost = derpp_cost, .init = derpp_init,
    .train_block = clb_train_block, .eval_task = clb_eval, .free = clb_free,
};
