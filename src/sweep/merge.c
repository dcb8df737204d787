/* merge.c — `clsweep merge`: combines the sweep files written by job-array shards
 * (`clsweep run --shard I/N`) into one sweep file equal to the unsharded sweep's.
 *
 * Called by the command line only.
 *
 * The parts are read with output_read (schema-checked; results that write back to the same
 * file) and their results placed by run id into the sweep's run order; output_write then
 * writes exactly what the scheduler would have written with every result in memory, so the
 * merged file equals an MPI run's file. The title check, the text-attribute reader and the
 * fixed-variable comparison are the shared ones of ncschema.h. */
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncguard.h"
#include "ncschema.h"
#include "output.h"
#include "protocol_sched.h"
#include "util.h"

/* The sweep text and file name stored in a part. 0, or -1 with cls_seterr. */
static int part_sweep(const char *path, char **yaml, char **file) {
    int nc;
    *yaml = *file = NULL;
    if (ncg_check(path, NCG_FULL) || ncs_open(path, &nc)) return -1; /* ncguard.h; the title check */
    *yaml = ncs_text_att(nc, NC_GLOBAL, "sweep_yaml");
    *file = ncs_text_att(nc, NC_GLOBAL, "sweep_file");
    nc_close(nc);
    if (!*yaml) {
        free(*file);
        *file = NULL;
        cls_seterr("%s: no global attribute sweep_yaml: pass the sweep file with --sweep", path);
        return -1;
    }
    return 0;
}

/* 1 when extra x (possibly NULL) and y hold the same values: a file pads an array extra
 * with NaN to its dimensions and drops one that holds no value, so cells outside one
 * shape must be NaN in the other, and a missing extra equals an all-NaN one. */
static int extra_equiv(const result_extra *x, const result_extra *y) {
    if (!x) {
        size_t n = (size_t)(y->ndim > 0 ? y->shape[0] : 1) * (size_t)(y->ndim > 1 ? y->shape[1] : 1);
        for (size_t i = 0; i < n; i++)
            if (!isnan(y->data[i])) return 0;
        return 1;
    }
    if (x->ndim != y->ndim) return 0;
    for (int d = 0; d < x->ndim; d++)
        if (strcmp(x->dim[d], y->dim[d])) return 0;
    size_t r0 = (size_t)(x->ndim > 0 ? x->shape[0] : 1), c0 = (size_t)(x->ndim > 1 ? x->shape[1] : 1);
    size_t r1 = (size_t)(y->ndim > 0 ? y->shape[0] : 1), c1 = (size_t)(y->ndim > 1 ? y->shape[1] : 1);
    size_t R = r0 > r1 ? r0 : r1, C = c0 > c1 ? c0 : c1;
    for (size_t i = 0; i < R; i++)
        for (size_t j = 0; j < C; j++) {
            double a = i < r0 && j < c0 ? x->data[i * c0 + j] : NAN;
            double b = i < r1 && j < c1 ? y->data[i * c1 + j] : NAN;
            if (isnan(a) != isnan(b) || (!isnan(a) && memcmp(&a, &b, sizeof a))) return 0;
        }
    return 1;
}

/* 1 when two results agree in every fixed variable but the timing ones (the schema table)
 * and in their extras (by name, up to the NaN padding of a file). */
static int result_same(const run_result *a, const run_result *b) {
    for (int i = 0; i < ncs_nfixed; i++)
        if (!(ncs_fixed[i].flags & NCS_TIMING) && !ncs_fixed_equal(&ncs_fixed[i], a, b)) return 0;
    for (int i = 0; i < a->nextra; i++)
        if (!extra_equiv(result_find(b, a->extra[i].name), &a->extra[i])) return 0;
    for (int i = 0; i < b->nextra; i++)
        if (!result_find(a, b->extra[i].name) && !extra_equiv(NULL, &b->extra[i])) return 0;
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
    /* Tuning protocol: phase-2 runs have the ids of the configurations selected from the
     * phase-1 results just read (protocol_sched.h); read the parts again for them. */
    if (protocol_resolve(&sw, m.results) > 0) {
        qsort(m.order, (size_t)sw.nruns, sizeof *m.order, cmp_id);
        for (int i = 0; i < sw.nruns; i++)
            if (m.results[i]) {
                result_free(m.results[i]);
                free(m.results[i]);
                m.results[i] = NULL;
            }
        memset(&m.st, 0, sizeof m.st);
        m.st.nruns = sw.nruns;
        for (m.part = 0; m.part < nparts; m.part++) {
            if (output_read(parts[m.part], merge_one, &m)) goto cleanup;
            if (m.conflict) goto cleanup;
        }
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
