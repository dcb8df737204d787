/* si.c — Synaptic Intelligence (Zenke, Poole & Ganguli 2017) on the clbase MLP, the variant
 * of van de Ven et al.'s reference code: during a block, the path integral
 * ω_i += −g_i · Δθ_i after every optimiser step (g the gradient of the total loss that step,
 * Δθ the step's parameter change); at the end of the block Ω_i += ω_i / ((θ_i − θ*_i)² + ξ)
 * with θ* the parameters at the start of the block, which then become the new anchor θ*.
 * Training adds c · Σ_i Ω_i (θ_i − θ*_i)². Every benchmark kind (finetune's network and loss
 * per kind); registered in src/models/registry.c. */
#include <stdlib.h>
#include <string.h>

#include "clbase.h"
#include "util.h"

typedef struct {
    float c, xi;
    int have_omega;
    float *omega, *w, *anchor;   /* (P) each */
} si_t;

static double si_extra_grad(clb_t *m, const bench_t *b, int bs) {
    (void)b; (void)bs;
    si_t *s = m->ext;
    if (!s->have_omega || s->c == 0) return 0;
    long P = m->net.nparams;
    quad_penalty_grad(m->net.grads, s->omega, m->net.params, s->anchor, P, s->c);
    return quad_penalty(s->omega, m->net.params, s->anchor, P, s->c);
}

static void si_after_step(clb_t *m, const float *prev) {
    si_t *s = m->ext;
    const float *g = m->net.grads, *p = m->net.params;
    for (long i = 0; i < m->net.nparams; i++) s->w[i] -= g[i] * (p[i] - prev[i]);
}

static void si_begin_block(clb_t *m, const bench_t *b, int stage) {
    (void)b; (void)stage;
    si_t *s = m->ext;
    memset(s->w, 0, sizeof(float) * (size_t)m->net.nparams);
}

static void si_end_block(clb_t *m, const bench_t *b, int stage) {
    (void)b; (void)stage;
    si_t *s = m->ext;
    const float *p = m->net.params;
    for (long i = 0; i < m->net.nparams; i++) {
        float d = p[i] - s->anchor[i];
        s->omega[i] += s->w[i] / (d * d + s->xi);
        s->anchor[i] = p[i];
    }
    s->have_omega = 1;
}

static void si_free_ext(clb_t *m) {
    si_t *s = m->ext;
    if (!s) return;
    free(s->omega); free(s->w); free(s->anchor);
    free(s);
}

static const clb_hooks si_hooks = {
    .begin_block = si_begin_block, .extra_grad = si_extra_grad, .after_step = si_after_step,
    .end_block = si_end_block, .free_ext = si_free_ext, .want_prev = 1,
};

static model_t *si_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    clb_t *m = clb_create(cfg, b, seed, 0);
    if (!m) return NULL;
    si_t *s = xcalloc(1, sizeof *s);
    long P = m->net.nparams;
    s->c = (float)cfg_float(cfg, "si.c");
    s->xi = (float)cfg_float(cfg, "si.xi");
    s->omega = xcalloc((size_t)P, sizeof(float));
    s->w = xcalloc((size_t)P, sizeof(float));
    s->anchor = xmalloc(sizeof(float) * (size_t)P);
    memcpy(s->anchor, m->net.params, sizeof(float) * (size_t)P);   /* θ at the start */
    m->h = &si_hooks;
    m->ext = s;
    return (model_t *)m;
}

static double si_cost(const run_config *cfg) { return clb_cost(cfg, 1.1); }

static const param_spec si_params[] = {
    TRAIN_PARAM_SPECS, CLB_MLP_PARAM_SPECS, TRAIN_CURVE_PARAM_SPECS,
    {"si.c", PARAM_FLOAT, "1", NULL, 0, 1e12,
     "SI strength c of the surrogate loss c·Σ Ω(θ − θ*)² (van de Ven 2022: 10 task-IL, 5000 class-IL on Split-MNIST)"},
    {"si.xi", PARAM_FLOAT, "0.1", NULL, 1e-12, 1e6,
     "SI damping ξ in Ω += ω / (Δθ² + ξ)"},
};

const model_ops si_ops = {
    .name = "si",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .params = si_params,
    .nparams = (int)(sizeof si_params / sizeof si_params[0]),
    .cost = si_cost,
    .init = si_init,
    .train_block = clb_train_block,
    .eval_task = clb_eval,
    .free = clb_free,
};
