/* runstore.c — compact storage of a sweep's run configurations (include/runstore.h) and the
 * sweep_* accessors of sweep.h built on it (sweep_add_run, sweep_get, sweep_cfg, …).
 * Sweep layer: called by sweep.c and, through sweep.h, by the scheduler, the NetCDF writer,
 * the CLI and the tests.
 *
 * Texts: interned in an open-addressing table (FNV-1a of the text → text number); the texts
 * live in 64 KiB arena blocks, so a text costs its bytes + 1, not a malloc each. Key sets:
 * the sorted key list of a run as text numbers, interned the same way. A run: its key set
 * and an offset into one growing array of value numbers (uint32 per key). */
#include "runstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"
#include "util.h"

#define ARENA_BLOCK 65536

typedef struct {
    int n;
    uint32_t *key;        /* text numbers of the keys, in key order */
    const char **text;    /* the same as texts, for binary search */
} keyset_t;

struct runstore {
    /* texts */
    char **blocks;
    int nblocks;
    size_t block_used, block_cap;
    const char **texts;   /* text number → text */
    uint32_t ntexts, texts_cap;
    uint32_t *tslot;      /* hash table of text numbers + 1 (0 = empty) */
    size_t tcap;          /* power of two */
    /* key sets */
    keyset_t *sets;
    uint32_t nsets, sets_cap;
    uint32_t *kslot;      /* hash table of key set numbers + 1 */
    size_t kcap;
    /* value numbers of every run */
    uint32_t *vals;
    uint64_t nvals, vals_cap;
    size_t bytes_texts;
    /* the run stored last: the next run of an expansion mostly repeats its keys and values */
    int have_last;
    uint32_t last_ks;
    uint64_t last_off;
};

static uint64_t fnv(const void *p, size_t n) {
    return cls_fnv1a(CLS_FNV_INIT, p, n);
}

runstore *runstore_new(void) {
    runstore *st = xcalloc(1, sizeof *st);
    st->tcap = 1024;
    st->tslot = xcalloc(st->tcap, sizeof *st->tslot);
    st->kcap = 64;
    st->kslot = xcalloc(st->kcap, sizeof *st->kslot);
    return st;
}

void runstore_free(runstore *st) {
    if (!st) return;
    for (int b = 0; b < st->nblocks; b++) free(st->blocks[b]);
    free(st->blocks);
    free(st->texts);
    free(st->tslot);
    for (uint32_t k = 0; k < st->nsets; k++) {
        free(st->sets[k].key);
        free(st->sets[k].text);
    }
    free(st->sets);
    free(st->kslot);
    free(st->vals);
    free(st);
}

static char *arena_copy(runstore *st, const char *s, size_t n) {
    if (st->nblocks == 0 || st->block_used + n + 1 > st->block_cap) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        st->blocks = xrealloc(st->blocks, sizeof(char *) * (size_t)(st->nblocks + 1));
        st->blocks[st->nblocks++] = xmalloc(cap);
        st->block_used = 0;
        st->block_cap = cap;
        st->bytes_texts += cap;
    }
    char *d = st->blocks[st->nblocks - 1] + st->block_used;
    memcpy(d, s, n);
    d[n] = 0;
    st->block_used += n + 1;
    return d;
}

static void text_rehash(runstore *st) {
    size_t cap = st->tcap * 2;
    uint32_t *slot = xcalloc(cap, sizeof *slot);
    for (uint32_t t = 0; t < st->ntexts; t++) {
        size_t h = (size_t)fnv(st->texts[t], strlen(st->texts[t])) & (cap - 1);
        while (slot[h]) h = (h + 1) & (cap - 1);
        slot[h] = t + 1;
    }
    free(st->tslot);
    st->tslot = slot;
    st->tcap = cap;
}

/* The number of text s, added if new. */
static uint32_t text_id(runstore *st, const char *s) {
    size_t n = strlen(s);
    size_t h = (size_t)fnv(s, n) & (st->tcap - 1);
    while (st->tslot[h]) {
        const char *t = st->texts[st->tslot[h] - 1];
        if (!strcmp(t, s)) return st->tslot[h] - 1;
        h = (h + 1) & (st->tcap - 1);
    }
    if (st->ntexts == UINT32_MAX - 1) {
        fprintf(stderr, "clsweep: internal error: run store: 2^32 distinct texts\n");
        abort();
    }
    if (st->ntexts == st->texts_cap) {
        st->texts_cap = st->texts_cap ? st->texts_cap * 2 : 1024;
        st->texts = xrealloc(st->texts, sizeof(char *) * st->texts_cap);
    }
    uint32_t id = st->ntexts++;
    st->texts[id] = arena_copy(st, s, n);
    st->tslot[h] = id + 1;
    if (2 * (size_t)st->ntexts > st->tcap) text_rehash(st);
    return id;
}

