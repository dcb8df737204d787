/* ncfile.c — the NetCDF-4 sweep file: its fixed-variable table, define + write
 * (output_write), the schema check and read-back (output_read). Called by the scheduler
 * (write, resume), merge.c and status.c; the schema is shared with them in ncschema.h.
 *
 * ---- NetCDF-4 sweep file schema (clsweep 0.1) ----
 * Dimensions
 *   run        finished runs (results[i] != NULL), in sweep order; unlimited when 0
 *   stage      max nstages over finished runs (at least 1)
 *   task       max ntasks over finished runs (at least 1)
 *   <dim>      one per dimension name used by array extras (e.g. path, block); size = max
 *              over runs (extras over "stage"/"task" share those dimensions)
 *   <name>_strlen  one per text variable: its longest value (at least 1)
 * Variables: the fixed per-run variables of the table ncs_fixed[] below (name, type,
 *   dimensions, attributes; a NC_STRING row is text: char (run, <name>_strlen), NUL-padded,
 *   deflated, _Encoding = "utf-8" — not variable-length strings, whose libhdf5 global heap
 *   costs ~10 us a value; files of the earlier layout, string (run), are read too), then
 *   <axis>(run)            one per swept key of the sweep (grid and zip, in file order),
 *                          named by the key with '.' replaced by "__" (ewc.lambda →
 *                          ewc__lambda), attribute key = the dotted key. double with
 *                          _FillValue NaN (NaN where the run's config lacks the key, i.e.
 *                          the model does not read it) when every present value is a
 *                          number, else text ("" where absent), as above. A key that equals a fixed
 *                          variable name (model, seed) is not duplicated.
 *   <extra>(run[, d0[, d1]]) double, _FillValue NaN: one per extra metric name (scalar,
 *                          1-D or 2-D); attribute clsweep_extra = the extra's name (the
 *                          variable is renamed extra_<name> if that name is taken),
 *                          long_name from the model. Cells beyond a run's shape are NaN.
 *   The per-run descriptors (run_id model benchmark seed <axes>) are listed in the
 *   "coordinates" attribute of the data variables, so xarray opens them as coordinates.
 * Global attributes
 *   title = "clsweep sweep results", sweep_name, sweep_file, sweep_yaml (full text),
 *   clsweep_version, n_runs_total, n_runs_finished, Conventions = "CF-1.8"
 *
 * Reading back (output_read) gives results that output_write turns into the same file: R
 * and R0 are cut to nstages/ntasks; an extra is present for a run when it holds a value
 * there (or, when it holds none anywhere, for every run); an array extra's extent is the
 * file's dimension, except over stage/task, where it is the run's nstages/ntasks (or more if
 * values lie beyond). The schema is checked before anything is allocated: every fixed
 * variable's type and dimensions, every extra's type and dimensions, and the bytes the
 * values need against a budget derived from the file's size (a hostile header cannot make
 * a reader allocate much more than the file holds).
 *
 * The file is built in memory (nc_create_mem), then handed to sf_replace (a temporary file
 * with an unpredictable name, fsync'd, renamed over <path>, directory fsync'd; links and
 * foreign files refused), so <path> is always either the previous or the new complete file.
 * Building in memory keeps I/O errors away from HDF5: an ENOSPC inside HDF5's flush at
 * nc_close leaves its state broken (nc_abort and even exit() then segfault; found by
 * tests/t_bad_env.sh), whereas a failed write(2) of our own is an ordinary error message. */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <netcdf_mem.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncdisk.h"
#include "ncguard.h"
#include "ncschema.h"
#include "registry.h"
#include "resstore.h"
#include "safefile.h"
#include "util.h"

/* ------------------------------------------------------------------------------------ */
/* the fixed per-run variables                                                          */

#define RES(field) offsetof(run_result, field)
#define RESTEXT(field) offsetof(run_result, field), sizeof(((run_result *)0)->field)
#define DIR_BWT                                                                           \
    "negative = forgetting. accuracy: mean_j<T-1 (R[T-1][j] - R[j][j]); for mse metrics the " \
    "sign is flipped, mean (R[j][j] - R[T-1][j]), so negative still means the loss increased"
#define DIR_FORG                                                                          \
    "positive = forgot. accuracy: mean_j<T-1 (max_l<T-1 R[l][j] - R[T-1][j]), the drop in "  \
    "accuracy; for mse metrics mean (R[T-1][j] - min_l<T-1 R[l][j]), the increase in loss"

