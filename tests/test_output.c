/* test_output.c — result packing, the journal and the NetCDF sweep file.
 *
 * With "--write-sample PATH" it writes the sample sweep file that
 * tests/test_output_xarray.py checks with xarray, prints the run ids and config strings
 * ("run_id K ID", "config K TEXT" lines) and exits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "output.h"
#include "result.h"
#include "runstore.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static char tmpdir[256];

static int same_f(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* 1 when path's directory holds a temporary file of path ("<name>.tmp..."). */
static int tmp_left_next_to(const char *path) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s.tmp", base);
    if (slash) *slash = 0;
    DIR *d = opendir(slash ? dir : ".");
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) found = 1;
    if (d) closedir(d);
    return found;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- sample data: shared with tests/test_output_xarray.py (keep in sync) ---- */

static const char SAMPLE_YAML[] = "name: sample\nbenchmark: {name: split_mnist}\n"
                                  "models: [ewc, pah, finetune]\n";

/* Run 0: ewc, ok, 2 stages x 2 tasks, three extras. Run 1: pah, diverged, 3 x 3 with NaN
 * cells, no extras. Run 2: finetune, not finished. */
static void sample_sweep(sweep_t *s) {
    memset(s, 0, sizeof *s);
    s->path = xstrdup("sweeps/sample.yaml");
    s->yaml = xstrdup(SAMPLE_YAML);
    s->name = xstrdup("sample");
    s->output = xstrdup("results/sample.nc");
    s->ranks_per_run = 1;
    s->naxes = 3;
    s->axes = xmalloc(3 * sizeof *s->axes);
    s->axes[0] = xstrdup("ewc.lambda");
    s->axes[1] = xstrdup("train.lr");
    s->axes[2] = xstrdup("pah.prototype_shape");
    s->n_before_dedup = 3;
    const char *kv[3][10] = {
        {"model", "ewc", "seed", "0", "benchmark.name", "split_mnist", "ewc.lambda", "100",
         "train.lr", "0.01"},
        {"model", "pah", "seed", "1", "benchmark.name", "split_mnist", "pah.prototype_shape",
         "[10,10]", "train.lr", "0.001"},
        {"model", "finetune", "seed", "2", "benchmark.name", "split_mnist", "train.lr", "0.1",
         NULL, NULL},
    };
    for (int i = 0; i < 3; i++) {
        run_config cfg;
        cfg_init(&cfg);
        for (int k = 0; k < 10 && kv[i][k]; k += 2) cfg_set(&cfg, kv[i][k], kv[i][k + 1]);
        sweep_add_run(s, &cfg, cfg_hash(&cfg), 1);
        cfg_free(&cfg);
    }
}

static void sample_sweep_free(sweep_t *s) {
    runstore_free(s->store);
    for (int a = 0; a < s->naxes; a++) free(s->axes[a]);
    free(s->axes);
    free(s->runs);
    free(s->path);
    free(s->yaml);
    free(s->name);
    free(s->output);
    memset(s, 0, sizeof *s);
}

static void sample_results(run_result res[2]) {
    run_result *a = &res[0], *b = &res[1];
    result_init(a);
    snprintf(a->metric, sizeof a->metric, "accuracy");
    a->higher_is_better = 1;
    result_alloc(a, 2, 2);
    const float Ra[4] = {0.75f, 0.5f, 0.625f, 0.875f}, R0a[2] = {0.125f, 0.25f};
    memcpy(a->R, Ra, sizeof Ra);
    memcpy(a->R0, R0a, sizeof R0a);
    a->acc = 0.75;
    a->bwt = -0.125;
    a->fwt = 0.25;
    a->forgetting = 0.125;
    a->wall_seconds = 1.5;
    result_set_scalar(a, "retention", "retention 100 R[last][0] / R[0][0]", 83.25);
    double *g = result_array(a, "gates", "gate values at the end of each stage", "stage", 2,
                             "path", 2);
    g[0] = 0.5, g[1] = 0.25, g[2] = 0.125, g[3] = 1.0;
    double *sw = result_array(a, "switch_time", "steps until loss < 0.1", "block", 3, NULL, 0);
    sw[0] = 10, sw[1] = 20, sw[2] = 30;

    result_init(b);
    result_fail(b, RUN_STATUS_DIVERGED, "loss became NaN at stage %d", 2);
    snprintf(b->metric, sizeof b->metric, "accuracy");
    b->higher_is_better = 1;
    result_alloc(b, 3, 3);
    const float Rb[9] = {0.5f, NAN, 0.25f, 0.375f, 0.5f, NAN, NAN, NAN, NAN};
    const float R0b[3] = {0.0625f, 0.125f, NAN};
    memcpy(b->R, Rb, sizeof Rb);
    memcpy(b->R0, R0b, sizeof R0b);
    b->wall_seconds = 2.25;
}

