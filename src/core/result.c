/* result.c — one model run's outcome (status, R matrix, metrics, extras) and its compact
 * binary encoding for MPI messages and the journal.
 *
 * Encoding (version 1, every integer little-endian, independent of the host):
 *   "CLSR"  u16 version  u16 flags (bit0: R present, bit1: R0 present)
 *   u32 status  u32 higher_is_better
 *   str message  str metric                      str = u32 length + bytes (no NUL)
 *   i32 nstages  i32 ntasks
 *   [f32 R[nstages*ntasks]]  [f32 R0[ntasks]]    (IEEE-754 bits, when flagged)
 *   f64 acc bwt fwt forgetting wall_seconds
 *   u32 nextra, then per extra:
 *     str name  str long_name  u32 ndim  (str dim, i32 shape) × ndim  f64 data[count]
 *     count = 1 (scalar), shape[0] (1-D), shape[0]*shape[1] (2-D)
 * Optional trailing section (only when the result holds probe matrices; a result without
 * probes encodes exactly as before, so old journals and messages stay valid):
 *   "CLSP"  u16 section version (1)  u16 reserved (0)  u32 nprobe (>= 1), then per probe:
 *     i32 stage (>= 0)  i32 rows (>= 1)  i32 cols (>= 1)  i32 row_task[rows] (>= 0)
 *     f32 data[rows*cols]
 * The buffer must end exactly after the last extra or the section. result_unpack checks every length
 * against the bytes left before reading, so a hostile buffer cannot make it over-read or
 * allocate more than a small multiple of its own size. */
#include "result.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RESULT_MAGIC "CLSR"
#define RESULT_VERSION 1u
#define FLAG_R 1u
#define FLAG_R0 2u
#define PROBE_MAGIC "CLSP"
#define PROBE_VERSION 1u

static const char *const status_names[RUN_STATUS_COUNT] = {"ok", "diverged", "failed",
                                                            "unsupported", "pruned",
                                                            "abandoned"};

const char *run_status_name(run_status s) {
    if ((int)s < 0 || s >= RUN_STATUS_COUNT) return "unknown";
    return status_names[s];
}

int run_status_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < RUN_STATUS_COUNT; i++)
        if (!strcmp(name, status_names[i])) return i;
    return -1;
}

void result_init(run_result *r) {
    memset(r, 0, sizeof *r);
    r->status = RUN_STATUS_OK;
    r->acc = r->bwt = r->fwt = r->forgetting = NAN;
}

void result_alloc(run_result *r, int nstages, int ntasks) {
    free(r->R);
    free(r->R0);
    r->R = NULL;
    r->R0 = NULL;
    if (nstages < 0) nstages = 0;
    if (ntasks < 0) ntasks = 0;
    r->nstages = nstages;
    r->ntasks = ntasks;
    size_t n = (size_t)nstages * (size_t)ntasks;
    r->R = xmalloc(n * sizeof *r->R);
    r->R0 = xmalloc((size_t)ntasks * sizeof *r->R0);
    for (size_t i = 0; i < n; i++) r->R[i] = NAN;
    for (int i = 0; i < ntasks; i++) r->R0[i] = NAN;
}

static void extra_free(result_extra *e) {
    free(e->data);
    e->data = NULL;
}

void result_drop_probes(run_result *r) {
    for (int i = 0; i < r->nprobe && r->probe; i++) {
        free(r->probe[i].data);
        free(r->probe[i].row_task);
    }
    free(r->probe);
    r->probe = NULL;
    r->nprobe = 0;
}

void result_free(run_result *r) {
    free(r->R);
    free(r->R0);
    for (int i = 0; i < r->nextra; i++) extra_free(&r->extra[i]);
    free(r->extra);
    result_drop_probes(r);
    result_init(r);
}

