/* pah.c — Prototype-Augmented Hypernetwork (docs/spec.md §4.5), task-incremental.
 * Models layer: reached only through pah_ops (model.h) from the run layer and tests.
 * Facts from the authors' code (pah2025/PAH: train_hyper2d.py, networks/hypernetwork.py
 * HyperCMTL_seq_simple_2d_solved, networks/metamodules.py HyperNetwork_seq/FCBlock,
 * utils.py distillation_output_loss, config/hyper2d_solved.py):
 *
 *   backbone β: conv3×3(Cin→c1) [BN] ReLU maxpool2 → conv3×3(c1→c2) [BN] ReLU maxpool2 →
 *     (flatten | global average pool) → dense → ReLU, F features (trained from scratch; the
 *     paper's pretrained ResNet/MobileNet do not exist here). PyTorch default init.
 *     Any C×H×W input: Cin follows the benchmark's channels; inputs whose sides are not
 *     multiples of 4 are zero-padded at the bottom/right to the next multiple of 4.
 *     pah.batchnorm: BatchNorm after each conv, always with batch statistics (the authors
 *     leave BN in train mode, also on the prototype batches and at test time).
 *   prototypes: C per task, each ONE channel h×w (the authors' semantic init is the channel
 *     mean of an image crop); fed to the backbone replicated over the Cin input channels.
 *     Task embedding e_k = flatten (C·h·w).
 *     pah.proto_input: resize = bilinear resize to the input's H×W (flatten backbone);
 *     native = the prototypes enter at their own h×w (padded to multiples of 4), which
 *     needs the global-average-pool backbone (chosen automatically), as in the authors' code.
 *     Semantic init = crop of one held-out training image per class (removed from
 *     training): centre crop, or the authors' offsets hard-coded for 32×32 images
 *     ((32 − h)/2, pah.crop: authors); random init N(0.5, 0.1) as the code's
 *     mean/std_initialization_prototypes. pah.input_range: signed maps inputs x → 2x − 1
 *     (the authors' [−1, 1]); the semantic crops are taken from the mapped images.
 *   hypernetwork Υ: Linear(C·h·w→H) LeakyReLU Linear(H→H) LeakyReLU Linear(H→C·F), no
 *     biases, Kaiming-normal (fan_in, relu) init, last layer divided by 10. Its output is the
 *     bias-free head W_k (C, F): logits = β(x)·W_kᵀ.
 *   step 1 (AdamW over everything; backbone lr 1e-4, hypernet and prototypes 1e-3):
 *     CE(f(x|k), y) + λ_sm Σ_{j old} KD(f(x|j), f_prev(x|j)).
 *   step 2 (own AdamW over the prototypes only):
 *     λ_sp Σ_{j old} mean_c KD(g(p_j^c), g_prev(p_j^c)), g(p) = head_j(β(p)) with
 *     head_j = Υ(e_j) generated from the same prototypes (gradient flows both ways), and
 *     g_prev evaluated on f_prev's own (frozen) prototypes. Each task's C prototypes are one
 *     backbone batch (as the authors' pass_prototypes; matters with BatchNorm).
 *   KD(s, t) = T²·Σ_c p_s log(p_s/p_t) (utils.py KL_divergence(student_soft, teacher_soft),
 *     called as distillation_output_loss(new_pred, old_pred, T)): the STUDENT comes first,
 *     i.e. the reverse of the paper's KL(f_{k-1} ‖ f_k). We keep the code's direction.
 *
 * Quirks of the original kept on purpose (each switchable where it matters):
 *   - no zero_grad between the two steps: step 2's optimiser sees step 1's prototype
 *     gradient plus its own (pah.accumulate_grads, default true);
 *   - step 2's optimiser steps every batch, also on the first task (it then re-applies the
 *     CE gradient of the current prototypes);
 *   - the per-group "weight_decay " key in get_optimizer_list has a trailing space, so
 *     PyTorch ignores it and AdamW's default decay 0.01 applies to every group (also to the
 *     not-yet-used prototypes of future tasks): pah.weight_decay, default 0.01;
 *   - the prototype KD is a mean over the C prototypes (.mean() on the per-row loss), and
 *     the KD terms are summed, not averaged, over old tasks.
 *
 * "Old tasks" are the tasks trained in earlier stages other than the current one (j < k
 * in the classical sequence); f_prev is the whole arena copied after each stage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "nn.h"
#include "optim.h"
#include "train.h"
#include "util.h"

#define PAH_BN_EPS 1e-5f   /* PyTorch BatchNorm2d default */

/* Geometry and hyperparameters (everything that fixes the layout). */
typedef struct {
    int T, C;            /* tasks, classes per task (head outputs) */
    int Cin, H, W;       /* input image (Cin 0 is read as 1); any sides >= 1 */
    int c1, c2, F;       /* backbone channels and features */
    int ph, pw;          /* prototype shape (one channel) */
    int hid;             /* hypernetwork hidden width */
    int native;          /* prototypes enter at their own size; global-average-pool backbone */
    int bn;              /* BatchNorm (batch statistics) after each conv */
} pah_geom;

/* Forward activations of the backbone for up to cap images of up to Smax pixels. The conv
 * stages are channel-major over the batch (CBHW, nn.h: one sgemm per batch); p2 is NCHW,
 * the dense layer's (N, D) rows. With ReLU and no BatchNorm (pah_fused) bias + ReLU +
 * max-pool are one pass and z·/y·/xh·/r· other than z1, z2 are not written. */
typedef struct {
    int h, w;            /* (padded) spatial size of the last forward */
    float *z1, *y1, *xh1, *r1;   /* (c1, N, h, w) conv1 out (no bias when fused), BN out, x̂, act */
    float *p1;           /* (c1, N, h/2, w/2) */
    float *z2, *y2, *xh2, *r2;   /* (c2, N, h/2, w/2) */
    float *p2;           /* (N, c2, h/4, w/4) */
    float *col1, *col2;  /* im2col of each conv (m->colcap floats), reused by the backward */
    int cv1, cv2;        /* col1/col2 hold the whole batch of the last forward */
    float *g2;           /* (N, c2) global average pool (native) */
    float *mu1, *rs1, *mu2, *rs2;   /* BN statistics (c1), (c2) */
    float *z3, *feat;    /* (N, F) dense out, ReLU = features */
    int *a1, *a2;        /* maxpool argmax, shapes of p1, p2 */
} pah_acts;

/* Hypernetwork activations for all T embeddings at once. */
typedef struct {
    float *h1, *a1, *h2, *a2;   /* (T, hid) */
    float *heads;               /* (T, C·F): W_j (C, F) row-major */
} pah_hyper;