static int write_sample(const char *path) {
    sweep_t s;
    run_result res[2];
    sample_sweep(&s);
    sample_results(res);
    run_result *const results[3] = {&res[0], &res[1], NULL};
    int rc = output_write(path, &s, results);
    if (rc) {
        fprintf(stderr, "test_output: %s\n", cls_geterr());
    } else {
        for (int i = 0; i < 2; i++) {
            char *c = sweep_cfg_string(&s, i);
            printf("run_id %d %s\nconfig %d %s\n", i, s.runs[i].id, i, c);
            free(c);
        }
    }
    result_free(&res[0]);
    result_free(&res[1]);
    sample_sweep_free(&s);
    return rc ? 1 : 0;
}

/* ---- comparisons ---- */

static int results_equal(const run_result *x, const run_result *y, char *why, size_t n) {
#define DIFF(...) do { snprintf(why, n, __VA_ARGS__); return 0; } while (0)
    if (x->status != y->status) DIFF("status %d vs %d", x->status, y->status);
    if (strcmp(x->message, y->message)) DIFF("message '%.60s' vs '%.60s'", x->message, y->message);
    if (strcmp(x->metric, y->metric)) DIFF("metric");
    if (x->higher_is_better != y->higher_is_better) DIFF("higher_is_better");
    if (x->nstages != y->nstages || x->ntasks != y->ntasks)
        DIFF("shape %dx%d vs %dx%d", x->nstages, x->ntasks, y->nstages, y->ntasks);
    if (!x->R != !y->R || !x->R0 != !y->R0) DIFF("R/R0 presence");
    for (int i = 0; x->R && i < x->nstages * x->ntasks; i++)
        if (!same_f(x->R[i], y->R[i])) DIFF("R[%d] %g vs %g", i, x->R[i], y->R[i]);
    for (int i = 0; x->R0 && i < x->ntasks; i++)
        if (!same_f(x->R0[i], y->R0[i])) DIFF("R0[%d]", i);
    if (!same_f(x->acc, y->acc) || !same_f(x->bwt, y->bwt) || !same_f(x->fwt, y->fwt) ||
        !same_f(x->forgetting, y->forgetting) || !same_f(x->wall_seconds, y->wall_seconds))
        DIFF("scalar metrics");
    if (x->nextra != y->nextra) DIFF("nextra %d vs %d", x->nextra, y->nextra);
    for (int e = 0; e < x->nextra; e++) {
        const result_extra *a = &x->extra[e], *b = result_find(y, a->name);
        if (!b) DIFF("extra %s missing", a->name);
        if (strcmp(a->long_name, b->long_name)) DIFF("extra %s long_name", a->name);
        if (a->ndim != b->ndim) DIFF("extra %s ndim", a->name);
        for (int d = 0; d < a->ndim; d++)
            if (strcmp(a->dim[d], b->dim[d]) || a->shape[d] != b->shape[d])
                DIFF("extra %s dim %d: %s[%d] vs %s[%d]", a->name, d, a->dim[d], a->shape[d],
                     b->dim[d], b->shape[d]);
        int cnt = a->ndim == 0 ? 1 : a->ndim == 1 ? a->shape[0] : a->shape[0] * a->shape[1];
        for (int i = 0; i < cnt; i++)
            if (!same_f(a->data[i], b->data[i])) DIFF("extra %s[%d]", a->name, i);
    }
    return 1;
#undef DIFF
}

