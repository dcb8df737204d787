/* files.h — the file-defined benchmark `files`: a user's own classification data in array
 * files (.npy, IDX, NetCDF; include/arrays.h), split into tasks by classes (docs/spec.md,
 * "Your own data"; the steps are at the top of src/data/files.c).
 *
 * Keys (all under benchmark.): train.x, train.y, test.x, test.y (paths, or in all four a list
 * "[a, b, ...]" of one file per task; the sweep expander makes them absolute, relative to the
 * sweep file), task_labels (per-task files: global|local), layout (auto|nhwc|nchw), normalize.mean
 * and normalize.std (per-channel lists), split.classes_per_task, split.class_order
 * (sorted|seed|[[...],...]), split.seed, scenario (task|class|domain), train_per_task,
 * test_per_task, and data_hash (set by the expander: the content hash of the data files, so
 * changed data changes every run's identity).
 *
 * Called by bench.c (which builds the benchmark from files_get) and the sweep expander;
 * calls arrays, rng, config, util. */
#ifndef CLS_FILES_H
#define CLS_FILES_H

#include <stdint.h>

#include "config.h"

/* One task's arrays in the per-process cache (bench_t tasks point into them). */
typedef struct {
    char name[32];
    int n_train, n_test, nclasses;
    float *x_train, *x_test;   /* (n, dim), C×H×W order */
    int *y_train, *y_test;
    int *classes;              /* (nclasses) */
    int *class_mask;           /* (out_dim) for the task scenario, else NULL */
} bench_task_data;

/* A loaded, split data set (in the per-process cache; valid until files_cache_free). */
typedef struct {
    char *key;                 /* every setting it depends on */
    int ntasks, K, out_dim;    /* tasks, classes in the files, outputs of the scenario */
    int c, h, w, dim;          /* image geometry (c = 0: flat vectors) and input size */
    bench_task_data *tasks;    /* (ntasks) */
} files_data;

/* The data set cfg's files benchmark describes, loading and splitting the files on first
 * use in this process. NULL with cls_seterr naming the file and what was expected. */
const files_data *files_get(const run_config *cfg);
/* Loads and validates everything cfg's files benchmark needs (the same checks as a run);
 * used at expand time so that no run is dispatched on bad data. 0 or -1 with cls_seterr. */
int files_check(const run_config *cfg);
/* Content hash of the four data files (FNV-1a 64 over their bytes), memoised per process by
 * path + size + mtime. 0 or -1 with cls_seterr. */
int files_data_hash(const run_config *cfg, uint64_t *hash);
/* value (one path or a list "[a, b]") with every relative path prefixed by dir + "/";
 * malloc'd. A malformed list is returned unchanged (files_check reports it). */
char *files_resolve(const char *value, const char *dir);
/* Frees the cache and the memo (tests, leak checks). */
void files_cache_free(void);

#endif
