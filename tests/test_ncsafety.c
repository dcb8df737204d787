/* test_ncsafety.c — the result files against hostile or unusual input (issue 17 items 2, 4,
 * 5, 6, 9, 11; issue 16's status part): no link followed and no foreign file replaced,
 * malformed files refused with a message before anything is allocated, exact round trips of
 * the .nc, journal damage told apart (middle vs torn tail), and `status` listing every
 * configuration with sd (ddof 1), n and a t interval, in linear time.
 * Also `test_ncsafety --write-malformed KIND PATH` writes one malformed file for the shell
 * test tests/t_shards_merge.sh (KIND: run_id_2d, R_4d, acc_float, huge_run, task_huge). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ncschema.h"
#include "output.h"
#include "result.h"
#include "runstore.h"
#include "sweep.h"
#include "test.h"
#include "util.h"

static char tmpdir[256];

/* A sweep of n runs: model m<k%models>, config key "x.a" = k / seeds % configs, seed. */
static void make_sweep(sweep_t *s, int n, int nmodels, int seeds) {
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
        char m[32], a[32], sd[32];
        snprintf(m, sizeof m, "m%d", (k / seeds) % nmodels);
        snprintf(a, sizeof a, "%d", k / seeds / nmodels);
        snprintf(sd, sizeof sd, "%d", k % seeds);
        cfg_init(&cfg);
        cfg_set(&cfg, "model", m);
        cfg_set(&cfg, "seed", sd);
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

static run_result *ok_result(double acc, int ns, int nt) {
    run_result *r = xmalloc(sizeof *r);
    result_init(r);
    snprintf(r->metric, sizeof r->metric, "accuracy");
    r->higher_is_better = 1;
    result_alloc(r, ns, nt);
    for (int i = 0; i < ns * nt; i++) r->R[i] = (float)acc;
    r->acc = acc;
    r->wall_seconds = 0.5;
    return r;
}

static void free_results(run_result **res, int n) {
    for (int i = 0; i < n; i++)
        if (res[i]) {
            result_free(res[i]);
            free(res[i]);
        }
    free(res);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return xstrdup("");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (len + 2 > cap) buf = xrealloc(buf, cap = 2 * cap + 4096);
        buf[len++] = (char)c;
    }
    fclose(f);
    if (!buf) return xstrdup("");
    buf[len] = 0;
    return buf;
}

/* The text of output_status(path). */
static char *status_text(const char *path, int *rc) {
    char out[600];
    snprintf(out, sizeof out, "%s/status.txt", tmpdir);
    FILE *f = fopen(out, "w");
    *rc = output_status(path, f);
    fclose(f);
    return slurp(out);
}