/* ---- result ---- */

static void test_status_names(void) {
    for (int s = 0; s < RUN_STATUS_COUNT; s++)
        CHECK(run_status_parse(run_status_name((run_status)s)) == s, "status %d", s);
    CHECK(run_status_parse("bogus") == -1, "unknown status");
    CHECK(!strcmp(run_status_name(RUN_STATUS_UNSUPPORTED), "unsupported"), "name");
}

static void test_result_defaults(void) {
    run_result r;
    result_init(&r);
    CHECK(r.status == RUN_STATUS_OK && isnan(r.acc) && isnan(r.bwt) && isnan(r.fwt) &&
              isnan(r.forgetting) && !r.R && !r.nextra,
          "result_init");
    result_alloc(&r, 2, 3);
    int nan_all = 1;
    for (int i = 0; i < 6; i++) nan_all &= isnan(r.R[i]);
    for (int i = 0; i < 3; i++) nan_all &= isnan(r.R0[i]);
    CHECK(nan_all, "result_alloc fills NaN");
    result_set_scalar(&r, "x", "first", 1.0);
    result_set_scalar(&r, "x", "second", 2.0);
    CHECK(r.nextra == 1 && result_find(&r, "x")->data[0] == 2.0, "scalar replaced");
    double *a = result_array(&r, "arr", NULL, "stage", 2, "path", 3);
    a[5] = 7;
    double *b = result_array(&r, "arr", NULL, "stage", 2, "path", 3);
    CHECK(a == b && isnan(b[0]) && b[5] == 7, "array reused, NaN-filled");
    CHECK(result_find(&r, "nope") == NULL, "find missing");
    result_free(&r);
    CHECK(r.R == NULL && r.nextra == 0, "result_free resets");
}

static void test_pack_roundtrip(void) {
    run_result res[2];
    sample_results(res);
    for (int k = 0; k < 2; k++) {
        char *buf;
        size_t len;
        run_result back;
        char why[200] = "";
        result_pack(&res[k], &buf, &len);
        CHECK(result_unpack(&back, buf, len) == 0, "unpack sample %d", k);
        CHECK(results_equal(&res[k], &back, why, sizeof why), "sample %d: %s", k, why);
        result_free(&back);
        free(buf);
    }
    /* an empty result (no R at all) */
    run_result e, back;
    result_init(&e);
    result_fail(&e, RUN_STATUS_UNSUPPORTED, "ewgn does not support regression");
    char *buf;
    size_t len;
    char why[200] = "";
    result_pack(&e, &buf, &len);
    CHECK(result_unpack(&back, buf, len) == 0, "unpack empty");
    CHECK(results_equal(&e, &back, why, sizeof why), "empty: %s", why);
    result_free(&back);
    free(buf);
    result_free(&res[0]);
    result_free(&res[1]);
}

