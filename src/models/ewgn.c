/* ewgn.c — Elastic Weight Generative Network (docs/spec.md §4.3): a weight generative network (WGN)
 * maps the input x (D = 784) to the weights of the main network,
 *     h = ReLU(W1·x + b1)   (H),      z = W2·h + b2   (D·C),      W(x) = g(z)  (C × D),
 *     logits = W(x)·x + b   (C),
 * and only the WGN (W1, b1, W2, b2) and the bias b are trained, with EWC on the WGN
 * parameters after each task (the empirical Fisher of the ewc baseline).
 * Readings the paper leaves open are options (issue 22): ewgn.bias — the main bias b trained
 * and left out of EWC (free, the default), trained and consolidated with the WGN
 * (consolidated: EWC then covers the whole arena, b being its last C entries), or absent
 * (none: b stays 0); ewgn.fisher — the empirical Fisher (labels = the training labels, the
 * default) or the true Fisher (each Fisher example's label drawn from the model's own
 * predictive distribution p(·|x) over the task's classes; van de Ven 2025, "On the
 * computation of the Fisher Information in continual learning"), or generated (the Fisher
 * of the main network's generated weights W(x), mapped to the WGN: see consolidate).
 *
 * Batch 1 (the paper's setting) is the hot path and exploits two structural facts:
 *  - logit c is Σ_d g(z_cd)·x_d, so a pixel with x_d = 0 needs neither z_cd nor any
 *    gradient: every parameter that feeds only W(x)[:, d] (the D·C rows of W2 and b2 and
 *    the column d of W1) is read and written only for the nonzero pixels (MNIST ~19 %,
 *    Fashion ~50 %). This is exact, not an approximation: g is bounded, so the skipped
 *    terms are exactly zero.
 *  - With plain SGD the gradient step is a rank-1 update of each touched (C, H) block of
 *    W2, fused with the backward product W2ᵀ·dz in one pass over the block. The EWC
 *    penalty's step is linear in θ − θ*, so untouched blocks are updated lazily: between
 *    two touches, k penalty-only steps shrink θ − θ* by (1 − s)^k, applied on the next
 *    touch (or at the end of the block), exactly as k dense steps would.
 * The penalty λ/2 Σ F (θ − θ*)² is stepped either by its gradient, added to the loss
 * gradient as in the ewc baseline (ewgn.ewc_step = gradient, s = lr·λ·F; explicit, so it
 * diverges once lr·λ·F > 2), or by its proximal map (ewgn.ewc_step = proximal:
 * θ ← θ* + (θ − lr·∇ − θ*)/(1 + lr·λ·F), s = c/(1 + c); the same objective, stable for any λ).
 * So no per-sample allocation, no materialised W(x), and no pass over the whole arena per
 * step. Any other optimiser or batch size takes the generic path: a dense gradient (the
 * batched path contracts per-sample generated weights through sgemm and one fused
 * element-wise pass), the EWC penalty and optim_step.
 *
 * Parameter arena (one allocation, then the gradients), row-major:
 *   W2  (D, C, H)  output layer of the WGN; row d·C + c generates W(x)[c][d] — a
 *                  Linear(H → D·C) whose outputs are ordered pixel-major, so everything a
 *                  pixel owns is one contiguous block;
 *   b2  (D, C)
 *   W1t (D, H)     input layer of the WGN, stored transposed (input-major) for the same reason;
 *   b1  (H)
 *   b   (C)        bias of the main network — not part of the WGN; consolidated only with
 *                  ewgn.bias: consolidated.
 * Initialisation as PyTorch's nn.Linear (U(±1/√fan_in) for weights and WGN biases); b = 0. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ewc.h"
#include "ewgn_b1.h"
#include "model.h"
#include "nn.h"
#include "train.h"
#include "util.h"

/* The hot loops must vectorise: GCC's -O2 cost model skips loops of unknown trip count, and
 * without no-trapping-math the clamps in exp_fast are not if-converted. Neither changes results. */
#define EWGN_HOT CLS_HOT_LOOP_OPTS("no-trapping-math")
#if defined(__GNUC__) && !defined(__clang__)
#define EWGN_INLINE static inline __attribute__((always_inline))
#else
#define EWGN_INLINE static inline
#endif

#define EWGN_CHUNK 64          /* rows per batched pass: bounds the (chunk, D·C) buffer */
#define EWGN_STAT_SAMPLES 200  /* test examples per task for the generated-weight statistics */

enum { EWGN_BIAS_FREE, EWGN_BIAS_CONSOLIDATED, EWGN_BIAS_NONE };
enum { EWGN_FISHER_EMPIRICAL, EWGN_FISHER_TRUE, EWGN_FISHER_GENERATED };

typedef struct {
    int D, C, H;
    act_kind act;
    train_settings ts;
    long off_w2, off_b2, off_w1, off_b1, off_b;  /* arena layout (see the top of the file) */
    long n_wgn;               /* = off_b: the WGN parameters */
    long nparams;
    float *params;            /* (nparams) */
    float *grads;             /* (nparams), same allocation as params */
    optim_t opt;
    int fast;                 /* plain SGD at batch 1: fused sparse step */
    /* EWC on the WGN */
    int use_ewc, fisher_samples;
    int bias_mode;            /* EWGN_BIAS_*: ewgn.bias */
    int fisher_mode;          /* EWGN_FISHER_*: ewgn.fisher */
    long n_ewc;               /* parameters under EWC: n_wgn, or nparams with the bias */
    ewc_t ewc;
    int prox;                 /* 1: proximal (implicit) penalty step, stable for any λ */
    float *shrink;            /* (n_ewc) one penalty-only step is θ −= shrink·(θ − θ*) */
    long *last;               /* (D) fused step up to which pixel block d is current */
    long clock;               /* fused steps since the last consolidation */
    /* single-sample state (the last fwd1) */
    int nnz;
    int *nz;                  /* (D) indices of the nonzero pixels */
    float *xv;                /* (D) their values */
    float *hpre, *h, *dh;     /* (H) */
    float *logits, *probs, *dlog, *dz;  /* (C) */
    float *gp;                /* (D, C) row j: g'(z[nz[j]][c])·x[nz[j]] */
    float *gbuf;              /* (D, C) row j: g(z[nz[j]][c]); also per-row scratch */
    float *pw_q, *pw_b;       /* (C·H) lazy-decay scratch */
    /* batched scratch: EWGN_CHUNK rows */
    float *X;                 /* (chunk, D) */
    float *Hpre, *Hb, *dHb;   /* (chunk, H) */
    float *Z;                 /* (chunk, D·C) pre-activations, then g'(z)·x, then dz */
    float *L, *P;             /* (chunk, C) logits, probabilities / dlogits */
    int *lab;                 /* (chunk) */
    float *scratch;           /* the one allocation behind every float buffer above */
    rng_t rng;                /* shuffling */
    int *order;               /* (max n_train) */
} ewgn_t;

static const param_spec ewgn_params[] = {
    TRAIN_PARAM_SPECS,
    TRAIN_CURVE_PARAM_SPECS,
    {"ewgn.hidden", PARAM_INT, "32", NULL, 1, 4096, "WGN hidden width H (784 → H → 784·C)"},
    {"ewgn.activation", PARAM_STR, "gaussian", "gaussian|sigmoid|tanh", 1, 0,
     "activation g of the generated weights; gaussian = exp(−z²)"},
    {"ewgn.lambda", PARAM_FLOAT, "10000", NULL, 0, 1e12,
     "EWC strength λ on the WGN parameters; 0 = no EWC (plain WGN)"},
    {"ewgn.fisher_samples", PARAM_INT, "200", NULL, 1, 1e7,
     "examples used for the empirical Fisher after each block"},
    {"ewgn.ewc_step", PARAM_STR, "proximal", "gradient|proximal", 1, 0,
     "EWC penalty step: proximal θ ← θ* + (θ − lr·∇ − θ*)/(1 + lr·λ·F) (stable for any λ) or "
     "gradient (explicit, as ewc; diverges once lr·λ·F > 2)"},
    {"ewgn.bias", PARAM_STR, "free", "free|consolidated|none", 1, 0,
     "main-network bias b: free (trained, not under EWC), consolidated (trained and under EWC "
     "with the WGN) or none (no bias, b = 0)"},
    {"ewgn.fisher", PARAM_STR, "empirical", "empirical|true|generated", 1, 0,
     "Fisher: empirical (training labels), true (labels sampled from the model's predictive "
     "distribution over the task's classes), or generated (the empirical Fisher of the "
     "generated main-network weights W(x), carried to the WGN by the squared Jacobian)"},
};

