/* test_fair.c — fair comparisons by construction (issue 16) and the benchmark/option tables
 * (issue 15): resolved train.* values before identity, identity stable across spellings,
 * equal default budgets with explicit model-scoped overrides, recorded budget keys,
 * warnings for axes no model reads, the train.epochs alias, sweep options from a table,
 * benchmark specs behind cost(), the stable EWC step (defaults do not diverge on the four
 * classification benchmarks) and a forced divergence that names its bound.
 * Run from the repository root. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "data.h"
#include "ewc.h"
#include "model.h"
#include "sweep.h"
#include "test.h"
#include "test_run.h"
#include "train.h"
#include "util.h"

static int load(sweep_t *s, const char *text) {
    int rc = sweep_load_text(s, "mem/fair.yaml", text);
    CHECK(rc == 0, "unexpected error: %s", cls_geterr());
    return rc;
}

static const char *get(const sweep_t *s, int i, const char *key) {
    const char *v = sweep_get(s, i, key);
    return v ? v : "(absent)";
}

/* The run of model m (first one) in s, or -1. */
static int run_of(const sweep_t *s, const char *m) {
    for (int i = 0; i < s->nruns; i++)
        if (!strcmp(get(s, i, "model"), m)) return i;
    return -1;
}

/* No train.* value of any run is an unresolved auto/0/-1. */
static void check_resolved(const sweep_t *s, const char *what) {
    for (int i = 0; i < s->nruns; i++) {
        const char *o = sweep_get(s, i, "train.optimizer");
        if (!o) continue;
        CHECK(strcmp(o, "auto"), "%s run %d: train.optimizer auto", what, i);
        CHECK(atof(get(s, i, "train.lr")) > 0, "%s run %d: train.lr %s", what, i,
              get(s, i, "train.lr"));
        CHECK(atoi(get(s, i, "train.batch_size")) > 0, "%s run %d: batch %s", what, i,
              get(s, i, "train.batch_size"));
        CHECK(atof(get(s, i, "train.weight_decay")) >= 0, "%s run %d: wd %s", what, i,
              get(s, i, "train.weight_decay"));
    }
}

/* Every benchmark kind: the configuration holds the values the run uses. */
static void test_resolved_values(void) {
    static const char *const benches[] = {"split_mnist", "teacher_student", "curves3d"};
    static const char *const want_opt[] = {"sgd", "sgd", "adamw"};
    static const char *const want_lr[] = {"0.05", "0.05", "0.0005"};
    static const char *const want_bs[] = {"32", "200", "300"};
    static const char *const want_wd[] = {"0", "0", "0.01"};
    for (int b = 0; b < 3; b++) {
        char text[256];
        snprintf(text, sizeof text, "benchmark: %s\nmodels: [finetune, ewc]\n", benches[b]);
        sweep_t s;
        if (load(&s, text)) continue;
        check_resolved(&s, benches[b]);
        for (int i = 0; i < s.nruns; i++) {
            CHECK(!strcmp(get(&s, i, "train.optimizer"), want_opt[b]), "%s: optimizer %s",
                  benches[b], get(&s, i, "train.optimizer"));
            CHECK(!strcmp(get(&s, i, "train.lr"), want_lr[b]), "%s: lr %s", benches[b],
                  get(&s, i, "train.lr"));
            CHECK(!strcmp(get(&s, i, "train.batch_size"), want_bs[b]), "%s: batch %s",
                  benches[b], get(&s, i, "train.batch_size"));
            CHECK(!strcmp(get(&s, i, "train.weight_decay"), want_wd[b]), "%s: wd %s",
                  benches[b], get(&s, i, "train.weight_decay"));
        }
        sweep_free(&s);
    }
    /* adam on classification: lr auto 1e-3 */
    sweep_t s;
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune]\ntrain: {optimizer: adam}\n")) return;
    CHECK(!strcmp(get(&s, 0, "train.lr"), "0.001"), "adam lr %s", get(&s, 0, "train.lr"));
    sweep_free(&s);
}

