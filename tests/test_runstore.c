/* test_runstore.c — the compact run store (src/sweep/runstore.c) and the expansion of large
 * sweeps (issue 23): configurations read back exactly (entries, sweep_get, sweep_cfg,
 * sweep_cfg_string, hash), texts and key sets shared, the fast path of a repeated key set
 * correct when values or keys change, the memoised projection equal to cfg_project, and a
 * 10^5-run expansion within a memory bound per run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "registry.h"
#include "runstore.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

/* Configuration number i of a family: keys vary with i % 3, values with i. */
static void make_cfg(run_config *c, int i) {
    char v[32];
    cfg_init(c);
    cfg_set(c, "model", i % 2 ? "ewc" : "finetune");
    snprintf(v, sizeof v, "%d", i);
    cfg_set(c, "seed", v);
    cfg_set(c, "benchmark.name", "split_mnist");
    snprintf(v, sizeof v, "%.9g", 0.5 * i);
    if (i % 3 != 1) cfg_set(c, "ewc.lambda", v);
    if (i % 3 == 2) cfg_set(c, "train.lr", "0.01");
    cfg_set(c, "zz.empty", "");
}

static void check_same(const sweep_t *s, int i, const run_config *want) {
    CHECK(sweep_nkeys(s, i) == want->n, "run %d: %d keys, want %d", i, sweep_nkeys(s, i), want->n);
    for (int j = 0; j < want->n && j < sweep_nkeys(s, i); j++) {
        CHECK(!strcmp(sweep_key(s, i, j), want->e[j].key), "run %d key %d", i, j);
        CHECK(!strcmp(sweep_val(s, i, j), want->e[j].val), "run %d val %d: %s vs %s", i, j,
              sweep_val(s, i, j), want->e[j].val);
        const char *g = sweep_get(s, i, want->e[j].key);
        CHECK(g && !strcmp(g, want->e[j].val), "run %d: sweep_get %s", i, want->e[j].key);
    }
    CHECK(sweep_get(s, i, "absent.key") == NULL && sweep_get(s, i, "") == NULL,
          "run %d: an absent key is NULL", i);
    run_config back;
    sweep_cfg(s, i, &back);
    CHECK(cfg_hash(&back) == cfg_hash(want) && s->runs[i].hash == cfg_hash(want),
          "run %d: hash of the rebuilt configuration", i);
    char *a = sweep_cfg_string(s, i), *b = cfg_to_string(want);
    CHECK(!strcmp(a, b), "run %d: text %s vs %s", i, a, b);
    free(a);
    free(b);
    cfg_free(&back);
}

static void test_round_trip(void) {
    sweep_t s;
    memset(&s, 0, sizeof s);
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        run_config c;
        make_cfg(&c, i);
        sweep_add_run(&s, &c, cfg_hash(&c), (double)i);
        cfg_free(&c);
    }
    CHECK(s.nruns == N, "%d runs", s.nruns);
    for (int i = 0; i < N; i++) {
        run_config c;
        make_cfg(&c, i);
        check_same(&s, i, &c);
        cfg_free(&c);
        CHECK(s.runs[i].cost == (double)i, "cost of run %d", i);
    }
    /* Equal texts are one copy: the same pointer from every run. */
    CHECK(sweep_get(&s, 0, "benchmark.name") == sweep_get(&s, N - 1, "benchmark.name"),
          "texts are interned");
    /* Three key sets × two models... but the model is a value: three key sets. */
    CHECK(s.runs[0].keyset == s.runs[3].keyset && s.runs[0].keyset != s.runs[1].keyset &&
          s.runs[1].keyset != s.runs[2].keyset, "key sets shared");
    size_t bytes = runstore_bytes(s.store);
    CHECK(bytes < (size_t)N * 200, "store of %d runs holds %zu bytes", N, bytes);
    runstore_free(s.store);
    free(s.runs);
}

/* A configuration without keys, and one with more keys than the fast path's stack. */
static void test_edges(void) {
    sweep_t s;
    memset(&s, 0, sizeof s);
    run_config none, big;
    cfg_init(&none);
    cfg_init(&big);
    for (int k = 0; k < 300; k++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k.%03d", k);
        snprintf(val, sizeof val, "%d", k * 7);
        cfg_set(&big, key, val);
    }
    sweep_add_run(&s, &none, cfg_hash(&none), 1);
    sweep_add_run(&s, &big, cfg_hash(&big), 1);
    cfg_set(&big, "k.150", "changed");
    sweep_add_run(&s, &big, cfg_hash(&big), 1);
    sweep_add_run(&s, &none, cfg_hash(&none), 1);
    check_same(&s, 0, &none);
    check_same(&s, 3, &none);
    check_same(&s, 2, &big);
    cfg_set(&big, "k.150", "1050");
    check_same(&s, 1, &big);
    char *t = sweep_cfg_string(&s, 0);
    CHECK(!strcmp(t, ""), "empty configuration text '%s'", t);
    free(t);
    cfg_free(&none);
    cfg_free(&big);
    runstore_free(s.store);
    free(s.runs);
}

/* A 10^5-run grid: the expansion keeps ids equal to the hash of the projected
 * configuration, and the memory per run stays small (was ~1.6 KB per run). */
static void test_large_grid(void) {
    const char *text =
        "name: big\n"
        "benchmark: {name: teacher_student, blocks: 1, block_size: 1, batch: 1, test_size: 1}\n"
        "models: [crashtest]\n"
        "defaults: {analysis.when: none}\n"
        "grid:\n"
        "  crashtest.at_stage: {range: [0, 1000, 1]}\n"
        "  crashtest.ws_dim: {range: [1, 101, 1]}\n";
    sweep_t s;
    int rc = sweep_load_text(&s, "mem/big.yaml", text);
    CHECK(rc == 0, "load: %s", cls_geterr());
    if (rc) return;
    CHECK(s.nruns == 100000, "%d runs", s.nruns);
    for (int i = 0; i < s.nruns; i += 9973) {
        run_config c;
        sweep_cfg(&s, i, &c);
        run_config p;
        cfg_copy(&p, &c);
        cfg_project(&p, "crashtest", "teacher_student");   /* the memo gives the same */
        CHECK(cfg_hash(&p) == s.runs[i].hash && p.n == c.n, "run %d: projection", i);
        char id[17];
        snprintf(id, sizeof id, "%016llx", (unsigned long long)cfg_hash(&c));
        CHECK(!strcmp(id, s.runs[i].id), "run %d: id", i);
        char want[32];
        snprintf(want, sizeof want, "%d", i / 100);
        CHECK(!strcmp(sweep_str(&s, i, "crashtest.at_stage"), want), "run %d: at_stage", i);
        cfg_free(&c);
        cfg_free(&p);
    }
    size_t per_run = (runstore_bytes(s.store) + sizeof(sweep_run) * (size_t)s.nruns) / 100000;
    printf("# 10^5 runs: %zu bytes per run (store + run table)\n", per_run);
    /* issue 23's target: 10^6 runs expanded in <= 300 MB, the store and run table included */
    CHECK(per_run < 300, "%zu bytes per run", per_run);
    sweep_free(&s);
}

int main(void) {
    RUN_TEST(test_round_trip);
    RUN_TEST(test_edges);
    RUN_TEST(test_large_grid);
    TEST_EXIT();
}
