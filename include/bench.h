/* bench.h — benchmarks: task streams with a curriculum of blocks (docs/spec.md §3).
 *
 * A benchmark yields T tasks and a curriculum of S stages (stage_task[s] = task trained at
 * stage s). After every stage every task is evaluated, giving R[s][t]. With the classical
 * sequence (blocks = T) stage == task. */
#ifndef CLS_BENCH_H
#define CLS_BENCH_H

#include "config.h"
#include "rng.h"

typedef enum {
    BENCH_KIND_CLASSIFICATION = 1,
    BENCH_KIND_REGRESSION = 2,      /* teacher_student */
    BENCH_KIND_RECONSTRUCTION = 4,  /* curves3d */
} bench_kind;

typedef struct {
    char name[32];
    int n_train, n_test;   /* n_train == 0: training batches are generated (bench_sample) */
    float *x_train;        /* (n_train, in_dim) */
    float *x_test;         /* (n_test, in_dim) */
    int *y_train, *y_test; /* classification: global class ids; else NULL */
    float *t_train;        /* regression/reconstruction targets (n_train, out_dim) or NULL */
    float *t_test;         /* (n_test, out_dim) or NULL */
    int *class_mask;       /* (out_dim) 1 for this task's classes when task-incremental; else NULL */
    int *score_mask;       /* (out_dim) the task's own classes for the extra task-masked score
                              R_task of a class-scenario run (benchmark.task_scores); else NULL.
                              The run executor swaps it in for class_mask to score only. */
    int *classes;          /* (nclasses) the global class ids of this task */
    int nclasses;
    float *teacher;        /* teacher_student: (out_dim, in_dim); else NULL */
} task_t;

typedef struct {
    char name[32];
    bench_kind kind;
    const char *metric;    /* "accuracy" or "mse" */
    int higher_is_better;
    int in_dim, out_dim;   /* out_dim = number of (joint) classes for classification */
    int img_c, img_h, img_w;  /* image geometry, 0 when inputs are not images */
    int ntasks;
    task_t *tasks;         /* (ntasks) */
    int nstages;
    int *stage_task;       /* (nstages) */
    int block_size;        /* classification/curves3d: epochs per block; teacher_student: steps */
    int stream_batch;      /* teacher_student: fresh batch per step */
    uint64_t seed;         /* run seed: per-run data streams derive from it */
    int data_shared;       /* 1: the tasks' arrays belong to a per-process cache (the files
                              benchmark) and bench_free leaves them */
} bench_t;

/* The data sets a benchmark reads (bench_spec.data). */
enum { BENCH_DATA_MNIST = 1u << 0, BENCH_DATA_FASHION = 1u << 1, BENCH_DATA_FILES = 1u << 2 };

struct bench_size_s;

/* Registry entry of a benchmark: everything the rest of the program needs to know about it.
 * Adding a benchmark is one entry in bench_specs (src/data/bench.c) plus its init function
 * and param table. */
typedef struct {
    const char *name;
    bench_kind kind;
    const param_spec *params;    /* the benchmark.* keys it reads */
    int nparams;
    /* Fills b's kind, metric, dimensions, tasks and block_size from cfg (b->name and b->seed
     * are set). 0, or -1 with cls_seterr (b is freed by the caller). */
    int (*init)(bench_t *b, const run_config *cfg);
    unsigned data;               /* BENCH_DATA_* it loads (prefetched before a fork) */
    int ntasks;                  /* number of tasks, or 0: the value of tasks_key */
    const char *tasks_key;
    /* Nominal training examples per task (the mean over tasks) with train_per_task = 0, for
     * cost estimates and budget tables without loading data; 0 when given by size_key
     * (curves3d: points per curve) or when examples are generated per step (batch_key). */
    int train_per_task;
    const char *size_key;
    int out_dim;                 /* classes of a classification benchmark (joint); else 0 */
    const char *batch_key;       /* generated streams: the key of examples drawn per step */
    /* Optional: the true shape when it depends on data (the files benchmark: tasks, examples
     * and classes come from the files); fills z after the nominal fields. 0 or -1. */
    int (*size)(const run_config *cfg, struct bench_size_s *z);
} bench_spec;

/* The nominal shape of cfg's benchmark, computed from the configuration alone. */
typedef struct bench_size_s {
    bench_kind kind;
    int ntasks, nstages;
    int block_size;      /* per block: epochs (epochs = 1) or generated steps (epochs = 0) */
    int epochs;
    double n_train;      /* training examples per task (nominal, after train_per_task) */
    int stream_batch;    /* generated streams: examples drawn per step; else 0 */
    int out_dim;         /* classification: classes; else 0 */
    int img_c, img_h, img_w;  /* image geometry of the inputs (0: flat vectors or unknown) */
} bench_size;

extern const bench_spec bench_specs[];
extern const int bench_nspecs;
const bench_spec *bench_find(const char *name);
/* The nominal size of cfg's benchmark ("benchmark.name" and whichever benchmark.* keys cfg
 * holds; missing keys count as their defaults' effect: one block per task, 1 epoch). 0, or
 * -1 with cls_seterr for an unknown benchmark. */
int bench_size_of(const run_config *cfg, bench_size *z);

/* Builds the benchmark named by cfg's "benchmark.name" from cfg's benchmark.* keys and
 * seed. Returns 0, or -1 with cls_seterr (missing data set, bad parameter). */
int bench_init(bench_t *b, const run_config *cfg, uint64_t seed);
void bench_free(bench_t *b);
/* Loads (into the data cache) the data sets cfg's benchmark will need, ignoring errors:
 * called before forking a run process so that children share the cache. */
void bench_prefetch(const run_config *cfg);

/* teacher_student: draws a fresh batch x (B, in_dim) ~ N(0, I) and y = teacher·x (B, out_dim)
 * for task t from r. */
void bench_sample(const bench_t *b, int t, rng_t *r, float *x, float *y, int B);

#endif