/* ---- item 2 and 5: links and foreign files ---- */
static void test_no_link_no_foreign_file(void) {
    sweep_t s;
    make_sweep(&s, 2, 1, 1);
    run_result **res = xcalloc(2, sizeof *res);
    res[0] = ok_result(0.5, 1, 1);
    char target[512], link[512], foreign[512], jpath[600];
    snprintf(target, sizeof target, "%s/victim.txt", tmpdir);
    snprintf(link, sizeof link, "%s/link.nc", tmpdir);
    snprintf(foreign, sizeof foreign, "%s/foreign.nc", tmpdir);
    FILE *f = fopen(target, "w");
    fputs("precious\n", f);
    fclose(f);
    f = fopen(foreign, "w");
    fputs("someone else's data\n", f);
    fclose(f);
    CHECK(symlink(target, link) == 0, "symlink: %s", strerror(errno));

    CHECK(output_write(link, &s, res) == -1, "wrote through a symbolic link");
    CHECK(strstr(cls_geterr(), "symbolic link") != NULL, "message: %s", cls_geterr());
    char *t = slurp(target);
    CHECK(!strcmp(t, "precious\n"), "link target changed: %s", t);
    free(t);

    CHECK(output_write(foreign, &s, res) == -1, "replaced a foreign file");
    CHECK(strstr(cls_geterr(), "not a clsweep results file") != NULL, "message: %s", cls_geterr());
    t = slurp(foreign);
    CHECK(!strcmp(t, "someone else's data\n"), "foreign file changed");
    free(t);

    /* item 5: with a journal (even an empty one) next to it, still refused */
    snprintf(jpath, sizeof jpath, "%s.journal", foreign);
    f = fopen(jpath, "w");
    fclose(f);
    journal_t j;
    CHECK(journal_open(&j, jpath) == -1, "journal opened next to a foreign output file");
    CHECK(strstr(cls_geterr(), "refusing to overwrite") && strstr(cls_geterr(), foreign),
          "message: %s", cls_geterr());

    /* a journal path that is a link is refused */
    char jlink[600];
    snprintf(jlink, sizeof jlink, "%s/other.nc.journal", tmpdir);
    CHECK(symlink(target, jlink) == 0, "symlink");
    CHECK(journal_open(&j, jlink) == -1, "journal opened through a link");
    t = slurp(target);
    CHECK(!strcmp(t, "precious\n"), "link target changed by the journal");
    free(t);

    /* a temporary file left by a kill during a rewrite is removed when the journal opens */
    char stale[600], jown[600];
    snprintf(stale, sizeof stale, "%s/own.nc.tmp.AbC123", tmpdir);
    snprintf(jown, sizeof jown, "%s/own.nc.journal", tmpdir);
    f = fopen(stale, "w");
    fclose(f);
    CHECK(journal_open(&j, jown) == 0, "journal of a fresh output: %s", cls_geterr());
    journal_close(&j);
    CHECK(access(stale, F_OK) != 0, "stale temporary file left");

    /* our own file is replaced, and no temporary file is left */
    char own[512];
    snprintf(own, sizeof own, "%s/own.nc", tmpdir);
    CHECK(output_write(own, &s, res) == 0, "first write: %s", cls_geterr());
    CHECK(output_write(own, &s, res) == 0, "rewrite: %s", cls_geterr());
    CHECK(output_is_ours(own) && !output_is_ours(foreign) && !output_is_ours(link), "is_ours");
    free_results(res, 2);
    free_sweep(&s);
}

/* ---- item 4: malformed files ---- */

/* Writes a file with clsweep's title and every fixed variable, one of them malformed:
 * run_id_2d: run_id(run, x); R_4d: R(run, stage, task, x); acc_float: acc is float;
 * huge_run: the run dimension claims 10^9 runs (unlimited, one value written); task_huge:
 * stage of length 0 and task of 3*10^9 (both unlimited, one R0 value written), so that
 * R has no cells and only R0 is huge. */
static int write_malformed(const char *kind, const char *path) {
    int nc, drun, dst, dt, dx;
    if (nc_create(path, NC_NETCDF4 | NC_CLOBBER, &nc) != NC_NOERR) return -1;
    int huge = !strcmp(kind, "huge_run"), thuge = !strcmp(kind, "task_huge");
    nc_def_dim(nc, "run", huge ? NC_UNLIMITED : 2, &drun);
    nc_def_dim(nc, "stage", thuge ? NC_UNLIMITED : 2, &dst);
    nc_def_dim(nc, "task", thuge ? NC_UNLIMITED : 2, &dt);
    nc_def_dim(nc, "x", 3, &dx);
    nc_put_att_text(nc, NC_GLOBAL, "title", strlen(OUTPUT_TITLE), OUTPUT_TITLE);
    int accid = -1, r0id = -1;
    for (int i = 0; i < ncs_nfixed; i++) {
        const ncs_var *v = &ncs_fixed[i];
        int dims[4] = {drun, v->ndims == 3 ? dst : dt, dt, dx}, nd = v->ndims, var;
        nc_type type = v->type;
        if (!strcmp(kind, "run_id_2d") && !strcmp(v->name, "run_id")) dims[nd++] = dx;
        if (!strcmp(kind, "R_4d") && !strcmp(v->name, "R")) nd = 4;
        if (!strcmp(kind, "acc_float") && !strcmp(v->name, "acc")) type = NC_FLOAT;
        if (nc_def_var(nc, v->name, type, nd, dims, &var) != NC_NOERR) return -1;
        if (!strcmp(v->name, "acc")) accid = var;
        if (!strcmp(v->name, "R0")) r0id = var;
    }
    nc_enddef(nc);
    if (huge) {
        size_t start[1] = {999999999}, count[1] = {1};
        double one = 1;
        nc_put_vara_double(nc, accid, start, count, &one);
    }
    if (thuge) {
        size_t start[2] = {0, 3000000000u}, count[2] = {1, 1};
        float one = 1;
        nc_put_vara_float(nc, r0id, start, count, &one);
    }
    return nc_close(nc) == NC_NOERR ? 0 : -1;
}

