/* ewc.h — Elastic Weight Consolidation state (Kirkpatrick et al. 2017), shared by every
 * model that consolidates a parameter arena: the diagonal empirical Fisher accumulated over
 * tasks (online variant: decayed by gamma), the anchor θ*, and the quadratic penalty
 * λ/2 Σ_i F_i (θ_i − θ*_i)². */
#ifndef CLS_EWC_H
#define CLS_EWC_H

typedef struct {
    long n;              /* parameters covered: the first n of the arena */
    float lambda, gamma;
    float *fisher;       /* (n) accumulated diagonal Fisher */
    float *anchor;       /* (n) θ* after the last consolidation */
    float *acc;          /* (n) squared-gradient sum of the consolidation in progress */
    long nsamples;
    int consolidated;    /* 0 until the first ewc_end */
} ewc_t;

void ewc_init(ewc_t *e, long n, float lambda, float gamma);
void ewc_free(ewc_t *e);
/* Starts a consolidation: F ← γ·F, clears the per-sample accumulator. */
void ewc_begin(ewc_t *e);
/* Adds one example's gradient of −log p(y|x) (n values): acc += g². */
void ewc_add_sample(ewc_t *e, const float *grad);
/* Ends a consolidation: F += acc / nsamples; θ* ← params. */
void ewc_end(ewc_t *e, const float *params);
/* grads += λ·F⊙(θ − θ*) (no-op before the first consolidation or when λ = 0). */
void ewc_penalty_grad(const ewc_t *e, const float *params, float *grads);
/* λ/2 Σ F (θ − θ*)². */
double ewc_penalty(const ewc_t *e, const float *params);
/* The proximal step of the penalty with step size lr, after an optimiser step on the data
 * loss alone: θ ← θ* + (θ − θ*)/(1 + lr·λ·F) (the exact minimiser of the penalty's quadratic
 * model plus the distance to θ). A contraction towards θ* for every λ, lr and F ≥ 0, so it
 * cannot blow up, unlike the explicit step θ −= lr·λ·F(θ − θ*), which diverges once
 * lr·λ·F > 2. No-op before the first consolidation or when λ = 0. */
void ewc_proximal(const ewc_t *e, float *params, float lr);
/* lr·λ·max F: the largest per-parameter factor of the explicit penalty step (it diverges
 * above 2). 0 before the first consolidation. */
double ewc_step_bound(const ewc_t *e, float lr);

#endif