typedef struct {
    pah_geom g;
    long E;                      /* C·ph·pw, embedding size */
    long in_dim;                 /* Cin·H·W: one example as the benchmark stores it */
    int Hp, Wp;                  /* input padded to multiples of 4 */
    int Qh, Qw;                  /* prototype as the backbone sees it (Hp, Wp unless native) */
    long S, Smax;                /* Hp·Wp; max(Hp·Wp, Qh·Qw) */
    long D;                      /* dense input: c2·Hp·Wp/16 (flatten) or c2 (native, GAP) */
    /* parameter layout (offsets into params) */
    long off_c1w, off_c1b, off_bn1g, off_bn1b, off_c2w, off_c2b, off_bn2g, off_bn2b;
    long off_fw, off_fb;         /* backbone: [0, n_backbone) */
    long n_backbone;
    long off_h1, off_h2, off_h3; /* hypernet W1 (hid, E), W2 (hid, hid), W3 (C·F, hid) */
    long off_proto;              /* prototypes (T, C, ph, pw) */
    long nparams;
    float *params, *grads, *prev;   /* (nparams) each, one allocation */
    /* settings */
    float lambda_sm, lambda_sp, temp;
    float in_scale, in_shift;    /* input map x → scale·x + shift */
    int batch, accumulate;
    act_kind act, hyper_act;     /* ReLU / LeakyReLU (smooth ones only in gradient checks) */
    int unfused;                 /* tests: separate passes also where pah_fused applies */
    int conv1_gemm;              /* tests/perf: conv 1 through im2col + sgemm (convb_) instead
                                    of the direct kernel (convd_, the default) */
    int conv2_gemm;              /* the same for conv 2's forward */
    optim_t opt;                 /* step 1: all parameters, lr groups */
    optim_t opt_proto;           /* step 2: prototypes only */
    /* scratch: one float allocation, one int allocation */
    int cap;                     /* images per forward: max(batch, C) */
    pah_acts sa, ta;             /* student (with backward) / teacher and evaluation */
    pah_hyper hy, thy;           /* current / previous hypernetwork */
    float *col;                  /* im2col scratch / input-gradient col (colcap floats) */
    long colcap;                 /* floats of every col buffer: whole batch up to a budget */
    float *dpad, *dpad2;         /* conv 1's / 2's direct-kernel scratch (convd_scratch_size) */
    float *dfeat, *dz3, *dg2, *dp2, *dr2, *dy2, *dz2, *dp1, *dr1, *dy1, *dz1;   /* backward */
    float *dheads, *dha2, *dhh2, *dha1;                       /* (T, ·) hypernet backward */
    float *logits, *tlogits, *dlogits, *probs;                /* (cap, C) */
    float *tproto;               /* (T, C, C) g_prev(p_j) cached at block start */
    float *rimg, *drimg;         /* (C, max(H·W, ph·pw)) one task's resized prototypes */
    float *pimg, *dpimg;         /* (C, Cin, Qh, Qw) one task's prototypes as backbone input */
    float *bx;                   /* (cap, Cin, Hp, Wp) staged inputs */
    float *fbuf;                 /* the float scratch allocation */
    int *ibuf;                   /* the int scratch allocation */
    int *by;                     /* (batch) local labels */
    /* data bookkeeping */
    int *held_out;               /* (T, C) training index used for the semantic init, or -1 */
    int **train_idx, *n_train;   /* per task: training indices without the held-out ones */
    int **ylocal_train;          /* per task: training labels as head indices 0..C-1 */
    int *order;                  /* (max n_train) shuffle buffer */
    int *seen, *old, nold;       /* tasks trained before; old tasks of the current stage */
    rng_t rng;                   /* shuffling */
    /* per-stage diagnostics (means over the last epoch of the stage) */
    double last_ce, last_sm, last_sp;
} pah_t;

static const param_spec pah_params[] = {
    TRAIN_CURVE_PARAM_SPECS,
    {"pah.prototype_shape", PARAM_INTLIST, "[10,10]", NULL, 1, 256,
     "prototype shape [h,w]: each of the C class prototypes is 1×h×w (task embedding C·h·w)"},
    {"pah.init", PARAM_STR, "semantic", "semantic|random", 1, 0,
     "prototype init: crop (channel mean) of one held-out training image per class, or N(0.5, 0.1)"},
    {"pah.crop", PARAM_STR, "centre", "centre|authors", 1, 0,
     "semantic crop offsets: centred in the image, or the authors' offsets for 32×32 images ((32−h)/2)"},
    {"pah.proto_input", PARAM_STR, "resize", "resize|native", 1, 0,
     "prototypes resized to the input size (flatten backbone) or fed at their own size (GAP backbone)"},
    {"pah.batchnorm", PARAM_BOOL, "false", NULL, 0, 1,
     "BatchNorm after each conv, batch statistics always (the authors' train-mode BN)"},
    {"pah.input_range", PARAM_STR, "unit", "unit|signed", 1, 0,
     "inputs as given (unit) or mapped x → 2x − 1 (signed: [0,1] data to the authors' [−1,1])"},
    {"pah.lambda_sm", PARAM_FLOAT, "0.5", NULL, 0, 1e6,
     "λ_sm: weight of the output distillation to f_prev over old tasks (step 1)"},
    {"pah.lambda_sp", PARAM_FLOAT, "1", NULL, 0, 1e6,
     "λ_sp: weight of the prototype distillation (step 2, prototypes only)"},
    {"pah.temperature", PARAM_FLOAT, "2", NULL, 1e-3, 1e3, "distillation temperature T"},
    {"pah.features", PARAM_INT, "64", NULL, 1, 65536, "backbone features F (head is C×F)"},
    {"pah.channels", PARAM_INTLIST, "[8,16]", NULL, 1, 1024,
     "backbone conv channels [c1,c2] (conv3×3-pool-conv3×3-pool-dense)"},
    {"pah.hyper_hidden", PARAM_INT, "16", NULL, 1, 65536, "hypernetwork hidden width"},
    {"pah.lr", PARAM_FLOAT, "0.001", NULL, 0, 1e6,
     "AdamW lr of the hypernetwork and the prototypes (both optimisers)"},
    {"pah.backbone_lr", PARAM_FLOAT, "0.0001", NULL, 0, 1e6, "AdamW lr of the backbone"},
    {"pah.weight_decay", PARAM_FLOAT, "0.01", NULL, 0, 1e3,
     "AdamW decoupled weight decay of both optimisers (the code's effective 0.01)"},
    {"pah.batch_size", PARAM_INT, "64", NULL, 1, 1e6, "minibatch size"},
    {"pah.accumulate_grads", PARAM_BOOL, "true", NULL, 0, 1,
     "step 2 adds its gradient to step 1's prototype gradient (original code: no zero_grad)"},
};

/* ---------------------------------------------------------------------------------- */
/* layout and allocation */

static int up4(int n) { return (n + 3) / 4 * 4; }

static void pah_layout(pah_t *m) {
    pah_geom *g = &m->g;
    if (g->Cin < 1) g->Cin = 1;
    m->E = (long)g->C * g->ph * g->pw;
    m->in_dim = (long)g->Cin * g->H * g->W;
    m->Hp = up4(g->H);
    m->Wp = up4(g->W);
    m->Qh = g->native ? up4(g->ph) : m->Hp;
    m->Qw = g->native ? up4(g->pw) : m->Wp;
    m->S = (long)m->Hp * m->Wp;
    m->Smax = (long)m->Qh * m->Qw > m->S ? (long)m->Qh * m->Qw : m->S;
    m->D = g->native ? g->c2 : g->c2 * (m->S / 16);
    long o = 0, nb = g->bn ? 1 : 0;
    m->off_c1w = o; o += (long)g->c1 * g->Cin * 9;
    m->off_c1b = o; o += g->c1;
    m->off_bn1g = o; o += nb * g->c1;
    m->off_bn1b = o; o += nb * g->c1;
    m->off_c2w = o; o += (long)g->c2 * g->c1 * 9;
    m->off_c2b = o; o += g->c2;
    m->off_bn2g = o; o += nb * g->c2;
    m->off_bn2b = o; o += nb * g->c2;
    m->off_fw = o;  o += (long)g->F * m->D;
    m->off_fb = o;  o += g->F;
    m->n_backbone = o;
    m->off_h1 = o; o += (long)g->hid * m->E;
    m->off_h2 = o; o += (long)g->hid * g->hid;
    m->off_h3 = o; o += (long)g->C * g->F * g->hid;
    m->off_proto = o; o += (long)g->T * m->E;
    m->nparams = o;
}

/* Scratch carving in two passes: with base NULL it only counts. */
typedef struct { float *fb; int *ib; long nf, ni; } carver;
static float *carve(carver *c, long n) { float *r = c->fb ? c->fb + c->nf : NULL; c->nf += n; return r; }
static int *carve_i(carver *c, long n) { int *r = c->ib ? c->ib + c->ni : NULL; c->ni += n; return r; }

