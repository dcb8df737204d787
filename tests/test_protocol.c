/* test_protocol.c — the tuning protocol (issue 21): the protocol: key and every malformed
 * setting's located error, the expansion (phase-1 marks, tune seeds, placeholders, evaluate
 * seeds disjoint from the tune seeds), the selection rule (protocol_select: means over
 * seeds, ineligible candidates, direction per metric, ties by id, not ready), and the
 * first-k-tasks stream of phase 1 (bench_init with benchmark.tune_tasks). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "protocol.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static const char *base =
    "benchmark: {name: teacher_student, contexts: 3, d_out: 5, blocks: 3, block_size: 20, "
    "batch: 10, test_size: 20}\n"
    "models: [crashtest]\n"
    "grid:\n"
    "  crashtest.quality: [0, 0.1, 0.2]\n";

static int load(sweep_t *s, const char *tail) {
    char text[4096];
    snprintf(text, sizeof text, "%s%s", base, tail);
    return sweep_load_text(s, "mem/proto.yaml", text);
}

static void test_parse_and_expand(void) {
    sweep_t s;
    int rc = load(&s, "protocol:\n  tune: {tasks: 2, seeds: [100, 101]}\n"
                      "  select: {metric: forgetting, per: model}\n  evaluate: {seeds: 3}\n");
    CHECK(rc == 0, "protocol: %s", cls_geterr());
    if (rc) return;
    const protocol_spec *sp = &s.protocol;
    CHECK(sp->enabled && sp->tasks == 2 && sp->ntune == 2 && sp->tune_seeds[1] == 101 &&
          sp->metric == PROTO_SEL_FORGETTING && sp->neval == 3, "settings");
    CHECK(sp->eval_seeds[0] == 0 && sp->eval_seeds[2] == 2, "evaluate: {seeds: 3} -> 0, 1, 2");
    CHECK(s.nruns == 3 * 2 + 3, "3 points x 2 tune seeds + 1 model x 3 placeholders: %d", s.nruns);
    int n1 = 0, n2 = 0;
    for (int i = 0; i < s.nruns; i++) {
        const char *ph = sweep_get(&s, i, "protocol.phase");
        const char *tt = sweep_get(&s, i, "benchmark.tune_tasks");
        long seed = atol(sweep_str(&s, i, "seed"));
        if (ph && !strcmp(ph, "1")) {
            n1++;
            CHECK(tt && !strcmp(tt, "2") && (seed == 100 || seed == 101), "phase-1 run %d", i);
        } else if (ph && !strcmp(ph, "2")) {
            n2++;
            CHECK(i >= 6 && !tt && seed == n2 - 1 &&
                  !strcmp(sweep_str(&s, i, "protocol.selected"), PROTOCOL_PENDING),
                  "placeholder %d follows phase 1, seed %ld", i, seed);
        }
    }
    CHECK(n1 == 6 && n2 == 3, "phases %d %d", n1, n2);
    sweep_free(&s);
    /* fresh seeds skip the tune seeds; an explicit list is kept */
    rc = load(&s, "protocol: {tune: {seeds: 2}, evaluate: {seeds: 3}}\n");
    CHECK(rc == 0, "%s", cls_geterr());
    if (!rc) {
        CHECK(s.protocol.tasks == 0 && s.protocol.eval_seeds[0] == 2 &&
              s.protocol.eval_seeds[2] == 4, "evaluate seeds 2, 3, 4 after tune 0, 1");
        CHECK(!sweep_get(&s, 0, "benchmark.tune_tasks"), "tasks 0: the whole stream");
        sweep_free(&s);
    }
    rc = load(&s, "protocol: {tune: {seeds: [7]}, evaluate: {seeds: [3, 1]}}\n");
    CHECK(rc == 0 && s.protocol.eval_seeds[0] == 3 && s.protocol.eval_seeds[1] == 1, "list");
    if (!rc) sweep_free(&s);
    /* random search: the draws are the candidates */
    rc = sweep_load_text(&s, "mem/proto.yaml",
                         "benchmark: {name: teacher_student, contexts: 3, d_out: 5}\n"
                         "models: [crashtest]\nsearch: {method: random, samples: 4, seed: 1}\n"
                         "grid: {crashtest.quality: {uniform: [0, 1]}}\n"
                         "protocol: {tune: {tasks: 1, seeds: 2}, evaluate: {seeds: 2}}\n");
    CHECK(rc == 0 && s.nruns == 4 * 2 + 2, "random search: 4 draws x 2 tune seeds + 2: %s",
          rc ? cls_geterr() : "");
    if (!rc) sweep_free(&s);
    rc = load(&s, "");
    CHECK(rc == 0 && !s.protocol.enabled && s.nruns == 3, "no protocol: a plain grid");
    if (!rc) sweep_free(&s);
}

