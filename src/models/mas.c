/* mas.c — Memory Aware Synapses (Aljundi et al. 2018) on the clbase MLP. After each block,
 * the importance of parameter i on that block's task is the mean over examples x of
 * |∂‖f(x)‖²/∂θ_i|, f(x) the network output (classification: the logits, task-incremental the
 * task's head only; teacher_student: fresh inputs of the task); it is added to the
 * accumulated Ω, and θ* becomes the current parameters. Training adds λ · Σ_i Ω_i (θ_i − θ*_i)².
 * Every benchmark kind; registered in registry.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clbase.h"
#include "util.h"

typedef struct {
    float lambda;
    int samples;
    int have_omega;
    uint64_t seed;
    float *omega, *anchor, *imp;   /* (P) each */
    float *dout;                   /* (C) */
} mas_t;

static double mas_extra_grad(clb_t *m, const bench_t *b, int bs) {
    (void)b; (void)bs;
    mas_t *s = m->ext;
    if (!s->have_omega || s->lambda == 0) return 0;
    long P = m->net.nparams;
    quad_penalty_grad(m->net.grads, s->omega, m->net.params, s->anchor, P, s->lambda);
    return quad_penalty(s->omega, m->net.params, s->anchor, P, s->lambda);
}

static void mas_end_block(clb_t *m, const bench_t *b, int stage) {
    mas_t *s = m->ext;
    const task_t *t = &b->tasks[m->task];
    long P = m->net.nparams;
    int stream = b->kind == BENCH_KIND_REGRESSION;   /* teacher_student: fresh inputs */
    int n = stream ? (s->samples > 0 ? s->samples : 500)
                   : (s->samples > 0 && s->samples < t->n_train ? s->samples : t->n_train);
    rng_t r;
    rng_init(&r, s->seed, 300 + (uint64_t)stage);
    int *idx = NULL;
    if (!stream) {
        idx = xmalloc(sizeof(int) * (size_t)t->n_train);
        for (int i = 0; i < t->n_train; i++) idx[i] = i;
        rng_shuffle(&r, idx, t->n_train);
    }
    memset(s->imp, 0, sizeof(float) * (size_t)P);
    const int *mask = t->class_mask;
    for (int k = 0; k < n; k++) {
        memset(m->net.grads, 0, sizeof(float) * (size_t)P);
        if (stream) bench_sample(b, m->task, &r, m->bx, m->bt, 1);
        const float *x = stream ? m->bx : t->x_train + (size_t)idx[k] * m->D;
        const float *out = mlp_forward(&m->net, x, 1);
        for (int c = 0; c < m->C; c++) s->dout[c] = (!mask || mask[c]) ? 2.0f * out[c] : 0.0f;
        mlp_backward(&m->net, s->dout, NULL, 1);
        for (long i = 0; i < P; i++) s->imp[i] += fabsf(m->net.grads[i]);
    }
    free(idx);
    for (long i = 0; i < P; i++) s->omega[i] += s->imp[i] / (float)n;
    memcpy(s->anchor, m->net.params, sizeof(float) * (size_t)P);
    s->have_omega = 1;
}

static void mas_free_ext(clb_t *m) {
    mas_t *s = m->ext;
    if (!s) return;
    free(s->omega); free(s->anchor); free(s->imp); free(s->dout);
    free(s);
}

static const clb_hooks mas_hooks = {
    .extra_grad = mas_extra_grad, .end_block = mas_end_block, .free_ext = mas_free_ext,
};

static model_t *mas_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    clb_t *m = clb_create(cfg, b, seed, 0);
    if (!m) return NULL;
    mas_t *s = xcalloc(1, sizeof *s);
    long P = m->net.nparams;
    s->lambda = (float)cfg_float(cfg, "mas.lambda");
    s->samples = (int)cfg_int(cfg, "mas.samples");
    s->seed = seed;
    s->omega = xcalloc((size_t)P, sizeof(float));
    s->anchor = xcalloc((size_t)P, sizeof(float));
    s->imp = xcalloc((size_t)P, sizeof(float));
    s->dout = xcalloc((size_t)m->C, sizeof(float));
    m->h = &mas_hooks;
    m->ext = s;
    return (model_t *)m;
}

static double mas_cost(const run_config *cfg) { return clb_cost(cfg, 1.1); }

static const param_spec mas_params[] = {
    TRAIN_PARAM_SPECS, CLB_MLP_PARAM_SPECS, TRAIN_CURVE_PARAM_SPECS,
    {"mas.lambda", PARAM_FLOAT, "1", NULL, 0, 1e12, "MAS penalty strength λ in λ·Σ Ω(θ − θ*)²"},
    {"mas.samples", PARAM_INT, "500", NULL, 0, 1e9,
     "examples of the task for the importance after each block (0 = all; teacher_student: 500)"},
};

const model_ops mas_ops = {
    .name = "mas",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = mas_params,
    .nparams = (int)(sizeof mas_params / sizeof mas_params[0]),
    .cost = mas_cost,
    .init = mas_init,
    .train_block = clb_train_block,
    .eval_task = clb_eval,
    .free = clb_free,
};