/* Two spellings of the same effective setting are one run with one identity. */
static void test_identity_stable(void) {
    static const char *const spellings[] = {
        "benchmark: split_mnist\nmodels: [finetune]\n",
        "benchmark: split_mnist\nmodels: [finetune]\ntrain: {lr: 0, batch_size: 0, optimizer: auto}\n",
        "benchmark: split_mnist\nmodels: [finetune]\ntrain: {lr: 0.05, batch_size: 32, optimizer: sgd, weight_decay: 0}\n",
        "benchmark: split_mnist\nmodels: [finetune]\ndefaults: {finetune.train.lr: 0.05}\n",
    };
    char first[17] = "";
    for (int k = 0; k < 4; k++) {
        sweep_t s;
        if (load(&s, spellings[k])) continue;
        CHECK(s.nruns == 1, "spelling %d: %d runs", k, s.nruns);
        if (k == 0) memcpy(first, s.runs[0].id, sizeof first);
        else CHECK(!strcmp(first, s.runs[0].id), "spelling %d: id %s, expected %s", k, s.runs[0].id, first);
        sweep_free(&s);
    }
    /* An axis over auto and its resolved value collapses into one run. */
    sweep_t s;
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune]\ngrid: {train.lr: [0, 0.05, 0.1]}\n"))
        return;
    CHECK(s.nruns == 2 && s.n_before_dedup == 3, "lr 0 and 0.05 are one run: %d runs of %d",
          s.nruns, s.n_before_dedup);
    sweep_free(&s);
}

/* finetune, ewc and ewgn with defaults: the same optimiser, lr, batch, examples and steps per
 * block; a model-scoped override changes that model only and is visible in its config. */
static void test_equal_budgets(void) {
    sweep_t s;
    if (load(&s, "benchmark: {name: permuted_mnist, tasks: 3, train_per_task: 1000}\n"
                 "models: [finetune, ewc, ewgn]\n"))
        return;
    check_resolved(&s, "defaults");
    train_budget ref, tb;
    int n = 0;
    for (int i = 0; i < s.nruns; i++) {
        run_config cfg;
        sweep_cfg(&s, i, &cfg);
        model_budget(&cfg, &tb);
        cfg_free(&cfg);
        if (n++ == 0) {
            ref = tb;
            continue;
        }
        CHECK(!strcmp(tb.optimizer, ref.optimizer) && tb.lr == ref.lr && tb.batch == ref.batch,
              "%s: %s %g %d vs %s %g %d", get(&s, i, "model"), tb.optimizer, tb.lr, tb.batch,
              ref.optimizer, ref.lr, ref.batch);
        CHECK(tb.examples == ref.examples && tb.steps == ref.steps, "%s: %g ex %g steps vs %g %g",
              get(&s, i, "model"), tb.examples, tb.steps, ref.examples, ref.steps);
    }
    CHECK(n == 3, "%d runs", n);
    CHECK(ref.examples == 1000 && ref.steps == 32 && ref.batch == 32, "budget %g ex, %g steps",
          ref.examples, ref.steps);
    sweep_free(&s);

    if (load(&s, "benchmark: {name: permuted_mnist, tasks: 3, train_per_task: 1000}\n"
                 "models: [finetune, ewgn]\n"
                 "defaults: {ewgn.train.batch_size: 1, ewgn.train.lr: 0.005}\n"))
        return;
    int f = run_of(&s, "finetune"), e = run_of(&s, "ewgn");
    CHECK(f >= 0 && e >= 0, "runs");
    if (f >= 0 && e >= 0) {
        CHECK(!strcmp(get(&s, f, "train.batch_size"), "32") && !strcmp(get(&s, f, "train.lr"), "0.05"),
              "finetune keeps the shared budget: %s %s", get(&s, f, "train.batch_size"),
              get(&s, f, "train.lr"));
        CHECK(!strcmp(get(&s, e, "train.batch_size"), "1") && !strcmp(get(&s, e, "train.lr"), "0.005"),
              "ewgn's override: %s %s", get(&s, e, "train.batch_size"), get(&s, e, "train.lr"));
        CHECK(!strcmp(get(&s, e, "ewgn.train.lr"), "(absent)"), "scoped key left in the config");
        run_config cfg;
        sweep_cfg(&s, e, &cfg);
        model_budget(&cfg, &tb);
        cfg_free(&cfg);
        CHECK(tb.steps == 1000 && tb.examples == 1000, "ewgn batch 1: %g steps", tb.steps);
    }
    sweep_free(&s);
}

/* The resolved budget keys are recorded (one NetCDF variable each) after the swept ones. */
static void test_recorded_keys(void) {
    sweep_t s;
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune, pah]\ngrid: {train.lr: [0.1, 0.2]}\n"))
        return;
    CHECK(s.nswept == 1 && !strcmp(s.axes[0], "train.lr"), "swept %d", s.nswept);
    static const char *const want[] = {"train.optimizer", "train.batch_size", "train.weight_decay",
                                       "train.momentum", "benchmark.block_size"};
    for (int k = 0; k < 5; k++) {
        int found = 0;
        for (int a = s.nswept; a < s.naxes; a++) found += !strcmp(s.axes[a], want[k]);
        CHECK(found == 1, "%s recorded %d times", want[k], found);
    }
    for (int a = s.nswept; a < s.naxes; a++)
        CHECK(strcmp(s.axes[a], "train.lr"), "train.lr recorded twice");
    sweep_free(&s);
}

