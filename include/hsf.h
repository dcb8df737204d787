/* hsf.h — the Hypernetwork-SDE-Flow autoencoder (docs/spec.md §4.6), exported part by part for its
 * tests and benchmark; the model itself is hsf_ops in the registry.
 *
 * Every part is a forward/backward pair over one parameter arena (llm.c style): a part's
 * layout is a small struct of offsets into `params`, its gradients live at the same offsets
 * in `grads`. Float32, row-major; shapes are written (B, n). Every backward ACCUMULATES into
 * the arena gradients and into the input gradient it is given.
 *
 * Architecture (code: vandoanh1999/hypernet-sde-learner, src/main.py):
 *   encoder  x → DynLinear(in→H) → GELU → DynLinear(H→H) → GELU → Linear(H→D) = z0
 *   flow     u, log|det J| = 4 affine couplings of z0 (NLL term only)
 *   SDEs     z_T = EM_enc(z0, t = 1), z_D = EM_dec(z_T, t = 0.5), 10 Euler–Maruyama steps
 *   decoder  x̂ = Linear(H→in)(GELU(DynLinear(D→H)(z_D)))
 * where each DynLinear's weights and bias are generated from the task embedding e_t by its
 * own hypernetwork. */
#ifndef CLS_HSF_H
#define CLS_HSF_H

#include <stdint.h>

#include "optim.h"
#include "rng.h"

#define HSF_MAX_FLOW 16

/* A linear layer inside the arena: W (out, in) at params + w, b (out) at params + b. */
typedef struct {
    long w, b;
    int in, out;
} hsf_lin;

/* Element-wise tanh and logistic sigmoid (rational approximation, |error| < 1e-6 against
 * tanhf, vectorised): the SDE evaluates ~1.5 M of them per training step. out may alias in. */
void hsf_tanh(float *out, const float *in, long n);
void hsf_sigmoid(float *out, const float *in, long n);
/* GELU 0.5·x·(1 + erf(x/√2)) with a rational erf (|error| < 1e-7 against erff, vectorised;
 * out may alias in), and its backward dinp += dout·(Φ(x) + x·φ(x)) from the input x. */
void hsf_gelu(float *out, const float *in, long n);
void hsf_gelu_backward(float *dinp, const float *dout, const float *inp, long n);

/* ---- hypernetwork for one DynamicLinear (in → out) ----
 * W = w2·ReLU(w1·e + b1) + b2 reshaped (out, in); bias = v2·ReLU(v1·e + c1) + c2;
 * hidden h = (E + in·out)/4, h2 = h/2 (the authors' sizes). */
typedef struct {
    int E, in, out, h, h2;
    hsf_lin w1, w2;      /* weight generator E → h → in·out */
    hsf_lin v1, v2;      /* bias generator E → h2 → out */
} hsf_hyper;

/* W (out, in), bias (out): the generated layer; a1 (h), a2 (h2): the ReLU outputs, kept for
 * the backward. e (E). */
void hsf_hyper_forward(float *W, float *bias, float *a1, float *a2, const float *e,
                       const hsf_hyper *hn, const float *params);
/* de (E) += and grads += the gradients given dW (out, in) and dbias (out) of the generated
 * layer. scratch: h + h2 floats. */
void hsf_hyper_backward(float *de, float *grads, float *scratch, const float *dW,
                        const float *dbias, const float *e, const float *a1, const float *a2,
                        const hsf_hyper *hn, const float *params);

/* The rest of hsf_hyper_backward once scratch[0, h) holds da1, the gradient of a1 through
 * the weight generator's output layer, and scratch[h, h + h2) is zero: w2's bias, the ReLU,
 * w1 and e, and the whole bias generator (grads +=, de +=). */
void hsf_hyper_backward_rest(float *de, float *grads, float *scratch, const float *dW,
                             const float *dbias, const float *e, const float *a1, const float *a2,
                             const hsf_hyper *hn, const float *params);

/* ---- affine-coupling flow ----
 * Layer l splits its input z = [z1, z2] (halves of D/2), st = tanh(MLP(z1)) with MLP =
 * Linear(D/2→Hf) → ReLU → Linear(Hf→D/2), log s = scale ⊙ st, u2 = (z2 + st) ⊙ exp(log s),
 * output [u2, z1] (coupling then the swap of halves); log|det| = Σ log s.
 * With c_0 = z0[:, D/2:], c_1 = z0[:, :D/2], layer l maps (c_{l+1}, c_l) to c_{l+2}, and
 * u = [c_{L+1}, c_L]: no copies between layers. D must be even. */
typedef struct {
    int L, D, half, Hf;
    hsf_lin net1[HSF_MAX_FLOW], net2[HSF_MAX_FLOW];
    long scale[HSF_MAX_FLOW];   /* (half) */
} hsf_flow;

