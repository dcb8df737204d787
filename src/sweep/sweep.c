/* sweep.c — reads a sweep file (docs/spec.md §6) with the libyaml document API and expands it into
 * the unique model runs of the sweep. Every error names "path:line:col" (1-based, from the
 * offending node's start mark) and what was expected.
 *
 * Parsing happens in a fixed order (benchmark first, because it decides which benchmark.*
 * keys are valid), so when a file has several errors the first one reported is the first in
 * that order, not necessarily the first in the file. */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <yaml.h>

#include "bench.h"
#include "files.h"
#include "config.h"
#include "curve_check.h"
#include "exclude.h"
#include "model.h"
#include "plugin_load.h"
#include "rng.h"
#include "projcache.h"
#include "runstore.h"
#include "protocol.h"
#include "prune.h"
#include "search.h"
#include "safefile.h"
#include "util.h"

#define MAX_RUNS 1000000      /* seeds × models × points, before excludes */
/* An axis cannot have more values than the sweep may have runs (issue 23: was 10^5). */
#define MAX_AXIS_VALUES MAX_RUNS
#define VAL_MAX 1024          /* canonical value text */
#define REL_TOL 1e-9          /* exclude: numbers compare with this relative tolerance */

typedef struct {
    char *key;
    const param_spec *spec;
    const yaml_node_t *node;  /* the key node, for "already swept" messages */
    int group;                /* axes of one group (a grid key, or a zip entry) move together */
    int nvals;
    char **vals;              /* (nvals) canonical text */
    int is_dist;              /* random search: drawn from dist, nvals = 0 */
    search_dist dist;
} axis_t;

typedef struct {
    int axis;
    char *val;                /* canonical text */
} ex_pair;

typedef struct {
    int npairs;
    ex_pair *pairs;
} ex_entry;

typedef struct {
    char *key;
    size_t line;              /* 1-based line where the fixed setting was given */
} fixed_t;

typedef struct {
    const char *path;
    yaml_document_t *doc;
    yaml_node_t *root;
    const bench_spec *bench;
    run_config base;          /* defaults + train + benchmark settings */
    fixed_t *fixed;
    int nfixed;
    axis_t *axes;
    int naxes;
    int *group_n;             /* (ngroups) values per group */
    int ngroups;
    ex_entry *ex;
    int nex;
    exclude_index *exidx;     /* the entries indexed by value (src/sweep/exclude.c) */
    const yaml_node_t *exclude_node;
    const model_ops **models;
    int nmodels;
    long long *seeds;
    int nseeds;
    int random;               /* search: {method: random} */
    long samples;             /* its samples per model */
    uint64_t search_seed;
    projcache *proj;          /* memo of cfg_project's registry look-ups (issue 23) */
} parse_t;

static const char *const top_keys[] = {"name", "benchmark", "models", "seeds", "defaults",
                                       "train", "grid", "zip", "exclude", "output",
                                       "ranks_per_run", "options", "search", "programs", "prune",
                                       "protocol"};
#define NTOP (int)(sizeof top_keys / sizeof top_keys[0])

/* The options: map. Adding an option is one row here and its field in sweep_t (a double
 * for numbers, an int for booleans). Values are checked by param_canonicalise, so booleans
 * have the spellings of every other boolean key. */
typedef struct {
    param_spec spec;          /* key, type (PARAM_FLOAT ≥ 0 or PARAM_BOOL), default, range */
    const char *what;         /* for "expected ... >= 0" messages */
    size_t offset;            /* of the double or int field in sweep_t */
} option_def;

static const option_def option_defs[] = {
    {{"grace_seconds", PARAM_FLOAT, "60", NULL, 0, 1e300,
      "seconds in-flight runs get to finish after a stop signal"},
     "a number of seconds", offsetof(sweep_t, grace_seconds)},
    {{"flush_seconds", PARAM_FLOAT, "0", NULL, 0, 1e300,
      "minimum seconds between rewrites of the NetCDF file (0 = adaptive)"},
     "a number of seconds", offsetof(sweep_t, flush_seconds)},
    {{"quiet", PARAM_BOOL, "false", NULL, 0, 1, "no progress lines (clsweep run --progress overrides)"},
     "true or false", offsetof(sweep_t, quiet)},
    {{"isolate", PARAM_BOOL, "true", NULL, 0, 1, "run every model run in a forked child"},
     "true or false", offsetof(sweep_t, isolate)},
    {{"run_time_limit", PARAM_FLOAT, "0", NULL, 0, 1e300, "seconds per run, 0 = none"},
     "a number of seconds", offsetof(sweep_t, run_time_limit)},
    {{"run_memory_mb", PARAM_FLOAT, "0", NULL, 0, 1e300, "address space per run in MiB, 0 = none"},
     "a number of MiB", offsetof(sweep_t, run_memory_mb)},
};
#define NOPT (int)(sizeof option_defs / sizeof option_defs[0])

/* Set by the CLI's --progress: progress lines even when the file says quiet: true. */
static int force_progress;

void sweep_force_progress(int on) { force_progress = on; }

/* Key aliases: the spelling researchers type first → the key it means, on benchmarks whose
 * blocks are epochs over a data set (on a generated stream it is refused, naming the key). */
#define EPOCHS_ALIAS "train.epochs"

/* ---------------------------------------------------------------- errors and nodes */

static int fail(const parse_t *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets "path:line:col: message" at node n; returns -1. */
static int fail(const parse_t *p, const yaml_node_t *n, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cls_seterr("%s:%zu:%zu: %s", p->path, n->start_mark.line + 1, n->start_mark.column + 1,
               msg);
    return -1;
}

/* Prefixes the current error (e.g. from param_canonicalise) with n's location; returns -1. */
static int fail_here(const parse_t *p, const yaml_node_t *n) {
    cls_adderr("%s:%zu:%zu", p->path, n->start_mark.line + 1, n->start_mark.column + 1);
    return -1;
}

static yaml_node_t *node_at(const parse_t *p, int id) {
    return yaml_document_get_node(p->doc, id);
}

static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static const char *kind_name(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a single value";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static int is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) return 0;
    if (!strcmp((const char *)n->tag, YAML_NULL_TAG)) return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = text(n);
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
           !strcmp(t, "NULL");
}

static int map_size(const yaml_node_t *m) {
    return (int)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
}

static int seq_size(const yaml_node_t *s) {
    return (int)(s->data.sequence.items.top - s->data.sequence.items.start);
}

static yaml_node_t *seq_item(const parse_t *p, const yaml_node_t *s, int i) {
    return node_at(p, s->data.sequence.items.start[i]);
}

static int parse_ll(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) return -1;
    *out = v;
    return 0;
}

static int parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Only the core schema's tags are meaningful here; anything else (e.g. "!python/object",
 * "!!set") is refused rather than silently read as text. */
static int check_tags(const parse_t *p) {
    static const char *const ok[] = {YAML_NULL_TAG, YAML_BOOL_TAG, YAML_STR_TAG, YAML_INT_TAG,
                                     YAML_FLOAT_TAG, YAML_SEQ_TAG, YAML_MAP_TAG};
    for (yaml_node_t *n = p->doc->nodes.start; n < p->doc->nodes.top; n++) {
        int good = 0;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            if (n->tag && !strcmp((const char *)n->tag, ok[i])) good = 1;
        if (!good)
            return fail(p, n, "unsupported tag '%s': only plain values, lists and mappings "
                        "are allowed", n->tag ? (const char *)n->tag : "");
    }
    return 0;
}

/* Checks that m is a mapping with scalar, unique keys and no merge keys ("<<"), which
 * libyaml passes through as ordinary keys. what names the mapping for messages. */
static int check_mapping(const parse_t *p, const yaml_node_t *m, const char *what) {
    if (m->type != YAML_MAPPING_NODE)
        return fail(p, m, "expected a mapping for %s, got %s", what, kind_name(m));
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = node_at(p, a->key);
        if (k->type != YAML_SCALAR_NODE)
            return fail(p, k, "expected a plain key in %s, got %s as a key", what, kind_name(k));
        if (!strcmp(text(k), "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return fail(p, k, "merge keys (<<) are not supported in %s: write the keys out "
                        "(an alias of a whole value is fine)", what);
        for (yaml_node_pair_t *b = m->data.mapping.pairs.start; b < a; b++) {
            const yaml_node_t *kb = node_at(p, b->key);
            if (!strcmp(text(kb), text(k)))
                return fail(p, k, "duplicate key '%s' in %s (first at line %zu)", text(k), what,
                            kb->start_mark.line + 1);
        }
    }
    return 0;
}

/* ", "-joined keys of the registry with the given prefix, with the prefix removed when
 * strip is set. Caller frees. */
static char *keys_with_prefix(const char *prefix, int strip) {
    char *all = param_list_keys(prefix);
    if (!strip) return all;
    size_t plen = strlen(prefix);
    char *out = xmalloc(strlen(all) + 1), *o = out;
    for (const char *s = all; *s;) {
        if (!strncmp(s, prefix, plen)) s += plen;
        const char *e = strstr(s, ", ");
        size_t n = e ? (size_t)(e - s) + 2 : strlen(s);
        memcpy(o, s, n);
        o += n;
        s += n;
    }
    *o = 0;
    free(all);
    return out;
}

/* ", "-joined keys of benchmark b except benchmark.name, optionally without the prefix. */
static char *bench_keys(const bench_spec *b, int strip) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&buf, &len, &cap, "%s", "");
    for (int i = 0, n = 0; i < b->nparams; i++) {
        const char *k = b->params[i].key;
        if (!strcmp(k, "benchmark.name")) continue;
        cls_strappend(&buf, &len, &cap, "%s%s", n++ ? ", " : "", strip ? k + 10 : k);
    }
    return buf;
}

static const param_spec *bench_param(const bench_spec *b, const char *key) {
    for (int i = 0; i < b->nparams; i++)
        if (!strcmp(b->params[i].key, key)) return &b->params[i];
    return NULL;
}

static char *bench_names(void) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&buf, &len, &cap, "%s", "");
    for (int i = 0; i < bench_nspecs; i++)
        cls_strappend(&buf, &len, &cap, "%s%s", i ? ", " : "", bench_specs[i].name);
    return buf;
}

/* The spec of dotted key k (a scalar node) as used in defaults/grid/zip/exclude, or NULL
 * with the error set. benchmark.* keys must belong to the sweep's benchmark. */
