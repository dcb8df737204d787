/* sweep.h — sweep files (YAML, docs/spec.md §6) and their expansion into model runs.
 *
 * Top-level keys: name, benchmark (map of benchmark.* settings, "name" required), models
 * (list; default: every model supporting the benchmark kind), seeds (count N → 0..N−1, or a
 * list), defaults (map of dotted keys), train (map of train.* settings), grid (map: key →
 * list | {linspace: [a, b, n]} | {logspace: [a, b, n]} (10^a..10^b) | {range: [a, b, step]}
 * (b exclusive) | {choice: [values]}, and under search: {method: random, samples: N, seed: S}
 * the distributions of search.h), zip (list of maps whose lists move together), exclude (list of partial
 * assignments), output (path), ranks_per_run (int ≥ 1), options (map: grace_seconds,
 * flush_seconds, quiet, isolate, run_time_limit, run_memory_mb), prune (prune.h).
 *
 * Expansion: seeds × models × grid × zip, minus excludes; each point is completed
 * (cfg_fill_defaults: defaults, model-scoped "MODEL.train.X" overrides, resolved train.*
 * values), projected onto the keys the model reads (cfg_project), and identical projected
 * configs are kept once: two spellings of the same effective setting are one run.
 * Random search: samples points per model (drawn over the keys it reads, excluded draws
 * redrawn), × seeds, then completed and deduplicated the same way.
 * "train.epochs" is an alias of benchmark.block_size on data-set benchmarks. */
#ifndef CLS_SWEEP_H
#define CLS_SWEEP_H

#include <stdint.h>
#include "config.h"
#include "prune.h"

typedef struct {
    run_config cfg;     /* effective config: model, seed, benchmark.*, model keys */
    uint64_t hash;      /* cfg_hash(&cfg) */
    char id[17];        /* hash as 16 hex digits */
    double cost;        /* model cost estimate, for longest-first */
} sweep_run;

typedef struct {
    char *path;          /* the sweep file */
    char *yaml;          /* its full text (stored in the output) */
    char *name;
    char *output;        /* output .nc path (default "results/<name>.nc") */
    int ranks_per_run;
    double grace_seconds;   /* SIGTERM grace for in-flight runs (default 60) */
    double flush_seconds;   /* minimum interval between .nc rewrites (default 0 = each run) */
    int quiet;
    int isolate;            /* run each model run in a forked child (default 1) */
    double run_time_limit;  /* seconds per run, 0 = none (needs isolate) */
    double run_memory_mb;   /* address-space limit per run in MiB, 0 = none (needs isolate) */
    int naxes;
    char **axes;         /* recorded keys, one NetCDF variable each: the swept keys (grid, zip)
                          * in file order, then the resolved train.* keys and
                          * benchmark.block_size that any run holds (the training budget) */
    int nswept;          /* the first nswept of axes are the swept keys */
    int nwarnings;
    char **warnings;     /* "path:line:col: ..." notes on a valid but suspicious sweep (an
                          * axis no model reads); printed by `expand` and `run` */
    int n_before_dedup;  /* points before deduplication */
    prune_spec prune;    /* prune: successive halving at stage boundaries (prune.h) */
    int nruns;
    sweep_run *runs;     /* unique runs, in expansion order */
} sweep_t;

/* Parses and expands the sweep file at path. Returns 0, or -1 with cls_seterr set to
 * "path:line:col: message" (1-based line/column) naming what was expected and, for unknown
 * keys/models/values, the valid choices. s is empty (safe to sweep_free) on failure. */
int sweep_load(sweep_t *s, const char *path);
/* Same, from text in memory; path is only used in messages. */
int sweep_load_text(sweep_t *s, const char *path, const char *text);
void sweep_free(sweep_t *s);
/* With on = 1, sweeps loaded afterwards have quiet = 0 whatever their options say (the
 * CLI's --progress). Process-wide; default off. */
void sweep_force_progress(int on);

#endif
