/* exclude.c — the index over `exclude:` entries (include/exclude.h); used by the sweep
 * parser only.
 *
 * Each entry is stored as constraints "position of group g is one of P" (the pairs of one
 * group intersected). The entry is filed under one of its constraints, in a bucket per
 * (group, position) of that constraint's positions; the constraint chosen is the one whose
 * buckets hold the fewest entries so far, which spreads entries of two-key grids evenly. A
 * point then checks only the entries in its ngroups buckets. Resolving a pair's value to
 * positions uses per-axis sorted tables (numbers by value, every value by text), so adding
 * n entries costs O(n log nvals). */
#include "exclude.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define WINDOW 1e-7   /* relative window searched for numbers; `same` decides inside it */

typedef struct {
    double v;
    int pos;
} num_ent;

typedef struct {
    int group, nvals;
    char *const *vals;
    int built;
    num_ent *num;     /* numeric values, sorted by value */
    int nnum;
    int *by_text;     /* positions sorted by strcmp of their text */
} axis_ix;

typedef struct {
    int group, npos;
    int *pos;         /* sorted */
} constraint;

typedef struct {
    int ncons;
    constraint *cons;
} entry;

struct exclude_index {
    int ngroups, naxes;
    const int *group_n;
    int *off;         /* (ngroups) first bucket of group g */
    axis_ix *ax;
    exclude_same_fn same;
    exclude_num_fn num;
    entry *ent;
    int nent, cap;
    int **bucket;     /* (sum group_n) entry lists */
    int *bn, *bcap;
};

static int cmp_num(const void *a, const void *b) {
    double x = ((const num_ent *)a)->v, y = ((const num_ent *)b)->v;
    return (x > y) - (x < y);
}

static char *const *sort_vals;   /* qsort has no context argument; single-threaded use */
static int cmp_text(const void *a, const void *b) {
    return strcmp(sort_vals[*(const int *)a], sort_vals[*(const int *)b]);
}