static const param_spec *check_key(const parse_t *p, const yaml_node_t *k) {
    const char *key = text(k);
    if (!strcmp(key, EPOCHS_ALIAS)) {
        if (!p->bench->batch_key) return bench_param(p->bench, "benchmark.block_size");
        fail(p, k, "'%s' does not apply to %s: its blocks are steps of a generated stream, "
             "not epochs; set benchmark.block_size (steps per block)", key, p->bench->name);
        return NULL;
    }
    if (!strcmp(key, "seed")) {
        fail(p, k, "'seed' is not a parameter: the run seeds come from the top-level 'seeds'");
        return NULL;
    }
    if (!strcmp(key, "model")) {
        fail(p, k, "'model' is not a parameter: the models come from the top-level 'models'");
        return NULL;
    }
    if (!strcmp(key, "benchmark.name")) {
        fail(p, k, "'benchmark.name' cannot be set or swept: a sweep runs the one benchmark "
             "named by 'benchmark'");
        return NULL;
    }
    if (!strncmp(key, "benchmark.", 10)) {
        const param_spec *s = bench_param(p->bench, key);
        if (!s) {
            char *valid = bench_keys(p->bench, 0);
            fail(p, k, "unknown key '%s' for benchmark %s: expected one of %s", key,
                 p->bench->name, valid);
            free(valid);
        }
        return s;
    }
    const param_spec *s = param_find(key, NULL);
    if (s) return s;
    char prefix[128] = "";
    const char *dot = strchr(key, '.');
    if (dot && (size_t)(dot - key) + 1 < sizeof prefix)
        snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - key) + 1, key);
    char *valid = param_list_keys(prefix);
    if (!*valid) {
        free(valid);
        valid = param_list_keys("");
    }
    fail(p, k, "unknown key '%s': expected one of %s", key, valid);
    free(valid);
    return NULL;
}

/* The configuration key a checked key node k (spec from check_key) stands for: its text,
 * except for an alias, which stands for its spec's key. */
static const char *key_of(const yaml_node_t *k, const param_spec *spec) {
    return !strcmp(text(k), EPOCHS_ALIAS) ? spec->key : text(k);
}

/* ---------------------------------------------------------------- values */

/* Canonical text of one value v for spec into out[VAL_MAX]. Integer lists are YAML lists
 * ([10, 10]); everything else a scalar. hint is appended to "got a list" messages. */
static int value_text(const parse_t *p, const param_spec *spec, const yaml_node_t *v,
                      char *out, const char *hint) {
    if (spec->type == PARAM_INTLIST && v->type == YAML_SEQUENCE_NODE) {
        char buf[VAL_MAX];
        size_t len = 0;
        buf[len++] = '[';
        for (int i = 0; i < seq_size(v); i++) {
            const yaml_node_t *e = seq_item(p, v, i);
            long long x;
            if (e->type != YAML_SCALAR_NODE || parse_ll(text(e), &x))
                return fail(p, e, "expected an integer in the list for %s, got %s", spec->key,
                            e->type == YAML_SCALAR_NODE ? text(e) : kind_name(e));
            int w = snprintf(buf + len, sizeof buf - len, "%s%lld", i ? "," : "", x);
            if (w < 0 || (size_t)w >= sizeof buf - len - 1)
                return fail(p, v, "the list for %s is too long", spec->key);
            len += (size_t)w;
        }
        buf[len++] = ']';
        buf[len] = 0;
        if (param_canonicalise(spec, buf, out, VAL_MAX)) return fail_here(p, v);
        return 0;
    }
    if (v->type != YAML_SCALAR_NODE) {
        if (spec->type == PARAM_INTLIST)
            return fail(p, v, "expected a list of integers like [10, 10] for %s, got %s",
                        spec->key, kind_name(v));
        return fail(p, v, "expected a single value for %s, got %s%s", spec->key, kind_name(v),
                    v->type == YAML_SEQUENCE_NODE ? hint : "");
    }
    if (param_canonicalise(spec, text(v), out, VAL_MAX)) return fail_here(p, v);
    return 0;
}

static int same_value(const char *a, const char *b) {
    double x, y;
    if (!parse_num(a, &x) && !parse_num(b, &y))
        return x == y || fabs(x - y) <= REL_TOL * fmax(fabs(x), fabs(y));
    return !strcmp(a, b);
}

/* Appends a value to ax. A repeated value is an error; the caller finds it: generated values
 * are monotone, so only their last value can repeat (after rounding), which check_last
 * compares; listed values go through a val_set (axis_values). The array grows geometrically
 * (capacity: the next power of two), so n values cost O(n). */
static int axis_push(const parse_t *p, axis_t *ax, const char *val, const yaml_node_t *at,
                     int check_last) {
    if (check_last && ax->nvals && !strcmp(ax->vals[ax->nvals - 1], val))
        return fail(p, at, "value %s appears twice in the values of %s", val, ax->key);
    if (ax->nvals >= MAX_AXIS_VALUES)
        return fail(p, at, "too many values for %s (at most %d, the most runs a sweep may "
                    "expand to)", ax->key, MAX_AXIS_VALUES);
    if ((ax->nvals & (ax->nvals - 1)) == 0)  /* 0, 1, 2, 4, ...: full */
        ax->vals = xrealloc(ax->vals, sizeof(char *) * (size_t)(ax->nvals ? 2 * ax->nvals : 1));
    ax->vals[ax->nvals++] = xstrdup(val);
    return 0;
}

/* A set of the values of one axis (open addressing over indices into vals), so that a list
 * of n values is checked for repeats in O(n) rather than O(n^2). */
typedef struct {
    int *slot;                /* (cap) index + 1 into vals; 0 = empty */
    size_t cap;               /* a power of two, at least twice the number of values */
} val_set;

static uint64_t val_hash(const char *s) {  /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The index of val among vals if the set holds it, else -1 after adding index n for it. */
static int val_set_add(val_set *set, char *const *vals, int n, const char *val) {
    size_t i = (size_t)val_hash(val) & (set->cap - 1);
    for (; set->slot[i]; i = (i + 1) & (set->cap - 1))
        if (!strcmp(vals[set->slot[i] - 1], val)) return set->slot[i] - 1;
    set->slot[i] = n + 1;
    return -1;
}

static int axis_values(const parse_t *p, axis_t *ax, const yaml_node_t *v);

/* {DIST: [a, b(, q)]} (random search, DIST from search.h) → ax->dist; k is the DIST key. */
static int axis_distribution(const parse_t *p, axis_t *ax, const yaml_node_t *k,
                             const yaml_node_t *v, int kind) {
    const char *name = search_dist_name(kind), *form = search_dist_form(kind);
    if (!p->random)
        return fail(p, k, "%s draws random values: it needs random search (search: {method: "
                    "random, samples: N}); a grid takes lists or linspace/logspace/range", name);
    if (ax->spec->type != PARAM_INT && ax->spec->type != PARAM_FLOAT)
        return fail(p, k, "%s needs a numeric key, but %s is not a number: use {choice: "
                    "[values]}", name, ax->key);
    int n = search_dist_nargs(kind);
    if (v->type != YAML_SEQUENCE_NODE || seq_size(v) != n)
        return fail(p, v, "%s expects %s, got %s", name, form,
                    v->type == YAML_SEQUENCE_NODE ? "a list of a different length"
                                                  : kind_name(v));
    double x[3];
    for (int i = 0; i < n; i++) {
        const yaml_node_t *e = seq_item(p, v, i);
        if (e->type != YAML_SCALAR_NODE || parse_num(text(e), &x[i]))
            return fail(p, e, "%s expects numbers %s, got %s", name, form,
                        e->type == YAML_SCALAR_NODE ? text(e) : kind_name(e));
    }
    char why[512];
    int bad;
    if (search_dist_make(&ax->dist, kind, x, ax->spec->type == PARAM_INT, why, sizeof why, &bad))
        return fail(p, bad >= 0 ? seq_item(p, v, bad) : v, "%s for %s", why, ax->key);
    /* Both ends must be valid values of the key (its range). */
    for (int i = 0; i < 2; i++) {
        char val[VAL_MAX];
        if (param_canonicalise(ax->spec, text(seq_item(p, v, i)), val, VAL_MAX))
            return fail_here(p, seq_item(p, v, i));
    }
    ax->is_dist = 1;
    return 0;
}

/* {linspace: [a, b, n]} | {logspace: [a, b, n]} | {range: [a, b, step]} → values of ax;
 * under random search also {choice: [values]} and the distributions of search.h. */
static int axis_generate(const parse_t *p, axis_t *ax, const yaml_node_t *m) {
    static const char *const gens[] = {"linspace", "logspace", "range"};
    char what[160];
    snprintf(what, sizeof what, "the values of %s", ax->key);
    if (check_mapping(p, m, what)) return -1;
    if (map_size(m) != 1)
        return fail(p, m, "expected a list of values or one of {linspace: [a, b, n]}, "
                    "{logspace: [a, b, n]}, {range: [a, b, step]}%s for %s",
                    p->random ? ", {choice: [values]}, {uniform: [a, b]}, ..." : "", ax->key);
    const yaml_node_t *k = node_at(p, m->data.mapping.pairs.start[0].key);
    const yaml_node_t *v = node_at(p, m->data.mapping.pairs.start[0].value);
    int g = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(text(k), gens[i])) g = i;
    if (g < 0 && !strcmp(text(k), "choice")) {
        if (v->type != YAML_SEQUENCE_NODE)
            return fail(p, v, "choice expects a list of values, got %s", kind_name(v));
        return axis_values(p, ax, v);
    }
    if (g < 0 && search_dist_kind(text(k)) >= 0)
        return axis_distribution(p, ax, k, v, search_dist_kind(text(k)));
    if (g < 0)
        return fail(p, k, "unknown generator '%s' for %s: expected one of linspace, logspace, "
                    "range, choice, %s", text(k), ax->key, search_dist_names);
    const char *form = g == 2 ? "[a, b, step]" : "[a, b, n]";
    if (ax->spec->type != PARAM_INT && ax->spec->type != PARAM_FLOAT)
        return fail(p, k, "%s needs a numeric key, but %s is not a number: list its values",
                    gens[g], ax->key);
    if (v->type != YAML_SEQUENCE_NODE || seq_size(v) != 3)
        return fail(p, v, "%s expects %s, got %s", gens[g], form,
                    v->type == YAML_SEQUENCE_NODE ? "a list of a different length"
                                                  : kind_name(v));
    double x[3];
    for (int i = 0; i < 3; i++) {
        const yaml_node_t *e = seq_item(p, v, i);
        if (e->type != YAML_SCALAR_NODE || parse_num(text(e), &x[i]))
            return fail(p, e, "%s expects numbers %s, got %s", gens[g], form,
                        e->type == YAML_SCALAR_NODE ? text(e) : kind_name(e));
    }
    double a = x[0], b = x[1];
    long n;
    if (g < 2) {
        if (x[2] != floor(x[2]) || x[2] < 1 || x[2] > MAX_AXIS_VALUES)
            return fail(p, seq_item(p, v, 2), "%s: n must be an integer in [1, %d] (the most "
                        "runs a sweep may expand to), got %s", gens[g], MAX_AXIS_VALUES,
                        text(seq_item(p, v, 2)));
        n = (long)x[2];
    } else {
        double step = x[2];
        if (step == 0) return fail(p, seq_item(p, v, 2), "range: step must not be 0");
        /* The tolerance keeps b exclusive despite rounding: range [0, 1, 0.1] has 10 values. */
        double cnt = ceil((b - a) / step - 1e-9);
        if (cnt < 1)
            return fail(p, v, "range [%g, %g, %g] is empty: step must go from a towards b "
                        "(b is exclusive)", a, b, step);
        if (cnt > MAX_AXIS_VALUES)
            return fail(p, v, "range [%g, %g, %g] has more than %d values (the most runs a "
                        "sweep may expand to)", a, b, step, MAX_AXIS_VALUES);
        n = (long)cnt;
    }
    for (long i = 0; i < n; i++) {
        double t;
        if (g == 2) t = a + (double)i * x[2];
        else {
            double e = n == 1 ? a : (i == n - 1 ? b : a + (b - a) * (double)i / (double)(n - 1));
            t = g == 0 ? e : pow(10.0, e);
        }
        char raw[64], val[VAL_MAX];
        /* 15 digits absorb the rounding of the arithmetic above (pow(10, 3) → 1000). */
        snprintf(raw, sizeof raw, "%.15g", t);
        if (param_canonicalise(ax->spec, raw, val, VAL_MAX)) {
            cls_adderr("%s value %ld of %ld", gens[g], i + 1, n);
            return fail_here(p, v);
        }
        if (axis_push(p, ax, val, v, 1)) return -1;
    }
    return 0;
}

