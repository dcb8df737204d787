/* test_files_tasks.c — per-task file lists of the files benchmark (benchmark.train.x etc. as
 * lists of one file per task): bit-identical tasks to the class-split form when the per-task
 * files hold the same examples (task, class and domain scenarios, with subsets), local task
 * labels, the content hash over every listed file, path resolution, and every validation
 * error of the per-task form with its message. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "files.h"
#include "npy.h"
#include "test.h"
#include "util.h"

#define NTR 60
#define NTE 30
static char dir[] = "/tmp/clsweep-ftasks-XXXXXX";
static char px[256], py[256], tx[256], ty[256];
static char lx[1024], ly[1024], ltx[1024], lty[1024];   /* the per-task lists */

/* Example i of a set: 2×2×3 NHWC, class i % 6 (a permutation keeps classes interleaved),
 * pixel (h, w, c) = 10·label + 4·c + 2·h + w + (i % 3) (so examples of a class differ). */
static int label_of(int i) { return (i * 5 + i / 6) % 6; }
static void pixels(int i, uint8_t *x) {
    for (int h = 0; h < 2; h++)
        for (int w = 0; w < 2; w++)
            for (int c = 0; c < 3; c++)
                x[(h * 2 + w) * 3 + c] = (uint8_t)(10 * label_of(i) + 4 * c + h * 2 + w + i % 3);
}

/* Writes the examples i < n whose class is in [lo, hi) (all: 0, 6), labels minus sub. */
static void write_part(const char *xp, const char *yp, int n, int lo, int hi, int sub) {
    uint8_t *x = malloc((size_t)n * 12);
    int64_t *y = malloc(sizeof(int64_t) * (size_t)n);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (label_of(i) >= lo && label_of(i) < hi) {
            pixels(i, x + m * 12);
            y[m++] = label_of(i) - sub;
        }
    unlink(xp);
    unlink(yp);
    npy_array ax = {NPY_U8, 1, 4, {m, 2, 2, 3}, (long)m * 12, x};
    npy_array ay = {NPY_I64, 8, 1, {m}, m, y};
    CHECK(npy_write(&ax, xp) == 0 && npy_write(&ay, yp) == 0, "write: %s", cls_geterr());
    free(x);
    free(y);
}

static void file_name(char *out, const char *what, int t) {
    snprintf(out, 256, "%s/%s%d.npy", dir, what, t);
}

/* Per-task files of tasks {0,1}, {2,3}, {4,5}; labels local (0, 1) when sub. */
static void write_tasks(int sub) {
    char *l[4] = {lx, ly, ltx, lty};
    for (int k = 0; k < 4; k++) snprintf(l[k], 1024, "[");
    for (int t = 0; t < 3; t++) {
        char f[4][256];
        file_name(f[0], "trx", t);
        file_name(f[1], "try", t);
        file_name(f[2], "tex", t);
        file_name(f[3], "tey", t);
        write_part(f[0], f[1], NTR, 2 * t, 2 * t + 2, sub ? 2 * t : 0);
        write_part(f[2], f[3], NTE, 2 * t, 2 * t + 2, sub ? 2 * t : 0);
        for (int k = 0; k < 4; k++) {
            size_t len = strlen(l[k]);
            snprintf(l[k] + len, 1024 - len, "%s%s", t ? ", " : "", f[k]);
        }
    }
    for (int k = 0; k < 4; k++) strcat(l[k], "]");
}

static void setup(void) {
    if (!px[0]) {
        CHECK(mkdtemp(dir) != NULL, "mkdtemp");
        snprintf(px, sizeof px, "%s/train_x.npy", dir);
        snprintf(py, sizeof py, "%s/train_y.npy", dir);
        snprintf(tx, sizeof tx, "%s/test_x.npy", dir);
        snprintf(ty, sizeof ty, "%s/test_y.npy", dir);
    }
    write_part(px, py, NTR, 0, 6, 0);
    write_part(tx, ty, NTE, 0, 6, 0);
    write_tasks(0);
    files_cache_free();
}

static void base_cfg(run_config *c, int lists) {
    cfg_init(c);
    cfg_set(c, "benchmark.name", "files");
    cfg_set(c, "benchmark.train.x", lists ? lx : px);
    cfg_set(c, "benchmark.train.y", lists ? ly : py);
    cfg_set(c, "benchmark.test.x", lists ? ltx : tx);
    cfg_set(c, "benchmark.test.y", lists ? lty : ty);
    cfg_set(c, "benchmark.blocks", "0");
    cfg_set(c, "benchmark.block_size", "1");
    cfg_set(c, "benchmark.train_per_task", "7");
    cfg_set(c, "benchmark.test_per_task", "4");
    cfg_set(c, "benchmark.split.classes_per_task", "2");
    cfg_set(c, "benchmark.scenario", "task");
}