static void build_axis(exclude_index *x, axis_ix *a) {
    if (a->built) return;
    a->built = 1;
    a->num = xmalloc(sizeof *a->num * (size_t)(a->nvals ? a->nvals : 1));
    a->by_text = xmalloc(sizeof *a->by_text * (size_t)(a->nvals ? a->nvals : 1));
    for (int i = 0; i < a->nvals; i++) {
        double v;
        if (!x->num(a->vals[i], &v)) a->num[a->nnum++] = (num_ent){v, i};
        a->by_text[i] = i;
    }
    qsort(a->num, (size_t)a->nnum, sizeof *a->num, cmp_num);
    sort_vals = a->vals;
    qsort(a->by_text, (size_t)a->nvals, sizeof *a->by_text, cmp_text);
    sort_vals = NULL;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The positions of axis a whose value is the same as val, sorted (new array; *n its length). */
static int *lookup(exclude_index *x, int a, const char *val, int *n) {
    axis_ix *A = &x->ax[a];
    build_axis(x, A);
    int *out = NULL, cnt = 0, cap = 0;
    double y;
    if (!x->num(val, &y)) {  /* a number is the same only as numbers near it */
        double w = fabs(y) * WINDOW, lo = y - w;
        int l = 0, h = A->nnum;   /* first entry with v >= lo */
        while (l < h) {
            int m = l + (h - l) / 2;
            if (A->num[m].v < lo) l = m + 1;
            else h = m;
        }
        for (int i = l; i < A->nnum && A->num[i].v <= y + w; i++)
            if (x->same(A->vals[A->num[i].pos], val)) {
                if (cnt == cap) out = xrealloc(out, sizeof *out * (size_t)(cap = 2 * cap + 4));
                out[cnt++] = A->num[i].pos;
            }
    } else {                 /* text: the values of equal text */
        int l = 0, h = A->nvals;
        while (l < h) {
            int m = l + (h - l) / 2;
            if (strcmp(A->vals[A->by_text[m]], val) < 0) l = m + 1;
            else h = m;
        }
        for (int i = l; i < A->nvals && !strcmp(A->vals[A->by_text[i]], val); i++)
            if (x->same(A->vals[A->by_text[i]], val)) {
                if (cnt == cap) out = xrealloc(out, sizeof *out * (size_t)(cap = 2 * cap + 4));
                out[cnt++] = A->by_text[i];
            }
    }
    if (cnt > 1) qsort(out, (size_t)cnt, sizeof *out, cmp_int);
    *n = cnt;
    return out;
}

exclude_index *exclude_new(int ngroups, const int *group_n, int naxes, const int *axis_group,
                           char *const *const *vals, const int *nvals, exclude_same_fn same,
                           exclude_num_fn num) {
    exclude_index *x = xcalloc(1, sizeof *x);
    x->ngroups = ngroups;
    x->naxes = naxes;
    x->group_n = group_n;
    x->same = same;
    x->num = num;
    x->off = xcalloc((size_t)ngroups + 1, sizeof *x->off);
    for (int g = 0; g < ngroups; g++) x->off[g + 1] = x->off[g] + group_n[g];
    size_t slots = (size_t)x->off[ngroups] + 1;
    x->bucket = xcalloc(slots, sizeof *x->bucket);
    x->bn = xcalloc(slots, sizeof *x->bn);
    x->bcap = xcalloc(slots, sizeof *x->bcap);
    x->ax = xcalloc((size_t)naxes + 1, sizeof *x->ax);
    for (int a = 0; a < naxes; a++) {
        x->ax[a].group = axis_group[a];
        x->ax[a].vals = vals[a];
        x->ax[a].nvals = nvals[a];
    }
    return x;
}

void exclude_free(exclude_index *x) {
    if (!x) return;
    for (int a = 0; a < x->naxes; a++) {
        free(x->ax[a].num);
        free(x->ax[a].by_text);
    }
    free(x->ax);
    for (int e = 0; e < x->nent; e++) {
        for (int c = 0; c < x->ent[e].ncons; c++) free(x->ent[e].cons[c].pos);
        free(x->ent[e].cons);
    }
    free(x->ent);
    for (int s = 0; s < x->off[x->ngroups]; s++) free(x->bucket[s]);
    free(x->bucket);
    free(x->bn);
    free(x->bcap);
    free(x->off);
    free(x);
}

int exclude_count(exclude_index *x, int a, const char *val) {
    int n;
    free(lookup(x, a, val, &n));
    return n;
}

/* Keeps the positions of c that are also in p[0..n) (both sorted). */
static void intersect(constraint *c, const int *p, int n) {
    int k = 0;
    for (int i = 0, j = 0; i < c->npos && j < n;) {
        if (c->pos[i] < p[j]) i++;
        else if (c->pos[i] > p[j]) j++;
        else {
            c->pos[k++] = c->pos[i];
            i++;
            j++;
        }
    }
    c->npos = k;
}

static void file_entry(exclude_index *x, int e) {
    const entry *E = &x->ent[e];
    int best = 0;
    long best_load = -1;
    for (int c = 0; c < E->ncons; c++) {
        long load = E->cons[c].npos;
        for (int i = 0; i < E->cons[c].npos; i++) load += x->bn[x->off[E->cons[c].group] + E->cons[c].pos[i]];
        if (best_load < 0 || load < best_load) best_load = load, best = c;
    }
    const constraint *C = &E->cons[best];
    for (int i = 0; i < C->npos; i++) {
        int s = x->off[C->group] + C->pos[i];
        if (x->bn[s] == x->bcap[s])
            x->bucket[s] = xrealloc(x->bucket[s], sizeof(int) * (size_t)(x->bcap[s] = 2 * x->bcap[s] + 2));
        x->bucket[s][x->bn[s]++] = e;
    }
}

int exclude_add(exclude_index *x, int npairs, const int *axis, const char *const *val,
                int *bad_pair) {
    entry E = {0, xmalloc(sizeof(constraint) * (size_t)(npairs ? npairs : 1))};
    int *first = xmalloc(sizeof(int) * (size_t)(npairs ? npairs : 1));  /* first pair of cons c */
    for (int j = 0; j < npairs; j++) {
        int n, g = x->ax[axis[j]].group, c = 0;
        int *p = lookup(x, axis[j], val[j], &n);
        while (c < E.ncons && E.cons[c].group != g) c++;
        if (c == E.ncons) {
            E.cons[E.ncons] = (constraint){g, n, p};
            first[E.ncons++] = j;
        } else {
            intersect(&E.cons[c], p, n);
            free(p);
        }
    }
    for (int c = 0; c < E.ncons; c++)
        if (E.cons[c].npos == 0) {
            *bad_pair = first[c];
            for (int k = 0; k < E.ncons; k++) free(E.cons[k].pos);
            free(E.cons);
            free(first);
            return -1;
        }
    free(first);
    if (x->nent == x->cap) x->ent = xrealloc(x->ent, sizeof *x->ent * (size_t)(x->cap = 2 * x->cap + 8));
    x->ent[x->nent] = E;
    file_entry(x, x->nent++);
    return 0;
}

static int has(const constraint *c, int v) {
    for (int i = 0; i < c->npos; i++)
        if (c->pos[i] == v) return 1;
    return 0;
}

int exclude_match(exclude_index *x, const int *idx, const int *read) {
    for (int g = 0; g < x->ngroups; g++) {
        if (idx[g] < 0 || idx[g] >= x->group_n[g]) continue;
        int s = x->off[g] + idx[g];
        for (int k = 0; k < x->bn[s]; k++) {
            const entry *E = &x->ent[x->bucket[s][k]];
            int all = 1;
            for (int c = 0; c < E->ncons && all; c++)
                all = (!read || read[E->cons[c].group]) && has(&E->cons[c], idx[E->cons[c].group]);
            if (all) return 1;
        }
    }
    return 0;
}
