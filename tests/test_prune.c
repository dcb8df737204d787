/* test_prune.c — successive halving (issue 21): the prune: key and its located errors, the
 * master's book (prune.c: asynchronous and synchronous decisions, order independence of the
 * synchronous ones, resume from results, the canonical pruned form), the stage reports of a
 * run (run.c) and the stage channel through a run process (isolate.c). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "isolate.h"
#include "prune.h"
#include "run.h"
#include "sched_proto.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static const char *base =
    "benchmark: {name: teacher_student, blocks: 4, block_size: 20, batch: 10, test_size: 20}\n"
    "models: [crashtest]\n"
    "grid:\n"
    "  crashtest.quality: [0, 0.1, 0.2]\n";

static int load_prune(sweep_t *s, const char *prune_line) {
    char text[2048];
    snprintf(text, sizeof text, "%s%s", base, prune_line);
    return sweep_load_text(s, "mem/prune.yaml", text);
}

static void test_parse_defaults_and_values(void) {
    sweep_t s;
    int rc = load_prune(&s, "prune: {}\n");
    CHECK(rc == 0, "empty prune: %s", cls_geterr());
    if (rc) return;
    CHECK(s.prune.enabled && s.prune.eta == 3 && s.prune.min_stages == 1 && !s.prune.synchronous &&
          s.prune.metric == PRUNE_ACC_SEEN && s.prune.ngroup == 1 &&
          !strcmp(s.prune.group_by[0], "model"), "defaults");
    sweep_free(&s);
    rc = load_prune(&s, "prune: {metric: acc_all, eta: 2.5, min_stages: 2, group_by: [model, "
                        "crashtest.quality], synchronous: true}\n");
    CHECK(rc == 0, "full prune: %s", cls_geterr());
    if (rc) return;
    CHECK(s.prune.metric == PRUNE_ACC_ALL && s.prune.eta == 2.5 && s.prune.min_stages == 2 &&
          s.prune.synchronous && s.prune.ngroup == 2 &&
          !strcmp(s.prune.group_by[1], "crashtest.quality"), "values");
    sweep_free(&s);
    rc = load_prune(&s, "");
    CHECK(rc == 0 && !s.prune.enabled, "no prune: off");
    if (!rc) sweep_free(&s);
}

static void test_parse_errors_located(void) {
    /* the prune line is line 5 of the text; the column is the offending node's */
    static const struct {
        const char *line, *where, *what;
    } bad[] = {
        {"prune: 3\n", "mem/prune.yaml:5:8:", "expected a mapping for prune"},
        {"prune: {eta: 1}\n", "mem/prune.yaml:5:14:", "prune.eta to be a number > 1"},
        {"prune: {eta: fast}\n", "mem/prune.yaml:5:14:", "got fast"},
        {"prune: {min_stages: 0}\n", "mem/prune.yaml:5:21:", "integer >= 1"},
        {"prune: {min_stages: 1.5}\n", "mem/prune.yaml:5:21:", "integer >= 1"},
        {"prune: {metric: loss}\n", "mem/prune.yaml:5:17:", "unknown prune.metric 'loss'"},
        {"prune: {synchronous: maybe}\n", "mem/prune.yaml:5:22:", "true or false"},
        {"prune: {group_by: model}\n", "mem/prune.yaml:5:19:", "a list of keys"},
        {"prune: {group_by: [colour]}\n", "mem/prune.yaml:5:20:", "unknown key 'colour'"},
        {"prune: {group_by: [model, model]}\n", "mem/prune.yaml:5:27:", "twice"},
        {"prune: {rate: 3}\n", "mem/prune.yaml:5:9:", "unknown prune setting 'rate'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sweep_t s;
        int rc = load_prune(&s, bad[i].line);
        CHECK(rc != 0, "accepted: %s", bad[i].line);
        if (rc == 0) {
            sweep_free(&s);
            continue;
        }
        const char *e = cls_geterr();
        CHECK(!strncmp(e, bad[i].where, strlen(bad[i].where)) && strstr(e, bad[i].what),
              "%s -> %s (expected %s ... %s)", bad[i].line, e, bad[i].where, bad[i].what);
    }
}