/* Every task of a and b holds the same examples, labels, classes, mask and name. */
static void same_tasks(const bench_t *a, const bench_t *b, const char *what) {
    CHECK(a->ntasks == b->ntasks && a->in_dim == b->in_dim && a->out_dim == b->out_dim &&
              a->img_c == b->img_c && a->img_h == b->img_h && a->img_w == b->img_w,
          "%s: shapes (tasks %d/%d, out %d/%d)", what, a->ntasks, b->ntasks, a->out_dim,
          b->out_dim);
    for (int t = 0; t < a->ntasks && t < b->ntasks; t++) {
        const task_t *p = &a->tasks[t], *q = &b->tasks[t];
        CHECK(p->n_train == q->n_train && p->n_test == q->n_test && p->nclasses == q->nclasses,
              "%s: task %d sizes", what, t);
        if (p->n_train != q->n_train || p->n_test != q->n_test || p->nclasses != q->nclasses)
            continue;
        size_t d = (size_t)a->in_dim;
        CHECK(!memcmp(p->x_train, q->x_train, sizeof(float) * d * (size_t)p->n_train) &&
                  !memcmp(p->x_test, q->x_test, sizeof(float) * d * (size_t)p->n_test),
              "%s: task %d inputs bit-identical", what, t);
        CHECK(!memcmp(p->y_train, q->y_train, sizeof(int) * (size_t)p->n_train) &&
                  !memcmp(p->y_test, q->y_test, sizeof(int) * (size_t)p->n_test),
              "%s: task %d labels", what, t);
        CHECK(!memcmp(p->classes, q->classes, sizeof(int) * (size_t)p->nclasses),
              "%s: task %d classes", what, t);
        CHECK((p->class_mask == NULL) == (q->class_mask == NULL) &&
                  (!p->class_mask ||
                   !memcmp(p->class_mask, q->class_mask, sizeof(int) * (size_t)a->out_dim)),
              "%s: task %d mask", what, t);
        CHECK(!strcmp(p->name, q->name), "%s: task %d name %s / %s", what, t, p->name, q->name);
    }
}

static void test_equal_to_split(void) {
    setup();
    const char *scen[3] = {"task", "class", "domain"};
    for (int s = 0; s < 3; s++)
        for (int local = 0; local < 2; local++) {
            write_tasks(local);
            files_cache_free();
            run_config c1, c2;
            base_cfg(&c1, 0);
            base_cfg(&c2, 1);
            cfg_set(&c1, "benchmark.scenario", scen[s]);
            cfg_set(&c2, "benchmark.scenario", scen[s]);
            if (local) cfg_set(&c2, "benchmark.task_labels", "local");
            bench_t a, b;
            CHECK(bench_init(&a, &c1, 3) == 0, "split %s: %s", scen[s], cls_geterr());
            CHECK(bench_init(&b, &c2, 3) == 0, "lists %s: %s", scen[s], cls_geterr());
            char what[64];
            snprintf(what, sizeof what, "%s%s", scen[s], local ? " (local labels)" : "");
            same_tasks(&a, &b, what);
            CHECK(b.ntasks == 3 && b.tasks[1].n_train == 7 && b.tasks[1].n_test == 4,
                  "%s: subsets", what);
            CHECK(b.out_dim == (s == 2 ? 2 : 6), "%s: out_dim %d", what, b.out_dim);
            bench_free(&a);
            bench_free(&b);
            cfg_free(&c1);
            cfg_free(&c2);
        }
    /* global labels 0/1 in every task: the tasks share classes 0 and 1 (one 2-way problem) */
    files_cache_free();
    run_config c;
    base_cfg(&c, 1);
    bench_t b;
    CHECK(bench_init(&b, &c, 1) == 0, "%s", cls_geterr());
    CHECK(b.out_dim == 2 && b.tasks[2].classes[0] == 0 && b.tasks[2].classes[1] == 1,
          "global labels as in the files: out_dim %d", b.out_dim);
    bench_free(&b);
    cfg_free(&c);
    write_tasks(0);
    files_cache_free();
}

