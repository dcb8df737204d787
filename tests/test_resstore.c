/* test_resstore.c — the compact result store (src/sweep/resstore.c) and the sweep file
 * written from it (output_write_store; large files on disk by a child, src/sweep/ncdisk.c),
 * issue 23: results read back bit for bit (R, R0, metrics, messages, extras of every rank,
 * probes), templates shared, the file from the store equal to the file from the array, in
 * memory and on disk, across a slice boundary; the disk path refuses links and foreign
 * files and leaves no temporary file; the bytes per stored no-op result are bounded. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "output.h"
#include "resstore.h"
#include "result.h"
#include "runstore.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static char tmpdir[256];

static void make_sweep(sweep_t *s, int n) {
    memset(s, 0, sizeof *s);
    s->path = xstrdup("sweeps/gen.yaml");
    s->yaml = xstrdup("name: gen\n");
    s->name = xstrdup("gen");
    s->output = xstrdup("results/gen.nc");
    s->ranks_per_run = 1;
    s->naxes = 1;
    s->axes = xmalloc(sizeof *s->axes);
    s->axes[0] = xstrdup("x.a");
    s->n_before_dedup = n;
    for (int k = 0; k < n; k++) {
        run_config cfg;
        char a[32];
        snprintf(a, sizeof a, "%d", k);
        cfg_init(&cfg);
        cfg_set(&cfg, "model", k % 2 ? "m1" : "m0");
        cfg_set(&cfg, "seed", "0");
        cfg_set(&cfg, "benchmark.name", "b");
        cfg_set(&cfg, "x.a", a);
        sweep_add_run(s, &cfg, cfg_hash(&cfg), 1);
        cfg_free(&cfg);
    }
}

static void free_sweep(sweep_t *s) {
    runstore_free(s->store);
    free(s->axes[0]);
    free(s->axes);
    free(s->runs);
    free(s->path);
    free(s->yaml);
    free(s->name);
    free(s->output);
}

/* Result number k of a family of shapes: k % 6 picks the kind. */
static run_result *make_result(int k) {
    run_result *r = xmalloc(sizeof *r);
    result_init(r);
    int kind = k % 6;
    snprintf(r->metric, sizeof r->metric, "%s", kind == 3 ? "mse" : "accuracy");
    r->higher_is_better = kind != 3;
    r->wall_seconds = 1e-5 * k;
    if (kind == 5) { /* failed before any result */
        result_fail(r, RUN_STATUS_FAILED, "error %d: something", k % 3);
        return r;
    }
    int ns = 1 + k % 3, nt = 1 + k % 4;
    result_alloc(r, ns, nt);
    for (int i = 0; i < ns * nt; i++) r->R[i] = (float)(0.01 * k + i);
    for (int i = 0; i < nt; i++) r->R0[i] = (float)(0.1 * i);
    r->acc = 0.5 + k;
    r->fwt = k % 7 ? NAN : -0.25;
    result_set_scalar(r, "ws_dim", "dimension", (double)(k % 5));
    if (kind >= 1) {
        double *v = result_array(r, "pt", "points", "point", 3 + kind, NULL, 0);
        for (int i = 0; i < 3 + kind; i++) v[i] = k * 0.5 + i;
    }
    if (kind == 2 || kind == 4) {
        double *g = result_array(r, "gates", "gates", "stage", ns, "path", 2);
        for (int i = 0; i < ns * 2; i++) g[i] = i % 3 ? 1.0 / (i + 1) : NAN;
    }
    if (kind == 4) result_fail(r, RUN_STATUS_DIVERGED, "NaN loss at stage %d", k % 3);
    if (kind == 4 && k % 12 == 4) {
        float *d = xmalloc(6 * sizeof *d);
        int *rt = xmalloc(2 * sizeof *rt);
        for (int i = 0; i < 6; i++) d[i] = (float)i;
        rt[0] = 0;
        rt[1] = 1;
        result_add_probe(r, 0, d, 2, 3, rt);
    }
    return r;
}