/* ------------------------------------------------------------------ set-up */

static float *carve(float **p, long n) {
    float *r = *p;
    *p += n;
    return r;
}

/* Lays out and allocates a model of the given shape; parameters are zero. maxn: the largest
 * training set (shuffle buffer). */
static void ewgn_alloc(ewgn_t *m, int D, int C, int H, act_kind act, int maxn) {
    m->D = D;
    m->C = C;
    m->H = H;
    m->act = act;
    long DC = (long)D * C;
    m->off_w2 = 0;
    m->off_b2 = m->off_w2 + DC * H;
    m->off_w1 = m->off_b2 + DC;
    m->off_b1 = m->off_w1 + (long)D * H;
    m->off_b = m->off_b1 + H;
    m->n_wgn = m->off_b;
    m->nparams = m->off_b + C;
    m->n_ewc = m->n_wgn;
    m->params = xcalloc((size_t)(2 * m->nparams), sizeof(float));
    m->grads = m->params + m->nparams;
    const long CH = (long)C * H, K = EWGN_CHUNK;
    long nscratch = (long)D + 3L * H + 4L * C + 2 * DC + 2 * CH         /* single sample */
                    + K * D + 3 * K * H + K * DC + 2 * K * C;        /* batched */
    m->scratch = xcalloc((size_t)nscratch, sizeof(float));
    float *p = m->scratch;
    m->xv = carve(&p, D);
    m->hpre = carve(&p, H);
    m->h = carve(&p, H);
    m->dh = carve(&p, H);
    m->logits = carve(&p, C);
    m->probs = carve(&p, C);
    m->dlog = carve(&p, C);
    m->dz = carve(&p, C);
    m->gp = carve(&p, DC);
    m->gbuf = carve(&p, DC);
    m->pw_q = carve(&p, CH);
    m->pw_b = carve(&p, CH);
    m->X = carve(&p, K * D);
    m->Hpre = carve(&p, K * H);
    m->Hb = carve(&p, K * H);
    m->dHb = carve(&p, K * H);
    m->Z = carve(&p, K * DC);
    m->L = carve(&p, K * C);
    m->P = carve(&p, K * C);
    m->nz = xmalloc(sizeof(int) * (size_t)D);
    m->lab = xmalloc(sizeof(int) * EWGN_CHUNK);
    m->last = xcalloc((size_t)D, sizeof(long));
    m->order = xmalloc(sizeof(int) * (size_t)(maxn > 1 ? maxn : 1));
}

/* PyTorch nn.Linear initialisation of the WGN; the main bias b starts at 0. */
static void ewgn_init_params(ewgn_t *m, rng_t *r) {
    float *P = m->params;
    float bw1 = 1.0f / sqrtf((float)m->D), bw2 = 1.0f / sqrtf((float)m->H);
    /* drawn in the order of the PyTorch module (W1, b1, W2, b2), W1 row-major (H, D) */
    for (int k = 0; k < m->H; k++)
        for (int d = 0; d < m->D; d++)
            P[m->off_w1 + (long)d * m->H + k] = -bw1 + 2 * bw1 * rng_uniform(r);
    rng_fill_uniform(r, P + m->off_b1, m->H, -bw1, bw1);
    rng_fill_uniform(r, P + m->off_w2, (long)m->D * m->C * m->H, -bw2, bw2);
    rng_fill_uniform(r, P + m->off_b2, (long)m->D * m->C, -bw2, bw2);
    memset(P + m->off_b, 0, sizeof(float) * (size_t)m->C);
}

static void ewgn_release(ewgn_t *m) {
    free(m->params);
    free(m->scratch);
    free(m->nz);
    free(m->lab);
    free(m->last);
    free(m->order);
    free(m->shrink);
    if (m->use_ewc) ewc_free(&m->ewc);
    optim_free(&m->opt);
}

/* ------------------------------------------------------------------ kernels */

/* e^x without a libm call, so that loops over it vectorise: Cody–Waite reduction
 * x = n·ln2 + r, |r| ≤ ln2/2, Cephes' expf polynomial (within 2 ulp of expf), 2^n built in
 * the exponent bits. x is clamped to [−87.3, 88.3]: no denormals (e^−87.3 ≈ 1.2e−38 stands
 * in for anything smaller), no overflow. NaN propagates (the comparisons keep it). */
EWGN_INLINE float exp_fast(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    const float t = x * 1.44269504f + 12582912.0f;   /* 1.5·2^23: t − 1.5·2^23 = round(x/ln2) */
    const float n = t - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;          /* (n + 127) in the exponent field */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* g and g' over n pre-activations: on return g[i] = g(z_i) and zd[i] = g'(z_i) (zd holds
 * z on entry). One loop per activation, so each vectorises. */
EWGN_HOT EWGN_INLINE void gen_act(act_kind k, float *restrict g, float *restrict zd, long n) {
    switch (k) {
    case ACT_SIGMOID:
        for (long i = 0; i < n; i++) {
            const float v = 1.0f / (1.0f + exp_fast(-zd[i]));
            g[i] = v;
            zd[i] = v * (1.0f - v);
        }
        break;
    case ACT_TANH:   /* the ablation: libm's tanhf keeps small |z| exact */
        for (long i = 0; i < n; i++) {
            const float v = tanhf(zd[i]);
            g[i] = v;
            zd[i] = 1.0f - v * v;
        }
        break;
    default:         /* ACT_GAUSSIAN: exp(−z²) */
        for (long i = 0; i < n; i++) {
            const float z = zd[i], v = exp_fast(-z * z);
            g[i] = v;
            zd[i] = -2.0f * z * v;
        }
        break;
    }
}

#if CLS_X86_SIMD
/* gen_act at 16 lanes (element-wise: the same bits), for step_fast at AVX-512. */
CLS_TARGET_AVX512 __attribute__((noinline)) EWGN_HOT static void
gen_act_avx512(act_kind k, float *restrict g, float *restrict zd, long n) {
    gen_act(k, g, zd, n);
}
#endif

/* Σ a[k]·b[k] with eight independent partial sums: vectorises without reassociation. */
EWGN_INLINE float dot8(const float *restrict a, const float *restrict b, int n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) s[j] += a[k + j] * b[k + j];
    float t = 0;
    for (; k < n; k++) t += a[k] * b[k];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + t;
}

/* Which code step_fast's passes over the blocks run (a constant in each compiled step_fast):
 * the C loops (the reference), or the wide kernels of ewgn_b1.c at H = EWGN_B1_H. */
enum { EWGN_K_REF, EWGN_K_AVX2, EWGN_K_AVX512 };

/* Forward of one sample, touching only its nonzero pixels. Leaves logits, and for the
 * backward hpre, h and (if grad) gp; params must be current for those pixels. kern: see
 * EWGN_K_* (fwd1 below is the reference). */