/* A book over n runs of one group (run config model=m), ids = index. */
static prune_state *book(int n, int sync, double eta, run_config *cfg, const run_config **pc) {
    prune_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.enabled = 1;
    sp.eta = eta;
    sp.min_stages = 1;
    sp.synchronous = sync;
    sp.ngroup = 1;
    strcpy(sp.group_by[0], "model");
    for (int i = 0; i < n; i++) {
        cfg_init(&cfg[i]);
        cfg_set(&cfg[i], "model", i % 2 && n > 9 ? "b" : "a");
        pc[i] = &cfg[i];
    }
    return prune_new(&sp, pc, NULL, NULL, n);
}

static run_stage_report rep_at(int stage, double v) {
    run_stage_report r = {stage, 4, 1, v, v};
    return r;
}

static void test_async_book(void) {
    run_config cfg[9];
    const run_config *pc[9];
    prune_state *ps = book(9, 0, 3, cfg, pc);
    /* arrivals at rung 0 in run order, values ascending: each is the best so far */
    int cont = 0;
    for (int i = 0; i < 9; i++) {
        run_stage_report r = rep_at(0, 0.1 * i);
        cont += prune_on_report(ps, i, &r);
    }
    CHECK(cont == 9, "ascending arrivals all continue (%d)", cont);
    /* at rung 1, descending: only the first continues (see test_search's rule test) */
    cont = 0;
    for (int i = 8; i >= 0; i--) {
        run_stage_report r = rep_at(1, 0.1 * i);
        int c = prune_on_report(ps, i, &r);
        cont += c;
        CHECK(c == (i == 8), "run %d at rung 1: %d", i, c);
    }
    CHECK(prune_is_pruned(ps, 3) && !prune_is_pruned(ps, 8), "pruned flags");
    /* a run asking again (requeued and rerun) gets its earlier answer */
    run_stage_report again = rep_at(1, 0.7);
    CHECK(prune_on_report(ps, 7, &again) == 0, "decision repeated for a rerun");
    /* the last stage is no rung */
    run_stage_report last = rep_at(3, 0.0);
    CHECK(prune_on_report(ps, 8, &last) == 1, "no rung after the last stage");
    int nd, np;
    prune_counts(ps, &nd, &np);
    CHECK(nd == 18 && np == 8, "decisions %d, pruned %d", nd, np);
    prune_free(ps);
    for (int i = 0; i < 9; i++) cfg_free(&cfg[i]);
}

/* A finished result of 4 stages, 2 tasks, acc_seen extra = v + 0.01 s. */
static run_result *finished(double v, run_status st, int stages_done) {
    run_result *r = xmalloc(sizeof *r);
    result_init(r);
    result_alloc(r, 4, 2);
    r->higher_is_better = 1;
    double *seen = result_array(r, "acc_seen", "x", "stage", 4, NULL, 0);
    for (int s = 0; s < stages_done; s++) {
        seen[s] = v + 0.01 * s;
        r->R[s * 2] = r->R[s * 2 + 1] = (float)(v + 0.01 * s);
    }
    r->status = st;
    r->acc = v;
    result_set_scalar(r, "retention", "x", 99);
    return r;
}

static int nchanged_cb;
static int count_changed(int idx, void *ctx) {
    (void)idx;
    (void)ctx;
    nchanged_cb++;
    return 0;
}