static uint64_t keyset_hash(const uint32_t *key, int n) {
    return fnv(key, sizeof(uint32_t) * (size_t)n) ^ (uint64_t)n;
}

static void keyset_rehash(runstore *st) {
    size_t cap = st->kcap * 2;
    uint32_t *slot = xcalloc(cap, sizeof *slot);
    for (uint32_t k = 0; k < st->nsets; k++) {
        size_t h = (size_t)keyset_hash(st->sets[k].key, st->sets[k].n) & (cap - 1);
        while (slot[h]) h = (h + 1) & (cap - 1);
        slot[h] = k + 1;
    }
    free(st->kslot);
    st->kslot = slot;
    st->kcap = cap;
}

/* The number of the key set key[0..n), added if new. */
static uint32_t keyset_id(runstore *st, const uint32_t *key, int n) {
    size_t h = (size_t)keyset_hash(key, n) & (st->kcap - 1);
    while (st->kslot[h]) {
        const keyset_t *k = &st->sets[st->kslot[h] - 1];
        if (k->n == n && !memcmp(k->key, key, sizeof(uint32_t) * (size_t)n))
            return st->kslot[h] - 1;
        h = (h + 1) & (st->kcap - 1);
    }
    if (st->nsets == st->sets_cap) {
        st->sets_cap = st->sets_cap ? st->sets_cap * 2 : 16;
        st->sets = xrealloc(st->sets, sizeof(keyset_t) * st->sets_cap);
    }
    uint32_t id = st->nsets++;
    keyset_t *k = &st->sets[id];
    k->n = n;
    k->key = xmalloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    k->text = xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    for (int j = 0; j < n; j++) {
        k->key[j] = key[j];
        k->text[j] = st->texts[key[j]];
    }
    st->kslot[h] = id + 1;
    if (2 * (size_t)st->nsets > st->kcap) keyset_rehash(st);
    return id;
}

/* Fast path (issue 23): a run with the key set of the run stored last compares its keys and
 * values with that run's texts (strcmp) and hashes only the texts that differ. */
void runstore_put(runstore *st, const run_config *cfg, uint32_t *keyset, uint64_t *off) {
    int same = st->have_last && st->sets[st->last_ks].n == cfg->n;
    for (int j = 0; j < cfg->n && same; j++)
        same = !strcmp(st->sets[st->last_ks].text[j], cfg->e[j].key);
    if (same) {
        *keyset = st->last_ks;
    } else {
        uint32_t stack[256], *key = cfg->n <= 256 ? stack : xmalloc(sizeof(uint32_t) * (size_t)cfg->n);
        for (int j = 0; j < cfg->n; j++) key[j] = text_id(st, cfg->e[j].key);
        *keyset = keyset_id(st, key, cfg->n);
        if (key != stack) free(key);
    }
    while (st->nvals + (uint64_t)cfg->n > st->vals_cap) {
        st->vals_cap = st->vals_cap ? st->vals_cap * 2 : 4096;
        st->vals = xrealloc(st->vals, sizeof(uint32_t) * (size_t)st->vals_cap);
    }
    *off = st->nvals;
    for (int j = 0; j < cfg->n; j++) {
        uint32_t prev = same ? st->vals[st->last_off + (uint64_t)j] : 0;
        st->vals[st->nvals++] = same && !strcmp(st->texts[prev], cfg->e[j].val)
                                    ? prev : text_id(st, cfg->e[j].val);
    }
    st->have_last = 1;
    st->last_ks = *keyset;
    st->last_off = *off;
}

int runstore_nkeys(const runstore *st, uint32_t ks) { return st->sets[ks].n; }

const char *runstore_key(const runstore *st, uint32_t ks, int j) { return st->sets[ks].text[j]; }

const char *runstore_val(const runstore *st, uint32_t ks, uint64_t off, int j) {
    (void)ks;
    return st->texts[st->vals[off + (uint64_t)j]];
}

