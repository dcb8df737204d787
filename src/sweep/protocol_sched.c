/* protocol_sched.c — the tuning protocol in the expansion and the scheduler
 * (protocol_sched.h): phase-2 placeholders, the master's book of models (their phase-1 and
 * phase-2 runs, the selection), filling a model's placeholders with its winner. Sweep layer:
 * called by sweep.c and sched_master.c only. The placeholders' configurations are replaced
 * in the sweep's run store (runstore_put), with their new ids. */
#include "protocol_sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runindex.h"
#include "runstore.h"
#include "util.h"

int protocol_phase(const sweep_t *s, int i) {
    const char *v = s->protocol.enabled ? sweep_get(s, i, "protocol.phase") : NULL;
    return v ? atoi(v) : 0;
}

/* ---- the master's book ---- */

typedef struct {
    const char *name;
    int *p1, n1;          /* phase-1 runs */
    int *p2, n2;          /* phase-2 runs */
    char **cand;          /* (n1) candidate keys */
    protocol_choice choice;
    int filled;           /* the selection is made (placeholders filled or failed) */
} pmodel_t;

static struct {
    pmodel_t *m;
    int nm;
    int *model_of;        /* (nruns) model of a protocol run, -1 */
    sweep_t *sw;
    run_result **results;
    journal_t *journal;
    int quiet;
    char failmsg[RESULT_MSG_MAX];
    run_status failstatus;
} bk;

void protocol_master_free(void) {
    for (int k = 0; k < bk.nm; k++) {
        for (int a = 0; a < bk.m[k].n1; a++) free(bk.m[k].cand[a]);
        free(bk.m[k].cand);
        free(bk.m[k].p1);
        free(bk.m[k].p2);
    }
    free(bk.m);
    free(bk.model_of);
    memset(&bk, 0, sizeof bk);
}

int protocol_held(int idx) {
    if (!bk.model_of || bk.model_of[idx] < 0) return 0;
    const pmodel_t *pm = &bk.m[bk.model_of[idx]];
    return !pm->filled && protocol_phase(bk.sw, idx) == 2;
}

/* Run i's configuration without its seed: the candidate it belongs to. */
static char *cand_key(const sweep_t *s, int i) {
    size_t len = 1;
    int n = sweep_nkeys(s, i);
    for (int j = 0; j < n; j++) len += strlen(sweep_key(s, i, j)) + strlen(sweep_val(s, i, j)) + 2;
    char *out = xmalloc(len), *p = out;
    *p = 0;
    for (int j = 0; j < n; j++)
        if (strcmp(sweep_key(s, i, j), "seed"))
            p += sprintf(p, "%s=%s\x1f", sweep_key(s, i, j), sweep_val(s, i, j));
    return out;
}

static void build_book(sweep_t *s) {
    bk.model_of = xmalloc(sizeof(int) * (size_t)(s->nruns ? s->nruns : 1));
    bk.m = xcalloc((size_t)(s->nruns ? s->nruns : 1), sizeof(pmodel_t));
    for (int i = 0; i < s->nruns; i++) {
        bk.model_of[i] = -1;
        int ph = protocol_phase(s, i);
        if (ph != 1 && ph != 2) continue;
        const char *name = sweep_str(s, i, "model");
        int k = 0;
        while (k < bk.nm && strcmp(bk.m[k].name, name)) k++;
        pmodel_t *pm = &bk.m[k];
        if (k == bk.nm) {
            bk.nm++;
            pm->name = name;
            pm->p1 = xmalloc(sizeof(int) * (size_t)s->nruns);
            pm->p2 = xmalloc(sizeof(int) * (size_t)s->nruns);
            pm->cand = xmalloc(sizeof(char *) * (size_t)s->nruns);
        }
        bk.model_of[i] = k;
        if (ph == 1) {
            pm->cand[pm->n1] = cand_key(s, i);
            pm->p1[pm->n1++] = i;
        } else {
            pm->p2[pm->n2++] = i;
        }
    }
}

