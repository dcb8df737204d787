/* test_search.c — random search (search: {method: random}): the distributions' statistics
 * (Kolmogorov–Smirnov and χ² tests on many draws at fixed seeds), determinism of the draws
 * (the same file expands to the same runs, so a resumed sweep draws the same points), draws
 * per model over the keys it reads, discrete axes and zip groups under random search, and
 * exclude redraws. Malformed distributions are in tests/sweeps_bad/search-*.yaml. Also the
 * successive-halving decision rule (search_prune.h) on runs of known quality. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "search.h"
#include "search_prune.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

#define NDRAW 20000
#define KS_CRIT 1.95      /* √n·D above this: p < 0.001 */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* √n · sup |F_n − F| for u[n], already mapped through the hypothesised CDF (so F = id). */
static double ks_stat(double *u, int n) {
    qsort(u, (size_t)n, sizeof *u, cmp_double);
    double d = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)(i + 1) / n - u[i]));
        d = fmax(d, fabs(u[i] - (double)i / n));
    }
    return sqrt((double)n) * d;
}

static double chi2(const int *obs, const double *p, int k, int n) {
    double c = 0;
    for (int i = 0; i < k; i++) {
        double e = p[i] * n;
        c += (obs[i] - e) * (obs[i] - e) / e;
    }
    return c;
}

static int make(search_dist *d, dist_kind k, double a, double b, double q, int is_int) {
    double x[3] = {a, b, q};
    char why[256];
    int bad;
    int rc = search_dist_make(d, k, x, is_int, why, sizeof why, &bad);
    CHECK(rc == 0, "search_dist_make: %s", why);
    return rc;
}

static double draw(const search_dist *d, rng_t *r) {
    char out[64];
    search_dist_draw(d, r, out, sizeof out);
    return strtod(out, NULL);
}

static void test_continuous_ks(void) {
    search_dist d;
    rng_t r;
    double *u = xmalloc(sizeof(double) * NDRAW);
    if (make(&d, DIST_UNIFORM, 2, 5, 0, 0)) return;
    rng_init(&r, 11, 1);
    for (int i = 0; i < NDRAW; i++) {
        double x = draw(&d, &r);
        CHECK(x >= 2 && x < 5, "uniform draw %g outside [2, 5)", x);
        u[i] = (x - 2) / 3;
    }
    double ks = ks_stat(u, NDRAW);
    CHECK(ks < KS_CRIT, "uniform [2, 5]: KS sqrt(n)D = %.3f", ks);
    if (make(&d, DIST_LOGUNIFORM, 1, 1e5, 0, 0)) return;
    rng_init(&r, 12, 1);
    for (int i = 0; i < NDRAW; i++) {
        double x = draw(&d, &r);
        CHECK(x >= 1 && x < 1e5, "loguniform draw %g outside [1, 1e5)", x);
        u[i] = log10(x) / 5;
    }
    ks = ks_stat(u, NDRAW);
    CHECK(ks < KS_CRIT, "loguniform [1, 1e5]: KS sqrt(n)D = %.3f", ks);
    /* The test has power: uniform draws are not loguniform. */
    if (make(&d, DIST_UNIFORM, 1, 1e5, 0, 0)) return;
    for (int i = 0; i < NDRAW; i++) u[i] = log10(draw(&d, &r)) / 5;
    ks = ks_stat(u, NDRAW);
    CHECK(ks > 10 * KS_CRIT, "uniform draws pass as loguniform: KS %.3f", ks);
    /* 53-bit uniforms: mean 1/2, variance 1/12. */
    double s = 0, s2 = 0;
    for (int i = 0; i < NDRAW; i++) {
        double x = search_u53(&r);
        s += x;
        s2 += x * x;
    }
    double mean = s / NDRAW, var = s2 / NDRAW - mean * mean;
    CHECK(fabs(mean - 0.5) < 4 * sqrt(1.0 / 12 / NDRAW), "u53 mean %g", mean);
    CHECK(fabs(var - 1.0 / 12) < 0.003, "u53 variance %g", var);
    free(u);
}

