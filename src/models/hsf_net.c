/* hsf_net.c — the whole Hypernetwork-SDE-Flow network (see hsf.h): parameter layout and
 * initialisation, the reconstruction forward, the composite training loss with its
 * backward, and the replay loss through the decoder of stored latents. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hsf.h"
#include "nn.h"
#include "util.h"

static hsf_lin lin_at(long *n, int in, int out) {
    hsf_lin l = {*n, *n + (long)in * out, in, out};
    *n += (long)in * out + out;
    return l;
}

static hsf_hyper hyper_at(long *n, int E, int in, int out) {
    hsf_hyper h;
    h.E = E;
    h.in = in;
    h.out = out;
    h.h = (E + in * out) / 4;
    h.h2 = h.h / 2;
    h.w1 = lin_at(n, E, h.h);
    h.w2 = lin_at(n, h.h, in * out);
    h.v1 = lin_at(n, E, h.h2);
    h.v2 = lin_at(n, h.h2, out);
    return h;
}

static hsf_sde sde_at(long *n, int D, int H) {
    hsf_sde s;
    s.D = D;
    s.H = H;
    s.f1 = lin_at(n, D, H);
    s.f2 = lin_at(n, H, H);
    s.f3 = lin_at(n, H, D);
    s.g1 = lin_at(n, D, H);
    s.g2 = lin_at(n, H, H);
    s.g3 = lin_at(n, H, D);
    return s;
}

int hsf_layout_init(hsf_layout *L, const hsf_dims *d) {
    memset(L, 0, sizeof *L);
    if (d->in_dim < 1 || d->hidden < 1 || d->emb_dim < 1 || d->ntasks < 1 || d->flow_hidden < 1 ||
        d->sde_hidden < 1 || d->sde_steps < 1) {
        cls_seterr("hsf: every size must be >= 1");
        return -1;
    }
    if (d->latent < 2 || d->latent % 2) {
        cls_seterr("hsf.latent must be even and >= 2 (the coupling layers split it in halves), got %d",
                   d->latent);
        return -1;
    }
    if (d->flow_layers < 0 || d->flow_layers > HSF_MAX_FLOW) {
        cls_seterr("hsf.flow_layers must be in [0, %d]", HSF_MAX_FLOW);
        return -1;
    }
    L->d = *d;
    long n = 0;
    int E = d->emb_dim, H = d->hidden, D = d->latent;
    L->emb = n;
    n += (long)d->ntasks * E;
    L->enc1 = hyper_at(&n, E, d->in_dim, H);
    L->enc2 = hyper_at(&n, E, H, H);
    L->dec1 = hyper_at(&n, E, D, H);
    if (L->enc1.h2 < 1 || L->enc2.h2 < 1 || L->dec1.h2 < 1) {
        cls_seterr("hsf: sizes too small for the hypernetworks' hidden layers");
        return -1;
    }
    L->to_latent = lin_at(&n, H, D);
    L->dec2 = lin_at(&n, H, d->in_dim);
    hsf_flow *f = &L->flow;
    f->L = d->flow_layers;
    f->D = D;
    f->half = D / 2;
    f->Hf = d->flow_hidden;
    for (int l = 0; l < f->L; l++) {
        f->net1[l] = lin_at(&n, f->half, f->Hf);
        f->net2[l] = lin_at(&n, f->Hf, f->half);
        f->scale[l] = n;
        n += f->half;
    }
    L->sde_enc = sde_at(&n, D, d->sde_hidden);
    L->sde_dec = sde_at(&n, D, d->sde_hidden);
    L->nparams = n;
    return 0;
}

/* PyTorch nn.Linear: W and b ~ U(−1/√in, 1/√in). */
static void lin_init(float *params, const hsf_lin *l, rng_t *r) {
    float bound = 1.0f / sqrtf((float)l->in);
    rng_fill_uniform(r, params + l->w, (long)l->in * l->out, -bound, bound);
    rng_fill_uniform(r, params + l->b, l->out, -bound, bound);
}

static void hyper_init(float *p, const hsf_hyper *h, rng_t *r) {
    lin_init(p, &h->w1, r);
    lin_init(p, &h->w2, r);
    lin_init(p, &h->v1, r);
    lin_init(p, &h->v2, r);
}