/* The values of swept key ax (already named and specified) from node v. */
static int axis_values(const parse_t *p, axis_t *ax, const yaml_node_t *v) {
    if (v->type == YAML_MAPPING_NODE) return axis_generate(p, ax, v);
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(p, v, "expected a list of values or {linspace|logspace: [a, b, n]} or "
                    "{range: [a, b, step]} for %s, got a single value (fixed values go under "
                    "defaults)", ax->key);
    int n = seq_size(v);
    if (n == 0) return fail(p, v, "empty list of values for %s", ax->key);
    if (n > MAX_AXIS_VALUES)
        return fail(p, v, "too many values for %s: %d (at most %d, the most runs a sweep may "
                    "expand to)", ax->key, n, MAX_AXIS_VALUES);
    val_set set = {NULL, 16};
    while (set.cap < 2 * (size_t)n) set.cap *= 2;
    set.slot = xcalloc(set.cap, sizeof(int));
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const yaml_node_t *e = seq_item(p, v, i);
        char val[VAL_MAX];
        if (value_text(p, ax->spec, e, val, "")) rc = -1;
        else if (val_set_add(&set, ax->vals, ax->nvals, val) >= 0)
            rc = fail(p, e, "value %s appears twice in the values of %s", val, ax->key);
        else rc = axis_push(p, ax, val, e, 0);
    }
    free(set.slot);
    return rc;
}

/* Adds a swept key (key node k, values node v) to group; refuses a key swept twice. */
static int add_axis(parse_t *p, const yaml_node_t *k, const yaml_node_t *v, int group) {
    const param_spec *spec = check_key(p, k);
    if (!spec) return -1;
    const char *key = key_of(k, spec);
    for (int i = 0; i < p->naxes; i++)
        if (!strcmp(p->axes[i].key, key))
            return fail(p, k, "key '%s' is swept twice (first at line %zu): a key can be in "
                        "grid or in one zip group, not both", key,
                        p->axes[i].node->start_mark.line + 1);
    p->axes = xrealloc(p->axes, sizeof(axis_t) * (size_t)(p->naxes + 1));
    axis_t *ax = &p->axes[p->naxes++];
    memset(ax, 0, sizeof *ax);
    ax->key = xstrdup(key);
    ax->spec = spec;
    ax->node = k;
    ax->group = group;
    return axis_values(p, ax, v);
}

static int new_group(parse_t *p) {
    p->group_n = xrealloc(p->group_n, sizeof(int) * (size_t)(p->ngroups + 1));
    p->group_n[p->ngroups] = 0;
    return p->ngroups++;
}

/* Sets a fixed (non-swept) setting; the same key given twice is an error. */
static int set_fixed(parse_t *p, const char *key, const char *val, const yaml_node_t *at) {
    for (int i = 0; i < p->nfixed; i++)
        if (!strcmp(p->fixed[i].key, key))
            return fail(p, at, "'%s' is set twice (first at line %zu)", key, p->fixed[i].line);
    p->fixed = xrealloc(p->fixed, sizeof(fixed_t) * (size_t)(p->nfixed + 1));
    p->fixed[p->nfixed].key = xstrdup(key);
    p->fixed[p->nfixed].line = at->start_mark.line + 1;
    p->nfixed++;
    cfg_set(&p->base, key, val);
    return 0;
}

/* ---------------------------------------------------------------- sections */

/* The value of top-level key, even when null; NULL when the key is absent. */
static yaml_node_t *top_raw(const parse_t *p, const char *key) {
    for (yaml_node_pair_t *a = p->root->data.mapping.pairs.start;
         a < p->root->data.mapping.pairs.top; a++)
        if (!strcmp(text(node_at(p, a->key)), key)) return node_at(p, a->value);
    return NULL;
}

/* The value of top-level key; a null value ("key:" with nothing after it) counts as absent,
 * so that a section can be emptied by commenting out its entries. */
static yaml_node_t *top_get(const parse_t *p, const char *key) {
    yaml_node_t *v = top_raw(p, key);
    return v && is_null(v) ? NULL : v;
}

static int want_scalar(const parse_t *p, const yaml_node_t *v, const char *what) {
    if (v->type != YAML_SCALAR_NODE)
        return fail(p, v, "expected %s, got %s", what, kind_name(v));
    return 0;
}

static int parse_top_keys(const parse_t *p) {
    if (check_mapping(p, p->root, "the sweep file")) return -1;
    for (yaml_node_pair_t *a = p->root->data.mapping.pairs.start;
         a < p->root->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = node_at(p, a->key);
        int known = 0;
        for (int i = 0; i < NTOP; i++)
            if (!strcmp(text(k), top_keys[i])) known = 1;
        if (!known) {
            char list[512];
            size_t len = 0;
            for (int i = 0; i < NTOP; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                        top_keys[i]);
            return fail(p, k, "unknown top-level key '%s': expected one of %s", text(k), list);
        }
    }
    return 0;
}

static int parse_bench_settings(parse_t *p, const yaml_node_t *v, const char *prefix);

static int parse_benchmark(parse_t *p) {
    const yaml_node_t *v = top_get(p, "benchmark");
    if (!v) {
        const yaml_node_t *empty = top_raw(p, "benchmark");
        char *names = bench_names();
        fail(p, empty ? empty : p->root, "%s 'benchmark': expected benchmark: NAME or "
             "benchmark: {name: NAME, ...} with NAME one of %s", empty ? "empty" : "missing",
             names);
        free(names);
        return -1;
    }
    const yaml_node_t *name = v;
    if (v->type == YAML_MAPPING_NODE) {
        if (check_mapping(p, v, "benchmark")) return -1;
        name = NULL;
        for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++)
            if (!strcmp(text(node_at(p, a->key)), "name")) name = node_at(p, a->value);
        if (!name) {
            char *names = bench_names();
            fail(p, v, "benchmark has no 'name': expected one of %s", names);
            free(names);
            return -1;
        }
    }
    if (want_scalar(p, name, "a benchmark name")) return -1;
    p->bench = bench_find(text(name));
    if (!p->bench) {
        char *names = bench_names();
        fail(p, name, "unknown benchmark '%s': expected one of %s", text(name), names);
        free(names);
        return -1;
    }
    if (v->type != YAML_MAPPING_NODE) return 0;
    return parse_bench_settings(p, v, "benchmark.");
}

/* Renders a scalar or (nested) sequence node as flow text "[a, [b, c]]" into out. */
static int flow_text(const parse_t *p, const yaml_node_t *n, char *out, size_t cap, size_t *len,
                     int depth) {
    if (depth > 8) return fail(p, n, "list nested too deeply");
    if (n->type == YAML_SCALAR_NODE) {
        int w = snprintf(out + *len, cap - *len, "%s", text(n));
        if (w < 0 || (size_t)w >= cap - *len) return fail(p, n, "value too long");
        *len += (size_t)w;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) return fail(p, n, "expected a value or a list, got %s",
                                                   kind_name(n));
    if (*len + 2 >= cap) return fail(p, n, "value too long");
    out[(*len)++] = '[';
    for (int i = 0; i < seq_size(n); i++) {
        if (i) {
            if (*len + 3 >= cap) return fail(p, n, "value too long");
            out[(*len)++] = ',';
            out[(*len)++] = ' ';
        }
        if (flow_text(p, seq_item(p, n, i), out, cap, len, depth + 1)) return -1;
    }
    if (*len + 2 >= cap) return fail(p, n, "value too long");
    out[(*len)++] = ']';
    out[*len] = 0;
    return 0;
}

/* The settings of a benchmark mapping (name excluded) under prefix "benchmark.": a nested
 * mapping (files: train: {x: ..., y: ...}) adds its key to the prefix; a list given to a
 * text setting (files: normalize.mean, split.class_order) is stored as its flow text. */
static int parse_bench_settings(parse_t *p, const yaml_node_t *v, const char *prefix) {
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = node_at(p, a->key), *val = node_at(p, a->value);
        if (!strcmp(prefix, "benchmark.") && !strcmp(text(k), "name")) continue;
        char key[160];
        snprintf(key, sizeof key, "%s%s", prefix, text(k));
        if (val->type == YAML_MAPPING_NODE && !bench_param(p->bench, key)) {
            char sub[170];
            snprintf(sub, sizeof sub, "%s.", key);
            int any = 0;
            for (int i = 0; i < p->bench->nparams; i++)
                any |= !strncmp(p->bench->params[i].key, sub, strlen(sub));
            if (any) {
                if (check_mapping(p, val, key) || parse_bench_settings(p, val, sub)) return -1;
                continue;
            }
        }
        const param_spec *spec = bench_param(p->bench, key);
        if (spec && spec->type == PARAM_STR && !spec->choices && val->type == YAML_SEQUENCE_NODE) {
            char out[VAL_MAX];
            size_t len = 0;
            if (flow_text(p, val, out, sizeof out, &len, 0) || set_fixed(p, key, out, k))
                return -1;
            continue;
        }
        if (!spec) {
            char *valid = bench_keys(p->bench, 1);
            fail(p, k, "unknown setting '%s' for benchmark %s: expected one of name, %s",
                 key + strlen("benchmark."), p->bench->name, valid);
            free(valid);
            return -1;
        }
        char out[VAL_MAX];
        if (value_text(p, spec, val, out, " (to sweep it, use grid: {benchmark.KEY: [...]})"))
            return -1;
        if (set_fixed(p, key, out, k)) return -1;
    }
    return 0;
}

/* The absolute directory of the sweep file (programs and plugins are relative to it). */
static char *abs_dir_of(const char *path) {
    char *dir = sf_dir_of(path), *abs = realpath(dir, NULL);
    if (!abs) return dir;
    free(dir);
    return abs;
}