static void acts_carve(const pah_t *m, pah_acts *a, carver *c, long N, int own_col) {
    const pah_geom *g = &m->g;
    long s1 = m->Smax, s2 = m->Smax / 4, s4 = m->Smax / 16, nb = g->bn ? 1 : 0;
    a->z1 = carve(c, N * g->c1 * s1);
    a->y1 = carve(c, nb * N * g->c1 * s1);
    a->xh1 = carve(c, nb * N * g->c1 * s1);
    a->r1 = carve(c, N * g->c1 * s1);
    a->p1 = carve(c, N * g->c1 * s2);
    a->z2 = carve(c, N * g->c2 * s2);
    a->y2 = carve(c, nb * N * g->c2 * s2);
    a->xh2 = carve(c, nb * N * g->c2 * s2);
    a->r2 = carve(c, N * g->c2 * s2);
    a->p2 = carve(c, N * g->c2 * s4);
    a->g2 = carve(c, N * g->c2);
    a->mu1 = carve(c, g->c1);
    a->rs1 = carve(c, g->c1);
    a->mu2 = carve(c, g->c2);
    a->rs2 = carve(c, g->c2);
    a->z3 = carve(c, N * g->F);
    a->feat = carve(c, N * g->F);
    a->a1 = carve_i(c, N * g->c1 * s2);
    a->a2 = carve_i(c, N * g->c2 * s4);
    a->col1 = own_col ? carve(c, m->colcap) : NULL;
    a->col2 = own_col ? carve(c, m->colcap) : NULL;
}

static void hyper_carve(const pah_t *m, pah_hyper *h, carver *c) {
    const pah_geom *g = &m->g;
    h->h1 = carve(c, (long)g->T * g->hid);
    h->a1 = carve(c, (long)g->T * g->hid);
    h->h2 = carve(c, (long)g->T * g->hid);
    h->a2 = carve(c, (long)g->T * g->hid);
    h->heads = carve(c, (long)g->T * g->C * g->F);
}

static void scratch_carve(pah_t *m, carver *c) {
    const pah_geom *g = &m->g;
    long N = m->cap, T = g->T, CF = (long)g->C * g->F, nb = g->bn ? 1 : 0;
    long s1 = m->Smax, s2 = s1 / 4, s4 = s1 / 16;
    long rsz = (long)g->H * g->W > (long)g->ph * g->pw ? (long)g->H * g->W : (long)g->ph * g->pw;
    acts_carve(m, &m->sa, c, N, 1);
    acts_carve(m, &m->ta, c, N, 0);   /* forward only: its col is m->col (free until a backward) */
    hyper_carve(m, &m->hy, c);
    hyper_carve(m, &m->thy, c);
    m->col = carve(c, m->colcap);
    long pd = convd_scratch_size(g->Cin, g->c1, m->Hp, m->Wp);
    long pq = convd_scratch_size(g->Cin, g->c1, m->Qh, m->Qw);
    m->dpad = carve(c, pd > pq ? pd : pq);
    pd = convd_scratch_size(g->c1, g->c2, m->Hp / 2, m->Wp / 2);
    pq = convd_scratch_size(g->c1, g->c2, m->Qh / 2, m->Qw / 2);
    if (pq > pd) pd = pq;
    pq = convd_scratch_size_x(g->c1, g->c2, m->Hp / 2, m->Wp / 2);
    if (pq > pd) pd = pq;
    pq = convd_scratch_size_x(g->c1, g->c2, m->Qh / 2, m->Qw / 2);
    m->dpad2 = carve(c, pd > pq ? pd : pq);
    if (c->fb) m->ta.col1 = m->ta.col2 = m->col;
    m->dfeat = carve(c, N * g->F);
    m->dz3 = carve(c, N * g->F);
    m->dg2 = carve(c, N * g->c2);
    m->dp2 = carve(c, N * g->c2 * s4);
    m->dr2 = carve(c, N * g->c2 * s2);
    m->dy2 = carve(c, nb * N * g->c2 * s2);
    m->dz2 = carve(c, N * g->c2 * s2);
    m->dp1 = carve(c, N * g->c1 * s2);
    m->dr1 = carve(c, N * g->c1 * s1);
    m->dy1 = carve(c, nb * N * g->c1 * s1);
    m->dz1 = carve(c, N * g->c1 * s1);
    m->dheads = carve(c, T * CF);
    m->dha2 = carve(c, T * g->hid);
    m->dhh2 = carve(c, T * g->hid);
    m->dha1 = carve(c, T * g->hid);
    m->logits = carve(c, N * g->C);
    m->tlogits = carve(c, N * g->C);
    m->dlogits = carve(c, N * g->C);
    m->probs = carve(c, N * g->C);
    m->tproto = carve(c, T * g->C * g->C);
    m->rimg = carve(c, g->C * rsz);
    m->drimg = carve(c, g->C * rsz);
    m->pimg = carve(c, (long)g->C * g->Cin * m->Qh * m->Qw);
    m->dpimg = carve(c, (long)g->C * g->Cin * m->Qh * m->Qw);
    m->bx = carve(c, N * g->Cin * m->S);
    m->by = carve_i(c, N);
}

/* Floats of each im2col buffer: both convs of a whole batch of cap images (the input side or
 * the prototype side, whichever is larger), capped at PAH_COL_BUDGET floats but at least one
 * image (larger batches are then cut into chunks, nn.h convb_). */
#ifndef PAH_COL_BUDGET
#define PAH_COL_BUDGET (16L << 10)
#endif
static long pah_colcap(const pah_t *m) {
    const pah_geom *g = &m->g;
    long s = m->Smax, one = (long)9 * g->Cin * s;
    if ((long)9 * g->c1 * (s / 4) > one) one = (long)9 * g->c1 * (s / 4);
    long c1 = convb_col_size(g->Cin, m->cap, m->Hp, m->Wp);
    long c2 = convb_col_size(g->c1, m->cap, m->Hp / 2, m->Wp / 2);
    long q1 = convb_col_size(g->Cin, g->C, m->Qh, m->Qw);
    long q2 = convb_col_size(g->c1, g->C, m->Qh / 2, m->Qw / 2);
    long full = c1;
    if (c2 > full) full = c2;
    if (q1 > full) full = q1;
    if (q2 > full) full = q2;
    if (full > PAH_COL_BUDGET) full = PAH_COL_BUDGET;
    return full > one ? full : one;
}

/* Allocates the arena and scratch for geometry g and batch size batch; parameters are
 * initialised from r (PyTorch defaults for the backbone, BN γ = 1 and β = 0, Kaiming/10 for
 * the hypernet's last layer; prototypes N(0.5, 0.1) — semantic init overwrites them later). */
static pah_t *pah_create(const pah_geom *g, int batch, rng_t *r) {
    pah_t *m = xcalloc(1, sizeof *m);
    m->g = *g;
    m->batch = batch;
    pah_layout(m);
    g = &m->g;
    long P = m->nparams;
    m->params = xcalloc((size_t)(3 * P), sizeof(float));
    m->grads = m->params + P;
    m->prev = m->grads + P;

    float *w = m->params;
    float b1 = 1.0f / sqrtf((float)(9 * g->Cin)), b2 = 1.0f / sqrtf((float)(9 * g->c1));
    float b3 = 1.0f / sqrtf((float)m->D);
    rng_fill_uniform(r, w + m->off_c1w, (long)g->c1 * g->Cin * 9, -b1, b1);
    rng_fill_uniform(r, w + m->off_c1b, g->c1, -b1, b1);
    rng_fill_uniform(r, w + m->off_c2w, (long)g->c2 * g->c1 * 9, -b2, b2);
    rng_fill_uniform(r, w + m->off_c2b, g->c2, -b2, b2);
    rng_fill_uniform(r, w + m->off_fw, (long)g->F * m->D, -b3, b3);
    rng_fill_uniform(r, w + m->off_fb, g->F, -b3, b3);
    for (long i = m->off_bn1g; i < m->off_bn1b; i++) w[i] = 1.0f;
    for (long i = m->off_bn2g; i < m->off_bn2b; i++) w[i] = 1.0f;
    /* Kaiming normal, fan_in, gain √2 (nonlinearity='relu', a=0) */
    rng_fill_normal(r, w + m->off_h1, (long)g->hid * m->E, 0.0f, sqrtf(2.0f / (float)m->E));
    rng_fill_normal(r, w + m->off_h2, (long)g->hid * g->hid, 0.0f, sqrtf(2.0f / (float)g->hid));
    rng_fill_normal(r, w + m->off_h3, (long)g->C * g->F * g->hid, 0.0f,
                    sqrtf(2.0f / (float)g->hid) / 10.0f);
    rng_fill_normal(r, w + m->off_proto, (long)g->T * m->E, 0.5f, 0.1f);
    memcpy(m->prev, m->params, sizeof(float) * (size_t)P);

    m->cap = batch > g->C ? batch : g->C;
    m->colcap = pah_colcap(m);
    carver c = {0};
    scratch_carve(m, &c);
    m->fbuf = xcalloc((size_t)c.nf, sizeof(float));
    m->ibuf = xcalloc((size_t)c.ni + 1, sizeof(int));
    carver c2 = {m->fbuf, m->ibuf, 0, 0};
    scratch_carve(m, &c2);
    m->seen = xcalloc((size_t)(2 * g->T), sizeof(int));
    m->old = m->seen + g->T;
    m->lambda_sm = 0.5f;
    m->lambda_sp = 1.0f;
    m->temp = 2.0f;
    m->in_scale = 1.0f;
    m->in_shift = 0.0f;
    m->accumulate = 1;
    m->act = ACT_RELU;
    m->hyper_act = ACT_LEAKY_RELU;
    return m;
}

