/* search.c — the distributions of random search (search: {method: random}) and their draws.
 * Called only by src/sweep/sweep.c, which parses the YAML, locates errors and applies zip and
 * exclude; this file checks a distribution's numbers and turns Philox draws into value text.
 * A draw is a pure function of (search.seed, model, sample index, redraw count). */
#include "search.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const names[DIST_COUNT] = {"uniform", "loguniform", "randint", "quniform",
                                             "qloguniform"};
const char *const search_dist_names = "uniform, loguniform, randint, quniform, qloguniform";

int search_dist_kind(const char *name) {
    for (int k = 0; k < DIST_COUNT; k++)
        if (!strcmp(name, names[k])) return k;
    return -1;
}

const char *search_dist_name(dist_kind k) { return names[k]; }

const char *search_dist_form(dist_kind k) {
    return k == DIST_QUNIFORM || k == DIST_QLOGUNIFORM ? "[a, b, q]" : "[a, b]";
}

int search_dist_nargs(dist_kind k) { return k == DIST_QUNIFORM || k == DIST_QLOGUNIFORM ? 3 : 2; }

#define BIG 9007199254740992.0   /* 2^53: integers beyond are not exact in a double */

int search_dist_make(search_dist *d, dist_kind k, const double *x, int is_int, char *why,
                     size_t cap, int *bad) {
    memset(d, 0, sizeof *d);
    d->kind = k;
    d->a = x[0];
    d->b = x[1];
    d->q = search_dist_nargs(k) == 3 ? x[2] : 0;
    *bad = -1;
    const char *n = names[k];
    if (is_int && (k == DIST_UNIFORM || k == DIST_LOGUNIFORM)) {
        snprintf(why, cap, "%s draws fractions but the key holds integers: use randint [a, b] "
                 "or q%s [a, b, q] with an integer q", n, n);
        return -1;
    }
    for (int i = 0; i < search_dist_nargs(k); i++) {
        int need = k == DIST_RANDINT || (is_int && i == 2);
        if (need && (x[i] != floor(x[i]) || fabs(x[i]) > BIG)) {
            *bad = i;
            snprintf(why, cap, "%s needs %s, got %.15g", n,
                     k == DIST_RANDINT ? "integer bounds" : "an integer step q for an integer key",
                     x[i]);
            return -1;
        }
    }
    if (k == DIST_RANDINT ? d->a > d->b : d->a >= d->b) {
        snprintf(why, cap, "%s %s needs a %s b, got [%.15g, %.15g]", n, search_dist_form(k),
                 k == DIST_RANDINT ? "<=" : "<", d->a, d->b);
        return -1;
    }
    if ((k == DIST_LOGUNIFORM || k == DIST_QLOGUNIFORM) && d->a <= 0) {
        *bad = 0;
        snprintf(why, cap, "%s needs 0 < a (it is uniform in log a .. log b), got a = %.15g", n,
                 d->a);
        return -1;
    }
    if (d->q != 0 || search_dist_nargs(k) == 3) {
        if (!(d->q > 0)) {
            *bad = 2;
            snprintf(why, cap, "%s: the step q must be > 0, got %.15g", n, d->q);
            return -1;
        }
        /* The tolerance keeps a bound that is itself a multiple (0.3 = 3 × 0.1) inside. */
        d->lo_m = ceil(d->a / d->q - 1e-9) * d->q;
        d->hi_m = floor(d->b / d->q + 1e-9) * d->q;
        if (d->lo_m > d->hi_m + 1e-12 * fabs(d->hi_m)) {
            snprintf(why, cap, "%s [%.15g, %.15g, %.15g]: no multiple of q lies in [a, b]", n,
                     d->a, d->b, d->q);
            return -1;
        }
    }
    return 0;
}

double search_u53(rng_t *r) {
    uint64_t hi = rng_u32(r) >> 5, lo = rng_u32(r) >> 6;   /* 27 + 26 bits */
    return (double)(hi * 67108864.0 + (double)lo) / 9007199254740992.0;
}

void search_dist_draw(const search_dist *d, rng_t *r, char *out, size_t cap) {
    double u = search_u53(r), v;
    switch (d->kind) {
    case DIST_RANDINT: {
        double n = d->b - d->a + 1;
        v = d->a + floor(u * n);
        if (v > d->b) v = d->b;   /* u·n rounding up to n */
        snprintf(out, cap, "%.0f", v);
        return;
    }
    case DIST_LOGUNIFORM:
    case DIST_QLOGUNIFORM:
        v = exp(log(d->a) + u * (log(d->b) - log(d->a)));
        break;
    default:
        v = d->a + u * (d->b - d->a);
        break;
    }
    if (d->kind == DIST_QUNIFORM || d->kind == DIST_QLOGUNIFORM) {
        double m = round(v / d->q);
        v = m * d->q;
        if (v < d->lo_m) v = d->lo_m;
        if (v > d->hi_m) v = d->hi_m;
    } else if (v >= d->b) {
        v = d->a;   /* [a, b): exp/log rounding never reaches b */
    }
    snprintf(out, cap, "%.15g", v);
    /* %.15g absorbs m·q rounding (3 × 0.1 → 0.3); an integral value prints without ".0". */
}

uint64_t search_stream(const char *model, long sample) {
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)model; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (h << 20) ^ (uint64_t)sample;
}