const ncs_var ncs_fixed[] = {
    {"run_id", NC_STRING, 1, 0, "run identity: hash of the effective configuration", NULL,
     NULL, NULL, 0, NCS_RUN_ID, NULL, 0, 0},
    {"model", NC_STRING, 1, 0, "model", NULL, NULL, NULL, 0, NCS_CFG_TEXT, "model", 0, 0},
    {"benchmark", NC_STRING, 1, 0, "benchmark (benchmark.name)", NULL, NULL, NULL, 0,
     NCS_CFG_TEXT, "benchmark.name", 0, 0},
    {"seed", NC_INT64, 1, 0, "run seed (-1 when the config has none)", NULL, NULL, NULL, 0,
     NCS_CFG_SEED, "seed", 0, 0},
    {"config", NC_STRING, 1, 0, "effective run configuration, key=value in key order", NULL,
     NULL, NULL, 0, NCS_CFG_ALL, NULL, 0, 0},
    {"status", NC_STRING, 1, 0, "run status", NULL, NULL, NULL, NCS_COORDS | NCS_FLAGS,
     NCS_RES_STATUS, NULL, 0, 0},
    {"message", NC_STRING, 1, 0, "why the run failed or diverged (empty when ok)", NULL, NULL,
     NULL, 0, NCS_RES_TEXT, NULL, RESTEXT(message)},
    {"metric", NC_STRING, 1, 0, "metric of R: accuracy or mse", NULL, NULL, NULL, 0,
     NCS_RES_TEXT, NULL, RESTEXT(metric)},
    {"higher_is_better", NC_BYTE, 1, 0,
     "1 when a higher metric is better (accuracy), 0 for losses (mse)", NULL, NULL, NULL, 0,
     NCS_RES_BOOL, NULL, RES(higher_is_better), 0},
    {"nstages", NC_INT, 1, 0, "number of stages of this run (rows of R used)", NULL, NULL, NULL,
     0, NCS_RES_INT, NULL, RES(nstages), 0},
    {"ntasks", NC_INT, 1, 0, "number of tasks of this run (columns of R used)", NULL, NULL,
     NULL, 0, NCS_RES_INT, NULL, RES(ntasks), 0},
    {"R", NC_FLOAT, 3, 1, "metric on task after stage", "1",
     "R[run, i, j] = metric (see metric) on task j after training stage i; cells beyond the "
     "run's nstages/ntasks are fill (NaN)",
     NULL, NCS_COORDS, NCS_RES_R, NULL, 0, 0},
    {"R0", NC_FLOAT, 2, 1, "metric on task at initialisation (b_j)", "1", NULL, NULL,
     NCS_COORDS, NCS_RES_R0, NULL, 0, 0},
    {"acc", NC_DOUBLE, 1, 1, "average metric over tasks after the last stage (ACC)", NULL, NULL,
     "plain mean of the last row of R: for accuracy higher is better; for mse metrics lower "
     "is better",
     NCS_COORDS, NCS_RES_DOUBLE, NULL, RES(acc), 0},
    {"bwt", NC_DOUBLE, 1, 1, "backward transfer (GEM, Lopez-Paz and Ranzato 2017)", NULL, NULL,
     DIR_BWT, NCS_COORDS, NCS_RES_DOUBLE, NULL, RES(bwt), 0},
    {"fwt", NC_DOUBLE, 1, 1, "forward transfer (GEM)", NULL, NULL,
     "positive = earlier training helped. accuracy: mean_j>=1 (R[j-1][j] - R0[j]); for mse "
     "metrics the sign is flipped, mean (R0[j] - R[j-1][j])",
     NCS_COORDS, NCS_RES_DOUBLE, NULL, RES(fwt), 0},
    {"forgetting", NC_DOUBLE, 1, 1, "forgetting (Chaudhry et al. 2018)", NULL, NULL, DIR_FORG,
     NCS_COORDS, NCS_RES_DOUBLE, NULL, RES(forgetting), 0},
    {"wall_seconds", NC_DOUBLE, 1, 0, "wall-clock time of the run", "s", NULL, NULL,
     NCS_COORDS | NCS_TIMING, NCS_RES_DOUBLE, NULL, RES(wall_seconds), 0},
};
const int ncs_nfixed = (int)(sizeof ncs_fixed / sizeof ncs_fixed[0]);

int ncs_is_fixed(const char *name) {
    for (int i = 0; i < ncs_nfixed; i++)
        if (!strcmp(ncs_fixed[i].name, name)) return 1;
    return 0;
}

#define FIELD(r, v, T) ((T *)((char *)(r) + (v)->off))
#define CFIELD(r, v, T) ((const T *)((const char *)(r) + (v)->off))

int ncs_fixed_equal(const ncs_var *v, const run_result *a, const run_result *b) {
    switch (v->src) {
    case NCS_RES_STATUS: return a->status == b->status;
    case NCS_RES_TEXT: return !strcmp(CFIELD(a, v, char), CFIELD(b, v, char));
    case NCS_RES_BOOL: return !*CFIELD(a, v, int) == !*CFIELD(b, v, int);
    case NCS_RES_INT: return *CFIELD(a, v, int) == *CFIELD(b, v, int);
    case NCS_RES_DOUBLE: return !memcmp(CFIELD(a, v, double), CFIELD(b, v, double), sizeof(double));
    case NCS_RES_R:
    case NCS_RES_R0: {
        if (a->nstages != b->nstages || a->ntasks != b->ntasks) return 0;
        const float *x = v->src == NCS_RES_R ? a->R : a->R0, *y = v->src == NCS_RES_R ? b->R : b->R0;
        if (!x != !y) return 0;
        size_t n = (size_t)(a->ntasks > 0 ? a->ntasks : 0);
        if (v->src == NCS_RES_R) n *= (size_t)(a->nstages > 0 ? a->nstages : 0);
        return !x || n == 0 || !memcmp(x, y, n * sizeof *x);
    }
    default: return 1; /* held by the sweep's run, not the result */
    }
}

/* ------------------------------------------------------------------------------------ */
/* writing                                                                              */

/* Checked NetCDF call: on error records where and why, and jumps to this function's
 * cleanup label. nc_path (the file being accessed) must be in scope. */
#define NC_CHECK(call)                                                                   \
    do {                                                                                 \
        int nc_rc_ = (call);                                                             \
        if (nc_rc_ != NC_NOERR) {                                                        \
            cls_seterr("%s: NetCDF: %s (%s:%d)", nc_path, nc_strerror(nc_rc_), __FILE__, \
                       __LINE__);                                                        \
            goto cleanup;                                                                \
        }                                                                                \
    } while (0)

typedef struct {
    char name[RESULT_NAME_MAX];
    size_t size;
    int id;
} nc_dimdef;

typedef struct {
    char name[RESULT_NAME_MAX];    /* the extra's name */
    char var[RESULT_NAME_MAX + 8]; /* its variable name */
    char long_name[96];
    int ndim;
    int dim[2];                    /* indices into the dimension table */
    int src_run;                   /* sweep index of the run that defined it (messages) */
    int varid;
} nc_extradef;