static void test_hash_and_resolve(void) {
    setup();
    run_config c;
    base_cfg(&c, 1);
    uint64_t h1, h2, h3;
    CHECK(files_data_hash(&c, &h1) == 0 && files_data_hash(&c, &h2) == 0 && h1 == h2, "stable");
    sleep(1);
    char f[256];
    file_name(f, "tey", 2);
    char g[256];
    file_name(g, "tex", 2);
    write_part(g, f, NTE - 1, 4, 6, 0);   /* the last task's test files change */
    CHECK(files_data_hash(&c, &h3) == 0 && h3 != h1, "a changed per-task file changes the hash");
    cfg_free(&c);
    char *r = files_resolve("[a.npy, /abs/b.npy,  sub/c.npy ]", "/d");
    CHECK(!strcmp(r, "[/d/a.npy, /abs/b.npy, /d/sub/c.npy]"), "resolved list: %s", r);
    free(r);
    r = files_resolve("x.npy", "/d");
    CHECK(!strcmp(r, "/d/x.npy"), "resolved path: %s", r);
    free(r);
    write_tasks(0);
    files_cache_free();
}

static void expect(const char *k1, const char *v1, const char *k2, const char *v2,
                   const char *needle) {
    run_config c;
    base_cfg(&c, 1);
    if (k1) cfg_set(&c, k1, v1);
    if (k2) cfg_set(&c, k2, v2);
    bench_t b;
    files_cache_free();
    int r = bench_init(&b, &c, 1);
    CHECK(r == -1, "%s=%s accepted", k1 ? k1 : "-", v1 ? v1 : "-");
    CHECK(strstr(cls_geterr(), needle) != NULL, "%s=%s: message '%s' lacks '%s'",
          k1 ? k1 : "-", v1 ? v1 : "-", cls_geterr(), needle);
    if (!r) bench_free(&b);
    cfg_free(&c);
}

/* A copy of list l with entry t replaced by path. */
static void replace_entry(char *out, const char *l, int t, const char *path) {
    char f[3][256];
    const char *p = l + 1;
    for (int i = 0; i < 3; i++) {
        size_t n = strcspn(p, ",]");
        snprintf(f[i], sizeof f[i], "%.*s", (int)n, p);
        p += n + (p[n] == ',' ? 2 : 1);
    }
    snprintf(out, 1024, "[%s, %s, %s]", t == 0 ? path : f[0], t == 1 ? path : f[1],
             t == 2 ? path : f[2]);
}