static int same_packed(const run_result *a, const run_result *b) {
    char *pa, *pb;
    size_t la, lb;
    result_pack(a, &pa, &la);
    result_pack(b, &pb, &lb);
    int same = la == lb && !memcmp(pa, pb, la);
    free(pa);
    free(pb);
    return same;
}

static void test_round_trip(void) {
    enum { N = 120 };
    resstore *rs = resstore_new(N);
    run_result *orig[N];
    for (int k = 0; k < N; k++) {
        orig[k] = make_result(k);
        if (k % 10 != 9) resstore_put(rs, k, orig[k]);
    }
    for (int k = 0; k < N; k++) {
        run_result back;
        int present = k % 10 != 9;
        CHECK(resstore_has(rs, k) == present, "run %d: has", k);
        CHECK(resstore_get(rs, k, &back) == (present ? 0 : -1), "run %d: get", k);
        if (present) {
            CHECK(same_packed(orig[k], &back), "run %d: not read back bit for bit", k);
            CHECK(resstore_status(rs, k) == (int)orig[k]->status, "run %d: status", k);
        } else {
            CHECK(resstore_status(rs, k) == -1 && resstore_template(rs, k) == -1, "run %d: absent", k);
        }
        result_free(&back);
    }
    /* Same shape and extras: same template; a replaced result reads as the new one. */
    CHECK(resstore_template(rs, 6) == resstore_template(rs, 18) ||
              orig[6]->nstages != orig[18]->nstages || orig[6]->ntasks != orig[18]->ntasks,
          "runs of one shape share a template");
    CHECK(resstore_template(rs, 0) >= 0 && resstore_template(rs, 0) != resstore_template(rs, 3),
          "runs of different metrics do not share a template");
    resstore_put(rs, 0, orig[7]);
    run_result back;
    CHECK(resstore_get(rs, 0, &back) == 0 && same_packed(&back, orig[7]), "replaced");
    result_free(&back);
    resstore_drop(rs, 0);
    CHECK(!resstore_has(rs, 0), "dropped");
    for (int k = 0; k < N; k++) {
        result_free(orig[k]);
        free(orig[k]);
    }
    resstore_free(rs);
}

static int same_dump(const char *a, const char *b) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "ncdump '%s' | tail -n +2 > '%s.cdl' && ncdump '%s' | tail -n +2 > '%s.cdl' && cmp -s '%s.cdl' '%s.cdl'",
             a, a, b, b, a, b);
    return system(cmd) == 0;
}