static void test_unpack_malformed(void) {
    run_result res[2], back;
    sample_results(res);
    char *buf;
    size_t len;
    result_pack(&res[0], &buf, &len);
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        /* a fresh allocation of exactly cut bytes, so ASan catches any over-read */
        char *t = xmalloc(cut ? cut : 1);
        memcpy(t, buf, cut);
        if (result_unpack(&back, t, cut) != -1) bad++;
        CHECK(back.R == NULL && back.nextra == 0, "left empty after cut %zu", cut);
        free(t);
    }
    CHECK(bad == 0, "%d truncations accepted", bad);
    char *longer = xmalloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    CHECK(result_unpack(&back, longer, len + 1) == -1, "trailing byte rejected");
    free(longer);
    CHECK(result_unpack(&back, NULL, 0) == -1, "NULL rejected");

    /* random byte flips: must never crash or over-read; many must be rejected */
    uint64_t st = 0x9e3779b97f4a7c15ULL;
    int rejected = 0, trials = 4000;
    for (int t = 0; t < trials; t++) {
        char *c = xmalloc(len);
        memcpy(c, buf, len);
        int flips = 1 + (int)(t % 4);
        for (int f = 0; f < flips; f++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(st >> 33) % len;
            c[at] = (char)(c[at] ^ (char)(1 + (st >> 20) % 255));
        }
        if (result_unpack(&back, c, len) == 0) {
            char *again;
            size_t alen;
            result_pack(&back, &again, &alen); /* what was accepted is well-formed */
            free(again);
            result_free(&back);
        } else {
            rejected++;
        }
        free(c);
    }
    CHECK(rejected > 0, "no flip rejected");
    /* random garbage with a valid magic and version */
    for (int t = 0; t < 2000; t++) {
        size_t n = 8 + (size_t)(t % 200);
        unsigned char *c = xmalloc(n);
        for (size_t i = 0; i < n; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            c[i] = (unsigned char)(st >> 56);
        }
        memcpy(c, "CLSR\1\0", 6);
        if (result_unpack(&back, (char *)c, n) == 0) result_free(&back);
        free(c);
    }
    free(buf);
    result_free(&res[0]);
    result_free(&res[1]);
}

/* ---- journal ---- */

typedef struct {
    int n;
    char ids[16][17];
    run_result r[16];
} collected;

static void collect(const char *run_id, run_result *r, void *ctx) {
    collected *c = ctx;
    if (c->n < 16) {
        snprintf(c->ids[c->n], sizeof c->ids[0], "%s", run_id);
        c->r[c->n++] = *r; /* takes ownership */
    } else {
        result_free(r);
    }
}

static void collected_free(collected *c) {
    for (int i = 0; i < c->n; i++) result_free(&c->r[i]);
    c->n = 0;
}

static const char *ids3[3] = {"0123456789abcdef", "fedcba9876543210", "00000000deadbeef"};

static int write_journal(const char *path, int nrec) {
    journal_t j;
    run_result res[2];
    if (journal_open(&j, path)) return -1;
    sample_results(res);
    int rc = 0;
    for (int i = 0; i < nrec && !rc; i++) rc = journal_append(&j, ids3[i % 3], &res[i % 2], i % 2);
    if (!rc) rc = journal_sync(&j);
    journal_close(&j);
    result_free(&res[0]);
    result_free(&res[1]);
    return rc;
}

static void check_journal_records(const collected *c, int first, int n) {
    run_result res[2];
    sample_results(res);
    CHECK(c->n == n, "read %d records, expected %d", c->n, n);
    for (int i = 0; i < c->n && i < n; i++) {
        char why[200] = "";
        int k = first + i;
        CHECK(!strcmp(c->ids[i], ids3[k % 3]), "record %d id %s", i, c->ids[i]);
        CHECK(results_equal(&res[k % 2], &c->r[i], why, sizeof why), "record %d: %s", i, why);
    }
    result_free(&res[0]);
    result_free(&res[1]);
}

static void test_journal_roundtrip(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/j1/sweep.nc.journal", tmpdir);
    collected c = {0};
    int nbad = -1;
    CHECK(journal_read(path, collect, &c, &nbad) == 0 && c.n == 0 && nbad == 0,
          "missing journal reads as empty");
    CHECK(write_journal(path, 3) == 0, "write: %s", cls_geterr());
    CHECK(journal_read(path, collect, &c, &nbad) == 0, "read: %s", cls_geterr());
    CHECK(nbad == 0, "nbad %d", nbad);
    check_journal_records(&c, 0, 3);
    collected_free(&c);
    /* reopening appends after the existing records */
    journal_t j;
    run_result res[2];
    sample_results(res);
    CHECK(journal_open(&j, path) == 0, "reopen: %s", cls_geterr());
    CHECK(journal_append(&j, ids3[0], &res[1], 1) == 0, "append: %s", cls_geterr());
    CHECK(journal_append(&j, "not-a-run-id", &res[1], 1) == -1, "bad id rejected");
    journal_t j2;
    CHECK(journal_open(&j2, path) == -1 && strstr(cls_geterr(), "in use"),
          "second writer refused: %s", cls_geterr());
    journal_close(&j);
    CHECK(journal_read(path, collect, &c, &nbad) == 0 && c.n == 4 && nbad == 0,
          "4 records after reopen (%d, nbad %d)", c.n, nbad);
    collected_free(&c);
    result_free(&res[0]);
    result_free(&res[1]);
}

