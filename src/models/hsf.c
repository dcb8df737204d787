/* hsf.c — the `hsf` model (docs/spec.md §4.6): the Hypernetwork-SDE-Flow autoencoder of the HSF
 * failure-analysis paper, trained as the authors' benchmark does
 * (code: vandoanh1999/hypernet-sde-learner, benchmarks/benchmark_cl.py + src/main.py):
 * full batch, AdamW, per epoch one step on
 *   MSE + β·NLL + γ·replay + δ·Σ_{t'<t} exp(−‖e_t − e_t'‖),
 * β = min(β_max, β_min + (β_max − β_min)·epoch/300), replay every 5th epoch on up to 32
 * stored (x, z) pairs decoded as their own task, 50 pairs stored after each task.
 * The network and its parts are in hsf_net.c / hsf_parts.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hsf.h"
#include "model.h"
#include "nn.h"
#include "train.h"
#include "util.h"

static const param_spec hsf_params[] = {
    TRAIN_PARAM_SPECS,
    TRAIN_CURVE_PARAM_SPECS,
    {"hsf.beta_max", PARAM_FLOAT, "1", NULL, 0, 1e6,
     "NLL weight β after annealing (0 = no flow/NLL term)"},
    {"hsf.beta_min", PARAM_FLOAT, "0.01", NULL, 0, 1e6, "NLL weight β at the first epoch of a block"},
    {"hsf.beta_epochs", PARAM_INT, "300", NULL, 0, 1e7,
     "epochs over which β rises linearly from beta_min to beta_max (0 = beta_max throughout)"},
    {"hsf.replay_weight", PARAM_FLOAT, "2", NULL, 0, 1e6, "replay loss weight γ (0 = no replay)"},
    {"hsf.sep_weight", PARAM_FLOAT, "1.5", NULL, 0, 1e6,
     "embedding-separation loss weight δ (0 = no separation term)"},
    {"hsf.replay_every", PARAM_INT, "5", NULL, 1, 1e6, "replay on epochs e with e % replay_every == 0"},
    {"hsf.replay_batch", PARAM_INT, "32", NULL, 1, 1e5, "stored pairs replayed per replay step"},
    {"hsf.memory_per_task", PARAM_INT, "50", NULL, 0, 1e6,
     "(x, z_T) pairs stored after each block (0 = no memory)"},
    {"hsf.memory_max", PARAM_INT, "500", NULL, 1, 1e7, "memory capacity; the oldest pairs are dropped"},
    {"hsf.sde_steps", PARAM_INT, "10", NULL, 1, 1000, "Euler–Maruyama steps of each SDE"},
    {"hsf.enc_t", PARAM_FLOAT, "1", NULL, 0, 100, "encoder SDE time horizon"},
    {"hsf.dec_t", PARAM_FLOAT, "0.5", NULL, 0, 100, "decoder SDE time horizon"},
    {"hsf.noise", PARAM_FLOAT, "1", NULL, 0, 100,
     "scale of the Brownian increments dW (1 = the paper; 0 = deterministic ODE)"},
    {"hsf.eval_noise", PARAM_BOOL, "true", NULL, 0, 1,
     "evaluate with SDE noise as the authors' code does (a fixed draw per task); false = noise-free"},
    {"hsf.hidden", PARAM_INT, "64", NULL, 1, 4096, "encoder/decoder width H"},
    {"hsf.latent", PARAM_INT, "24", NULL, 2, 4096, "latent size D (even: the couplings split it)"},
    {"hsf.emb_dim", PARAM_INT, "16", NULL, 1, 4096, "task embedding size E"},
    {"hsf.flow_layers", PARAM_INT, "4", NULL, 0, HSF_MAX_FLOW, "affine coupling layers"},
};

typedef struct {
    hsf_net net;
    train_settings ts;
    optim_t opt;
    rng_t rng;                   /* training noise, minibatch order, replay and memory draws */
    uint64_t seed;
    float beta_min, beta_max, replay_weight, sep_weight, noise;
    int beta_epochs, replay_every, replay_batch, mem_per_task, mem_max, eval_noise;
    /* replay memory, oldest first */
    int mem_n;
    float *mem_x;                /* (mem_max, in) */
    float *mem_z;                /* (mem_max, D) */
    int *mem_t;                  /* (mem_max) */
    /* staging */
    float *bx;                   /* (cap, in) minibatch / memory rows */
    float *rx, *rz;              /* (rcap, in), (rcap, D) replay batch */
    int *rt;                     /* (rcap) */
    int *order;                  /* (max(n_train, mem_max)) */
    float *fblock;               /* the float staging family */
    int *iblock;                 /* the int staging family */
    float *emb_snap;             /* (ntasks, E) each embedding at the end of its last block */
    int *trained;                /* (ntasks) 1 once the task has been trained */
    hsf_losses last;             /* loss parts of the block's last step */
    float last_replay;           /* replay loss of the block's last replay step (0: none) */
    int nstages;
} hsf_model;