static int parse_models(parse_t *p) {
    const yaml_node_t *v = top_get(p, "models");
    if (!v) {
        for (int i = 0; i < model_count; i++)
            if (model_table[i]->kinds & (unsigned)p->bench->kind) {
                p->models = xrealloc(p->models, sizeof(*p->models) * (size_t)(p->nmodels + 1));
                p->models[p->nmodels++] = model_table[i];
            }
        if (!p->nmodels)
            return fail(p, p->root, "no model supports benchmark %s: list models explicitly "
                        "(one of %s)", p->bench->name, model_names());
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(p, v, "expected a list of models like [%s], got %s", model_names(),
                    kind_name(v));
    if (seq_size(v) == 0)
        return fail(p, v, "empty list of models: expected some of %s (or leave out 'models' "
                    "for every model supporting %s)", model_names(), p->bench->name);
    for (int i = 0; i < seq_size(v); i++) {
        const yaml_node_t *e = seq_item(p, v, i);
        if (want_scalar(p, e, "a model name")) return -1;
        const char *mname = text(e);
        if (!strncmp(mname, "plugin:", 7)) {   /* a C plugin (plugin.c), relative to the file */
            char *dir = abs_dir_of(p->path);
            int rc = plugin_declare(dir, mname + 7, NULL, &mname);
            free(dir);
            if (rc) return fail(p, e, "%s", cls_geterr());
        }
        const model_ops *m = model_find(mname);
        if (!m)
            return fail(p, e, "unknown model '%s': expected one of %s", text(e), model_names());
        for (int j = 0; j < p->nmodels; j++)
            if (p->models[j] == m) return fail(p, e, "model '%s' is listed twice", text(e));
        p->models = xrealloc(p->models, sizeof(*p->models) * (size_t)(p->nmodels + 1));
        p->models[p->nmodels++] = m;
    }
    return 0;
}

/* Seeds (value, position) ordered by value, then position. */
typedef struct {
    long long x;
    int i;
} seed_at;
static int seed_cmp(const void *a, const void *b) {
    const seed_at *u = a, *v = b;
    if (u->x != v->x) return u->x < v->x ? -1 : 1;
    return (u->i > v->i) - (u->i < v->i);
}

/* The position of the first seed (in file order) that repeats an earlier one, or -1: sorted,
 * O(n log n) (a pairwise scan took minutes for 10^5 seeds). */
static int first_repeated_seed(const long long *seeds, int n) {
    seed_at *s = xmalloc(sizeof(seed_at) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) s[i] = (seed_at){seeds[i], i};
    qsort(s, (size_t)n, sizeof *s, seed_cmp);
    int first = -1;
    for (int i = 1; i < n; i++)
        if (s[i].x == s[i - 1].x && (first < 0 || s[i].i < first)) first = s[i].i;
    free(s);
    return first;
}

static int parse_seeds(parse_t *p) {
    const yaml_node_t *v = top_get(p, "seeds");
    long long x;
    if (!v) {
        p->seeds = xmalloc(sizeof(long long));
        p->seeds[0] = 0;
        p->nseeds = 1;
        return 0;
    }
    if (v->type == YAML_SCALAR_NODE) {
        if (parse_ll(text(v), &x) || x < 1 || x > MAX_RUNS)
            return fail(p, v, "expected seeds: N (an integer in [1, %d], meaning seeds 0..N-1) "
                        "or a list of non-negative integers, got '%s'", MAX_RUNS, text(v));
        p->nseeds = (int)x;
        p->seeds = xmalloc(sizeof(long long) * (size_t)x);
        for (int i = 0; i < p->nseeds; i++) p->seeds[i] = i;
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(p, v, "expected seeds: N or a list of non-negative integers, got %s",
                    kind_name(v));
    if (seq_size(v) == 0) return fail(p, v, "empty list of seeds");
    if (seq_size(v) > MAX_RUNS) return fail(p, v, "too many seeds (at most %d)", MAX_RUNS);
    p->seeds = xmalloc(sizeof(long long) * (size_t)seq_size(v));
    for (int i = 0; i < seq_size(v); i++) {
        const yaml_node_t *e = seq_item(p, v, i);
        if (e->type != YAML_SCALAR_NODE || parse_ll(text(e), &x) || x < 0)
            return fail(p, e, "expected a non-negative integer seed, got %s",
                        e->type == YAML_SCALAR_NODE ? text(e) : kind_name(e));
        p->seeds[p->nseeds++] = x;
    }
    int r = first_repeated_seed(p->seeds, p->nseeds);
    if (r >= 0) return fail(p, seq_item(p, v, r), "seed %lld is listed twice", p->seeds[r]);
    return 0;
}

static int parse_train(parse_t *p) {
    const yaml_node_t *v = top_get(p, "train");
    if (!v) return 0;
    if (check_mapping(p, v, "train")) return -1;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = node_at(p, a->key), *val = node_at(p, a->value);
        char key[160];
        snprintf(key, sizeof key, "train.%s", text(k));
        const param_spec *spec = param_find(key, NULL);
        if (!spec && !strcmp(key, EPOCHS_ALIAS)) {
            if (p->bench->batch_key)
                return fail(p, k, "'%s' does not apply to %s: its blocks are steps of a "
                            "generated stream, not epochs; set benchmark.block_size (steps per "
                            "block)", key, p->bench->name);
            spec = bench_param(p->bench, "benchmark.block_size");
            snprintf(key, sizeof key, "%s", spec->key);
        }
        if (!spec) {
            char *valid = keys_with_prefix("train.", 1);
            fail(p, k, "unknown setting '%s' in train: expected one of %s", text(k), valid);
            free(valid);
            return -1;
        }
        char out[VAL_MAX];
        if (value_text(p, spec, val, out, " (to sweep it, use grid: {train.KEY: [...]})"))
            return -1;
        if (set_fixed(p, key, out, k)) return -1;
    }
    return 0;
}

static int parse_defaults(parse_t *p) {
    const yaml_node_t *v = top_get(p, "defaults");
    if (!v) return 0;
    if (check_mapping(p, v, "defaults")) return -1;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = node_at(p, a->key), *val = node_at(p, a->value);
        const param_spec *spec = check_key(p, k);
        if (!spec) return -1;
        char out[VAL_MAX];
        if (value_text(p, spec, val, out, " (to sweep it, put it under grid)")) return -1;
        if (set_fixed(p, key_of(k, spec), out, k)) return -1;
    }
    return 0;
}

/* search: {method: grid|random, samples: N, seed: S}. Random search needs samples. */
static int parse_search(parse_t *p) {
    const yaml_node_t *v = top_get(p, "search");
    if (!v) return 0;
    if (check_mapping(p, v, "search")) return -1;
    const yaml_node_t *samples = NULL, *method = NULL;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        const yaml_node_t *k = node_at(p, a->key), *val = node_at(p, a->value);
        long long x;
        if (!strcmp(text(k), "method")) {
            method = val;
            if (want_scalar(p, val, "grid or random")) return -1;
            if (strcmp(text(val), "grid") && strcmp(text(val), "random"))
                return fail(p, val, "unknown search method '%s': expected one of grid, random",
                            text(val));
            p->random = !strcmp(text(val), "random");
        } else if (!strcmp(text(k), "samples")) {
            samples = val;
            if (val->type != YAML_SCALAR_NODE || parse_ll(text(val), &x) || x < 1 ||
                x > MAX_RUNS)
                return fail(p, val, "expected search.samples to be an integer in [1, %d], got "
                            "%s", MAX_RUNS, val->type == YAML_SCALAR_NODE ? text(val)
                                                                         : kind_name(val));
            p->samples = (long)x;
        } else if (!strcmp(text(k), "seed")) {
            if (val->type != YAML_SCALAR_NODE || parse_ll(text(val), &x) || x < 0)
                return fail(p, val, "expected search.seed to be an integer >= 0, got %s",
                            val->type == YAML_SCALAR_NODE ? text(val) : kind_name(val));
            p->search_seed = (uint64_t)x;
        } else {
            return fail(p, k, "unknown search setting '%s': expected one of method, samples, "
                        "seed", text(k));
        }
    }
    if (p->random && !samples)
        return fail(p, v, "random search needs samples: N (the points drawn per model)");
    if (!p->random && samples)
        return fail(p, samples, "samples applies to random search: add method: random%s",
                    method ? " (method is grid)" : "");
    return 0;
}

static int parse_grid(parse_t *p) {
    const yaml_node_t *v = top_get(p, "grid");
    if (!v) return 0;
    if (check_mapping(p, v, "grid")) return -1;
    if (map_size(v) == 0)
        return fail(p, v, "empty grid: expected KEY: [values] entries (or leave out 'grid')");
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        int g = new_group(p);
        if (add_axis(p, node_at(p, a->key), node_at(p, a->value), g)) return -1;
        p->group_n[g] = p->axes[p->naxes - 1].nvals;
    }
    return 0;
}

static int parse_zip(parse_t *p) {
    const yaml_node_t *v = top_get(p, "zip");
    if (!v) return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(p, v, "expected zip to be a list of mappings like - {a: [1, 2], b: [3, 4]}, "
                    "got %s", kind_name(v));
    if (seq_size(v) == 0) return fail(p, v, "empty zip: expected a list of mappings");
    for (int i = 0; i < seq_size(v); i++) {
        const yaml_node_t *m = seq_item(p, v, i);
        if (check_mapping(p, m, "a zip group")) return -1;
        if (map_size(m) == 0) return fail(p, m, "empty zip group");
        int g = new_group(p), first = p->naxes;
        for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top;
             a++) {
            const yaml_node_t *val = node_at(p, a->value);
            if (add_axis(p, node_at(p, a->key), val, g)) return -1;
            const axis_t *ax = &p->axes[p->naxes - 1], *ax0 = &p->axes[first];
            if (ax->is_dist)
                return fail(p, val, "'%s' is drawn from a distribution: the lists of a zip "
                            "group move together, so a zip takes lists (put it under grid)",
                            ax->key);
            if (ax->nvals != ax0->nvals)
                return fail(p, val, "zip group of unequal lengths: '%s' has %d values but '%s' "
                            "has %d (the lists of a zip group move together)", ax->key,
                            ax->nvals, ax0->key, ax0->nvals);
        }
        p->group_n[g] = p->axes[first].nvals;
    }
    return 0;
}

/* Whether some model of the sweep reads key. */
static int some_model_reads(const parse_t *p, const char *key) {
    for (int i = 0; i < p->nmodels; i++)
        if (param_model_reads(p->models[i]->name, p->bench->name, key)) return 1;
    return 0;
}

/* Adds exclude entry ex (node m) to the index, or refuses it if it can match no point: its
 * values are each on their axis (checked by the caller), but values of axes that move
 * together (one zip group) must occur at one position of the group. Groups are independent,
 * so that is the only way. */