static void sde_init(float *p, const hsf_sde *s, rng_t *r) {
    lin_init(p, &s->f1, r);
    lin_init(p, &s->f2, r);
    lin_init(p, &s->f3, r);
    lin_init(p, &s->g1, r);
    lin_init(p, &s->g2, r);
    lin_init(p, &s->g3, r);
}

static long gen_size(const hsf_hyper *h) {
    return 2L * h->in * h->out + 2L * h->out + 2L * h->h + 2L * h->h2;
}

static float *gen_carve(hsf_gen *g, const hsf_hyper *h, float *m) {
    long io = (long)h->in * h->out;
    g->W = m;       m += io;
    g->dW = m;      m += io;
    g->bias = m;    m += h->out;
    g->dbias = m;   m += h->out;
    g->a1 = m;      m += h->h;
    g->a2 = m;      m += h->h2;
    g->scratch = m; m += h->h + h->h2;
    return m;
}

/* Assigns every activation pointer from base (or only counts when base is NULL); returns
 * the number of floats. */
static long net_buffers(hsf_net *n, float *base) {
    const hsf_layout *L = &n->L;
    long off = 0, cap = n->cap, H = L->d.hidden, D = L->d.latent, in = L->d.in_dim;
#define TAKE(ptr, cnt) do { if (base) (ptr) = base + off; off += (cnt); } while (0)
    long gsz;
    gsz = gen_size(&L->enc1);
    if (base) gen_carve(&n->g_enc1, &L->enc1, base + off);
    off += gsz;
    gsz = gen_size(&L->enc2);
    if (base) gen_carve(&n->g_enc2, &L->enc2, base + off);
    off += gsz;
    gsz = gen_size(&L->dec1);
    for (int t = 0; t < L->d.ntasks; t++) {
        if (base) gen_carve(&n->g_dec1[t], &L->dec1, base + off);
        off += gsz;
    }
    TAKE(n->e1p, cap * H);
    TAKE(n->e1, cap * H);
    TAKE(n->e2p, cap * H);
    TAKE(n->e2, cap * H);
    TAKE(n->z0, cap * D);
    TAKE(n->u, cap * D);
    TAKE(n->logdet, cap);
    TAKE(n->d1p, cap * H);
    TAKE(n->d1, cap * H);
    TAKE(n->xr, cap * in);
    TAKE(n->dxr, cap * in);
    TAKE(n->dd1, cap * H);
    TAKE(n->de1, cap * H);
    TAKE(n->de2, cap * H);
    TAKE(n->dz0, cap * D);
    TAKE(n->dzT, cap * D);
    TAKE(n->dzD, cap * D);
    TAKE(n->du, cap * D);
    TAKE(n->dld, cap);
    float *p = NULL;
    TAKE(p, hsf_flow_buf_size(&L->flow, n->cap));
    if (base) hsf_flow_buf_init(&n->fb, &L->flow, p, n->cap);
    int S = L->d.sde_steps;
    TAKE(p, hsf_sde_buf_size(&L->sde_enc, S, n->cap));
    if (base) hsf_sde_buf_init(&n->sb_enc, &L->sde_enc, S, p, n->cap);
    TAKE(p, hsf_sde_buf_size(&L->sde_dec, S, n->cap));
    if (base) hsf_sde_buf_init(&n->sb_dec, &L->sde_dec, S, p, n->cap);
    TAKE(p, hsf_sde_buf_size(&L->sde_dec, S, n->rcap));
    if (base) hsf_sde_buf_init(&n->sb_rep, &L->sde_dec, S, p, n->rcap);
#undef TAKE
    return off;
}