/* A grid axis no model of the sweep reads: a warning naming the key and the models. */
static void test_unread_axis_warning(void) {
    sweep_t s;
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune, ewc]\n"
                 "grid:\n  ewgn.lambda: [1, 10]\n  ewc.lambda: [1, 10]\n"))
        return;
    CHECK(s.nwarnings == 1, "%d warnings", s.nwarnings);
    if (s.nwarnings >= 1)
        CHECK(strstr(s.warnings[0], "mem/fair.yaml:4:3:") && strstr(s.warnings[0], "'ewgn.lambda'") &&
                  strstr(s.warnings[0], "finetune, ewc"),
              "warning: %s", s.warnings[0]);
    sweep_free(&s);
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune, ewc]\ngrid: {ewc.lambda: [1, 10]}\n"))
        return;
    CHECK(s.nwarnings == 0, "%d warnings for an axis ewc reads", s.nwarnings);
    sweep_free(&s);
}

/* train.epochs = benchmark.block_size on data sets; refused on a generated stream. */
static void test_epochs_alias(void) {
    sweep_t s;
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune]\ntrain: {epochs: 3}\n")) return;
    CHECK(!strcmp(get(&s, 0, "benchmark.block_size"), "3"), "block_size %s",
          get(&s, 0, "benchmark.block_size"));
    CHECK(!strcmp(get(&s, 0, "train.epochs"), "(absent)"), "alias kept in the config");
    sweep_free(&s);
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune]\ngrid: {train.epochs: [1, 2]}\n"))
        return;
    CHECK(s.nruns == 2 && s.nswept == 1 && !strcmp(s.axes[0], "benchmark.block_size"),
          "axis %s, %d runs", s.nswept ? s.axes[0] : "-", s.nruns);
    sweep_free(&s);
    int rc = sweep_load_text(&s, "mem/ts.yaml", "benchmark: teacher_student\ntrain: {epochs: 3}\n");
    CHECK(rc != 0 && strstr(cls_geterr(), "mem/ts.yaml:2:9:") &&
              strstr(cls_geterr(), "benchmark.block_size"),
          "teacher_student: %s", rc ? cls_geterr() : "accepted");
    if (!rc) sweep_free(&s);
}

/* options: from one table; booleans with config.c's spellings; --progress wins over quiet. */
static void test_options_table(void) {
    sweep_t s;
    if (load(&s, "benchmark: split_mnist\nmodels: [finetune]\n"
                 "options: {quiet: on, isolate: no, grace_seconds: 7, run_memory_mb: 512}\n"))
        return;
    CHECK(s.quiet == 1 && s.isolate == 0 && s.grace_seconds == 7 && s.run_memory_mb == 512 &&
              s.flush_seconds == 0 && s.run_time_limit == 0,
          "options %d %d %g %g", s.quiet, s.isolate, s.grace_seconds, s.run_memory_mb);
    sweep_free(&s);
    sweep_force_progress(1);
    if (!load(&s, "benchmark: split_mnist\nmodels: [finetune]\noptions: {quiet: true}\n")) {
        CHECK(s.quiet == 0, "--progress: quiet %d", s.quiet);
        sweep_free(&s);
    }
    sweep_force_progress(0);
}

/* Every benchmark is one spec entry: init, kind, data, nominal size; cost() reads it. */
static void test_bench_specs(void) {
    for (int i = 0; i < bench_nspecs; i++) {
        const bench_spec *b = &bench_specs[i];
        CHECK(b->init && b->params && b->nparams > 0, "%s: incomplete spec", b->name);
        CHECK((b->kind == BENCH_KIND_CLASSIFICATION) == (b->data != 0), "%s: data mask", b->name);
        run_config c;
        make_cfg(&c, "finetune", b->name, NULL);
        bench_size z;
        CHECK(bench_size_of(&c, &z) == 0 && z.ntasks > 0 && z.nstages > 0, "%s: size", b->name);
        CHECK(z.epochs ? z.n_train > 0 : z.stream_batch > 0, "%s: %g examples, batch %d", b->name,
              z.n_train, z.stream_batch);
        double cost = model_find("finetune")->cost(&c);
        CHECK(cost > 0 && isfinite(cost), "%s: cost %g", b->name, cost);
        cfg_free(&c);
    }
    run_config c;
    make_cfg(&c, "finetune", "split_mnist", "benchmark.train_per_task", "100",
             "benchmark.block_size", "2", NULL);
    CHECK(model_find("finetune")->cost(&c) == 5 * 2 * 100, "split_mnist cost %g",
          model_find("finetune")->cost(&c));
    cfg_free(&c);
    make_cfg(&c, "pah", "permuted_mnist", "benchmark.tasks", "3", NULL);
    bench_size z;
    CHECK(bench_size_of(&c, &z) == 0 && z.nstages == 3 && z.n_train == 8495, "permuted: %d stages",
          z.nstages);
    cfg_free(&c);
}