static void test_journal_torn_tail(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/torn.journal", tmpdir);
    CHECK(write_journal(path, 3) == 0, "write: %s", cls_geterr());
    struct stat st;
    stat(path, &st);
    for (int cut = 1; cut <= 13; cut += 4) {
        CHECK(truncate(path, st.st_size - cut) == 0, "truncate");
        collected c = {0};
        int nbad = -1;
        CHECK(journal_read(path, collect, &c, &nbad) == 0, "read torn: %s", cls_geterr());
        CHECK(nbad == 1, "cut %d: nbad %d", cut, nbad);
        check_journal_records(&c, 0, 2);
        collected_free(&c);
        st.st_size -= cut;
    }
    /* appending after a torn tail: the tail is cut off, the new record is readable */
    journal_t j;
    run_result res[2];
    sample_results(res);
    CHECK(journal_open(&j, path) == 0, "open torn: %s", cls_geterr());
    CHECK(journal_append(&j, ids3[2], &res[0], 1) == 0, "append");
    journal_close(&j);
    collected c = {0};
    int nbad = -1;
    CHECK(journal_read(path, collect, &c, &nbad) == 0 && nbad == 0, "read: nbad %d", nbad);
    CHECK(c.n == 3 && !strcmp(c.ids[2], ids3[2]), "record after repair (%d)", c.n);
    collected_free(&c);
    result_free(&res[0]);
    result_free(&res[1]);
}

static void test_journal_corrupt_middle(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/mid.journal", tmpdir);
    CHECK(write_journal(path, 3) == 0, "write");
    /* flip a byte inside the second record's payload */
    FILE *f = fopen(path, "rb");
    char all[8192];
    size_t n = f ? fread(all, 1, sizeof all, f) : 0;
    if (f) fclose(f);
    off_t at = 0;
    for (size_t i = 12, seen = 0; i + 4 <= n; i++)
        if (!memcmp(all + i, "CLSJ", 4) && ++seen == 2) {
            at = (off_t)i + 40;
            break;
        }
    CHECK(at > 0, "second record not found");
    int fd = open(path, O_RDWR);
    unsigned char b;
    CHECK(pread(fd, &b, 1, at) == 1, "pread");
    b ^= 0x40;
    CHECK(pwrite(fd, &b, 1, at) == 1, "pwrite");
    close(fd);
    collected c = {0};
    int nbad = -1;
    CHECK(journal_read(path, collect, &c, &nbad) == 0, "read");
    CHECK(nbad == 1, "nbad %d", nbad);
    CHECK(c.n == 2 && !strcmp(c.ids[0], ids3[0]) && !strcmp(c.ids[1], ids3[2]),
          "records around the damage (%d)", c.n);
    collected_free(&c);
}

static void test_journal_not_journal(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/notes.txt", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("these are my notes, not a journal\n", f);
    fclose(f);
    collected c = {0};
    CHECK(journal_read(path, collect, &c, NULL) == -1, "read rejected");
    CHECK(strstr(cls_geterr(), path) && strstr(cls_geterr(), "not a clsweep journal"),
          "message: %s", cls_geterr());
    journal_t j;
    CHECK(journal_open(&j, path) == -1, "open rejected");
    f = fopen(path, "r");
    char line[128] = "";
    CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "these are my notes, not a journal\n"),
          "file untouched");
    if (f) fclose(f);
    CHECK(c.n == 0, "no records");
}

