/* ncread.c — reading the NetCDF sweep file back: opening with the title check, the schema
 * check that runs before any allocation (ncschema.h), and output_read (output.h), which
 * rebuilds every run's result so that output_write gives the same file again. Called by the
 * scheduler (resume without a journal), merge.c and status.c. The schema itself and the
 * read-back rules are described in ncfile.c. */
#include "output.h"

#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncguard.h"
#include "ncschema.h"
#include "util.h"

#define NC_CHECK(call)                                                                   \
    do {                                                                                 \
        int nc_rc_ = (call);                                                             \
        if (nc_rc_ != NC_NOERR) {                                                        \
            cls_seterr("%s: NetCDF: %s (%s:%d)", nc_path, nc_strerror(nc_rc_), __FILE__, \
                       __LINE__);                                                        \
            goto cleanup;                                                                \
        }                                                                                \
    } while (0)

/* A reader may allocate this many bytes per byte of file, plus a floor: clsweep stores
 * every value uncompressed, so its own files need about 1x; the margin covers HDF5's
 * variable-length strings (a pointer per string) and small files. */
#define BUDGET_PER_BYTE 16ULL
#define BUDGET_FLOOR (64ULL << 20)
#define TEXT_BUDGET_PER_BYTE 1100ULL /* > zlib's largest ratio (~1,032:1) */

/* 1 when path starts with the HDF5 signature (every file clsweep writes is NetCDF-4, i.e.
 * HDF5 with the signature at offset 0). Checked before nc_open: libnetcdf's parser of the
 * classic format allocates what a damaged header claims (4 GiB, found by fuzz_nc). */
static int hdf5_signature(const char *path) {
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    return got == sizeof sig && !memcmp(sig, "\x89HDF\r\n\x1a\n", 8);
}

int ncs_open(const char *path, int *ncp) {
    if (!hdf5_signature(path)) {
        cls_seterr("%s: not a readable NetCDF file of the kind clsweep writes (NetCDF-4/HDF5; "
                   "it does not start with the HDF5 signature)", path);
        return -1;
    }
    int nc, rc = nc_open(path, NC_NOWRITE, &nc);
    if (rc != NC_NOERR) {
        cls_seterr("%s: not a readable NetCDF file (%s)", path, nc_strerror(rc));
        return -1;
    }
    char *title = ncs_text_att(nc, NC_GLOBAL, "title");
    int ok = title && !strcmp(title, OUTPUT_TITLE);
    free(title);
    if (!ok) {
        cls_seterr("%s: not a clsweep results file (no global attribute title = \"%s\")", path,
                   OUTPUT_TITLE);
        nc_close(nc);
        return -1;
    }
    *ncp = nc;
    return 0;
}

char *ncs_text_att(int nc, int var, const char *name) {
    nc_type type;
    size_t len;
    if (nc_inq_att(nc, var, name, &type, &len) != NC_NOERR || type != NC_CHAR) return NULL;
    if (len > (64u << 20)) return NULL; /* no clsweep text attribute is this long */
    char *s = xmalloc(len + 1);
    if (nc_get_att_text(nc, var, name, s) != NC_NOERR) {
        free(s);
        return NULL;
    }
    s[len] = 0;
    return s;
}

int ncs_text_budget(const ncs_file *f, const char *what, size_t rows, size_t width) {
    unsigned long long b = f->text_budget;
    if (rows && width > b / rows) {
        cls_seterr("%s: %s claims %zu x %zu characters, more than a file of this size can hold "
                   "(a damaged or foreign file?)", f->path, what, rows, width);
        return -1;
    }
    return 0;
}

size_t ncs_text_rows(size_t width) {
    size_t rows = (4u << 20) / (width ? width : 1);
    return rows ? rows : 1;
}

int ncs_budget(const ncs_file *f, const char *what, size_t count, size_t count2, size_t elsize) {
    unsigned long long b = f->budget;
    if ((count && count2 > b / count) || (count && count2 && elsize > b / (count * count2))) {
        cls_seterr("%s: %s claims %zu x %zu values, more than a file of this size can hold "
                   "(a damaged or foreign file?)", f->path, what, count, count2);
        return -1;
    }
    return 0;
}

