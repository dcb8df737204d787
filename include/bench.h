/* bench.h — benchmarks: task streams with a curriculum of blocks (SPEC §3).
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

/* Registry entry of a benchmark: its name, kind, and the keys it reads. */
typedef struct {
    const char *name;
    bench_kind kind;
    const param_spec *params;
    int nparams;
} bench_spec;

extern const bench_spec bench_specs[];
extern const int bench_nspecs;
const bench_spec *bench_find(const char *name);

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