typedef struct {
    char var[NC_MAX_NAME + 1];
    const char *key;
    int numeric;
    int varid;
    size_t width;      /* text axes: the longest value (the _strlen dimension) */
    int dwidth;
} nc_axisdef;

/* Everything output_write decides before creating the file. */
typedef struct {
    const sweep_t *s;
    run_result *const *results;   /* the results, from an array (output_write) */
    const resstore *rs;           /*   or a compact store (output_write_store) */
    int n;             /* finished runs */
    int *runs;         /* (n) their sweep indices */
    int ndims;         /* dims[0] = stage, dims[1] = task, then the extras' */
    nc_dimdef *dims;
    int nextras;
    nc_extradef *ex;
    int naxes;
    nc_axisdef *ax;
    char *coords;      /* the coordinates attribute */
    const char *path;  /* the output (messages) */
    int on_disk;       /* written by ncdisk.c (variables defined in name order) */
    int drun;
    int varid[64];     /* of ncs_fixed[] */
    size_t width[64];  /* text variables of ncs_fixed[]: the longest value */
    int dwidth[64];    /*   and its _strlen dimension */
} out_layout;

static void layout_free(out_layout *L) {
    free(L->runs);
    free(L->dims);
    free(L->ex);
    free(L->ax);
    free(L->coords);
}

static int find_dim(const nc_dimdef *d, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(d[i].name, name)) return i;
    return -1;
}