static const char *type_name(nc_type t) {
    switch (t) {
    case NC_STRING: return "string";
    case NC_INT64: return "int64";
    case NC_INT: return "int";
    case NC_BYTE: return "byte";
    case NC_FLOAT: return "float";
    case NC_DOUBLE: return "double";
    default: return "another type";
    }
}

/* Checks one fixed variable's type and dimensions. 0 or -1 with cls_seterr. */
static int check_fixed(const ncs_file *f, const ncs_var *v) {
    static const char *const shapes[] = {"", "(run)", "(run, task)", "(run, stage, task)"};
    int var, nd, dims[NC_MAX_VAR_DIMS];
    nc_type type;
    if (nc_inq_varid(f->nc, v->name, &var) != NC_NOERR) {
        cls_seterr("%s: not a clsweep results file of this version: no variable %s", f->path,
                   v->name);
        return -1;
    }
    if (nc_inq_vartype(f->nc, var, &type) != NC_NOERR || nc_inq_varndims(f->nc, var, &nd) != NC_NOERR ||
        nd > NC_MAX_VAR_DIMS || nc_inq_vardimid(f->nc, var, dims) != NC_NOERR)
        nd = -1;
    int want[3] = {f->drun, v->ndims == 3 ? f->dstage : f->dtask, f->dtask};
    int ok = nd == v->ndims && type == v->type;
    /* Text: char (run, <name>_strlen) since issue 23; string (run) in older files. */
    if (v->type == NC_STRING && type == NC_CHAR && nd == 2) {
        ok = 1;
        nd = 1;
    }
    for (int d = 0; ok && d < nd; d++) ok = dims[d] == want[d];
    if (!ok) {
        if (v->type == NC_STRING)
            cls_seterr("%s: variable %s is not what clsweep writes (expected char(run, %s_strlen) "
                       "or string(run))", f->path, v->name, v->name);
        else
            cls_seterr("%s: variable %s is not what clsweep writes (expected %s%s)", f->path,
                       v->name, type_name(v->type), shapes[v->ndims]);
        return -1;
    }
    return 0;
}

int ncs_open_checked(ncs_file *f, const char *path) {
    const char *nc_path = path;
    memset(f, 0, sizeof *f);
    f->nc = -1;
    f->path = path;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        cls_seterr("%s: not a regular file", path);
        return -1;
    }
    if (ncs_open(path, &f->nc)) return -1;
    f->budget = BUDGET_FLOOR + BUDGET_PER_BYTE * (unsigned long long)st.st_size;
    f->text_budget = BUDGET_FLOOR + TEXT_BUDGET_PER_BYTE * (unsigned long long)st.st_size;
    static const char *const names[3] = {"run", "stage", "task"};
    int *ids[3] = {&f->drun, &f->dstage, &f->dtask};
    size_t *lens[3] = {&f->n, &f->S, &f->T};
    for (int d = 0; d < 3; d++) {
        if (nc_inq_dimid(f->nc, names[d], ids[d]) != NC_NOERR) {
            cls_seterr("%s: not a clsweep results file of this version: no dimension %s", path,
                       names[d]);
            goto cleanup;
        }
        NC_CHECK(nc_inq_dimlen(f->nc, *ids[d], lens[d]));
    }
    if (f->n > (size_t)1 << 31 || f->S > INT32_MAX || f->T > INT32_MAX) {
        cls_seterr("%s: dimensions run/stage/task of %zu/%zu/%zu (at most 2^31 expected)", path,
                   f->n, f->S, f->T);
        goto cleanup;
    }
    for (int i = 0; i < ncs_nfixed; i++)
        if (check_fixed(f, &ncs_fixed[i])) goto cleanup;
    /* The fixed columns: R (run, stage, task), R0 (run, task), the per-run values and string
     * pointers (S, T < 2^31: the products cannot overflow). */
    if (ncs_budget(f, "variable R", f->n, f->S * f->T, sizeof(float)) ||
        ncs_budget(f, "variable R0", f->n, f->T, sizeof(float)) ||
        ncs_budget(f, "dimension run", f->n, 8, sizeof(char *)))
        goto cleanup;
    return 0;
