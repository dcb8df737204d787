/* projcache.c — memoised cfg_project for the expansion of large sweeps (include/projcache.h).
 * Sweep layer: called by sweep.c (add_run) only.
 *
 * An open-addressing table of (model name, key) → whether the model reads the key on the
 * cache's benchmark (param_model_reads). Model names and keys are copied into the table. */
#include "projcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

typedef struct {
    char *model, *key;   /* NULL model: empty slot */
    int reads;
} pc_slot;

struct projcache {
    char *bench;
    pc_slot *slot;
    size_t cap, n;       /* cap: a power of two, kept at least twice n */
    /* the configuration projected last: its model, keys and answers (the next one of an
     * expansion mostly has the same keys, compared with strcmp instead of hashed) */
    char *lmodel;
    char **lkey;
    int *lreads, ln, lcap;
};

projcache *projcache_new(const char *bench_name) {
    projcache *pc = xcalloc(1, sizeof *pc);
    pc->bench = xstrdup(bench_name);
    pc->cap = 256;
    pc->slot = xcalloc(pc->cap, sizeof *pc->slot);
    return pc;
}

void projcache_free(projcache *pc) {
    if (!pc) return;
    for (size_t i = 0; i < pc->cap; i++) {
        free(pc->slot[i].model);
        free(pc->slot[i].key);
    }
    free(pc->slot);
    free(pc->bench);
    for (int i = 0; i < pc->ln; i++) free(pc->lkey[i]);
    free(pc->lkey);
    free(pc->lreads);
    free(pc->lmodel);
    free(pc);
}

static size_t slot_hash(const char *model, const char *key) {
    uint64_t h = cls_fnv1a(CLS_FNV_INIT, model, strlen(model) + 1);
    return (size_t)cls_fnv1a(h, key, strlen(key));
}

static void grow(projcache *pc) {
    size_t cap = pc->cap * 2;
    pc_slot *slot = xcalloc(cap, sizeof *slot);
    for (size_t i = 0; i < pc->cap; i++) {
        if (!pc->slot[i].model) continue;
        size_t h = slot_hash(pc->slot[i].model, pc->slot[i].key) & (cap - 1);
        while (slot[h].model) h = (h + 1) & (cap - 1);
        slot[h] = pc->slot[i];
    }
    free(pc->slot);
    pc->slot = slot;
    pc->cap = cap;
}

static int reads(projcache *pc, const char *model, const char *key) {
    size_t h = slot_hash(model, key) & (pc->cap - 1);
    while (pc->slot[h].model) {
        if (!strcmp(pc->slot[h].key, key) && !strcmp(pc->slot[h].model, model))
            return pc->slot[h].reads;
        h = (h + 1) & (pc->cap - 1);
    }
    int r = param_model_reads(model, pc->bench, key);
    pc->slot[h].model = xstrdup(model);
    pc->slot[h].key = xstrdup(key);
    pc->slot[h].reads = r;
    if (2 * ++pc->n > pc->cap) grow(pc);
    return r;
}

void projcache_project(projcache *pc, run_config *c, const char *model) {
    int fast = pc->lmodel && !strcmp(pc->lmodel, model);
    if (!fast) {
        free(pc->lmodel);
        pc->lmodel = xstrdup(model);
    }
    if (c->n > pc->lcap) {
        pc->lcap = c->n;
        pc->lkey = xrealloc(pc->lkey, sizeof(char *) * (size_t)pc->lcap);
        pc->lreads = xrealloc(pc->lreads, sizeof(int) * (size_t)pc->lcap);
    }
    for (int i = 0; i < c->n; i++) {
        const char *k = c->e[i].key;
        if (fast && i < pc->ln && !strcmp(pc->lkey[i], k)) continue;  /* same answer */
        fast = 0;
        if (i < pc->ln) free(pc->lkey[i]);
        pc->lkey[i] = xstrdup(k);
        pc->lreads[i] = !strcmp(k, "model") || !strcmp(k, "seed") ||
                        !strcmp(k, "benchmark.name") || reads(pc, model, k);
    }
    for (int i = c->n; i < pc->ln; i++) free(pc->lkey[i]);
    pc->ln = c->n;
    for (int i = c->n - 1; i >= 0; i--)
        if (!pc->lreads[i]) cfg_unset(c, c->e[i].key);
}
