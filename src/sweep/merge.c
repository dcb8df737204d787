/* merge.c — `clsweep merge`: combines the sweep files written by job-array shards
 * (`clsweep run --shard I/N`) into one sweep file equal to the unsharded sweep's.
 *
 * The parts are read with output_read and their results placed by run id into the
 * sweep's run order; output_write then writes exactly what the scheduler would have
 * written with every result in memory, so the merged file equals an MPI run's file. */
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "util.h"

#define TITLE "clsweep sweep results" /* the title output_write gives every sweep file */

/* Reads a global text attribute into a new string, or NULL when absent. */
static char *global_text(int nc, const char *name) {
    nc_type type;
    size_t len;
    if (nc_inq_att(nc, NC_GLOBAL, name, &type, &len) != NC_NOERR || type != NC_CHAR) return NULL;
    char *s = xmalloc(len + 1);
    if (nc_get_att_text(nc, NC_GLOBAL, name, s) != NC_NOERR) {
        free(s);
        return NULL;
    }
    s[len] = 0;
    return s;
}

/* The sweep text and file name stored in a part. 0, or -1 with cls_seterr. */
static int part_sweep(const char *path, char **yaml, char **file) {
    int nc, rc = nc_open(path, NC_NOWRITE, &nc);
    *yaml = *file = NULL;
    if (rc != NC_NOERR) {
        cls_seterr("%s: not a readable NetCDF file (%s)", path, nc_strerror(rc));
        return -1;
    }
    char *title = global_text(nc, "title");
    int ok = title && !strcmp(title, TITLE);
    free(title);
    if (!ok) {
        nc_close(nc);
        cls_seterr("%s: not a clsweep results file (no global attribute title = \"%s\")", path,
                   TITLE);
        return -1;
    }
    *yaml = global_text(nc, "sweep_yaml");
    *file = global_text(nc, "sweep_file");
    nc_close(nc);
    if (!*yaml) {
        free(*file);
        *file = NULL;
        cls_seterr("%s: no global attribute sweep_yaml: pass the sweep file with --sweep", path);
        return -1;
    }
    return 0;
}

static int same_bytes(const void *a, const void *b, size_t n) {
    return n == 0 || (a && b && !memcmp(a, b, n));
}

/* 1 when two results agree in everything but wall_seconds (extras compared by name). */
static int result_same(const run_result *a, const run_result *b) {
    if (a->status != b->status || a->higher_is_better != b->higher_is_better ||
        strcmp(a->message, b->message) || strcmp(a->metric, b->metric) ||
        a->nstages != b->nstages || a->ntasks != b->ntasks || !a->R != !b->R || !a->R0 != !b->R0)
        return 0;
    size_t st = (size_t)(a->nstages > 0 ? a->nstages : 0) * (size_t)(a->ntasks > 0 ? a->ntasks : 0);
    size_t nt = (size_t)(a->ntasks > 0 ? a->ntasks : 0);
    if ((a->R && !same_bytes(a->R, b->R, st * sizeof(float))) ||
        (a->R0 && !same_bytes(a->R0, b->R0, nt * sizeof(float))))
        return 0;
    double ma[4] = {a->acc, a->bwt, a->fwt, a->forgetting};
    double mb[4] = {b->acc, b->bwt, b->fwt, b->forgetting};
    if (memcmp(ma, mb, sizeof ma)) return 0;
    if (a->nextra != b->nextra) return 0;
    for (int i = 0; i < a->nextra; i++) {
        const result_extra *x = &a->extra[i], *y = result_find(b, a->extra[i].name);
        if (!y || x->ndim != y->ndim) return 0;
        size_t n = 1;
        for (int d = 0; d < x->ndim; d++) {
            if (x->shape[d] != y->shape[d] || strcmp(x->dim[d], y->dim[d])) return 0;
            n *= (size_t)(x->shape[d] > 0 ? x->shape[d] : 0);
        }
        if (!same_bytes(x->data, y->data, n * sizeof(double))) return 0;
    }
    return 1;
}

typedef struct {
    const sweep_t *sw;
    int *order;              /* (nruns) run indices sorted by id, for bsearch */
    run_result **results;    /* (nruns) */
    int *from;               /* (nruns) part index each result came from */
    char *const *parts;
    int part;                /* the part being read */
    int conflict;            /* set by the callback; cls_seterr holds the message */
    merge_stats st;
} merge_ctx;