static void test_discrete_chi2(void) {
    search_dist d;
    rng_t r;
    int obs[10] = {0};
    double p[10];
    if (make(&d, DIST_RANDINT, 3, 12, 0, 1)) return;
    rng_init(&r, 21, 0);
    for (int i = 0; i < NDRAW; i++) {
        double x = draw(&d, &r);
        CHECK(x == floor(x) && x >= 3 && x <= 12, "randint draw %g", x);
        if (x >= 3 && x <= 12) obs[(int)x - 3]++;
    }
    for (int i = 0; i < 10; i++) p[i] = 0.1;
    double c = chi2(obs, p, 10, NDRAW);
    CHECK(c < 27.88, "randint [3, 12]: chi2 = %.2f (df 9, p < 0.001 above 27.88)", c);
    CHECK(obs[0] > 0 && obs[9] > 0, "randint bounds are inclusive: %d %d", obs[0], obs[9]);
    /* quniform [0, 1, 0.25]: uniform rounded to the nearest multiple; the ends get half. */
    if (make(&d, DIST_QUNIFORM, 0, 1, 0.25, 0)) return;
    int q[5] = {0};
    rng_init(&r, 22, 0);
    for (int i = 0; i < NDRAW; i++) {
        char out[64];
        search_dist_draw(&d, &r, out, sizeof out);
        static const char *const vals[5] = {"0", "0.25", "0.5", "0.75", "1"};
        int k = -1;
        for (int j = 0; j < 5; j++)
            if (!strcmp(out, vals[j])) k = j;
        CHECK(k >= 0, "quniform draw '%s' is not an exact multiple of 0.25", out);
        if (k >= 0) q[k]++;
    }
    double pq[5] = {0.125, 0.25, 0.25, 0.25, 0.125};
    c = chi2(q, pq, 5, NDRAW);
    CHECK(c < 18.47, "quniform [0, 1, 0.25]: chi2 = %.2f (df 4)", c);
    /* qloguniform [1, 100, 1] on an integer key: integers; P(v <= 10) = P(x < 10.5). */
    if (make(&d, DIST_QLOGUNIFORM, 1, 100, 1, 1)) return;
    rng_init(&r, 23, 0);
    int low = 0;
    for (int i = 0; i < NDRAW; i++) {
        double x = draw(&d, &r);
        CHECK(x == floor(x) && x >= 1 && x <= 100, "qloguniform draw %g", x);
        low += x <= 10;
    }
    double pl = log(10.5) / log(100), sd = sqrt(pl * (1 - pl) / NDRAW);
    CHECK(fabs((double)low / NDRAW - pl) < 4 * sd, "qloguniform P(v <= 10) = %g, expected %g",
          (double)low / NDRAW, pl);
    /* 0.1-steps print exactly: 3 × 0.1 is "0.3". */
    if (make(&d, DIST_QUNIFORM, 0.1, 0.5, 0.1, 0)) return;
    for (int i = 0; i < 200; i++) {
        char out[64];
        search_dist_draw(&d, &r, out, sizeof out);
        CHECK(strlen(out) <= 3, "quniform 0.1 step printed as %s", out);
    }
}

/* ---------------------------------------------------------------- sweeps */

static int load(sweep_t *s, const char *text) {
    int rc = sweep_load_text(s, "mem/search.yaml", text);
    CHECK(rc == 0, "unexpected error: %s", cls_geterr());
    return rc;
}

static const char *get(const sweep_t *s, int i, const char *key) {
    const char *v = sweep_get(s, i, key);
    return v ? v : "(absent)";
}

