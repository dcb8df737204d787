/* ncschema.h — the NetCDF sweep file's schema, shared by the modules that read or write it:
 * src/sweep/ncfile.c (define, write, read), status.c and merge.c. Nothing else includes it;
 * everyone else goes through output.h.
 *
 * The fixed per-run variables are ONE table (ncs_fixed[]): name, type, dimensions,
 * attributes, and where the value lives (the sweep's run, or a field of run_result). Define,
 * write, read, the schema check and merge's comparison all walk that table; extras describe
 * themselves (result_extra) and axes come from the sweep. Adding a fixed variable is one row
 * here plus its field in run_result (and in result_pack/unpack). */
#ifndef CLS_NCSCHEMA_H
#define CLS_NCSCHEMA_H

#include <stddef.h>
#include <netcdf.h>

#include "result.h"
#include "sweep.h"

#define OUTPUT_TITLE "clsweep sweep results"

/* Where a fixed variable's value comes from. */
typedef enum {
    NCS_RUN_ID,     /* the run's id (string) */
    NCS_CFG_TEXT,   /* cfg_get(run, key), "" when absent (string) */
    NCS_CFG_SEED,   /* cfg_get(run, key) as an integer, -1 when absent or not one (int64) */
    NCS_CFG_ALL,    /* cfg_to_string of the run's config (string) */
    NCS_RES_STATUS, /* run_status_name(r->status) (string) */
    NCS_RES_TEXT,   /* char[] field of run_result at off (string) */
    NCS_RES_BOOL,   /* int field at off, stored 0/1 (byte) */
    NCS_RES_INT,    /* int field at off (int) */
    NCS_RES_DOUBLE, /* double field at off (double) */
    NCS_RES_R,      /* r->R over (stage, task), cut to nstages x ntasks (float) */
    NCS_RES_R0      /* r->R0 over (task), cut to ntasks (float) */
} ncs_source;

/* Variable flags. */
#define NCS_COORDS 1   /* carries the "coordinates" attribute (the data variables) */
#define NCS_FLAGS 2    /* carries flag_values / flag_meanings (the status names) */
#define NCS_TIMING 4   /* depends on timing only: merge does not compare it */

typedef struct {
    const char *name;
    nc_type type;          /* NC_STRING, NC_INT64, NC_INT, NC_BYTE, NC_FLOAT or NC_DOUBLE */
    int ndims;             /* 1: (run), 2: (run, task), 3: (run, stage, task) */
    int nan_fill;          /* _FillValue NaN (float/double only) */
    const char *long_name; /* attributes (NULL: absent), written in this order after */
    const char *units;     /*   _FillValue and long_name: flag_values, flag_meanings, */
    const char *comment;   /*   units, comment, direction, coordinates */
    const char *direction;
    int flags;             /* NCS_* */
    ncs_source src;
    const char *key;       /* NCS_CFG_*: the config key */
    size_t off;            /* NCS_RES_TEXT/BOOL/INT/DOUBLE: offsetof(run_result, field) */
    size_t size;           /* NCS_RES_TEXT: sizeof the field */
} ncs_var;

extern const ncs_var ncs_fixed[];
extern const int ncs_nfixed;

/* 1 when name is a fixed variable's name. */
int ncs_is_fixed(const char *name);
/* 1 when a and b hold the same value of the result-held fixed variable v (bitwise for
 * floating point, R/R0 over the runs' shapes); config-held variables compare equal. */
int ncs_fixed_equal(const ncs_var *v, const run_result *a, const run_result *b);

/* An opened, schema-checked sweep file. */
typedef struct {
    int nc;
    const char *path;
    size_t n, S, T;            /* lengths of run, stage, task */
    int drun, dstage, dtask;   /* their dimension ids */
    unsigned long long budget; /* bytes a reader may allocate for values (from the file size) */
    unsigned long long text_budget; /* characters a deflated text variable may claim */
} ncs_file;

/* Opens path read-only and checks the title. 0, or -1 with cls_seterr. */
int ncs_open(const char *path, int *nc);
/* Opens path, checks the title, the dimensions run/stage/task and every fixed variable's
 * type and dimensions, and that the fixed columns fit the allocation budget. 0, or -1
 * with cls_seterr naming the path and what was expected. */
int ncs_open_checked(ncs_file *f, const char *path);
void ncs_close(ncs_file *f);
/* A text attribute as a new string, or NULL when absent or not text. */
char *ncs_text_att(int nc, int var, const char *name);
/* Whether count values of elsize bytes fit the budget (overflow-safe); -1 with cls_seterr
 * naming what when not. */
int ncs_budget(const ncs_file *f, const char *what, size_t count, size_t count2, size_t elsize);
/* The same for a text variable of rows x width characters (deflated: zlib packs at most
 * ~1,032 bytes into one, so the bound is that ratio times the file's size). */
int ncs_text_budget(const ncs_file *f, const char *what, size_t rows, size_t width);
/* Rows per read of a text variable of this width (a few MiB at a time). */
size_t ncs_text_rows(size_t width);
/* Reads a checked fixed variable in full: strings into a new array of f->n strings (free
 * with ncs_free_strings), other types into out (f->n x cells, of the variable's type). */
int ncs_read_strings(const ncs_file *f, const char *name, char ***out);
void ncs_free_strings(char **s, size_t n);
int ncs_read_values(const ncs_file *f, const char *name, void *out);

#endif