static int parse_number(const char *s, double *out) {
    if (!s || !*s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) return 0;
    *out = v;
    return 1;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* The dimension index of an extra's dimension d (added when new). -1 with cls_seterr. */
static int extra_dim(out_layout *L, int *cap, const char *path, int run, const result_extra *x,
                     int d) {
    if (!strcmp(x->dim[d], "run") || !x->dim[d][0]) {
        cls_seterr("%s: run %s: extra '%s' uses the reserved dimension name '%s'", path,
                   L->s->runs[run].id, x->name, x->dim[d]);
        return -1;
    }
    int i = find_dim(L->dims, L->ndims, x->dim[d]);
    if (i < 0) {
        if (L->ndims == *cap) {
            *cap *= 2;
            L->dims = xrealloc(L->dims, (size_t)*cap * sizeof *L->dims);
        }
        i = L->ndims++;
        memset(&L->dims[i], 0, sizeof L->dims[0]);
        snprintf(L->dims[i].name, sizeof L->dims[0].name, "%s", x->dim[d]);
    }
    L->dims[i].size = max_sz(L->dims[i].size, (size_t)(x->shape[d] > 0 ? x->shape[d] : 0));
    return i;
}

/* The dimensions (stage, task, the extras') and the extras of the finished runs. */
static int layout_extras(out_layout *L, const char *path) {
    int cap_dims = 2, cap_ex = 0;
    L->dims = xcalloc((size_t)cap_dims, sizeof *L->dims);
    snprintf(L->dims[0].name, sizeof L->dims[0].name, "stage");
    snprintf(L->dims[1].name, sizeof L->dims[1].name, "task");
    L->dims[0].size = L->dims[1].size = 1;
    L->ndims = 2;
    unsigned char *seen = NULL;   /* templates of the store already looked at */
    size_t nseen = 0;
    run_result scratch;
    result_init(&scratch);
    int status = -1;
    for (int k = 0; k < L->n; k++) {
        const run_result *r = L->results ? L->results[L->runs[k]] : NULL;
        if (!r) {
            /* From the store: only one run of each template (same shapes and extras). */
            long t = resstore_template(L->rs, L->runs[k]);
            if (t >= 0 && (size_t)t < nseen && seen[t]) continue;
            if (t >= 0) {
                if ((size_t)t >= nseen) {
                    size_t nn = (size_t)t * 2 + 16;
                    seen = xrealloc(seen, nn);
                    memset(seen + nseen, 0, nn - nseen);
                    nseen = nn;
                }
                seen[t] = 1;
            }
            result_free(&scratch);
            if (resstore_get(L->rs, L->runs[k], &scratch)) continue;
            r = &scratch;
        }
        L->dims[0].size = max_sz(L->dims[0].size, (size_t)(r->nstages > 0 ? r->nstages : 0));
        L->dims[1].size = max_sz(L->dims[1].size, (size_t)(r->ntasks > 0 ? r->ntasks : 0));
        for (int e = 0; e < r->nextra && r->extra; e++) {
            const result_extra *x = &r->extra[e];
            int nd = x->ndim;
            if (nd < 0 || nd > 2) {
                cls_seterr("%s: run %s: extra '%s' has %d dimensions (expected 0, 1 or 2)", path,
                           L->s->runs[L->runs[k]].id, x->name, nd);
                goto done;
            }
            int di[2] = {-1, -1};
            for (int d = 0; d < nd; d++)
                if ((di[d] = extra_dim(L, &cap_dims, path, L->runs[k], x, d)) < 0) goto done;
            int found = -1;
            for (int q = 0; q < L->nextras; q++)
                if (!strcmp(L->ex[q].name, x->name)) found = q;
            if (found >= 0) {
                const nc_extradef *f = &L->ex[found];
                if (f->ndim != nd || (nd > 0 && f->dim[0] != di[0]) || (nd > 1 && f->dim[1] != di[1])) {
                    cls_seterr("%s: extra '%s' has different dimensions in runs %s and %s", path,
                               x->name, L->s->runs[f->src_run].id, L->s->runs[L->runs[k]].id);
                    goto done;
                }
                continue;
            }
            if (L->nextras == cap_ex) {
                cap_ex = cap_ex ? 2 * cap_ex : 8;
                L->ex = xrealloc(L->ex, (size_t)cap_ex * sizeof *L->ex);
            }
            nc_extradef *f = &L->ex[L->nextras++];
            memset(f, 0, sizeof *f);
            snprintf(f->name, sizeof f->name, "%s", x->name);
            snprintf(f->long_name, sizeof f->long_name, "%s", x->long_name);
            f->ndim = nd;
            f->dim[0] = di[0];
            f->dim[1] = di[1];
            f->src_run = L->runs[k];
        }
    }
    /* dims[].size of 0 would make an unlimited dimension: keep every extra dim ≥ 1. */
    for (int d = 0; d < L->ndims; d++)
        if (L->dims[d].size == 0) L->dims[d].size = 1;
    status = 0;
done:
    result_free(&scratch);
    free(seen);
    return status;
}

/* The axis variables, the extras' variable names and the coordinates attribute. */
static void layout_names(out_layout *L) {
    const sweep_t *s = L->s;
    L->ax = xcalloc((size_t)(s->naxes > 0 ? s->naxes : 1), sizeof *L->ax);
    for (int a = 0; a < s->naxes; a++) {
        const char *key = s->axes[a];
        /* A model-scoped key (finetune.train.lr) is in its runs' configurations under its
         * unscoped name (train.lr, registry.h): its column is that key's. */
        char owner[64];
        const char *rest;
        if (param_scoped_split(key, owner, sizeof owner, &rest)) key = rest;
        char var[NC_MAX_NAME + 1];
        size_t len = 0;
        for (const char *p = key; *p && len + 3 < sizeof var; p++) {
            if (*p == '.') {
                var[len++] = '_';
                var[len++] = '_';
            } else {
                var[len++] = *p;
            }
        }
        var[len] = 0;
        if (ncs_is_fixed(var)) continue; /* model/seed: already stored */
        int dup = 0;
        for (int b = 0; b < L->naxes; b++)
            if (!strcmp(L->ax[b].var, var)) dup = 1;
        if (dup) continue;
        nc_axisdef *A = &L->ax[L->naxes++];
        snprintf(A->var, sizeof A->var, "%s", var);
        A->key = key;
        A->numeric = 1;
        for (int k = 0; k < L->n; k++) {
            double v;
            const char *txt = sweep_get(s, L->runs[k], key);
            if (txt && !parse_number(txt, &v)) A->numeric = 0;
        }
    }
    /* Extras whose name is taken by another variable get a prefix. */
    for (int q = 0; q < L->nextras; q++) {
        nc_extradef *x = &L->ex[q];
        snprintf(x->var, sizeof x->var, "%s", x->name);
        for (;;) {
            int taken = ncs_is_fixed(x->var);
            for (int a = 0; a < L->naxes && !taken; a++) taken = !strcmp(L->ax[a].var, x->var);
            for (int p = 0; p < q && !taken; p++) taken = !strcmp(L->ex[p].var, x->var);
            if (!taken) break;
            char prev[sizeof x->var];
            memcpy(prev, x->var, sizeof prev);
            snprintf(x->var, sizeof x->var, "extra_%.*s", (int)sizeof x->var - 7, prev);
        }
    }
    size_t len = 0, cap = 0;
    cls_strappend(&L->coords, &len, &cap, "run_id model benchmark seed");
    for (int a = 0; a < L->naxes; a++) cls_strappend(&L->coords, &len, &cap, " %s", L->ax[a].var);
}

/* The longest value of every text variable (the length of its _strlen dimension; at least
 * 1, as a length of 0 would make it unlimited). */
static void layout_widths(out_layout *L) {
    for (int i = 0; i < ncs_nfixed; i++) L->width[i] = 1;
    for (int a = 0; a < L->naxes; a++) L->ax[a].width = 1;
    for (int k = 0; k < L->n; k++) {
        int run = L->runs[k];
        size_t msg = 0, metric = 0;
        int st = -1;
        const run_result *r = L->results ? L->results[run] : NULL;
        if (r) {
            msg = strnlen(r->message, sizeof r->message);
            metric = strnlen(r->metric, sizeof r->metric);
            st = (int)r->status;
        } else if (L->rs) {
            resstore_text_lens(L->rs, run, &msg, &metric);
            st = resstore_status(L->rs, run);
        }
        for (int i = 0; i < ncs_nfixed; i++) {
            const ncs_var *v = &ncs_fixed[i];
            if (v->type != NC_STRING) continue;
            size_t w = 0;
            const char *t = NULL;
            switch (v->src) {
            case NCS_RUN_ID: t = L->s->runs[run].id; break;
            case NCS_CFG_TEXT: t = sweep_get(L->s, run, v->key); break;
            case NCS_CFG_ALL: w = sweep_cfg_strlen(L->s, run); break;
            case NCS_RES_STATUS: t = st >= 0 ? run_status_name((run_status)st) : NULL; break;
            case NCS_RES_TEXT: w = v->off == offsetof(run_result, message) ? msg : metric; break;
            default: break;
            }
            if (t) w = strlen(t);
            if (w > L->width[i]) L->width[i] = w;
        }
        for (int a = 0; a < L->naxes; a++) {
            if (L->ax[a].numeric) continue;
            const char *t = sweep_get(L->s, run, L->ax[a].key);
            size_t w = t ? strlen(t) : 0;
            if (w > L->ax[a].width) L->ax[a].width = w;
        }
    }
}

static int put_text(int nc, int var, const char *name, const char *val) {
    if (!val) val = "";
    return nc_put_att_text(nc, var, name, strlen(val), val);
}

/* CLSWEEP_NC_TEXT_STRINGS=1 (tests only): text as variable-length strings (run), the layout
 * before issue 23, so that the tests of reading such files can make them. */
static int text_as_strings(void) {
    const char *e = getenv("CLSWEEP_NC_TEXT_STRINGS");
    return e && !strcmp(e, "1");
}

/* Defines a text variable (run, <name>_strlen) of chars, UTF-8 (CF 1.8; netCDF4-python and
 * xarray read it as strings), NUL-padded, deflated in chunks of whole rows. A NetCDF
 * status. */
static int text_as_strings(void);

static int def_text_var(int nc, const char *name, int drun, int dlen, int nruns, size_t width,
                        int *id) {
    if (text_as_strings()) return nc_def_var(nc, name, NC_STRING, 1, &drun, id);
    int dd[2] = {drun, dlen};
    int rc = nc_def_var(nc, name, NC_CHAR, 2, dd, id);
    size_t rows = 1;
    while (rows < 16384 && rows * 2 * width <= (256u << 10) && rows * 2 <= (size_t)(nruns > 1 ? nruns : 1))
        rows *= 2;
    size_t chunk[2] = {rows, width};
    if (rc == NC_NOERR) rc = nc_def_var_chunking(nc, *id, NC_CHUNKED, chunk);
    if (rc == NC_NOERR) rc = nc_def_var_deflate(nc, *id, 0, 1, 1);
    if (rc == NC_NOERR) rc = nc_put_att_text(nc, *id, "_Encoding", 5, "utf-8");
    return rc;
}

/* Writes rows start .. start+n-1 of text variable id (width chars each) from strs. */
static int put_text_rows(int nc, int id, size_t start, size_t n, size_t width, const char *const *strs) {
    if (n == 0) return NC_NOERR;
    if (text_as_strings()) {
        const char **s = xmalloc(n * sizeof *s);
        for (size_t k = 0; k < n; k++) s[k] = strs[k] ? strs[k] : "";
        int rc = nc_put_vara_string(nc, id, &start, &n, s);
        free(s);
        return rc;
    }
    char *buf = xcalloc(n, width);
    for (size_t k = 0; k < n; k++)
        if (strs[k]) memcpy(buf + k * width, strs[k], strnlen(strs[k], width));
    size_t st[2] = {start, 0}, ct[2] = {n, width};
    int rc = nc_put_vara_text(nc, id, st, ct, buf);
    free(buf);
    return rc;
}

/* A variable to define: kind 0 fixed, 1 axis, 2 extra; index in its table. */
typedef struct {
    const char *name;
    int kind, index;
} var_order;

static int cmp_var_order(const void *a, const void *b) {
    return strcmp(((const var_order *)a)->name, ((const var_order *)b)->name);
}

/* Defines the dimensions, variables and global attributes. A file built in memory lists
 * its variables by name (HDF5's name index), one written on disk (ncdisk.c) by creation
 * order: on disk they are created in name order, so both list them alike (in memory the
 * order of old stays, and with it the file's bytes). 0 or -1 with cls_seterr. */
static int define_file(int nc, const char *nc_path, out_layout *L) {
    const double dnan = NAN;
    const float fnan = NAN;
    int nord = 0, status = -1;
    var_order *ord = xmalloc(sizeof *ord * (size_t)(ncs_nfixed + L->naxes + L->nextras));
    for (int i = 0; i < ncs_nfixed; i++) ord[nord++] = (var_order){ncs_fixed[i].name, 0, i};
    for (int a = 0; a < L->naxes; a++) ord[nord++] = (var_order){L->ax[a].var, 1, a};
    for (int q = 0; q < L->nextras; q++) ord[nord++] = (var_order){L->ex[q].var, 2, q};
    if (L->on_disk) qsort(ord, (size_t)nord, sizeof *ord, cmp_var_order);
    /* Every value of every variable is written, so no fill pass is needed: with fill on,
     * HDF5 first stores a fill string per element of each variable-length string variable
     * in its global heap and removes it again when the value is written (H5HG_remove was
     * 30 % of a 100,000-run sweep's samples). The _FillValue attributes stay. */
    int oldfill = 0;
    NC_CHECK(nc_set_fill(nc, NC_NOFILL, &oldfill));
    NC_CHECK(nc_def_dim(nc, "run", (size_t)L->n, &L->drun));
    for (int d = 0; d < L->ndims; d++)
        NC_CHECK(nc_def_dim(nc, L->dims[d].name, L->dims[d].size, &L->dims[d].id));
    /* Text is stored as char arrays, (run, <name>_strlen), not as variable-length strings:
     * HDF5 keeps each variable-length string as an object of its global heap, ~10 us per
     * value to write (issue 23: ~100 s for 10^6 runs), a char array ~0.03 us. */
    char dname[NC_MAX_NAME + 1];
    for (int i = 0; i < ncs_nfixed && !text_as_strings(); i++) {
        if (ncs_fixed[i].type != NC_STRING) continue;
        snprintf(dname, sizeof dname, "%s_strlen", ncs_fixed[i].name);
        NC_CHECK(nc_def_dim(nc, dname, L->width[i], &L->dwidth[i]));
    }
    for (int a = 0; a < L->naxes && !text_as_strings(); a++) {
        if (L->ax[a].numeric) continue;
        snprintf(dname, sizeof dname, "%.*s_strlen", NC_MAX_NAME - 7, L->ax[a].var);
        NC_CHECK(nc_def_dim(nc, dname, L->ax[a].width, &L->ax[a].dwidth));
    }
    int d1[1] = {L->drun};
    for (int o = 0; o < nord; o++) {
      if (ord[o].kind == 0) {
        int i = ord[o].index;
        const ncs_var *v = &ncs_fixed[i];
        int dd[3] = {L->drun, v->ndims == 3 ? L->dims[0].id : L->dims[1].id, L->dims[1].id};
        if (v->type == NC_STRING) {
            dd[1] = L->dwidth[i];
            NC_CHECK(def_text_var(nc, v->name, L->drun, dd[1], L->n, L->width[i], &L->varid[i]));
        } else {
            NC_CHECK(nc_def_var(nc, v->name, v->type, v->ndims, dd, &L->varid[i]));
        }
        int id = L->varid[i];
        if (v->nan_fill && v->type == NC_FLOAT)
            NC_CHECK(nc_put_att_float(nc, id, "_FillValue", NC_FLOAT, 1, &fnan));
        if (v->nan_fill && v->type == NC_DOUBLE)
            NC_CHECK(nc_put_att_double(nc, id, "_FillValue", NC_DOUBLE, 1, &dnan));
        if (v->long_name) NC_CHECK(put_text(nc, id, "long_name", v->long_name));
        if (v->flags & NCS_FLAGS) {
            char names[256] = "";
            for (int st = 0; st < RUN_STATUS_ABANDONED; st++)   /* abandoned: never stored */
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", st ? " " : "",
                         run_status_name((run_status)st));
            NC_CHECK(put_text(nc, id, "flag_values", names));
            NC_CHECK(put_text(nc, id, "flag_meanings", names));
        }
        if (v->units) NC_CHECK(put_text(nc, id, "units", v->units));
        if (v->comment) NC_CHECK(put_text(nc, id, "comment", v->comment));
        if (v->direction) NC_CHECK(put_text(nc, id, "direction", v->direction));
        if (v->flags & NCS_COORDS) NC_CHECK(put_text(nc, id, "coordinates", L->coords));
      } else if (ord[o].kind == 1) {
        nc_axisdef *A = &L->ax[ord[o].index];
        char ln[NC_MAX_NAME + 32];
        if (A->numeric) NC_CHECK(nc_def_var(nc, A->var, NC_DOUBLE, 1, d1, &A->varid));
        else NC_CHECK(def_text_var(nc, A->var, L->drun, A->dwidth, L->n, A->width, &A->varid));
        if (A->numeric) NC_CHECK(nc_put_att_double(nc, A->varid, "_FillValue", NC_DOUBLE, 1, &dnan));
        NC_CHECK(put_text(nc, A->varid, "key", A->key));
        snprintf(ln, sizeof ln, "swept parameter %s", A->key);
        NC_CHECK(put_text(nc, A->varid, "long_name", ln));
      } else {
        nc_extradef *x = &L->ex[ord[o].index];
        int dd[3] = {L->drun, 0, 0};
        for (int d = 0; d < x->ndim; d++) dd[d + 1] = L->dims[x->dim[d]].id;
        NC_CHECK(nc_def_var(nc, x->var, NC_DOUBLE, 1 + x->ndim, dd, &x->varid));
        NC_CHECK(nc_put_att_double(nc, x->varid, "_FillValue", NC_DOUBLE, 1, &dnan));
        NC_CHECK(put_text(nc, x->varid, "long_name", x->long_name[0] ? x->long_name : x->name));
        NC_CHECK(put_text(nc, x->varid, "clsweep_extra", x->name));
        NC_CHECK(put_text(nc, x->varid, "coordinates", L->coords));
      }
    }
    const sweep_t *s = L->s;
    int ntotal = s->nruns;
    NC_CHECK(put_text(nc, NC_GLOBAL, "title", OUTPUT_TITLE));
    NC_CHECK(put_text(nc, NC_GLOBAL, "Conventions", "CF-1.8"));
    NC_CHECK(put_text(nc, NC_GLOBAL, "sweep_name", s->name));
    NC_CHECK(put_text(nc, NC_GLOBAL, "sweep_file", s->path));
    NC_CHECK(put_text(nc, NC_GLOBAL, "sweep_yaml", s->yaml));
    NC_CHECK(put_text(nc, NC_GLOBAL, "clsweep_version", CLS_VERSION));
    NC_CHECK(nc_put_att_int(nc, NC_GLOBAL, "n_runs_total", NC_INT, 1, &ntotal));
    NC_CHECK(nc_put_att_int(nc, NC_GLOBAL, "n_runs_finished", NC_INT, 1, &L->n));
    NC_CHECK(nc_enddef(nc));
    status = 0;
cleanup:
    free(ord);
    return status;
}