static model_t *hsf_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    hsf_model *m = xcalloc(1, sizeof *m);
    m->seed = seed;
    train_resolve(&m->ts, cfg, b);
    m->beta_min = (float)cfg_float(cfg, "hsf.beta_min");
    m->beta_max = (float)cfg_float(cfg, "hsf.beta_max");
    m->beta_epochs = (int)cfg_int(cfg, "hsf.beta_epochs");
    m->replay_weight = (float)cfg_float(cfg, "hsf.replay_weight");
    m->sep_weight = (float)cfg_float(cfg, "hsf.sep_weight");
    m->replay_every = (int)cfg_int(cfg, "hsf.replay_every");
    m->replay_batch = (int)cfg_int(cfg, "hsf.replay_batch");
    m->mem_per_task = (int)cfg_int(cfg, "hsf.memory_per_task");
    m->mem_max = (int)cfg_int(cfg, "hsf.memory_max");
    m->noise = (float)cfg_float(cfg, "hsf.noise");
    m->eval_noise = cfg_bool(cfg, "hsf.eval_noise");
    m->nstages = b->nstages;
    hsf_dims d = {
        .in_dim = b->in_dim, .hidden = (int)cfg_int(cfg, "hsf.hidden"),
        .latent = (int)cfg_int(cfg, "hsf.latent"), .emb_dim = (int)cfg_int(cfg, "hsf.emb_dim"),
        .ntasks = b->ntasks, .flow_layers = (int)cfg_int(cfg, "hsf.flow_layers"),
        .flow_hidden = 64, .sde_hidden = 64, .sde_steps = (int)cfg_int(cfg, "hsf.sde_steps"),
        .enc_t = (float)cfg_float(cfg, "hsf.enc_t"), .dec_t = (float)cfg_float(cfg, "hsf.dec_t"),
    };
    if (b->in_dim != b->out_dim) {
        free(m);
        cls_seterr("hsf is an autoencoder: benchmark input and output sizes differ");
        return NULL;
    }
    int maxn = 1;
    for (int k = 0; k < b->ntasks; k++) {
        if (b->tasks[k].n_train > maxn) maxn = b->tasks[k].n_train;
        if (b->tasks[k].n_test > maxn) maxn = b->tasks[k].n_test;
    }
    int B = m->ts.batch_size < maxn ? m->ts.batch_size : maxn;
    int rcap = m->replay_batch < m->mem_max ? m->replay_batch : m->mem_max;
    int kmem = m->mem_per_task < maxn ? m->mem_per_task : maxn;
    int cap = B;
    if (kmem > cap) cap = kmem;
    if (rcap > cap) cap = rcap;
    if (hsf_net_init(&m->net, &d, cap, rcap, seed)) {
        free(m);
        return NULL;
    }
    rng_init(&m->rng, seed, 2);
    train_optim_init(&m->opt, &m->ts, m->net.L.nparams);
    hsf_net_fuse_optim(&m->net, &m->opt);
    int in = d.in_dim, D = d.latent;
    int E = d.emb_dim;
    long nf = (long)m->mem_max * (in + D) + (long)cap * in + (long)rcap * (in + D) +
              (long)b->ntasks * E;
    int nord = maxn > m->mem_max ? maxn : m->mem_max;
    m->fblock = xcalloc((size_t)nf, sizeof(float));
    m->iblock = xcalloc((size_t)(m->mem_max + rcap + nord + b->ntasks), sizeof(int));
    float *p = m->fblock;
    m->mem_x = p;  p += (long)m->mem_max * in;
    m->mem_z = p;  p += (long)m->mem_max * D;
    m->bx = p;     p += (long)cap * in;
    m->rx = p;     p += (long)rcap * in;
    m->rz = p;     p += (long)rcap * D;
    m->emb_snap = p;
    m->mem_t = m->iblock;
    m->rt = m->mem_t + m->mem_max;
    m->order = m->rt + rcap;
    m->trained = m->order + nord;
    return (model_t *)m;
}