static void test_sweep_draws(void) {
    sweep_t s;
    if (load(&s, "benchmark: teacher_student\n"
                 "models: [ewc]\n"
                 "search: {method: random, samples: 3000, seed: 5}\n"
                 "grid:\n"
                 "  train.lr: {uniform: [0.001, 0.1]}\n"
                 "  ewc.gamma: {choice: [0.5, 0.7, 0.9]}\n"
                 "  ewc.lambda: {linspace: [1, 4, 4]}\n"))
        return;
    CHECK(s.nruns == 3000, "nruns %d", s.nruns);
    CHECK(s.nswept == 3, "nswept %d", s.nswept);
    double *u = xmalloc(sizeof(double) * (size_t)s.nruns);
    int g[3] = {0}, l[4] = {0};
    for (int i = 0; i < s.nruns; i++) {
        u[i] = (strtod(get(&s, i, "train.lr"), NULL) - 0.001) / 0.099;
        double gm = strtod(get(&s, i, "ewc.gamma"), NULL), lm = strtod(get(&s, i, "ewc.lambda"), NULL);
        int k = gm == 0.5 ? 0 : gm == 0.7 ? 1 : gm == 0.9 ? 2 : -1;
        CHECK(k >= 0, "gamma %g not a choice", gm);
        if (k >= 0) g[k]++;
        CHECK(lm == floor(lm) && lm >= 1 && lm <= 4, "lambda %g not from the linspace", lm);
        if (lm >= 1 && lm <= 4) l[(int)lm - 1]++;
    }
    double ks = ks_stat(u, s.nruns);
    CHECK(ks < KS_CRIT, "train.lr uniform: KS sqrt(n)D = %.3f", ks);
    double p3[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, p4[4] = {0.25, 0.25, 0.25, 0.25};
    CHECK(chi2(g, p3, 3, s.nruns) < 13.82, "choice chi2 %.2f", chi2(g, p3, 3, s.nruns));
    CHECK(chi2(l, p4, 4, s.nruns) < 16.27, "linspace chi2 %.2f", chi2(l, p4, 4, s.nruns));
    free(u);
    sweep_free(&s);
}

/* The ids of s's runs whose model is model, in order, as one string. */
static char *ids(const sweep_t *s, const char *model) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&buf, &len, &cap, "%s", "");
    for (int i = 0; i < s->nruns; i++)
        if (!strcmp(get(s, i, "model"), model)) cls_strappend(&buf, &len, &cap, "%s ", s->runs[i].id);
    return buf;
}

#define BASE "benchmark: teacher_student\n"
static void test_determinism(void) {
    sweep_t a, b, c, d, e;
    const char *one = BASE "models: [ewc]\nseeds: 2\n"
                           "search: {method: random, samples: 8, seed: 3}\n"
                           "grid:\n  ewc.lambda: {loguniform: [1, 1.0e4]}\n"
                           "  train.lr: {quniform: [0.01, 0.1, 0.01]}\n";
    if (load(&a, one) || load(&b, one)) return;
    char *ia = ids(&a, "ewc"), *ib = ids(&b, "ewc");
    CHECK(a.nruns == 16 && !strcmp(ia, ib), "the same file expands differently");
    /* search.seed changes the draws. */
    char other[1024];
    snprintf(other, sizeof other, "%s", one);
    *strstr(other, "seed: 3") = 0;
    strcat(other, "seed: 4}\ngrid:\n  ewc.lambda: {loguniform: [1, 1.0e4]}\n"
                  "  train.lr: {quniform: [0.01, 0.1, 0.01]}\n");
    if (load(&c, other)) return;
    char *ic = ids(&c, "ewc");
    CHECK(strcmp(ia, ic), "search.seed 4 draws what seed 3 drew");
    /* Another model and an axis only it reads change none of ewc's draws; a seed's points
     * are the same across seeds. */
    if (load(&d, BASE "models: [finetune, ewc, si]\nseeds: 2\n"
                      "search: {method: random, samples: 8, seed: 3}\n"
                      "grid:\n  si.c: {loguniform: [0.01, 10]}\n"
                      "  ewc.lambda: {loguniform: [1, 1.0e4]}\n"
                      "  train.lr: {quniform: [0.01, 0.1, 0.01]}\n"))
        return;
    char *id = ids(&d, "ewc");
    CHECK(!strcmp(ia, id), "adding a model and its axis changed ewc's draws");
    for (int i = 0; i < 8; i++)
        CHECK(!strcmp(get(&a, i, "ewc.lambda"), get(&a, i + 8, "ewc.lambda")) &&
                  !strcmp(get(&a, i, "seed"), "0") && !strcmp(get(&a, i + 8, "seed"), "1"),
              "sample %d differs across seeds", i);
    int fin = 0;
    for (int i = 0; i < d.nruns; i++)
        if (!strcmp(get(&d, i, "model"), "finetune")) {
            fin++;
            CHECK(!sweep_get(&d, i, "ewc.lambda") && !sweep_get(&d, i, "si.c"),
                  "finetune run carries another model's key");
        }
    CHECK(fin == 16, "finetune runs %d", fin);
    /* Only the discrete draws: duplicates collapse to one run. */
    if (load(&e, BASE "models: [ewc]\nsearch: {method: random, samples: 50}\n"
                      "grid:\n  ewc.gamma: [0.5, 0.9]\n"))
        return;
    CHECK(e.nruns == 2 && e.n_before_dedup == 50, "discrete space: %d runs of %d draws",
          e.nruns, e.n_before_dedup);
    free(ia);
    free(ib);
    free(ic);
    free(id);
    sweep_free(&a);
    sweep_free(&b);
    sweep_free(&c);
    sweep_free(&d);
    sweep_free(&e);
}