/* Activations of one flow pass, laid out for the actual batch B (capacity set by the owner). */
typedef struct {
    float *c;     /* (L+2, B, half) the halves */
    float *h;     /* (L, B, Hf) ReLU outputs */
    float *st;    /* (L, B, half) tanh outputs */
    float *s;     /* (L, B, half) exp(scale ⊙ st) */
    float *dc;    /* (L+2, B, half) backward */
    float *dh;    /* (B, Hf) backward scratch */
    float *dsp;   /* (B, half) backward scratch */
} hsf_flow_buf;

/* Number of floats hsf_flow_buf needs for capacity B. */
long hsf_flow_buf_size(const hsf_flow *f, int B);
/* Carves the buffers out of mem (hsf_flow_buf_size floats). */
void hsf_flow_buf_init(hsf_flow_buf *fb, const hsf_flow *f, float *mem, int B);
/* u (B, D), logdet (B) from z (B, D). */
void hsf_flow_forward(float *u, float *logdet, const float *z, const hsf_flow *f,
                      hsf_flow_buf *fb, const float *params, int B);
/* dz (B, D) += and grads += given du (B, D) and dlogdet (B) (either may be NULL = zero),
 * for the last forward. */
void hsf_flow_backward(float *dz, float *grads, const float *du, const float *dlogdet,
                       const hsf_flow *f, hsf_flow_buf *fb, const float *params, int B);
/* z (B, D) = flow⁻¹(u): exact inverse (uses fb as scratch). */
void hsf_flow_inverse(float *z, const float *u, const hsf_flow *f, hsf_flow_buf *fb,
                      const float *params, int B);

/* ---- neural SDE, Euler–Maruyama ----
 * drift f = Linear(D→H) → tanh → Linear(H→H) → tanh → Linear(H→D); diffusion g = the same
 * followed by a sigmoid. z_{k+1} = z_k + f(z_k)·dt + g(z_k) ⊙ dW_k, dt = t/steps. */
typedef struct {
    int D, H;
    hsf_lin f1, f2, f3, g1, g2, g3;
} hsf_sde;

/* The stored trajectory (what backprop through the solver steps needs), for actual batch B. */
typedef struct {
    int steps, cap;
    float *z;                    /* (steps+1, B, D) z_0 … z_steps */
    float *fh1, *fh2, *gh1, *gh2; /* (steps, B, H) tanh outputs */
    float *g;                    /* (steps, B, D) diffusion (sigmoid) */
    float *dW;                   /* (steps, B, D) Brownian increments, filled by hsf_sde_noise */
    float *dfp1, *dfp2, *dgp1, *dgp2; /* (steps, B, H) backward: pre-activation gradients */
    float *dfp3, *dgp3;          /* (steps, B, D) */
    float *dz;                   /* (B, D) backward: running adjoint */
    float *ftmp;                 /* (B, D) forward scratch: drift */
} hsf_sde_buf;

long hsf_sde_buf_size(const hsf_sde *s, int steps, int B);
void hsf_sde_buf_init(hsf_sde_buf *sb, const hsf_sde *s, int steps, float *mem, int B);
/* Fills dW with scale·√dt·N(0,1) for B rows from r (scale 0 = no noise, an ODE). */
void hsf_sde_noise(hsf_sde_buf *sb, const hsf_sde *s, rng_t *r, float t, float scale, int B);
/* Integrates from z0 (B, D) over [0, t]; returns z_steps (inside sb, valid until the next
 * forward on sb). */
const float *hsf_sde_forward(const float *z0, const hsf_sde *s, hsf_sde_buf *sb,
                             const float *params, float t, int B);
/* Backprop through every step of the last forward: grads +=, dz0 (B, D) += (dz0 may be NULL). */
void hsf_sde_backward(float *dz0, float *grads, const float *dzT, const hsf_sde *s,
                      hsf_sde_buf *sb, const float *params, float t, int B);

/* ---- embedding-separation loss: Σ_{t' < t} exp(−‖e_t − e_t'‖), emb (ntasks, E) ---- */
double hsf_sep_forward(const float *emb, int t, int E);
/* demb (ntasks, E) += scale · ∂/∂emb (both e_t and the earlier embeddings move). */
void hsf_sep_backward(float *demb, const float *emb, int t, int E, float scale);

/* ---- the whole network ---- */
typedef struct {
    int in_dim, hidden, latent, emb_dim, ntasks;
    int flow_layers, flow_hidden, sde_hidden, sde_steps;
    float enc_t, dec_t;
} hsf_dims;

typedef struct {
    hsf_dims d;
    long emb;                      /* (ntasks, E) task embeddings */
    hsf_hyper enc1, enc2, dec1;    /* DynLinear in→H, H→H, D→H */
    hsf_lin to_latent, dec2;       /* H→D, H→in */
    hsf_flow flow;
    hsf_sde sde_enc, sde_dec;
    long nparams;
} hsf_layout;