static float beta_at(const hsf_model *m, int epoch) {
    if (m->beta_epochs <= 0) return m->beta_max;
    float b = m->beta_min + (m->beta_max - m->beta_min) * (float)epoch / (float)m->beta_epochs;
    return b < m->beta_max ? b : m->beta_max;
}

/* Stages up to replay_batch stored pairs, drawn without replacement and grouped by task,
 * into rx/rz/rt. Returns the number staged. */
static int stage_replay(hsf_model *m) {
    int R = m->replay_batch < m->mem_n ? m->replay_batch : m->mem_n;
    int *idx = m->order;
    for (int i = 0; i < m->mem_n; i++) idx[i] = i;
    for (int i = 0; i < R; i++) {   /* partial Fisher–Yates */
        int j = i + (int)rng_below(&m->rng, (uint32_t)(m->mem_n - i));
        int tmp = idx[i]; idx[i] = idx[j]; idx[j] = tmp;
    }
    int in = m->net.L.d.in_dim, D = m->net.L.d.latent, r = 0;
    for (int task = 0; task < m->net.L.d.ntasks; task++)
        for (int i = 0; i < R; i++) {
            int k = idx[i];
            if (m->mem_t[k] != task) continue;
            memcpy(m->rx + (long)r * in, m->mem_x + (long)k * in, sizeof(float) * (size_t)in);
            memcpy(m->rz + (long)r * D, m->mem_z + (long)k * D, sizeof(float) * (size_t)D);
            m->rt[r++] = task;
        }
    return r;
}

static run_status train_step(hsf_model *m, const float *x, int B, int task, int epoch) {
    hsf_net *n = &m->net;
    const hsf_layout *L = &n->L;
    if (!n->fused) memset(n->grads, 0, sizeof(float) * (size_t)L->nparams);
    hsf_sde_noise(&n->sb_enc, &L->sde_enc, &m->rng, L->d.enc_t, m->noise, B);
    hsf_sde_noise(&n->sb_dec, &L->sde_dec, &m->rng, L->d.dec_t, m->noise, B);
    double loss = hsf_net_task_loss(n, x, B, task, beta_at(m, epoch), m->sep_weight, 1, &m->last);
    if (m->mem_n > 0 && m->replay_weight != 0.0f && epoch % m->replay_every == 0) {
        int R = stage_replay(m);
        hsf_sde_noise(&n->sb_rep, &L->sde_dec, &m->rng, L->d.dec_t, m->noise, R);
        double rl = hsf_net_replay_loss(n, m->rx, m->rz, m->rt, R, m->replay_weight, 1);
        m->last_replay = (float)rl;
        loss += m->replay_weight * rl;
    }
    m->last.replay = m->last_replay;
    m->last.total = (float)loss;
    if (!isfinite(loss)) {
        if (n->fused) memset(n->grads, 0, sizeof(float) * (size_t)L->nparams);
        cls_seterr("non-finite training loss at epoch %d", epoch);
        return RUN_STATUS_DIVERGED;
    }
    hsf_net_step(n, &m->opt);   /* fused mode: also clears grads for the next step */
    return RUN_STATUS_OK;
}

/* After a block: mem_per_task random training rows of the task with their encoder-SDE
 * latents z_T (the authors store z_T under no_grad, with fresh noise). */