EWGN_HOT EWGN_INLINE void fwd1_k(ewgn_t *m, const float *x, int grad, int kern) {
    const int D = m->D, C = m->C, H = m->H;
    const float *P = m->params;
    const int wide = CLS_X86_SIMD && kern != EWGN_K_REF && H == EWGN_B1_H;
    int nnz = 0;
    if (wide)   /* the same list without a branch per pixel (nnz ≤ d: in bounds) */
        for (int d = 0; d < D; d++) {
            m->nz[nnz] = d;
            m->xv[nnz] = x[d];
            nnz += x[d] != 0.0f;
        }
    else
        for (int d = 0; d < D; d++)
            if (x[d] != 0.0f) {
                m->nz[nnz] = d;
                m->xv[nnz++] = x[d];
            }
    m->nnz = nnz;
    float *restrict hpre = m->hpre, *restrict h = m->h;
#if CLS_X86_SIMD
    if (wide)
        ewgn_b1_hpre_avx2(hpre, P + m->off_b1, P + m->off_w1, m->nz, m->xv, nnz);
#endif
    if (!wide) {
        memcpy(hpre, P + m->off_b1, sizeof(float) * (size_t)H);
        for (int j = 0; j < nnz; j++) {
            const float *restrict w = P + m->off_w1 + (long)m->nz[j] * H;
            const float xj = m->xv[j];
            for (int k = 0; k < H; k++) hpre[k] += xj * w[k];
        }
    }
    for (int k = 0; k < H; k++) h[k] = hpre[k] > 0.0f ? hpre[k] : 0.0f;
    /* z of every touched pixel, then g over all of them in one vectorised pass, then the
     * contraction with x */
    float *restrict zd = m->gp, *restrict g = m->gbuf;
#if CLS_X86_SIMD
    if (wide) ewgn_b1_z_avx2(zd, P + m->off_w2, P + m->off_b2, h, m->nz, nnz, C);
#endif
    if (!wide)
        for (int j = 0; j < nnz; j++) {
            const long d = m->nz[j];
            const float *w2 = P + m->off_w2 + d * C * H, *b2 = P + m->off_b2 + d * C;
            float *zj = zd + (long)j * C;
            for (int c = 0; c < C; c++) zj[c] = b2[c] + dot8(w2 + (long)c * H, h, H);
        }
#if CLS_X86_SIMD
    if (kern == EWGN_K_AVX512) gen_act_avx512(m->act, g, zd, (long)nnz * C);
    else
#endif
        gen_act(m->act, g, zd, (long)nnz * C);
    float *restrict lg = m->logits;
#if CLS_X86_SIMD
    if (wide) ewgn_b1_logits_avx2(lg, P + m->off_b, g, m->xv, nnz, C);
#endif
    if (!wide) {
        memcpy(lg, P + m->off_b, sizeof(float) * (size_t)C);
        for (int j = 0; j < nnz; j++) {
            const float xj = m->xv[j], *gj = g + (long)j * C;
            for (int c = 0; c < C; c++) lg[c] += xj * gj[c];
        }
    }
    if (grad)
        for (int j = 0; j < nnz; j++) {
            const float xj = m->xv[j];
            float *zj = zd + (long)j * C;
            for (int c = 0; c < C; c++) zj[c] *= xj;
        }
}

EWGN_HOT EWGN_INLINE void fwd1(ewgn_t *m, const float *x, int grad) {
    fwd1_k(m, x, grad, EWGN_K_REF);
}

/* Softmax cross-entropy of the last fwd1 against label y; dlog = scale·∂loss/∂logits. */
static float loss1(ewgn_t *m, int y, const int *mask, float scale) {
    float loss = softmax_xent_forward(m->probs, m->logits, &y, mask, 1, m->C);
    memset(m->dlog, 0, sizeof(float) * (size_t)m->C);
    softmax_xent_backward(m->dlog, m->probs, &y, mask, scale, 1, m->C);
    return loss;
}

/* Backward of the last fwd1 (dlog set): accumulates into grads (arena layout), touching
 * only the nonzero pixels' blocks, b1 and b. */
EWGN_HOT static void bwd1(ewgn_t *m, float *grads) {
    const int C = m->C, H = m->H;
    const float *P = m->params;
    const float *restrict h = m->h;
    float *restrict dh = m->dh;
    memset(dh, 0, sizeof(float) * (size_t)H);
    for (int j = 0; j < m->nnz; j++) {
        const long d = m->nz[j];
        const float *gp = m->gp + (long)j * C;
        for (int c = 0; c < C; c++) {
            const float dz = m->dlog[c] * gp[c];
            if (dz == 0.0f) continue;          /* masked class or saturated g: nothing */
            const long row = d * C + c;
            const float *restrict w = P + m->off_w2 + row * H;
            float *restrict gw = grads + m->off_w2 + row * H;
            for (int k = 0; k < H; k++) {
                dh[k] += dz * w[k];
                gw[k] += dz * h[k];
            }
            grads[m->off_b2 + row] += dz;
        }
    }
    for (int k = 0; k < H; k++)
        if (!(m->hpre[k] > 0.0f)) dh[k] = 0.0f;
    for (int j = 0; j < m->nnz; j++) {
        float *restrict gw = grads + m->off_w1 + (long)m->nz[j] * H;
        const float xj = m->xv[j];
        for (int k = 0; k < H; k++) gw[k] += xj * dh[k];
    }
    for (int k = 0; k < H; k++) grads[m->off_b1 + k] += dh[k];
    for (int c = 0; c < C; c++) grads[m->off_b + c] += m->dlog[c];
}

/* Zeroes what bwd1 of the last fwd1 touched. */
static void clear1(ewgn_t *m, float *grads) {
    const int C = m->C, H = m->H;
    for (int j = 0; j < m->nnz; j++) {
        const long d = m->nz[j];
        memset(grads + m->off_w2 + d * C * H, 0, sizeof(float) * (size_t)(C * H));
        memset(grads + m->off_b2 + d * C, 0, sizeof(float) * (size_t)C);
        memset(grads + m->off_w1 + d * H, 0, sizeof(float) * (size_t)H);
    }
    memset(grads + m->off_b1, 0, sizeof(float) * (size_t)H);
    memset(grads + m->off_b, 0, sizeof(float) * (size_t)C);
}

/* Pre-activations of a chunk of B ≤ EWGN_CHUNK rows in m->X: Hpre, Hb = ReLU(Hpre), and
 * Z (B, D·C) = Hb·W2ᵀ + b2, i.e. row n holds z of sample n in (d, c) order. */
static void zbatch(ewgn_t *m, int B) {
    const int D = m->D, H = m->H;
    const long DC = (long)D * m->C;
    const float *P = m->params;
    for (int n = 0; n < B; n++) {
        memcpy(m->Hpre + (long)n * H, P + m->off_b1, sizeof(float) * (size_t)H);
        memcpy(m->Z + n * DC, P + m->off_b2, sizeof(float) * (size_t)DC);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, D, 1.0f, m->X, D,
                P + m->off_w1, H, 1.0f, m->Hpre, H);
    for (long i = 0; i < (long)B * H; i++) m->Hb[i] = m->Hpre[i] > 0.0f ? m->Hpre[i] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, (int)DC, H, 1.0f, m->Hb, H,
                P + m->off_w2, H, 1.0f, m->Z, (int)DC);
}

/* Loss and gradient of a batch: rows idx[0..B) (idx NULL: 0..B) of x (·, D) / y, mean over
 * the batch; accumulates into m->grads. Chunks of EWGN_CHUNK rows; in each, the generated
 * weights are contracted with x in the same pass that applies g (W(x) is never stored). */