/* Runs written at a time: each slice's results are fetched once (unpacked from the store)
 * and every variable's rows of that slice written (issue 23: nothing of size n is built). */
#define CFG_SLICE 16384

/* Writes fixed variable i for the finished runs k0 .. k0+n-1 (of L->runs), whose results
 * are res[0 .. n-1]. 0 or -1 with cls_seterr. */
static int write_fixed(int nc, const char *nc_path, const out_layout *L, int i, int k0_, int n,
                       const run_result *const *res) {
    const ncs_var *v = &ncs_fixed[i];
    int status = -1;
    const int *runs = L->runs + k0_;
    size_t S = L->dims[0].size, T = L->dims[1].size;
    size_t start[3] = {(size_t)k0_, 0, 0}, count[3] = {(size_t)n, v->ndims == 3 ? S : T, T};
    size_t per = v->ndims == 3 ? S * T : v->ndims == 2 ? T : 1;
    void *buf = NULL;
    char **owned = NULL;
    int nowned = 0;
    long long *ll = NULL;
    if (v->type == NC_STRING) {
        /* The configuration texts (~400 bytes a run) are built and written CFG_SLICE runs
         * at a time, not all at once (issue 23: 0.4 GB at 10^6 runs). */
        int slice = v->src == NCS_CFG_ALL && n > CFG_SLICE ? CFG_SLICE : n;
        const char **strs = xcalloc((size_t)(slice > 0 ? slice : 1), sizeof *strs);
        buf = strs;
        if (v->src == NCS_CFG_ALL) owned = xcalloc((size_t)(slice > 0 ? slice : 1), sizeof *owned);
        for (int k0 = 0; k0 == 0 || k0 < n; k0 += slice) {
            int kn = n - k0 < slice ? n - k0 : slice;
            for (int j = 0; j < kn; j++) {
                int k = k0 + j;
                const sweep_run *sr = &L->s->runs[runs[k]];
                const run_result *r = res[k];
                const char *t = "";
                if (v->src == NCS_RUN_ID) t = sr->id;
                else if (v->src == NCS_CFG_TEXT) t = sweep_get(L->s, runs[k], v->key);
                else if (v->src == NCS_CFG_ALL) t = owned[nowned++] = sweep_cfg_string(L->s, runs[k]);
                else if (v->src == NCS_RES_STATUS) t = run_status_name(r->status);
                else if (v->src == NCS_RES_TEXT) t = CFIELD(r, v, char);
                strs[j] = t ? t : "";
            }
            NC_CHECK(put_text_rows(nc, L->varid[i], (size_t)(k0_ + k0), (size_t)kn, L->width[i], strs));
            for (int j = 0; j < nowned; j++) free(owned[j]);
            nowned = 0;
            if (slice <= 0) break;
        }
    } else if (v->type == NC_FLOAT) {
        float *f = xmalloc((size_t)n * per * sizeof *f);
        buf = f;
        for (size_t q = 0; q < (size_t)n * per; q++) f[q] = NAN;
        for (int k = 0; k < n; k++) {
            const run_result *r = res[k];
            const float *src = v->src == NCS_RES_R ? r->R : r->R0;
            if (!src) continue;
            int rows = v->src == NCS_RES_R ? r->nstages : 1;
            for (int a = 0; a < rows; a++)
                for (int b = 0; b < r->ntasks; b++)
                    f[(size_t)k * per + (size_t)a * T + (size_t)b] = src[(size_t)a * (size_t)r->ntasks + (size_t)b];
        }
        NC_CHECK(nc_put_vara_float(nc, L->varid[i], start, count, f));
    } else {
        double *d = xmalloc((size_t)n * sizeof *d);
        if (v->type == NC_INT64) ll = xmalloc((size_t)n * sizeof *ll);
        buf = d;
        for (int k = 0; k < n; k++) {
            const run_result *r = res[k];
            if (v->src == NCS_CFG_SEED && ll) {
                const char *t = sweep_get(L->s, runs[k], v->key);
                char *end = NULL;
                errno = 0;
                ll[k] = t ? strtoll(t, &end, 10) : -1;
                if (t && (end == t || *end || errno)) ll[k] = -1;
            } else if (v->src == NCS_RES_BOOL) {
                d[k] = *CFIELD(r, v, int) ? 1 : 0;
            } else if (v->src == NCS_RES_INT) {
                d[k] = *CFIELD(r, v, int);
            } else {
                d[k] = *CFIELD(r, v, double);
            }
        }
        if (v->type == NC_INT64) {
            NC_CHECK(nc_put_vara_longlong(nc, L->varid[i], start, count, ll));
        } else if (v->type == NC_DOUBLE) {
            NC_CHECK(nc_put_vara_double(nc, L->varid[i], start, count, d));
        } else if (v->type == NC_INT) {
            int *t = xmalloc((size_t)n * sizeof *t);
            for (int k = 0; k < n; k++) t[k] = (int)d[k];
            int rc = nc_put_vara_int(nc, L->varid[i], start, count, t);
            free(t);
            NC_CHECK(rc);
        } else {
            signed char *t = xmalloc((size_t)n);
            for (int k = 0; k < n; k++) t[k] = (signed char)d[k];
            int rc = nc_put_vara_schar(nc, L->varid[i], start, count, t);
            free(t);
            NC_CHECK(rc);
        }
    }
    status = 0;
cleanup:
    for (int k = 0; k < nowned; k++) free(owned[k]);
    free(owned);
    free(ll);
    free(buf);
    return status;
}