static void memory_update(hsf_model *m, const task_t *t, int task) {
    hsf_net *n = &m->net;
    const hsf_layout *L = &n->L;
    int in = L->d.in_dim, D = L->d.latent;
    int k = m->mem_per_task < t->n_train ? m->mem_per_task : t->n_train;
    if (k <= 0) return;
    for (int i = 0; i < t->n_train; i++) m->order[i] = i;
    rng_shuffle(&m->rng, m->order, t->n_train);
    for (int i = 0; i < k; i++)
        memcpy(m->bx + (long)i * in, t->x_train + (long)m->order[i] * in, sizeof(float) * (size_t)in);
    hsf_sde_noise(&n->sb_enc, &L->sde_enc, &m->rng, L->d.enc_t, m->noise, k);
    const float *z = hsf_net_encode(n, m->bx, k, task);
    int drop = m->mem_n + k - m->mem_max;
    if (drop > 0) {
        if (drop > m->mem_n) drop = m->mem_n;
        int keep = m->mem_n - drop;
        memmove(m->mem_x, m->mem_x + (long)drop * in, sizeof(float) * (size_t)keep * (size_t)in);
        memmove(m->mem_z, m->mem_z + (long)drop * D, sizeof(float) * (size_t)keep * (size_t)D);
        memmove(m->mem_t, m->mem_t + drop, sizeof(int) * (size_t)keep);
        m->mem_n = keep;
    }
    int first = k > m->mem_max ? k - m->mem_max : 0;   /* only when k alone overflows */
    for (int i = first; i < k; i++, m->mem_n++) {
        memcpy(m->mem_x + (long)m->mem_n * in, m->bx + (long)i * in, sizeof(float) * (size_t)in);
        memcpy(m->mem_z + (long)m->mem_n * D, z + (long)i * D, sizeof(float) * (size_t)D);
        m->mem_t[m->mem_n] = task;
    }
}

static run_status hsf_train_block(model_t *mm, const bench_t *b, int stage) {
    hsf_model *m = (hsf_model *)mm;
    int task = b->stage_task[stage];
    const task_t *t = &b->tasks[task];
    int n = t->n_train, in = b->in_dim;
    if (n == 0) {
        cls_seterr("task %s has no training examples", t->name);
        return RUN_STATUS_FAILED;
    }
    int B = m->ts.batch_size < n ? m->ts.batch_size : n;
    m->last_replay = 0.0f;
    for (int e = 0; e < b->block_size; e++) {
        if (B >= n) {
            run_status st = train_step(m, t->x_train, n, task, e);
            if (st != RUN_STATUS_OK) return st;
            train_curve_tick(mm, b);   /* anytime curve: a step = one AdamW step */
            continue;
        }
        for (int i = 0; i < n; i++) m->order[i] = i;
        rng_shuffle(&m->rng, m->order, n);
        for (int i0 = 0; i0 < n; i0 += B) {
            int bs = n - i0 < B ? n - i0 : B;
            for (int r = 0; r < bs; r++)
                memcpy(m->bx + (long)r * in, t->x_train + (long)m->order[i0 + r] * in,
                       sizeof(float) * (size_t)in);
            run_status st = train_step(m, m->bx, bs, task, e);
            if (st != RUN_STATUS_OK) return st;
            train_curve_tick(mm, b);
        }
    }
    if (!all_finite(m->net.params, m->net.L.nparams)) {
        cls_seterr("non-finite parameters");
        return RUN_STATUS_DIVERGED;
    }
    memory_update(m, t, task);
    int E = m->net.L.d.emb_dim;
    memcpy(m->emb_snap + (long)task * E, m->net.params + m->net.L.emb + (long)task * E,
           sizeof(float) * (size_t)E);
    m->trained[task] = 1;
    return RUN_STATUS_OK;
}

/* Reconstruction MSE (mean over elements). The authors evaluate with SDE noise; here each
 * task's evaluation noise is a fixed draw, so R[·][t] differences measure the model, not
 * the noise. */
static double eval_mse(hsf_model *m, const bench_t *b, int task, float scale) {
    hsf_net *n = &m->net;
    const hsf_layout *L = &n->L;
    const task_t *t = &b->tasks[task];
    rng_t er;
    rng_init(&er, m->seed ^ 0x5DEECE66DULL, 1000 + (uint64_t)task);
    double total = 0;
    for (int i0 = 0; i0 < t->n_test; i0 += n->cap) {
        int bs = t->n_test - i0 < n->cap ? t->n_test - i0 : n->cap;
        const float *x = t->x_test + (long)i0 * b->in_dim;
        hsf_sde_noise(&n->sb_enc, &L->sde_enc, &er, L->d.enc_t, scale, bs);
        hsf_sde_noise(&n->sb_dec, &L->sde_dec, &er, L->d.dec_t, scale, bs);
        const float *xr = hsf_net_forward(n, x, bs, task, 0);
        total += (double)mse_forward(xr, x, bs, b->in_dim, 0) * bs;
    }
    return t->n_test ? total / t->n_test : NAN;
}