static const sweep_t *order_sweep;
static int cmp_id(const void *a, const void *b) {
    return strcmp(order_sweep->runs[*(const int *)a].id, order_sweep->runs[*(const int *)b].id);
}

static int find_run(const merge_ctx *m, const char *id) {
    int lo = 0, hi = m->sw->nruns - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(m->sw->runs[m->order[mid]].id, id);
        if (!c) return m->order[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static void merge_one(const char *id, run_result *r, void *ctx) {
    merge_ctx *m = ctx;
    int i = find_run(m, id);
    if (i < 0 || m->conflict) {
        if (i < 0) m->st.nstray++;
        result_free(r);
        return;
    }
    run_result *old = m->results[i];
    if (old) {
        m->st.nduplicates++;
        /* A failed run is retried on resume, so a non-failed result supersedes it. */
        int old_failed = old->status == RUN_STATUS_FAILED, new_failed = r->status == RUN_STATUS_FAILED;
        if (old_failed && !new_failed) {
            result_free(old);
            *old = *r;
            m->from[i] = m->part;
            return;
        }
        if (!old_failed && !new_failed && !result_same(old, r)) {
            cls_seterr("run %s has conflicting results in %s and %s (different sweeps or code "
                       "versions?)", id, m->parts[m->from[i]], m->parts[m->part]);
            m->conflict = 1;
        }
        result_free(r);
        return;
    }
    m->results[i] = xmalloc(sizeof(run_result));
    *m->results[i] = *r;
    m->from[i] = m->part;
}

int output_merge(const char *sweep_path, const char *out, char *const *parts, int nparts,
                 merge_stats *stats) {
    sweep_t sw;
    int status = -1;
    char *yaml0 = NULL, *file0 = NULL;
    merge_ctx m;
    memset(&m, 0, sizeof m);
    memset(&sw, 0, sizeof sw);
    if (nparts < 1) {
        cls_seterr("merge: no part files given");
        return -1;
    }
    /* The sweep: given, or the one stored in the parts (which must all agree). */
    if (sweep_path) {
        if (sweep_load(&sw, sweep_path)) goto cleanup;
    } else {
        for (int p = 0; p < nparts; p++) {
            char *yaml, *file;
            if (part_sweep(parts[p], &yaml, &file)) goto cleanup;
            if (!yaml0) {
                yaml0 = yaml;
                file0 = file;
                continue;
            }
            int differ = strcmp(yaml, yaml0) != 0;
            free(yaml);
            free(file);
            if (differ) {
                cls_seterr("%s and %s were written by different sweeps (their sweep_yaml "
                           "attributes differ); pass --sweep SWEEP.yaml to merge them anyway",
                           parts[0], parts[p]);
                goto cleanup;
            }
        }
        if (sweep_load_text(&sw, file0 && file0[0] ? file0 : parts[0], yaml0)) {
            cls_adderr("the sweep stored in %s", parts[0]);
            goto cleanup;
        }
    }

    m.sw = &sw;
    m.parts = parts;
    m.st.nruns = sw.nruns;
    size_t n = (size_t)(sw.nruns > 0 ? sw.nruns : 1);
    m.order = xmalloc(n * sizeof *m.order);
    m.results = xcalloc(n, sizeof *m.results);
    m.from = xcalloc(n, sizeof *m.from);
    for (int i = 0; i < sw.nruns; i++) m.order[i] = i;
    order_sweep = &sw;
    qsort(m.order, (size_t)sw.nruns, sizeof *m.order, cmp_id);

    for (m.part = 0; m.part < nparts; m.part++) {
        if (output_read(parts[m.part], merge_one, &m)) goto cleanup;
        if (m.conflict) goto cleanup;
    }
    for (int i = 0; i < sw.nruns; i++) {
        if (m.results[i]) m.st.nmerged++;
        else m.st.nmissing++;
    }
    if (output_write(out, &sw, m.results)) goto cleanup;
    status = 0;
    if (stats) *stats = m.st;

cleanup:
    if (m.results) {
        for (int i = 0; i < sw.nruns; i++)
            if (m.results[i]) {
                result_free(m.results[i]);
                free(m.results[i]);
            }
        free(m.results);
    }
    free(m.order);
    free(m.from);
    sweep_free(&sw);
    free(yaml0);
    free(file0);
    return status;
}