cleanup:
    ncs_close(f);
    return -1;
}

void ncs_close(ncs_file *f) {
    if (f->nc >= 0) nc_close(f->nc);
    f->nc = -1;
}

int ncs_read_strings(const ncs_file *f, const char *name, char ***out) {
    const char *nc_path = f->path;
    int var;
    *out = xcalloc(f->n ? f->n : 1, sizeof **out);
    NC_CHECK(nc_inq_varid(f->nc, name, &var));
    nc_type type;
    int nd, dims[NC_MAX_VAR_DIMS];
    NC_CHECK(nc_inq_vartype(f->nc, var, &type));
    NC_CHECK(nc_inq_varndims(f->nc, var, &nd));
    if (type == NC_CHAR && nd == 2) {
        /* (run, <name>_strlen) chars, NUL-padded: one malloc'd string a run, as
         * nc_get_var_string gives (ncs_free_strings frees both). */
        size_t width;
        NC_CHECK(nc_inq_vardimid(f->nc, var, dims));
        NC_CHECK(nc_inq_dimlen(f->nc, dims[1], &width));
        if (ncs_text_budget(f, name, f->n, width)) goto cleanup;
        size_t rows = ncs_text_rows(width);
        char *buf = width ? xmalloc(rows * width) : NULL;
        for (size_t k0 = 0; k0 < f->n; k0 += rows) {
            size_t kn = f->n - k0 < rows ? f->n - k0 : rows;
            size_t st[2] = {k0, 0}, ct[2] = {kn, width};
            int rc = width ? nc_get_vara_text(f->nc, var, st, ct, buf) : NC_NOERR;
            if (rc != NC_NOERR) {
                free(buf);
                ncs_free_strings(*out, f->n);
                *out = NULL;
                cls_seterr("%s: NetCDF: %s", nc_path, nc_strerror(rc));
                cls_adderr("variable %s", name);
                return -1;
            }
            for (size_t k = 0; k < kn; k++) {
                const char *row = buf + k * width;
                size_t len = strnlen(row, width);
                char *t = xmalloc(len + 1);
                memcpy(t, row, len);
                t[len] = 0;
                (*out)[k0 + k] = t;
            }
        }
        free(buf);
        return 0;
    }
    if (f->n) NC_CHECK(nc_get_var_string(f->nc, var, *out));
    return 0;
cleanup:
    free(*out);
    *out = NULL;
    cls_adderr("variable %s", name);
    return -1;
}

void ncs_free_strings(char **s, size_t n) {
    if (!s) return;
    nc_free_string(n, s);
    free(s);
}

int ncs_read_values(const ncs_file *f, const char *name, void *out) {
    const char *nc_path = f->path;
    int var;
    nc_type type;
    NC_CHECK(nc_inq_varid(f->nc, name, &var));
    NC_CHECK(nc_inq_vartype(f->nc, var, &type));
    if (!f->n) return 0;
    switch (type) {
    case NC_DOUBLE: NC_CHECK(nc_get_var_double(f->nc, var, out)); break;
    case NC_FLOAT: NC_CHECK(nc_get_var_float(f->nc, var, out)); break;
    case NC_INT: NC_CHECK(nc_get_var_int(f->nc, var, out)); break;
    case NC_INT64: NC_CHECK(nc_get_var_longlong(f->nc, var, out)); break;
    case NC_BYTE: NC_CHECK(nc_get_var_schar(f->nc, var, out)); break;
    default: cls_seterr("%s: variable %s: unexpected type", f->path, name); return -1;
    }
    return 0;
cleanup:
    cls_adderr("variable %s", name);
    return -1;
}

/* ---- output_read ---- */

#define FIELD_PTR(r, v) ((char *)(r) + (v)->off)

typedef struct {
    char name[RESULT_NAME_MAX];
    char long_name[96];
    int ndim;
    char dim[2][RESULT_NAME_MAX];
    size_t len[2];
    int any;      /* some run holds a value */
    double *data; /* (run, len0, len1) */
} read_extra;