static double hsf_eval(model_t *mm, const bench_t *b, int task) {
    hsf_model *m = (hsf_model *)mm;
    return eval_mse(m, b, task, m->eval_noise ? m->noise : 0.0f);
}

static void hsf_after_stage(model_t *mm, const bench_t *b, int stage, run_result *res) {
    hsf_model *m = (hsf_model *)mm;
    int S = m->nstages, T = b->ntasks;
    /* the same matrix without SDE noise: separates drift of the weights from noise */
    double *rq = result_array(res, "R_noise_free", "HSF: reconstruction MSE evaluated without SDE noise",
                              "stage", S, "task", T);
    for (int t = 0; t < T; t++) rq[(long)stage * T + t] = eval_mse(m, b, t, 0.0f);
    /* how far each trained task's embedding has moved since its own training ended (the
     * separation loss pushes the earlier embeddings too) */
    double *dr = result_array(res, "emb_drift", "HSF: ||e_t - e_t at the end of its last block||",
                              "stage", S, "task", T);
    int E = m->net.L.d.emb_dim;
    for (int t = 0; t < T; t++) {
        if (!m->trained[t]) continue;
        double d2 = 0;
        for (int j = 0; j < E; j++) {
            double d = (double)m->net.params[m->net.L.emb + (long)t * E + j] - m->emb_snap[(long)t * E + j];
            d2 += d * d;
        }
        dr[(long)stage * T + t] = sqrt(d2);
    }
    /* for scale: the norm of the first task's embedding now */
    double n2 = 0;
    for (int j = 0; j < E; j++) n2 += (double)m->net.params[m->net.L.emb + j] * m->net.params[m->net.L.emb + j];
    result_array(res, "emb_norm_t0", "HSF: ||e_0||", "stage", S, NULL, 0)[stage] = sqrt(n2);
    result_array(res, "loss_recon", "HSF: reconstruction MSE of the block's last training step",
                 "stage", S, NULL, 0)[stage] = m->last.recon;
    result_array(res, "loss_nll", "HSF: flow NLL of the block's last training step", "stage", S,
                 NULL, 0)[stage] = m->last.nll;
    result_array(res, "loss_replay", "HSF: replay MSE of the block's last replay step", "stage",
                 S, NULL, 0)[stage] = m->last.replay;
    result_array(res, "loss_sep", "HSF: embedding-separation loss of the block's last step",
                 "stage", S, NULL, 0)[stage] = m->last.sep;
}

/* The paper's forgetting metric: increase of the first task's MSE from after its training
 * to the end of the stream. */
static void hsf_report(model_t *mm, const bench_t *b, run_result *res) {
    (void)mm;
    if (res->nstages < 1 || !res->R) return;
    int t0 = b->stage_task[0];
    double first = res->R[t0], last = res->R[(long)(res->nstages - 1) * res->ntasks + t0];
    result_set_scalar(res, "t0_forgetting",
                      "R[last][first task] - R[0][first task] (MSE increase, the HSF paper's metric)",
                      last - first);
}

static void hsf_free(model_t *mm) {
    hsf_model *m = (hsf_model *)mm;
    if (!m) return;
    hsf_net_free(&m->net);
    optim_free(&m->opt);
    free(m->fblock);
    free(m->iblock);
    free(m);
}

/* Weight-space analysis (docs/weightspace.md): a fixed probe set — per task, per = min(spt,
 * n_test) test points evenly strided over the curve — pooled over the tasks, and for each task
 * t every pooled probe x gives the row h2(x; e_t), the encoder's hidden layer after the two
 * generated DynLinear layers + GELU (H values); task = t. Every task sees the same inputs,
 * so separation comes from the generated layers alone. Private buffers: the network's
 * activations, parameters and RNG are untouched, so training is unaffected. */
