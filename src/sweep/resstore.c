/* resstore.c — compact storage of finished results (resstore.h; issue 23). Sweep layer:
 * called by the master (sched_master.c, sched_resume.c) and ncfile.c only.
 *
 * A run's record, in arena blocks (not aligned; read with memcpy):
 *     u32 template  u8 status  u32 message number  f32 R[ns*nt]  f32 R0[nt]
 *     f64 acc bwt fwt forgetting wall_seconds  f64 values of each extra, in order
 * or, for a result with probes, u32 RAW  u32 length  result_pack bytes.
 * A template is the bytes of: metric, higher_is_better, ns, nt, which of R/R0 exist, and per
 * extra its name, long name, ndim, dimension names and shapes; templates and messages are
 * interned (hash tables over their bytes). */
#include "resstore.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define BLOCK (1u << 20)
#define RAW UINT32_MAX
#define ABSENT UINT64_MAX

typedef struct {
    char *p;
    size_t len, cap;
} bytes_t;

typedef struct {            /* an interning table of byte strings */
    bytes_t *items;
    int n, cap;
    int *slot;              /* (nslot) item number + 1, 0 = empty */
    size_t nslot;
} intern_t;

struct resstore {
    int nruns;
    uint64_t *off;          /* (nruns) block << 32 | position, ABSENT when none */
    char **block;
    size_t *used, *size;
    int nblock, capblock;
    intern_t tmpl, msg;
};

