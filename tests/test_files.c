/* test_files.c — the file-defined benchmark on small generated arrays: task/class/domain
 * masks and labels, NHWC → CHW, normalisation, class orders, subsets, the shared cache, the
 * content hash, and every validation error with its message. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "files.h"
#include "npy.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/clsweep-files-XXXXXX";
static char px[256], py[256], tx[256], ty[256];

/* N images 2×2×3 (NHWC) of 6 classes: pixel (h, w, c) = 10·label + 4·c + h·2 + w. */
static void write_set(const char *xp, const char *yp, int n, int nclasses) {
    uint8_t *x = malloc((size_t)n * 12);
    int64_t *y = malloc(sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        y[i] = i % nclasses;
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 2; w++)
                for (int c = 0; c < 3; c++)
                    x[i * 12 + (h * 2 + w) * 3 + c] = (uint8_t)(10 * y[i] + 4 * c + h * 2 + w);
    }
    unlink(xp);
    unlink(yp);
    npy_array ax = {NPY_U8, 1, 4, {n, 2, 2, 3}, (long)n * 12, x};
    npy_array ay = {NPY_I64, 8, 1, {n}, n, y};
    CHECK(npy_write(&ax, xp) == 0 && npy_write(&ay, yp) == 0, "write: %s", cls_geterr());
    free(x);
    free(y);
}

static void base_cfg(run_config *c) {
    cfg_init(c);
    cfg_set(c, "benchmark.name", "files");
    cfg_set(c, "benchmark.train.x", px);
    cfg_set(c, "benchmark.train.y", py);
    cfg_set(c, "benchmark.test.x", tx);
    cfg_set(c, "benchmark.test.y", ty);
    cfg_set(c, "benchmark.blocks", "0");
    cfg_set(c, "benchmark.block_size", "1");
    cfg_set(c, "benchmark.train_per_task", "0");
    cfg_set(c, "benchmark.test_per_task", "0");
    cfg_set(c, "benchmark.split.classes_per_task", "2");
    cfg_set(c, "benchmark.scenario", "task");
}

static void setup(void) {
    if (!px[0]) {
        CHECK(mkdtemp(dir) != NULL, "mkdtemp");
        snprintf(px, sizeof px, "%s/train_x.npy", dir);
        snprintf(py, sizeof py, "%s/train_y.npy", dir);
        snprintf(tx, sizeof tx, "%s/test_x.npy", dir);
        snprintf(ty, sizeof ty, "%s/test_y.npy", dir);
    }
    write_set(px, py, 60, 6);
    write_set(tx, ty, 30, 6);
    files_cache_free();
}

static void test_scenarios(void) {
    setup();
    const char *scen[3] = {"task", "class", "domain"};
    for (int s = 0; s < 3; s++) {
        run_config c;
        base_cfg(&c);
        cfg_set(&c, "benchmark.scenario", scen[s]);
        bench_t b;
        CHECK(bench_init(&b, &c, 1) == 0, "%s: %s", scen[s], cls_geterr());
        CHECK(b.ntasks == 3 && b.nstages == 3 && b.kind == BENCH_KIND_CLASSIFICATION, "%s shape",
              scen[s]);
        CHECK(b.in_dim == 12 && b.img_c == 3 && b.img_h == 2 && b.img_w == 2, "geometry");
        CHECK(b.out_dim == (s == 2 ? 2 : 6), "%s out_dim %d", scen[s], b.out_dim);
        for (int t = 0; t < b.ntasks; t++) {
            task_t *k = &b.tasks[t];
            CHECK(k->n_train == 20 && k->n_test == 10, "task %d sizes %d %d", t, k->n_train,
                  k->n_test);
            CHECK((k->class_mask != NULL) == (s == 0), "%s: mask presence", scen[s]);
            if (s == 0)
                for (int o = 0; o < 6; o++)
                    CHECK(k->class_mask[o] == (o / 2 == t), "task mask t%d o%d", t, o);
            for (int i = 0; i < k->n_train; i++) {
                int y = k->y_train[i];
                /* the true class of the example, from its pixels: x[c=0,h=0,w=0] = 10·label/255 */
                int label = (int)(k->x_train[i * 12] * 255.0f + 0.5f) / 10;
                CHECK(label / 2 == t, "example of task %d has class %d", t, label);
                CHECK(y == (s == 2 ? label % 2 : label), "%s label %d for class %d", scen[s], y,
                      label);
            }
            /* CHW: channel c, pixel (h, w) = 10·label + 4c + 2h + w */
            int label = (int)(k->x_train[0] * 255.0f + 0.5f) / 10;
            for (int cc = 0; cc < 3; cc++)
                for (int p = 0; p < 4; p++)
                    CHECK(k->x_train[cc * 4 + p] == (float)(10 * label + 4 * cc + p) / 255.0f,
                          "NHWC→CHW c%d p%d", cc, p);
        }
        bench_free(&b);
        cfg_free(&c);
    }
    files_cache_free();
}