/* The fixed columns of a checked file, one buffer per table row. */
typedef struct {
    void *col[64];
} fixed_cols;

static size_t cell_size(nc_type t) {
    switch (t) {
    case NC_STRING: return sizeof(char *);
    case NC_INT64: case NC_DOUBLE: return 8;
    case NC_INT: case NC_FLOAT: return 4;
    default: return 1;
    }
}

static size_t cells_per_run(const ncs_file *f, const ncs_var *v) {
    return v->ndims == 3 ? f->S * f->T : v->ndims == 2 ? f->T : 1;
}

/* Reads the result-held fixed columns. 0 or -1 with cls_seterr. */
static int read_fixed(const ncs_file *f, fixed_cols *c) {
    for (int i = 0; i < ncs_nfixed && i < 64; i++) {
        const ncs_var *v = &ncs_fixed[i];
        if (v->src < NCS_RES_STATUS && v->src != NCS_RUN_ID) continue; /* from the sweep */
        if (v->type == NC_STRING) {
            if (ncs_read_strings(f, v->name, (char ***)&c->col[i])) return -1;
            continue;
        }
        size_t per = cells_per_run(f, v);
        c->col[i] = xmalloc((f->n ? f->n : 1) * per * cell_size(v->type));
        if (ncs_read_values(f, v->name, c->col[i])) return -1;
    }
    return 0;
}

static void free_fixed(const ncs_file *f, fixed_cols *c) {
    for (int i = 0; i < ncs_nfixed && i < 64; i++) {
        if (!c->col[i]) continue;
        if (ncs_fixed[i].type == NC_STRING) ncs_free_strings(c->col[i], f->n);
        else free(c->col[i]);
    }
}

/* Sets run k's value of fixed variable i into r. 0, or -1 with cls_seterr. */
static int set_fixed(const ncs_file *f, const fixed_cols *c, int i, size_t k, run_result *r) {
    const ncs_var *v = &ncs_fixed[i];
    const void *col = c->col[i];
    if (!col) return 0;
    switch (v->src) {
    case NCS_RES_STATUS: {
        const char *t = ((char *const *)col)[k];
        int sv = run_status_parse(t);
        if (sv < 0) {
            cls_seterr("%s: run %zu has unknown status '%s'", f->path, k, t ? t : "");
            return -1;
        }
        r->status = (run_status)sv;
        return 0;
    }
    case NCS_RES_TEXT: {
        const char *t = ((char *const *)col)[k];
        snprintf(FIELD_PTR(r, v), v->size, "%s", t ? t : "");
        return 0;
    }
    case NCS_RES_BOOL: *(int *)FIELD_PTR(r, v) = ((const signed char *)col)[k] != 0; return 0;
    case NCS_RES_INT: *(int *)FIELD_PTR(r, v) = ((const int *)col)[k]; return 0;
    case NCS_RES_DOUBLE: *(double *)FIELD_PTR(r, v) = ((const double *)col)[k]; return 0;
    default: return 0; /* R, R0: after the shape is known; run id: the callback's */
    }
}

/* Checks and reads one extra variable v into x. 1 when v is not an extra, 0, or -1 with
 * cls_seterr. */