/* Step 1's optimiser: backbone at blr, hypernet and prototypes at lr; step 2's: prototypes. */
static void pah_optim_init(pah_t *m, float lr, float blr, float wd) {
    optim_init(&m->opt, OPTIM_ADAMW, m->nparams, lr);
    optim_group gr[3] = {
        {0, m->n_backbone, blr},
        {m->off_h1, m->off_proto - m->off_h1, lr},
        {m->off_proto, (long)m->g.T * m->E, lr},
    };
    optim_set_groups(&m->opt, gr, 3);
    m->opt.weight_decay = wd;
    optim_init(&m->opt_proto, OPTIM_ADAMW, m->nparams, lr);
    optim_set_groups(&m->opt_proto, &gr[2], 1);
    m->opt_proto.weight_decay = wd;
}

/* ---------------------------------------------------------------------------------- */
/* forward / backward */

/* Bias + ReLU + max-pool fused in one pass (pool2b_forward with relu): ReLU and no
 * BatchNorm, the default; otherwise conv + bias, BatchNorm, activation and max-pool are
 * separate passes (the smooth activations of the gradient checks, pah.batchnorm). */
static int pah_fused(const pah_t *m) { return !m->g.bn && m->act == ACT_RELU && !m->unfused; }

/* One conv stage of the backbone after its convolution (z = conv(x) without bias, CBHW):
 * pooled p, argmax a (CBHW, or NCHW when p_nchw) from z with bias b, BN (γ at bng) and act. */
static void stage_forward(pah_t *m, const float *P, pah_acts *a, int layer, int N, int h, int w,
                          int p_nchw) {
    const pah_geom *g = &m->g;
    int C = layer == 1 ? g->c1 : g->c2;
    float *z = layer == 1 ? a->z1 : a->z2, *y = layer == 1 ? a->y1 : a->y2;
    float *xh = layer == 1 ? a->xh1 : a->xh2, *r = layer == 1 ? a->r1 : a->r2;
    float *p = layer == 1 ? a->p1 : a->p2, *mu = layer == 1 ? a->mu1 : a->mu2;
    float *rs = layer == 1 ? a->rs1 : a->rs2;
    int *am = layer == 1 ? a->a1 : a->a2;
    long ob = layer == 1 ? m->off_c1b : m->off_c2b, og = layer == 1 ? m->off_bn1g : m->off_bn2g;
    long obe = layer == 1 ? m->off_bn1b : m->off_bn2b, hw = (long)h * w;
    if (pah_fused(m)) {
        pool2b_forward(p, am, z, P + ob, 1, N, C, h, w, p_nchw);
        return;
    }
    convb_add_bias(z, P + ob, N, C, (int)hw);
    const float *pre = z;
    if (g->bn) {   /* CBHW: channel c is one row of N·hw values (B = 1 in batchnorm's terms) */
        batchnorm_forward(y, xh, mu, rs, z, P + og, P + obe, 1, C, (int)(N * hw), PAH_BN_EPS);
        pre = y;
    }
    act_forward(m->act, r, pre, (long)N * C * hw);
    pool2b_forward(p, am, r, NULL, 0, N, C, h, w, p_nchw);
}

/* Features of N images x (N, Cin, h, w) — h, w multiples of 4 — with the parameters at P
 * (params or prev). */
static void backbone_forward(pah_t *m, const float *P, pah_acts *a, const float *x, int N,
                             int h, int w) {
    const pah_geom *g = &m->g;
    long s4 = (long)h * w / 16;
    a->h = h;
    a->w = w;
    a->cv1 = 0;
    if (m->conv1_gemm) {
        a->cv1 = convb_forward(a->z1, x, P + m->off_c1w, a->col1, m->colcap, N, g->Cin, h, w,
                               g->c1, 1);
        stage_forward(m, P, a, 1, N, h, w, 0);
    } else if (pah_fused(m)) {   /* direct conv 1 + bias + ReLU + pool per image: no z1 */
        convd_forward_pool(a->p1, a->a1, x, P + m->off_c1w, P + m->off_c1b, m->dpad, N, g->Cin,
                           h, w, g->c1, 1, 0);
    } else {   /* direct conv 1 (K = 9·Cin: no im2col, no small sgemm), separate passes */
        convd_forward(a->z1, x, P + m->off_c1w, m->dpad, N, g->Cin, h, w, g->c1, 1);
        stage_forward(m, P, a, 1, N, h, w, 0);
    }
    a->cv2 = 0;   /* conv 2's forward: direct too (its gradients stay im2col + sgemm) */
    if (m->conv2_gemm) {
        a->cv2 = convb_forward(a->z2, a->p1, P + m->off_c2w, a->col2, m->colcap, N, g->c1, h / 2,
                               w / 2, g->c2, 0);
        stage_forward(m, P, a, 2, N, h / 2, w / 2, 1);
    } else if (pah_fused(m)) {
        convd_forward_pool(a->p2, a->a2, a->p1, P + m->off_c2w, P + m->off_c2b, m->dpad2, N,
                           g->c1, h / 2, w / 2, g->c2, 0, 1);
    } else {
        convd_forward(a->z2, a->p1, P + m->off_c2w, m->dpad2, N, g->c1, h / 2, w / 2, g->c2, 0);
        stage_forward(m, P, a, 2, N, h / 2, w / 2, 1);
    }
    const float *din = a->p2;
    if (g->native) {
        gap_forward(a->g2, a->p2, N, g->c2, (int)s4);
        din = a->g2;
    } else if (g->c2 * s4 != m->D) {   /* flatten backbone on another size: a layout bug */
        fprintf(stderr, "clsweep: internal error: pah flatten backbone on a foreign size\n");
        abort();
    }
    dense_forward(a->z3, din, P + m->off_fw, P + m->off_fb, N, (int)m->D, g->F);
    act_forward(m->act, a->feat, a->z3, (long)N * g->F);
}

/* Adjoint of stage_forward: dz (CBHW, zeroed here) from dp (the pooled gradient, CBHW or
 * NCHW when p_nchw); BN/act parameter gradients accumulate into m->grads. */
static void stage_backward(pah_t *m, int layer, float *dz, float *dr, float *dy, const float *dp,
                           int N, int h, int w, int p_nchw) {
    const pah_geom *g = &m->g;
    const pah_acts *a = &m->sa;
    int C = layer == 1 ? g->c1 : g->c2;
    const float *z = layer == 1 ? a->z1 : a->z2, *y = layer == 1 ? a->y1 : a->y2;
    const float *xh = layer == 1 ? a->xh1 : a->xh2, *r = layer == 1 ? a->r1 : a->r2;
    const float *p = layer == 1 ? a->p1 : a->p2, *rs = layer == 1 ? a->rs1 : a->rs2;
    const int *am = layer == 1 ? a->a1 : a->a2;
    long og = layer == 1 ? m->off_bn1g : m->off_bn2g, obe = layer == 1 ? m->off_bn1b : m->off_bn2b;
    long n = (long)N * C * h * w;
    if (pah_fused(m)) {   /* writes every element of dz: no clearing pass */
        pool2b_backward_set(dz, dp, p, am, N, C, h, w, p_nchw);
        return;
    }
    memset(dz, 0, sizeof(float) * (size_t)n);
    pool2b_backward_set(dr, dp, NULL, am, N, C, h, w, p_nchw);
    if (g->bn) {
        memset(dy, 0, sizeof(float) * (size_t)n);
        act_backward(m->act, dy, dr, y, r, n);
        batchnorm_backward(dz, m->grads + og, m->grads + obe, dy, xh, rs, m->params + og, 1, C,
                           (int)(n / C));
    } else {
        act_backward(m->act, dz, dr, z, r, n);
    }
}

