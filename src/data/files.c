/* files.c — the file-defined benchmark `files` (include/files.h): a researcher's own
 * classification data set, given as array files (.npy, IDX, NetCDF variables), split into
 * tasks by classes or given as per-task files, in the task, class or domain scenario.
 *
 * What happens, in order (docs/spec.md, "Your own data"):
 *  1. The four arrays (train x/y, test x/y) are read with array_read and checked: x is uint8
 *     or floating point, 2-D (N, D), 3-D (N, H, W) or 4-D (N, H, W, C) / (N, C, H, W); y is an
 *     integer vector of the same N; labels in [0, 2^20); float data finite.
 *  2. x becomes float32 in C×H×W order: uint8 as v/255 (exactly as the MNIST loader), then
 *     the optional per-channel normalisation (x − mean[c]) / std[c].
 *  3. The classes 0..K−1 (K = 1 + the largest training label) are split into tasks:
 *     `split.classes_per_task` consecutive classes of `split.class_order` (sorted, seed =
 *     a permutation drawn from `split.seed`, or an explicit list "[[0,1],[2,3]]"). Or, with
 *     per-task files (each path key a list "[a, b, ...]", one file per task; build_tasks),
 *     task t's classes are the labels of its training file (task_labels: local offsets them
 *     by the classes of the earlier tasks), and every file is checked as in step 1.
 *  4. Per task, its examples are chosen exactly as the built-in split benchmarks choose them
 *     (same data seed, same shuffle, same order of draws), so a built-in data set converted
 *     to files gives bit-identical runs.
 * The per-task arrays live in a per-process cache keyed by every setting above, built once
 * per rank (before run processes fork, so they share it copy-on-write); a run's bench_t
 * points into the cache instead of copying (bench_t.data_shared, filled by bench.c). Called
 * by bench.c (run time) and by the sweep expander (validation and the content hash); calls
 * arrays, rng, config and util. */
#include "files.h"

#include "arrays.h"
#include "config.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILES_DATA_SEED 0xC15EEDULL   /* the data seed of src/data/bench.c */
#define FILES_MAX_CLASSES (1 << 20)

static const char *const path_keys[4] = {"benchmark.train.x", "benchmark.train.y",
                                         "benchmark.test.x", "benchmark.test.y"};

/* ---- content hash, memoised by path + size + mtime ---- */

typedef struct {
    char *path;
    long long size, mtime_ns;
    uint64_t hash;
} hash_memo;
static hash_memo *memo;
static int nmemo;

static int file_hash(const char *path, uint64_t *out) {
    /* PATH.nc:VAR hashes the file */
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    char *colon = strrchr(p, ':');
    if (colon && array_format_of(p) == ARRAY_UNKNOWN) {
        *colon = 0;
        if (array_format_of(p) != ARRAY_NETCDF) *colon = ':';
    }
    struct stat st;
    if (stat(p, &st)) {
        cls_seterr("%s: no such file", p);
        return -1;
    }
    long long mt = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    for (int i = 0; i < nmemo; i++)
        if (!strcmp(memo[i].path, p) && memo[i].size == (long long)st.st_size &&
            memo[i].mtime_ns == mt) {
            *out = memo[i].hash;
            return 0;
        }
    FILE *f = fopen(p, "rb");
    if (!f) {
        cls_seterr("%s: cannot open", p);
        return -1;
    }
    uint64_t h = 1469598103934665603ULL;
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = cls_fnv1a(h, buf, n);
    int err = ferror(f);
    fclose(f);
    if (err) {
        cls_seterr("%s: read error", p);
        return -1;
    }
    memo = xrealloc(memo, sizeof *memo * (size_t)(nmemo + 1));
    memo[nmemo++] = (hash_memo){xstrdup(p), (long long)st.st_size, mt, h};
    *out = h;
    return 0;
}

/* ---- parsing helpers for list-valued settings ---- */

/* The files one path setting names: one path, or a list "[a, b, c]" (per-task files; the
 * sweep parser stores a YAML list as this flow text). Entries are trimmed; none may be empty
 * or hold ',', '[' or ']'. Returns the count (items malloc'd, each an xstrdup) or -1. */
