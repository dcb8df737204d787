/* optim.h — optimisers over one contiguous parameter arena.
 *
 * A model keeps all trainable parameters in one float array (and gradients in a second
 * array of the same layout). Parameter groups are index ranges with their own learning
 * rate; optimiser state (Adam moments) lives in one allocation of the same layout. */
#ifndef CLS_OPTIM_H
#define CLS_OPTIM_H

typedef enum { OPTIM_SGD = 0, OPTIM_ADAM, OPTIM_ADAMW } optim_kind;

#define OPTIM_MAX_GROUPS 8

typedef struct {
    long offset, count;   /* range [offset, offset+count) of the arena */
    float lr;
} optim_group;

typedef struct {
    optim_kind kind;
    long n;                          /* arena size */
    float beta1, beta2, eps;         /* Adam(W) */
    float weight_decay;              /* AdamW: decoupled; SGD/Adam: L2 added to the grad */
    float momentum;                  /* SGD */
    long t;                          /* steps taken */
    int ngroups;
    optim_group groups[OPTIM_MAX_GROUPS];
    float *m, *v;                    /* (n) each; NULL for plain SGD without momentum */
} optim_t;

/* Parses "sgd", "adam", "adamw"; -1 otherwise. */
int optim_parse(const char *name);
/* Initialises o for an arena of n parameters with one group [0, n) at learning rate lr.
 * Defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0 (AdamW: 0.01, as PyTorch),
 * momentum 0. Allocates state; release with optim_free. */
void optim_init(optim_t *o, optim_kind kind, long n, float lr);
/* Replaces the groups by the ranges given (must tile any subset of the arena; parameters
 * outside every group are not updated). */
void optim_set_groups(optim_t *o, const optim_group *groups, int ngroups);
/* One update: params -= step(grads). Parameters outside all groups are untouched. */
void optim_step(optim_t *o, float *params, const float *grads);
/* Most outer products optim_step_outer takes. */
#define OPTIM_MAX_OUTER 16
/* One Adam(W) update of the block params[offset, offset + rows·cols), viewed (rows, cols),
 * whose gradient is Σ_k u_k ⊗ v_k (u_k: rows, v_k: cols; K ≤ OPTIM_MAX_OUTER) — the weight
 * gradient of a linear layer applied to K single inputs — without a gradient array: one
 * pass over the block instead of zeroing, an outer-product accumulation and the update.
 * With back != NULL, back_k (cols) += W_oldᵀ·u_k (the layer's input gradient, from the
 * block before the update; summed row by row). It is step number o->t + 1, at learning
 * rate lr: call it before the optim_step of the same step, with the block outside o's
 * groups. For K = 1 the block is updated bit-identically to optim_step on a gradient
 * holding u ⊗ v. Adam/AdamW only; a bad call (SGD, K or the block out of range) aborts.
 * Vector width: cpu_level() (cpu.h); every level gives the same bits. */
void optim_step_outer(optim_t *o, float *params, long offset, int rows, int cols, float lr, int K,
                      const float *const *u, const float *const *v, float *const *back);
/* Resets moments and step count (e.g. a fresh optimiser per task). */
void optim_reset(optim_t *o);
void optim_free(optim_t *o);

#endif