/* Generated-layer slot: the hypernetwork's output for one task and its gradient. */
typedef struct {
    float *W, *bias, *a1, *a2;     /* (out·in), (out), (h), (h2) */
    float *dW, *dbias, *scratch;   /* (out·in), (out), (h + h2) */
    int task;                      /* the embedding it was generated from */
    int pending;                   /* fused mode: dW/dbias await hsf_net_step */
} hsf_gen;

typedef struct {
    float recon, nll, replay, sep, total;
} hsf_losses;

typedef struct {
    hsf_layout L;
    int cap, rcap;                 /* batch capacity; replay batch capacity */
    float *params, *grads;         /* (nparams) each, one allocation */
    float *mem;                    /* every activation buffer, one allocation */
    hsf_gen g_enc1, g_enc2;
    hsf_gen *g_dec1;               /* (ntasks): replay decodes several tasks in one batch */
    float *e1p, *e1, *e2p, *e2;    /* (cap, H) encoder pre/post GELU */
    float *z0;                     /* (cap, D) */
    float *u, *logdet;             /* (cap, D), (cap) */
    float *d1p, *d1, *xr;          /* (cap, H), (cap, H), (cap, in) decoder */
    float *dxr, *dd1, *de1, *de2;  /* (cap, in), (cap, H) ×3 backward */
    float *dz0, *dzT, *dzD, *du, *dld; /* (cap, D) ×4, (cap) */
    hsf_flow_buf fb;
    hsf_sde_buf sb_enc, sb_dec, sb_rep; /* sb_rep: the replay's decoder SDE (own noise) */
    const float *zT, *zD;          /* last forward's SDE outputs (inside sb_*) */
    int fused;                     /* hsf_net_fuse_optim: backward defers the hypernetworks */
} hsf_net;

/* Computes the layout for d. Returns 0, or -1 with cls_seterr (bad sizes). */
int hsf_layout_init(hsf_layout *L, const hsf_dims *d);
/* Allocates n for batches up to cap and replay batches up to rcap and initialises the
 * parameters from seed (PyTorch nn.Linear init; embeddings 0.02·N(0,1); coupling scales
 * 0.01·N(0,1)). Returns 0, or -1 with cls_seterr. Release with hsf_net_free. */
int hsf_net_init(hsf_net *n, const hsf_dims *d, int cap, int rcap, uint64_t seed);
void hsf_net_free(hsf_net *n);

/* Reconstruction x̂ (B, in) of x (B, in) as task t, with the noise already in sb_enc/sb_dec
 * (hsf_sde_noise). Returns n->xr. B ≤ cap. with_flow also computes u and logdet. */
const float *hsf_net_forward(hsf_net *n, const float *x, int B, int t, int with_flow);
/* Encoder + encoder SDE only: z_T (B, D) (the replay memory's latent). */
const float *hsf_net_encode(hsf_net *n, const float *x, int B, int t);
/* The training loss of task t on x (B, in): recon (MSE, mean over elements) + beta·NLL +
 * sep_w·separation, with the noise already in sb_enc/sb_dec. With backward != 0, grads +=
 * its gradient. Fills parts (replay 0). */
double hsf_net_task_loss(hsf_net *n, const float *x, int B, int t, float beta, float sep_w,
                         int backward, hsf_losses *parts);
/* Replay loss: MSE (mean over elements) of decoding the stored latents z (R, D) as their
 * tasks tid (R, non-decreasing) against x (R, in), through the decoder SDE with the noise in
 * sb_rep; weight·that into grads when backward. R ≤ rcap. Returns the unweighted loss. */
double hsf_net_replay_loss(hsf_net *n, const float *x, const float *z, const int *tid, int R,
                           float weight, int backward);

/* Fused optimiser mode (Adam/AdamW with one group over the whole arena; otherwise returns
 * 0 and changes nothing). The generated layers' weight gradients are rank-1 per task, and
 * the weight generators' output layers (w2, 85 % of the parameters) are updated from them
 * by optim_step_outer without a gradient array. In this mode a backward
 * (hsf_net_task_loss, then optionally hsf_net_replay_loss) leaves the hypernetworks'
 * part pending, and hsf_net_step finishes it and updates every parameter; grads then come
 * back zeroed, so the caller does not clear them. Sets o's groups to the other ranges.
 * Returns 1 when enabled. */
int hsf_net_fuse_optim(hsf_net *n, optim_t *o);
/* One optimiser step from the last backward: in fused mode as above (grads left zero);
 * otherwise optim_step(o, params, grads) (grads left as they are). */
void hsf_net_step(hsf_net *n, optim_t *o);

#endif