static int path_list(const char *v, const char *key, char ***items) {
    *items = NULL;
    while (*v == ' ' || *v == '\t') v++;
    if (*v != '[') {
        *items = xmalloc(sizeof(char *));
        (*items)[0] = xstrdup(v);
        return 1;
    }
    int n = 0;
    const char *p = v + 1;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        const char *e = p;
        while (*e && !strchr(",[]", *e)) e++;
        const char *end = e;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if (end == p || (*e != ',' && *e != ']')) goto bad;
        *items = xrealloc(*items, sizeof(char *) * (size_t)(n + 1));
        (*items)[n] = xmalloc((size_t)(end - p) + 1);
        memcpy((*items)[n], p, (size_t)(end - p));
        (*items)[n++][end - p] = 0;
        if (*e == ']') {
            for (e++; *e == ' ' || *e == '\t'; e++) {}
            if (*e) goto bad;
            return n;
        }
        p = e + 1;
    }
bad:
    cls_seterr("%s: expected a file or a list of per-task files [a.npy, b.npy] (no empty entry, "
               "no nested list; a path in a list may not hold ',', '[' or ']')", key);
    for (int i = 0; i < n; i++) free((*items)[i]);
    free(*items);
    *items = NULL;
    return -1;
}

static void list_free(char **items, int n) {
    for (int i = 0; items && i < n; i++) free(items[i]);
    free(items);
}

char *files_resolve(const char *value, const char *dir) {
    char **it;
    int n = path_list(value, "benchmark", &it);
    if (n < 0) return xstrdup(value);   /* files_check reports it */
    size_t cap = 3;
    for (int i = 0; i < n; i++) cap += strlen(it[i]) + (dir ? strlen(dir) : 0) + 3;
    char *out = xmalloc(cap), *o = out;
    int list = value[strspn(value, " \t")] == '[';
    if (list) *o++ = '[';
    for (int i = 0; i < n; i++) {
        if (i) o += sprintf(o, ", ");
        if (it[i][0] != '/' && dir) o += sprintf(o, "%s/", dir);
        o += sprintf(o, "%s", it[i]);
    }
    if (list) *o++ = ']';
    *o = 0;
    list_free(it, n);
    return out;
}

/* Numbers in text like "[0.5, 0.5, 0.5]" or "0.5": up to max into out; count, or -1. */
static int parse_floats(const char *s, double *out, int max) {
    int n = 0;
    while (*s) {
        if (strchr("[](), \t", *s)) {
            s++;
            continue;
        }
        char *end;
        double v = strtod(s, &end);
        if (end == s || n >= max) return -1;
        out[n++] = v;
        s = end;
    }
    return n;
}

/* "[[0,1],[2,3]]" → tasks; returns the number of tasks (each cls[t] malloc'd) or -1. */
static int parse_class_lists(const char *s, int ***cls, int **ncls, int K, const char *key) {
    int depth = 0, ntask = 0, cap = 0, cur = -1;
    *cls = NULL;
    *ncls = NULL;
    char *seen = xcalloc((size_t)K + 1, 1);
    for (const char *p = s; *p; p++) {
        if (*p == '[') {
            if (++depth == 2) {
                if (ntask == cap) {
                    cap = cap ? 2 * cap : 8;
                    *cls = xrealloc(*cls, sizeof(int *) * (size_t)cap);
                    *ncls = xrealloc(*ncls, sizeof(int) * (size_t)cap);
                }
                (*cls)[ntask] = xmalloc(sizeof(int) * (size_t)(K + 1));
                (*ncls)[ntask] = 0;
                cur = ntask++;
            } else if (depth > 2) goto bad;
        } else if (*p == ']') {
            if (depth == 2 && (*ncls)[cur] == 0) goto bad;
            if (--depth < 0) goto bad;
        } else if (*p >= '0' && *p <= '9') {
            if (depth != 2) goto bad;
            char *end;
            long v = strtol(p, &end, 10);
            if (v >= K) {
                cls_seterr("%s: class %ld is not a label of the training data (labels 0..%d)",
                           key, v, K - 1);
                goto fail;
            }
            if (seen[v]++) {
                cls_seterr("%s: class %ld appears in more than one task", key, v);
                goto fail;
            }
            (*cls)[cur][(*ncls)[cur]++] = (int)v;
            p = end - 1;
        } else if (!strchr(", \t", *p)) goto bad;
    }
    if (depth != 0 || ntask == 0) goto bad;
    free(seen);
    return ntask;
bad:
    cls_seterr("%s: expected a list of class lists, e.g. [[0, 1], [2, 3]]", key);
fail:
    free(seen);
    for (int t = 0; t < ntask; t++) free((*cls)[t]);
    free(*cls);
    free(*ncls);
    *cls = NULL;
    *ncls = NULL;
    return -1;
}