static uint64_t fnv(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void grow_slots(intern_t *t) {
    size_t ns = t->nslot ? 2 * t->nslot : 64;
    int *s = xcalloc(ns, sizeof *s);
    for (int i = 0; i < t->n; i++) {
        size_t h = (size_t)fnv(t->items[i].p, t->items[i].len) & (ns - 1);
        while (s[h]) h = (h + 1) & (ns - 1);
        s[h] = i + 1;
    }
    free(t->slot);
    t->slot = s;
    t->nslot = ns;
}

/* The number of bytes p[0..n) in t, added when new. */
static uint32_t intern(intern_t *t, const char *p, size_t n) {
    if ((size_t)t->n * 2 >= t->nslot) grow_slots(t);
    size_t h = (size_t)fnv(p, n) & (t->nslot - 1);
    for (; t->slot[h]; h = (h + 1) & (t->nslot - 1)) {
        const bytes_t *b = &t->items[t->slot[h] - 1];
        if (b->len == n && !memcmp(b->p, p, n)) return (uint32_t)(t->slot[h] - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->items = xrealloc(t->items, (size_t)t->cap * sizeof *t->items);
    }
    bytes_t *b = &t->items[t->n];
    b->p = xmalloc(n ? n : 1);
    memcpy(b->p, p, n);
    b->len = b->cap = n;
    t->slot[h] = ++t->n;
    return (uint32_t)(t->n - 1);
}

static void intern_free(intern_t *t) {
    for (int i = 0; i < t->n; i++) free(t->items[i].p);
    free(t->items);
    free(t->slot);
}

static void put(bytes_t *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_i32(bytes_t *b, int32_t v) { put(b, &v, 4); }

static void put_str(bytes_t *b, const char *s, size_t max) {
    size_t n = strnlen(s, max);
    put_i32(b, (int32_t)n);
    put(b, s, n);
}

static size_t extra_values(const result_extra *e) {
    if (e->ndim <= 0) return 1;
    size_t n = (size_t)(e->shape[0] > 0 ? e->shape[0] : 0);
    if (e->ndim > 1) n *= (size_t)(e->shape[1] > 0 ? e->shape[1] : 0);
    return n;
}

/* The template bytes of r into b. */
static void template_of(const run_result *r, bytes_t *b) {
    put_str(b, r->metric, sizeof r->metric);
    put_i32(b, r->higher_is_better);
    put_i32(b, r->nstages);
    put_i32(b, r->ntasks);
    put_i32(b, (r->R ? 1 : 0) | (r->R0 ? 2 : 0));
    int ne = r->extra ? r->nextra : 0;
    put_i32(b, ne);
    for (int k = 0; k < ne; k++) {
        const result_extra *e = &r->extra[k];
        put_str(b, e->name, sizeof e->name);
        put_str(b, e->long_name, sizeof e->long_name);
        put_i32(b, e->ndim);
        for (int d = 0; d < 2; d++) {
            put_str(b, e->dim[d], sizeof e->dim[d]);
            put_i32(b, e->shape[d]);
        }
    }
}

resstore *resstore_new(int nruns) {
    resstore *rs = xcalloc(1, sizeof *rs);
    rs->nruns = nruns > 0 ? nruns : 0;
    rs->off = xmalloc((size_t)(rs->nruns ? rs->nruns : 1) * sizeof *rs->off);
    for (int i = 0; i < rs->nruns; i++) rs->off[i] = ABSENT;
    intern(&rs->msg, "", 0); /* message 0: none */
    return rs;
}

void resstore_free(resstore *rs) {
    if (!rs) return;
    for (int i = 0; i < rs->nblock; i++) free(rs->block[i]);
    free(rs->block);
    free(rs->used);
    free(rs->size);
    free(rs->off);
    intern_free(&rs->tmpl);
    intern_free(&rs->msg);
    free(rs);
}

/* Room for n bytes: returns where, and their offset in *off. */
static char *arena_take(resstore *rs, size_t n, uint64_t *off) {
    int b = rs->nblock - 1;
    if (b < 0 || rs->size[b] - rs->used[b] < n) {
        if (rs->nblock == rs->capblock) {
            rs->capblock = rs->capblock ? 2 * rs->capblock : 16;
            rs->block = xrealloc(rs->block, (size_t)rs->capblock * sizeof *rs->block);
            rs->used = xrealloc(rs->used, (size_t)rs->capblock * sizeof *rs->used);
            rs->size = xrealloc(rs->size, (size_t)rs->capblock * sizeof *rs->size);
        }
        b = rs->nblock++;
        rs->size[b] = n > BLOCK ? n : BLOCK;
        rs->block[b] = xmalloc(rs->size[b]);
        rs->used[b] = 0;
    }
    *off = (uint64_t)b << 32 | rs->used[b];
    char *p = rs->block[b] + rs->used[b];
    rs->used[b] += n;
    return p;
}

void resstore_put(resstore *rs, int idx, const run_result *r) {
    if (idx < 0 || idx >= rs->nruns) return;
    bytes_t b = {0};
    if (r->nprobe > 0 && r->probe) {
        char *packed;
        size_t plen;
        result_pack(r, &packed, &plen);
        uint32_t raw = RAW, len = (uint32_t)plen;
        put(&b, &raw, 4);
        put(&b, &len, 4);
        put(&b, packed, plen);
        free(packed);
    } else {
        template_of(r, &b);
        uint32_t t = intern(&rs->tmpl, b.p, b.len);
        size_t nm = strnlen(r->message, sizeof r->message);
        uint32_t msg = intern(&rs->msg, r->message, nm);
        b.len = 0;
        unsigned char st = (unsigned char)r->status;
        put(&b, &t, 4);
        put(&b, &st, 1);
        put(&b, &msg, 4);
        size_t ns = (size_t)(r->nstages > 0 ? r->nstages : 0), nt = (size_t)(r->ntasks > 0 ? r->ntasks : 0);
        if (r->R) put(&b, r->R, ns * nt * sizeof(float));
        if (r->R0) put(&b, r->R0, nt * sizeof(float));
        double d[5] = {r->acc, r->bwt, r->fwt, r->forgetting, r->wall_seconds};
        put(&b, d, sizeof d);
        for (int k = 0; r->extra && k < r->nextra; k++) {
            const result_extra *e = &r->extra[k];
            size_t n = extra_values(e);
            if (e->data) {
                put(&b, e->data, n * sizeof(double));
            } else {
                double nan = NAN;
                for (size_t i = 0; i < n; i++) put(&b, &nan, sizeof nan);
            }
        }
    }
    uint64_t off;
    memcpy(arena_take(rs, b.len, &off), b.p, b.len);
    free(b.p);
    rs->off[idx] = off; /* a replaced record's bytes stay in the arena (resume only) */
}

void resstore_drop(resstore *rs, int idx) {
    if (idx >= 0 && idx < rs->nruns) rs->off[idx] = ABSENT;
}

int resstore_has(const resstore *rs, int idx) {
    return idx >= 0 && idx < rs->nruns && rs->off[idx] != ABSENT;
}

static const char *record(const resstore *rs, int idx) {
    if (!resstore_has(rs, idx)) return NULL;
    uint64_t o = rs->off[idx];
    return rs->block[o >> 32] + (o & 0xffffffffu);
}

long resstore_template(const resstore *rs, int idx) {
    const char *p = record(rs, idx);
    if (!p) return -1;
    uint32_t t;
    memcpy(&t, p, 4);
    return t == RAW ? -2 : (long)t;
}

int resstore_status(const resstore *rs, int idx) {
    const char *p = record(rs, idx);
    if (!p) return -1;
    uint32_t t;
    memcpy(&t, p, 4);
    if (t != RAW) return (unsigned char)p[4];
    run_result r;
    if (resstore_get(rs, idx, &r)) return -1;
    int s = (int)r.status;
    result_free(&r);
    return s;
}

typedef struct {
    const char *p;
} rd_t;

int resstore_text_lens(const resstore *rs, int idx, size_t *message, size_t *metric) {
    const char *p = record(rs, idx);
    if (!p) return -1;
    uint32_t t, msg;
    int32_t ml;
    memcpy(&t, p, 4);
    if (t == RAW) {
        run_result r;
        if (resstore_get(rs, idx, &r)) return -1;
        *message = strlen(r.message);
        *metric = strlen(r.metric);
        result_free(&r);
        return 0;
    }
    memcpy(&msg, p + 5, 4);
    *message = rs->msg.items[msg].len;
    memcpy(&ml, rs->tmpl.items[t].p, 4);
    size_t cap = sizeof ((run_result *)0)->metric - 1;
    *metric = ml < 0 ? 0 : (size_t)ml > cap ? cap : (size_t)ml;
    return 0;
}

static int32_t get_i32(rd_t *c) {
    int32_t v;
    memcpy(&v, c->p, 4);
    c->p += 4;
    return v;
}

static void get_str(rd_t *c, char *dst, size_t max) {
    size_t n = (size_t)get_i32(c);
    if (n >= max) n = max - 1;
    memcpy(dst, c->p, n);
    dst[n] = 0;
    c->p += n;
}

static void get_bytes(rd_t *c, void *dst, size_t n) {
    memcpy(dst, c->p, n);
    c->p += n;
}

int resstore_get(const resstore *rs, int idx, run_result *r) {
    result_init(r);
    const char *p = record(rs, idx);
    if (!p) return -1;
    uint32_t t, raw_len;
    memcpy(&t, p, 4);
    if (t == RAW) {
        memcpy(&raw_len, p + 4, 4);
        return result_unpack(r, p + 8, raw_len);
    }
    rd_t c = {p + 4};
    r->status = (run_status)(unsigned char)*c.p++;
    uint32_t msg;
    get_bytes(&c, &msg, 4);
    const bytes_t *m = &rs->msg.items[msg];
    memcpy(r->message, m->p, m->len);
    r->message[m->len] = 0;
    rd_t h = {rs->tmpl.items[t].p};
    get_str(&h, r->metric, sizeof r->metric);
    r->higher_is_better = get_i32(&h);
    r->nstages = get_i32(&h);
    r->ntasks = get_i32(&h);
    int flags = get_i32(&h);
    size_t ns = (size_t)(r->nstages > 0 ? r->nstages : 0), nt = (size_t)(r->ntasks > 0 ? r->ntasks : 0);
    if (flags & 1) {
        r->R = xmalloc(ns * nt * sizeof(float) + 1);
        get_bytes(&c, r->R, ns * nt * sizeof(float));
    }
    if (flags & 2) {
        r->R0 = xmalloc(nt * sizeof(float) + 1);
        get_bytes(&c, r->R0, nt * sizeof(float));
    }
    double d[5];
    get_bytes(&c, d, sizeof d);
    r->acc = d[0];
    r->bwt = d[1];
    r->fwt = d[2];
    r->forgetting = d[3];
    r->wall_seconds = d[4];
    int ne = get_i32(&h);
    if (ne > 0) r->extra = xcalloc((size_t)ne, sizeof *r->extra);
    r->nextra = ne;
    for (int k = 0; k < ne; k++) {
        result_extra *e = &r->extra[k];
        get_str(&h, e->name, sizeof e->name);
        get_str(&h, e->long_name, sizeof e->long_name);
        e->ndim = get_i32(&h);
        for (int q = 0; q < 2; q++) {
            get_str(&h, e->dim[q], sizeof e->dim[q]);
            e->shape[q] = get_i32(&h);
        }
        size_t n = extra_values(e);
        e->data = xmalloc(n * sizeof(double) + 1);
        get_bytes(&c, e->data, n * sizeof(double));
    }
    return 0;
}

size_t resstore_bytes(const resstore *rs) {
    size_t b = sizeof *rs + (size_t)rs->nruns * sizeof *rs->off;
    for (int i = 0; i < rs->nblock; i++) b += rs->size[i];
    const intern_t *t[2] = {&rs->tmpl, &rs->msg};
    for (int k = 0; k < 2; k++) {
        b += t[k]->nslot * sizeof(int) + (size_t)t[k]->cap * sizeof(bytes_t);
        for (int i = 0; i < t[k]->n; i++) b += t[k]->items[i].len;
    }
    return b;
}
