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
 * itself. Kinks (ReLU at 0, a max-pool tie, a hinge) make the central difference meaningless.
 * Each coordinate is also evaluated at half the step, and a kink shows as a disagreement that
 * a smooth function does not have:
 *
 *     k1 = |fd(e) − fd(e/2)|                        (O(L‴·e²) where L is smooth)
 *     k2 = |D(e) − 2·D(e/2)|,  D(h) = (L(x+h) − L(x))/h − (L(x) − L(x−h))/h
 *                                                   (the curvature term L″·h cancels)
 *
 * k1 catches a kink between e/2 and e from x (and most nearer ones), k2 one at or very near
 * x, where k1 vanishes. A coordinate with max(k1, k2) > kink_tol (relative to the same global
 * scale) is skipped, and the test fails when more than max_kink_frac of the checked
 * coordinates were skipped — so a broken gradient cannot hide as "kinks". Curvature alone
 * (tanh, a quadratic loss) does not count as a kink. Rounding would: in a float32 forward
 * whose terms cancel, the terms' rounding divided by e/2 can exceed kink_tol of a small
 * gradient. So the threshold is raised by 4× the median of max(k1, k2) over the checked
 * coordinates — the noise level, since at most max_kink_frac of them may be kinks (with
 * kinks everywhere the median rises, they are checked, and they fail). Cost: four
 * evaluations of L per checked coordinate.
 *
 * Usage:
 *     static double my_loss(void *ctx) { ... return loss; }
 *     gc_opts o = GC_DEFAULTS;   o.tol = 2e-2;   (optional tweaks)
 *     gradcheck("dense dW", my_loss, &ctx, w, n, grad_w, o);
 * It CHECKs (test.h) and returns the result for tests that want to print or compare it.
 * The callback must be deterministic and leave no state that depends on the perturbation
 * (gradcheck restores x[i] and calls it once more at the end with x unperturbed).
 * GRADCHECK_VERBOSE=1 in the environment prints every coordinate's numbers. */
#ifndef CLS_GRADCHECK_H
#define CLS_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

typedef double (*gc_loss_fn)(void *ctx);

typedef struct {
    double eps;           /* perturbation size (before rounding to float) */
    double tol;           /* largest accepted err (definition above) */
    long max_checks;      /* check at most this many coordinates, evenly strided; 0 = all */
    double kink_tol;      /* max(k1, k2) above this (relative to the global scale) → kink.
                             An unskipped kink can move fd by up to ~2.5·max(k1, k2) (a kink
                             near e·0.29 from x): keep kink_tol ≤ tol/3 */
    double max_kink_frac; /* at most this fraction of checked coordinates may be kinks */
    double floor;         /* denominator floor, for an all-zero gradient */
} gc_opts;

#define GC_DEFAULTS {1e-3, 1e-2, 0, 3e-3, 0.05, 1e-6}

typedef struct {
    double err;     /* the error defined above */
    long checked;   /* coordinates evaluated */
    long kinks;     /* coordinates skipped as kinks */
    long worst;     /* index of the worst coordinate (-1 if none) */
    double scale;   /* max(‖g‖_∞, ‖fd‖_∞, floor) */
} gc_result;

static int gc_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double gc_median(const double *v, long m) {
    double *t = (double *)malloc((size_t)m * sizeof(double));
    if (!t) return 0.0;
    memcpy(t, v, (size_t)m * sizeof(double));
    qsort(t, (size_t)m, sizeof(double), gc_cmp_double);
    double med = t[m / 2];
    free(t);
    return med;
}

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
    int verbose = getenv("GRADCHECK_VERBOSE") != NULL;
    double gmax = 0.0, fmax_ = 0.0;
    static const double frac[4] = {1.0, -1.0, 0.5, -0.5};
    for (long k = 0; k < m; k++) {
        long i = k * stride;
        float x0 = x[i];
        double l[4], h[4];   /* at x0 + e, x0 − e, x0 + e/2, x0 − e/2 (steps as represented) */
        for (int j = 0; j < 4; j++) {
            x[i] = (float)(x0 + frac[j] * o.eps);
            h[j] = fabs((double)x[i] - (double)x0);
            l[j] = loss(ctx);
        }
        x[i] = x0;
        fd[k] = (l[0] - l[1]) / (h[0] + h[1]);
        double fd2 = (l[2] - l[3]) / (h[2] + h[3]);
        double k1 = fabs(fd[k] - fd2), k2 = 0.0;
        if (h[0] > 0 && h[1] > 0 && h[2] > 0 && h[3] > 0) {
            double D1 = (l[0] - l0) / h[0] - (l0 - l[1]) / h[1];
            double D2 = (l[2] - l0) / h[2] - (l0 - l[3]) / h[3];
            k2 = fabs(D1 - 2.0 * D2);
        }
        asym[k] = fmax(k1, k2);
        if (verbose)
            printf("#     [%ld] analytic %.6g fd %.6g fd(e/2) %.6g k1 %.3g k2 %.3g\n", i, (double)g[i],
                   fd[k], fd2, k1, k2);
        if (fabs(fd[k]) > fmax_) fmax_ = fabs(fd[k]);
        if (fabs((double)g[i]) > gmax) gmax = fabs((double)g[i]);
    }
    loss(ctx);   /* leave any cached forward state consistent with the unperturbed x */
    r.scale = fmax(fmax(gmax, fmax_), o.floor);
    double kink_at = o.kink_tol * r.scale + 4.0 * gc_median(asym, m);
    for (long k = 0; k < m; k++) {
        long i = k * stride;
        r.checked++;
        if (asym[k] > kink_at) {
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