static int exclude_can_match(const parse_t *p, const ex_entry *ex, const yaml_node_t *m) {
    int *axis = xmalloc(sizeof(int) * (size_t)ex->npairs), a;
    const char **val = xmalloc(sizeof(char *) * (size_t)ex->npairs);
    for (int j = 0; j < ex->npairs; j++) axis[j] = ex->pairs[j].axis, val[j] = ex->pairs[j].val;
    int rc = exclude_add(p->exidx, ex->npairs, axis, val, &a);
    free(axis);
    free(val);
    if (rc == 0) return 0;
    int g = p->axes[ex->pairs[a].axis].group;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&buf, &len, &cap, "%s", "");
    for (int b = a; b < ex->npairs; b++)
        if (p->axes[ex->pairs[b].axis].group == g)
            cls_strappend(&buf, &len, &cap, "%s%s: %s", len ? ", " : "",
                          p->axes[ex->pairs[b].axis].key, ex->pairs[b].val);
    fail(p, m, "exclude entry can never match: %s are zipped together and never occur at "
         "the same position of their zip group", buf);
    free(buf);
    return -1;
}

/* The index of the exclude entries over the sweep's axes (values borrowed from p->axes). */
static exclude_index *exclude_index_new(const parse_t *p) {
    int *group = xmalloc(sizeof(int) * (size_t)(p->naxes + 1)), *nvals = xmalloc(sizeof(int) * (size_t)(p->naxes + 1));
    char *const **vals = xmalloc(sizeof *vals * (size_t)(p->naxes + 1));
    for (int a = 0; a < p->naxes; a++)
        group[a] = p->axes[a].group, nvals[a] = p->axes[a].nvals, vals[a] = p->axes[a].vals;
    exclude_index *x = exclude_new(p->ngroups, p->group_n, p->naxes, group, (char *const *const *)vals,
                                   nvals, same_value, parse_num);
    free(group);
    free(nvals);
    free(vals);
    return x;
}

static int parse_exclude(parse_t *p) {
    const yaml_node_t *v = top_get(p, "exclude");
    if (!v) return 0;
    p->exclude_node = v;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(p, v, "expected exclude to be a list of mappings like - {a: 1, b: 2}, got "
                    "%s", kind_name(v));
    p->exidx = exclude_index_new(p);
    for (int i = 0; i < seq_size(v); i++) {
        const yaml_node_t *m = seq_item(p, v, i);
        if (check_mapping(p, m, "an exclude entry")) return -1;
        if (map_size(m) == 0)
            return fail(p, m, "empty exclude entry: it would match every point");
        p->ex = xrealloc(p->ex, sizeof(ex_entry) * (size_t)(p->nex + 1));
        ex_entry *ex = &p->ex[p->nex++];
        ex->npairs = 0;
        ex->pairs = xmalloc(sizeof(ex_pair) * (size_t)map_size(m));
        for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top;
             a++) {
            const yaml_node_t *k = node_at(p, a->key), *val = node_at(p, a->value);
            const param_spec *spec = check_key(p, k);
            if (!spec) return -1;
            if (!some_model_reads(p, text(k)))
                return fail(p, k, "exclude key '%s' is read by none of the sweep's models: the "
                            "runs it would exclude equal runs that stay (remove the entry, or "
                            "add a model that reads it)", text(k));
            int axis = -1;
            for (int j = 0; j < p->naxes; j++)
                if (!strcmp(p->axes[j].key, text(k))) axis = j;
            if (axis < 0) {
                char *buf = NULL;
                size_t len = 0, cap = 0;
                cls_strappend(&buf, &len, &cap, "%s", "");
                for (int j = 0; j < p->naxes; j++)
                    cls_strappend(&buf, &len, &cap, "%s%s", j ? ", " : "", p->axes[j].key);
                fail(p, k, "exclude key '%s' is not swept: expected one of the grid/zip keys "
                     "(%s)", text(k), p->naxes ? buf : "none");
                free(buf);
                return -1;
            }
            if (p->axes[axis].is_dist)
                return fail(p, k, "exclude key '%s' is drawn from a distribution: exclude names "
                            "keys with listed values (a list or {choice: [...]})", text(k));
            char out[VAL_MAX];
            if (value_text(p, spec, val, out, "")) return -1;
            const axis_t *ax = &p->axes[axis];
            if (!exclude_count(p->exidx, axis, out)) {
                char *buf = NULL;
                size_t len = 0, cap = 0;
                cls_strappend(&buf, &len, &cap, "%s", "");
                for (int j = 0; j < ax->nvals; j++)
                    cls_strappend(&buf, &len, &cap, "%s%s", j ? ", " : "", ax->vals[j]);
                fail(p, val, "exclude value %s for %s is not one of its swept values: %s", out,
                     ax->key, buf);
                free(buf);
                return -1;
            }
            ex->pairs[ex->npairs].axis = axis;
            ex->pairs[ex->npairs].val = xstrdup(out);
            ex->npairs++;
        }
        if (exclude_can_match(p, ex, m)) return -1;
    }
    return 0;
}

/* Stores option o's value text into its field of s. 0, or -1 with cls_seterr. */
static int option_set(sweep_t *s, const option_def *o, const char *val) {
    char canon[64];
    if (param_canonicalise(&o->spec, val, canon, sizeof canon)) return -1;
    char *field = (char *)s + o->offset;
    if (o->spec.type == PARAM_BOOL) *(int *)field = !strcmp(canon, "true");
    else *(double *)field = strtod(canon, NULL);
    return 0;
}

/* Why name cannot name a sweep, or NULL. The name becomes a file name (the default output
 * results/NAME.nc, SLURM job and log names), so it must stay one plain path component. */
#define MAX_NAME_LEN 200
static const char *bad_name(const char *name) {
    if (!*name) return "it is empty";
    if (strlen(name) > MAX_NAME_LEN) return "it is longer than 200 bytes";
    if (strchr(name, '/') || strchr(name, '\\')) return "it contains a '/' or '\\'";
    if (strstr(name, "..")) return "it contains '..'";
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c < 0x20 || *c == 0x7f) return "it contains a control character";
    return NULL;
}

static int parse_scalars(parse_t *p, sweep_t *s) {
    const yaml_node_t *v;
    if ((v = top_get(p, "name"))) {
        if (want_scalar(p, v, "a name")) return -1;
        const char *why = bad_name(text(v));
        if (why)  /* a name with a control character is not echoed */
            return fail(p, v, "name '%s' cannot name the sweep: %s (expected one plain file-name "
                        "part, e.g. mnist-ewc_v2; it is used in results/NAME.nc)",
                        strstr(why, "control") ? "..." : text(v), why);
        s->name = xstrdup(text(v));
    } else {
        const char *base = strrchr(s->path, '/');
        base = base ? base + 1 : s->path;
        const char *dot = strrchr(base, '.');
        size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        s->name = n ? xmalloc(n + 1) : xstrdup("sweep");
        if (n) {
            memcpy(s->name, base, n);
            s->name[n] = 0;
        }
        const char *why = bad_name(s->name);
        if (why)
            return fail(p, p->root, "the sweep file's name cannot name the sweep: %s: set a plain "
                        "name: in the file", why);
    }
    if ((v = top_get(p, "output"))) {
        if (want_scalar(p, v, "an output path") ||
            (!*text(v) && fail(p, v, "expected a non-empty output path")))
            return -1;
        s->output = xstrdup(text(v));
    } else {
        size_t n = strlen(s->name) + 16;
        s->output = xmalloc(n);
        snprintf(s->output, n, "results/%s.nc", s->name);
    }
    s->ranks_per_run = 1;
    if ((v = top_get(p, "ranks_per_run"))) {
        long long x;
        if (v->type != YAML_SCALAR_NODE || parse_ll(text(v), &x) || x < 1 || x > 1 << 20)
            return fail(p, v, "expected ranks_per_run to be an integer >= 1, got %s",
                        v->type == YAML_SCALAR_NODE ? text(v) : kind_name(v));
        s->ranks_per_run = (int)x;
    }
    for (int i = 0; i < NOPT; i++)
        if (option_set(s, &option_defs[i], option_defs[i].spec.def)) return -1;
    if ((v = top_get(p, "options"))) {
        if (check_mapping(p, v, "options")) return -1;
        for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top;
             a++) {
            const yaml_node_t *k = node_at(p, a->key), *val = node_at(p, a->value);
            const option_def *o = NULL;
            for (int i = 0; i < NOPT; i++)
                if (!strcmp(text(k), option_defs[i].spec.key)) o = &option_defs[i];
            if (!o) {
                char list[256];
                size_t len = 0;
                for (int i = 0; i < NOPT && len < sizeof list; i++)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                            option_defs[i].spec.key);
                return fail(p, k, "unknown option '%s': expected one of %s", text(k), list);
            }
            if (want_scalar(p, val, o->what)) return -1;
            if (option_set(s, o, text(val))) {
                if (o->spec.type == PARAM_BOOL) return fail_here(p, val);
                return fail(p, val, "expected %s >= 0 for %s, got '%s'", o->what, o->spec.key,
                            text(val));
            }
        }
    }
    if (force_progress) s->quiet = 0;
    return 0;
}

/* ---------------------------------------------------------------- expansion */

/* Per-group value indices of point number flat (the last group varies fastest). */
static void point_index(const parse_t *p, long flat, int *idx) {
    for (int g = p->ngroups - 1; g >= 0; g--) {
        idx[g] = (int)(flat % p->group_n[g]);
        flat /= p->group_n[g];
    }
}

static int excluded(const parse_t *p, const int *idx) {
    return p->exidx && exclude_match(p->exidx, idx, NULL);
}

/* The keys of every run that carry its training budget: recorded as NetCDF variables even
 * when not swept, so a result file says what each run used. */
static const char *const budget_keys[] = {"train.optimizer", "train.lr", "train.batch_size",
                                          "train.weight_decay", "train.momentum",
                                          "benchmark.block_size"};
#define NBUDGET (int)(sizeof budget_keys / sizeof budget_keys[0])

/* s->axes = the swept keys, then the budget keys some run holds that are not swept. */
static void record_axes(const parse_t *p, sweep_t *s) {
    s->axes = xmalloc(sizeof(char *) * (size_t)(p->naxes + NBUDGET + 1));
    for (int a = 0; a < p->naxes; a++) s->axes[s->naxes++] = xstrdup(p->axes[a].key);
    s->nswept = s->naxes;
    for (int k = 0; k < NBUDGET; k++) {
        int swept = 0, held = 0;
        for (int a = 0; a < s->naxes && !swept; a++) swept = !strcmp(s->axes[a], budget_keys[k]);
        for (int r = 0; r < s->nruns && !swept && !held; r++)
            held = sweep_get(s, r, budget_keys[k]) != NULL;
        if (held) s->axes[s->naxes++] = xstrdup(budget_keys[k]);
    }
}

static void add_warning(sweep_t *s, char *msg) {
    s->warnings = xrealloc(s->warnings, sizeof(char *) * (size_t)(s->nwarnings + 1));
    s->warnings[s->nwarnings++] = msg;
}

/* A grid/zip axis that no model of the sweep reads changes no run: say so, naming the key
 * and the models (a typo of a model-scoped key, or a forgotten model). */