/* Backward of the last student forward (m->sa) from m->dfeat (N, F): accumulates into
 * m->grads; dx (N, Cin, h, w) accumulates the input gradient when non-NULL. */
static void backbone_backward(pah_t *m, const float *x, int N, float *dx) {
    const pah_geom *g = &m->g;
    const pah_acts *a = &m->sa;
    const float *P = m->params;
    float *G = m->grads;
    int h = a->h, w = a->w;
    long s1 = (long)h * w, s2 = s1 / 4, s4 = s1 / 16;
    memset(m->dz3, 0, sizeof(float) * (size_t)N * g->F);
    act_backward(m->act, m->dz3, m->dfeat, a->z3, a->feat, (long)N * g->F);
    long np2 = (long)N * g->c2 * s4;
    memset(m->dp2, 0, sizeof(float) * (size_t)np2);
    if (g->native) {
        memset(m->dg2, 0, sizeof(float) * (size_t)N * g->c2);
        dense_backward(m->dg2, G + m->off_fw, G + m->off_fb, m->dz3, a->g2, P + m->off_fw, N,
                       (int)m->D, g->F);
        gap_backward(m->dp2, m->dg2, N, g->c2, (int)s4);
    } else {
        dense_backward(m->dp2, G + m->off_fw, G + m->off_fb, m->dz3, a->p2, P + m->off_fw, N,
                       (int)m->D, g->F);
    }
    stage_backward(m, 2, m->dz2, m->dr2, m->dy2, m->dp2, N, h / 2, w / 2, 1);
    if (m->conv2_gemm) {
        memset(m->dp1, 0, sizeof(float) * (size_t)N * g->c1 * s2);
        convb_backward(m->dp1, G + m->off_c2w, G + m->off_c2b, m->dz2, a->p1, P + m->off_c2w,
                       a->col2, a->cv2, m->col, m->colcap, N, g->c1, h / 2, w / 2, g->c2, 0);
    } else {   /* weights/bias through im2col + sgemm, the input gradient direct (written) */
        convb_backward(NULL, G + m->off_c2w, G + m->off_c2b, m->dz2, a->p1, P + m->off_c2w,
                       a->col2, a->cv2, m->col, m->colcap, N, g->c1, h / 2, w / 2, g->c2, 0);
        convd_backward_x(m->dp1, m->dz2, P + m->off_c2w, m->dpad2, N, g->c1, h / 2, w / 2, g->c2);
    }
    if (m->conv1_gemm) {
        stage_backward(m, 1, m->dz1, m->dr1, m->dy1, m->dp1, N, h, w, 0);
        convb_backward(dx, G + m->off_c1w, G + m->off_c1b, m->dz1, x, P + m->off_c1w, a->col1,
                       a->cv1, m->col, m->colcap, N, g->Cin, h, w, g->c1, 1);
    } else if (pah_fused(m) && !dx) {   /* un-pool + weight and bias gradients per image */
        convd_backward_pool(G + m->off_c1w, G + m->off_c1b, m->dp1, a->p1, a->a1, x, m->dpad, N,
                            g->Cin, h, w, g->c1, 1);
    } else {   /* the same bits through dz1 (which the input gradient needs) */
        stage_backward(m, 1, m->dz1, m->dr1, m->dy1, m->dp1, N, h, w, 0);
        convd_backward_w(G + m->off_c1w, G + m->off_c1b, m->dz1, x, m->dpad, N, g->Cin, h, w,
                         g->c1, 1);
        if (dx)
            convb_backward(dx, NULL, NULL, m->dz1, x, P + m->off_c1w, a->col1, 0, m->col,
                           m->colcap, N, g->Cin, h, w, g->c1, 1);
    }
}

/* Heads of all T tasks from their prototypes, with the parameters at P. */
static void hyper_forward(pah_t *m, const float *P, pah_hyper *h) {
    const pah_geom *g = &m->g;
    int T = g->T, hid = g->hid;
    dense_forward(h->h1, P + m->off_proto, P + m->off_h1, NULL, T, (int)m->E, hid);
    act_forward(m->hyper_act, h->a1, h->h1, (long)T * hid);
    dense_forward(h->h2, h->a1, P + m->off_h2, NULL, T, hid, hid);
    act_forward(m->hyper_act, h->a2, h->h2, (long)T * hid);
    dense_forward(h->heads, h->a2, P + m->off_h3, NULL, T, hid, g->C * g->F);
}

/* Backward of the last hyper_forward(m, params, &m->hy) from m->dheads (T, C·F):
 * accumulates into the hypernet's and the prototypes' gradients. */
static void hyper_backward(pah_t *m) {
    const pah_geom *g = &m->g;
    const pah_hyper *h = &m->hy;
    const float *P = m->params;
    float *G = m->grads;
    int T = g->T, hid = g->hid;
    long n = (long)T * hid;
    memset(m->dha2, 0, sizeof(float) * (size_t)n);
    dense_backward(m->dha2, G + m->off_h3, NULL, m->dheads, h->a2, P + m->off_h3, T, hid, g->C * g->F);
    memset(m->dhh2, 0, sizeof(float) * (size_t)n);
    act_backward(m->hyper_act, m->dhh2, m->dha2, h->h2, h->a2, n);
    memset(m->dha1, 0, sizeof(float) * (size_t)n);
    dense_backward(m->dha1, G + m->off_h2, NULL, m->dhh2, h->a1, P + m->off_h2, T, hid, hid);
    /* dha2 is free again: reuse it for the first layer's pre-activation gradient */
    memset(m->dha2, 0, sizeof(float) * (size_t)n);
    act_backward(m->hyper_act, m->dha2, m->dha1, h->h1, h->a1, n);
    dense_backward(G + m->off_proto, G + m->off_h1, NULL, m->dha2, P + m->off_proto, P + m->off_h1,
                   T, (int)m->E, hid);
}

/* The C prototypes of task j as backbone input, into m->pimg (C, Cin, Qh, Qw): resized to
 * the input's H×W (resize) or at their own size (native), replicated over the Cin channels,
 * zero-padded at the bottom/right. */
static void proto_images(pah_t *m, const float *P, int j) {
    const pah_geom *g = &m->g;
    const float *img = P + m->off_proto + (long)j * m->E;
    int h = g->ph, w = g->pw;
    if (!g->native) {
        resize_bilinear_forward(m->rimg, img, g->C, 1, g->ph, g->pw, g->H, g->W);
        img = m->rimg;
        h = g->H;
        w = g->W;
    }
    long q = (long)m->Qh * m->Qw;
    memset(m->pimg, 0, sizeof(float) * (size_t)(g->C * g->Cin * q));
    for (int c = 0; c < g->C; c++)
        for (int ch = 0; ch < g->Cin; ch++)
            for (int y = 0; y < h; y++)
                memcpy(m->pimg + ((long)c * g->Cin + ch) * q + (long)y * m->Qw,
                       img + ((long)c * h + y) * w, sizeof(float) * (size_t)w);
}

/* Adjoint of proto_images: m->dpimg (C, Cin, Qh, Qw) → the gradient of task j's prototypes. */
static void proto_backward(pah_t *m, int j) {
    const pah_geom *g = &m->g;
    float *dst = m->grads + m->off_proto + (long)j * m->E;
    int h = g->native ? g->ph : g->H, w = g->native ? g->pw : g->W;
    float *d = g->native ? dst : m->drimg;
    if (!g->native) memset(m->drimg, 0, sizeof(float) * (size_t)((long)g->C * h * w));
    long q = (long)m->Qh * m->Qw;
    for (int c = 0; c < g->C; c++)
        for (int ch = 0; ch < g->Cin; ch++)
            for (int y = 0; y < h; y++) {
                const float *s = m->dpimg + ((long)c * g->Cin + ch) * q + (long)y * m->Qw;
                float *o = d + ((long)c * h + y) * w;
                for (int x = 0; x < w; x++) o[x] += s[x];
            }
    if (!g->native) resize_bilinear_backward(dst, m->drimg, g->C, 1, g->ph, g->pw, g->H, g->W);
}