static void test_exclude_and_zip(void) {
    sweep_t s;
    if (load(&s, BASE "models: [ewc]\nsearch: {method: random, samples: 400, seed: 1}\n"
                      "grid:\n  ewc.lambda: {uniform: [1, 100]}\n"
                      "  ewc.gamma: {choice: [0.5, 0.9]}\n  train.lr: [0.1, 0.01]\n"
                      "zip:\n  - {ewc.fisher_samples: [10, 20, 30], benchmark.d_out: [3, 4, 5]}\n"
                      "exclude:\n  - {ewc.gamma: 0.5, train.lr: 0.1}\n"
                      "  - {ewc.fisher_samples: 30}\n"))
        return;
    CHECK(s.nruns == 400, "nruns %d: excluded draws must be redrawn", s.nruns);
    int by[2][2] = {{0}};
    for (int i = 0; i < s.nruns; i++) {
        int g = !strcmp(get(&s, i, "ewc.gamma"), "0.9"), l = !strcmp(get(&s, i, "train.lr"), "0.01");
        by[g][l]++;
        long fs = strtol(get(&s, i, "ewc.fisher_samples"), NULL, 10);
        long dout = strtol(get(&s, i, "benchmark.d_out"), NULL, 10);
        CHECK(fs != 30, "excluded fisher_samples 30 drawn");
        CHECK(dout == fs / 10 + 2, "zip broken: fisher_samples %ld with d_out %ld", fs, dout);
    }
    CHECK(by[0][0] == 0, "excluded point (gamma 0.5, lr 0.1) drawn %d times", by[0][0]);
    CHECK(by[0][1] > 80 && by[1][0] > 80 && by[1][1] > 80, "the other points: %d %d %d",
          by[0][1], by[1][0], by[1][1]);
    sweep_free(&s);
}

/* ---------------------------------------------------------------- halving decisions */

/* 27 runs of known quality q_i = i/27 (higher better): the synchronous rule keeps exactly the
 * best 9, then 3, then 1, whatever order the arrays come in. */