static void warn_unread_axes(const parse_t *p, sweep_t *s) {
    for (int a = 0; a < p->naxes; a++) {
        const axis_t *ax = &p->axes[a];
        int read = 0;
        for (int m = 0; m < p->nmodels && !read; m++)
            read = param_model_reads(p->models[m]->name, p->bench->name, ax->key);
        if (read) continue;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        cls_strappend(&buf, &len, &cap, "%s:%zu:%zu: warning: swept key '%s' is read by none of "
                      "the models of this sweep (", p->path, ax->node->start_mark.line + 1,
                      ax->node->start_mark.column + 1, ax->key);
        for (int m = 0; m < p->nmodels; m++)
            cls_strappend(&buf, &len, &cap, "%s%s", m ? ", " : "", p->models[m]->name);
        if (ax->is_dist)
            cls_strappend(&buf, &len, &cap, ") on %s: its draws change no run", p->bench->name);
        else
            cls_strappend(&buf, &len, &cap, ") on %s: its %d values change no run",
                          p->bench->name, ax->nvals);
        add_warning(s, buf);
    }
}

/* The files benchmark's data paths made absolute (relative ones are relative to the sweep
 * file; one path or a list of per-task files). Before cfg_fill_defaults, which reads the data's
 * size: a run's resolved values never depend on the working directory. */
static void files_paths(const parse_t *p, run_config *cfg) {
    if (strcmp(p->bench->name, "files")) return;
    static const char *const keys[4] = {"benchmark.train.x", "benchmark.train.y",
                                        "benchmark.test.x", "benchmark.test.y"};
    char dir[4096] = ".";
    const char *slash = strrchr(p->path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - p->path), p->path);
    if (!dir[0]) snprintf(dir, sizeof dir, "/");
    char *absdir = realpath(dir, NULL);
    for (int i = 0; i < 4; i++) {
        const char *v = cfg_get(cfg, keys[i]);
        if (!v || !*v) continue;   /* prepare_files reports it (for the models that run) */
        char *full = files_resolve(v, absdir);   /* one path or a list of per-task files */
        cfg_set(cfg, keys[i], full);
        free(full);
    }
    free(absdir);
}

/* The files benchmark (paths resolved by files_paths): the content hash of the data files
 * recorded in benchmark.data_hash (so changed data changes every run's identity), and the
 * data loaded and validated once, so that no run is dispatched on bad data. Errors are
 * located at the benchmark entry. */
static int prepare_files(parse_t *p, run_config *cfg) {
    if (strcmp(p->bench->name, "files")) return 0;
    const yaml_node_t *at = top_get(p, "benchmark");
    if (!at) at = p->root;
    static const char *const keys[4] = {"benchmark.train.x", "benchmark.train.y",
                                        "benchmark.test.x", "benchmark.test.y"};
    for (int i = 0; i < 4; i++) {
        const char *v = cfg_get(cfg, keys[i]);
        if (!v || !*v)
            return fail(p, at, "benchmark files needs %s (a .npy, IDX or PATH.nc:VARIABLE file)",
                        keys[i] + strlen("benchmark."));
    }
    uint64_t h;
    char why[1024];
    if (files_data_hash(cfg, &h)) {
        snprintf(why, sizeof why, "%s", cls_geterr());
        return fail(p, at, "benchmark files: %s", why);
    }
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    cfg_set(cfg, "benchmark.data_hash", hex);
    if (files_check(cfg)) {
        snprintf(why, sizeof why, "%s", cls_geterr());
        return fail(p, at, "benchmark files: %s", why);
    }
    return 0;
}

/* Projects cfg (complete, for model m) onto what m reads and appends it to s->runs unless an
 * identical run is there (seen/used: an open-addressing set of hashes, cap a power of two at
 * least twice the runs). Takes cfg. */
static void add_run(const parse_t *p, sweep_t *s, run_config *cfg, const model_ops *m,
                    uint64_t *seen, unsigned char *used, size_t cap) {
    projcache_project(p->proj, cfg, m->name);   /* = cfg_project(cfg, m->name, bench) */
    protocol_mark_tune(&s->protocol, cfg);       /* tuning protocol: a phase-1 run */
    uint64_t h = model_identity_hash(cfg);   /* cfg_hash without location-only keys */
    s->n_before_dedup++;
    size_t slot = (size_t)h & (cap - 1);
    while (used[slot] && seen[slot] != h) slot = (slot + 1) & (cap - 1);
    if (used[slot]) {
        cfg_free(cfg);
        return;
    }
    used[slot] = 1;
    seen[slot] = h;
    /* An unsupported run only records its status: cheap, and the model's cost function need
     * not understand benchmarks it does not support. */
    double cost = !(m->kinds & p->bench->kind) ? 0.0 : m->cost ? m->cost(cfg) : 1.0;
    sweep_add_run(s, cfg, h, cost);   /* into the compact store (runstore.c) */
    cfg_free(cfg);
}

/* A point's configuration (the grid's or a random draw's, with its seed) made a run: data
 * paths resolved, defaults filled for model m, the files benchmark's data checked, then
 * add_run (which takes cfg). Returns 0, or -1 with the error set and cfg freed. */
static int finish_run(parse_t *p, sweep_t *s, run_config *cfg, const model_ops *m,
                      uint64_t *seen, unsigned char *used, size_t cap) {
    files_paths(p, cfg);
    if (cfg_fill_defaults(cfg, m->name, p->bench->name)) {
        cfg_free(cfg);
        fail_here(p, p->root);
        return -1;
    }
    if ((m->kinds & p->bench->kind && prepare_files(p, cfg)) ||
        curve_check_run(cfg, m->name, p->bench->name, p->doc, p->path)) {
        cfg_free(cfg);
        return -1;
    }
    add_run(p, s, cfg, m, seen, used, cap);
    return 0;
}

/* Random search: search.samples points per model, drawn over the axes that model reads, from
 * Philox (search.seed, stream of (model, sample)); an excluded draw is redrawn, at most
 * MAX_REDRAWS times in a row. Then seeds × models × samples, as the grid does. */
#define MAX_REDRAWS 1000
static int group_read(const parse_t *p, int g, const model_ops *m) {
    for (int a = 0; a < p->naxes; a++)
        if (p->axes[a].group == g && param_model_reads(m->name, p->bench->name, p->axes[a].key))
            return 1;
    return 0;
}

/* Whether an exclude entry matches the draw idx; entries naming a group that model m does not
 * read cannot decide its draw and are skipped (its runs do not vary along that key). */
static int excluded_draw(const parse_t *p, const int *idx, const int *read) {
    return p->exidx && exclude_match(p->exidx, idx, read);
}

/* Draws sample i for model m into vals[naxes] (NULL for an axis m does not read). */
static int draw_sample(const parse_t *p, const model_ops *m, long i, char **vals, int *idx,
                       int *read) {
    rng_t r;
    rng_init(&r, p->search_seed, search_stream(m->name, i));
    for (int g = 0; g < p->ngroups; g++) read[g] = group_read(p, g, m);
    for (int t = 0; t < MAX_REDRAWS; t++) {
        for (int g = 0; g < p->ngroups; g++)
            idx[g] = read[g] && p->group_n[g] ? (int)rng_below(&r, (uint32_t)p->group_n[g]) : 0;
        if (excluded_draw(p, idx, read)) continue;
        for (int a = 0; a < p->naxes; a++) {
            const axis_t *ax = &p->axes[a];
            free(vals[a]);
            vals[a] = NULL;
            if (!read[ax->group]) continue;
            if (!ax->is_dist) {
                vals[a] = xstrdup(ax->vals[idx[ax->group]]);
                continue;
            }
            char raw[64], val[VAL_MAX];
            search_dist_draw(&ax->dist, &r, raw, sizeof raw);
            if (param_canonicalise(ax->spec, raw, val, VAL_MAX))
                return fail_here(p, ax->node);
            vals[a] = xstrdup(val);
        }
        return 0;
    }
    return fail(p, p->exclude_node ? p->exclude_node : p->root, "no runs left for model %s: "
                "exclude removed %d draws in a row (the space left is empty or nearly so)",
                m->name, MAX_REDRAWS);
}

static int expand_random(parse_t *p, sweep_t *s) {
    if ((long long)p->samples * p->nseeds * p->nmodels > MAX_RUNS)
        return fail(p, p->root, "the sweep expands to more than %d runs", MAX_RUNS);
    size_t nd = (size_t)p->nmodels * (size_t)p->samples * (size_t)(p->naxes + 1);
    char **vals = xcalloc(nd, sizeof(char *));
    int *idx = xmalloc(sizeof(int) * (size_t)(p->ngroups + 1));
    int *read = xmalloc(sizeof(int) * (size_t)(p->ngroups + 1));
    size_t total = (size_t)p->nseeds * (size_t)p->nmodels * (size_t)p->samples, cap = 16;
    while (cap < 2 * total) cap *= 2;
    uint64_t *seen = xmalloc(sizeof(uint64_t) * cap);
    unsigned char *used = xcalloc(cap, 1);
    int rc = -1;
    for (int mi = 0; mi < p->nmodels; mi++)
        for (long i = 0; i < p->samples; i++)
            if (draw_sample(p, p->models[mi], i,
                            vals + ((size_t)mi * (size_t)p->samples + (size_t)i) *
                                       (size_t)(p->naxes + 1), idx, read))
                goto cleanup;
    s->runs = xmalloc(sizeof(sweep_run) * total);
    s->runs_cap = (int)total;
    for (int si = 0; si < p->nseeds; si++) {
        char seed[32];
        snprintf(seed, sizeof seed, "%lld", p->seeds[si]);
        for (int mi = 0; mi < p->nmodels; mi++) {
            const model_ops *m = p->models[mi];
            for (long i = 0; i < p->samples; i++) {
                char **v = vals + ((size_t)mi * (size_t)p->samples + (size_t)i) *
                                      (size_t)(p->naxes + 1);
                run_config cfg;   /* borrows p's strings: they outlive it (config.h) */
                cfg_copy_static(&cfg, &p->base);
                for (int a = 0; a < p->naxes; a++)
                    if (v[a]) cfg_set_static(&cfg, p->axes[a].key, v[a]);
                cfg_set_static(&cfg, "seed", seed);
                if (finish_run(p, s, &cfg, m, seen, used, cap)) goto cleanup;
            }
        }
    }
    record_axes(p, s);
    warn_unread_axes(p, s);
    rc = 0;
cleanup:
    for (size_t k = 0; k < nd; k++) free(vals[k]);
    free(vals);
    free(idx);
    free(read);
    free(seen);
    free(used);
    return rc;
}