/* At the start of a stage: the previous model's heads and its outputs on its own
 * prototypes of every old task (both constant during the stage); one batch per task. */
static void pah_teacher_cache(pah_t *m) {
    const pah_geom *g = &m->g;
    int C = g->C, F = g->F;
    if (!m->nold) return;
    hyper_forward(m, m->prev, &m->thy);
    for (int i = 0; i < m->nold; i++) {
        int j = m->old[i];
        proto_images(m, m->prev, j);
        backbone_forward(m, m->prev, &m->ta, m->pimg, C, m->Qh, m->Qw);
        dense_forward(m->tproto + (long)j * C * C, m->ta.feat, m->thy.heads + (long)j * C * F,
                      NULL, C, F, C);
    }
}

/* Step 1 on a batch x (B, Cin, Hp, Wp) with head labels y of task k: loss
 * CE(f(x|k), y) + λ_sm Σ_{j old} KD(f(x|j), f_prev(x|j)); gradients accumulate into m->grads.
 * Needs pah_teacher_cache for the current old tasks. ce/kd (optional) get the two parts. */
static float pah_step1(pah_t *m, const float *x, const int *y, int B, int k, float *ce, float *kd) {
    const pah_geom *g = &m->g;
    int C = g->C, F = g->F;
    long CF = (long)C * F;
    hyper_forward(m, m->params, &m->hy);
    backbone_forward(m, m->params, &m->sa, x, B, m->Hp, m->Wp);
    if (m->nold) backbone_forward(m, m->prev, &m->ta, x, B, m->Hp, m->Wp);
    const float *feat = m->sa.feat;
    memset(m->dfeat, 0, sizeof(float) * (size_t)B * F);
    memset(m->dheads, 0, sizeof(float) * (size_t)(g->T * CF));

    const float *Wk = m->hy.heads + k * CF;
    dense_forward(m->logits, feat, Wk, NULL, B, F, C);
    float l_ce = softmax_xent_forward(m->probs, m->logits, y, NULL, B, C);
    memset(m->dlogits, 0, sizeof(float) * (size_t)B * C);
    softmax_xent_backward(m->dlogits, m->probs, y, NULL, 1.0f, B, C);
    dense_backward(m->dfeat, m->dheads + k * CF, NULL, m->dlogits, feat, Wk, B, F, C);

    float l_kd = 0.0f;
    for (int i = 0; i < m->nold; i++) {
        int j = m->old[i];
        const float *Wj = m->hy.heads + j * CF;
        dense_forward(m->logits, feat, Wj, NULL, B, F, C);
        dense_forward(m->tlogits, m->ta.feat, m->thy.heads + j * CF, NULL, B, F, C);
        /* student first: T²·KL(p_student ‖ p_teacher), as the original code computes */
        l_kd += kd_forward(m->logits, m->tlogits, NULL, m->temp, B, C);
        memset(m->dlogits, 0, sizeof(float) * (size_t)B * C);
        kd_backward(m->dlogits, m->logits, m->tlogits, NULL, m->temp, m->lambda_sm, B, C);
        dense_backward(m->dfeat, m->dheads + j * CF, NULL, m->dlogits, feat, Wj, B, F, C);
    }
    hyper_backward(m);
    backbone_backward(m, x, B, NULL);
    if (ce) *ce = l_ce;
    if (kd) *kd = m->lambda_sm * l_kd;
    return l_ce + m->lambda_sm * l_kd;
}

/* Step 2: λ_sp Σ_{j old} mean_c KD(g(p_j^c), g_prev(p_j^c)); gradients accumulate into
 * m->grads (all parameters: the caller's optimiser decides what moves). 0 without old tasks.
 * Each old task's C prototypes are one backbone batch (forward and backward). */
static float pah_step2(pah_t *m) {
    const pah_geom *g = &m->g;
    int C = g->C, F = g->F;
    long CF = (long)C * F, q = (long)C * g->Cin * m->Qh * m->Qw;
    if (!m->nold) return 0.0f;
    hyper_forward(m, m->params, &m->hy);
    memset(m->dheads, 0, sizeof(float) * (size_t)(g->T * CF));
    float l = 0.0f;
    for (int i = 0; i < m->nold; i++) {
        int j = m->old[i];
        const float *Wj = m->hy.heads + j * CF, *t = m->tproto + (long)j * C * C;
        proto_images(m, m->params, j);
        backbone_forward(m, m->params, &m->sa, m->pimg, C, m->Qh, m->Qw);
        dense_forward(m->logits, m->sa.feat, Wj, NULL, C, F, C);
        l += kd_forward(m->logits, t, NULL, m->temp, C, C);   /* mean over the C prototypes */
        memset(m->dlogits, 0, sizeof(float) * (size_t)C * C);
        kd_backward(m->dlogits, m->logits, t, NULL, m->temp, m->lambda_sp, C, C);
        memset(m->dfeat, 0, sizeof(float) * (size_t)C * F);
        dense_backward(m->dfeat, m->dheads + j * CF, NULL, m->dlogits, m->sa.feat, Wj, C, F, C);
        memset(m->dpimg, 0, sizeof(float) * (size_t)q);
        backbone_backward(m, m->pimg, C, m->dpimg);
        proto_backward(m, j);
    }
    hyper_backward(m);
    return m->lambda_sp * l;
}

/* Old tasks of a stage training task k: trained before, other than k. */
static void pah_set_task(pah_t *m, int k) {
    m->nold = 0;
    for (int j = 0; j < m->g.T; j++)
        if (m->seen[j] && j != k) m->old[m->nold++] = j;
}

/* Step 1 of a batch: gradients of the step-1 loss (zeroed first), AdamW over all groups. */
static run_status pah_update_all(pah_t *m, const float *x, const int *y, int B, int k,
                                 float *ce, float *kd) {
    memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    float loss = pah_step1(m, x, y, B, k, ce, kd);
    if (!isfinite(loss)) {
        cls_seterr("non-finite training loss (step 1)");
        return RUN_STATUS_DIVERGED;
    }
    optim_step(&m->opt, m->params, m->grads);
    return RUN_STATUS_OK;
}

/* Step 2 of a batch: the prototype loss's gradient (added to step 1's unless
 * accumulate == 0, as the original code never zeroes in between), AdamW over the
 * prototypes only. Runs on every batch, also without old tasks, as the original does. */
static run_status pah_update_prototypes(pah_t *m, float *lp) {
    if (!m->accumulate) memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    *lp = pah_step2(m);
    if (!isfinite(*lp)) {
        cls_seterr("non-finite training loss (prototype step)");
        return RUN_STATUS_DIVERGED;
    }
    optim_step(&m->opt_proto, m->params, m->grads);
    return RUN_STATUS_OK;
}