int hsf_net_init(hsf_net *n, const hsf_dims *d, int cap, int rcap, uint64_t seed) {
    memset(n, 0, sizeof *n);
    if (hsf_layout_init(&n->L, d)) return -1;
    if (cap < 1 || rcap < 1 || rcap > cap) {
        cls_seterr("hsf: batch capacities must satisfy 1 <= replay (%d) <= batch (%d)", rcap, cap);
        return -1;
    }
    n->cap = cap;
    n->rcap = rcap;
    long P = n->L.nparams;
    n->params = xcalloc((size_t)(2 * P), sizeof(float));
    n->grads = n->params + P;
    n->g_dec1 = xcalloc((size_t)d->ntasks, sizeof(hsf_gen));
    long nb = net_buffers(n, NULL);
    n->mem = xcalloc((size_t)nb, sizeof(float));
    net_buffers(n, n->mem);

    rng_t r;
    rng_init(&r, seed, 1);
    const hsf_layout *L = &n->L;
    float *p = n->params;
    rng_fill_normal(&r, p + L->emb, (long)d->ntasks * d->emb_dim, 0.0f, 0.02f);
    hyper_init(p, &L->enc1, &r);
    hyper_init(p, &L->enc2, &r);
    hyper_init(p, &L->dec1, &r);
    lin_init(p, &L->to_latent, &r);
    lin_init(p, &L->dec2, &r);
    for (int l = 0; l < L->flow.L; l++) {
        lin_init(p, &L->flow.net1[l], &r);
        lin_init(p, &L->flow.net2[l], &r);
        rng_fill_normal(&r, p + L->flow.scale[l], L->flow.half, 0.0f, 0.01f);
    }
    sde_init(p, &L->sde_enc, &r);
    sde_init(p, &L->sde_dec, &r);
    return 0;
}

void hsf_net_free(hsf_net *n) {
    free(n->params);
    free(n->mem);
    free(n->g_dec1);
    memset(n, 0, sizeof *n);
}

static const float *emb_of(const hsf_net *n, int t) {
    return n->params + n->L.emb + (long)t * n->L.d.emb_dim;
}

/* A slot still pending (fused mode, the same task's layer used again before the step, as
 * replay does) keeps accumulating dW/dbias; W is recomputed from the same parameters. */
static void gen_forward(hsf_net *n, hsf_gen *g, const hsf_hyper *h, int t) {
    hsf_hyper_forward(g->W, g->bias, g->a1, g->a2, emb_of(n, t), h, n->params);
    g->task = t;
    if (g->pending) return;
    memset(g->dW, 0, sizeof(float) * (size_t)h->in * (size_t)h->out);
    memset(g->dbias, 0, sizeof(float) * (size_t)h->out);
}

static void gen_backward(hsf_net *n, hsf_gen *g, const hsf_hyper *h, int t) {
    if (n->fused) {   /* finished by hsf_net_step */
        g->pending = 1;
        return;
    }
    float *de = n->grads + n->L.emb + (long)t * n->L.d.emb_dim;
    hsf_hyper_backward(de, n->grads, g->scratch, g->dW, g->dbias, emb_of(n, t), g->a1, g->a2, h,
                       n->params);
}

static void clear_pending(hsf_net *n) {
    n->g_enc1.pending = n->g_enc2.pending = 0;
    for (int t = 0; t < n->L.d.ntasks; t++) n->g_dec1[t].pending = 0;
}

const float *hsf_net_encode(hsf_net *n, const float *x, int B, int t) {
    const hsf_layout *L = &n->L;
    int H = L->d.hidden, D = L->d.latent, in = L->d.in_dim;
    long BH = (long)B * H;
    gen_forward(n, &n->g_enc1, &L->enc1, t);
    gen_forward(n, &n->g_enc2, &L->enc2, t);
    dense_forward(n->e1p, x, n->g_enc1.W, n->g_enc1.bias, B, in, H);
    hsf_gelu(n->e1, n->e1p, BH);
    dense_forward(n->e2p, n->e1, n->g_enc2.W, n->g_enc2.bias, B, H, H);
    hsf_gelu(n->e2, n->e2p, BH);
    dense_forward(n->z0, n->e2, n->params + L->to_latent.w, n->params + L->to_latent.b, B, H, D);
    n->zT = hsf_sde_forward(n->z0, &L->sde_enc, &n->sb_enc, n->params, L->d.enc_t, B);
    return n->zT;
}

/* Decoder on B rows of zD given the generated layer g: n->d1p, n->d1, n->xr. */
static void decode_rows(hsf_net *n, const float *zD, const hsf_gen *g, int r0, int r1) {
    const hsf_layout *L = &n->L;
    int H = L->d.hidden, D = L->d.latent;
    dense_forward(n->d1p + (long)r0 * H, zD + (long)r0 * D, g->W, g->bias, r1 - r0, D, H);
}