/* Writes the axis and extra variables of the runs k0 .. k0+n-1 (results res[0 .. n-1]).
 * 0 or -1 with cls_seterr. */
static int write_axes_extras(int nc, const char *nc_path, const out_layout *L, int k0, int n,
                             const run_result *const *res) {
    int status = -1;
    const int *runs = L->runs + k0;
    size_t start[3] = {(size_t)k0, 0, 0}, count[1] = {(size_t)n};
    double *dbuf = xmalloc((size_t)n * sizeof *dbuf);
    const char **strs = xcalloc((size_t)n, sizeof *strs);
    for (int a = 0; a < L->naxes; a++) {
        const nc_axisdef *A = &L->ax[a];
        for (int k = 0; k < n; k++) {
            const char *v = sweep_get(L->s, runs[k], A->key);
            if (A->numeric && (!v || !parse_number(v, &dbuf[k]))) dbuf[k] = NAN;
            strs[k] = v ? v : "";
        }
        if (A->numeric) NC_CHECK(nc_put_vara_double(nc, A->varid, start, count, dbuf));
        else NC_CHECK(put_text_rows(nc, A->varid, start[0], count[0], A->width, strs));
    }
    for (int q = 0; q < L->nextras; q++) {
        const nc_extradef *e = &L->ex[q];
        size_t c0 = e->ndim > 0 ? L->dims[e->dim[0]].size : 1;
        size_t c1 = e->ndim > 1 ? L->dims[e->dim[1]].size : 1;
        size_t per = c0 * c1;
        double *eb = xmalloc((size_t)n * per * sizeof *eb);
        for (size_t i = 0; i < (size_t)n * per; i++) eb[i] = NAN;
        for (int k = 0; k < n; k++) {
            const result_extra *x = result_find(res[k], e->name);
            if (!x || !x->data) continue;
            if (x->ndim == 0) {
                eb[k] = x->data[0];
                continue;
            }
            size_t s0 = (size_t)(x->shape[0] > 0 ? x->shape[0] : 0);
            size_t s1 = x->ndim > 1 ? (size_t)(x->shape[1] > 0 ? x->shape[1] : 0) : 1;
            for (size_t i = 0; i < s0; i++)
                for (size_t j = 0; j < s1; j++) eb[(size_t)k * per + i * c1 + j] = x->data[i * s1 + j];
        }
        size_t ecount[3] = {(size_t)n, c0, c1};
        int rc = nc_put_vara_double(nc, e->varid, start, ecount, eb);
        free(eb);
        NC_CHECK(rc);
    }
    status = 0;
cleanup:
    free(dbuf);
    free(strs);
    return status;
}