static void test_prune_sync(void) {
    prune_opts o = {3, 1, 1};
    enum { N = 27 };
    double v[N];
    uint64_t id[N];
    int keep[N], alive[N], order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    rng_t r;
    rng_init(&r, 99, 0);
    rng_shuffle(&r, order, N);   /* arrays in a scrambled order */
    for (int i = 0; i < N; i++) {
        v[i] = (double)order[i] / N;
        id[i] = 1000 + (uint64_t)(N - order[i]);
        alive[i] = 1;
    }
    int expect[3] = {9, 3, 1};
    for (int rung = 0; rung < 3; rung++) {
        double rv[N];
        uint64_t rid[N];
        int map[N], n = 0;
        for (int i = 0; i < N; i++)
            if (alive[i]) {
                rv[n] = v[i];
                rid[n] = id[i];
                map[n++] = i;
            }
        prune_sync_decide(&o, rv, rid, n, keep);
        int kept = 0;
        for (int j = 0; j < n; j++) {
            alive[map[j]] = keep[j];
            kept += keep[j];
        }
        CHECK(kept == expect[rung], "rung %d kept %d of %d, expected %d", rung, kept, n,
              expect[rung]);
        for (int i = 0; i < N; i++)
            CHECK(alive[i] == (order[i] >= N - expect[rung]), "rung %d: run of quality %d/27 %s",
                  rung, order[i], alive[i] ? "survived" : "pruned");
    }
    /* Ties by id, NaN never kept, at least one kept; minimising keeps the lowest. */
    double t[4] = {0.5, 0.5, NAN, 0.1};
    uint64_t ti[4] = {7, 3, 1, 2};
    prune_sync_decide(&o, t, ti, 4, keep);
    CHECK(keep[1] && !keep[0] && !keep[2] && !keep[3], "ties: keep %d %d %d %d", keep[0],
          keep[1], keep[2], keep[3]);
    prune_opts lo = {3, 1, 0};
    prune_sync_decide(&lo, t, ti, 4, keep);
    CHECK(keep[3] && !keep[0] && !keep[1] && !keep[2], "minimise: keep %d %d %d %d", keep[0],
          keep[1], keep[2], keep[3]);
    double nan1 = NAN;
    prune_sync_decide(&o, &nan1, ti, 1, keep);
    CHECK(!keep[0], "a NaN run is kept");
    CHECK(prune_keep_count(&o, 2) == 1 && prune_keep_count(&o, 6) == 2, "keep counts");
    CHECK(!prune_is_rung(&o, 0, 5) && prune_is_rung(&o, 1, 5) && prune_is_rung(&o, 4, 5) &&
              !prune_is_rung(&o, 5, 5), "rungs: stages 1..nstages-1");
    prune_opts late = {3, 2, 1};
    CHECK(!prune_is_rung(&late, 1, 5) && prune_is_rung(&late, 2, 5), "min_stages 2");
}

/* Asynchronous: the first arrival continues; a run continues iff fewer than
 * max(1, floor(n/eta)) earlier arrivals beat it; the outcome depends on arrival order. */
static void test_prune_async(void) {
    prune_opts o = {3, 1, 1};
    double vals[9];
    int n = 0, cont = 0;
    for (int i = 0; i < 9; i++) {   /* worst first: each arrival is the best so far */
        double v = (double)i / 9;
        cont += prune_async_continue(&o, vals, n, v);
        vals[n++] = v;
    }
    CHECK(cont == 9, "ascending arrivals: %d of 9 continue, expected all", cont);
    n = cont = 0;
    int first = 0;
    for (int i = 8; i >= 0; i--) {  /* best first: only arrivals within the top count go on */
        double v = (double)i / 9;
        int c = prune_async_continue(&o, vals, n, v);
        if (i == 8) first = c;
        cont += c;
        vals[n++] = v;
    }
    /* Arrival k (1-based) continues iff k-1 < max(1, floor(k/3)): k = 1, and none after
     * (k = 2: 1 < 1 no; k = 3: 2 < 1 no; k = 6: 5 < 2 no; k = 9: 8 < 3 no). */
    CHECK(first == 1 && cont == 1, "descending arrivals: %d continue (first %d)", cont, first);
    CHECK(!prune_async_continue(&o, vals, 0, NAN), "a NaN arrival continues");
    double two[2] = {0.9, NAN};
    CHECK(prune_async_continue(&o, two, 2, 0.95) && !prune_async_continue(&o, two, 2, 0.5),
          "3 arrivals keep 1: the best continues, a worse does not");
}

int main(void) {
    RUN_TEST(test_continuous_ks);
    RUN_TEST(test_discrete_chi2);
    RUN_TEST(test_sweep_draws);
    RUN_TEST(test_determinism);
    RUN_TEST(test_exclude_and_zip);
    RUN_TEST(test_prune_sync);
    RUN_TEST(test_prune_async);
    TEST_EXIT();
}