void result_add_probe(run_result *r, int stage, float *data, int rows, int cols, int *row_task) {
    if (rows < 1 || cols < 1 || stage < 0 || !data || !row_task) {
        free(data);
        free(row_task);
        return;
    }
    r->probe = xrealloc(r->probe, (size_t)(r->nprobe + 1) * sizeof *r->probe);
    result_probe *p = &r->probe[r->nprobe++];
    p->stage = stage;
    p->rows = rows;
    p->cols = cols;
    p->data = data;
    p->row_task = row_task;
}

void result_fail(run_result *r, run_status s, const char *fmt, ...) {
    va_list ap;
    r->status = s;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

static void copy_name(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

static result_extra *extra_lookup(run_result *r, const char *name) {
    for (int i = 0; i < r->nextra; i++)
        if (!strncmp(r->extra[i].name, name, RESULT_NAME_MAX - 1)) return &r->extra[i];
    return NULL;
}

static result_extra *extra_add(run_result *r, const char *name) {
    r->extra = xrealloc(r->extra, (size_t)(r->nextra + 1) * sizeof *r->extra);
    result_extra *e = &r->extra[r->nextra++];
    memset(e, 0, sizeof *e);
    copy_name(e->name, sizeof e->name, name);
    return e;
}

void result_set_scalar(run_result *r, const char *name, const char *long_name, double v) {
    result_extra *e = extra_lookup(r, name);
    if (!e) e = extra_add(r, name);
    extra_free(e);
    copy_name(e->long_name, sizeof e->long_name, long_name);
    e->ndim = 0;
    e->dim[0][0] = e->dim[1][0] = 0;
    e->shape[0] = e->shape[1] = 1;
    e->data = xmalloc(sizeof *e->data);
    e->data[0] = v;
}

double *result_array(run_result *r, const char *name, const char *long_name,
                     const char *dim0, int n0, const char *dim1, int n1) {
    int ndim = dim1 ? 2 : 1;
    if (ndim == 1) n1 = 1;
    result_extra *e = extra_lookup(r, name);
    if (e) {
        /* A different shape on a later call is a bug in the model, not a run outcome. */
        if (e->ndim != ndim || e->shape[0] != n0 || e->shape[1] != n1) {
            fprintf(stderr,
                    "clsweep: internal error: extra '%s' requested as %d-D %dx%d, "
                    "but it exists as %d-D %dx%d\n",
                    name, ndim, n0, n1, e->ndim, e->shape[0], e->shape[1]);
            abort();
        }
        return e->data;
    }
    if (n0 < 0 || n1 < 0) {
        fprintf(stderr, "clsweep: internal error: extra '%s' with negative shape\n", name);
        abort();
    }
    e = extra_add(r, name);
    copy_name(e->long_name, sizeof e->long_name, long_name);
    e->ndim = ndim;
    copy_name(e->dim[0], sizeof e->dim[0], dim0);
    if (ndim == 2) copy_name(e->dim[1], sizeof e->dim[1], dim1);
    e->shape[0] = n0;
    e->shape[1] = n1;
    size_t n = (size_t)n0 * (size_t)n1;
    e->data = xmalloc(n * sizeof *e->data);
    for (size_t i = 0; i < n; i++) e->data[i] = NAN;
    return e->data;
}

const result_extra *result_find(const run_result *r, const char *name) {
    for (int i = 0; i < r->nextra; i++)
        if (!strncmp(r->extra[i].name, name, RESULT_NAME_MAX - 1)) return &r->extra[i];
    return NULL;
}

/* ---- packing ---- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t n) {
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        w->p = xrealloc(w->p, cap);
        w->cap = cap;
    }
    if (n) memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u16(wbuf *w, uint16_t v) {
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    w_bytes(w, b, 2);
}

static void w_u32(wbuf *w, uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, 4);
}

static void w_u64(wbuf *w, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_f32(wbuf *w, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    w_u32(w, u);
}

static void w_f64(wbuf *w, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    w_u64(w, u);
}

/* Strings are bounded by their fixed-size fields, so strnlen keeps a missing NUL safe. */
static void w_str(wbuf *w, const char *s, size_t field) {
    size_t n = strnlen(s, field - 1);
    w_u32(w, (uint32_t)n);
    w_bytes(w, s, n);
}

static size_t extra_count(const result_extra *e) {
    if (e->ndim == 0) return 1;
    if (e->ndim == 1) return (size_t)(e->shape[0] > 0 ? e->shape[0] : 0);
    return (size_t)(e->shape[0] > 0 ? e->shape[0] : 0) * (size_t)(e->shape[1] > 0 ? e->shape[1] : 0);
}

void result_pack(const run_result *r, char **buf, size_t *len) {
    wbuf w = {0};
    int ns = r->nstages > 0 ? r->nstages : 0, nt = r->ntasks > 0 ? r->ntasks : 0;
    unsigned flags = (r->R ? FLAG_R : 0u) | (r->R0 ? FLAG_R0 : 0u);
    w_bytes(&w, RESULT_MAGIC, 4);
    w_u16(&w, RESULT_VERSION);
    w_u16(&w, (uint16_t)flags);
    w_u32(&w, (uint32_t)r->status);
    w_u32(&w, r->higher_is_better ? 1u : 0u);
    w_str(&w, r->message, sizeof r->message);
    w_str(&w, r->metric, sizeof r->metric);
    w_u32(&w, (uint32_t)ns);
    w_u32(&w, (uint32_t)nt);
    if (r->R)
        for (size_t i = 0; i < (size_t)ns * (size_t)nt; i++) w_f32(&w, r->R[i]);
    if (r->R0)
        for (int i = 0; i < nt; i++) w_f32(&w, r->R0[i]);
    w_f64(&w, r->acc);
    w_f64(&w, r->bwt);
    w_f64(&w, r->fwt);
    w_f64(&w, r->forgetting);
    w_f64(&w, r->wall_seconds);
    int nextra = r->extra ? r->nextra : 0;
    w_u32(&w, (uint32_t)(nextra > 0 ? nextra : 0));
    for (int k = 0; k < nextra; k++) {
        const result_extra *e = &r->extra[k];
        int ndim = e->ndim < 0 ? 0 : e->ndim > 2 ? 2 : e->ndim;
        w_str(&w, e->name, sizeof e->name);
        w_str(&w, e->long_name, sizeof e->long_name);
        w_u32(&w, (uint32_t)ndim);
        for (int d = 0; d < ndim; d++) {
            w_str(&w, e->dim[d], sizeof e->dim[d]);
            w_u32(&w, (uint32_t)(e->shape[d] > 0 ? e->shape[d] : 0));
        }
        result_extra tmp = *e;
        tmp.ndim = ndim;
        size_t n = extra_count(&tmp);
        for (size_t i = 0; i < n; i++) w_f64(&w, e->data ? e->data[i] : NAN);
    }
    if (r->nprobe > 0 && r->probe) {
        w_bytes(&w, PROBE_MAGIC, 4);
        w_u16(&w, PROBE_VERSION);
        w_u16(&w, 0);
        w_u32(&w, (uint32_t)r->nprobe);
        for (int k = 0; k < r->nprobe; k++) {
            const result_probe *p = &r->probe[k];
            w_u32(&w, (uint32_t)p->stage);
            w_u32(&w, (uint32_t)p->rows);
            w_u32(&w, (uint32_t)p->cols);
            for (int i = 0; i < p->rows; i++) w_u32(&w, (uint32_t)p->row_task[i]);
            size_t n = (size_t)p->rows * (size_t)p->cols;
            for (size_t i = 0; i < n; i++) w_f32(&w, p->data[i]);
        }
    }
    *buf = (char *)w.p;
    *len = w.len;
}

/* ---- unpacking: every read checks the bytes left first ---- */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} rbuf;

static int r_need(const rbuf *b, size_t n) { return b->len - b->pos >= n ? 0 : -1; }

static int r_u16(rbuf *b, uint16_t *v) {
    if (r_need(b, 2)) return -1;
    *v = (uint16_t)(b->p[b->pos] | (unsigned)b->p[b->pos + 1] << 8);
    b->pos += 2;
    return 0;
}

static int r_u32(rbuf *b, uint32_t *v) {
    if (r_need(b, 4)) return -1;
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)b->p[b->pos + (size_t)i] << (8 * i);
    b->pos += 4;
    *v = x;
    return 0;
}

