/* search.h — random search over a sweep's grid (issue 21): the distributions a grid key may
 * carry under search: {method: random} and their deterministic draws. Called only by the sweep
 * layer (src/sweep/sweep.c parses the YAML and locates errors; this module checks the numbers
 * and draws). */
#ifndef CLS_SEARCH_H
#define CLS_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef enum {
    DIST_UNIFORM = 0,   /* [a, b]: a + (b − a)·U */
    DIST_LOGUNIFORM,    /* [a, b], 0 < a < b: exp(U over [ln a, ln b]) */
    DIST_RANDINT,       /* [a, b] integers, both inclusive, uniform */
    DIST_QUNIFORM,      /* [a, b, q]: uniform, rounded to the nearest multiple of q in [a, b] */
    DIST_QLOGUNIFORM,   /* [a, b, q]: loguniform, rounded likewise */
    DIST_COUNT
} dist_kind;

typedef struct {
    dist_kind kind;
    double a, b, q;
    double lo_m, hi_m;  /* q-distributions: the first and last multiple of q in [a, b] */
} search_dist;

/* The kind named name ("uniform", ...), or -1. search_dist_names lists them for messages. */
int search_dist_kind(const char *name);
const char *search_dist_name(dist_kind k);
extern const char *const search_dist_names;   /* "uniform, loguniform, ..." */
/* The argument form of kind k, e.g. "[a, b]" or "[a, b, q]"; its argument count. */
const char *search_dist_form(dist_kind k);
int search_dist_nargs(dist_kind k);

/* Fills d from kind k and its arguments x[n] (n = search_dist_nargs(k)) for a key that holds
 * integers when is_int. 0, or -1 with why[cap] saying what is wrong and *bad the index of the
 * offending argument (−1: the list as a whole). */
int search_dist_make(search_dist *d, dist_kind k, const double *x, int is_int, char *why,
                     size_t cap, int *bad);

/* A uniform double in [0, 1) with 53 random bits. */
double search_u53(rng_t *r);
/* One draw of d, as value text into out[cap] ("%.15g", integers exact). */
void search_dist_draw(const search_dist *d, rng_t *r, char *out, size_t cap);
/* The Philox stream of sample i of model: a hash of the model's name, then i, so that a
 * model's draws do not depend on which other models the sweep lists. */
uint64_t search_stream(const char *model, long sample);

#endif
