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
#include "protocol.h"
#include "prune.h"

/* A run. Its effective configuration (model, seed, benchmark.*, model keys) is kept in the
 * sweep's compact store (runstore.h, issue 23: ~60 bytes + 4 per key and run): read it with
 * sweep_get / sweep_str, or rebuild it with sweep_cfg. */
typedef struct {
    uint64_t hash;      /* cfg_hash of its configuration */
    char id[17];        /* hash as 16 hex digits */
    double cost;        /* model cost estimate, for longest-first */
    uint32_t keyset;    /* where the store keeps its configuration */
    uint64_t off;
} sweep_run;

struct runstore;

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
    protocol_spec protocol; /* protocol: tune, select, evaluate (protocol.h); the phase-2
                          * placeholders follow the phase-1 runs in runs[] */
    int nruns;
    sweep_run *runs;     /* unique runs, in expansion order */
    int runs_cap;
    struct runstore *store;  /* their configurations */
} sweep_t;

/* Parses and expands the sweep file at path. Returns 0, or -1 with cls_seterr set to
 * "path:line:col: message" (1-based line/column) naming what was expected and, for unknown
 * keys/models/values, the valid choices. s is empty (safe to sweep_free) on failure. */
int sweep_load(sweep_t *s, const char *path);
/* Same, from text in memory; path is only used in messages. */
int sweep_load_text(sweep_t *s, const char *path, const char *text);
void sweep_free(sweep_t *s);

/* Run configurations (src/sweep/runstore.c). sweep_get: the value of key in run i's
 * configuration, or NULL when it does not hold key; the text lives as long as s. sweep_str:
 * the same for a key the run must hold (else an internal error: abort, as cfg_str).
 * sweep_cfg: run i's configuration rebuilt (out uninitialised; cfg_free it).
 * sweep_cfg_string: cfg_to_string of it ("k1=v1 k2=v2", caller frees). sweep_nkeys/key/val:
 * its entries in key order. */
const char *sweep_get(const sweep_t *s, int i, const char *key);
const char *sweep_str(const sweep_t *s, int i, const char *key);
void sweep_cfg(const sweep_t *s, int i, run_config *out);
/* The same, its strings borrowed from the store (no copy: the store must outlive out, which
 * is still cfg_free'd): for reading it within one call (packing, budgets). */
void sweep_cfg_view(const sweep_t *s, int i, run_config *out);
char *sweep_cfg_string(const sweep_t *s, int i);
/* strlen(sweep_cfg_string(s, i)), without building it. */
size_t sweep_cfg_strlen(const sweep_t *s, int i);
int sweep_nkeys(const sweep_t *s, int i);
const char *sweep_key(const sweep_t *s, int i, int j);
const char *sweep_val(const sweep_t *s, int i, int j);
/* Appends a run of configuration cfg (copied) with hash = cfg_hash(cfg) and cost; no
 * deduplication. For the expansion and for code that builds a sweep_t itself (tests). */
void sweep_add_run(sweep_t *s, const run_config *cfg, uint64_t hash, double cost);
/* With on = 1, sweeps loaded afterwards have quiet = 0 whatever their options say (the
 * CLI's --progress). Process-wide; default off. */
void sweep_force_progress(int on);

#endif