static void test_errors_located(void) {
    /* the protocol text starts on line 5 (base has 4 lines) */
    static const struct {
        const char *text, *where, *what;
    } bad[] = {
        {"protocol: 3\n", "mem/proto.yaml:5:11:", "expected a mapping for protocol"},
        {"protocol: {tune: {seeds: 2}}\n", "mem/proto.yaml:5:11:", "needs evaluate"},
        {"protocol: {evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:11:", "needs tune"},
        {"protocol: {tune: {seeds: 2}, evaluate: {seeds: 2}, stage: 1}\n",
         "mem/proto.yaml:5:52:", "unknown protocol setting 'stage'"},
        {"protocol: {tune: [1], evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:18:",
         "mapping for protocol.tune"},
        {"protocol: {tune: {tasks: 2}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:18:",
         "protocol.tune needs seeds"},
        {"protocol: {tune: {seeds: 2, tasks: -1}, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:36:", "protocol.tune.tasks to be an integer"},
        {"protocol: {tune: {seeds: 2, tasks: 3}, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:36:", "has 3 task(s)"},
        {"protocol: {tune: {seeds: 2, epochs: 3}, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:29:", "unknown protocol.tune setting 'epochs'"},
        {"protocol: {tune: {seeds: 0}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:26:",
         "protocol.tune.seeds to be a count"},
        {"protocol: {tune: {seeds: []}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:26:",
         "empty list"},
        {"protocol: {tune: {seeds: [1, x]}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:30:",
         "non-negative integer seed"},
        {"protocol: {tune: {seeds: [1, 1]}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:30:",
         "listed twice"},
        {"protocol: {tune: {seeds: 2}, select: {metric: loss}, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:47:", "unknown protocol.select.metric 'loss'"},
        {"protocol: {tune: {seeds: 2}, select: {per: seed}, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:44:", "protocol.select.per 'seed'"},
        {"protocol: {tune: {seeds: 2}, select: {by: acc}, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:39:", "unknown protocol.select setting 'by'"},
        {"protocol: {tune: {seeds: 2}, select: acc, evaluate: {seeds: 2}}\n",
         "mem/proto.yaml:5:38:", "mapping for protocol.select"},
        {"protocol: {tune: {seeds: 2}, evaluate: {}}\n", "mem/proto.yaml:5:40:",
         "protocol.evaluate needs seeds"},
        {"protocol: {tune: {seeds: 2}, evaluate: {seeds: 2, n: 1}}\n", "mem/proto.yaml:5:51:",
         "unknown protocol.evaluate setting 'n'"},
        {"protocol: {tune: {seeds: [4, 5]}, evaluate: {seeds: [3, 5]}}\n",
         "mem/proto.yaml:5:57:", "also a tune seed"},
        {"protocol: {tune: {seeds: 2}, evaluate: {seeds: many}}\n", "mem/proto.yaml:5:48:",
         "protocol.evaluate.seeds to be a count"},
        {"seeds: 3\nprotocol: {tune: {seeds: 2}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:8:",
         "remove seeds:"},
        {"prune: {}\nprotocol: {tune: {seeds: 2}, evaluate: {seeds: 2}}\n", "mem/proto.yaml:5:8:",
         "not supported with protocol"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sweep_t s;
        int rc = load(&s, bad[i].text);
        CHECK(rc != 0, "accepted: %s", bad[i].text);
        if (rc == 0) {
            sweep_free(&s);
            continue;
        }
        const char *e = cls_geterr();
        CHECK(!strncmp(e, bad[i].where, strlen(bad[i].where)) && strstr(e, bad[i].what),
              "%s -> %s (expected %s ... %s)", bad[i].text, e, bad[i].where, bad[i].what);
    }
}

/* A result of status st with acc (higher is better per hib) and forgetting f. */
static run_result *res(run_result *r, run_status st, double acc, double f, int hib) {
    result_init(r);
    r->status = st;
    r->acc = acc;
    r->bwt = -f;
    r->fwt = 0;
    r->forgetting = f;
    r->higher_is_better = hib;
    return r;
}

static void test_select(void) {
    protocol_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.enabled = 1;
    /* 4 candidates x 2 seeds: runs 2k, 2k+1 are candidate k */
    run_result rr[8];
    run_result *R[8];
    const char *ids[8] = {"0a", "0b", "1a", "1b", "2a", "2b", "3a", "3b"};
    const char *cand[8] = {"A", "A", "B", "B", "C", "C", "D", "D"};
    int p1[8];
    double acc[8] = {0.5, 0.7, 0.65, 0.65, 0.9, 0.95, 0.6, 0.6};
    for (int i = 0; i < 8; i++) {
        p1[i] = i;
        R[i] = res(&rr[i], RUN_STATUS_OK, acc[i], 1 - acc[i], 1);
    }
    R[5]->status = RUN_STATUS_DIVERGED;   /* C: best mean but one seed diverged */
    protocol_choice c;
    protocol_select(&sp, "m", p1, 8, R, ids, cand, &c);
    /* A and B tie at 0.6 / 0.65? A = 0.6, B = 0.65, D = 0.6: B wins, runner-up 0.6 */
    CHECK(c.ready && c.found && c.winner_run == 2 && !strcmp(c.winner_id, "1a"), "B wins: %d %s",
          c.winner_run, c.winner_id);
    CHECK_NEAR(c.mean, 0.65, 1e-12, "mean");
    CHECK_NEAR(c.runner_up, 0.6, 1e-12, "runner-up");
    CHECK_NEAR(c.margin, 0.05, 1e-12, "margin");
    CHECK(c.nseeds == 2 && c.ncandidates == 3 && c.nineligible == 1, "counts");
    /* forgetting: lower is better; A (0.4) ties D (0.4): the lower id wins */
    sp.metric = PROTO_SEL_FORGETTING;
    R[2]->forgetting = R[3]->forgetting = 0.9;
    protocol_select(&sp, "m", p1, 8, R, ids, cand, &c);
    CHECK(c.found && !strcmp(c.winner_id, "0a") && c.margin == 0, "tie -> lower id: %s",
          c.winner_id);
    /* candidate order in the input does not matter */
    int rev[8];
    for (int i = 0; i < 8; i++) rev[i] = 7 - i;
    protocol_choice c2;
    protocol_select(&sp, "m", rev, 8, R, ids, cand, &c2);
    CHECK(!strcmp(c2.winner_id, c.winner_id) && c2.mean == c.mean, "order free");
    /* mse (higher_is_better 0) with acc: lower wins */
    sp.metric = PROTO_SEL_ACC;
    for (int i = 0; i < 8; i++) R[i]->higher_is_better = 0;
    protocol_select(&sp, "m", p1, 8, R, ids, cand, &c);
    CHECK(c.found && !strcmp(c.winner_id, "0a"), "mse: A (0.6) ties D, lower id: %s", c.winner_id);
    /* not ready while a run is missing */
    run_result *keep = R[7];
    R[7] = NULL;
    protocol_select(&sp, "m", p1, 8, R, ids, cand, &c);
    CHECK(!c.ready && !c.found, "not ready");
    R[7] = keep;
    /* nothing eligible */
    for (int i = 0; i < 8; i++) R[i]->status = RUN_STATUS_FAILED;
    protocol_select(&sp, "m", p1, 8, R, ids, cand, &c);
    CHECK(c.ready && !c.found && c.winner_run == -1 && c.nineligible == 4, "none eligible");
    for (int i = 0; i < 8; i++) result_free(R[i]);
}

static void test_first_tasks(void) {
    run_config cfg;
    cfg_init(&cfg);
    cfg_set(&cfg, "benchmark.name", "teacher_student");
    cfg_set(&cfg, "benchmark.contexts", "3");
    cfg_set(&cfg, "benchmark.d_in", "20");
    cfg_set(&cfg, "benchmark.d_out", "5");
    cfg_set(&cfg, "benchmark.blocks", "6");
    cfg_set(&cfg, "benchmark.block_size", "2");
    cfg_set(&cfg, "benchmark.batch", "4");
    cfg_set(&cfg, "benchmark.teacher_seed", "0");
    cfg_set(&cfg, "benchmark.test_size", "8");
    bench_t b;
    int rc = bench_init(&b, &cfg, 1);
    CHECK(rc == 0 && b.ntasks == 3 && b.nstages == 6, "full stream: %s", rc ? cls_geterr() : "");
    if (!rc) bench_free(&b);
    cfg_set(&cfg, "benchmark.tune_tasks", "2");
    rc = bench_init(&b, &cfg, 1);
    CHECK(rc == 0 && b.ntasks == 2 && b.nstages == 2 && b.stage_task[1] == 1,
          "first 2 tasks: the stages before task 2");
    if (!rc) bench_free(&b);
    cfg_free(&cfg);
}

int main(void) {
    RUN_TEST(test_parse_and_expand);
    RUN_TEST(test_errors_located);
    RUN_TEST(test_select);
    RUN_TEST(test_first_tasks);
    TEST_EXIT();
}