static void decode_tail(hsf_net *n, int B) {
    const hsf_layout *L = &n->L;
    int H = L->d.hidden;
    hsf_gelu(n->d1, n->d1p, (long)B * H);
    dense_forward(n->xr, n->d1, n->params + L->dec2.w, n->params + L->dec2.b, B, H, L->d.in_dim);
}

const float *hsf_net_forward(hsf_net *n, const float *x, int B, int t, int with_flow) {
    const hsf_layout *L = &n->L;
    hsf_net_encode(n, x, B, t);
    if (with_flow && L->flow.L > 0)
        hsf_flow_forward(n->u, n->logdet, n->z0, &L->flow, &n->fb, n->params, B);
    else if (with_flow) {
        memcpy(n->u, n->z0, sizeof(float) * (size_t)B * (size_t)L->d.latent);
        memset(n->logdet, 0, sizeof(float) * (size_t)B);
    }
    n->zD = hsf_sde_forward(n->zT, &L->sde_dec, &n->sb_dec, n->params, L->d.dec_t, B);
    gen_forward(n, &n->g_dec1[t], &L->dec1, t);
    decode_rows(n, n->zD, &n->g_dec1[t], 0, B);
    decode_tail(n, B);
    return n->xr;
}

/* Backward of decode_tail into n->dd1 (zeroed here) from n->dxr. */
static void decode_tail_backward(hsf_net *n, int B) {
    const hsf_layout *L = &n->L;
    int H = L->d.hidden;
    long BH = (long)B * H;
    float *dd1 = n->de1;   /* scratch: the GELU output's gradient */
    memset(dd1, 0, sizeof(float) * (size_t)BH);
    dense_backward(dd1, n->grads + L->dec2.w, n->grads + L->dec2.b, n->dxr, n->d1,
                   n->params + L->dec2.w, B, H, L->d.in_dim);
    memset(n->dd1, 0, sizeof(float) * (size_t)BH);
    hsf_gelu_backward(n->dd1, dd1, n->d1p, BH);
}