static int expand(parse_t *p, sweep_t *s) {
    p->proj = projcache_new(p->bench->name);
    for (int a = 0; p->random && a < p->naxes; a++)   /* a drawn eval.every (curve_check.c) */
        for (int mi = 0; mi < p->nmodels; mi++) {
            const char *why = curve_check_axis(p->axes[a].key, p->models[mi]->name, p->bench->name);
            if (why) return fail(p, p->axes[a].node, "%s", why);
        }
    if (p->random) return expand_random(p, s);
    long long npoints = 1;
    for (int g = 0; g < p->ngroups; g++) {
        npoints *= p->group_n[g];
        if (npoints * p->nseeds * p->nmodels > MAX_RUNS)
            return fail(p, p->root, "the sweep expands to more than %d runs", MAX_RUNS);
    }
    if (npoints * p->nseeds * p->nmodels > MAX_RUNS)
        return fail(p, p->root, "the sweep expands to more than %d runs", MAX_RUNS);

    int rc = -1, nkept = 0;
    long *kept = xmalloc(sizeof(long) * (size_t)npoints);
    int *idx = xmalloc(sizeof(int) * (size_t)(p->ngroups + 1));
    uint64_t *seen = NULL;
    unsigned char *used = NULL;
    for (long f = 0; f < npoints; f++) {
        point_index(p, f, idx);
        if (!excluded(p, idx)) kept[nkept++] = f;
    }
    if (nkept == 0) {
        fail(p, p->exclude_node ? p->exclude_node : p->root,
             "no runs left: exclude removes all %lld points of the grid", npoints);
        goto cleanup;
    }

    size_t total = (size_t)p->nseeds * (size_t)p->nmodels * (size_t)nkept, cap = 16;
    while (cap < 2 * total) cap *= 2;
    seen = xmalloc(sizeof(uint64_t) * cap);
    used = xcalloc(cap, 1);
    s->runs = xmalloc(sizeof(sweep_run) * total);
    s->runs_cap = (int)total;
    for (int si = 0; si < p->nseeds; si++) {
        char seed[32];
        snprintf(seed, sizeof seed, "%lld", p->seeds[si]);
        for (int mi = 0; mi < p->nmodels; mi++) {
            const model_ops *m = p->models[mi];
            for (int k = 0; k < nkept; k++) {
                run_config cfg;   /* borrows p's strings: they outlive it (config.h) */
                cfg_copy_static(&cfg, &p->base);
                point_index(p, kept[k], idx);
                for (int a = 0; a < p->naxes; a++)
                    cfg_set_static(&cfg, p->axes[a].key, p->axes[a].vals[idx[p->axes[a].group]]);
                cfg_set_static(&cfg, "seed", seed);
                if (finish_run(p, s, &cfg, m, seen, used, cap)) goto cleanup;
            }
        }
    }
    record_axes(p, s);
    warn_unread_axes(p, s);
    rc = 0;
cleanup:
    free(kept);
    free(idx);
    free(seen);
    free(used);
    return rc;
}

/* ---------------------------------------------------------------- entry points */

static void parse_free(parse_t *p) {
    projcache_free(p->proj);
    cfg_free(&p->base);
    for (int i = 0; i < p->nfixed; i++) free(p->fixed[i].key);
    free(p->fixed);
    for (int i = 0; i < p->naxes; i++) {
        free(p->axes[i].key);
        for (int j = 0; j < p->axes[i].nvals; j++) free(p->axes[i].vals[j]);
        free(p->axes[i].vals);
    }
    free(p->axes);
    free(p->group_n);
    for (int i = 0; i < p->nex; i++) {
        for (int j = 0; j < p->ex[i].npairs; j++) free(p->ex[i].pairs[j].val);
        free(p->ex[i].pairs);
    }
    free(p->ex);
    exclude_free(p->exidx);
    free(p->models);
    free(p->seeds);
}

/* "path:line:col: YAML syntax error: ..." from the parser's state. */
static void syntax_error(const char *path, const char *text, const yaml_parser_t *ps) {
    size_t line = ps->problem_mark.line, col = ps->problem_mark.column;
    if (ps->error == YAML_READER_ERROR) {   /* readers give a byte offset, not a mark */
        line = col = 0;
        for (size_t i = 0; i < ps->problem_offset && text[i]; i++) {
            if (text[i] == '\n') line++, col = 0;
            else col++;
        }
    }
    if (ps->context)
        cls_seterr("%s:%zu:%zu: YAML syntax error: %s (%s at line %zu)", path, line + 1,
                   col + 1, ps->problem ? ps->problem : "unknown problem", ps->context,
                   ps->context_mark.line + 1);
    else
        cls_seterr("%s:%zu:%zu: YAML syntax error: %s", path, line + 1, col + 1,
                   ps->problem ? ps->problem : "unknown problem");
}

/* Bounds on the input (docs/reliability.md): a sweep file is read whole into memory, and
 * libyaml's document loader recurses once per level of nesting and rescans its pending simple
 * keys at every token, so neither size nor depth may be left to the file. Real sweep files
 * are a few KiB deep 4 at most. */
#define MAX_SWEEP_BYTES (16 << 20)   /* 16 MiB */
#define MAX_YAML_DEPTH 64             /* nested mappings/sequences */
#define MAX_MAP_KEYS 1000             /* keys of one mapping (there are ~200 settings in all) */

/* Walks the YAML event stream once, before the document is built, and refuses nesting deeper
 * than MAX_YAML_DEPTH at the collection that goes too deep, and a mapping of more than
 * MAX_MAP_KEYS keys at the first key too many (the checks of a mapping compare its keys
 * pairwise): stops there, so that a file of 100,000 '[' fails in microseconds. Lists are
 * not capped here: axis lists are checked in linear time (axis_values). A syntax error is
 * reported as syntax_error does. */
static int check_depth(const char *path, const char *text) {
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        cls_seterr("%s: cannot initialise the YAML parser", path);
        return -1;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, strlen(text));
    int depth = 0, rc = 0;
    long items[MAX_YAML_DEPTH + 2] = {0};   /* nodes directly in the collection at each depth */
    char is_map[MAX_YAML_DEPTH + 2] = {0};
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            syntax_error(path, text, &ps);
            rc = -1;
            break;
        }
        yaml_event_type_t t = ev.type;
        int starts = t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT;
        if ((starts || t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT) && depth > 0 &&
            is_map[depth] && ++items[depth] > 2L * MAX_MAP_KEYS) {  /* keys and values */
            cls_seterr("%s:%zu:%zu: more than %d keys in one mapping: a sweep file needs far "
                       "fewer", path, ev.start_mark.line + 1, ev.start_mark.column + 1,
                       MAX_MAP_KEYS);
            rc = -1;
        } else if (starts) {
            if (++depth > MAX_YAML_DEPTH) {
                cls_seterr("%s:%zu:%zu: nesting deeper than %d levels of lists and mappings: "
                           "a sweep file needs only a few", path, ev.start_mark.line + 1,
                           ev.start_mark.column + 1, MAX_YAML_DEPTH);
                rc = -1;
            } else {
                items[depth] = 0;
                is_map[depth] = t == YAML_MAPPING_START_EVENT;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (rc || t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&ps);
    return rc;
}

/* ---------------------------------------------------------------- programs */

/* FNV-1a over the bytes of file path into *h; 1 when it is a readable regular file. */
static int hash_file(const char *path, uint64_t *h) {
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < k; i++) *h = (*h ^ buf[i]) * 1099511628211ull;
    fclose(f);
    return 1;
}

/* One program model: name → {command: [argv...], kinds: [...], params: {key: {type, default}}}.
 * Each argv element naming an existing file relative to the sweep file's directory stays as
 * written (external.c resolves it against program.dir, which is not in the run id) and its
 * bytes enter program.hash, so editing the script changes the run identity and moving the
 * project directory does not. Or name → {plugin: path/libx.so}: a C plugin (plugin.c). */
static int parse_program(parse_t *p, const yaml_node_t *k, const yaml_node_t *v) {
    const char *name = text(k);
    if (bad_name(name) || strchr(name, '.'))
        return fail(p, k, "program name '%s': expected letters, digits, '_' or '-'", name);
    if (check_mapping(p, v, "a program")) return -1;
    const yaml_node_t *cmd = NULL, *kinds = NULL, *params = NULL, *plug = NULL;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        const char *key = text(node_at(p, a->key));
        yaml_node_t *val = node_at(p, a->value);
        if (!strcmp(key, "plugin")) plug = val;
        else if (!strcmp(key, "command")) cmd = val;
        else if (!strcmp(key, "kinds")) kinds = val;
        else if (!strcmp(key, "params")) params = val;
        else return fail(p, node_at(p, a->key), "unknown key '%s' in program %s: expected "
                         "command, kinds, params (or plugin)", key, name);
    }
    if (plug) {   /* a C plugin: its kinds and params come from the .so (plugin.c) */
        if (cmd || kinds || params)
            return fail(p, cmd ? cmd : kinds ? kinds : params, "program %s: a plugin declares "
                        "its own kinds and params: give either 'plugin:' or 'command:'", name);
        if (want_scalar(p, plug, "the path of a plugin .so")) return -1;
        char *adir = abs_dir_of(p->path);
        const char *model;
        int rc = plugin_declare(adir, text(plug), name, &model);
        free(adir);
        return rc ? fail(p, plug, "program %s: %s", name, cls_geterr()) : 0;
    }
    if (!cmd || cmd->type != YAML_SEQUENCE_NODE || !seq_size(cmd))
        return fail(p, cmd ? cmd : k, "program %s: expected 'command: [program, arg, ...]' "
                    "(an argv list; no shell)", name);
    char *dir = abs_dir_of(p->path);
    json_t *argv = json_array();
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < seq_size(cmd); i++) {
        yaml_node_t *e = seq_item(p, cmd, i);
        if (want_scalar(p, e, "a command word")) goto bad;
        char path[4096];
        const char *w = text(e);
        if (w[0] == '/') snprintf(path, sizeof path, "%s", w);
        else snprintf(path, sizeof path, "%s/%s", dir, w);
        /* a file stays as written (relative to program.dir): the run id must not change
         * when the project directory moves; its bytes enter program.hash */
        if (i > 0 || strchr(w, '/')) hash_file(path, &h);
        json_array_append_new(argv, json_string(w));
    }
    unsigned kind = 0;
    for (int i = 0; kinds && i < seq_size(kinds); i++) {
        yaml_node_t *e = seq_item(p, kinds, i);
        if (want_scalar(p, e, "a benchmark kind")) goto bad;
        if (!strcmp(text(e), "classification")) kind |= BENCH_KIND_CLASSIFICATION;
        else if (!strcmp(text(e), "regression")) kind |= BENCH_KIND_REGRESSION;
        else if (!strcmp(text(e), "reconstruction")) kind |= BENCH_KIND_RECONSTRUCTION;
        else {
            fail(p, e, "unknown kind '%s': expected classification, regression or "
                 "reconstruction", text(e));
            goto bad;
        }
    }
    if (kinds && kinds->type != YAML_SEQUENCE_NODE) {
        fail(p, kinds, "expected a list of kinds like [classification]");
        goto bad;
    }
    if (!kind) kind = BENCH_KIND_CLASSIFICATION;
    int np = params ? map_size(params) : 0;
    if (params && check_mapping(p, params, "program params")) goto bad;
    param_spec *specs = xcalloc((size_t)np + 4, sizeof *specs);
    json_t *types = json_object();
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    char *cmdtext = json_dumps(argv, JSON_COMPACT);
    specs[0] = (param_spec){"program.command", PARAM_STR, cmdtext, NULL, 0, 0,
                            "the program's argv (JSON)"};
    specs[1] = (param_spec){"program.hash", PARAM_STR, xstrdup(hex), NULL, 0, 0,
                            "content hash of the program's files"};
    for (int i = 0; i < np; i++) {
        yaml_node_pair_t *a = params->data.mapping.pairs.start + i;
        const yaml_node_t *pk = node_at(p, a->key), *pv = node_at(p, a->value);
        size_t nl = strlen(name);
        if (strncmp(text(pk), name, nl) || text(pk)[nl] != '.' || !text(pk)[nl + 1]) {
            fail(p, pk, "program param '%s': expected '%s.<key>'", text(pk), name);
            goto bad_specs;
        }
        if (check_mapping(p, pv, "a program param")) goto bad_specs;
        const yaml_node_t *ty = NULL, *def = NULL;
        for (yaml_node_pair_t *b = pv->data.mapping.pairs.start; b < pv->data.mapping.pairs.top; b++) {
            const char *kk = text(node_at(p, b->key));
            if (!strcmp(kk, "type")) ty = node_at(p, b->value);
            else if (!strcmp(kk, "default")) def = node_at(p, b->value);
            else {
                fail(p, node_at(p, b->key), "unknown key '%s': expected type, default", kk);
                goto bad_specs;
            }
        }
        if (!ty || !def || ty->type != YAML_SCALAR_NODE) {
            fail(p, pv, "program param '%s': expected {type: int|float|bool|str, default: V}",
                 text(pk));
            goto bad_specs;
        }
        param_spec *sp = &specs[i + 3];
        const char *t = text(ty);
        sp->type = !strcmp(t, "int") ? PARAM_INT : !strcmp(t, "float") ? PARAM_FLOAT
                   : !strcmp(t, "bool") ? PARAM_BOOL : !strcmp(t, "str") ? PARAM_STR : (param_type)-1;
        if ((int)sp->type < 0) {
            fail(p, ty, "unknown type '%s': expected int, float, bool or str", t);
            goto bad_specs;
        }
        sp->key = xstrdup(text(pk));
        json_object_set_new(types, sp->key, json_string(t));
        sp->lo = -1e300;
        sp->hi = 1e300;
        sp->help = "a program parameter";
        sp->def = "";
        char out[VAL_MAX];
        if (value_text(p, sp, def, out, "")) goto bad_specs;
        sp->def = xstrdup(out);
    }
    /* the types travel with the run, for ranks that never parsed this file */
    specs[2] = (param_spec){"program.types", PARAM_STR, json_dumps(types, JSON_COMPACT | JSON_SORT_KEYS),
                            NULL, 0, 0, "the types of the program's params (JSON)"};
    json_decref(types);
    specs[np + 3] = (param_spec){"program.dir", PARAM_STR, xstrdup(dir), NULL, 0, 0,
                                 "the directory command files are relative to (not in the run id)"};
    int rc = model_register_program(name, kind, specs, np + 4);
    if (rc) fail(p, k, "program %s: %s", name, cls_geterr());
    free(specs);
    json_decref(argv);
    free(dir);
    return rc;
