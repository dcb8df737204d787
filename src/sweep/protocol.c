/* protocol.c — the tuning protocol's settings (parsing `protocol:` with located errors), the
 * phase-1 marks of the expansion, and the selection of the winning configuration per model
 * (protocol.h). Pure functions and parsing, no I/O: the scheduler side is
 * protocol_sched.c. Sweep layer: called by sweep.c, protocol_sched.c and the tests. */
#include "protocol.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"
#include "yamlnode.h"

static const char *const metric_names[] = {"acc", "bwt", "fwt", "forgetting"};

const char *protocol_metric_name(int metric) {
    return metric >= 0 && metric < 4 ? metric_names[metric] : "?";
}

/* ---- parsing ---- */


static int integer(const yaml_node_t *n, long long lo, long long hi, long long *out) {
    if (n->type != YAML_SCALAR_NODE || !*yn_txt(n)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(yn_txt(n), &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

typedef struct {
    const char *path;
    yaml_document_t *doc;
} pctx;

static yaml_node_t *node(const pctx *c, int id) { return yaml_document_get_node(c->doc, id); }

/* Calls each(key node, value node) for the pairs of mapping m named what. */
static int want_map(const pctx *c, const yaml_node_t *m, const char *what, const char *example) {
    if (m->type != YAML_MAPPING_NODE)
        return yn_fail(c->path, m, "expected a mapping for %s (e.g. %s), got %s", what, example,
                     yn_kind(m));
    return 0;
}

/* seeds: N (0..N-1, or for evaluate the first N not in avoid) or a list of distinct
 * non-negative integers (disjoint from avoid). */
static int parse_seeds(const pctx *c, const yaml_node_t *v, const char *what, const long long *avoid,
                       int navoid, long long **out, int *n) {
    long long x;
    if (v->type == YAML_SCALAR_NODE) {
        if (integer(v, 1, PROTOCOL_MAX_SEEDS, &x))
            return yn_fail(c->path, v, "expected %s to be a count N in [1, %d] or a list of "
                         "non-negative integers, got %s", what, PROTOCOL_MAX_SEEDS, yn_kind(v));
        *out = xmalloc(sizeof(long long) * (size_t)x);
        *n = 0;
        for (long long s = 0; *n < x; s++) {
            int taken = 0;
            for (int k = 0; k < navoid && !taken; k++) taken = avoid[k] == s;
            if (!taken) (*out)[(*n)++] = s;
        }
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return yn_fail(c->path, v, "expected %s to be a count N or a list of non-negative "
                     "integers, got %s", what, yn_kind(v));
    int len = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (len == 0) return yn_fail(c->path, v, "%s: empty list of seeds", what);
    if (len > PROTOCOL_MAX_SEEDS)
        return yn_fail(c->path, v, "%s: too many seeds (at most %d)", what, PROTOCOL_MAX_SEEDS);
    *out = xmalloc(sizeof(long long) * (size_t)len);
    *n = 0;
    for (int i = 0; i < len; i++) {
        const yaml_node_t *e = node(c, v->data.sequence.items.start[i]);
        if (integer(e, 0, (long long)1 << 62, &x))
            return yn_fail(c->path, e, "expected a non-negative integer seed in %s, got %s", what,
                         yn_kind(e));
        for (int k = 0; k < *n; k++)
            if ((*out)[k] == x) return yn_fail(c->path, e, "seed %lld is listed twice in %s", x, what);
        for (int k = 0; k < navoid; k++)
            if (avoid[k] == x)
                return yn_fail(c->path, e, "seed %lld of %s is also a tune seed: the evaluation "
                             "seeds must be fresh (disjoint from protocol.tune.seeds)", x, what);
        (*out)[(*n)++] = x;
    }
    return 0;
}

static int parse_tune(const pctx *c, const yaml_node_t *v, protocol_spec *sp) {
    if (want_map(c, v, "protocol.tune", "{tasks: 2, seeds: [100, 101]}")) return -1;
    const yaml_node_t *seeds = NULL;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(c, a->key), *x = node(c, a->value);
        const char *key = k->type == YAML_SCALAR_NODE ? yn_txt(k) : "";
        long long t;
        if (!strcmp(key, "tasks")) {
            if (integer(x, 0, 100000, &t))
                return yn_fail(c->path, x, "expected protocol.tune.tasks to be an integer k >= 1 "
                             "(tune on the first k tasks of the stream; 0 = the whole stream), "
                             "got %s", yn_kind(x));
            sp->tasks = (int)t;
            sp->tasks_line = x->start_mark.line + 1;
            sp->tasks_col = x->start_mark.column + 1;
        } else if (!strcmp(key, "seeds")) {
            seeds = x;
        } else {
            return yn_fail(c->path, k, "unknown protocol.tune setting '%s': expected one of tasks, "
                         "seeds", yn_kind(k));
        }
    }
    if (!seeds)
        return yn_fail(c->path, v, "protocol.tune needs seeds: a count N (seeds 0..N-1) or a list");
    return parse_seeds(c, seeds, "protocol.tune.seeds", NULL, 0, &sp->tune_seeds, &sp->ntune);
}

static int parse_select(const pctx *c, const yaml_node_t *v, protocol_spec *sp) {
    if (want_map(c, v, "protocol.select", "{metric: acc, per: model}")) return -1;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(c, a->key), *x = node(c, a->value);
        const char *key = k->type == YAML_SCALAR_NODE ? yn_txt(k) : "";
        if (!strcmp(key, "metric")) {
            int m = -1;
            for (int i = 0; i < 4 && x->type == YAML_SCALAR_NODE; i++)
                if (!strcmp(yn_txt(x), metric_names[i])) m = i;
            if (m < 0)
                return yn_fail(c->path, x, "unknown protocol.select.metric '%s': expected one of "
                             "acc, bwt, fwt, forgetting", yn_kind(x));
            sp->metric = m;
        } else if (!strcmp(key, "per")) {
            if (x->type != YAML_SCALAR_NODE || strcmp(yn_txt(x), "model"))
                return yn_fail(c->path, x, "unsupported protocol.select.per '%s': expected model "
                             "(one configuration chosen per model)", yn_kind(x));
        } else {
            return yn_fail(c->path, k, "unknown protocol.select setting '%s': expected one of "
                         "metric, per", yn_kind(k));
        }
    }
    return 0;
}

static int parse_evaluate(const pctx *c, const yaml_node_t *v, protocol_spec *sp) {
    if (want_map(c, v, "protocol.evaluate", "{seeds: 5}")) return -1;
    const yaml_node_t *seeds = NULL;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(c, a->key), *x = node(c, a->value);
        const char *key = k->type == YAML_SCALAR_NODE ? yn_txt(k) : "";
        if (!strcmp(key, "seeds"))
            seeds = x;
        else
            return yn_fail(c->path, k, "unknown protocol.evaluate setting '%s': expected seeds",
                         yn_kind(k));
    }
    if (!seeds)
        return yn_fail(c->path, v, "protocol.evaluate needs seeds: a count N (the first N seeds "
                     "that are not tune seeds) or a list");
    return parse_seeds(c, seeds, "protocol.evaluate.seeds", sp->tune_seeds, sp->ntune,
                       &sp->eval_seeds, &sp->neval);
}

int protocol_parse(const char *path, yaml_document_t *doc, yaml_node_t *nd, protocol_spec *sp) {
    memset(sp, 0, sizeof *sp);
    pctx c = {path, doc};
    if (want_map(&c, nd, "protocol", "{tune: {tasks: 2, seeds: [100, 101]}, select: {metric: "
                 "acc, per: model}, evaluate: {seeds: 5}}"))
        return -1;
    const yaml_node_t *tune = NULL, *sel = NULL, *ev = NULL;
    for (yaml_node_pair_t *a = nd->data.mapping.pairs.start; a < nd->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(&c, a->key), *x = node(&c, a->value);
        const char *key = k->type == YAML_SCALAR_NODE ? yn_txt(k) : "";
        if (!strcmp(key, "tune")) tune = x;
        else if (!strcmp(key, "select")) sel = x;
        else if (!strcmp(key, "evaluate")) ev = x;
        else
            return yn_fail(path, k, "unknown protocol setting '%s': expected one of tune, select, "
                         "evaluate", yn_kind(k));
    }
    if (!tune) return yn_fail(path, nd, "protocol needs tune: {tasks: K, seeds: [...]} (phase 1)");
    if (!ev) return yn_fail(path, nd, "protocol needs evaluate: {seeds: N} (phase 2)");
    if (parse_tune(&c, tune, sp) || (sel && parse_select(&c, sel, sp)) ||
        parse_evaluate(&c, ev, sp)) {
        protocol_spec_free(sp);
        return -1;
    }
    sp->enabled = 1;
    return 0;
}

void protocol_spec_free(protocol_spec *sp) {
    free(sp->tune_seeds);
    free(sp->eval_seeds);
    memset(sp, 0, sizeof *sp);
}

void protocol_mark_tune(const protocol_spec *sp, run_config *cfg) {
    if (!sp->enabled) return;
    cfg_set(cfg, "protocol.phase", "1");
    if (sp->tasks > 0) {
        char k[32];
        snprintf(k, sizeof k, "%d", sp->tasks);
        cfg_set(cfg, "benchmark.tune_tasks", k);
    }
}

int protocol_check_tasks(const protocol_spec *sp, const char *path, const run_config *cfg,
                         const char *id) {
    if (!sp->enabled || sp->tasks <= 0) return 0;
    bench_size z;
    if (bench_size_of(cfg, &z)) return -1;
    if (sp->tasks < z.ntasks) return 0;
    cls_seterr("%s:%zu:%zu: protocol.tune.tasks is %d but the stream of run %s has %d task(s): "
               "tune on fewer tasks than the stream holds (the rest are for phase 2), or 0 for "
               "the whole stream", path, sp->tasks_line, sp->tasks_col, sp->tasks, id, z.ntasks);
    return -1;
}

void protocol_placeholder(const protocol_spec *sp, const char *bench, const char *model, int e,
                          run_config *out) {
    cfg_init(out);
    char seed[32];
    snprintf(seed, sizeof seed, "%lld", sp->eval_seeds[e]);
    if (bench) cfg_set(out, "benchmark.name", bench);
    cfg_set(out, "model", model);
    cfg_set(out, "seed", seed);
    cfg_set(out, "protocol.phase", "2");
    cfg_set(out, "protocol.selected", PROTOCOL_PENDING);
}

/* ---- the selection ---- */

static double metric_of(const run_result *r, int metric) {
    switch (metric) {
    case PROTO_SEL_BWT: return r->bwt;
    case PROTO_SEL_FWT: return r->fwt;
    case PROTO_SEL_FORGETTING: return r->forgetting;
    default: return r->acc;
    }
}

typedef struct {
    const char *key, *id;   /* candidate key, its lowest run id */
    int first;              /* its first run (index into the sweep) */
    int nruns, ok;
    double sum;
} cand_t;

static const char *const *sort_cand;
static const int *sort_runs;
static int cmp_by_cand(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(sort_cand[i], sort_cand[j]);
    return c ? c : sort_runs[i] - sort_runs[j];
}

/* 1 when candidate a ranks before b (better mean; ties: lower id). */
static int better(const cand_t *a, const cand_t *b, int maximize) {
    double x = a->sum / a->nruns, y = b->sum / b->nruns;
    if (x != y) return maximize ? x > y : x < y;
    return strcmp(a->id, b->id) < 0;
}

void protocol_select(const protocol_spec *sp, const char *model, const int *phase1, int n,
                     run_result *const *results, const char *const *ids,
                     const char *const *cand, protocol_choice *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->model, sizeof out->model, "%s", model);
    out->winner_run = -1;
    out->mean = out->runner_up = out->margin = NAN;
    out->ready = 1;
    for (int k = 0; k < n; k++)
        if (!results[phase1[k]]) out->ready = 0;
    if (!out->ready) return;
    int *ord = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int k = 0; k < n; k++) ord[k] = k;
    sort_cand = cand;
    sort_runs = phase1;
    qsort(ord, (size_t)n, sizeof(int), cmp_by_cand);
    cand_t *cs = xcalloc((size_t)(n ? n : 1), sizeof(cand_t));
    int nc = 0, hib = -1, nunsup = 0;
    for (int a = 0; a < n; a++) {
        int k = ord[a], i = phase1[k];
        if (a == 0 || strcmp(cand[k], cs[nc - 1].key)) {
            cs[nc] = (cand_t){cand[k], ids[i], i, 0, 1, 0};
            nc++;
        }
        cand_t *c = &cs[nc - 1];
        const run_result *r = results[i];
        double v = metric_of(r, sp->metric);
        c->nruns++;
        if (strcmp(ids[i], c->id) < 0) c->id = ids[i];
        if (r->status != RUN_STATUS_OK || !isfinite(v)) c->ok = 0;
        else c->sum += v;
        if (r->status == RUN_STATUS_OK && hib < 0) hib = r->higher_is_better != 0;
        nunsup += r->status == RUN_STATUS_UNSUPPORTED;
    }
    out->all_unsupported = n > 0 && nunsup == n;
    int maximize = sp->metric == PROTO_SEL_FORGETTING ? 0
                   : sp->metric == PROTO_SEL_ACC      ? hib != 0
                                                      : 1;
    const cand_t *best = NULL, *second = NULL;
    for (int k = 0; k < nc; k++) {
        if (!cs[k].ok) {
            out->nineligible++;
            continue;
        }
        out->ncandidates++;
        if (!best || better(&cs[k], best, maximize)) {
            second = best;
            best = &cs[k];
        } else if (!second || better(&cs[k], second, maximize)) {
            second = &cs[k];
        }
    }
    if (best) {
        out->found = 1;
        out->winner_run = best->first;
        snprintf(out->winner_id, sizeof out->winner_id, "%s", best->id);
        out->mean = best->sum / best->nruns;
        out->nseeds = best->nruns;
        if (second) {
            out->runner_up = second->sum / second->nruns;
            out->margin = fabs(out->mean - out->runner_up);
        }
    }
    free(ord);
    free(cs);
}

void protocol_annotate(run_result *r, int phase, const protocol_choice *c) {
    result_set_scalar(r, "phase", "tuning protocol phase: 1 tune (first tasks, tune seeds), "
                      "2 evaluate (full stream, fresh seeds, the selected configuration)",
                      (double)phase);
    if (phase != 2 || !c) return;
    result_set_scalar(r, "selection_mean", "phase 2: the selected configuration's mean "
                      "selection metric over the tune seeds (phase 1)", c->mean);
    result_set_scalar(r, "selection_runner_up", "phase 2: the second-best configuration's mean "
                      "(NaN when there was one candidate)", c->runner_up);
    result_set_scalar(r, "selection_margin", "phase 2: |selection_mean - selection_runner_up|",
                      c->margin);
    result_set_scalar(r, "selection_seeds", "phase 2: tune seeds in the selection mean",
                      (double)c->nseeds);
    result_set_scalar(r, "selection_candidates", "phase 2: eligible configurations of the model "
                      "in phase 1", (double)c->ncandidates);
}