double hsf_net_task_loss(hsf_net *n, const float *x, int B, int t, float beta, float sep_w,
                         int backward, hsf_losses *parts) {
    const hsf_layout *L = &n->L;
    int H = L->d.hidden, D = L->d.latent, in = L->d.in_dim, E = L->d.emb_dim;
    long BH = (long)B * H, BD = (long)B * D;
    hsf_net_forward(n, x, B, t, beta != 0.0f);

    double recon = mse_forward(n->xr, x, B, in, 0);
    double nll = 0;
    if (beta != 0.0f) {
        /* NLL = −mean_b(log N(u_b; 0, I) + log|det J_b|) */
        const double c = 0.5 * D * log(2.0 * M_PI);
        for (int b = 0; b < B; b++) {
            double s2 = 0;
            for (int j = 0; j < D; j++) s2 += (double)n->u[(long)b * D + j] * n->u[(long)b * D + j];
            nll += 0.5 * s2 + c - n->logdet[b];
        }
        nll /= B;
    }
    double sep = t > 0 && sep_w != 0.0f ? hsf_sep_forward(n->params + L->emb, t, E) : 0.0;
    double total = recon + beta * nll + sep_w * sep;
    if (parts) {
        parts->recon = (float)recon;
        parts->nll = (float)nll;
        parts->sep = (float)sep;
        parts->replay = 0.0f;
        parts->total = (float)total;
    }
    if (!backward) return total;

    /* decoder */
    clear_pending(n);   /* a new gradient: nothing left over from a backward without a step */
    memset(n->dxr, 0, sizeof(float) * (size_t)B * (size_t)in);
    mse_backward(n->dxr, n->xr, x, 1.0f, B, in, 0);
    decode_tail_backward(n, B);
    hsf_gen *gd = &n->g_dec1[t];
    memset(n->dzD, 0, sizeof(float) * (size_t)BD);
    dense_backward(n->dzD, gd->dW, gd->dbias, n->dd1, n->zD, gd->W, B, D, H);
    gen_backward(n, gd, &L->dec1, t);
    /* SDEs */
    memset(n->dzT, 0, sizeof(float) * (size_t)BD);
    hsf_sde_backward(n->dzT, n->grads, n->dzD, &L->sde_dec, &n->sb_dec, n->params, L->d.dec_t, B);
    memset(n->dz0, 0, sizeof(float) * (size_t)BD);
    hsf_sde_backward(n->dz0, n->grads, n->dzT, &L->sde_enc, &n->sb_enc, n->params, L->d.enc_t, B);
    /* flow (NLL) */
    if (beta != 0.0f) {
        for (long i = 0; i < BD; i++) n->du[i] = beta * n->u[i] / (float)B;
        for (int b = 0; b < B; b++) n->dld[b] = -beta / (float)B;
        if (L->flow.L > 0)
            hsf_flow_backward(n->dz0, n->grads, n->du, n->dld, &L->flow, &n->fb, n->params, B);
        else
            for (long i = 0; i < BD; i++) n->dz0[i] += n->du[i];
    }
    /* encoder */
    memset(n->de2, 0, sizeof(float) * (size_t)BH);
    dense_backward(n->de2, n->grads + L->to_latent.w, n->grads + L->to_latent.b, n->dz0, n->e2,
                   n->params + L->to_latent.w, B, H, D);
    memset(n->dd1, 0, sizeof(float) * (size_t)BH);   /* scratch: pre-GELU gradient */
    hsf_gelu_backward(n->dd1, n->de2, n->e2p, BH);
    memset(n->de1, 0, sizeof(float) * (size_t)BH);
    dense_backward(n->de1, n->g_enc2.dW, n->g_enc2.dbias, n->dd1, n->e1, n->g_enc2.W, B, H, H);
    memset(n->dd1, 0, sizeof(float) * (size_t)BH);
    hsf_gelu_backward(n->dd1, n->de1, n->e1p, BH);
    dense_backward(NULL, n->g_enc1.dW, n->g_enc1.dbias, n->dd1, x, n->g_enc1.W, B, in, H);
    gen_backward(n, &n->g_enc2, &L->enc2, t);
    gen_backward(n, &n->g_enc1, &L->enc1, t);
    /* separation */
    if (t > 0 && sep_w != 0.0f)
        hsf_sep_backward(n->grads + L->emb, n->params + L->emb, t, E, sep_w);
    return total;
}

double hsf_net_replay_loss(hsf_net *n, const float *x, const float *z, const int *tid, int R,
                           float weight, int backward) {
    const hsf_layout *L = &n->L;
    int H = L->d.hidden, D = L->d.latent, in = L->d.in_dim;
    long RD = (long)R * D;
    const float *zD = hsf_sde_forward(z, &L->sde_dec, &n->sb_rep, n->params, L->d.dec_t, R);
    /* rows are grouped by task: one generated layer per group */
    for (int r0 = 0; r0 < R;) {
        int r1 = r0;
        while (r1 < R && tid[r1] == tid[r0]) r1++;
        gen_forward(n, &n->g_dec1[tid[r0]], &L->dec1, tid[r0]);
        decode_rows(n, zD, &n->g_dec1[tid[r0]], r0, r1);
        r0 = r1;
    }
    decode_tail(n, R);
    double loss = mse_forward(n->xr, x, R, in, 0);
    if (!backward) return loss;
    memset(n->dxr, 0, sizeof(float) * (size_t)R * (size_t)in);
    mse_backward(n->dxr, n->xr, x, weight, R, in, 0);
    decode_tail_backward(n, R);
    memset(n->dzD, 0, sizeof(float) * (size_t)RD);
    for (int r0 = 0; r0 < R;) {
        int r1 = r0;
        while (r1 < R && tid[r1] == tid[r0]) r1++;
        hsf_gen *g = &n->g_dec1[tid[r0]];
        dense_backward(n->dzD + (long)r0 * D, g->dW, g->dbias, n->dd1 + (long)r0 * H,
                       zD + (long)r0 * D, g->W, r1 - r0, D, H);
        gen_backward(n, g, &L->dec1, tid[r0]);
        r0 = r1;
    }
    /* the stored latents are constants (detached in the authors' memory) */
    hsf_sde_backward(NULL, n->grads, n->dzD, &L->sde_dec, &n->sb_rep, n->params, L->d.dec_t, R);
    return loss;
}