/* Selects model k's configuration from results (NULL entries: not finished); when ready,
 * fills its placeholders. Returns 1 when the selection was made now. */
static int select_model(int k, run_result **results) {
    pmodel_t *pm = &bk.m[k];
    if (pm->filled) return 0;
    sweep_t *s = bk.sw;
    const char **ids = xmalloc(sizeof(char *) * (size_t)s->nruns);
    for (int a = 0; a < pm->n1; a++) ids[pm->p1[a]] = s->runs[pm->p1[a]].id;
    protocol_select(&s->protocol, pm->name, pm->p1, pm->n1, results, ids,
                    (const char *const *)pm->cand, &pm->choice);
    free(ids);
    if (!pm->choice.ready) return 0;
    pm->filled = 1;
    if (!pm->choice.found) return 1;
    run_config w;
    sweep_cfg(s, pm->choice.winner_run, &w);
    cfg_unset(&w, "benchmark.tune_tasks");
    cfg_set(&w, "protocol.phase", "2");
    cfg_set(&w, "protocol.selected", pm->choice.winner_id);
    double cost = s->runs[pm->choice.winner_run].cost;
    for (int a = 0; a < pm->n2; a++) {
        int i = pm->p2[a];
        const char *seed = sweep_str(s, i, "seed");
        run_config c;
        cfg_copy(&c, &w);
        cfg_set(&c, "seed", seed);
        sweep_run *r = &s->runs[i];
        runstore_put(s->store, &c, &r->keyset, &r->off);
        r->hash = cfg_hash(&c);
        snprintf(r->id, sizeof r->id, "%016llx", (unsigned long long)r->hash);
        r->cost = cost * (s->protocol.tasks > 0 ? 2.0 : 1.0);
        cfg_free(&c);
    }
    cfg_free(&w);
    return 1;
}

static void say_choice(const pmodel_t *pm) {
    if (bk.quiet) return;
    const protocol_choice *c = &pm->choice;
    if (!c->found) {
        fprintf(stderr, "clsweep: protocol: %s: no eligible configuration in phase 1 (%d left "
                        "out: a run failed, diverged or is unsupported); its %d phase-2 run(s) "
                        "are recorded %s\n", pm->name, c->nineligible, pm->n2,
                c->all_unsupported ? "unsupported" : "failed");
        return;
    }
    char *cfg = sweep_cfg_string(bk.sw, pm->choice.winner_run);
    fprintf(stderr, "clsweep: protocol: %s: selected %s (%s %.6g, mean over %d tune seed(s); "
                    "runner-up %.6g, margin %.3g; %d eligible, %d left out); its first "
                    "phase-1 run: %s\n", pm->name,
            c->winner_id, protocol_metric_name(bk.sw->protocol.metric), c->mean, c->nseeds,
            c->runner_up, c->margin, c->ncandidates, c->nineligible, cfg);
    free(cfg);
}

/* ---- before the resume: the selection from the earlier results ---- */

typedef struct {
    runindex ix;
    run_result **res;
} pre_ctx;

static void pre_one(const char *id, run_result *r, void *ctx) {
    pre_ctx *pc = ctx;
    int final = r->status != RUN_STATUS_FAILED && r->status != RUN_STATUS_ABANDONED;
    int i = runindex_find(&pc->ix, id);
    if (i >= 0 && final && protocol_phase(bk.sw, i) == 1) {
        if (pc->res[i]) {
            result_free(pc->res[i]);
            free(pc->res[i]);
        }
        pc->res[i] = xmalloc(sizeof(run_result));
        *pc->res[i] = *r;
        return;
    }
    result_free(r);
}