static void drop(const char *id, run_result *r, void *ctx) {
    (void)id;
    (*(int *)ctx)++;
    result_free(r);
}

static void test_malformed_files_refused(void) {
    static const char *const kinds[] = {"run_id_2d", "R_4d", "acc_float", "huge_run", "task_huge"};
    for (int q = 0; q < 5; q++) {
        char path[512], out[512];
        snprintf(path, sizeof path, "%s/bad_%s.nc", tmpdir, kinds[q]);
        snprintf(out, sizeof out, "%s/merged_%s.nc", tmpdir, kinds[q]);
        CHECK(write_malformed(kinds[q], path) == 0, "cannot write %s", path);
        int n = 0, rc;
        CHECK(output_read(path, drop, &n) == -1 && n == 0, "%s: read accepted", kinds[q]);
        CHECK(strstr(cls_geterr(), path) != NULL, "%s: message lacks the path: %s", kinds[q],
              cls_geterr());
        CHECK(strstr(cls_geterr(), "expected") || strstr(cls_geterr(), "more than a file"),
              "%s: message says nothing expected: %s", kinds[q], cls_geterr());
        char *t = status_text(path, &rc);
        CHECK(rc == -1, "%s: status accepted", kinds[q]);
        free(t);
        char sw[512];
        snprintf(sw, sizeof sw, "%s/gen.yaml", tmpdir);
        FILE *f = fopen(sw, "w");
        fputs("name: gen\nbenchmark: {name: teacher_student}\nmodels: [finetune]\n", f);
        fclose(f);
        char *parts[1] = {path};
        CHECK(output_merge(sw, out, parts, 1, NULL) == -1, "%s: merge accepted", kinds[q]);
        struct stat st;
        CHECK(stat(out, &st) != 0, "%s: merge wrote its output", kinds[q]);
    }
}

/* ---- item 6: exact round trips ---- */
static int same_dump(const char *a, const char *b) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "ncdump '%s' | tail -n +2 > '%s.cdl' && ncdump '%s' | tail -n +2 > '%s.cdl' && cmp -s '%s.cdl' '%s.cdl'",
             a, a, b, b, a, b);
    return system(cmd) == 0;
}

static void keep(const char *id, run_result *r, void *ctx) {
    sweep_t *s = ((void **)ctx)[0];
    run_result **res = ((void **)ctx)[1];
    for (int i = 0; i < s->nruns; i++)
        if (!strcmp(s->runs[i].id, id)) {
            res[i] = xmalloc(sizeof *r);
            *res[i] = *r;
            return;
        }
    result_free(r);
}