EWGN_HOT static float grad_batch(ewgn_t *m, const float *x, const int *y, const int *idx,
                                 const int *mask, int B) {
    const int D = m->D, C = m->C, H = m->H;
    const long DC = (long)D * C;
    float *G = m->grads;
    double loss = 0;
    for (int n0 = 0; n0 < B; n0 += EWGN_CHUNK) {
        const int bc = B - n0 < EWGN_CHUNK ? B - n0 : EWGN_CHUNK;
        for (int n = 0; n < bc; n++) {
            int i = idx ? idx[n0 + n] : n0 + n;
            memcpy(m->X + (long)n * D, x + (long)i * D, sizeof(float) * (size_t)D);
            m->lab[n] = y[i];
        }
        zbatch(m, bc);
        /* logits = b + Σ_d g(z_d)·x_d; Z ← g'(z)·x (0 where x = 0) */
        for (int n = 0; n < bc; n++) {
            const float *xn = m->X + (long)n * D;
            float *zn = m->Z + n * DC, *ln = m->L + (long)n * C;
            memcpy(ln, m->params + m->off_b, sizeof(float) * (size_t)C);
            for (int d = 0; d < D; d++) {
                float *zd = zn + (long)d * C;
                const float xd = xn[d];
                if (xd == 0.0f) {
                    memset(zd, 0, sizeof(float) * (size_t)C);
                    continue;
                }
                gen_act(m->act, m->gbuf, zd, C);
                for (int c = 0; c < C; c++) {
                    ln[c] += m->gbuf[c] * xd;
                    zd[c] *= xd;
                }
            }
        }
        loss += (double)softmax_xent_forward(m->P, m->L, m->lab, mask, bc, C) * bc;
        memset(m->L, 0, sizeof(float) * (size_t)(bc * C));   /* L becomes dlogits */
        softmax_xent_backward(m->L, m->P, m->lab, mask, (float)bc / (float)B, bc, C);
        /* dz = dlogits ⊗ (g'(z)·x) per sample, in place */
        for (int n = 0; n < bc; n++) {
            float *zn = m->Z + n * DC;
            const float *dl = m->L + (long)n * C;
            for (int d = 0; d < D; d++)
                for (int c = 0; c < C; c++) zn[(long)d * C + c] *= dl[c];
            for (long i = 0; i < DC; i++) G[m->off_b2 + i] += zn[i];
            for (int c = 0; c < C; c++) G[m->off_b + c] += dl[c];
        }
        /* dW2 += dZᵀ·Hb; dHb = dZ·W2; ReLU; dW1t += Xᵀ·dHpre */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)DC, H, bc, 1.0f, m->Z, (int)DC,
                    m->Hb, H, 1.0f, G + m->off_w2, H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bc, H, (int)DC, 1.0f, m->Z, (int)DC,
                    m->params + m->off_w2, H, 0.0f, m->dHb, H);
        for (int n = 0; n < bc; n++)
            for (int k = 0; k < H; k++) {
                float *v = m->dHb + (long)n * H + k;
                if (!(m->Hpre[(long)n * H + k] > 0.0f)) *v = 0.0f;
                G[m->off_b1 + k] += *v;
            }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, H, bc, 1.0f, m->X, D, m->dHb, H,
                    1.0f, G + m->off_w1, H);
    }
    return (float)(loss / B);
}

/* ------------------------------------------------------------------ lazy EWC */

/* n penalty-only steps on a block: θ ← θ* + (1 − s)^k (θ − θ*), with (1 − s)^k by
 * squaring in complement form (q = 1 − product), which keeps tiny shrinks exact. */
EWGN_HOT EWGN_INLINE void decay_block(ewgn_t *m, float *restrict th, const float *restrict an,
                                 const float *restrict s, long n, long k) {
    if (k <= 0) return;
    if (k == 1) {
        for (long i = 0; i < n; i++) th[i] -= s[i] * (th[i] - an[i]);
        return;
    }
    float *restrict q = m->pw_q, *restrict qb = m->pw_b;
    for (long i = 0; i < n; i++) {
        q[i] = 0.0f;
        qb[i] = s[i];
    }
    for (;;) {
        if (k & 1)
            for (long i = 0; i < n; i++) q[i] = q[i] + qb[i] - q[i] * qb[i];
        k >>= 1;
        if (!k) break;
        for (long i = 0; i < n; i++) qb[i] = qb[i] * (2.0f - qb[i]);
    }
    for (long i = 0; i < n; i++) th[i] -= q[i] * (th[i] - an[i]);
}

/* Brings pixel block d up to the current clock. */
EWGN_HOT EWGN_INLINE void catch_up(ewgn_t *m, long d) {
    long k = m->clock - m->last[d];
    if (k <= 0) return;
    const long CH = (long)m->C * m->H;
    const long o[3] = {m->off_w2 + d * CH, m->off_b2 + d * m->C, m->off_w1 + d * m->H};
    const long n[3] = {CH, m->C, m->H};
    for (int i = 0; i < 3; i++)
        decay_block(m, m->params + o[i], m->ewc.anchor + o[i], m->shrink + o[i], n[i], k);
    m->last[d] = m->clock;
}

static int lazy_active(const ewgn_t *m) { return m->use_ewc && m->ewc.consolidated; }

/* Brings every pixel block up to date (before anything else reads the parameters). */
static void flush(ewgn_t *m) {
    if (!lazy_active(m)) return;
    for (long d = 0; d < m->D; d++) catch_up(m, d);
}

/* After a consolidation: the per-parameter shrink of one penalty step (gradient step: c;
 * proximal: c/(1 + c), c = lr·λ·F), and a fresh clock. */
static void after_consolidation(ewgn_t *m) {
    if (!m->shrink) m->shrink = xmalloc(sizeof(float) * (size_t)m->n_ewc);
    const float lrl = m->ts.lr * m->ewc.lambda;
    for (long i = 0; i < m->n_ewc; i++) {
        const float c = lrl * m->ewc.fisher[i];
        m->shrink[i] = m->prox ? c / (1.0f + c) : c;
    }
    m->clock = 0;
    memset(m->last, 0, sizeof(long) * (size_t)m->D);
}

/* ------------------------------------------------------------------ steps */

/* The fused SGD update of one pixel block (C rows of H, and its C biases) with its share of
 * the backward: dh += Wᵀ·dz with the old W, then W −= lr·dz⊗h (rank 1), b2 −= lr·dz. */
EWGN_HOT EWGN_INLINE void block_sgd(float *restrict w, float *restrict b2, float *restrict dh,
                               const float *restrict dz, const float *restrict h, float lr,
                               int C, int H) {
    for (int c = 0; c < C; c++) {
        const float g = dz[c];
        if (g == 0.0f) continue;   /* masked class: the row is unchanged */
        float *restrict wr = w + (long)c * H;
        const float lg = lr * g;
        for (int k = 0; k < H; k++) {
            const float wk = wr[k];
            dh[k] += g * wk;
            wr[k] = wk - lg * h[k];
        }
        b2[c] -= lg;
    }
}

/* block_sgd with the EWC penalty step of the same iteration, θ ← θ − s·(θ − θ*) − lr·∇·t:
 * gradient step t = 1, s = lr·λ·F; proximal step (prox = 1) t = 1 − s, s = c/(1 + c),
 * c = lr·λ·F, i.e. θ ← θ* + (θ − lr·∇ − θ*)/(1 + c). aw/sw: anchor and shrink of w; ab/sb
 * of b2. */
EWGN_HOT EWGN_INLINE void block_sgd_ewc(float *restrict w, float *restrict b2, const float *restrict aw,
                                   const float *restrict sw, const float *restrict ab,
                                   const float *restrict sb, float *restrict dh,
                                   const float *restrict dz, const float *restrict h, float lr,
                                   float prox, int C, int H) {
    for (int c = 0; c < C; c++) {
        const float g = dz[c], lg = lr * g;
        float *restrict wr = w + (long)c * H;
        const float *restrict ar = aw + (long)c * H, *restrict sr = sw + (long)c * H;
        for (int k = 0; k < H; k++) {
            const float wk = wr[k];
            dh[k] += g * wk;
            wr[k] = wk - sr[k] * (wk - ar[k]) - lg * h[k] * (1.0f - prox * sr[k]);
        }
        b2[c] -= sb[c] * (b2[c] - ab[c]) + lg * (1.0f - prox * sb[c]);
    }
}