const char *runstore_get(const runstore *st, uint32_t ks, uint64_t off, const char *key) {
    const keyset_t *k = &st->sets[ks];
    int lo = 0, hi = k->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, d = strcmp(k->text[mid], key);
        if (d == 0) return st->texts[st->vals[off + (uint64_t)mid]];
        if (d < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

size_t runstore_bytes(const runstore *st) {
    size_t b = sizeof *st + st->bytes_texts + sizeof(char *) * st->texts_cap +
               sizeof(uint32_t) * (st->tcap + st->kcap) + sizeof(uint32_t) * (size_t)st->vals_cap;
    for (uint32_t k = 0; k < st->nsets; k++)
        b += (sizeof(uint32_t) + sizeof(char *)) * (size_t)st->sets[k].n;
    return b;
}

/* ---------------------------------------------------------------- sweep.h accessors */

void sweep_add_run(sweep_t *s, const run_config *cfg, uint64_t hash, double cost) {
    if (!s->store) s->store = runstore_new();
    if (s->nruns == s->runs_cap) {
        s->runs_cap = s->runs_cap ? 2 * s->runs_cap : 64;
        s->runs = xrealloc(s->runs, sizeof(sweep_run) * (size_t)s->runs_cap);
    }
    sweep_run *r = &s->runs[s->nruns++];
    memset(r, 0, sizeof *r);
    runstore_put(s->store, cfg, &r->keyset, &r->off);
    r->hash = hash;
    snprintf(r->id, sizeof r->id, "%016llx", (unsigned long long)hash);
    r->cost = cost;
}

int sweep_nkeys(const sweep_t *s, int i) { return runstore_nkeys(s->store, s->runs[i].keyset); }

const char *sweep_key(const sweep_t *s, int i, int j) {
    return runstore_key(s->store, s->runs[i].keyset, j);
}

const char *sweep_val(const sweep_t *s, int i, int j) {
    return runstore_val(s->store, s->runs[i].keyset, s->runs[i].off, j);
}

const char *sweep_get(const sweep_t *s, int i, const char *key) {
    return runstore_get(s->store, s->runs[i].keyset, s->runs[i].off, key);
}

const char *sweep_str(const sweep_t *s, int i, const char *key) {
    const char *v = sweep_get(s, i, key);
    if (!v) {
        fprintf(stderr, "clsweep: internal error: configuration key '%s' missing in run %s\n", key,
                s->runs[i].id);
        abort();
    }
    return v;
}

static void cfg_of(const sweep_t *s, int i, run_config *out, int copy) {
    int n = sweep_nkeys(s, i);
    out->n = n;
    out->cap = n;
    out->e = n ? xmalloc(sizeof(cfg_entry) * (size_t)n) : NULL;
    for (int j = 0; j < n; j++) {
        const char *k = sweep_key(s, i, j), *v = sweep_val(s, i, j);
        out->e[j].key = copy ? xstrdup(k) : (char *)k;
        out->e[j].val = copy ? xstrdup(v) : (char *)v;
        out->e[j].own = copy ? CFG_OWN_KEY | CFG_OWN_VAL : 0;
    }
}

void sweep_cfg(const sweep_t *s, int i, run_config *out) { cfg_of(s, i, out, 1); }

void sweep_cfg_view(const sweep_t *s, int i, run_config *out) { cfg_of(s, i, out, 0); }

size_t sweep_cfg_strlen(const sweep_t *s, int i) {
    int n = sweep_nkeys(s, i);
    size_t len = 0;
    for (int j = 0; j < n; j++) len += strlen(sweep_key(s, i, j)) + strlen(sweep_val(s, i, j)) + 1 + (j > 0);
    return len;
}

char *sweep_cfg_string(const sweep_t *s, int i) {
    size_t len = sweep_cfg_strlen(s, i) + 1;
    int n = sweep_nkeys(s, i);
    char *buf = xmalloc(len), *p = buf;
    for (int j = 0; j < n; j++) {
        const char *k = sweep_key(s, i, j), *v = sweep_val(s, i, j);
        size_t kn = strlen(k), vn = strlen(v);
        if (j) *p++ = ' ';
        memcpy(p, k, kn);
        p += kn;
        *p++ = '=';
        memcpy(p, v, vn);
        p += vn;
    }
    *p = 0;
    return buf;
}
