/* test_merge.c — output_merge: shard files written with output_write merge into the file of
 * the whole sweep (same runs, same values, same order); conflicts, missing runs, retried
 * failures, parts of other sweeps and foreign files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static char tmpdir[256];

static const char YAML[] =
    "name: merge-test\n"
    "benchmark: {name: teacher_student, blocks: 3, block_size: 10}\n"
    "models: [finetune, ewc]\n"
    "seeds: 2\n"
    "grid:\n"
    "  train.lr: [0.01, 0.05]\n"
    "output: results/merge-test.nc\n";

static void path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* A distinct, deterministic result per run index; some runs carry extras, one diverged. */
static void fake_result(run_result *r, int i) {
    result_init(r);
    snprintf(r->metric, sizeof r->metric, "mse");
    r->higher_is_better = 0;
    result_alloc(r, 3, 2);
    for (int k = 0; k < 6; k++) r->R[k] = 0.01f * (float)(i * 10 + k);
    r->R0[0] = 1.0f + (float)i;
    r->R0[1] = 2.0f + (float)i;
    r->acc = 0.5 + 0.01 * i;
    r->bwt = -0.1 * i;
    r->fwt = 0.2;
    r->forgetting = 0.1 * i;
    r->wall_seconds = 0.25 * i;
    if (i % 2 == 0) result_set_scalar(r, "retention", "a scalar extra", 90.0 + i);
    if (i % 3 == 1) {
        double *g = result_array(r, "gates", "an array extra", "stage", 3, "path", 2);
        for (int k = 0; k < 6; k++) g[k] = 0.1 * k + i;
    }
    if (i == 5) result_fail(r, RUN_STATUS_DIVERGED, "non-finite loss (test)");
}

typedef struct {
    int n;
    char ids[64][17];
    run_result res[64];
} collected;

static void collect(const char *id, run_result *r, void *ctx) {
    collected *c = ctx;
    if (c->n >= 64) {
        result_free(r);
        return;
    }
    snprintf(c->ids[c->n], sizeof c->ids[0], "%s", id);
    c->res[c->n++] = *r;
}

static void collected_free(collected *c) {
    for (int i = 0; i < c->n; i++) result_free(&c->res[i]);
    c->n = 0;
}

