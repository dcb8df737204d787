/* sched_proto.c — the scheduler's wire protocol (see sched_proto.h for the message layout).
 * Sweep layer: called by sched_master.c and sched_worker.c; uses cfg_pack/result_pack. */
#include "sched_proto.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static void put_f64(unsigned char *p, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static double get_f64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

void proto_put_limits(unsigned char *p, const run_limits *l) {
    put_f64(p, l->grace);
    put_f64(p + 8, l->time_limit);
    put_f64(p + 16, l->memory_mb);
    put_u32(p + 24, (uint32_t)l->isolate);
    put_u32(p + 28, (uint32_t)l->report_stages);
}

void proto_get_limits(const unsigned char *p, run_limits *l) {
    l->grace = get_f64(p);
    l->time_limit = get_f64(p + 8);
    l->memory_mb = get_f64(p + 16);
    l->isolate = (int)(int32_t)get_u32(p + 24);
    l->report_stages = (int)(int32_t)get_u32(p + 28);
}

void proto_stage_pack(unsigned char *p, int32_t idx, const run_stage_report *r) {
    put_u32(p, (uint32_t)idx);
    put_u32(p + 4, (uint32_t)r->stage);
    put_u32(p + 8, (uint32_t)r->nstages);
    put_u32(p + 12, (uint32_t)r->higher_is_better);
    put_f64(p + 16, r->acc_seen);
    put_f64(p + 24, r->acc_all);
}

void proto_stage_unpack(const unsigned char *p, int32_t *idx, run_stage_report *r) {
    *idx = (int32_t)get_u32(p);
    r->stage = (int32_t)get_u32(p + 4);
    r->nstages = (int32_t)get_u32(p + 8);
    r->higher_is_better = (int32_t)get_u32(p + 12);
    r->acc_seen = get_f64(p + 16);
    r->acc_all = get_f64(p + 24);
}

void proto_decision_pack(unsigned char *p, int32_t idx, int keep) {
    put_u32(p, (uint32_t)idx);
    put_u32(p + 4, keep ? 1u : 0u);
}

void proto_decision_unpack(const unsigned char *p, int32_t *idx, int *keep) {
    *idx = (int32_t)get_u32(p);
    *keep = get_u32(p + 4) != 0;
}

char *proto_work_pack(const run_limits *lim, int k, const int *idx, const run_config *const *cfg,
                      size_t *len) {
    char **cb = xmalloc(sizeof(char *) * (size_t)k);
    size_t *cl = xmalloc(sizeof(size_t) * (size_t)k);
    size_t n = 4 + PROTO_LIMITS_SIZE;
    for (int j = 0; j < k; j++) {
        cfg_pack(cfg[j], &cb[j], &cl[j]);
        n += 8 + cl[j];
    }
    unsigned char *msg = xmalloc(n), *p = msg;
    put_u32(p, (uint32_t)k);
    proto_put_limits(p + 4, lim);
    p += 4 + PROTO_LIMITS_SIZE;
    for (int j = 0; j < k; j++) {
        put_u32(p, (uint32_t)idx[j]);
        put_u32(p + 4, (uint32_t)cl[j]);
        memcpy(p + 8, cb[j], cl[j]);
        p += 8 + cl[j];
        free(cb[j]);
    }
    free(cb);
    free(cl);
    *len = n;
    return (char *)msg;
}

int proto_work_open(proto_work_reader *r, const char *buf, size_t len) {
    memset(r, 0, sizeof *r);
    r->buf = (const unsigned char *)buf;
    r->len = len;
    if (len < 4 + PROTO_LIMITS_SIZE) return -1;
    r->count = (int32_t)get_u32(r->buf);
    if (r->count < 1) return -1;
    proto_get_limits(r->buf + 4, &r->lim);
    r->off = 4 + PROTO_LIMITS_SIZE;
    return 0;
}

int proto_work_next(proto_work_reader *r, int32_t *idx, run_config *cfg) {
    if (r->next >= r->count) return 0;
    if (r->len - r->off < 8) return -1;
    *idx = (int32_t)get_u32(r->buf + r->off);
    uint32_t n = get_u32(r->buf + r->off + 4);
    r->off += 8;
    if (n > r->len - r->off || cfg_unpack(cfg, (const char *)r->buf + r->off, n)) return -1;
    r->off += n;
    r->next++;
    return 1;
}

char *proto_result_pack(int32_t idx, uint32_t flags, const run_result *r, size_t *len) {
    char *rb;
    size_t rl;
    result_pack(r, &rb, &rl);
    unsigned char *msg = xmalloc(rl + 8);
    put_u32(msg, (uint32_t)idx);
    put_u32(msg + 4, flags);
    memcpy(msg + 8, rb, rl);
    free(rb);
    *len = rl + 8;
    return (char *)msg;
}

int proto_result_unpack(const char *buf, size_t len, int32_t *idx, uint32_t *flags, run_result *r) {
    if (len < 8) {
        result_init(r);
        return -1;
    }
    *idx = (int32_t)get_u32((const unsigned char *)buf);
    *flags = get_u32((const unsigned char *)buf + 4);
    return result_unpack(r, buf + 8, len - 8);
}

void proto_batch_add(proto_result_batch *b, int32_t idx, uint32_t flags, const run_result *r) {
    size_t n;
    char *rec = proto_result_pack(idx, flags, r, &n);
    if (b->len == 0) b->len = 4;   /* room for the count */
    if (b->len + 4 + n > b->cap) {
        b->cap = 2 * (b->len + 4 + n) + 256;
        b->p = xrealloc(b->p, b->cap);
    }
    put_u32(b->p + b->len, (uint32_t)n);
    memcpy(b->p + b->len + 4, rec, n);
    b->len += 4 + n;
    free(rec);
    put_u32(b->p, (uint32_t)++b->count);
}

void proto_batch_clear(proto_result_batch *b) {
    b->len = 0;
    b->count = 0;
}

void proto_batch_free(proto_result_batch *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

int proto_results_open(proto_result_reader *rd, const char *buf, size_t len) {
    memset(rd, 0, sizeof *rd);
    rd->buf = (const unsigned char *)buf;
    rd->len = len;
    if (len < 4) return -1;
    rd->count = get_u32(rd->buf);
    rd->off = 4;
    /* every record takes at least 4 + 8 bytes */
    return rd->count < 1 || rd->count > (len - 4) / 12 ? -1 : 0;
}

int proto_results_next(proto_result_reader *rd, int32_t *idx, uint32_t *flags, run_result *r) {
    result_init(r);
    if (rd->next >= rd->count) return 0;
    if (rd->len - rd->off < 4) return -1;
    uint32_t n = get_u32(rd->buf + rd->off);
    if (n > rd->len - rd->off - 4) return -1;
    const char *rec = (const char *)rd->buf + rd->off + 4;
    rd->off += 4 + (size_t)n;
    rd->next++;
    return proto_result_unpack(rec, n, idx, flags, r) ? -1 : 1;
}
