/* train.c — resolution of the shared train.* settings (the one place their auto values are
 * decided), the budget of a block for `expand`, the anytime-curve hook of the training loops
 * (train_curve_tick; the run layer installs the evaluation), and small helpers. Called by the models and
 * the registry (cfg_fill_defaults). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* The one place the auto values are decided: optimizer name, lr, batch, weight decay for a
 * benchmark kind. stream_batch: examples per step of a generated stream; full: a data set's
 * training examples per task (curves3d trains full batch). */
static void resolve_values(bench_kind kind, int stream_batch, int full, const char **opt,
                           double *lr, long *bs, double *wd) {
    if (!strcmp(*opt, "auto")) *opt = kind == BENCH_KIND_RECONSTRUCTION ? "adamw" : "sgd";
    if (*lr <= 0) {
        if (kind == BENCH_KIND_RECONSTRUCTION) *lr = 5e-4;
        else if (!strcmp(*opt, "sgd")) *lr = 0.05;
        else *lr = 1e-3;
    }
    if (*bs <= 0) {
        if (kind == BENCH_KIND_CLASSIFICATION) *bs = 32;
        else if (kind == BENCH_KIND_REGRESSION) *bs = stream_batch;
        else *bs = full;
    }
    if (*wd < 0) *wd = !strcmp(*opt, "adamw") ? 0.01 : 0.0;
}

void train_resolve_config(run_config *cfg) {
    if (!cfg_get(cfg, "train.optimizer")) return;   /* the model reads no train.* key */
    bench_size z;
    if (bench_size_of(cfg, &z)) return;
    const char *opt = cfg_str(cfg, "train.optimizer");
    double lr = cfg_float(cfg, "train.lr"), wd = cfg_float(cfg, "train.weight_decay");
    long bs = cfg_int(cfg, "train.batch_size");
    resolve_values(z.kind, z.stream_batch, (int)z.n_train, &opt, &lr, &bs, &wd);
    char buf[64];
    snprintf(buf, sizeof buf, "%s", opt);
    cfg_set(cfg, "train.optimizer", buf);
    /* the canonical text of param_canonicalise: "%.9g" for floats, "%ld" for ints */
    snprintf(buf, sizeof buf, "%.9g", lr);
    cfg_set(cfg, "train.lr", buf);
    snprintf(buf, sizeof buf, "%ld", bs);
    cfg_set(cfg, "train.batch_size", buf);
    snprintf(buf, sizeof buf, "%.9g", wd);
    cfg_set(cfg, "train.weight_decay", buf);
}

void train_resolve(train_settings *t, const run_config *cfg, const bench_t *b) {
    const char *opt = cfg_str(cfg, "train.optimizer");
    double lr = cfg_float(cfg, "train.lr"), wd = cfg_float(cfg, "train.weight_decay");
    long bs = cfg_int(cfg, "train.batch_size");
    resolve_values(b->kind, b->stream_batch, b->ntasks ? b->tasks[0].n_train : 0, &opt, &lr,
                   &bs, &wd);
    t->optimizer = (optim_kind)optim_parse(opt);
    t->lr = (float)lr;
    t->batch_size = (int)bs;
    t->weight_decay = (float)wd;
    t->momentum = (float)cfg_float(cfg, "train.momentum");
}

void train_budget_fill(train_budget *out, const run_config *cfg, const char *optimizer,
                       double lr, int batch) {
    memset(out, 0, sizeof *out);
    snprintf(out->optimizer, sizeof out->optimizer, "%s", optimizer);
    out->lr = lr;
    out->batch = batch;
    bench_size z;
    if (bench_size_of(cfg, &z) || batch <= 0) return;
    if (z.epochs) {
        int n = (int)z.n_train;
        int B = batch < n ? batch : n;
        if (z.kind == BENCH_KIND_RECONSTRUCTION) out->batch = B;   /* full batch = the set */
        out->examples = (double)z.block_size * n;
        out->steps = B > 0 ? (double)z.block_size * ((n + B - 1) / B) : 0;
    } else {
        out->examples = (double)z.block_size * batch;
        out->steps = z.block_size;
    }
}

void train_budget_shared(const run_config *cfg, train_budget *out) {
    train_budget_fill(out, cfg, cfg_str(cfg, "train.optimizer"), cfg_float(cfg, "train.lr"),
                      (int)cfg_int(cfg, "train.batch_size"));
}

