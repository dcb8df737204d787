/* mlp.h — a multi-layer perceptron on one parameter arena: the network of the finetune and
 * ewc baselines (docs/spec.md §4.1) and a building block for other models.
 *
 * Layer l maps sizes[l] → sizes[l+1]: z = a·Wᵀ + b, a' = act[l](z). */
#ifndef CLS_MLP_H
#define CLS_MLP_H

#include "nn.h"
#include "rng.h"

#define MLP_MAX_LAYERS 16

typedef struct {
    int nlayers;
    int sizes[MLP_MAX_LAYERS + 1];
    act_kind act[MLP_MAX_LAYERS];      /* activation after layer l (ACT_IDENTITY for none) */
    long off_w[MLP_MAX_LAYERS];        /* W_l (sizes[l+1], sizes[l]) at params + off_w[l] */
    long off_b[MLP_MAX_LAYERS];        /* b_l (sizes[l+1]) */
    long nparams;
    float *params;                     /* (nparams) — owned unless external */
    float *grads;                      /* (nparams) */
    int own_arena;
    /* activations for the last forward, for batches up to cap_batch */
    int cap_batch;
    float *z[MLP_MAX_LAYERS];          /* (B, sizes[l+1]) pre-activation */
    float *a[MLP_MAX_LAYERS];          /* (B, sizes[l+1]) post-activation */
    float *dbuf[3];                    /* (B, max size) backward scratch, rotated */
    const float *input;                /* the last forward's input (B, sizes[0]), not owned */
} mlp_t;

/* Sets up the layout for nlayers layers with the given sizes (nlayers+1 entries) and
 * activations. If arena is NULL the MLP allocates params and grads itself; otherwise it
 * uses arena_params/arena_grads + offset (for models that embed an MLP in a bigger arena).
 * Parameters are initialised as PyTorch's nn.Linear: U(−1/√in, 1/√in). */
void mlp_init(mlp_t *m, int nlayers, const int *sizes, const act_kind *acts,
              float *arena_params, float *arena_grads, rng_t *r);
/* Number of parameters of that layout (to size an external arena). */
long mlp_param_count(int nlayers, const int *sizes);
void mlp_free(mlp_t *m);
/* Forward of B rows of x; returns the output (B, sizes[nlayers]) (owned by m, valid until
 * the next forward). x must stay valid until mlp_backward. */
const float *mlp_forward(mlp_t *m, const float *x, int B);
/* Backward of the last forward: accumulates into m->grads; if dx is non-NULL it
 * accumulates the input gradient (B, sizes[0]). dout (B, sizes[nlayers]). */
void mlp_backward(mlp_t *m, const float *dout, float *dx, int B);
/* Fused backward + plain SGD step of the last forward, which must have had B = 1: per layer
 * from the top, the input gradient through the old weights (as mlp_backward), then
 * W −= lr·(δ ⊗ x + wd·W) and b −= lr·(δ + wd·b) in one pass over W, without touching
 * m->grads (left stale). The parameters come out bit-identical to zeroing m->grads,
 * mlp_backward(m, dout, NULL, 1) and optim_step with SGD, momentum 0, weight decay wd and
 * one group at rate lr over the whole arena (the caller counts the optimiser's step).
 * Vector width: cpu_level() (cpu.h); every level gives the same bits. */
void mlp_sgd_step1(mlp_t *m, const float *dout, float lr, float wd);
/* Whether models take mlp_sgd_step1 where it applies (1, the default) or the plain
 * zero–backward–optim_step path (0); < 0 only queries. Returns the previous setting. Both
 * give the same bits; for tests and benchmarks. */
int mlp_fused(int on);

#endif