static int r_u64(rbuf *b, uint64_t *v) {
    if (r_need(b, 8)) return -1;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)b->p[b->pos + (size_t)i] << (8 * i);
    b->pos += 8;
    *v = x;
    return 0;
}

static int r_f32(rbuf *b, float *f) {
    uint32_t u;
    if (r_u32(b, &u)) return -1;
    memcpy(f, &u, 4);
    return 0;
}

static int r_f64(rbuf *b, double *d) {
    uint64_t u;
    if (r_u64(b, &u)) return -1;
    memcpy(d, &u, 8);
    return 0;
}

/* A non-negative int32 count. */
static int r_count(rbuf *b, int *v) {
    uint32_t u;
    if (r_u32(b, &u) || u > INT32_MAX) return -1;
    *v = (int)u;
    return 0;
}

/* A string into a field of size field (it must fit with its NUL; no embedded NULs). */
static int r_str(rbuf *b, char *dst, size_t field) {
    uint32_t n;
    if (r_u32(b, &n) || n >= field || r_need(b, n)) return -1;
    if (n && memchr(b->p + b->pos, 0, n)) return -1;
    memcpy(dst, b->p + b->pos, n);
    dst[n] = 0;
    b->pos += n;
    return 0;
}

/* The trailing probe section (canonical: nprobe >= 1, reserved 0, positive shapes). */
static int unpack_probes(run_result *r, rbuf *b) {
    uint16_t version, reserved;
    uint32_t nprobe;
    if (r_need(b, 4) || memcmp(b->p + b->pos, PROBE_MAGIC, 4)) return -1;
    b->pos += 4;
    if (r_u16(b, &version) || version != PROBE_VERSION) return -1;
    if (r_u16(b, &reserved) || reserved != 0) return -1;
    /* Each probe takes at least 12 + 4 + 4 bytes. */
    if (r_u32(b, &nprobe) || nprobe < 1 || nprobe > (b->len - b->pos) / 20) return -1;
    r->probe = xcalloc(nprobe, sizeof *r->probe);
    for (uint32_t k = 0; k < nprobe; k++) {
        result_probe *p = &r->probe[k];
        r->nprobe = (int)k + 1; /* so that result_free frees what was read so far */
        if (r_count(b, &p->stage) || r_count(b, &p->rows) || r_count(b, &p->cols)) return -1;
        if (p->rows < 1 || p->cols < 1) return -1;
        if ((uint64_t)p->rows > (b->len - b->pos) / 4) return -1;
        p->row_task = xmalloc((size_t)p->rows * sizeof *p->row_task);
        for (int i = 0; i < p->rows; i++)
            if (r_count(b, &p->row_task[i])) return -1;
        uint64_t n = (uint64_t)p->rows * (uint64_t)p->cols;
        if (n > (b->len - b->pos) / 4) return -1;
        p->data = xmalloc((size_t)n * sizeof *p->data);
        for (size_t i = 0; i < (size_t)n; i++)
            if (r_f32(b, &p->data[i])) return -1;
    }
    return 0;
}

