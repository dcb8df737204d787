/* bench.c — the benchmarks of SPEC §3: task streams built from the data sets or generated,
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
#define P_NAME {"benchmark.name", PARAM_STR, "", \
     "mnist_fashion|split_mnist|split_fashion|permuted_mnist|teacher_student|curves3d|files", 1, 0, \
     "benchmark"}
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
};
static const param_spec split_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.scenario", PARAM_STR, "task", "task|class", 1, 0,
     "task: task-incremental (only the task's classes compete); class: class-incremental"},
};
static const param_spec permuted_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.tasks", PARAM_INT, "5", NULL, 2, 100, "number of permutations (task 0 unpermuted)"},
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

static const param_spec files_params[] = {
    P_NAME, P_BLOCKS("0"), P_EPOCHS, P_SUBSETS,
    {"benchmark.train.x", PARAM_STR, "", NULL, 0, 0,
     "training inputs: .npy, IDX (.gz) or PATH.nc:VARIABLE; (N, D), (N, H, W), (N, H, W, C) or "
     "(N, C, H, W), uint8 or float"},
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
    {"benchmark.data_hash", PARAM_STR, "", NULL, 0, 0,
     "content hash of the four data files (set by the sweep expander)"},
};

#define NP(a) (int)(sizeof a / sizeof a[0])
const bench_spec bench_specs[] = {
    {"mnist_fashion", BENCH_KIND_CLASSIFICATION, mnist_fashion_params, NP(mnist_fashion_params)},
    {"split_mnist", BENCH_KIND_CLASSIFICATION, split_params, NP(split_params)},
    {"split_fashion", BENCH_KIND_CLASSIFICATION, split_params, NP(split_params)},
    {"permuted_mnist", BENCH_KIND_CLASSIFICATION, permuted_params, NP(permuted_params)},
    {"teacher_student", BENCH_KIND_REGRESSION, teacher_params, NP(teacher_params)},
    {"curves3d", BENCH_KIND_RECONSTRUCTION, curves_params, NP(curves_params)},
    {"files", BENCH_KIND_CLASSIFICATION, files_params, NP(files_params)},
};
const int bench_nspecs = NP(bench_specs);

const bench_spec *bench_find(const char *name) {
    for (int i = 0; i < bench_nspecs; i++)
        if (!strcmp(bench_specs[i].name, name)) return &bench_specs[i];
    return NULL;
}

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

static int init_classification(bench_t *b, const run_config *cfg) {
    static const int all10[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int ntr = (int)cfg_int(cfg, "benchmark.train_per_task");
    int nte = (int)cfg_int(cfg, "benchmark.test_per_task");
    rng_t r;
    rng_init(&r, DATA_SEED, 1);
    b->kind = BENCH_KIND_CLASSIFICATION;
    b->metric = "accuracy";
    b->higher_is_better = 1;
    b->in_dim = 784;
    b->img_c = 1; b->img_h = 28; b->img_w = 28;
    b->block_size = (int)cfg_int(cfg, "benchmark.block_size");
    const dataset *tr, *te;
    if (!strcmp(b->name, "mnist_fashion")) {
        int rev = !strcmp(cfg_str(cfg, "benchmark.order"), "reversed");
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
            task_classes(t, all10, 10, off, 20, 0);
        }
    } else if (!strcmp(b->name, "split_mnist") || !strcmp(b->name, "split_fashion")) {
        data_source src = !strcmp(b->name, "split_mnist") ? DATA_MNIST : DATA_FASHION;
        int masked = !strcmp(cfg_str(cfg, "benchmark.scenario"), "task");
        if (load_pair(src, &tr, &te)) return -1;
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
    } else { /* permuted_mnist */
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
    }
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

/* The five curve triples of the HSF benchmark (SPEC §4.6). */
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

void bench_prefetch(const run_config *cfg) {
    const char *name = cfg_get(cfg, "benchmark.name");
    if (!name) return;
    int mnist = !strcmp(name, "mnist_fashion") || !strcmp(name, "split_mnist") ||
                !strcmp(name, "permuted_mnist");
    int fashion = !strcmp(name, "mnist_fashion") || !strcmp(name, "split_fashion");
    if (!strcmp(name, "files")) files_check(cfg);   /* builds the shared cache */
    for (int train = 0; train < 2; train++) {
        if (mnist) data_get(DATA_MNIST, train);
        if (fashion) data_get(DATA_FASHION, train);
    }
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
    int rc;
    if (!strcmp(name, "files")) rc = files_bench_fill(b, cfg);
    else if (spec->kind == BENCH_KIND_CLASSIFICATION) rc = init_classification(b, cfg);
    else if (spec->kind == BENCH_KIND_REGRESSION) rc = init_teacher(b, cfg);
    else rc = init_curves(b, cfg);
    if (rc) {
        bench_free(b);
        return -1;
    }
    int blocks = (int)cfg_int(cfg, "benchmark.blocks");
    b->nstages = blocks > 0 ? blocks : b->ntasks;
    b->stage_task = xmalloc(sizeof(int) * (size_t)b->nstages);
    for (int s = 0; s < b->nstages; s++) b->stage_task[s] = s % b->ntasks;
    return 0;
}

void bench_free(bench_t *b) {
    for (int k = 0; b->tasks && !b->data_shared && k < b->ntasks; k++) {
        task_t *t = &b->tasks[k];
        free(t->x_train); free(t->x_test); free(t->y_train); free(t->y_test);
        free(t->t_train); free(t->t_test); free(t->class_mask); free(t->classes);
        free(t->teacher);
    }
    free(b->tasks);
    free(b->stage_task);
    memset(b, 0, sizeof *b);
}