/* One training batch: step 1 (all parameters), then step 2 (prototypes only). */
static run_status pah_batch(pah_t *m, const float *x, const int *y, int B, int k,
                            double *ce_sum, double *sm_sum, double *sp_sum) {
    float ce = 0, kd = 0, lp = 0;
    run_status st = pah_update_all(m, x, y, B, k, &ce, &kd);
    if (st == RUN_STATUS_OK) st = pah_update_prototypes(m, &lp);
    *ce_sum += ce;
    *sm_sum += kd;
    *sp_sum += lp;
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* the model interface */


/* Semantic init of one prototype dst (h, w) from one stored example img (Cin, H, W): the
 * channel mean of a crop — centred, or at the authors' offsets for 32×32 images ((32 − h)/2,
 * clamped to the image) — mapped by the input range; bilinear resize of the channel mean
 * when the prototype is larger than the image. */
static void semantic_proto(const pah_t *m, float *dst, const float *img, int authors) {
    const pah_geom *g = &m->g;
    int H = g->H, W = g->W, h = g->ph, w = g->pw;
    long hw = (long)H * W;
    float *mean = m->rimg;   /* scratch of at least H·W */
    for (long i = 0; i < hw; i++) {
        float s = 0.0f;
        for (int ch = 0; ch < g->Cin; ch++) s += img[ch * hw + i];
        mean[i] = m->in_scale * (s / (float)g->Cin) + m->in_shift;
    }
    if (h <= H && w <= W) {
        int y0 = (H - h) / 2, x0 = (W - w) / 2;
        if (authors) {
            y0 = (32 - h) / 2 < 0 ? 0 : (32 - h) / 2;
            x0 = (32 - w) / 2 < 0 ? 0 : (32 - w) / 2;
            if (y0 > H - h) y0 = H - h;
            if (x0 > W - w) x0 = W - w;
        }
        for (int y = 0; y < h; y++)
            memcpy(dst + (long)y * w, mean + (long)(y0 + y) * W + x0, sizeof(float) * (size_t)w);
    } else {
        resize_bilinear_forward(dst, mean, 1, 1, H, W, h, w);
    }
}

/* n stored examples (rows idx[0..n) of x, or rows i0.. when idx is NULL) into m->bx
 * (n, Cin, Hp, Wp): mapped by the input range, zero-padded at the bottom/right. */
static void stage_inputs(pah_t *m, const float *x, const int *idx, int i0, int n) {
    const pah_geom *g = &m->g;
    memset(m->bx, 0, sizeof(float) * (size_t)((long)n * g->Cin * m->S));
    for (int r = 0; r < n; r++) {
        const float *src = x + (long)(idx ? idx[r] : i0 + r) * m->in_dim;
        for (int ch = 0; ch < g->Cin; ch++)
            for (int y = 0; y < g->H; y++) {
                const float *s = src + ((long)ch * g->H + y) * g->W;
                float *d = m->bx + ((long)r * g->Cin + ch) * m->S + (long)y * m->Wp;
                for (int xx = 0; xx < g->W; xx++) d[xx] = m->in_scale * s[xx] + m->in_shift;
            }
    }
}

static int local_label(const task_t *t, int y) {
    for (int c = 0; c < t->nclasses; c++)
        if (t->classes[c] == y) return c;
    return -1;
}

/* model.h accepts hook: PAH takes image classification benchmarks of any C×H×W in the task
 * scenario with the same number (>= 2) of classes in every task. */
static const char *pah_accepts(const bench_t *b, const run_config *cfg) {
    static char why[256];
    if (b->kind != BENCH_KIND_CLASSIFICATION) return "pah is a classifier";
    if (b->img_c < 1 || b->img_h < 1 || b->img_w < 1)
        return "pah's CNN backbone needs image inputs (C×H×W); this benchmark's inputs are flat vectors";
    const char *scen = cfg ? cfg_get(cfg, "benchmark.scenario") : NULL;
    if (scen && strcmp(scen, "task")) {
        snprintf(why, sizeof why, "pah generates one head per task and needs the task id at test "
                 "time: use benchmark.scenario=task (got '%s')", scen);
        return why;
    }
    int C = b->ntasks > 0 ? b->tasks[0].nclasses : 0;
    for (int t = 0; t < b->ntasks; t++)
        if (b->tasks[t].nclasses != C || C < 2)
            return "pah needs the same number (>= 2) of classes in every task";
    return NULL;
}

/* Reads the model's settings from cfg into m (after pah_create). */
static void pah_settings(pah_t *m, const run_config *cfg) {
    m->lambda_sm = (float)cfg_float(cfg, "pah.lambda_sm");
    m->lambda_sp = (float)cfg_float(cfg, "pah.lambda_sp");
    m->temp = (float)cfg_float(cfg, "pah.temperature");
    m->accumulate = cfg_bool(cfg, "pah.accumulate_grads");
    if (!strcmp(cfg_str(cfg, "pah.input_range"), "signed")) {
        m->in_scale = 2.0f;
        m->in_shift = -1.0f;
    }
    pah_optim_init(m, (float)cfg_float(cfg, "pah.lr"), (float)cfg_float(cfg, "pah.backbone_lr"),
                   (float)cfg_float(cfg, "pah.weight_decay"));
}

/* One held-out training image per class (seeded choice), always removed from training
 * (as the original code does for both init modes); its crop is the semantic init. */
static void pah_hold_out(pah_t *m, const bench_t *b, const run_config *cfg, uint64_t seed) {
    const pah_geom *g = &m->g;
    int T = g->T, C = g->C, semantic = !strcmp(cfg_str(cfg, "pah.init"), "semantic");
    int authors = !strcmp(cfg_str(cfg, "pah.crop"), "authors");
    rng_t hr;
    rng_init(&hr, seed, 3);
    m->held_out = xmalloc(sizeof(int) * (size_t)(T * C));
    m->n_train = xcalloc((size_t)T, sizeof(int));
    m->train_idx = xcalloc((size_t)T, sizeof(int *));
    m->ylocal_train = xcalloc((size_t)T, sizeof(int *));
    int maxn = 1;
    for (int t = 0; t < T; t++) {
        const task_t *tk = &b->tasks[t];
        int n = tk->n_train;
        m->ylocal_train[t] = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
        m->train_idx[t] = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
        for (int i = 0; i < n; i++) m->ylocal_train[t][i] = local_label(tk, tk->y_train[i]);
        for (int c = 0; c < C; c++) {
            int cnt = 0;
            for (int i = 0; i < n; i++) cnt += m->ylocal_train[t][i] == c;
            int pick = cnt ? (int)rng_below(&hr, (uint32_t)cnt) : -1, hit = -1;
            for (int i = 0; i < n && pick >= 0; i++)
                if (m->ylocal_train[t][i] == c && pick-- == 0) hit = i;
            m->held_out[t * C + c] = hit;
            if (semantic && hit >= 0)
                semantic_proto(m, m->params + m->off_proto + t * m->E + (long)c * g->ph * g->pw,
                               tk->x_train + (long)hit * m->in_dim, authors);
        }
        for (int i = 0; i < n; i++) {
            int keep = m->ylocal_train[t][i] >= 0;
            for (int c = 0; c < C; c++) keep &= m->held_out[t * C + c] != i;
            if (keep) m->train_idx[t][m->n_train[t]++] = i;
        }
        if (m->n_train[t] > maxn) maxn = m->n_train[t];
    }
    m->order = xmalloc(sizeof(int) * (size_t)maxn);
}

static model_t *pah_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    const char *why = pah_accepts(b, cfg);
    if (why) {
        cls_seterr("%s", why);
        return NULL;
    }
    int shape[4], ch[4];
    if (cfg_intlist(cfg, "pah.prototype_shape", shape, 4) != 2) {
        cls_seterr("pah.prototype_shape: expected [h,w]");
        return NULL;
    }
    if (cfg_intlist(cfg, "pah.channels", ch, 4) != 2) {
        cls_seterr("pah.channels: expected [c1,c2]");
        return NULL;
    }
    pah_geom g = {
        .T = b->ntasks, .C = b->tasks[0].nclasses, .Cin = b->img_c, .H = b->img_h, .W = b->img_w,
        .c1 = ch[0], .c2 = ch[1], .F = (int)cfg_int(cfg, "pah.features"), .ph = shape[0],
        .pw = shape[1], .hid = (int)cfg_int(cfg, "pah.hyper_hidden"),
        .native = !strcmp(cfg_str(cfg, "pah.proto_input"), "native"),
        .bn = cfg_bool(cfg, "pah.batchnorm"),
    };
    rng_t init_rng;
    rng_init(&init_rng, seed, 1);
    pah_t *m = pah_create(&g, (int)cfg_int(cfg, "pah.batch_size"), &init_rng);
    pah_settings(m, cfg);
    rng_init(&m->rng, seed, 2);
    pah_hold_out(m, b, cfg, seed);
    memcpy(m->prev, m->params, sizeof(float) * (size_t)m->nparams);
    return (model_t *)m;
}