static void test_roundtrip_exact(void) {
    sweep_t s;
    make_sweep(&s, 4, 2, 1);
    run_result **res = xcalloc(4, sizeof *res);
    /* run 0: 2 stages; ws_explained (stage, ws_component 10) with only 4 columns set; run 1:
     * 3 stages, a 1-D extra over "point" of 5 (run 2 has 3); a scalar that is NaN
     * everywhere; run 3 unfinished. */
    res[0] = ok_result(0.5, 2, 2);
    double *ev = result_array(res[0], "ws_explained", "ev", "stage", 2, "ws_component", 10);
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 4; c++) ev[i * 10 + c] = 0.1 * (c + 1);
    result_set_scalar(res[0], "nothing", "always NaN", NAN);
    res[1] = ok_result(0.25, 3, 3);
    double *p = result_array(res[1], "pt", "points", "point", 5, NULL, 0);
    for (int i = 0; i < 5; i++) p[i] = i;
    res[2] = ok_result(0.75, 1, 1);
    result_fail(res[2], RUN_STATUS_DIVERGED, "NaN at stage 1");
    p = result_array(res[2], "pt", "points", "point", 3, NULL, 0);
    for (int i = 0; i < 3; i++) p[i] = 10 + i;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/rt_a.nc", tmpdir);
    snprintf(b, sizeof b, "%s/rt_b.nc", tmpdir);
    CHECK(output_write(a, &s, res) == 0, "write: %s", cls_geterr());
    run_result **back = xcalloc(4, sizeof *back);
    void *ctx[2] = {&s, back};
    CHECK(output_read(a, keep, ctx) == 0, "read: %s", cls_geterr());
    const result_extra *x = back[0] ? result_find(back[0], "ws_explained") : NULL;
    CHECK(x && x->shape[0] == 2 && x->shape[1] == 10, "ws_explained cut: %dx%d",
          x ? x->shape[0] : -1, x ? x->shape[1] : -1);
    CHECK(back[1] && back[1]->nstages == 3 && back[2] && back[2]->status == RUN_STATUS_DIVERGED,
          "fixed variables");
    CHECK(back[0] && back[0]->wall_seconds == 0.5, "wall_seconds");
    CHECK(output_write(b, &s, back) == 0, "rewrite: %s", cls_geterr());
    CHECK(same_dump(a, b), "the file read back and written again differs (%s, %s)", a, b);
    free_results(back, 4);
    free_results(res, 4);
    free_sweep(&s);
}

/* ---- item 11: journal damage in the middle is not a torn tail ---- */
static void test_journal_damage_kinds(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/dmg.journal", tmpdir);
    journal_t j;
    CHECK(journal_open(&j, path) == 0, "open: %s", cls_geterr());
    run_result *r = ok_result(0.5, 2, 2);
    long ends[3];
    for (int i = 0; i < 3; i++) {
        journal_append(&j, "0123456789abcdef", r, 1);
        ends[i] = ftell(j.f);
    }
    journal_close(&j);
    result_free(r);
    free(r);
    /* one byte in the middle record */
    int fd = open(path, O_RDWR);
    char c = 'X';
    CHECK(pwrite(fd, &c, 1, (ends[0] + ends[1]) / 2) == 1, "pwrite");
    close(fd);
    journal_damage d;
    int n = 0;
    CHECK(journal_read_damage(path, drop, &n, &d) == 0, "read: %s", cls_geterr());
    char msg[512];
    journal_damage_describe(&d, msg, sizeof msg);
    CHECK(n == 2 && d.nmiddle == 1 && !d.torn_tail, "middle: %d records, %d middle, tail %d", n,
          d.nmiddle, d.torn_tail);
    CHECK(strstr(msg, "between valid records") && !strstr(msg, "at the end"), "message: %s", msg);
    /* and a torn tail */
    CHECK(truncate(path, ends[2] - 5) == 0, "truncate");
    n = 0;
    CHECK(journal_read_damage(path, drop, &n, &d) == 0, "read");
    journal_damage_describe(&d, msg, sizeof msg);
    /* the damaged record now runs into the torn end: one stretch, at the tail */
    CHECK(n == 1 && d.nmiddle == 0 && d.torn_tail, "tail: %d records, %d middle, tail %d", n,
          d.nmiddle, d.torn_tail);
    CHECK(strstr(msg, "torn record at the end"), "message: %s", msg);
}

