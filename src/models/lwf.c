/* lwf.c — Learning without Forgetting (Li & Hoiem 2017) on the clbase MLP. Before each
 * block that follows another, the network is copied as the teacher; while training, the
 * loss adds α · KD(current logits, teacher logits) on the current inputs, KD the
 * temperature-scaled soft-target cross-entropy of clbase.h. Which outputs are distilled
 * follows van de Ven et al.'s reference code: task-incremental, each earlier task's head
 * separately, averaged over those tasks; class-/domain-incremental, the classes of the
 * earlier tasks together. Classification benchmarks; registered in registry.c. */
#include <stdlib.h>
#include <string.h>

#include "clbase.h"
#include "util.h"

typedef struct {
    float alpha, T;
    int active;          /* a teacher exists for this block */
    mlp_t old;           /* the teacher (own arena) */
    int *union_mask;     /* (C) classes of the earlier tasks (class/domain scenario) */
} lwf_t;

static void lwf_begin_block(clb_t *m, const bench_t *b, int stage) {
    (void)stage;
    lwf_t *s = m->ext;
    s->active = 0;
    memset(s->union_mask, 0, sizeof(int) * (size_t)m->C);
    for (int k = 0; k < b->ntasks; k++) {
        if (!m->seen[k] || k == m->task) continue;
        s->active = 1;
        for (int c = 0; c < b->tasks[k].nclasses; c++) s->union_mask[b->tasks[k].classes[c]] = 1;
    }
    if (s->active) memcpy(s->old.params, m->net.params, sizeof(float) * (size_t)m->net.nparams);
}

static double lwf_on_forward(clb_t *m, const bench_t *b, const float *out, int bs) {
    lwf_t *s = m->ext;
    if (!s->active || s->alpha == 0) return 0;
    const float *teach = mlp_forward(&s->old, m->bx, bs);
    double loss = 0;
    if (b->tasks[m->task].class_mask) {   /* task-incremental: one head per earlier task */
        int nold = 0;
        for (int k = 0; k < b->ntasks; k++) nold += m->seen[k] && k != m->task;
        float w = s->alpha / (float)nold;
        for (int k = 0; k < b->ntasks; k++) {
            if (!m->seen[k] || k == m->task) continue;
            const int *mask = b->tasks[k].class_mask;
            loss += w * kd_soft_forward(out, teach, mask, s->T, bs, m->C);
            kd_soft_backward(m->dout, out, teach, mask, s->T, w, bs, m->C);
        }
    } else {
        loss = s->alpha * kd_soft_forward(out, teach, s->union_mask, s->T, bs, m->C);
        kd_soft_backward(m->dout, out, teach, s->union_mask, s->T, s->alpha, bs, m->C);
    }
    return loss;
}

static void lwf_free_ext(clb_t *m) {
    lwf_t *s = m->ext;
    if (!s) return;
    mlp_free(&s->old);
    free(s->union_mask);
    free(s);
}

static const clb_hooks lwf_hooks = {
    .begin_block = lwf_begin_block, .on_forward = lwf_on_forward, .free_ext = lwf_free_ext,
};

static model_t *lwf_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    clb_t *m = clb_create(cfg, b, seed, 0);
    if (!m) return NULL;
    lwf_t *s = xcalloc(1, sizeof *s);
    s->alpha = (float)cfg_float(cfg, "lwf.alpha");
    s->T = (float)cfg_float(cfg, "lwf.temperature");
    rng_t r;
    rng_init(&r, seed, 1);   /* values are overwritten before use */
    mlp_init(&s->old, m->net.nlayers, m->net.sizes, m->net.act, NULL, NULL, &r);
    s->union_mask = xcalloc((size_t)m->C, sizeof(int));
    m->h = &lwf_hooks;
    m->ext = s;
    return (model_t *)m;
}

static double lwf_cost(const run_config *cfg) { return clb_cost(cfg, 1.4); }

static const param_spec lwf_params[] = {
    TRAIN_PARAM_SPECS, CLB_MLP_PARAM_SPECS, TRAIN_CURVE_PARAM_SPECS,
    {"lwf.alpha", PARAM_FLOAT, "1", NULL, 0, 1e6,
     "weight α of the distillation term: loss = CE + α·KD"},
    {"lwf.temperature", PARAM_FLOAT, "2", NULL, 1e-3, 1e3, "distillation temperature T"},
};

const model_ops lwf_ops = {
    .name = "lwf",
    .kinds = BENCH_KIND_CLASSIFICATION,
    .params = lwf_params,
    .nparams = (int)(sizeof lwf_params / sizeof lwf_params[0]),
    .cost = lwf_cost,
    .init = lwf_init,
    .train_block = clb_train_block,
    .eval_task = clb_eval,
    .free = clb_free,
};