static void test_errors(void) {
    setup();
    char l[1024], bad[256];
    /* list shapes */
    snprintf(l, sizeof l, "[%s/try0.npy, %s/try1.npy]", dir, dir);
    expect("benchmark.train.y", l, NULL, NULL,
           "benchmark.train.y lists 2 files but benchmark.train.x 3");
    expect("benchmark.test.x", tx, NULL, NULL,
           "benchmark.test.x is one file but benchmark.train.x a list of per-task files");
    expect("benchmark.train.x", px, NULL, NULL,
           "benchmark.train.x is one file but benchmark.train.y a list");
    expect("benchmark.train.x", "[a.npy, , b.npy]", NULL, NULL,
           "benchmark.train.x: expected a file or a list of per-task files");
    expect("benchmark.train.x", "[a.npy, [b.npy]]", NULL, NULL, "no nested list");
    expect("benchmark.train.x", "[a.npy, b.npy", NULL, NULL, "expected a file or a list");
    /* a missing file in a list */
    snprintf(bad, sizeof bad, "%s/missing.npy", dir);
    replace_entry(l, lx, 1, bad);
    expect("benchmark.train.x", l, NULL, NULL, "missing.npy: cannot open");
    /* the class split does not apply */
    expect("benchmark.split.classes_per_task", "3", NULL, NULL,
           "benchmark.split does not apply to per-task files");
    expect("benchmark.split.class_order", "seed", NULL, NULL, "benchmark.split does not apply");
    expect("benchmark.task_labels", "relative", NULL, NULL,
           "task_labels: 'relative' (expected global or local)");
    /* a task of another input shape */
    snprintf(bad, sizeof bad, "%s/flat_x.npy", dir);
    char by[256];
    snprintf(by, sizeof by, "%s/flat_y.npy", dir);
    float xf[20 * 5] = {0};
    int64_t yf[20];
    for (int i = 0; i < 20; i++) yf[i] = 2 + i % 2;
    npy_array afx = {NPY_F32, 4, 2, {20, 5}, 100, xf}, afy = {NPY_I64, 8, 1, {20}, 20, yf};
    unlink(bad);
    unlink(by);
    CHECK(npy_write(&afx, bad) == 0 && npy_write(&afy, by) == 0, "write");
    replace_entry(l, lx, 1, bad);
    char l2[1024];
    replace_entry(l2, ly, 1, by);
    expect("benchmark.train.x", l, "benchmark.train.y", l2,
           "flat_x.npy: inputs have shape C×H×W = 0×0×0 (D 5) but task 0's training inputs");
    replace_entry(l, ltx, 2, bad);
    replace_entry(l2, lty, 2, by);
    expect("benchmark.test.x", l, "benchmark.test.y", l2, "flat_x.npy: inputs have shape");
    /* labels and inputs of different lengths in one task's files */
    char f[256];
    file_name(f, "try", 2);
    replace_entry(l, ly, 0, f);   /* task 0's inputs with task 2's labels: 20 vs 20 → equal */
    snprintf(by, sizeof by, "%s/short_y.npy", dir);
    int64_t ys[3] = {0, 1, 0};
    npy_array asy = {NPY_I64, 8, 1, {3}, 3, ys};
    unlink(by);
    CHECK(npy_write(&asy, by) == 0, "write");
    replace_entry(l, ly, 0, by);
    expect("benchmark.train.y", l, NULL, NULL, "short_y.npy: 3 labels for 20 inputs");
    /* a float label file and a negative label in a list */
    snprintf(by, sizeof by, "%s/float_y.npy", dir);
    float yfl[20] = {0};
    npy_array afl = {NPY_F32, 4, 1, {20}, 20, yfl};
    unlink(by);
    CHECK(npy_write(&afl, by) == 0, "write");
    replace_entry(l, ly, 2, by);
    expect("benchmark.train.y", l, NULL, NULL, "float_y.npy: labels are float32");
    snprintf(by, sizeof by, "%s/neg_y.npy", dir);
    int64_t yn[10];
    for (int i = 0; i < 10; i++) yn[i] = i == 4 ? -1 : 4 + i % 2;
    npy_array an = {NPY_I64, 8, 1, {10}, 10, yn};
    unlink(by);
    CHECK(npy_write(&an, by) == 0, "write");
    replace_entry(l, lty, 2, by);
    expect("benchmark.test.y", l, NULL, NULL, "neg_y.npy: label -1 at index 4 is out of range");
    /* a test label that is not a class of the task's training file */
    for (int i = 0; i < 10; i++) yn[i] = i == 6 ? 0 : 4 + i % 2;
    unlink(by);
    CHECK(npy_write(&an, by) == 0, "write");
    replace_entry(l, lty, 2, by);
    expect("benchmark.test.y", l, NULL, NULL,
           "neg_y.npy: label 0 at index 6 is not a class of task 2's training file");
    /* NaN in a float task file */
    snprintf(bad, sizeof bad, "%s/nan_x.npy", dir);
    snprintf(by, sizeof by, "%s/nan_y.npy", dir);
    float xn[20 * 12];
    for (int i = 0; i < 240; i++) xn[i] = i == 30 ? 0.0f / 0.0f : 0.5f;
    npy_array anx = {NPY_F32, 4, 4, {20, 2, 2, 3}, 240, xn};
    for (int i = 0; i < 20; i++) yf[i] = i % 2;
    unlink(bad);
    unlink(by);
    CHECK(npy_write(&anx, bad) == 0 && npy_write(&afy, by) == 0, "write");
    replace_entry(l, lx, 0, bad);
    replace_entry(l2, ly, 0, by);
    expect("benchmark.train.x", l, "benchmark.train.y", l2,
           "nan_x.npy: non-finite value at input 2");
    /* an empty task */
    snprintf(bad, sizeof bad, "%s/empty_x.npy", dir);
    snprintf(by, sizeof by, "%s/empty_y.npy", dir);
    npy_array aex = {NPY_U8, 1, 4, {0, 2, 2, 3}, 0, xn}, aey = {NPY_I64, 8, 1, {0}, 0, yf};
    unlink(bad);
    unlink(by);
    CHECK(npy_write(&aex, bad) == 0 && npy_write(&aey, by) == 0, "write");
    replace_entry(l, lx, 1, bad);
    replace_entry(l2, ly, 1, by);
    expect("benchmark.train.x", l, "benchmark.train.y", l2,
           "empty_y.npy: no examples (expected at least one per task)");
    /* the domain scenario needs equal class counts: task 1 with 1 class */
    file_name(f, "trx", 1);
    file_name(bad, "try", 1);
    write_part(f, bad, NTR, 2, 3, 0);
    file_name(f, "tex", 1);
    file_name(bad, "tey", 1);
    write_part(f, bad, NTE, 2, 3, 0);
    expect("benchmark.scenario", "domain", NULL, NULL,
           "domain needs the same number of classes in every task (task 0 has 2, task 1 has 1)");
    write_tasks(0);
    files_cache_free();
}

int main(void) {
    RUN_TEST(test_equal_to_split);
    RUN_TEST(test_hash_and_resolve);
    RUN_TEST(test_errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (px[0] && system(cmd)) return 1;
    files_cache_free();
    TEST_EXIT();
}