bad_specs:
    json_decref(types);
    free(specs);
bad:
    json_decref(argv);
    free(dir);
    return -1;
}

static int parse_programs(parse_t *p) {
    const yaml_node_t *v = top_get(p, "programs");
    if (!v) return 0;
    if (check_mapping(p, v, "programs")) return -1;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++)
        if (parse_program(p, node_at(p, a->key), node_at(p, a->value))) return -1;
    return 0;
}

/* prune: (prune.h, parsed by prune_cfg.c) once the axes are known: group_by names model,
 * seed or a recorded key. */
static int parse_prune(parse_t *p, sweep_t *s) {
    yaml_node_t *v = top_get(p, "prune");
    if (!v) return 0;
    const char **known = xmalloc(sizeof(char *) * (size_t)(s->naxes + 2));
    known[0] = "model";
    known[1] = "seed";
    for (int i = 0; i < s->naxes; i++) known[i + 2] = s->axes[i];
    int rc = prune_parse(p->path, p->doc, v, known, s->naxes + 2, &s->prune);
    free(known);
    return rc;
}

/* protocol: (protocol.h, parsed by protocol.c): its tune seeds are the expansion's seeds;
 * seeds: and prune: are refused alongside it. */
static int parse_protocol(parse_t *p, sweep_t *s) {
    yaml_node_t *v = top_get(p, "protocol");
    if (!v) return 0;
    if (protocol_parse(p->path, p->doc, v, &s->protocol)) return -1;
    const yaml_node_t *x = top_raw(p, "seeds");
    if (x)
        return fail(p, x, "with protocol:, the seeds are protocol.tune.seeds (phase 1) and "
                    "protocol.evaluate.seeds (phase 2): remove seeds:");
    if ((x = top_get(p, "prune")))
        return fail(p, x, "prune: (successive halving) is not supported with protocol: (a "
                    "candidate pruned on one tune seed would leave the selection): remove one");
    free(p->seeds);
    p->nseeds = s->protocol.ntune;
    p->seeds = xmalloc(sizeof(long long) * (size_t)p->nseeds);
    memcpy(p->seeds, s->protocol.tune_seeds, sizeof(long long) * (size_t)p->nseeds);
    return 0;
}

/* After the expansion: tune.tasks checked against every phase-1 run's stream, then the
 * phase-2 placeholders, models × evaluate seeds (protocol.h), each costed as the mean of its
 * model's phase-1 runs. */
static int protocol_expand(const parse_t *p, sweep_t *s) {
    const protocol_spec *sp = &s->protocol;
    if (!sp->enabled) return 0;
    int n1 = s->nruns;
    for (int i = 0; i < n1; i++) {
        run_config cfg;
        sweep_cfg(s, i, &cfg);
        int rc = protocol_check_tasks(sp, p->path, &cfg, s->runs[i].id);
        cfg_free(&cfg);
        if (rc) return -1;
    }
    for (int mi = 0; mi < p->nmodels; mi++) {
        const char *name = p->models[mi]->name;
        double cost = 0;
        int n = 0;
        for (int i = 0; i < n1; i++)
            if (!strcmp(sweep_str(s, i, "model"), name)) {
                cost += s->runs[i].cost;
                n++;
            }
        for (int e = 0; e < sp->neval; e++) {
            run_config cfg;
            protocol_placeholder(sp, p->bench->name, name, e, &cfg);
            sweep_add_run(s, &cfg, cfg_hash(&cfg), n ? cost / n : 1.0);
            cfg_free(&cfg);
        }
    }
    return 0;
}

int sweep_load_text(sweep_t *s, const char *path, const char *yaml_text) {
    memset(s, 0, sizeof *s);
    s->path = xstrdup(path);
    s->yaml = xstrdup(yaml_text);

    parse_t p;
    memset(&p, 0, sizeof p);
    p.path = path;
    cfg_init(&p.base);

    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int have_parser = 0, have_doc = 0, have_extra = 0, rc = -1;

    if (!yaml_parser_initialize(&parser)) {
        cls_seterr("%s: cannot initialise the YAML parser", path);
        goto cleanup;
    }
    have_parser = 1;
    if (strlen(yaml_text) > MAX_SWEEP_BYTES) {
        cls_seterr("%s: the sweep text is %zu bytes: at most %d MiB", path, strlen(yaml_text),
                   MAX_SWEEP_BYTES >> 20);
        goto cleanup;
    }
    if (check_depth(path, s->yaml)) goto cleanup;
    yaml_parser_set_input_string(&parser, (const unsigned char *)s->yaml, strlen(s->yaml));
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(path, s->yaml, &parser);
        goto cleanup;
    }
    have_doc = 1;
    p.doc = &doc;
    p.root = yaml_document_get_root_node(&doc);
    if (!p.root) {
        cls_seterr("%s:1:1: empty sweep file: expected a mapping with at least 'benchmark'",
                   path);
        goto cleanup;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        syntax_error(path, s->yaml, &parser);
        goto cleanup;
    }
    have_extra = 1;
    yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second) {
        cls_seterr("%s:%zu:%zu: a second YAML document: a sweep file holds one document", path,
                   second->start_mark.line + 1, second->start_mark.column + 1);
        goto cleanup;
    }
    if (check_tags(&p) || parse_top_keys(&p) || parse_benchmark(&p) || parse_scalars(&p, s) ||
        parse_programs(&p) || parse_models(&p) || parse_seeds(&p) || parse_protocol(&p, s) || parse_train(&p) ||
        parse_defaults(&p) || parse_search(&p) || parse_grid(&p) || parse_zip(&p) ||
        parse_exclude(&p) || expand(&p, s) || parse_prune(&p, s) ||
        protocol_expand(&p, s))
        goto cleanup;
    rc = 0;
cleanup:
    if (have_extra) yaml_document_delete(&extra);
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    parse_free(&p);
    if (rc) sweep_free(s);
    return rc;
}

/* Reads the sweep file whole: only a regular file (a FIFO, a device such as /dev/zero or a
 * directory is refused before anything is read; O_NONBLOCK keeps open() of a FIFO from
 * waiting for a writer) of at most MAX_SWEEP_BYTES, counted as it is read, since a file may
 * grow after fstat. */
static char *read_sweep_file(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        cls_seterr("%s: cannot open the sweep file: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cls_seterr("%s: cannot stat the sweep file: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        const char *kind = S_ISDIR(st.st_mode) ? "a directory"
                         : S_ISFIFO(st.st_mode) ? "a FIFO"
                         : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                         : S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file";
        cls_seterr("%s: the sweep file is %s: expected a regular YAML file", path, kind);
        close(fd);
        return NULL;
    }
    if (st.st_size > MAX_SWEEP_BYTES) {
        cls_seterr("%s: the sweep file is %lld bytes: sweep files are limited to %d MiB", path,
                   (long long)st.st_size, MAX_SWEEP_BYTES >> 20);
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 2, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > (size_t)MAX_SWEEP_BYTES + 1) break;
            buf = xrealloc(buf, cap = 2 * cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            cls_seterr("%s: cannot read the sweep file: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (len > MAX_SWEEP_BYTES) {
        cls_seterr("%s: the sweep file grew past %d MiB while being read", path,
                   MAX_SWEEP_BYTES >> 20);
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        cls_seterr("%s: the sweep file contains a NUL byte: expected YAML text", path);
        free(buf);
        return NULL;
    }
    return buf;
}

int sweep_load(sweep_t *s, const char *path) {
    memset(s, 0, sizeof *s);
    char *buf = read_sweep_file(path);
    if (!buf) return -1;
    int rc = sweep_load_text(s, path, buf);
    free(buf);
    return rc;
}

void sweep_free(sweep_t *s) {
    free(s->path);
    free(s->yaml);
    free(s->name);
    free(s->output);
    for (int i = 0; i < s->naxes; i++) free(s->axes[i]);
    free(s->axes);
    for (int i = 0; i < s->nwarnings; i++) free(s->warnings[i]);
    free(s->warnings);
    free(s->runs);
    runstore_free(s->store);
    protocol_spec_free(&s->protocol);
    memset(s, 0, sizeof *s);
}