static void test_sync_book_order_free(void) {
    /* 9 runs; values at rung 0: v_i = perm[i] / 10. Two arrival orders and two ways of
     * knowing a value (a report, or a finished result) give the same decisions. */
    const double vals[9] = {0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6};
    int pruned[2][9];
    for (int order = 0; order < 2; order++) {
        run_config cfg[9];
        const run_config *pc[9];
        prune_state *ps = book(9, 1, 3, cfg, pc);
        run_result *res[9] = {0};
        nchanged_cb = 0;
        for (int k = 0; k < 9; k++) {
            int i = order ? 8 - k : k;
            if (order && i % 2) {   /* finished before its rung was decided */
                res[i] = finished(vals[i], RUN_STATUS_OK, 4);
                prune_on_result(ps, i, res[i]);
            } else {
                run_stage_report r = rep_at(0, vals[i]);
                CHECK(prune_on_report(ps, i, &r) == 1, "sync: continue until decided");
            }
            int got = prune_settle(ps, res, count_changed, NULL);
            CHECK(k == 8 || got == 0, "decided before the rung was complete (k %d)", k);
        }
        for (int i = 0; i < 9; i++) pruned[order][i] = prune_is_pruned(ps, i);
        if (order) {
            CHECK(nchanged_cb == 4, "finished runs pruned afterwards: %d journaled", nchanged_cb);
            /* run 1 (0.1) and 3 (0.3) finished ok and lost at rung 0: canonical pruned form */
            CHECK(res[1]->status == RUN_STATUS_PRUNED && isnan(res[1]->acc) &&
                  isnan(res[1]->R[2]) && res[1]->R[0] == (float)0.1 &&
                  result_find(res[1], "retention") == NULL &&
                  result_find(res[1], "stage_reached")->data[0] == 1,
                  "canonical form: %s", res[1]->message);
            CHECK(strstr(res[1]->message, "ranked 9 of 9") != NULL, "message %s", res[1]->message);
            CHECK(res[5]->status == RUN_STATUS_PRUNED && res[7]->status == RUN_STATUS_PRUNED,
                  "every finished loser is pruned");
        }
        for (int i = 0; i < 9; i++)
            if (res[i]) {
                result_free(res[i]);
                free(res[i]);
            }
        prune_free(ps);
        for (int i = 0; i < 9; i++) cfg_free(&cfg[i]);
    }
    for (int i = 0; i < 9; i++) {
        CHECK(pruned[0][i] == pruned[1][i], "run %d decided differently in another order", i);
        CHECK(pruned[0][i] == !(vals[i] >= 0.7), "run %d (%.1f): top 3 continue", i, vals[i]);
    }
}

static void test_resume_rebuilds_async(void) {
    run_config cfg[3];
    const run_config *pc[3];
    prune_state *ps = book(3, 0, 3, cfg, pc);
    /* resumed: run 0 finished (kept everywhere), run 1 pruned after stage 0 */
    run_result *a = finished(0.9, RUN_STATUS_OK, 4), *b = finished(0.2, RUN_STATUS_PRUNED, 1);
    prune_on_result(ps, 0, a);
    prune_on_result(ps, 1, b);
    CHECK(prune_is_pruned(ps, 1) && !prune_is_pruned(ps, 0), "journaled decisions taken");
    CHECK(b->status == RUN_STATUS_PRUNED && b->R[0] == (float)0.2, "pruned result kept");
    /* run 2 arrives at rung 0 after them: 3 arrivals keep 1, 0.9 is ahead of 0.5 */
    run_stage_report r = rep_at(0, 0.5);
    CHECK(prune_on_report(ps, 2, &r) == 0, "arrival compared with the resumed values");
    result_free(a);
    result_free(b);
    free(a);
    free(b);
    prune_free(ps);
    for (int i = 0; i < 3; i++) cfg_free(&cfg[i]);
}

static void test_groups_separate(void) {
    run_config cfg[12];
    const run_config *pc[12];
    prune_state *ps = book(12, 0, 3, cfg, pc);   /* runs alternate between groups a and b */
    run_stage_report hi = rep_at(0, 0.9), lo = rep_at(0, 0.1);
    CHECK(prune_on_report(ps, 0, &hi) == 1, "a: first");
    CHECK(prune_on_report(ps, 1, &lo) == 1, "b: first arrival of its group continues");
    prune_free(ps);
    for (int i = 0; i < 12; i++) cfg_free(&cfg[i]);
}

/* ---- the run's side ---- */

typedef struct {
    int calls, stop_at;
    run_stage_report first, last;
} hook_ctx;

static int hook(void *ctx, const run_stage_report *rep) {
    hook_ctx *h = ctx;
    if (!h->calls++) h->first = *rep;
    h->last = *rep;
    return rep->stage < h->stop_at;
}