static float *hsf_weights(model_t *mm, const bench_t *b, int spt, int *rows, int *cols,
                          int **row_task) {
    hsf_model *m = (hsf_model *)mm;
    const hsf_layout *L = &m->net.L;
    int T = b->ntasks, in = L->d.in_dim, H = L->d.hidden, E = L->d.emb_dim;
    if (spt < 1) return NULL;
    long P = 0;   /* pooled probes */
    for (int t = 0; t < T; t++) P += spt < b->tasks[t].n_test ? spt : b->tasks[t].n_test;
    if (P < 1) return NULL;
    const hsf_hyper *h1 = &L->enc1, *h2 = &L->enc2;
    long nscr = P * in + (long)H * in + H + (long)H * H + H + h1->h + h1->h2 + h2->h + h2->h2 +
                2 * P * H;
    float *scr = xmalloc(sizeof(float) * (size_t)nscr);
    float *x = scr, *W1 = x + P * in, *b1 = W1 + (long)H * in, *W2 = b1 + H, *b2 = W2 + (long)H * H;
    float *a1 = b2 + H, *a2 = a1 + h1->h, *c1 = a2 + h1->h2, *c2 = c1 + h2->h;
    float *pre = c2 + h2->h2, *hid = pre + P * H;
    long r = 0;
    for (int t = 0; t < T; t++) {
        const task_t *tk = &b->tasks[t];
        int per = spt < tk->n_test ? spt : tk->n_test;
        for (int i = 0; i < per; i++, r++) {
            long k = (long)i * tk->n_test / per;
            memcpy(x + r * in, tk->x_test + k * in, sizeof(float) * (size_t)in);
        }
    }
    float *out = xmalloc(sizeof(float) * (size_t)T * (size_t)P * (size_t)H);
    int *task = xmalloc(sizeof(int) * (size_t)T * (size_t)P);
    for (int t = 0; t < T; t++) {
        const float *e = m->net.params + L->emb + (long)t * E;
        hsf_hyper_forward(W1, b1, a1, a2, e, h1, m->net.params);
        hsf_hyper_forward(W2, b2, c1, c2, e, h2, m->net.params);
        dense_forward(pre, x, W1, b1, (int)P, in, H);
        hsf_gelu(hid, pre, P * H);
        dense_forward(pre, hid, W2, b2, (int)P, H, H);
        hsf_gelu(out + (long)t * P * H, pre, P * H);
        for (long i = 0; i < P; i++) task[(long)t * P + i] = t;
    }
    free(scr);
    *rows = (int)(T * P);
    *cols = H;
    *row_task = task;
    return out;
}

/* Relative cost (same unit as baseline_cost: ~15k units per second of one core): an
 * epoch costs its SDE work (rows × steps) plus a fixed part (hypernetworks, AdamW over
 * ~5 M parameters). Fitted to measured epoch times. */
static double hsf_cost(const run_config *cfg) {
    bench_size z;
    if (bench_size_of(cfg, &z)) return 1.0;
    double steps = (double)cfg_int(cfg, "hsf.sde_steps");
    return z.nstages * z.block_size * (0.06 * z.n_train * steps + 110.0);
}

/* model.h accepts hook: HSF is an autoencoder over reconstruction streams (curves3d): the
 * input and output sizes must agree, and every task needs training examples. */
static const char *hsf_accepts(const bench_t *b, const run_config *cfg) {
    (void)cfg;
    if (b->kind != BENCH_KIND_RECONSTRUCTION) return "hsf reconstructs its input (curves3d)";
    if (b->in_dim < 1 || b->in_dim != b->out_dim)
        return "hsf is an autoencoder: the benchmark's input and output sizes differ";
    if (b->ntasks < 1) return "hsf needs at least one task";
    for (int k = 0; k < b->ntasks; k++)
        if (b->tasks[k].n_train < 1) return "hsf needs training examples in every task";
    return NULL;
}

const model_ops hsf_ops = {
    .name = "hsf",
    .kinds = BENCH_KIND_RECONSTRUCTION,
    .params = hsf_params,
    .nparams = (int)(sizeof hsf_params / sizeof hsf_params[0]),
    .cost = hsf_cost,
    .accepts = hsf_accepts,
    .init = hsf_init,
    .train_block = hsf_train_block,
    .eval_task = hsf_eval,
    .after_stage = hsf_after_stage,
    .report = hsf_report,
    .free = hsf_free,
    .weights = hsf_weights,
};