int protocol_master_init(sweep_t *sw, run_result **results, journal_t *j,
                         const char *journal_path, const char *out, const sched_options *o,
                         int quiet) {
    protocol_master_free();
    if (!sw->protocol.enabled) return 0;
    if (o->shard_count > 0) {
        cls_seterr("%s: a sweep with protocol: cannot be sharded (phase 2 of a model needs all "
                   "its phase-1 runs): run it as one job", sw->path);
        return -1;
    }
    bk.sw = sw;
    bk.results = results;
    bk.journal = j;
    bk.quiet = quiet;
    build_book(sw);
    pre_ctx pc;
    pc.res = xcalloc((size_t)(sw->nruns ? sw->nruns : 1), sizeof(run_result *));
    runindex_init(&pc.ix, sw);
    struct stat st;
    int err = 0;
    if (stat(journal_path, &st) == 0)
        err = journal_read(journal_path, pre_one, &pc, NULL);
    else if (stat(out, &st) == 0)
        err = output_read(out, pre_one, &pc);
    runindex_free(&pc.ix);
    for (int k = 0; k < bk.nm && !err; k++)
        if (select_model(k, pc.res)) say_choice(&bk.m[k]);
    for (int i = 0; i < sw->nruns; i++)
        if (pc.res[i]) {
            result_free(pc.res[i]);
            free(pc.res[i]);
        }
    free(pc.res);
    return 0;   /* a damaged journal is sched_resume's to report */
}

/* The status and message of model pm's phase-2 runs when nothing was eligible. */
static void say_failed(const pmodel_t *pm) {
    bk.failstatus = pm->choice.all_unsupported ? RUN_STATUS_UNSUPPORTED : RUN_STATUS_FAILED;
    if (pm->choice.all_unsupported)
        snprintf(bk.failmsg, sizeof bk.failmsg, "protocol: every phase-1 run of %s was "
                 "unsupported, nothing to select", pm->name);
    else
        snprintf(bk.failmsg, sizeof bk.failmsg, "protocol: no eligible configuration of %s in "
                 "phase 1 (every candidate had a run that failed, diverged or was unsupported)",
                 pm->name);
}

static int record_failed(int i) {
    run_result r;
    result_init(&r);
    result_fail(&r, bk.failstatus, "%s", protocol_fail_message());
    protocol_master_result(i, &r);
    if (journal_append(bk.journal, bk.sw->runs[i].id, &r, 0)) {
        result_free(&r);
        return -1;
    }
    bk.results[i] = xmalloc(sizeof(run_result));
    *bk.results[i] = r;
    return 0;
}

int protocol_master_resumed(void) {
    for (int k = 0; k < bk.nm; k++) {
        pmodel_t *pm = &bk.m[k];
        if (!pm->filled || pm->choice.found) continue;
        say_failed(pm);
        for (int a = 0; a < pm->n2; a++)
            if (!bk.results[pm->p2[a]] && record_failed(pm->p2[a])) return -1;
    }
    return 0;
}

const char *protocol_fail_message(void) { return bk.failmsg; }
run_status protocol_fail_status(void) { return bk.failstatus; }

void protocol_master_result(int idx, run_result *r) {
    if (!bk.model_of || idx < 0 || idx >= bk.sw->nruns || bk.model_of[idx] < 0) return;
    int ph = protocol_phase(bk.sw, idx);
    protocol_annotate(r, ph, ph == 2 ? &bk.m[bk.model_of[idx]].choice : NULL);
}

int protocol_resolve(sweep_t *sw, run_result **results) {
    if (!sw->protocol.enabled) return 0;
    protocol_master_free();
    bk.sw = sw;
    bk.quiet = 1;
    build_book(sw);
    int n = 0;
    for (int k = 0; k < bk.nm; k++) n += select_model(k, results) && bk.m[k].choice.found;
    protocol_master_free();
    return n;
}

void protocol_master_after(int idx, const int **runs, int *n, int *fail) {
    *runs = NULL;
    *n = 0;
    *fail = 0;
    if (!bk.model_of || idx < 0 || idx >= bk.sw->nruns || bk.model_of[idx] < 0) return;
    if (protocol_phase(bk.sw, idx) != 1) return;
    int k = bk.model_of[idx];
    if (!select_model(k, bk.results)) return;
    pmodel_t *pm = &bk.m[k];
    say_choice(pm);
    *runs = pm->p2;
    *n = pm->n2;
    if (!pm->choice.found) {
        *fail = 1;
        say_failed(pm);
    }
}