/* w −= alpha·v, plus (a non-NULL) the EWC penalty step as in block_sgd_ewc. */
EWGN_HOT EWGN_INLINE void axpy_decay(float *restrict w, const float *restrict a, const float *restrict s,
                                const float *restrict v, float alpha, float prox, int n) {
    if (a)
        for (int k = 0; k < n; k++)
            w[k] -= s[k] * (w[k] - a[k]) + alpha * v[k] * (1.0f - prox * s[k]);
    else
        for (int k = 0; k < n; k++) w[k] -= alpha * v[k];
}

/* One plain-SGD step on one sample (x, y), fused: θ ← θ − lr·(∇loss + λF(θ − θ*)) (or its
 * proximal form) on the touched blocks, the penalty of untouched blocks deferred (see
 * catch_up). */
EWGN_HOT EWGN_INLINE run_status step_fast_body(ewgn_t *m, const float *x, int y, const int *mask,
                                               int kern) {
    const int C = m->C, H = m->H;
    const float lr = m->ts.lr;
    const int ewc = lazy_active(m);
    float *P = m->params;
    const float *A = ewc ? m->ewc.anchor : NULL, *S = m->shrink;
    const float prox = (float)m->prox;
    if (ewc)
        for (int d = 0; d < m->D; d++)
            if (x[d] != 0.0f) catch_up(m, d);
    fwd1_k(m, x, 1, kern);
    float loss = loss1(m, y, mask, 1.0f);
    if (!isfinite(loss)) {
        cls_seterr("non-finite training loss");
        return RUN_STATUS_DIVERGED;
    }
    float *dh = m->dh, *dz = m->dz;
    const int wide = CLS_X86_SIMD && kern != EWGN_K_REF && H == EWGN_B1_H;
#if CLS_X86_SIMD
    if (wide) {
        const long o2 = m->off_w2, ob = m->off_b2;
        if (ewc && kern == EWGN_K_AVX512)
            ewgn_b1_sgd_ewc_avx512(P + o2, P + ob, A + o2, S + o2, A + ob, S + ob, dh, m->dlog,
                                   m->gp, m->h, m->nz, m->nnz, C, lr, prox);
        else if (ewc)
            ewgn_b1_sgd_ewc_avx2(P + o2, P + ob, A + o2, S + o2, A + ob, S + ob, dh, m->dlog,
                                 m->gp, m->h, m->nz, m->nnz, C, lr, prox);
        else if (kern == EWGN_K_AVX512)
            ewgn_b1_sgd_avx512(P + o2, P + ob, dh, m->dlog, m->gp, m->h, m->nz, m->nnz, C, lr);
        else
            ewgn_b1_sgd_avx2(P + o2, P + ob, dh, m->dlog, m->gp, m->h, m->nz, m->nnz, C, lr);
    }
#endif
    if (!wide) memset(dh, 0, sizeof(float) * (size_t)H);
    for (int j = 0; j < m->nnz && !wide; j++) {
        const long d = m->nz[j], ow = m->off_w2 + d * C * H, ob = m->off_b2 + d * C;
        const float *gp = m->gp + (long)j * C;
        for (int c = 0; c < C; c++) dz[c] = m->dlog[c] * gp[c];
        if (ewc)
            block_sgd_ewc(P + ow, P + ob, A + ow, S + ow, A + ob, S + ob, dh, dz, m->h, lr, prox, C, H);
        else
            block_sgd(P + ow, P + ob, dh, dz, m->h, lr, C, H);
    }
    for (int k = 0; k < H; k++)
        if (!(m->hpre[k] > 0.0f)) dh[k] = 0.0f;
    for (int j = 0; j < m->nnz; j++) {
        const long ow = m->off_w1 + (long)m->nz[j] * H;
        if (ewc)
            axpy_decay(P + ow, A + ow, S + ow, dh, lr * m->xv[j], prox, H);
        else
            axpy_decay(P + ow, NULL, NULL, dh, lr * m->xv[j], 0, H);
    }
    if (ewc)
        axpy_decay(P + m->off_b1, A + m->off_b1, S + m->off_b1, dh, lr, prox, H);
    else
        axpy_decay(P + m->off_b1, NULL, NULL, dh, lr, 0, H);
    if (m->bias_mode == EWGN_BIAS_CONSOLIDATED && ewc)
        axpy_decay(P + m->off_b, A + m->off_b, S + m->off_b, m->dlog, lr, prox, C);
    else if (m->bias_mode != EWGN_BIAS_NONE)
        axpy_decay(P + m->off_b, NULL, NULL, m->dlog, lr, 0, C);
    if (ewc) {
        m->clock++;
        for (int j = 0; j < m->nnz; j++) m->last[m->nz[j]] = m->clock;
    }
    return RUN_STATUS_OK;
}

/* step_fast compiled for 256-bit vectors (the body and everything it calls are inlined
 * into step_fast_avx2, so GCC vectorises the remaining C loops 8 lanes wide) and picked by
 * cpu_level() at AVX2 and above; at H = EWGN_B1_H its passes over the pixel blocks are the
 * hand-written kernels of ewgn_b1.c (256-bit forward and update; step_fast_avx512: the same
 * with the update at 512-bit width). A whole-body 512-bit build of the C loops was measured
 * 10–25 % slower than the 256-bit one (rows of H = 32 floats), so the rest stays 256-bit on
 * AVX-512 machines. The loops are element-wise or keep dot8's eight partial sums, no
 * reassociation and no FMA contraction (-std=c11), so every level gives the same bits
 * (tests/test_kernels.c, tests/test_ewgn_b1.c). */
#if CLS_X86_SIMD
CLS_TARGET_AVX2 EWGN_HOT static run_status step_fast_avx2(ewgn_t *m, const float *x, int y,
                                                         const int *mask) {
    return step_fast_body(m, x, y, mask, EWGN_K_AVX2);
}
CLS_TARGET_AVX2 EWGN_HOT static run_status step_fast_avx512(ewgn_t *m, const float *x, int y,
                                                           const int *mask) {
    return step_fast_body(m, x, y, mask, EWGN_K_AVX512);
}
#endif
EWGN_HOT static run_status step_fast_base(ewgn_t *m, const float *x, int y, const int *mask) {
    return step_fast_body(m, x, y, mask, EWGN_K_REF);
}

static run_status step_fast(ewgn_t *m, const float *x, int y, const int *mask) {
#if CLS_X86_SIMD
    if (cpu_level() >= CPU_AVX512) return step_fast_avx512(m, x, y, mask);
    if (cpu_level() >= CPU_AVX2) return step_fast_avx2(m, x, y, mask);
#endif
    return step_fast_base(m, x, y, mask);
}

/* One optimiser step on a batch (any optimiser, any batch size): dense gradient, EWC
 * penalty gradient, optim_step; or, proximal, optim_step on the loss gradient and then the
 * penalty's proximal map θ ← θ* + (θ − θ*)/(1 + lr·λ·F) (for SGD exactly the fused step). */
static run_status step_generic(ewgn_t *m, const float *x, const int *y, const int *idx,
                               const int *mask, int B) {
    memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    float loss;
    if (B == 1) {
        int i = idx ? idx[0] : 0;
        fwd1(m, x + (long)i * m->D, 1);
        loss = loss1(m, y[i], mask, 1.0f);
        bwd1(m, m->grads);
    } else {
        loss = grad_batch(m, x, y, idx, mask, B);
    }
    if (!isfinite(loss)) {
        cls_seterr("non-finite training loss");
        return RUN_STATUS_DIVERGED;
    }
    if (m->bias_mode == EWGN_BIAS_NONE)
        memset(m->grads + m->off_b, 0, sizeof(float) * (size_t)m->C);
    if (m->use_ewc && !m->prox) ewc_penalty_grad(&m->ewc, m->params, m->grads);
    optim_step(&m->opt, m->params, m->grads);
    if (lazy_active(m) && m->prox) {
        float *P = m->params;
        const float *A = m->ewc.anchor, *S = m->shrink;
        for (long i = 0; i < m->n_ewc; i++) P[i] -= S[i] * (P[i] - A[i]);
    }
    return RUN_STATUS_OK;
}

