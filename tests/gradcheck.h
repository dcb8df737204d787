/* gradcheck.h — the one finite-difference gradient checker every gradient test uses.
 *
 * A test computes an analytic gradient g[n] of a scalar loss L with respect to a float array
 * x[n], then calls gradcheck() with a callback that recomputes L from the current x. Each
 * checked coordinate gets a central difference fd_i = (L(x+e·u_i) − L(x−e·u_i)) / (2e), with
 * e the actually representable step in float.
 *
 * One error definition for the whole suite, relative to the global norm:
 *
 *     err = max_i |g_i − fd_i|  /  max(‖g‖_∞, ‖fd‖_∞, floor)
 *
 * (‖·‖_∞ over the checked coordinates), so a tiny gradient entry is never judged against
 * itself. Kinks (ReLU at 0, a max-pool tie, a hinge) make the central difference meaningless:
 * a coordinate whose two one-sided differences disagree by more than kink_tol (relative to
 * the same global scale) is skipped, and the test fails when more than max_kink_frac of the
 * checked coordinates were skipped — so a broken gradient cannot hide as "kinks".
 *
 * Usage:
 *     static double my_loss(void *ctx) { ... return loss; }
 *     gc_opts o = GC_DEFAULTS;   o.tol = 2e-2;   (optional tweaks)
 *     gradcheck("dense dW", my_loss, &ctx, w, n, grad_w, o);
 * It CHECKs (test.h) and returns the result for tests that want to print or compare it.
 * The callback must be deterministic and leave no state that depends on the perturbation
 * (gradcheck restores x[i] and calls it once more at the end with x unperturbed). */
#ifndef CLS_GRADCHECK_H
#define CLS_GRADCHECK_H

#include <math.h>
#include <stdio.h>

#include "test.h"

typedef double (*gc_loss_fn)(void *ctx);

typedef struct {
    double eps;           /* perturbation size (before rounding to float) */
    double tol;           /* largest accepted err (definition above) */
    long max_checks;      /* check at most this many coordinates, evenly strided; 0 = all */
    double kink_tol;      /* one-sided slopes disagreeing by more than this (relative to the
                             global scale) → kink; at most tol/2, so an unskipped kink alone
                             cannot fail the check */
    double max_kink_frac; /* at most this fraction of checked coordinates may be kinks */
    double floor;         /* denominator floor, for an all-zero gradient */
} gc_opts;

#define GC_DEFAULTS {1e-3, 1e-2, 0, 5e-3, 0.05, 1e-6}

typedef struct {
    double err;     /* the error defined above */
    long checked;   /* coordinates evaluated */
    long kinks;     /* coordinates skipped as kinks */
    long worst;     /* index of the worst coordinate (-1 if none) */
    double scale;   /* max(‖g‖_∞, ‖fd‖_∞, floor) */
} gc_result;

static gc_result gradcheck(const char *what, gc_loss_fn loss, void *ctx, float *x, long n,
                           const float *g, gc_opts o) {
    gc_result r = {0.0, 0, 0, -1, o.floor};
    if (n <= 0) return r;
    long stride = (o.max_checks > 0 && n > o.max_checks) ? (n + o.max_checks - 1) / o.max_checks : 1;
    long m = (n + stride - 1) / stride;
    double *fd = (double *)malloc((size_t)m * sizeof(double));
    double *asym = (double *)malloc((size_t)m * sizeof(double));
    if (!fd || !asym) {
        free(fd);
        free(asym);
        CHECK(0, "%s: out of memory", what);
        return r;
    }
    double l0 = loss(ctx);
    double gmax = 0.0, fmax_ = 0.0;
    for (long k = 0; k < m; k++) {
        long i = k * stride;
        float x0 = x[i];
        x[i] = (float)(x0 + o.eps);
        double xp = x[i];
        double lp = loss(ctx);
        x[i] = (float)(x0 - o.eps);
        double xm = x[i];
        double lm = loss(ctx);
        x[i] = x0;
        double hp = xp - (double)x0, hm = (double)x0 - xm;
        fd[k] = (lp - lm) / (xp - xm);
        /* one-sided slopes; their disagreement marks a kink */
        asym[k] = (hp > 0 && hm > 0) ? fabs((lp - l0) / hp - (l0 - lm) / hm) : 0.0;
        if (fabs(fd[k]) > fmax_) fmax_ = fabs(fd[k]);
        if (fabs((double)g[i]) > gmax) gmax = fabs((double)g[i]);
    }
    loss(ctx);   /* leave any cached forward state consistent with the unperturbed x */
    r.scale = fmax(fmax(gmax, fmax_), o.floor);
    for (long k = 0; k < m; k++) {
        long i = k * stride;
        r.checked++;
        if (asym[k] / r.scale > o.kink_tol) {
            r.kinks++;
            continue;
        }
        double e = fabs((double)g[i] - fd[k]) / r.scale;
        if (e > r.err || r.worst < 0) {
            if (e >= r.err) r.worst = i;
            r.err = fmax(r.err, e);
        }
    }
    free(fd);
    free(asym);
    printf("#   %-34s n=%-6ld checked %-6ld kinks %-4ld err %.2e (scale %.2e)\n", what, n,
           r.checked, r.kinks, r.err, r.scale);
    CHECK(r.err <= o.tol, "%s: gradient error %.3g > %g at index %ld", what, r.err, o.tol,
          r.worst);
    CHECK(r.kinks <= (long)(o.max_kink_frac * (double)r.checked),
          "%s: %ld of %ld checked coordinates skipped as kinks (at most %.0f%% allowed)", what,
          r.kinks, r.checked, 100.0 * o.max_kink_frac);
    return r;
}

#endif