static void test_orders_subsets_norm(void) {
    setup();
    run_config c;
    base_cfg(&c);
    cfg_set(&c, "benchmark.split.class_order", "[[5, 0], [3], [1, 2, 4]]");
    cfg_set(&c, "benchmark.train_per_task", "4");
    cfg_set(&c, "benchmark.normalize.mean", "[0.5, 0.25, 0]");
    cfg_set(&c, "benchmark.normalize.std", "[2, 1, 0.5]");
    bench_t b;
    CHECK(bench_init(&b, &c, 7) == 0, "%s", cls_geterr());
    CHECK(b.ntasks == 3 && b.tasks[0].nclasses == 2 && b.tasks[1].nclasses == 1 &&
              b.tasks[2].nclasses == 3, "explicit lists");
    CHECK(b.tasks[0].classes[0] == 5 && b.tasks[0].classes[1] == 0 && b.tasks[1].classes[0] == 3,
          "class ids");
    CHECK(b.tasks[0].n_train == 4 && b.tasks[2].n_train == 4 && b.tasks[2].n_test == 15,
          "subsets %d %d %d", b.tasks[0].n_train, b.tasks[2].n_train, b.tasks[2].n_test);
    /* normalised channel 2 of an example: (v − 0) / 0.5 */
    const task_t *k = &b.tasks[1];
    float raw = (float)(30 + 8 + 1) / 255.0f;   /* class 3, channel 2, pixel (0, 1) */
    CHECK(k->x_train[2 * 4 + 1] == (float)((raw - 0.0) / 0.5), "normalisation %g",
          k->x_train[9]);
    bench_free(&b);
    /* the cache: a second run with the same settings gets the same arrays, not a copy */
    bench_t b1, b2;
    CHECK(bench_init(&b1, &c, 1) == 0 && bench_init(&b2, &c, 2) == 0, "two runs");
    CHECK(b1.tasks[0].x_train == b2.tasks[0].x_train && b1.data_shared, "shared arrays");
    bench_free(&b1);
    bench_free(&b2);
    /* seed order: a permutation, the same every time */
    cfg_set(&c, "benchmark.split.class_order", "seed");
    cfg_set(&c, "benchmark.split.classes_per_task", "3");
    CHECK(bench_init(&b1, &c, 1) == 0, "%s", cls_geterr());
    int first = b1.tasks[0].classes[0];
    bench_free(&b1);
    files_cache_free();
    CHECK(bench_init(&b1, &c, 9) == 0 && b1.tasks[0].classes[0] == first, "seed order stable");
    bench_free(&b1);
    cfg_free(&c);
    files_cache_free();
}

static void test_hash(void) {
    setup();
    run_config c;
    base_cfg(&c);
    uint64_t h1, h2, h3;
    CHECK(files_data_hash(&c, &h1) == 0 && files_data_hash(&c, &h2) == 0 && h1 == h2, "stable");
    sleep(1);   /* a new mtime even on coarse file systems */
    write_set(tx, ty, 31, 6);
    CHECK(files_data_hash(&c, &h3) == 0 && h3 != h1, "changed data, new hash");
    cfg_free(&c);
    files_cache_free();
}