/* A label drawn from the model's predictive distribution softmax(logits) of the last fwd1,
 * over the classes of mask (NULL: all): inverse CDF of one uniform draw, in double. */
static int sample_label(const ewgn_t *m, const int *mask, rng_t *r) {
    double mx = -INFINITY, se = 0;
    int last = -1;
    for (int c = 0; c < m->C; c++)
        if ((!mask || mask[c]) && m->logits[c] > mx) mx = m->logits[c];
    for (int c = 0; c < m->C; c++)
        if (!mask || mask[c]) se += exp((double)m->logits[c] - mx);
    double u = (double)rng_uniform(r) * se, acc = 0;
    for (int c = 0; c < m->C; c++) {
        if (mask && !mask[c]) continue;
        last = c;
        acc += exp((double)m->logits[c] - mx);
        if (u < acc) return c;
    }
    return last;   /* u rounded up to the total */
}

/* The training example of Fisher sample s of task t: one index stream per consolidation, so
 * the passes of the generated-weight Fisher visit the same examples. */
static void fisher_rng(rng_t *r, const bench_t *b, int task) {
    rng_init(r, b->seed ^ 0xF15E5EEDULL, 100 + (uint64_t)task);
}

/* ewgn.fisher: generated — the Fisher computed on the generated weights, carried back to the
 * WGN parameters (docs/spec.md §4.3). The main network's weights are W(x) (C × D): its
 * diagonal empirical Fisher is F_W[c][d] = mean_x (∂ log p(y|x)/∂W_cd)² = mean_x
 * ((p_c − [c = y])·x_d)² (pass 1; b's is mean_x (p_c − [c = y])², used with ewgn.bias:
 * consolidated). It becomes a Fisher of the generator by the squared Jacobian of the
 * generated weights, averaged over the same examples (pass 2):
 *     F_θj = mean_x Σ_cd F_W[c][d] · (∂W_cd(x)/∂θ_j)²,
 * the diagonal of Jᵀ diag(F_W) J. With a_cd = F_W[c][d]·g'(z_cd)² that is a_cd·h_k² for W2
 * row (d, c), a_cd for b2, u_k·x_d² for W1[k][d] and u_k for b1[k], where u_k =
 * [hpre_k > 0]·Σ_cd a_cd·W2[cd][k]². Every pixel's generated weight counts, also where
 * x_d = 0 for the example at hand (the Jacobian does not depend on x_d). */
static void gen_fisher_pass1(ewgn_t *m, const task_t *t, int task, const bench_t *b,
                             double *fw, double *fb) {
    const int D = m->D, C = m->C;
    rng_t r;
    fisher_rng(&r, b, task);
    memset(fw, 0, sizeof(double) * (size_t)D * C);
    memset(fb, 0, sizeof(double) * (size_t)C);
    for (int s = 0; s < m->fisher_samples; s++) {
        int i = (int)rng_below(&r, (uint32_t)t->n_train);
        const float *x = t->x_train + (long)i * D;
        fwd1(m, x, 0);
        loss1(m, t->y_train[i], t->class_mask, 1.0f);   /* dlog = p − onehot (masked) */
        for (int j = 0; j < m->nnz; j++) {
            const double x2 = (double)m->xv[j] * m->xv[j];
            double *f = fw + (long)m->nz[j] * C;
            for (int c = 0; c < C; c++) f[c] += (double)m->dlog[c] * m->dlog[c] * x2;
        }
        for (int c = 0; c < C; c++) fb[c] += (double)m->dlog[c] * m->dlog[c];
    }
    const double inv = 1.0 / m->fisher_samples;
    for (long k = 0; k < (long)D * C; k++) fw[k] *= inv;
    for (int c = 0; c < C; c++) fb[c] *= inv;
}

/* Pass 2 for one example x: acc (arena layout, the EWC-covered entries) += Σ_cd fw_cd ·
 * (∂W_cd(x)/∂θ)², fb added to b's entries when b is consolidated. Uses the first 2·D·C
 * floats of the batched scratch Z (not in use outside a training step). */
static void gen_fisher_add(ewgn_t *m, const float *x, const double *fw, const double *fb,
                           float *acc) {
    const int D = m->D, C = m->C, H = m->H;
    const long DC = (long)D * C;
    const float *P = m->params;
    fwd1(m, x, 0);                      /* hpre, h, and the nonzero pixels of x */
    float *zd = m->Z, *g = m->Z + DC;   /* z, then g'(z), of every generated weight */
    for (long row = 0; row < DC; row++)
        zd[row] = P[m->off_b2 + row] + dot8(P + m->off_w2 + row * H, m->h, H);
    gen_act(m->act, g, zd, DC);
    double *u = xcalloc((size_t)H, sizeof(double));
    for (long row = 0; row < DC; row++) {
        const double a = fw[row] * (double)zd[row] * zd[row];
        if (a == 0.0) continue;
        const float *w = P + m->off_w2 + row * H;
        float *aw = acc + m->off_w2 + row * H;
        for (int k = 0; k < H; k++) {
            aw[k] += (float)(a * m->h[k] * m->h[k]);
            u[k] += a * (double)w[k] * w[k];
        }
        acc[m->off_b2 + row] += (float)a;
    }
    for (int k = 0; k < H; k++)
        if (!(m->hpre[k] > 0.0f)) u[k] = 0.0;
    for (int j = 0; j < m->nnz; j++) {
        const double x2 = (double)m->xv[j] * m->xv[j];
        float *aw = acc + m->off_w1 + (long)m->nz[j] * H;
        for (int k = 0; k < H; k++) aw[k] += (float)(u[k] * x2);
    }
    for (int k = 0; k < H; k++) acc[m->off_b1 + k] += (float)u[k];
    if (m->n_ewc > m->off_b)
        for (int c = 0; c < C; c++) acc[m->off_b + c] += (float)fb[c];
    free(u);
}

static void consolidate_generated(ewgn_t *m, const bench_t *b, int task) {
    const task_t *t = &b->tasks[task];
    double *fw = xmalloc(sizeof(double) * (size_t)m->D * m->C);
    double *fb = xmalloc(sizeof(double) * (size_t)m->C);
    gen_fisher_pass1(m, t, task, b, fw, fb);
    rng_t r;
    fisher_rng(&r, b, task);
    for (int s = 0; s < m->fisher_samples; s++) {
        int i = (int)rng_below(&r, (uint32_t)t->n_train);
        gen_fisher_add(m, t->x_train + (long)i * m->D, fw, fb, m->ewc.acc);
        m->ewc.nsamples++;
    }
    free(fw);
    free(fb);
}

/* Diagonal Fisher of task t on the EWC-covered parameters (the WGN, and b with ewgn.bias:
 * consolidated): squared per-example gradient of −log p(y|x) over fisher_samples training
 * examples, y the training label (empirical Fisher, as the ewc baseline) or drawn from
 * p(·|x) (true Fisher, a one-sample estimate per example), or the generated-weight Fisher
 * above; then the new anchor. */