static int same_d(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* Equal results, wall_seconds included (the merge copies it from the parts). */
static int same_result(const run_result *a, const run_result *b) {
    if (a->status != b->status || strcmp(a->message, b->message) || strcmp(a->metric, b->metric) ||
        a->nstages != b->nstages || a->ntasks != b->ntasks || a->nextra != b->nextra)
        return 0;
    for (int k = 0; k < a->nstages * a->ntasks; k++)
        if (!same_d(a->R[k], b->R[k])) return 0;
    for (int k = 0; k < a->ntasks; k++)
        if (!same_d(a->R0[k], b->R0[k])) return 0;
    if (!same_d(a->acc, b->acc) || !same_d(a->bwt, b->bwt) || !same_d(a->fwt, b->fwt) ||
        !same_d(a->forgetting, b->forgetting) || !same_d(a->wall_seconds, b->wall_seconds))
        return 0;
    for (int e = 0; e < a->nextra; e++) {
        const result_extra *x = &a->extra[e], *y = result_find(b, x->name);
        if (!y || x->ndim != y->ndim) return 0;
        int n = 1;
        for (int d = 0; d < x->ndim; d++) n *= x->shape[d];
        for (int k = 0; k < n; k++)
            if (!same_d(x->data[k], y->data[k])) return 0;
    }
    return 1;
}

/* Two sweep files hold the same runs in the same order with equal results. */
static int same_file(const char *a, const char *b, char *why, size_t n) {
    collected *x = calloc(1, sizeof *x), *y = calloc(1, sizeof *y);
    int ok = 0;
    if (output_read(a, collect, x) || output_read(b, collect, y)) {
        snprintf(why, n, "read: %s", cls_geterr());
        goto done;
    }
    if (x->n != y->n) {
        snprintf(why, n, "%d vs %d runs", x->n, y->n);
        goto done;
    }
    for (int i = 0; i < x->n; i++) {
        if (strcmp(x->ids[i], y->ids[i])) {
            snprintf(why, n, "run %d: id %s vs %s", i, x->ids[i], y->ids[i]);
            goto done;
        }
        if (!same_result(&x->res[i], &y->res[i])) {
            snprintf(why, n, "run %d (%s) differs", i, x->ids[i]);
            goto done;
        }
    }
    ok = 1;
done:
    collected_free(x);
    collected_free(y);
    free(x);
    free(y);
    return ok;
}

typedef struct {
    sweep_t s;
    run_result res[64];
} fixture;

static int fixture_init(fixture *f) {
    if (sweep_load_text(&f->s, "sweeps/merge-test.yaml", YAML)) {
        printf("#   sweep_load_text: %s\n", cls_geterr());
        return -1;
    }
    for (int i = 0; i < f->s.nruns; i++) fake_result(&f->res[i], i);
    return 0;
}

static void fixture_free(fixture *f) {
    for (int i = 0; i < f->s.nruns; i++) result_free(&f->res[i]);
    sweep_free(&f->s);
}

/* Writes the runs with index % nshards == shard (all when nshards is 0) to path. */
static int write_part(const fixture *f, const char *path, int shard, int nshards) {
    run_result *ptr[64] = {0};
    for (int i = 0; i < f->s.nruns; i++)
        if (nshards == 0 || i % nshards == shard) ptr[i] = (run_result *)&f->res[i];
    return output_write(path, &f->s, ptr);
}

static fixture fx;
static char full[512], parts[3][512];
static char *part_list[4];

static void test_three_shards_merge_into_the_whole_sweep(void) {
    char out[512], why[256] = "";
    path_in(out, sizeof out, "merged.nc");
    char *shuffled[3] = {parts[2], parts[0], parts[1]};
    merge_stats st;
    int rc = output_merge(NULL, out, shuffled, 3, &st);
    CHECK(rc == 0, "output_merge: %s", cls_geterr());
    CHECK(st.nruns == fx.s.nruns && st.nmerged == fx.s.nruns && st.nmissing == 0 &&
              st.nduplicates == 0 && st.nstray == 0,
          "stats %d/%d merged, %d missing, %d dup, %d stray", st.nmerged, st.nruns, st.nmissing,
          st.nduplicates, st.nstray);
    CHECK(same_file(full, out, why, sizeof why), "merged vs whole sweep: %s", why);
    /* the same with the sweep given explicitly */
    char yaml[512], out2[512];
    path_in(yaml, sizeof yaml, "merge-test.yaml");
    path_in(out2, sizeof out2, "merged2.nc");
    FILE *fp = fopen(yaml, "w");
    CHECK(fp != NULL, "cannot write %s", yaml);
    if (fp) {
        fputs(YAML, fp);
        fclose(fp);
    }
    CHECK(output_merge(yaml, out2, part_list, 3, NULL) == 0, "explicit sweep: %s", cls_geterr());
    CHECK(same_file(full, out2, why, sizeof why), "explicit sweep: %s", why);
}

static void test_missing_and_duplicate_runs(void) {
    char out[512], why[256] = "";
    path_in(out, sizeof out, "partial.nc");
    char *two[3] = {parts[0], parts[1], parts[0]};
    merge_stats st;
    CHECK(output_merge(NULL, out, two, 3, &st) == 0, "%s", cls_geterr());
    int in0 = 0, in2 = 0;
    for (int i = 0; i < fx.s.nruns; i++) {
        in0 += i % 3 == 0;
        in2 += i % 3 == 2;
    }
    CHECK(st.nmissing == in2 && st.nmerged == fx.s.nruns - in2, "missing %d (expected %d)",
          st.nmissing, in2);
    CHECK(st.nduplicates == in0, "duplicates %d (expected %d)", st.nduplicates, in0);
    /* merging the partial file with the missing shard completes it */
    char out2[512];
    path_in(out2, sizeof out2, "completed.nc");
    char *rest[2] = {out, parts[2]};
    CHECK(output_merge(NULL, out2, rest, 2, &st) == 0 && st.nmissing == 0, "%s", cls_geterr());
    CHECK(same_file(full, out2, why, sizeof why), "completed: %s", why);
}

static void test_conflicting_results_are_an_error(void) {
    fixture g;
    if (fixture_init(&g)) {
        CHECK(0, "fixture");
        return;
    }
    g.res[1].acc += 0.125; /* run 1 is in shard 1 */
    char bad[512], out[512];
    path_in(bad, sizeof bad, "bad1.nc");
    path_in(out, sizeof out, "conflict.nc");
    CHECK(write_part(&g, bad, 1, 3) == 0, "%s", cls_geterr());
    char *list[4] = {parts[0], parts[1], parts[2], bad};
    CHECK(output_merge(NULL, out, list, 4, NULL) == -1, "conflict accepted");
    CHECK(strstr(cls_geterr(), "conflicting results") && strstr(cls_geterr(), "bad1.nc"),
          "message: %s", cls_geterr());
    CHECK(access(out, F_OK) != 0, "output written despite the conflict");
    fixture_free(&g);
}

static void test_failed_result_is_superseded(void) {
    fixture g;
    if (fixture_init(&g)) {
        CHECK(0, "fixture");
        return;
    }
    result_free(&g.res[0]);
    result_init(&g.res[0]);
    result_fail(&g.res[0], RUN_STATUS_FAILED, "killed (test)");
    char failed[512], out[512], why[256] = "";
    path_in(failed, sizeof failed, "failed0.nc");
    path_in(out, sizeof out, "retried.nc");
    CHECK(write_part(&g, failed, 0, 3) == 0, "%s", cls_geterr());
    /* the failed copy first, then the successful one, then the failed one again */
    char *list[5] = {failed, parts[0], parts[1], parts[2], failed};
    CHECK(output_merge(NULL, out, list, 5, NULL) == 0, "%s", cls_geterr());
    CHECK(same_file(full, out, why, sizeof why), "retried: %s", why);
    fixture_free(&g);
}

static void test_parts_of_other_sweeps_and_foreign_files(void) {
    sweep_t other;
    static const char OTHER[] = "name: other\nbenchmark: {name: teacher_student}\n"
                                "models: [finetune]\nseeds: 1\n";
    CHECK(sweep_load_text(&other, "other.yaml", OTHER) == 0, "%s", cls_geterr());
    run_result r;
    fake_result(&r, 3);
    run_result *ptr[1] = {&r};
    char op[512], out[512], txt[512];
    path_in(op, sizeof op, "other.nc");
    path_in(out, sizeof out, "mixed.nc");
    path_in(txt, sizeof txt, "notes.txt");
    CHECK(output_write(op, &other, ptr) == 0, "%s", cls_geterr());
    char *mixed[2] = {parts[0], op};
    CHECK(output_merge(NULL, out, mixed, 2, NULL) == -1, "parts of different sweeps merged");
    CHECK(strstr(cls_geterr(), "different sweeps") != NULL, "message: %s", cls_geterr());
    /* with --sweep the other sweep's run is stray: left out and counted */
    char yaml[512];
    path_in(yaml, sizeof yaml, "merge-test.yaml");
    FILE *yf = fopen(yaml, "w");   /* written here too: the case may run alone */
    CHECK(yf != NULL, "cannot write %s", yaml);
    if (yf) {
        fputs(YAML, yf);
        fclose(yf);
    }
    merge_stats st;
    CHECK(output_merge(yaml, out, mixed, 2, &st) == 0 && st.nstray == 1, "stray %d: %s",
          st.nstray, cls_geterr());
    FILE *fp = fopen(txt, "w");
    if (fp) {
        fputs("not netcdf\n", fp);
        fclose(fp);
    }
    char *foreign[1] = {txt};
    CHECK(output_merge(NULL, out, foreign, 1, NULL) == -1, "text file merged");
    CHECK(strstr(cls_geterr(), "not a readable NetCDF file") != NULL, "message: %s", cls_geterr());
    CHECK(output_merge(NULL, out, foreign, 0, NULL) == -1, "no parts accepted");
    result_free(&r);
    sweep_free(&other);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/clsweep-test-merge.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (fixture_init(&fx)) return 1;
    path_in(full, sizeof full, "full.nc");
    int bad = write_part(&fx, full, 0, 0);
    for (int k = 0; k < 3; k++) {
        path_in(parts[k], sizeof parts[k], k == 0 ? "part0.nc" : k == 1 ? "part1.nc" : "part2.nc");
        part_list[k] = parts[k];
        bad |= write_part(&fx, parts[k], k, 3);
    }
    if (bad) {
        printf("not ok - writing the fixture files: %s\n", cls_geterr());
        return 1;
    }
    RUN_TEST(test_three_shards_merge_into_the_whole_sweep);
    RUN_TEST(test_missing_and_duplicate_runs);
    RUN_TEST(test_conflicting_results_are_an_error);
    RUN_TEST(test_failed_result_is_superseded);
    RUN_TEST(test_parts_of_other_sweeps_and_foreign_files);
    fixture_free(&fx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    TEST_EXIT();
}