static void test_run_reports_and_stops(void) {
    sweep_t sw;
    int rc = load_prune(&sw, "");
    CHECK(rc == 0, "%s", cls_geterr());
    if (rc) return;
    int ip = -1;
    for (int i = 0; i < sw.nruns; i++)
        if (!strcmp(sweep_get(&sw, i, "crashtest.quality"), "0.2")) ip = i;
    CHECK(ip >= 0, "the run of quality 0.2");
    if (ip < 0) return;
    run_config c;
    sweep_cfg(&sw, ip, &c);
    for (int isolated = 0; isolated < 2; isolated++) {
        hook_ctx h = {0, 1, {0}, {0}};
        run_limits lim = {5, 0, 0, isolated, 1};
        run_result r;
        run_isolated_staged(&c, &lim, hook, &h, &r);
        CHECK(h.calls == 2 && h.last.stage == 1 && h.last.nstages == 4, "%s: calls %d, stage %d",
              isolated ? "isolated" : "in process", h.calls, h.last.stage);
        CHECK(r.status == RUN_STATUS_PRUNED, "status %s: %s", run_status_name(r.status), r.message);
        /* teacher_student (mse; tasks A B A B): crashtest evaluates 0.6 + 0.01 t + quality */
        CHECK_NEAR(h.first.acc_seen, 0.8, 1e-5, "acc_seen after stage 0 (task A)");
        CHECK_NEAR(h.first.acc_all, 0.805, 1e-5, "acc_all after stage 0 (A and B)");
        CHECK_NEAR(h.last.acc_seen, 0.805, 1e-5, "acc_seen after stage 1 (A and B)");
        CHECK(h.first.higher_is_better == 0, "mse: lower is better");
        const result_extra *e = result_find(&r, "acc_seen");
        CHECK(e && e->shape[0] == 4 && !isnan(e->data[1]) && isnan(e->data[2]), "acc_seen extra");
        CHECK(r.R && !isnan(r.R[1 * r.ntasks]) && isnan(r.R[2 * r.ntasks]), "R up to stage 1");
        result_free(&r);
    }
    hook_ctx all = {0, 99, {0}, {0}};
    run_limits lim = {5, 0, 0, 1, 1};
    run_result r;
    run_isolated_staged(&c, &lim, hook, &all, &r);
    CHECK(r.status == RUN_STATUS_OK && all.calls == 3, "kept: ok after 3 reports (%d, %s)", all.calls,
          r.message);
    result_free(&r);
    cfg_free(&c);
    sweep_free(&sw);
}

static void test_stage_messages(void) {
    run_stage_report r = {3, 5, 1, 0.625, -1.5}, back;
    unsigned char b[PROTO_STAGE_SIZE];
    proto_stage_pack(b, 70000, &r);
    CHECK(b[0] == (70000 & 255) && b[2] == 1 && b[4] == 3 && b[8] == 5, "int32 fields little-endian");
    int32_t idx = 0;
    proto_stage_unpack(b, &idx, &back);
    CHECK(idx == 70000 && back.stage == 3 && back.nstages == 5 && back.higher_is_better == 1 &&
          back.acc_seen == 0.625 && back.acc_all == -1.5, "stage report round trip");
    unsigned char a[PROTO_DECIDE_SIZE];
    int keep = -1;
    proto_decision_pack(a, 12, 1);
    proto_decision_unpack(a, &idx, &keep);
    CHECK(idx == 12 && keep == 1, "continue");
    proto_decision_pack(a, -1, 0);
    proto_decision_unpack(a, &idx, &keep);
    CHECK(idx == -1 && keep == 0, "stop, index -1");
}

int main(void) {
    RUN_TEST(test_parse_defaults_and_values);
    RUN_TEST(test_parse_errors_located);
    RUN_TEST(test_async_book);
    RUN_TEST(test_sync_book_order_free);
    RUN_TEST(test_resume_rebuilds_async);
    RUN_TEST(test_groups_separate);
    RUN_TEST(test_run_reports_and_stops);
    RUN_TEST(test_stage_messages);
    TEST_EXIT();
}