/* ---- issue 16 and item 9: status lists everything, sd ddof 1, t interval, linear ---- */
static void test_status_every_configuration(void) {
    /* 1 model, 3 seeds, 3 configurations: a=0 ok 0.5/0.6/0.7; a=1 all diverged; a=2 one ok
     * (0.9), two failed. */
    sweep_t s;
    make_sweep(&s, 9, 1, 3);
    run_result **res = xcalloc(9, sizeof *res);
    const double accs[3] = {0.5, 0.6, 0.7};
    for (int k = 0; k < 3; k++) res[k] = ok_result(accs[k], 1, 1);
    for (int k = 3; k < 6; k++) {
        res[k] = ok_result(NAN, 1, 1);
        result_fail(res[k], RUN_STATUS_DIVERGED, "NaN");
    }
    res[6] = ok_result(0.9, 1, 1);
    for (int k = 7; k < 9; k++) {
        res[k] = ok_result(NAN, 1, 1);
        result_fail(res[k], RUN_STATUS_FAILED, "error");
    }
    char path[512];
    snprintf(path, sizeof path, "%s/st.nc", tmpdir);
    CHECK(output_write(path, &s, res) == 0, "write: %s", cls_geterr());
    int rc;
    char *t = status_text(path, &rc);
    CHECK(rc == 0, "status: %s", cls_geterr());
    const char *l0 = strstr(t, "x.a=0"), *l1 = strstr(t, "x.a=1"), *l2 = strstr(t, "x.a=2");
    CHECK(l0 && l1 && l2, "every configuration listed:\n%s", t);
    /* ranked: a=2 (0.9, n 1) before a=0 (0.6, n 3); the diverged one after both */
    CHECK(l0 && l1 && l2 && l2 < l0 && l0 < l1, "order:\n%s", t);
    CHECK(strstr(t, "0.6000    0.1000") != NULL, "mean 0.6, sd 0.1 (ddof 1):\n%s", t);
    CHECK(strstr(t, "[0.3516, 0.8484]") != NULL, "95%% t interval:\n%s", t);
    CHECK(strstr(t, "diverged \xc3\x97" "3") && strstr(t, "failed \xc3\x97" "2"), "counts:\n%s", t);
    CHECK(strstr(t, "sample standard deviation (ddof 1)") != NULL, "sd labelled:\n%s", t);
    /* issue 17: the per-model table has one column per stored status and no "abandoned"
     * (never stored); the row: 4 ok, 3 diverged, 2 failed, 0 unsupported, 0 pruned, 9 in all */
    CHECK(strstr(t, "abandoned") == NULL, "no abandoned column:\n%s", t);
    CHECK(strstr(t, "unsupported      pruned       total\n") != NULL,
          "header ends with unsupported, pruned, total:\n%s", t);
    CHECK(strstr(t, "           4           3           2           0           0           9\n") != NULL,
          "counts row:\n%s", t);
    free(t);
    free_results(res, 9);
    free_sweep(&s);
}

static void test_status_linear(void) {
    const int n = 100000;
    sweep_t s;
    make_sweep(&s, n, 4, 5); /* 4 models x 5000 configurations x 5 seeds */
    run_result **res = xcalloc((size_t)n, sizeof *res);
    for (int k = 0; k < n; k++) res[k] = ok_result((k % 97) / 97.0, 1, 1);
    char path[512];
    snprintf(path, sizeof path, "%s/big.nc", tmpdir);
    CHECK(output_write(path, &s, res) == 0, "write: %s", cls_geterr());
    free_results(res, n);
    double t0 = cls_now();
    int rc;
    char *t = status_text(path, &rc);
    double dt = cls_now() - t0;
    printf("# status on %d runs (20000 configurations): %.2f s\n", n, dt);
    CHECK(rc == 0, "status: %s", cls_geterr());
    CHECK(strstr(t, "m3: 5000 configurations") != NULL, "all listed:\n%.500s", t);
    CHECK(dt < 60, "status on %d runs took %.1f s", n, dt);
    free(t);
    free_sweep(&s);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--write-malformed")) return write_malformed(argv[2], argv[3]) ? 1 : 0;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/clsweep_test_ncsafety_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_no_link_no_foreign_file);
    RUN_TEST(test_malformed_files_refused);
    RUN_TEST(test_roundtrip_exact);
    RUN_TEST(test_journal_damage_kinds);
    RUN_TEST(test_status_every_configuration);
    RUN_TEST(test_status_linear);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_EXIT();
}