static train_curve *g_curve;

void train_curve_set(train_curve *c) { g_curve = c; }
train_curve *train_curve_get(void) { return g_curve; }

void train_curve_tick(struct model *m, const bench_t *b) {
    train_curve *c = g_curve;
    if (!c) return;
    c->step++;
    if (c->every > 0 && c->point && c->step % c->every == 0) c->point(c, m, b);
}

int train_curve_due(void) {
    const train_curve *c = g_curve;
    return c && c->every > 0 && c->point && (c->step + 1) % c->every == 0;
}

int mlp_from_config(mlp_t *net, const run_config *cfg, const bench_t *b, uint64_t seed) {
    int hidden[MLP_MAX_LAYERS];
    int nh = cfg_intlist(cfg, "mlp.hidden", hidden, MLP_MAX_LAYERS - 1);
    if (nh > MLP_MAX_LAYERS - 1) {
        cls_seterr("mlp.hidden: at most %d layers", MLP_MAX_LAYERS - 1);
        return -1;
    }
    const int recon = b->kind == BENCH_KIND_RECONSTRUCTION;
    int bottleneck = -1;
    if (nh == 1 && hidden[0] == 0) {   /* auto */
        if (recon) {
            static const int ae[5] = {64, 64, 24, 64, 64};
            memcpy(hidden, ae, sizeof ae);
            nh = 5;
            bottleneck = 2;
        } else {
            hidden[0] = hidden[1] = 256;
            nh = 2;
        }
    }
    for (int i = 0; i < nh; i++)
        if (hidden[i] < 1) {
            cls_seterr("mlp.hidden: layer sizes must be >= 1");
            return -1;
        }
    const char *an = cfg_str(cfg, "mlp.activation");
    act_kind act = !strcmp(an, "auto") ? (recon ? ACT_GELU : ACT_RELU) : (act_kind)act_parse(an);
    int sizes[MLP_MAX_LAYERS + 1];
    act_kind acts[MLP_MAX_LAYERS];
    const int nl = nh + 1;
    sizes[0] = b->in_dim;
    for (int i = 0; i < nh; i++) sizes[i + 1] = hidden[i];
    sizes[nl] = b->out_dim;
    for (int l = 0; l < nl; l++) acts[l] = (l == nl - 1 || l == bottleneck) ? ACT_IDENTITY : act;
    rng_t init_rng;
    rng_init(&init_rng, seed, 1);
    mlp_init(net, nl, sizes, acts, NULL, NULL, &init_rng);
    return 0;
}

void train_optim_init(optim_t *o, const train_settings *t, long n) {
    optim_init(o, t->optimizer, n, t->lr);
    o->weight_decay = t->weight_decay;
    o->momentum = t->momentum;
    /* SGD keeps its velocity in m, which optim_init only allocates for Adam(W). */
    if (t->momentum > 0 && !o->m) o->m = xcalloc((size_t)n, sizeof(float));
}

int all_finite(const float *x, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

double accuracy_of(const float *logits, const int *labels, const int *mask, int n, int C) {
    if (n <= 0) return NAN;
    long correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (long)i * C;
        int best = -1;
        for (int c = 0; c < C; c++) {
            if (mask && !mask[c]) continue;
            if (best < 0 || z[c] > z[best]) best = c;
        }
        correct += best == labels[i];
    }
    return (double)correct / n;
}

double mlp_eval_task(mlp_t *net, const bench_t *b, int task) {
    const task_t *t = &b->tasks[task];
    const int chunk = 256;
    double total = 0;
    long cnt = 0;
    for (int i0 = 0; i0 < t->n_test; i0 += chunk) {
        int bs = t->n_test - i0 < chunk ? t->n_test - i0 : chunk;
        const float *out = mlp_forward(net, t->x_test + (size_t)i0 * b->in_dim, bs);
        if (b->kind == BENCH_KIND_CLASSIFICATION) {
            total += accuracy_of(out, t->y_test + i0, t->class_mask, bs, b->out_dim) * bs;
        } else {
            const float *tgt = b->kind == BENCH_KIND_RECONSTRUCTION ? t->x_test : t->t_test;
            total += (double)mse_forward(out, tgt + (size_t)i0 * b->out_dim, bs, b->out_dim,
                                         b->kind == BENCH_KIND_REGRESSION) * bs;
        }
        cnt += bs;
    }
    return cnt ? total / (double)cnt : NAN;
}