/* ---- the loaded, split data set (cached) ---- */

typedef files_data files_set;

static files_set **cache;
static int ncache;

static void set_free(files_set *s) {
    if (!s) return;
    for (int t = 0; t < s->ntasks; t++) {
        bench_task_data *d = &s->tasks[t];
        free(d->x_train);
        free(d->y_train);
        free(d->x_test);
        free(d->y_test);
        free(d->classes);
        free(d->class_mask);
    }
    free(s->tasks);
    free(s->key);
    free(s);
}

void files_cache_free(void) {
    for (int i = 0; i < ncache; i++) set_free(cache[i]);
    free(cache);
    cache = NULL;
    ncache = 0;
    for (int i = 0; i < nmemo; i++) free(memo[i].path);
    free(memo);
    memo = NULL;
    nmemo = 0;
}

typedef struct {
    npy_array x, y;
    int n, c, h, w, dim;
    int *y32;            /* (n) labels */
    long *src;           /* (dim) element offset in an example of CHW index k */
    const double *mean, *sd;
    int nnorm;
    long hw;
} split_arrays;

static const char *cfgs(const run_config *cfg, const char *key, const char *def) {
    const char *v = cfg_get(cfg, key);
    return v ? v : def;
}

/* Reads and checks one (x, y) pair; works out the CHW order of x's elements. */
static int load_pair(split_arrays *a, const char *xp, const char *yp, const char *layout,
                     const double *mean, const double *sd, int nnorm) {
    memset(a, 0, sizeof *a);
    if (array_read(&a->x, xp) || array_read(&a->y, yp)) return -1;
    npy_array *x = &a->x, *y = &a->y;
    if (x->dtype != NPY_U8 && x->dtype != NPY_F32 && x->dtype != NPY_F64) {
        cls_seterr("%s: inputs are %s (expected uint8 pixels or float32/float64 values)", xp,
                   npy_dtype_name(x->dtype));
        return -1;
    }
    if (x->ndims < 2 || x->ndims > 4) {
        cls_seterr("%s: inputs have %d dimensions (expected (N, D), (N, H, W), (N, H, W, C) "
                   "or (N, C, H, W))", xp, x->ndims);
        return -1;
    }
    if (!npy_is_integer(y->dtype)) {
        cls_seterr("%s: labels are %s (expected an integer type)", yp, npy_dtype_name(y->dtype));
        return -1;
    }
    if (!(y->ndims == 1 || (y->ndims == 2 && y->dims[1] == 1))) {
        cls_seterr("%s: labels must be a vector (N,) or (N, 1)", yp);
        return -1;
    }
    if (y->dims[0] != x->dims[0]) {
        cls_seterr("%s: %ld labels for %ld inputs in %s (expected one label per input)", yp,
                   y->dims[0], x->dims[0], xp);
        return -1;
    }
    if (x->dims[0] > (1L << 31) - 1 || x->count / (x->dims[0] ? x->dims[0] : 1) > (1L << 28)) {
        cls_seterr("%s: too large", xp);
        return -1;
    }
    a->n = (int)x->dims[0];
    int nhwc = 0;
    if (x->ndims == 2) {
        a->c = 0;
        a->h = a->w = 0;
        a->dim = (int)x->dims[1];
    } else if (x->ndims == 3) {
        a->c = 1;
        a->h = (int)x->dims[1];
        a->w = (int)x->dims[2];
    } else {
        long d1 = x->dims[1], d3 = x->dims[3];
        int small1 = d1 == 1 || d1 == 3 || d1 == 4, small3 = d3 == 1 || d3 == 3 || d3 == 4;
        if (!strcmp(layout, "nhwc") || (!strcmp(layout, "auto") && small3 && !small1)) nhwc = 1;
        else if (!strcmp(layout, "nchw") || (!strcmp(layout, "auto") && small1 && !small3))
            nhwc = 0;
        else {
            cls_seterr("%s: cannot tell (N, H, W, C) from (N, C, H, W) for shape (%ld, %ld, %ld, "
                       "%ld): set benchmark.layout to nhwc or nchw", xp, x->dims[0], d1,
                       x->dims[2], d3);
            return -1;
        }
        a->c = (int)(nhwc ? d3 : d1);
        a->h = (int)(nhwc ? d1 : x->dims[2]);
        a->w = (int)(nhwc ? x->dims[2] : d3);
    }
    if (a->c) a->dim = a->c * a->h * a->w;
    int C = a->c ? a->c : 1;
    if (nnorm && nnorm != 1 && nnorm != C) {
        cls_seterr("%s: benchmark.normalize has %d values for %d channels (expected 1 or %d)", xp,
                   nnorm, C, C);
        return -1;
    }
    a->hw = a->c ? (long)a->h * a->w : a->dim;
    a->src = xmalloc(sizeof(long) * ((size_t)a->dim + 1));
    for (long k = 0; k < a->dim; k++)   /* CHW index k = ch*hw + p; NHWC source = p*C + ch */
        a->src[k] = nhwc ? (k % a->hw) * C + k / a->hw : k;
    a->mean = mean;
    a->sd = sd;
    a->nnorm = nnorm;
    if (x->dtype != NPY_U8)
        for (long i = 0; i < x->count; i++) {
            double v = x->dtype == NPY_F32 ? ((const float *)x->data)[i]
                                           : ((const double *)x->data)[i];
            if (!isfinite(v) || !isfinite((float)v)) {
                cls_seterr("%s: non-finite value at input %ld, element %ld (expected finite "
                           "data)", xp, i / a->dim, i % a->dim);
                return -1;
            }
        }
    a->y32 = xmalloc(sizeof(int) * ((size_t)a->n + 1));
    for (long i = 0; i < a->n; i++) {
        int64_t l = npy_get_i64(y, i);
        if (l < 0 || l >= FILES_MAX_CLASSES) {
            cls_seterr("%s: label %lld at index %ld is out of range (expected 0 .. %d)", yp,
                       (long long)l, i, FILES_MAX_CLASSES - 1);
            return -1;
        }
        a->y32[i] = (int)l;
    }
    npy_free(y);
    return 0;
}