static void consolidate(ewgn_t *m, const bench_t *b, int task) {
    const task_t *t = &b->tasks[task];
    ewc_begin(&m->ewc);
    if (m->fisher_mode == EWGN_FISHER_GENERATED) {
        consolidate_generated(m, b, task);
        ewc_end(&m->ewc, m->params);
        after_consolidation(m);
        return;
    }
    memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
    rng_t r, rl;
    fisher_rng(&r, b, task);
    rng_init(&rl, b->seed ^ 0x7F15E5EDULL, 300 + (uint64_t)task);   /* labels: own stream */
    for (int s = 0; s < m->fisher_samples; s++) {
        int i = (int)rng_below(&r, (uint32_t)t->n_train);
        fwd1(m, t->x_train + (long)i * m->D, 1);
        int y = m->fisher_mode == EWGN_FISHER_TRUE ? sample_label(m, t->class_mask, &rl)
                                                   : t->y_train[i];
        loss1(m, y, t->class_mask, 1.0f);
        bwd1(m, m->grads);
        ewc_add_sample(&m->ewc, m->grads);   /* the first n_ewc entries */
        clear1(m, m->grads);
    }
    ewc_end(&m->ewc, m->params);
    after_consolidation(m);
}

/* ------------------------------------------------------------------ model ops */

static model_t *ewgn_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    const char *an = cfg_str(cfg, "ewgn.activation");
    int act = act_parse(an);
    if (act != ACT_GAUSSIAN && act != ACT_SIGMOID && act != ACT_TANH) {
        cls_seterr("ewgn.activation: expected gaussian, sigmoid or tanh, got '%s'", an);
        return NULL;
    }
    ewgn_t *m = xcalloc(1, sizeof *m);
    /* The shared train.* settings, as for every model: the paper's SGD at batch 1, lr 0.005
     * is asked for explicitly (ewgn.train.batch_size: 1, ewgn.train.lr: 0.005). */
    train_resolve(&m->ts, cfg, b);
    int maxn = 1;
    for (int k = 0; k < b->ntasks; k++)
        if (b->tasks[k].n_train > maxn) maxn = b->tasks[k].n_train;
    ewgn_alloc(m, b->in_dim, b->out_dim, (int)cfg_int(cfg, "ewgn.hidden"), (act_kind)act, maxn);
    rng_t init_rng;
    rng_init(&init_rng, seed, 1);
    ewgn_init_params(m, &init_rng);
    rng_init(&m->rng, seed, 2);
    train_optim_init(&m->opt, &m->ts, m->nparams);
    m->fast = m->ts.batch_size == 1 && m->ts.optimizer == OPTIM_SGD && m->ts.momentum == 0 &&
              m->ts.weight_decay == 0;
    const char *bm = cfg_str(cfg, "ewgn.bias");
    m->bias_mode = !strcmp(bm, "consolidated") ? EWGN_BIAS_CONSOLIDATED
                   : !strcmp(bm, "none")       ? EWGN_BIAS_NONE
                                               : EWGN_BIAS_FREE;
    m->n_ewc = m->bias_mode == EWGN_BIAS_CONSOLIDATED ? m->nparams : m->n_wgn;
    const char *fm = cfg_str(cfg, "ewgn.fisher");
    m->fisher_mode = !strcmp(fm, "true")        ? EWGN_FISHER_TRUE
                     : !strcmp(fm, "generated") ? EWGN_FISHER_GENERATED
                                                : EWGN_FISHER_EMPIRICAL;
    float lambda = (float)cfg_float(cfg, "ewgn.lambda");
    m->use_ewc = lambda > 0;
    if (m->use_ewc) ewc_init(&m->ewc, m->n_ewc, lambda, 1.0f);
    m->fisher_samples = (int)cfg_int(cfg, "ewgn.fisher_samples");
    m->prox = !strcmp(cfg_str(cfg, "ewgn.ewc_step"), "proximal");
    return (model_t *)m;
}

/* A divergence message with the quantity over its bound, when the model knows it: the
 * explicit EWC step multiplies θ − θ* by (1 − lr·λ·F), unstable once lr·λ·max F > 2. */
static run_status diverged_why(const ewgn_t *m, run_status st) {
    if (st != RUN_STATUS_DIVERGED) return st;
    char what[96];
    snprintf(what, sizeof what, "%s", cls_geterr());
    double q = lazy_active(m) ? ewc_step_bound(&m->ewc, m->ts.lr) : 0;
    if (lazy_active(m) && !m->prox && q > 2)
        cls_seterr("%s: explicit EWC step unstable, lr·λ·max F = %.3g > 2 (ewgn.ewc_step: "
                   "proximal is stable; or lower ewgn.lambda or train.lr)", what, q);
    else
        cls_seterr("%s (train.lr %g, batch %d: step too large?)", what, (double)m->ts.lr,
                   m->ts.batch_size);
    return st;
}

/* The anytime-curve hook after an optimiser step (train.h). With the lazy EWC decay the
 * pixel blocks not touched since their last catch-up are behind; a due point evaluates a
 * caught-up copy of the arena (the same decay_block as flush), so the training state —
 * parameters, clocks — is left exactly as it was. */
static void ewgn_curve_tick(ewgn_t *m, const bench_t *b) {
    if (!lazy_active(m) || !train_curve_due()) {
        train_curve_tick((model_t *)m, b);
        return;
    }
    float *live = m->params;
    long *last = xmalloc(sizeof(long) * (size_t)m->D);
    memcpy(last, m->last, sizeof(long) * (size_t)m->D);
    m->params = xmalloc(sizeof(float) * (size_t)m->nparams);
    memcpy(m->params, live, sizeof(float) * (size_t)m->nparams);
    flush(m);
    train_curve_tick((model_t *)m, b);
    free(m->params);
    m->params = live;
    memcpy(m->last, last, sizeof(long) * (size_t)m->D);
    free(last);
}

static run_status ewgn_train_block(model_t *mm, const bench_t *b, int stage) {
    ewgn_t *m = (ewgn_t *)mm;
    const int task = b->stage_task[stage];
    const task_t *t = &b->tasks[task];
    const int n = t->n_train, B = m->ts.batch_size;
    if (n == 0) {
        cls_seterr("task %s has no training examples", t->name);
        return RUN_STATUS_FAILED;
    }
    run_status st = RUN_STATUS_OK;
    for (int e = 0; e < b->block_size && st == RUN_STATUS_OK; e++) {
        for (int i = 0; i < n; i++) m->order[i] = i;
        if (B < n) rng_shuffle(&m->rng, m->order, n);
        for (int i0 = 0; i0 < n && st == RUN_STATUS_OK; i0 += B) {
            const int bs = n - i0 < B ? n - i0 : B;
            if (m->fast) {
                const int i = m->order[i0];
                st = step_fast(m, t->x_train + (long)i * m->D, t->y_train[i], t->class_mask);
            } else {
                st = step_generic(m, t->x_train, t->y_train, m->order + i0, t->class_mask, bs);
            }
            if (st == RUN_STATUS_OK) ewgn_curve_tick(m, b);
        }
    }
    if (st != RUN_STATUS_OK) return diverged_why(m, st);
    flush(m);
    if (!all_finite(m->params, m->nparams)) {
        cls_seterr("non-finite parameters");
        return diverged_why(m, RUN_STATUS_DIVERGED);
    }
    if (m->use_ewc) consolidate(m, b, task);
    return RUN_STATUS_OK;
}

/* fwd1 through the wide kernels where the CPU has them (the same bits as fwd1): the
 * evaluation's forward. */
#if CLS_X86_SIMD
CLS_TARGET_AVX2 EWGN_HOT static void fwd1_avx2(ewgn_t *m, const float *x, int grad) {
    fwd1_k(m, x, grad, EWGN_K_AVX2);
}
#endif
static void fwd1_fast(ewgn_t *m, const float *x, int grad) {
#if CLS_X86_SIMD
    if (cpu_level() >= CPU_AVX2) {
        fwd1_avx2(m, x, grad);
        return;
    }
#endif
    fwd1(m, x, grad);
}