int result_unpack(run_result *r, const char *buf, size_t len) {
    rbuf b = {(const unsigned char *)buf, buf ? len : 0, 0};
    uint16_t version, flags;
    uint32_t status, hib, nextra;
    int ns, nt;
    result_init(r);
    if (r_need(&b, 4) || memcmp(b.p, RESULT_MAGIC, 4)) goto bad;
    b.pos = 4;
    if (r_u16(&b, &version) || version != RESULT_VERSION) goto bad;
    if (r_u16(&b, &flags) || (flags & ~(FLAG_R | FLAG_R0))) goto bad;
    if (r_u32(&b, &status) || status >= RUN_STATUS_COUNT) goto bad;
    r->status = (run_status)status;
    if (r_u32(&b, &hib) || hib > 1) goto bad;
    r->higher_is_better = (int)hib;
    if (r_str(&b, r->message, sizeof r->message)) goto bad;
    if (r_str(&b, r->metric, sizeof r->metric)) goto bad;
    if (r_count(&b, &ns) || r_count(&b, &nt)) goto bad;
    /* Reliability review: the shape must be backed by data, else a record claiming 2^31
     * stages and no R makes output_write size its (run, stage, task) buffers by it (an
     * abort, or with several such runs a size_t overflow). result_pack only writes R with
     * both counts > 0 or both 0, and no R with ns = 0 (nt > 0 only when R0 backs it). */
    if ((flags & FLAG_R) ? (ns == 0) != (nt == 0) : ns != 0) goto bad;
    if (!(flags & (FLAG_R | FLAG_R0)) && nt != 0) goto bad;
    r->nstages = ns;
    r->ntasks = nt;
    if (flags & FLAG_R) {
        /* 64-bit product of two values < 2^31 cannot overflow. */
        uint64_t n = (uint64_t)ns * (uint64_t)nt;
        if (n > (b.len - b.pos) / 4) goto bad;
        r->R = xmalloc((size_t)n * sizeof *r->R);
        for (size_t i = 0; i < (size_t)n; i++)
            if (r_f32(&b, &r->R[i])) goto bad;
    }
    if (flags & FLAG_R0) {
        if ((uint64_t)nt > (b.len - b.pos) / 4) goto bad;
        r->R0 = xmalloc((size_t)nt * sizeof *r->R0);
        for (int i = 0; i < nt; i++)
            if (r_f32(&b, &r->R0[i])) goto bad;
    }
    if (r_f64(&b, &r->acc) || r_f64(&b, &r->bwt) || r_f64(&b, &r->fwt) ||
        r_f64(&b, &r->forgetting) || r_f64(&b, &r->wall_seconds))
        goto bad;
    if (r_u32(&b, &nextra)) goto bad;
    /* Each extra takes at least 12 bytes (two string lengths and ndim). */
    if (nextra > (b.len - b.pos) / 12) goto bad;
    if (nextra) r->extra = xcalloc(nextra, sizeof *r->extra);
    for (uint32_t k = 0; k < nextra; k++) {
        result_extra *e = &r->extra[k];
        uint32_t ndim;
        r->nextra = (int)k + 1; /* so that result_free frees what was read so far */
        if (r_str(&b, e->name, sizeof e->name) || !e->name[0]) goto bad;
        if (r_str(&b, e->long_name, sizeof e->long_name)) goto bad;
        if (r_u32(&b, &ndim) || ndim > 2) goto bad;
        e->ndim = (int)ndim;
        e->shape[0] = e->shape[1] = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            if (r_str(&b, e->dim[d], sizeof e->dim[d]) || !e->dim[d][0]) goto bad;
            if (r_count(&b, &e->shape[d])) goto bad;
        }
        uint64_t n = (uint64_t)e->shape[0] * (uint64_t)e->shape[1];
        if (n > (b.len - b.pos) / 8) goto bad;
        e->data = xmalloc((size_t)n * sizeof *e->data);
        for (size_t i = 0; i < (size_t)n; i++)
            if (r_f64(&b, &e->data[i])) goto bad;
    }
    if (b.pos != b.len && unpack_probes(r, &b)) goto bad;
    if (b.pos != b.len) goto bad;
    return 0;
bad:
    result_free(r);
    return -1;
}