static void pair_free(split_arrays *a) {
    npy_free(&a->x);
    npy_free(&a->y);
    free(a->y32);
    free(a->src);
}

/* One example as float32 CHW into dst: uint8 as v/255 (the MNIST loader's table), then the
 * optional per-channel normalisation. */
static void convert(const split_arrays *a, long i, float *dst) {
    static float scale[256];
    if (scale[255] == 0.0f)
        for (int v = 0; v < 256; v++) scale[v] = (float)v / 255.0f;
    const npy_array *x = &a->x;
    size_t base = (size_t)i * (size_t)a->dim;
    for (long k = 0; k < a->dim; k++) {
        size_t at = base + (size_t)a->src[k];
        float v;
        if (x->dtype == NPY_U8) v = scale[((const uint8_t *)x->data)[at]];
        else if (x->dtype == NPY_F32) v = ((const float *)x->data)[at];
        else v = (float)((const double *)x->data)[at];
        dst[k] = v;
    }
    if (a->nnorm)
        for (long k = 0; k < a->dim; k++) {
            int ch = a->nnorm == 1 ? 0 : (int)(k / a->hw);
            dst[k] = (float)((dst[k] - a->mean[ch]) / a->sd[ch]);
        }
}

/* The examples of classes cls[0..nc) in dataset order, shuffled with r, the first limit. */
static void take(const split_arrays *a, const int *cls, int nc, int limit, rng_t *r,
                 int domain, float **xo, int **yo, int *no) {
    int *idx = xmalloc(sizeof(int) * ((size_t)a->n + 1));
    int n = 0;
    for (int i = 0; i < a->n; i++) {
        int l = a->y32[i];
        for (int c = 0; c < nc; c++)
            if (l == cls[c]) {
                idx[n++] = i;
                break;
            }
    }
    rng_shuffle(r, idx, n);
    if (limit > 0 && limit < n) n = limit;
    float *x = xmalloc(sizeof(float) * ((size_t)n * (size_t)a->dim + 1));
    int *y = xmalloc(sizeof(int) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        convert(a, idx[i], x + (size_t)i * a->dim);
        int l = a->y32[idx[i]];
        if (domain)
            for (int c = 0; c < nc; c++)
                if (cls[c] == l) {
                    l = c;
                    break;
                }
        y[i] = l;
    }
    free(idx);
    *xo = x;
    *yo = y;
    *no = n;
}