static int read_extra_var(const ncs_file *f, int v, read_extra *x) {
    const char *nc_path = f->path;
    nc_type type;
    size_t alen;
    if (nc_inq_att(f->nc, v, "clsweep_extra", &type, &alen) != NC_NOERR || type != NC_CHAR)
        return 1;
    char vname[NC_MAX_NAME + 1];
    int vnd, vdims[NC_MAX_VAR_DIMS];
    NC_CHECK(nc_inq_varname(f->nc, v, vname));
    NC_CHECK(nc_inq_vartype(f->nc, v, &type));
    NC_CHECK(nc_inq_varndims(f->nc, v, &vnd));
    char *name = ncs_text_att(f->nc, v, "clsweep_extra");
    char *ln = ncs_text_att(f->nc, v, "long_name");
    int bad_name = !name || !name[0] || strlen(name) >= sizeof x->name;
    snprintf(x->name, sizeof x->name, "%s", name ? name : "");
    snprintf(x->long_name, sizeof x->long_name, "%s", ln ? ln : "");
    free(name);
    free(ln);
    if (bad_name) {
        cls_seterr("%s: extra variable %s: its clsweep_extra name is empty or longer than %d "
                   "characters", f->path, vname, RESULT_NAME_MAX - 1);
        return -1;
    }
    if (type != NC_DOUBLE || vnd < 1 || vnd > 3) {
        cls_seterr("%s: extra variable %s is %s with %d dimensions (expected double over run "
                   "and 0 to 2 more dimensions)", f->path, vname, type_name(type), vnd);
        return -1;
    }
    NC_CHECK(nc_inq_vardimid(f->nc, v, vdims));
    if (vdims[0] != f->drun) {
        cls_seterr("%s: extra variable %s does not start with dimension run", f->path, vname);
        return -1;
    }
    x->ndim = vnd - 1;
    x->len[0] = x->len[1] = 1;
    for (int d = 0; d < x->ndim; d++) {
        char dn[NC_MAX_NAME + 1];
        NC_CHECK(nc_inq_dim(f->nc, vdims[d + 1], dn, &x->len[d]));
        if (vdims[d + 1] == f->drun || strlen(dn) >= sizeof x->dim[d] || x->len[d] == 0 ||
            x->len[d] > INT32_MAX) {
            cls_seterr("%s: extra variable %s: dimension %d (%s, length %zu) is not one "
                       "clsweep writes", f->path, vname, d + 1, dn, x->len[d]);
            return -1;
        }
        snprintf(x->dim[d], sizeof x->dim[d], "%s", dn);
    }
    if (ncs_budget(f, vname, f->n, x->len[0] * x->len[1], sizeof(double)) ||
        ncs_budget(f, vname, x->len[0], x->len[1], sizeof(double)))
        return -1;
    size_t cnt = f->n * x->len[0] * x->len[1];
    x->data = xmalloc((cnt ? cnt : 1) * sizeof *x->data);
    if (cnt) NC_CHECK(nc_get_var_double(f->nc, v, x->data));
    for (size_t i = 0; i < cnt && !x->any; i++) x->any = !isnan(x->data[i]);
    return 0;
cleanup:
    return -1;
}

/* Reads every extra variable (those with a clsweep_extra attribute); *nex of them. */
static int read_extras(const ncs_file *f, read_extra **out, int *nex) {
    const char *nc_path = f->path;
    int nvars;
    *out = NULL;
    *nex = 0;
    NC_CHECK(nc_inq_nvars(f->nc, &nvars));
    read_extra *ex = xcalloc((size_t)(nvars > 0 ? nvars : 1), sizeof *ex);
    *out = ex;
    for (int v = 0; v < nvars; v++) {
        int rc = read_extra_var(f, v, &ex[*nex]);
        if (rc < 0) {
            free(ex[*nex].data);
            return -1;
        }
        if (rc > 0) continue;
        for (int q = 0; q < *nex; q++)
            if (!strcmp(ex[q].name, ex[*nex].name)) {
                cls_seterr("%s: two variables hold the extra '%s'", f->path, ex[q].name);
                free(ex[*nex].data);
                return -1;
            }
        (*nex)++;
    }
    return 0;
cleanup:
    return -1;
}