static int temps_left(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* The file from the store equals the file from the array: in memory (default) and on
 * disk (CLSWEEP_NC_DISK_RUNS=0), n runs (one slice, or across a slice boundary). */
static void compare_files(int n, int skip_every) {
    sweep_t s;
    make_sweep(&s, n);
    run_result **res = xcalloc((size_t)n, sizeof *res);
    resstore *rs = resstore_new(n);
    for (int k = 0; k < n; k++) {
        if (k % skip_every == skip_every - 1) continue;   /* unfinished */
        res[k] = make_result(k);
        result_drop_probes(res[k]);                       /* never reach a file */
        resstore_put(rs, k, res[k]);
    }
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/arr%d.nc", tmpdir, n);
    snprintf(b, sizeof b, "%s/mem%d.nc", tmpdir, n);
    snprintf(c, sizeof c, "%s/disk%d.nc", tmpdir, n);
    unsetenv("CLSWEEP_NC_DISK_RUNS");
    CHECK(output_write(a, &s, res) == 0, "array: %s", cls_geterr());
    CHECK(output_write_store(b, &s, rs) == 0, "store, in memory: %s", cls_geterr());
    setenv("CLSWEEP_NC_DISK_RUNS", "0", 1);
    CHECK(output_write_store(c, &s, rs) == 0, "store, on disk: %s", cls_geterr());
    CHECK(output_write_store(c, &s, rs) == 0, "store, on disk, rewrite: %s", cls_geterr());
    unsetenv("CLSWEEP_NC_DISK_RUNS");
    CHECK(same_dump(a, b), "%d runs: the store's file differs from the array's (%s, %s)", n, a, b);
    CHECK(same_dump(a, c), "%d runs: the file written on disk differs (%s, %s)", n, a, c);
    CHECK(temps_left() == 0, "temporary files left behind");
    for (int k = 0; k < n; k++)
        if (res[k]) {
            result_free(res[k]);
            free(res[k]);
        }
    free(res);
    resstore_free(rs);
    free_sweep(&s);
}

static void test_file_small(void) { compare_files(40, 7); }
static void test_file_slices(void) { compare_files(16384 + 37, 1000); }

/* The disk path keeps sf_replace's refusals. */
static void test_disk_refusals(void) {
    sweep_t s;
    make_sweep(&s, 4);
    resstore *rs = resstore_new(4);
    run_result *r = make_result(1);
    resstore_put(rs, 1, r);
    char link[512], target[512], foreign[512];
    snprintf(target, sizeof target, "%s/target.txt", tmpdir);
    snprintf(link, sizeof link, "%s/link.nc", tmpdir);
    snprintf(foreign, sizeof foreign, "%s/foreign.nc", tmpdir);
    FILE *f = fopen(target, "w");
    fputs("keep me\n", f);
    fclose(f);
    CHECK(symlink(target, link) == 0, "symlink");
    f = fopen(foreign, "w");
    fputs("not netcdf\n", f);
    fclose(f);
    setenv("CLSWEEP_NC_DISK_RUNS", "0", 1);
    CHECK(output_write_store(link, &s, rs) == -1 && strstr(cls_geterr(), "symbolic link"),
          "wrote through a link: %s", cls_geterr());
    CHECK(output_write_store(foreign, &s, rs) == -1 && strstr(cls_geterr(), "not a clsweep"),
          "replaced a foreign file: %s", cls_geterr());
    char no_dir[600];
    snprintf(no_dir, sizeof no_dir, "%s/target.txt/sub/x.nc", tmpdir);
    CHECK(output_write_store(no_dir, &s, rs) == -1, "wrote below a file");
    unsetenv("CLSWEEP_NC_DISK_RUNS");
    char *t = NULL;
    f = fopen(target, "r");
    char line[64] = "";
    if (f && fgets(line, sizeof line, f)) t = line;
    if (f) fclose(f);
    CHECK(t && !strcmp(t, "keep me\n"), "the link target was changed");
    CHECK(temps_left() == 0, "temporary files left behind");
    result_free(r);
    free(r);
    resstore_free(rs);
    free_sweep(&s);
}

/* A no-op run's result (crashtest-like: 1x1 R, three scalar extras) takes < 100 bytes. */
static void test_bytes_per_run(void) {
    enum { N = 100000 };
    resstore *rs = resstore_new(N);
    for (int k = 0; k < N; k++) {
        run_result r;
        result_init(&r);
        snprintf(r.metric, sizeof r.metric, "accuracy");
        r.higher_is_better = 1;
        result_alloc(&r, 1, 1);
        r.R[0] = 1;
        r.R0[0] = 0;
        r.acc = 1;
        r.wall_seconds = 1e-6 * k;
        result_set_scalar(&r, "a", "an extra", k);
        result_set_scalar(&r, "b", "another extra", 2.0 * k);
        result_set_scalar(&r, "c", "a third extra", 3.0 * k);
        resstore_put(rs, k, &r);
        result_free(&r);
    }
    double per = (double)resstore_bytes(rs) / N;
    printf("# resstore: %.1f bytes per no-op result\n", per);
    CHECK(per < 100, "%.1f bytes per run", per);
    resstore_free(rs);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_resstore.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_round_trip);
    RUN_TEST(test_file_small);
    RUN_TEST(test_file_slices);
    RUN_TEST(test_disk_refusals);
    RUN_TEST(test_bytes_per_run);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!getenv("KEEP") && system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_EXIT();
}