static char *set_key(const run_config *cfg) {
    static const char *keys[] = {"benchmark.train.x", "benchmark.train.y", "benchmark.test.x",
                                 "benchmark.test.y", "benchmark.layout", "benchmark.normalize.mean",
                                 "benchmark.normalize.std", "benchmark.split.classes_per_task",
                                 "benchmark.split.class_order", "benchmark.split.seed",
                                 "benchmark.scenario", "benchmark.task_labels", "benchmark.train_per_task",
                                 "benchmark.test_per_task", "benchmark.data_hash"};
    /* the data's hash: the expander's, or (before it is set, e.g. when cfg_fill_defaults asks
     * for the data's size) the same hash computed here, so both share one cache entry */
    char hex[24] = "";
    uint64_t h;
    const char *dh = cfgs(cfg, "benchmark.data_hash", "");
    if (!*dh && !files_data_hash(cfg, &h)) snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    size_t len = 1 + strlen(hex);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) len += strlen(cfgs(cfg, keys[i], "")) + 1;
    char *k = xmalloc(len), *p = k;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        p += sprintf(p, "%s\n", i + 1 == sizeof keys / sizeof keys[0] && *hex ? hex
                                                                               : cfgs(cfg, keys[i], ""));
    return k;
}

/* The tasks' data from their classes: task t's examples come from tr[t]/te[t] (per-task
 * files) or tr[0]/te[0] (a class split), drawn from one selection stream in task order
 * (training, then test), exactly as the built-in split benchmarks draw them. yn[t] / tyn[t]:
 * the label files named in errors. */
static files_set *fill_tasks(const run_config *cfg, split_arrays *tr, split_arrays *te,
                             int per_task, int **cls, const int *ncls, int ntask, int K,
                             char **yn, char **tyn) {
    const char *scen = cfgs(cfg, "benchmark.scenario", "task");
    int domain = !strcmp(scen, "domain"), masked = !strcmp(scen, "task");
    if (domain)
        for (int t = 1; t < ntask; t++)
            if (ncls[t] != ncls[0]) {
                cls_seterr("benchmark.scenario domain needs the same number of classes in every "
                           "task (task 0 has %d, task %d has %d)", ncls[0], t, ncls[t]);
                return NULL;
            }
    files_set *s = xcalloc(1, sizeof *s);
    s->ntasks = ntask;
    s->K = K;
    s->out_dim = domain ? ncls[0] : K;
    s->c = tr[0].c;
    s->h = tr[0].h;
    s->w = tr[0].w;
    s->dim = tr[0].dim;
    s->tasks = xcalloc((size_t)ntask, sizeof *s->tasks);
    int ntr = (int)strtol(cfgs(cfg, "benchmark.train_per_task", "0"), NULL, 10);
    int nte = (int)strtol(cfgs(cfg, "benchmark.test_per_task", "0"), NULL, 10);
    rng_t r;
    rng_init(&r, FILES_DATA_SEED, 1);   /* the built-in split benchmarks' selection stream */
    for (int t = 0; t < ntask; t++) {
        bench_task_data *d = &s->tasks[t];
        int f = per_task ? t : 0;
        take(&tr[f], cls[t], ncls[t], ntr, &r, domain, &d->x_train, &d->y_train, &d->n_train);
        take(&te[f], cls[t], ncls[t], nte, &r, domain, &d->x_test, &d->y_test, &d->n_test);
        d->nclasses = ncls[t];
        d->classes = xmalloc(sizeof(int) * (size_t)ncls[t]);
        for (int c = 0; c < ncls[t]; c++) d->classes[c] = domain ? c : cls[t][c];
        if (masked) {
            d->class_mask = xcalloc((size_t)s->out_dim, sizeof(int));
            for (int c = 0; c < ncls[t]; c++) d->class_mask[cls[t][c]] = 1;
        }
        if (ncls[t] == 2) snprintf(d->name, sizeof d->name, "%d-%d", cls[t][0], cls[t][1]);
        else snprintf(d->name, sizeof d->name, "t%d", t);
        if (d->n_train == 0 || d->n_test == 0) {
            cls_seterr("%s: task %d (classes %d...) has no %s examples",
                       d->n_train ? tyn[f] : yn[f], t, cls[t][0],
                       d->n_train ? "test" : "training");
            set_free(s);
            return NULL;
        }
    }
    return s;
}