/* ---- the optimiser step ---- */

int hsf_net_fuse_optim(hsf_net *n, optim_t *o) {
    const hsf_layout *L = &n->L;
    /* dec1 has a slot per task, and one pass takes at most OPTIM_MAX_OUTER of them */
    if (o->kind == OPTIM_SGD || o->ngroups != 1 || L->d.ntasks > OPTIM_MAX_OUTER ||
        o->groups[0].offset != 0 || o->groups[0].count != L->nparams || o->n != L->nparams)
        return 0;
    /* the three w2 blocks, in arena order: the groups are the ranges between them */
    const hsf_lin *w2[3] = {&L->enc1.w2, &L->enc2.w2, &L->dec1.w2};
    optim_group g[4];
    float lr = o->groups[0].lr;
    long at = 0;
    for (int k = 0; k < 3; k++) {
        g[k] = (optim_group){.offset = at, .count = w2[k]->w - at, .lr = lr};
        at = w2[k]->w + (long)w2[k]->in * w2[k]->out;
    }
    g[3] = (optim_group){.offset = at, .count = L->nparams - at, .lr = lr};
    optim_set_groups(o, g, 4);
    n->fused = 1;
    return 1;
}

/* The pending slots of one hypernetwork: one optim_step_outer over its w2 (gradient
 * Σ_slots dW ⊗ a1, da1 into each slot's scratch from the old w2), then the rest of each
 * slot's backward. */
static void step_hyper(hsf_net *n, optim_t *o, const hsf_hyper *h, hsf_gen *slots, int nslots) {
    const float *u[OPTIM_MAX_OUTER], *v[OPTIM_MAX_OUTER];
    float *back[OPTIM_MAX_OUTER];
    hsf_gen *which[OPTIM_MAX_OUTER];
    int K = 0;
    for (int s = 0; s < nslots; s++) {
        hsf_gen *g = &slots[s];
        if (!g->pending) continue;
        memset(g->scratch, 0, sizeof(float) * (size_t)(h->h + h->h2));
        u[K] = g->dW;
        v[K] = g->a1;
        back[K] = g->scratch;
        which[K++] = g;
    }
    int rows = h->in * h->out;
    if (K == 0) {
        /* no gradient this step: still an Adam step (moments decay, weight decay), as
         * optim_step on a zero gradient — via a zero rank-1 term (a slot that is not
         * pending holds nothing in dW/scratch: gen_forward clears them before use) */
        memset(slots[0].dW, 0, sizeof(float) * (size_t)rows);
        memset(slots[0].scratch, 0, sizeof(float) * (size_t)(h->h + h->h2));
        const float *zu = slots[0].dW, *zv = slots[0].scratch;
        optim_step_outer(o, n->params, h->w2.w, rows, h->h, o->groups[0].lr, 1, &zu, &zv, NULL);
        return;
    }
    optim_step_outer(o, n->params, h->w2.w, rows, h->h, o->groups[0].lr, K, u, v, back);
    for (int k = 0; k < K; k++) {
        hsf_gen *g = which[k];
        float *de = n->grads + n->L.emb + (long)g->task * n->L.d.emb_dim;
        hsf_hyper_backward_rest(de, n->grads, g->scratch, g->dW, g->dbias, emb_of(n, g->task), g->a1,
                                g->a2, h, n->params);
        g->pending = 0;
    }
}

void hsf_net_step(hsf_net *n, optim_t *o) {
    if (!n->fused) {
        optim_step(o, n->params, n->grads);
        return;
    }
    const hsf_layout *L = &n->L;
    step_hyper(n, o, &L->enc1, &n->g_enc1, 1);
    step_hyper(n, o, &L->enc2, &n->g_enc2, 1);
    step_hyper(n, o, &L->dec1, n->g_dec1, L->d.ntasks);
    optim_step(o, n->params, n->grads);
    for (int k = 0; k < o->ngroups; k++)
        memset(n->grads + o->groups[k].offset, 0, sizeof(float) * (size_t)o->groups[k].count);
}
