/* clsweep/plugin.h — the installed, versioned interface of a clsweep C plugin (a model built
 * out of tree as a shared object and named in a sweep file as `plugin:path/libx.so` or under
 * `programs:` with `plugin: path/libx.so`; docs/extending.md). Self-contained: includes only
 * the C standard library's <stddef.h>/<stdint.h>; a plugin never links against libclsweep,
 * it reaches clsweep only through the clsweep_host table it is given.
 *
 * A plugin defines a `static const clsweep_plugin` and exports it with CLSWEEP_PLUGIN_EXPORT,
 * which defines the two symbols clsweep looks up with dlsym:
 *   clsweep_plugin_abi    (const uint32_t) = CLSWEEP_PLUGIN_ABI of the header it was built with
 *   clsweep_plugin_entry  (function)       returning the descriptor
 * A plugin built for another ABI version (other than 1, which still loads), or lacking a
 * symbol or a required operation, is refused when the sweep is expanded, with the .so's path
 * and what was expected.
 *
 * The operations mirror the built-in model interface (src/models/model.h): init → per stage
 * train_stage, then evaluate of every task → optional after_stage; report at the end; free.
 * They run in the run's isolated child process (the time and memory limits apply, a crash
 * fails only that run). Everything is single-threaded per run; determinism is the plugin's
 * duty: draw every random number from the run's seed. */
#ifndef CLSWEEP_PLUGIN_H
#define CLSWEEP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every change of anything in this header. clsweep loads plugins of this ABI and
 * of ABI 1 (whose host table ends before `step`; a plugin of ABI 1 records no anytime curve,
 * and eval.every for it is refused when the sweep is expanded). */
#define CLSWEEP_PLUGIN_ABI 2u

/* Benchmark kinds (bit mask in clsweep_plugin.kinds; clsweep_stream.kind is one of them). */
enum {
    CLSWEEP_KIND_CLASSIFICATION = 1,
    CLSWEEP_KIND_REGRESSION = 2,      /* teacher_student: examples are generated per step */
    CLSWEEP_KIND_RECONSTRUCTION = 4
};

/* What train_stage returns. */
enum { CLSWEEP_OK = 0, CLSWEEP_DIVERGED = 1, CLSWEEP_FAILED = 2 };

/* Parameter types. */
enum { CLSWEEP_INT = 0, CLSWEEP_FLOAT = 1, CLSWEEP_STR = 2, CLSWEEP_BOOL = 3 };

/* One key the plugin reads. key is the short name ("lambda"); in a sweep file and in the run
 * configuration it is "<model>.<key>" (model = the plugin's name, or the name it is declared
 * under in `programs:`). def is the default as text ("0.1", "true"); lo >= hi (e.g. both 0) means no
 * range; else ints and floats outside [lo, hi] are refused when the sweep is expanded. */
typedef struct {
    const char *key;
    int type;
    const char *def;
    double lo, hi;
    const char *help;
} clsweep_param;

/* One task of the stream. Arrays are row-major float32; x is (n, in_dim) (images: (n, c, h,
 * w) flattened the same way). Classification: y are global class ids 0..out_dim-1 and t NULL;
 * regression/reconstruction: t is (n, out_dim) and y NULL. When class_mask is 1 (task-
 * incremental scenario) the prediction of the task is restricted to its classes. n_train is 0
 * for generated streams (teacher_student), which plugins cannot train on in ABI 1. */
typedef struct {
    const char *name;
    int n_train, n_test;
    const float *x_train, *x_test;
    const int *y_train, *y_test;
    const float *t_train, *t_test;
    const int *classes;
    int nclasses;
    int class_mask;
} clsweep_task;

/* The task stream of one run: exactly what the built-in models see. */
typedef struct {
    const char *benchmark;
    int kind;                 /* CLSWEEP_KIND_* */
    const char *metric;       /* "accuracy" or "mse": what evaluate returns */
    int higher_is_better;
    int in_dim, out_dim;      /* out_dim: number of (joint) classes for classification */
    int img_c, img_h, img_w;  /* image geometry, 0 when inputs are vectors */
    int ntasks;
    const clsweep_task *tasks;
    int nstages;
    const int *stage_task;    /* (nstages) the task trained at each stage */
    int block_size;           /* epochs per stage (classification, reconstruction) */
    uint64_t seed;            /* the run's seed */
} clsweep_stream;

/* One run, as the host sees it (opaque): its configuration, its error message, its extras. */
typedef struct clsweep_run clsweep_run;

/* What clsweep offers a plugin. key: a short key of the plugin's own ("lambda"), or a full
 * key of the run's configuration ("seed", "benchmark.name"). */
typedef struct {
    uint32_t abi;
    /* The value as text, or NULL when the run has no such key. */
    const char *(*get)(const clsweep_run *r, const char *key);
    long long (*get_int)(const clsweep_run *r, const char *key, long long def);
    double (*get_float)(const clsweep_run *r, const char *key, double def);
    /* Sets the message of a failure (init returning NULL, train_stage returning FAILED). */
    void (*error)(clsweep_run *r, const char *message);
    /* Records a scalar extra, stored in the result file as plugin_<name> ([A-Za-z0-9_]). */
    void (*scalar)(clsweep_run *r, const char *name, double value);
    /* ABI 2: call after each optimiser step of train_stage. With the anytime curve on
     * (eval.every = N > 0) every N-th call evaluates the model there and then: it calls
     * `evaluate` for every task, with a stream whose test arrays are a fixed subset of each
     * task's (eval.subset examples), so evaluate must only read the model, never change it or
     * draw training random numbers. Cheap (a counter) when the curve is off. */
    void (*step)(clsweep_run *r);
} clsweep_host;

typedef struct {
    uint32_t abi;             /* CLSWEEP_PLUGIN_ABI */
    uint32_t size;            /* sizeof(clsweep_plugin) */
    const char *name;         /* model name: letters, digits, '_' or '-' */
    const char *version;      /* free text, for messages */
    unsigned kinds;           /* CLSWEEP_KIND_* it supports */
    const clsweep_param *params;
    int nparams;
    /* Optional: relative cost for longest-first scheduling (NULL: 1). */
    double (*cost)(const clsweep_host *h, const clsweep_run *r);
    /* Required: the model's state for stream s, or NULL after h->error. */
    void *(*init)(const clsweep_host *h, clsweep_run *r, const clsweep_stream *s);
    /* Required: trains stage `stage` (task s->stage_task[stage]); CLSWEEP_OK, _DIVERGED
     * (non-finite loss) or _FAILED after h->error. */
    int (*train_stage)(void *m, clsweep_run *r, const clsweep_stream *s, int stage);
    /* Required: the metric of task t on its test set (accuracy in [0,1], or MSE). */
    double (*evaluate)(void *m, clsweep_run *r, const clsweep_stream *s, int t);
    /* Optional: called after each stage's evaluation. */
    void (*after_stage)(void *m, clsweep_run *r, const clsweep_stream *s, int stage);
    /* Optional: called once at the end (record final extras with h->scalar). */
    void (*report)(void *m, clsweep_run *r, const clsweep_stream *s);
    /* Required. */
    void (*free)(void *m);
} clsweep_plugin;

#define CLSWEEP_PLUGIN_EXPORT(desc)                                           \
    const uint32_t clsweep_plugin_abi = CLSWEEP_PLUGIN_ABI;                   \
    const clsweep_plugin *clsweep_plugin_entry(void);                         \
    const clsweep_plugin *clsweep_plugin_entry(void) { return &(desc); }

#ifdef __cplusplus
}
#endif
#endif