/* The class split of one (x, y) pair (split.classes_per_task, split.class_order). */
static files_set *build_split(const run_config *cfg, char **p, const char *layout,
                              const double *mean, const double *sd, int nm) {
    split_arrays tr, te;
    memset(&te, 0, sizeof te);
    files_set *s = NULL;
    int **cls = NULL, *ncls = NULL, ntask = 0;
    if (load_pair(&tr, p[0], p[1], layout, mean, sd, nm)) goto out;
    if (load_pair(&te, p[2], p[3], layout, mean, sd, nm)) goto out;
    if (te.c != tr.c || te.h != tr.h || te.w != tr.w || te.dim != tr.dim) {
        cls_seterr("%s: test inputs have shape C×H×W = %d×%d×%d (D %d) but training inputs "
                   "%d×%d×%d (D %d) (expected the same)", p[2], te.c, te.h, te.w, te.dim, tr.c,
                   tr.h, tr.w, tr.dim);
        goto out;
    }
    int K = 0;
    for (int i = 0; i < tr.n; i++) {
        int l = tr.y32[i];
        if (l + 1 > K) K = l + 1;
    }
    for (int i = 0; i < te.n; i++)
        if (te.y32[i] >= K) {
            cls_seterr("%s: label %d at index %d does not occur in the training labels "
                       "(expected 0 .. %d)", p[3], te.y32[i], i, K - 1);
            goto out;
        }
    if (K < 2) {
        cls_seterr("%s: fewer than 2 classes", p[1]);
        goto out;
    }
    const char *order = cfgs(cfg, "benchmark.split.class_order", "sorted");
    int cpt = (int)strtol(cfgs(cfg, "benchmark.split.classes_per_task", "2"), NULL, 10);
    if (order[0] == '[') {
        ntask = parse_class_lists(order, &cls, &ncls, K, "benchmark.split.class_order");
        if (ntask < 0) goto out;
    } else {
        if (cpt < 1 || K % cpt) {
            cls_seterr("benchmark.split.classes_per_task = %d does not divide the %d classes of "
                       "%s (expected a divisor of %d, or an explicit class_order list)", cpt, K,
                       p[1], K);
            goto out;
        }
        int *perm = xmalloc(sizeof(int) * (size_t)K);
        for (int c = 0; c < K; c++) perm[c] = c;
        if (!strcmp(order, "seed")) {
            rng_t r;
            rng_init(&r, FILES_DATA_SEED ^ (uint64_t)strtoll(cfgs(cfg, "benchmark.split.seed", "0"),
                                                               NULL, 10), 11);
            rng_shuffle(&r, perm, K);
        } else if (strcmp(order, "sorted")) {
            free(perm);
            cls_seterr("benchmark.split.class_order: '%s' (expected sorted, seed or a list of "
                       "class lists)", order);
            goto out;
        }
        ntask = K / cpt;
        cls = xmalloc(sizeof(int *) * (size_t)ntask);
        ncls = xmalloc(sizeof(int) * (size_t)ntask);
        for (int t = 0; t < ntask; t++) {
            cls[t] = xmalloc(sizeof(int) * (size_t)cpt);
            ncls[t] = cpt;
            for (int c = 0; c < cpt; c++) cls[t][c] = perm[t * cpt + c];
        }
        free(perm);
    }
    s = fill_tasks(cfg, &tr, &te, 0, cls, ncls, ntask, K, &p[1], &p[3]);
out:
    for (int t = 0; cls && t < ntask; t++) free(cls[t]);
    free(cls);
    free(ncls);
    pair_free(&tr);
    pair_free(&te);
    return s;
}