int output_is_ours(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    int nc;
    if (ncg_check(path, NCG_OPEN) || ncs_open(path, &nc)) return 0; /* damaged: ncguard.h */
    nc_close(nc);
    return 1;
}

/* Everything below the file's creation: define, then the runs slice by slice (the store's
 * results unpacked a slice at a time). 0 or -1 with cls_seterr. */
static int fill_file(int nc, void *ctx) {
    out_layout *L = ctx;
    const char *path = L->path;
    if (define_file(nc, path, L)) return -1;
    int slice = L->n < CFG_SLICE ? L->n : CFG_SLICE, status = -1;
    const run_result **res = xcalloc((size_t)(slice > 0 ? slice : 1), sizeof *res);
    run_result *scratch = L->results ? NULL : xcalloc((size_t)(slice > 0 ? slice : 1), sizeof *scratch);
    for (int k0 = 0; k0 < L->n; k0 += slice) {
        int kn = L->n - k0 < slice ? L->n - k0 : slice;
        for (int j = 0; j < kn; j++) {
            if (L->results) {
                res[j] = L->results[L->runs[k0 + j]];
                continue;
            }
            resstore_get(L->rs, L->runs[k0 + j], &scratch[j]);
            res[j] = &scratch[j];
        }
        int rc = 0;
        for (int i = 0; i < ncs_nfixed && !rc; i++) rc = write_fixed(nc, path, L, i, k0, kn, res);
        if (!rc) rc = write_axes_extras(nc, path, L, k0, kn, res);
        for (int j = 0; scratch && j < kn; j++) result_free(&scratch[j]);
        if (rc) goto cleanup;
    }
    status = 0;
cleanup:
    free(res);
    free(scratch);
    return status;
}

