/* result.h — what one model run produces: status, R matrix, metrics, extra metrics;
 * packing to bytes for MPI messages and the journal. */
#ifndef CLS_RESULT_H
#define CLS_RESULT_H

#include <stddef.h>

typedef enum {
    RUN_STATUS_OK = 0,
    RUN_STATUS_DIVERGED,      /* NaN/Inf loss or parameters */
    RUN_STATUS_FAILED,        /* error (message says why) */
    RUN_STATUS_UNSUPPORTED,   /* model does not support the benchmark kind */
    RUN_STATUS_PRUNED,        /* stopped at a stage boundary by successive halving (prune.h):
                               * final; R holds the stages it completed */
    RUN_STATUS_ABANDONED,     /* stopped before its end (signal, launcher gone): not a final
                               * status — never written to the journal or the NetCDF file;
                               * the run stays pending. Travels only from a run to its rank
                               * and on to the master. */
    RUN_STATUS_COUNT
} run_status;

const char *run_status_name(run_status s);   /* "ok", "diverged", "failed", "unsupported", "pruned" */
int run_status_parse(const char *name);      /* -1 if unknown */

#define RESULT_NAME_MAX 48
#define RESULT_MSG_MAX 256

/* An extra metric: a scalar (ndim 0) or a 1-D/2-D array over named dimensions,
 * e.g. "gates" over ("stage", "path") or "R_adapted" over ("stage", "task"). */
typedef struct {
    char name[RESULT_NAME_MAX];
    char long_name[96];
    int ndim;                         /* 0, 1 or 2 */
    char dim[2][RESULT_NAME_MAX];
    int shape[2];
    double *data;                     /* (shape[0] * shape[1]) or 1 value; NaN = unset */
} result_extra;

/* A probe matrix for the weight-space analysis (model_ops.weights), taken after a stage.
 * Carried from the run process to the rank that analyses it, never further: the analysis
 * replaces probes by extras (analysis.h) before a result reaches the master. */
typedef struct {
    int stage;                        /* stage after which it was taken */
    int rows, cols;
    float *data;                      /* (rows, cols) row-major */
    int *row_task;                    /* (rows) task of each row */
} result_probe;

typedef struct {
    run_status status;
    char message[RESULT_MSG_MAX];
    char metric[16];                  /* "accuracy" | "mse" */
    int higher_is_better;
    int nstages, ntasks;
    float *R;                         /* (nstages, ntasks) */
    float *R0;                        /* (ntasks) metric at initialisation */
    double acc, bwt, fwt, forgetting; /* NaN when not defined */
    double wall_seconds;
    int nextra;
    result_extra *extra;
    int nprobe;
    result_probe *probe;              /* (nprobe) */
} run_result;

/* Zeroes r (status ok, metrics NaN). */
void result_init(run_result *r);
/* Allocates R (NaN-filled) and R0 for the given shape. */
void result_alloc(run_result *r, int nstages, int ntasks);
void result_free(run_result *r);
/* Sets status and a printf message. */
void result_fail(run_result *r, run_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds (or replaces) a scalar extra. */
void result_set_scalar(run_result *r, const char *name, const char *long_name, double v);
/* Returns the data of a 1-D/2-D extra, creating it NaN-filled on first use
 * (dim1 NULL / n1 ignored for 1-D). The shape must match on later calls. */
double *result_array(run_result *r, const char *name, const char *long_name,
                     const char *dim0, int n0, const char *dim1, int n1);
/* Finds an extra by name, or NULL. */
const result_extra *result_find(const run_result *r, const char *name);

/* Appends a probe, taking ownership of data (rows, cols) and row_task (rows), both malloc'd.
 * With rows or cols < 1 nothing is added and both are freed. */
void result_add_probe(run_result *r, int stage, float *data, int rows, int cols, int *row_task);
/* Frees and removes every probe. */
void result_drop_probes(run_result *r);

/* Serialises r into a new buffer (*buf, *len; caller frees). */
void result_pack(const run_result *r, char **buf, size_t *len);
/* Parses a buffer from result_pack into r (initialised by this call). 0, or -1 on a
 * malformed buffer (r left empty). */
int result_unpack(run_result *r, const char *buf, size_t len);

#endif