/* Per-task files: task t is the pair (train.x[t], train.y[t]) / (test.x[t], test.y[t]); its
 * classes are the labels of its training file (task_labels: local offsets them by the classes
 * of the earlier tasks). Every file is checked as in a class split, and all must have the
 * inputs' shape of task 0's training file. */
static files_set *build_tasks(const run_config *cfg, char ***L, int n, const char *layout,
                              const double *mean, const double *sd, int nm) {
    if (strcmp(cfgs(cfg, "benchmark.split.class_order", "sorted"), "sorted") ||
        strcmp(cfgs(cfg, "benchmark.split.classes_per_task", "2"), "2")) {
        cls_seterr("benchmark.split does not apply to per-task files (each task's classes are "
                   "the labels of its training file): leave split out");
        return NULL;
    }
    const char *tl = cfgs(cfg, "benchmark.task_labels", "global");
    int local = !strcmp(tl, "local");
    if (!local && strcmp(tl, "global")) {
        cls_seterr("benchmark.task_labels: '%s' (expected global or local)", tl);
        return NULL;
    }
    split_arrays *tr = xcalloc((size_t)n, sizeof *tr), *te = xcalloc((size_t)n, sizeof *te);
    int **cls = xcalloc((size_t)n, sizeof *cls), *ncls = xcalloc((size_t)n, sizeof *ncls);
    files_set *s = NULL;
    int K = 0, off = 0;
    for (int t = 0; t < n; t++) {
        if (load_pair(&tr[t], L[0][t], L[1][t], layout, mean, sd, nm) ||
            load_pair(&te[t], L[2][t], L[3][t], layout, mean, sd, nm))
            goto out;
        for (int k = 0; k < 2; k++) {
            const split_arrays *a = k ? &te[t] : &tr[t];
            if (a->c != tr[0].c || a->h != tr[0].h || a->w != tr[0].w || a->dim != tr[0].dim) {
                cls_seterr("%s: inputs have shape C×H×W = %d×%d×%d (D %d) but task 0's training "
                           "inputs %s %d×%d×%d (D %d) (expected the same in every file)",
                           L[2 * k][t], a->c, a->h, a->w, a->dim, L[0][0], tr[0].c, tr[0].h,
                           tr[0].w, tr[0].dim);
                goto out;
            }
        }
        int kt = 0;
        for (int i = 0; i < tr[t].n; i++)
            if (tr[t].y32[i] + 1 > kt) kt = tr[t].y32[i] + 1;
        if (kt == 0) {
            cls_seterr("%s: no examples (expected at least one per task)", L[1][t]);
            goto out;
        }
        if (local && (long)off + kt > FILES_MAX_CLASSES) {
            cls_seterr("%s: more than %d classes over all tasks", L[1][t], FILES_MAX_CLASSES);
            goto out;
        }
        char *has = xcalloc((size_t)kt, 1);   /* the labels as in the files */
        for (int i = 0; i < tr[t].n; i++) has[tr[t].y32[i]] = 1;
        for (int i = 0; i < te[t].n; i++) {
            int l = te[t].y32[i];
            if (l >= kt || !has[l]) {
                cls_seterr("%s: label %d at index %d is not a class of task %d's training file "
                           "%s (expected one of its labels%s)", L[3][t], l, i, t, L[1][t],
                           local ? ", counted from 0 in each task" : "");
                free(has);
                goto out;
            }
        }
        int lo = local ? off : 0, hi = lo + kt;   /* this task's labels now lie in [lo, hi) */
        cls[t] = xmalloc(sizeof(int) * (size_t)kt);
        for (int c = 0; c < kt; c++)
            if (has[c]) cls[t][ncls[t]++] = lo + c;
        free(has);
        for (int i = 0; local && i < tr[t].n; i++) tr[t].y32[i] += off;
        for (int i = 0; local && i < te[t].n; i++) te[t].y32[i] += off;
        if (hi > K) K = hi;
        off += kt;
    }
    if (K < 2) {
        cls_seterr("%s: fewer than 2 classes over all tasks", L[1][0]);
        goto out;
    }
    s = fill_tasks(cfg, tr, te, 1, cls, ncls, n, K, L[1], L[3]);
out:
    for (int t = 0; t < n; t++) {
        pair_free(&tr[t]);
        pair_free(&te[t]);
        free(cls[t]);
    }
    free(tr);
    free(te);
    free(cls);
    free(ncls);
    return s;
}