/* The proximal EWC step contracts towards the anchor for any λ; the explicit bound. */
static void test_ewc_proximal(void) {
    ewc_t e;
    ewc_init(&e, 3, 1e6f, 1.0f);
    float anchor[3] = {1, -2, 0.5f}, g[3] = {1, 0.5f, 0};
    ewc_begin(&e);
    ewc_add_sample(&e, g);
    ewc_end(&e, anchor);
    CHECK_NEAR(ewc_step_bound(&e, 0.1f) / 1e5, 1.0, 1e-5, "lr·λ·max F / 1e5");
    float p[3] = {2, -1, 3};
    ewc_proximal(&e, p, 0.1f);
    for (int i = 0; i < 3; i++) {
        double before = i == 0 ? 2 : i == 1 ? -1 : 3;
        CHECK(fabs(p[i] - anchor[i]) <= fabs(before - anchor[i]), "param %d moved away", i);
    }
    CHECK_NEAR(p[0], 1 + 1 / (1 + 1e5), 1e-5, "p0 = θ* + (θ − θ*)/(1 + lr·λ·F)");
    CHECK_NEAR(p[2], 3, 1e-6, "F = 0: unchanged");
    ewc_free(&e);
}

static int have_data(void) {
    return data_get(DATA_MNIST, 1) && data_get(DATA_FASHION, 1);
}

/* ewc with every default (λ 1000, SGD 0.05, batch 32, proximal step) on tiny subsets of the
 * four classification benchmarks: no divergence. */
static void test_ewc_defaults_stable(void) {
    if (!have_data()) SKIP("MNIST or Fashion-MNIST not present (make data / make deps)");
    static const char *const benches[] = {"split_mnist", "split_fashion", "permuted_mnist",
                                          "mnist_fashion"};
    for (int b = 0; b < 4; b++) {
        run_config c;
        run_result r;
        make_cfg(&c, "ewc", benches[b], "benchmark.train_per_task", "300",
                 "benchmark.test_per_task", "100", "benchmark.block_size", "2", NULL);
        run_cfg(&r, &c);
        CHECK(r.status == RUN_STATUS_OK, "%s: %s: %s", benches[b], run_status_name(r.status),
              r.message);
        CHECK(isfinite(r.acc), "%s: acc %g", benches[b], r.acc);
        printf("#   ewc defaults on %-15s acc %.3f\n", benches[b], r.acc);
        result_free(&r);
    }
}

/* The explicit step at a λ it cannot take: diverged, with where and the bound. */
static void test_forced_divergence_names_bound(void) {
    if (!have_data()) SKIP("MNIST or Fashion-MNIST not present (make data / make deps)");
    run_config c;
    run_result r;
    make_cfg(&c, "ewc", "split_mnist", "benchmark.train_per_task", "300",
             "benchmark.test_per_task", "100", "ewc.ewc_step", "gradient", "ewc.lambda", "1e7",
             NULL);
    run_cfg(&r, &c);
    CHECK(r.status == RUN_STATUS_DIVERGED, "status %s", run_status_name(r.status));
    CHECK(strstr(r.message, "lr·λ·max F") && strstr(r.message, "> 2") &&
              strstr(r.message, "stage 1") && strstr(r.message, "step"),
          "message: %s", r.message);
    printf("#   %s\n", r.message);
    result_free(&r);
}

int main(void) {
    RUN_TEST(test_resolved_values);
    RUN_TEST(test_identity_stable);
    RUN_TEST(test_equal_budgets);
    RUN_TEST(test_recorded_keys);
    RUN_TEST(test_unread_axis_warning);
    RUN_TEST(test_epochs_alias);
    RUN_TEST(test_options_table);
    RUN_TEST(test_bench_specs);
    RUN_TEST(test_ewc_proximal);
    RUN_TEST(test_ewc_defaults_stable);
    RUN_TEST(test_forced_divergence_names_bound);
    data_cache_free();
    TEST_EXIT();
}