static double ewgn_eval(model_t *mm, const bench_t *b, int task) {
    ewgn_t *m = (ewgn_t *)mm;
    const task_t *t = &b->tasks[task];
    if (t->n_test <= 0) return NAN;
    long correct = 0;
    for (int i = 0; i < t->n_test; i++) {
        fwd1_fast(m, t->x_test + (long)i * m->D, 0);
        int best = -1;
        for (int c = 0; c < m->C; c++) {
            if (t->class_mask && !t->class_mask[c]) continue;
            if (!isfinite(m->logits[c])) return NAN;
            if (best < 0 || m->logits[c] > m->logits[best]) best = c;
        }
        correct += best == t->y_test[i];
    }
    return (double)correct / t->n_test;
}

/* Mean and spread of the generated weights W(x) of each task over its first
 * EWGN_STAT_SAMPLES test examples: mean over samples and entries, and the RMS over entries
 * of each entry's standard deviation across the samples (within-task spread). */
static void ewgn_after_stage(model_t *mm, const bench_t *b, int stage, run_result *res) {
    ewgn_t *m = (ewgn_t *)mm;
    const long DC = (long)m->D * m->C;
    double *mean = result_array(res, "gen_weight_mean",
                                "mean of the generated weights W(x) over a task's test subset",
                                "stage", b->nstages, "task", b->ntasks);
    double *spread = result_array(res, "gen_weight_std",
                                  "RMS over entries of the per-entry std of W(x) across a task's test subset",
                                  "stage", b->nstages, "task", b->ntasks);
    double *s1 = xmalloc(sizeof(double) * (size_t)(2 * DC)), *s2 = s1 + DC;
    for (int task = 0; task < b->ntasks; task++) {
        const task_t *t = &b->tasks[task];
        const int ns = t->n_test < EWGN_STAT_SAMPLES ? t->n_test : EWGN_STAT_SAMPLES;
        if (ns <= 0) continue;
        memset(s1, 0, sizeof(double) * (size_t)(2 * DC));
        for (int n0 = 0; n0 < ns; n0 += EWGN_CHUNK) {
            const int bc = ns - n0 < EWGN_CHUNK ? ns - n0 : EWGN_CHUNK;
            memcpy(m->X, t->x_test + (long)n0 * m->D, sizeof(float) * (size_t)bc * (size_t)m->D);
            zbatch(m, bc);
            for (int n = 0; n < bc; n++) {
                gen_act(m->act, m->gbuf, m->Z + n * DC, DC);   /* gbuf = W(x_n), (d, c) order */
                for (long i = 0; i < DC; i++) {
                    s1[i] += m->gbuf[i];
                    s2[i] += (double)m->gbuf[i] * m->gbuf[i];
                }
            }
        }
        double tot = 0, var = 0;
        for (long i = 0; i < DC; i++) {
            double mu = s1[i] / ns;
            tot += mu;
            var += fmax(0.0, s2[i] / ns - mu * mu);
        }
        mean[(long)stage * b->ntasks + task] = tot / (double)DC;
        spread[(long)stage * b->ntasks + task] = sqrt(var / (double)DC);
    }
    free(s1);
}

/* Weight-space analysis (model.h weights hook): for each task t, its first min(spt, n_test)
 * test images; row = the generated weights W(x) = g(z(x)) in (d, c) order (D·C values),
 * task = t. Chunks of EWGN_CHUNK images go through zbatch (as ewgn_after_stage) and gen_act
 * writes g straight into the output row. Reads the parameters only (current after
 * train_block's flush); touches only the batched scratch, which training rewrites before
 * every use, and draws no random numbers, so the training trajectory is unchanged. */
static float *ewgn_weights(model_t *mm, const bench_t *b, int spt, int *rows, int *cols,
                           int **row_task) {
    ewgn_t *m = (ewgn_t *)mm;
    const long DC = (long)m->D * m->C;
    long total = 0;
    for (int t = 0; t < b->ntasks && spt > 0; t++)
        total += b->tasks[t].n_test < spt ? b->tasks[t].n_test : spt;
    if (total < 1) return NULL;
    float *out = xmalloc(sizeof(float) * (size_t)total * (size_t)DC);
    int *task = xmalloc(sizeof(int) * (size_t)total);
    long r = 0;
    for (int t = 0; t < b->ntasks; t++) {
        const task_t *tk = &b->tasks[t];
        const int ns = tk->n_test < spt ? tk->n_test : spt;
        for (int n0 = 0; n0 < ns; n0 += EWGN_CHUNK) {
            const int bc = ns - n0 < EWGN_CHUNK ? ns - n0 : EWGN_CHUNK;
            memcpy(m->X, tk->x_test + (long)n0 * m->D, sizeof(float) * (size_t)bc * (size_t)m->D);
            zbatch(m, bc);
            for (int n = 0; n < bc; n++, r++) {
                gen_act(m->act, out + r * DC, m->Z + n * DC, DC);
                task[r] = t;
            }
        }
    }
    *rows = (int)r;
    *cols = (int)DC;
    *row_task = task;
    return out;
}

static void ewgn_free(model_t *mm) {
    ewgn_t *m = (ewgn_t *)mm;
    if (!m) return;
    ewgn_release(m);
    free(m);
}

/* Cost in the unit of the baselines (blocks × epochs × examples): measured on this project's
 * machine, an EWGN example (H = 32, C = 20, batch 1) costs about 1.5 finetune examples at
 * batch 1; the work scales with H·C. The Fisher adds fisher_samples examples per block. */
/* model.h accepts hook: any classification benchmark whose generator fits in memory. The
 * WGN has D·C·(H + 1) + D·H + H + C parameters, held with their gradients, the EWC state
 * (Fisher, anchor, accumulator, shrink) and a batched scratch of EWGN_CHUNK·D·C floats;
 * over EWGN_MAX_GIB the run is unsupported, with the size in the reason, instead of an
 * allocation failure or swapping. */
#define EWGN_MAX_GIB 8.0
static const char *ewgn_accepts(const bench_t *b, const run_config *cfg) {
    static char why[256];
    if (b->kind != BENCH_KIND_CLASSIFICATION) return "ewgn is a classifier";
    if (b->in_dim < 1 || b->out_dim < 2)
        return "ewgn needs inputs (D >= 1) and at least 2 classes";
    const char *hs = cfg ? cfg_get(cfg, "ewgn.hidden") : NULL;
    double H = hs ? atof(hs) : 32, D = b->in_dim, C = b->out_dim;
    double np = D * C * (H + 1) + D * H + H + C;
    double gib = (6.0 * np + EWGN_CHUNK * D * C + 2.0 * D * C) * sizeof(float) / 1073741824.0;
    if (gib > EWGN_MAX_GIB) {
        snprintf(why, sizeof why, "ewgn would need %.1f GiB for D = %d inputs × C = %d classes "
                 "× H = %.0f (over %.0f GiB; lower ewgn.hidden or use smaller inputs)", gib,
                 b->in_dim, b->out_dim, H, EWGN_MAX_GIB);
        return why;
    }
    return NULL;
}

static double ewgn_cost(const run_config *cfg) {
    bench_size z;
    if (bench_size_of(cfg, &z)) return 1.0;
    double C = z.out_dim > 0 ? z.out_dim : 10;
    double per_example = 1.5 * (double)cfg_int(cfg, "ewgn.hidden") / 32.0 * C / 20.0;
    return z.nstages * (z.block_size * z.n_train + (double)cfg_int(cfg, "ewgn.fisher_samples")) *
           per_example;
}

const model_ops ewgn_ops = {
    .name = "ewgn",
    .kinds = BENCH_KIND_CLASSIFICATION,
    .params = ewgn_params,
    .nparams = (int)(sizeof ewgn_params / sizeof ewgn_params[0]),
    .cost = ewgn_cost,
    .accepts = ewgn_accepts,
    .init = ewgn_init,
    .train_block = ewgn_train_block,
    .eval_task = ewgn_eval,
    .after_stage = ewgn_after_stage,
    .free = ewgn_free,
    .weights = ewgn_weights,
};