/* Adds extra x of run k to r when present (read-back rules in ncfile.c). */
static void add_extra(const ncs_file *f, const read_extra *x, size_t k, run_result *r) {
    size_t per = x->len[0] * x->len[1];
    const double *d = x->data + k * per;
    size_t last[2] = {0, 0}; /* one past the last row / column holding a value */
    int has = 0;
    for (size_t i = 0; i < x->len[0]; i++)
        for (size_t j = 0; j < x->len[1]; j++)
            if (!isnan(d[i * x->len[1] + j])) {
                has = 1;
                if (i + 1 > last[0]) last[0] = i + 1;
                if (j + 1 > last[1]) last[1] = j + 1;
            }
    if (!has && x->any) return; /* absent for this run */
    if (x->ndim == 0) {
        result_set_scalar(r, x->name, x->long_name, d[0]);
        return;
    }
    size_t ext[2] = {x->len[0], x->ndim > 1 ? x->len[1] : 1};
    for (int a = 0; a < x->ndim; a++) {
        int stage = !strcmp(x->dim[a], "stage"), task = !strcmp(x->dim[a], "task");
        if (!stage && !task) continue; /* the file's dimension */
        size_t own = (size_t)(stage ? r->nstages : r->ntasks);
        size_t e = own > last[a] ? own : last[a];
        if (e) ext[a] = e;
    }
    (void)f;
    double *out = result_array(r, x->name, x->long_name, x->dim[0], (int)ext[0],
                               x->ndim > 1 ? x->dim[1] : NULL, (int)ext[1]);
    for (size_t i = 0; i < ext[0]; i++)
        for (size_t j = 0; j < ext[1]; j++) out[i * ext[1] + j] = d[i * x->len[1] + j];
}

/* Builds run k's result. 0, or -1 with cls_seterr. */
static int build_result(const ncs_file *f, const fixed_cols *c, const read_extra *ex, int nex,
                        size_t k, run_result *r) {
    result_init(r);
    for (int i = 0; i < ncs_nfixed; i++)
        if (set_fixed(f, c, i, k, r)) return -1;
    int ns = r->nstages, nt = r->ntasks;
    if (ns < 0 || nt < 0 || (size_t)ns > f->S || (size_t)nt > f->T) {
        cls_seterr("%s: run %zu has nstages/ntasks %d/%d outside the file's %zu/%zu", f->path, k,
                   ns, nt, f->S, f->T);
        return -1;
    }
    result_alloc(r, ns, nt);
    for (int i = 0; i < ncs_nfixed; i++) {
        const ncs_var *v = &ncs_fixed[i];
        if (v->src != NCS_RES_R && v->src != NCS_RES_R0) continue;
        const float *col = c->col[i];
        size_t per = cells_per_run(f, v);
        int rows = v->src == NCS_RES_R ? ns : 1;
        float *dst = v->src == NCS_RES_R ? r->R : r->R0;
        for (int a = 0; a < rows; a++)
            for (int b = 0; b < nt; b++)
                dst[(size_t)a * (size_t)nt + (size_t)b] = col[k * per + (size_t)a * f->T + (size_t)b];
    }
    for (int q = 0; q < nex; q++) add_extra(f, &ex[q], k, r);
    return 0;
}

/* A file clsweep did not just write: read first in a forked child (ncguard.c), so that a
 * crash inside libhdf5 on a damaged file is an error naming it. */
int output_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                void *ctx) {
    if (ncg_check(path, NCG_FULL)) return -1;
    return output_read_unguarded(path, fn, ctx);
}

int output_read_unguarded(const char *path,
                          void (*fn)(const char *run_id, run_result *r, void *ctx), void *ctx) {
    ncs_file f;
    fixed_cols c;
    read_extra *ex = NULL;
    int nex = 0, status = -1, iid = -1;
    memset(&c, 0, sizeof c);
    if (ncs_open_checked(&f, path)) return -1;
    if (read_fixed(&f, &c) || read_extras(&f, &ex, &nex)) goto cleanup;
    for (int i = 0; i < ncs_nfixed; i++)
        if (ncs_fixed[i].src == NCS_RUN_ID) iid = i;
    for (size_t k = 0; k < f.n; k++) {
        run_result r;
        if (build_result(&f, &c, ex, nex, k, &r)) {
            result_free(&r);
            goto cleanup;
        }
        const char *id = iid >= 0 && ((char **)c.col[iid])[k] ? ((char **)c.col[iid])[k] : "";
        char idbuf[17];
        snprintf(idbuf, sizeof idbuf, "%s", id);
        fn(idbuf, &r, ctx);
    }
    status = 0;
cleanup:
    free_fixed(&f, &c);
    for (int q = 0; q < nex; q++) free(ex[q].data);
    free(ex);
    ncs_close(&f);
    return status;
}