/* Above this many finished runs the file is written to disk slice by slice (ncdisk.c: by a
 * child process, so that an HDF5 failure on a full disk stays there) instead of being built
 * in memory (~0.8 KB a run); CLSWEEP_NC_DISK_RUNS overrides it (tests). */
#define NC_MEM_MAX_RUNS 50000

static int write_layout(const char *path, out_layout *L) {
    int nc = -1, status = -1;
    const char *nc_path = path;
    long disk_above = NC_MEM_MAX_RUNS;
    const char *env = getenv("CLSWEEP_NC_DISK_RUNS");
    if (env && *env) disk_above = strtol(env, NULL, 10);
    L->on_disk = L->n > disk_above;
    if (L->on_disk)
        return ncd_write(path, fill_file, L, output_is_ours, "clsweep results file");
    /* The name of an in-memory file is only a label, but nc_abort during define mode
     * remove()s it: give one that cannot exist. */
    NC_CHECK(nc_create_mem("/dev/null/clsweep-in-memory.nc", NC_NETCDF4 | NC_CLOBBER, 4096, &nc));
    if (fill_file(nc, L)) goto cleanup;
    NC_memio mem;
    memset(&mem, 0, sizeof mem);
    int rc = nc_close_memio(nc, &mem);
    if (rc == NC_NOERR) nc = -1; /* on failure the id stays open: cleanup aborts it */
    NC_CHECK(rc);
    rc = sf_replace(path, mem.memory, mem.size, output_is_ours, "clsweep results file");
    free(mem.memory);
    if (rc) goto cleanup;
    status = 0;
cleanup:
    if (nc >= 0) nc_abort(nc);
    return status;
}

static int output_write_src(const char *path, const sweep_t *s, run_result *const *results,
                            const resstore *rs) {
    int status = -1;
    out_layout L;
    memset(&L, 0, sizeof L);
    L.s = s;
    L.results = results;
    L.rs = rs;
    L.path = path;
    if (ncs_nfixed > (int)(sizeof L.varid / sizeof L.varid[0])) {
        cls_seterr("output_write: too many fixed variables");
        return -1;
    }
    L.runs = xmalloc((size_t)(s->nruns > 0 ? s->nruns : 1) * sizeof *L.runs);
    for (int i = 0; i < s->nruns; i++)
        if (results ? results[i] != NULL : rs && resstore_has(rs, i)) L.runs[L.n++] = i;
    if (layout_extras(&L, path)) goto cleanup;
    layout_names(&L);
    layout_widths(&L);
    status = write_layout(path, &L);
cleanup:
    layout_free(&L);
    return status;
}

int output_write(const char *path, const sweep_t *s, run_result *const *results) {
    return output_write_src(path, s, results, NULL);
}

int output_write_store(const char *path, const sweep_t *s, const resstore *rs) {
    return output_write_src(path, s, NULL, rs);
}