static run_status pah_train_block(model_t *mm, const bench_t *b, int stage) {
    pah_t *m = (pah_t *)mm;
    int k = b->stage_task[stage];
    const task_t *t = &b->tasks[k];
    int n = m->n_train[k], B = m->batch;
    if (n == 0) {
        cls_seterr("task %s has no training examples", t->name);
        return RUN_STATUS_FAILED;
    }
    pah_set_task(m, k);
    pah_teacher_cache(m);
    run_status st = RUN_STATUS_OK;
    for (int e = 0; e < b->block_size && st == RUN_STATUS_OK; e++) {
        memcpy(m->order, m->train_idx[k], sizeof(int) * (size_t)n);
        rng_shuffle(&m->rng, m->order, n);
        double ce = 0, sm = 0, sp = 0;
        int nb = 0;
        for (int i0 = 0; i0 < n && st == RUN_STATUS_OK; i0 += B, nb++) {
            int bs = n - i0 < B ? n - i0 : B;
            stage_inputs(m, t->x_train, m->order + i0, 0, bs);
            for (int r = 0; r < bs; r++) m->by[r] = m->ylocal_train[k][m->order[i0 + r]];
            st = pah_batch(m, m->bx, m->by, bs, k, &ce, &sm, &sp);
            if (st == RUN_STATUS_OK) train_curve_tick(mm, b);   /* a step = one batch */
        }
        m->last_ce = ce / nb;
        m->last_sm = sm / nb;
        m->last_sp = sp / nb;
    }
    if (st != RUN_STATUS_OK) return st;
    if (!all_finite(m->params, m->nparams)) {
        cls_seterr("non-finite parameters");
        return RUN_STATUS_DIVERGED;
    }
    m->seen[k] = 1;
    memcpy(m->prev, m->params, sizeof(float) * (size_t)m->nparams);   /* f_prev */
    return RUN_STATUS_OK;
}

/* Accuracy of task k's generated head on its test set; with BatchNorm the test set is
 * evaluated in batches of pah.batch_size with their own statistics (the authors' train-mode
 * BN at test time). */
static double pah_eval(model_t *mm, const bench_t *b, int k) {
    pah_t *m = (pah_t *)mm;
    const task_t *t = &b->tasks[k];
    int C = m->g.C, F = m->g.F, chunk = m->g.bn ? m->batch : m->cap;
    hyper_forward(m, m->params, &m->hy);
    const float *Wk = m->hy.heads + (long)k * C * F;
    long correct = 0;
    for (int i0 = 0; i0 < t->n_test; i0 += chunk) {
        int bs = t->n_test - i0 < chunk ? t->n_test - i0 : chunk;
        stage_inputs(m, t->x_test, NULL, i0, bs);
        backbone_forward(m, m->params, &m->ta, m->bx, bs, m->Hp, m->Wp);
        dense_forward(m->logits, m->ta.feat, Wk, NULL, bs, F, C);
        for (int i = 0; i < bs; i++) {
            const float *z = m->logits + (long)i * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (z[c] > z[best]) best = c;
            correct += best == local_label(t, t->y_test[i0 + i]);   /* any test subset */
        }
    }
    return t->n_test ? (double)correct / t->n_test : NAN;
}

static void pah_after_stage(model_t *mm, const bench_t *b, int stage, run_result *res) {
    pah_t *m = (pah_t *)mm;
    result_array(res, "pah_hard_loss", "PAH: mean CE of the stage's last epoch", "stage",
                 b->nstages, NULL, 0)[stage] = m->last_ce;
    result_array(res, "pah_soft_loss", "PAH: mean lambda_sm * output KD, last epoch", "stage",
                 b->nstages, NULL, 0)[stage] = m->last_sm;
    result_array(res, "pah_proto_loss", "PAH: mean lambda_sp * prototype KD, last epoch", "stage",
                 b->nstages, NULL, 0)[stage] = m->last_sp;
}

/* Weight-space analysis (model.h weights hook): one row per (task t, class c) of all T tasks
 * — also those not trained yet, so that every stage has the same T·C rows (a fixed shape,
 * every task present from stage 0, stage-to-stage PC plots comparable); an untrained task's
 * row shows its initial prototypes and the head the current hypernetwork makes of them.
 * Row = the generated head row W_t[c] (F values, hyper_forward of the current parameters)
 * followed by the prototype p_t^c (ph·pw values); task = t. spt is not used (C rows per
 * task). hyper_forward writes m->hy, which every training step and pah_eval recompute
 * before reading; no random numbers are drawn. */
static float *pah_weights(model_t *mm, const bench_t *b, int spt, int *rows, int *cols,
                          int **row_task) {
    (void)spt;
    pah_t *m = (pah_t *)mm;
    const pah_geom *g = &m->g;
    const int T = g->T, C = g->C, F = g->F, PP = g->ph * g->pw, ncol = F + PP;
    if (T < 1 || T != b->ntasks) return NULL;
    hyper_forward(m, m->params, &m->hy);
    float *out = xmalloc(sizeof(float) * (size_t)T * (size_t)C * (size_t)ncol);
    int *task = xmalloc(sizeof(int) * (size_t)T * (size_t)C);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            const long r = (long)t * C + c;
            float *row = out + r * ncol;
            memcpy(row, m->hy.heads + ((long)t * C + c) * F, sizeof(float) * (size_t)F);
            memcpy(row + F, m->params + m->off_proto + r * PP, sizeof(float) * (size_t)PP);
            task[r] = t;
        }
    *rows = T * C;
    *cols = ncol;
    *row_task = task;
    return out;
}

static void pah_free(model_t *mm) {
    pah_t *m = (pah_t *)mm;
    if (!m) return;
    optim_free(&m->opt);
    optim_free(&m->opt_proto);
    for (int t = 0; m->train_idx && t < m->g.T; t++) {
        free(m->train_idx[t]);
        free(m->ylocal_train[t]);
    }
    free(m->train_idx); free(m->ylocal_train); free(m->n_train);
    free(m->held_out); free(m->order); free(m->seen);
    free(m->params); free(m->fbuf); free(m->ibuf);
    free(m);
}

/* Cost in the baselines' unit (examples × epochs for a 784-256-256-10 MLP ≈ 0.8 MFLOP-ish
 * per example step): PAH's per-example multiply-adds ×4 (student fwd+bwd, teacher fwd). */
static double pah_cost(const run_config *cfg) {
    bench_size z;
    if (bench_size_of(cfg, &z)) return 1.0;
    double blocks = z.nstages, bs = z.block_size, n = z.n_train;
    int ch[4] = {8, 16, 0, 0};
    cfg_intlist(cfg, "pah.channels", ch, 4);
    double F = (double)cfg_int(cfg, "pah.features");
    /* the backbone's MACs per example at the benchmark's actual input (sides padded to
     * multiples of 4, as pah_create does; 28×28×1 when the geometry is unknown): conv1 at
     * Hp×Wp, conv2 at a quarter of that, then the dense layer on the flattened map (resize)
     * or on the c2 global-average-pooled features (native) */
    double cin = z.img_c > 0 ? z.img_c : 1;
    double hp = z.img_h > 0 ? 4 * ((z.img_h + 3) / 4) : 28, wp = z.img_w > 0 ? 4 * ((z.img_w + 3) / 4) : 28;
    int native = !strcmp(cfg_str(cfg, "pah.proto_input"), "native");
    double S = hp * wp;
    double macs = S * 9 * cin * ch[0] + S / 4 * 9 * ch[0] * ch[1] +
                  (native ? ch[1] : S / 16 * ch[1]) * F;
    return blocks * bs * n * (4.0 * macs) / 8.0e5;
}

/* PAH trains with its own keys: AdamW at pah.lr (heads and hypernetwork), pah.batch_size. */
static void pah_budget(const run_config *cfg, train_budget *out) {
    train_budget_fill(out, cfg, "adamw", cfg_float(cfg, "pah.lr"),
                      (int)cfg_int(cfg, "pah.batch_size"));
}

#define NP(a) (int)(sizeof a / sizeof a[0])
const model_ops pah_ops = {
    .name = "pah",
    .kinds = BENCH_KIND_CLASSIFICATION,
    .params = pah_params,
    .nparams = NP(pah_params),
    .cost = pah_cost,
    .init = pah_init,
    .train_block = pah_train_block,
    .eval_task = pah_eval,
    .after_stage = pah_after_stage,
    .report = NULL,
    .free = pah_free,
    .weights = pah_weights,
    .budget = pah_budget,
    .accepts = pah_accepts,
};