static files_set *build(const run_config *cfg) {
    const char *layout = cfgs(cfg, "benchmark.layout", "auto");
    double mean[64], sd[64];
    int nm = parse_floats(cfgs(cfg, "benchmark.normalize.mean", ""), mean, 64);
    int ns = parse_floats(cfgs(cfg, "benchmark.normalize.std", ""), sd, 64);
    if (nm < 0 || ns < 0 || nm != ns) {
        cls_seterr("benchmark.normalize: mean and std must be lists of the same length "
                   "(one value, or one per channel)");
        return NULL;
    }
    for (int i = 0; i < ns; i++)
        if (!(sd[i] > 0) || !isfinite(mean[i])) {
            cls_seterr("benchmark.normalize: std must be > 0 and mean finite");
            return NULL;
        }
    char **L[4] = {NULL, NULL, NULL, NULL};
    int n[4] = {0, 0, 0, 0}, lists = 0;
    files_set *s = NULL;
    for (int i = 0; i < 4; i++) {
        const char *v = cfg_get(cfg, path_keys[i]);
        if (!v || !*v) {
            cls_seterr("benchmark 'files' needs %s (a .npy, IDX or PATH.nc:VARIABLE file)",
                       path_keys[i]);
            goto out;
        }
        lists |= (v[strspn(v, " \t")] == '[') << i;
        if ((n[i] = path_list(v, path_keys[i], &L[i])) < 0) goto out;
    }
    if (lists && lists != 15) {
        int one = 0, many = 0;
        while (lists >> one & 1) one++;
        while (!(lists >> many & 1)) many++;
        cls_seterr("%s is one file but %s a list of per-task files (expected a list of one file "
                   "per task in each of train.x, train.y, test.x, test.y, or one file in each)",
                   path_keys[one], path_keys[many]);
        goto out;
    }
    for (int i = 1; i < 4; i++)
        if (n[i] != n[0]) {
            cls_seterr("%s lists %d files but %s %d (expected one file per task in each)",
                       path_keys[i], n[i], path_keys[0], n[0]);
            goto out;
        }
    s = lists ? build_tasks(cfg, L, n[0], layout, mean, sd, nm)
              : build_split(cfg, (char *[]){L[0][0], L[1][0], L[2][0], L[3][0]}, layout, mean, sd,
                            nm);
out:
    for (int i = 0; i < 4; i++) list_free(L[i], n[i] > 0 ? n[i] : 0);
    return s;
}

static const files_set *get_set(const run_config *cfg) {
    char *key = set_key(cfg);
    for (int i = 0; i < ncache; i++)
        if (!strcmp(cache[i]->key, key)) {
            free(key);
            return cache[i];
        }
    files_set *s = build(cfg);
    if (!s) {
        free(key);
        return NULL;
    }
    s->key = key;
    cache = xrealloc(cache, sizeof *cache * (size_t)(ncache + 1));
    cache[ncache++] = s;
    return s;
}

int files_data_hash(const run_config *cfg, uint64_t *hash) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 4; i++) {
        const char *p = cfg_get(cfg, path_keys[i]);
        if (!p || !*p) {
            cls_seterr("benchmark 'files' needs %s (a .npy, IDX or PATH.nc:VARIABLE file)",
                       path_keys[i]);
            return -1;
        }
        char **it;
        int n = path_list(p, path_keys[i], &it);
        if (n < 0) return -1;
        for (int j = 0; j < n; j++) {
            uint64_t fh;
            if (file_hash(it[j], &fh)) {
                list_free(it, n);
                return -1;
            }
            h = cls_fnv1a(h, &fh, sizeof fh);
        }
        list_free(it, n);
    }
    *hash = h;
    return 0;
}

int files_check(const run_config *cfg) { return get_set(cfg) ? 0 : -1; }

const files_data *files_get(const run_config *cfg) { return get_set(cfg); }