static void expect(const char *key, const char *val, const char *needle) {
    run_config c;
    base_cfg(&c);
    if (key) cfg_set(&c, key, val);
    bench_t b;
    files_cache_free();
    int r = bench_init(&b, &c, 1);
    CHECK(r == -1, "%s=%s accepted", key ? key : "-", val ? val : "-");
    CHECK(strstr(cls_geterr(), needle) != NULL, "%s=%s: message '%s' lacks '%s'",
          key ? key : "-", val ? val : "-", cls_geterr(), needle);
    if (!r) bench_free(&b);
    cfg_free(&c);
}

static void test_errors(void) {
    setup();
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing.npy", dir);
    expect("benchmark.train.x", bad, "missing.npy: cannot open");
    expect("benchmark.split.classes_per_task", "4", "does not divide the 6 classes");
    expect("benchmark.split.class_order", "[[0, 1], [1, 2]]", "more than one task");
    expect("benchmark.split.class_order", "[[0, 9]]", "class 9 is not a label");
    expect("benchmark.split.class_order", "reverse", "expected sorted, seed");
    expect("benchmark.normalize.mean", "[0.5, 0.5]", "mean and std");
    /* x/y length mismatch */
    snprintf(bad, sizeof bad, "%s/y_short.npy", dir);
    int64_t ys[5] = {0, 1, 2, 3, 4};
    npy_array ay = {NPY_I64, 8, 1, {5}, 5, ys};
    unlink(bad);
    npy_write(&ay, bad);
    expect("benchmark.train.y", bad, "5 labels for 60 inputs");
    /* labels out of range and float labels */
    snprintf(bad, sizeof bad, "%s/y_neg.npy", dir);
    int64_t yn[60];
    for (int i = 0; i < 60; i++) yn[i] = i == 7 ? -3 : i % 6;
    npy_array an = {NPY_I64, 8, 1, {60}, 60, yn};
    unlink(bad);
    npy_write(&an, bad);
    expect("benchmark.train.y", bad, "label -3 at index 7 is out of range");
    snprintf(bad, sizeof bad, "%s/y_float.npy", dir);
    float yf[60] = {0};
    npy_array af = {NPY_F32, 4, 1, {60}, 60, yf};
    unlink(bad);
    npy_write(&af, bad);
    expect("benchmark.train.y", bad, "labels are float32 (expected an integer type)");
    /* wrong dtype for x, NaN in float data */
    snprintf(bad, sizeof bad, "%s/x_i32.npy", dir);
    int32_t xi[60 * 2] = {0};
    npy_array ai = {NPY_I32, 4, 2, {60, 2}, 120, xi};
    unlink(bad);
    npy_write(&ai, bad);
    expect("benchmark.train.x", bad, "inputs are int32 (expected uint8 pixels or float32");
    snprintf(bad, sizeof bad, "%s/x_nan.npy", dir);
    float xn[60 * 2];
    for (int i = 0; i < 120; i++) xn[i] = i == 33 ? 0.0f / 0.0f : 0.5f;
    npy_array anan = {NPY_F32, 4, 2, {60, 2}, 120, xn};
    unlink(bad);
    npy_write(&anan, bad);
    expect("benchmark.train.x", bad, "non-finite value at input 16");
    /* test inputs of another shape than the training inputs */
    snprintf(bad, sizeof bad, "%s/x_flat.npy", dir);
    float xfl[30 * 5] = {0};
    npy_array afl = {NPY_F32, 4, 2, {30, 5}, 150, xfl};
    unlink(bad);
    npy_write(&afl, bad);
    expect("benchmark.test.x", bad, "test inputs have shape");
    /* a 4-D shape whose channel axis cannot be told */
    snprintf(bad, sizeof bad, "%s/x_amb.npy", dir);
    uint8_t xa[60 * 3 * 3 * 3] = {0};
    npy_array aa = {NPY_U8, 1, 4, {60, 3, 3, 3}, 60 * 27, xa};
    unlink(bad);
    npy_write(&aa, bad);
    expect("benchmark.train.x", bad, "set benchmark.layout");
    /* a test label the training set does not have */
    write_set(tx, ty, 30, 7);
    expect(NULL, NULL, "does not occur in the training labels");
    files_cache_free();
}

int main(void) {
    RUN_TEST(test_scenarios);
    RUN_TEST(test_orders_subsets_norm);
    RUN_TEST(test_hash);
    RUN_TEST(test_errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (px[0] && system(cmd)) return 1;
    TEST_EXIT();
}