/* ---- NetCDF ---- */

typedef struct {
    const sweep_t *s;
    run_result *want[3];
    int seen[3];
    int bad;
    char why[256];
} verify_ctx;

static void verify(const char *run_id, run_result *r, void *ctx) {
    verify_ctx *v = ctx;
    int k = -1;
    for (int i = 0; i < v->s->nruns; i++)
        if (!strcmp(v->s->runs[i].id, run_id)) k = i;
    if (k < 0 || !v->want[k]) {
        snprintf(v->why, sizeof v->why, "unexpected run %s", run_id);
        v->bad++;
    } else {
        v->seen[k]++;
        char why[200];
        if (!results_equal(v->want[k], r, why, sizeof why)) {
            snprintf(v->why, sizeof v->why, "run %d: %s", k, why);
            v->bad++;
        }
    }
    result_free(r);
}

static void test_netcdf_roundtrip(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.nc", tmpdir);
    sweep_t s;
    run_result res[2];
    sample_sweep(&s);
    sample_results(res);
    run_result *const results[3] = {&res[0], &res[1], NULL};
    CHECK(output_write(path, &s, results) == 0, "write: %s", cls_geterr());
    verify_ctx v = {.s = &s, .want = {&res[0], &res[1], NULL}};
    CHECK(output_read(path, verify, &v) == 0, "read: %s", cls_geterr());
    CHECK(v.bad == 0, "%s", v.why);
    CHECK(v.seen[0] == 1 && v.seen[1] == 1 && v.seen[2] == 0, "runs seen %d %d %d", v.seen[0],
          v.seen[1], v.seen[2]);

    /* fill values: run 0 is 2x2 inside a 3x3 R; run 1's own NaN cells stay NaN */
    int nc, var;
    CHECK(nc_open(path, NC_NOWRITE, &nc) == NC_NOERR, "nc_open");
    float R[2 * 3 * 3];
    CHECK(nc_inq_varid(nc, "R", &var) == NC_NOERR && nc_get_var_float(nc, var, R) == NC_NOERR,
          "get R");
    CHECK(R[0] == 0.75f && R[1] == 0.5f && isnan(R[2]) && R[3] == 0.625f && isnan(R[6]) &&
              isnan(R[7]) && isnan(R[8]),
          "run 0 padding is NaN");
    CHECK(R[9] == 0.5f && isnan(R[10]) && isnan(R[14]) && isnan(R[17]), "run 1 NaN cells");
    double lam[2];
    CHECK(nc_inq_varid(nc, "ewc__lambda", &var) == NC_NOERR &&
              nc_get_var_double(nc, var, lam) == NC_NOERR,
          "get ewc__lambda");
    CHECK(lam[0] == 100 && isnan(lam[1]), "axis values %g %g", lam[0], lam[1]);
    nc_type type;
    int tnd = 0, tdims[2];
    size_t tw = 0;
    CHECK(nc_inq_varid(nc, "pah__prototype_shape", &var) == NC_NOERR &&
              nc_inq_vartype(nc, var, &type) == NC_NOERR && type == NC_CHAR &&
              nc_inq_varndims(nc, var, &tnd) == NC_NOERR && tnd == 2 &&
              nc_inq_vardimid(nc, var, tdims) == NC_NOERR &&
              nc_inq_dimlen(nc, tdims[1], &tw) == NC_NOERR,
          "text axis: char (run, pah__prototype_shape_strlen)");
    char enc[8] = "";
    CHECK(nc_get_att_text(nc, var, "_Encoding", enc) == NC_NOERR && !strncmp(enc, "utf-8", 5),
          "text axis: _Encoding utf-8");
    /* Text rows are NUL-padded to the longest value; status of both runs reads back. */
    int sv;
    size_t sw = 0;
    CHECK(nc_inq_varid(nc, "status", &sv) == NC_NOERR && nc_inq_vardimid(nc, sv, tdims) == NC_NOERR &&
              nc_inq_dimlen(nc, tdims[1], &sw) == NC_NOERR && sw >= 2 && sw < 32,
          "status_strlen %zu", sw);
    char st2[64] = "";
    CHECK(sw < 32 && nc_get_var_text(nc, sv, st2) == NC_NOERR && !strncmp(st2, "ok", 2) &&
              (sw == 2 || st2[2] == 0),
          "run 0 status 'ok' (got %.*s)", (int)sw, st2);
    int total = 0, finished = 0;
    nc_get_att_int(nc, NC_GLOBAL, "n_runs_total", &total);
    nc_get_att_int(nc, NC_GLOBAL, "n_runs_finished", &finished);
    CHECK(total == 3 && finished == 2, "n_runs %d %d", total, finished);
    nc_close(nc);

    CHECK(!tmp_left_next_to(path), "no .tmp left");

    char cmd[700];
    snprintf(cmd, sizeof cmd, "ncdump -h '%s' > /dev/null 2>&1", path);
    CHECK(system(cmd) == 0, "ncdump -h failed");
    snprintf(cmd, sizeof cmd, "ncdump -h '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    char line[512];
    int saw_R = 0, saw_axis = 0;
    while (p && fgets(line, sizeof line, p)) {
        if (strstr(line, "float R(run, stage, task)")) saw_R = 1;
        if (strstr(line, "ewc__lambda:key = \"ewc.lambda\"")) saw_axis = 1;
    }
    if (p) pclose(p);
    CHECK(saw_R && saw_axis, "ncdump header: R %d, axis %d", saw_R, saw_axis);

    /* status summary */
    FILE *out = tmpfile();
    CHECK(output_status(path, out) == 0, "status: %s", cls_geterr());
    rewind(out);
    char text[4096];
    size_t got = fread(text, 1, sizeof text - 1, out);
    text[got] = 0;
    fclose(out);
    CHECK(strstr(text, "2 of 3 runs") && strstr(text, "ewc") && strstr(text, "pah") &&
              strstr(text, "0.7500") && strstr(text, "(the only configuration)"),
          "status text:\n%s", text);

    result_free(&res[0]);
    result_free(&res[1]);
    sample_sweep_free(&s);
}

static void count_runs(const char *run_id, run_result *r, void *ctx) {
    (void)run_id;
    (*(int *)ctx)++;
    result_free(r);
}

static void test_netcdf_empty_and_nested(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/c/empty.nc", tmpdir);
    sweep_t s;
    sample_sweep(&s);
    run_result *const none[3] = {NULL, NULL, NULL};
    CHECK(output_write(path, &s, none) == 0, "write empty into nested dir: %s", cls_geterr());
    int n = -1;
    CHECK(file_exists(path), "file exists");
    n = 0;
    CHECK(output_read(path, count_runs, &n) == 0 && n == 0, "read empty: %d %s", n, cls_geterr());
    FILE *out = fopen("/dev/null", "w");
    CHECK(output_status(path, out) == 0, "status of empty: %s", cls_geterr());
    fclose(out);
    /* writing again over it (replace) */
    run_result res[2];
    sample_results(res);
    run_result *const one[3] = {NULL, &res[1], NULL};
    {   /* seeds do not fit in 32 bits (run 1 stored again with that seed, same id) */
        run_config c;
        sweep_cfg(&s, 1, &c);
        cfg_set(&c, "seed", "5000000000");
        runstore_put(s.store, &c, &s.runs[1].keyset, &s.runs[1].off);
        cfg_free(&c);
    }
    CHECK(output_write(path, &s, one) == 0, "rewrite: %s", cls_geterr());
    n = 0;
    CHECK(output_read(path, count_runs, &n) == 0 && n == 1, "read one: %d", n);
    int nc, var;
    long long seed = 0;
    CHECK(nc_open(path, NC_NOWRITE, &nc) == NC_NOERR, "open");
    CHECK(nc_inq_varid(nc, "seed", &var) == NC_NOERR &&
              nc_get_var_longlong(nc, var, &seed) == NC_NOERR && seed == 5000000000LL,
          "seed %lld", seed);
    nc_close(nc);
    result_free(&res[0]);
    result_free(&res[1]);
    sample_sweep_free(&s);
}

static void test_netcdf_failures(void) {
    sweep_t s;
    run_result res[2];
    sample_sweep(&s);
    sample_results(res);
    run_result *const results[3] = {&res[0], &res[1], NULL};

    cls_seterr("%s", "");
    CHECK(output_write("/proc/x/y.nc", &s, results) == -1, "unwritable accepted");
    CHECK(strstr(cls_geterr(), "/proc/x") != NULL, "message: '%s'", cls_geterr());

    /* a failure after the .tmp was created leaves the old file as it was */
    char path[512];
    snprintf(path, sizeof path, "%s/keep.nc", tmpdir);
    CHECK(output_write(path, &s, results) == 0, "first write: %s", cls_geterr());
    result_set_scalar(&res[1], "bad/name", NULL, 1.0); /* '/' is illegal in NetCDF names */
    CHECK(output_write(path, &s, results) == -1, "illegal variable name accepted");
    CHECK(strstr(cls_geterr(), "NetCDF") != NULL, "message: '%s'", cls_geterr());
    CHECK(!tmp_left_next_to(path), "tmp removed");
    int n = 0;
    CHECK(output_read(path, count_runs, &n) == 0 && n == 2, "old file intact (%d)", n);

    /* inconsistent extras across runs are an error, not a silent loss */
    result_free(&res[1]);
    run_result fresh[2];
    sample_results(fresh);
    result_free(&fresh[0]);
    res[1] = fresh[1];
    result_set_scalar(&res[1], "gates", NULL, 1.0); /* 2-D in run 0 */
    CHECK(output_write(path, &s, results) == -1, "mixed extra shapes accepted");
    CHECK(strstr(cls_geterr(), "gates") != NULL, "message: '%s'", cls_geterr());

    /* reading something that is not a clsweep file */
    char notnc[512];
    snprintf(notnc, sizeof notnc, "%s/notes.txt", tmpdir);
    FILE *f = fopen(notnc, "w");
    fputs("not netcdf\n", f);
    fclose(f);
    CHECK(output_read(notnc, count_runs, &n) == -1, "text file accepted");
    CHECK(strstr(cls_geterr(), notnc) != NULL, "message names the path: %s", cls_geterr());
    char other[512];
    snprintf(other, sizeof other, "%s/other.nc", tmpdir);
    int nc;
    CHECK(nc_create(other, NC_NETCDF4 | NC_CLOBBER, &nc) == NC_NOERR, "create other");
    nc_put_att_text(nc, NC_GLOBAL, "title", 5, "other");
    nc_close(nc);
    CHECK(output_read(other, count_runs, &n) == -1, "foreign NetCDF accepted");
    CHECK(strstr(cls_geterr(), "not a clsweep results file"), "message: %s", cls_geterr());
    CHECK(output_status(other, stdout) == -1, "status of foreign file");

    result_free(&res[0]);
    result_free(&res[1]);
    sample_sweep_free(&s);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-sample")) return write_sample(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/clsweep_test_output_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_status_names);
    RUN_TEST(test_result_defaults);
    RUN_TEST(test_pack_roundtrip);
    RUN_TEST(test_unpack_malformed);
    RUN_TEST(test_journal_roundtrip);
    RUN_TEST(test_journal_torn_tail);
    RUN_TEST(test_journal_corrupt_middle);
    RUN_TEST(test_journal_not_journal);
    RUN_TEST(test_netcdf_roundtrip);
    RUN_TEST(test_netcdf_empty_and_nested);
    RUN_TEST(test_netcdf_failures);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_EXIT();
}
