/* config.h — run configurations and the parameter registry.
 *
 * A run configuration is a sorted list of (dotted key, canonical text value) pairs, e.g.
 * "model" = "ewc", "seed" = "3", "benchmark.name" = "split_mnist", "ewc.lambda" = "100".
 * Values are kept as canonical text so that the run identity (a hash of the text) is stable
 * and the config can be printed and stored as is. Canonical forms:
 *   int "%d"; float "%.9g"; bool "true"/"false"; string as is; intlist "[10,10]".
 *
 * The registry says which keys exist, their type, default, valid choices/range, and which
 * keys each model and benchmark reads (see model.h, bench.h). */
#ifndef CLS_CONFIG_H
#define CLS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { PARAM_INT = 0, PARAM_FLOAT, PARAM_STR, PARAM_BOOL, PARAM_INTLIST } param_type;

typedef struct {
    const char *key;      /* dotted: "ewc.lambda", "train.lr", "benchmark.blocks" */
    param_type type;
    const char *def;      /* default, canonical text */
    const char *choices;  /* PARAM_STR: "a|b|c" valid values, or NULL = any text */
    double lo, hi;        /* numbers (and each intlist element): valid range [lo, hi] */
    const char *help;     /* one line */
} param_spec;

typedef struct { char *key; char *val; } cfg_entry;

typedef struct {
    int n, cap;
    cfg_entry *e;         /* sorted by key (strcmp) */
} run_config;

void cfg_init(run_config *c);
void cfg_free(run_config *c);
/* Deep copy: dst must be uninitialised or freed. */
void cfg_copy(run_config *dst, const run_config *src);
/* Sets key to val (both copied), replacing an existing value. */
void cfg_set(run_config *c, const char *key, const char *val);
/* Removes key if present. */
void cfg_unset(run_config *c, const char *key);
/* The value text, or NULL when absent. */
const char *cfg_get(const run_config *c, const char *key);

/* Typed getters. The key must be present (the expander fills every key a model reads with
 * its default); a missing key or unparsable value is a programming error: they print the
 * key and abort. */
long cfg_int(const run_config *c, const char *key);
double cfg_float(const run_config *c, const char *key);
const char *cfg_str(const run_config *c, const char *key);
int cfg_bool(const run_config *c, const char *key);
/* Parses an intlist into out[max]; returns the number of elements. */
int cfg_intlist(const run_config *c, const char *key, int *out, int max);

/* "k1=v1 k2=v2 ..." in key order; caller frees. */
char *cfg_to_string(const run_config *c);
/* Serialises c as "key\0value\0..." into a new buffer (*buf, *len; caller frees). */
void cfg_pack(const run_config *c, char **buf, size_t *len);
/* Parses a cfg_pack buffer into c (initialised here). 0, or -1 if malformed. */
int cfg_unpack(run_config *c, const char *buf, size_t len);
/* 64-bit identity hash of the canonical text of every entry. */
uint64_t cfg_hash(const run_config *c);

/* Validates text against spec and writes its canonical form into out (size outlen).
 * Returns 0, or -1 with cls_seterr("expected ...") describing what was expected. */
int param_canonicalise(const param_spec *spec, const char *text, char *out, int outlen);

/* ---- the registry (built from the model and benchmark tables) ---- */
/* Finds the spec of key for a given model (NULL = any model). Looks in the model's params,
 * then in every benchmark's params. Returns NULL if no such key. */
const param_spec *param_find(const char *key, const char *model);
/* A model-scoped training key "MODEL.train.X" (MODEL a known model): copies MODEL into
 * model[n], points *rest at "train.X" and returns 1; else 0. Such a key overrides train.X
 * for that model only (cfg_fill_defaults applies and removes it). */
int param_scoped_split(const char *key, char *model, size_t n, const char **rest);
/* Whether model reads key (its own params or the params of benchmark bench_name). */
int param_model_reads(const char *model, const char *bench_name, const char *key);
/* Every known key, for "valid choices" messages: a newly allocated ", "-joined list of the
 * keys starting with prefix (e.g. "ewc." or "" for all). Caller frees. */
char *param_list_keys(const char *prefix);
/* Fills c with every key model reads on benchmark bench_name at its default, plus
 * "model", "benchmark.name". Values already in c are kept, except that model-scoped keys
 * (param_scoped_split) of model replace its train.* values and those of other models are
 * removed. Finally the train.* values are resolved (auto/0/-1 → the values the run uses:
 * train_resolve_config), so that the configuration, its identity and everything printed
 * or stored from it hold what is actually used. Returns 0 or -1 (unknown model/benchmark,
 * with cls_seterr). */
int cfg_fill_defaults(run_config *c, const char *model, const char *bench_name);
/* Removes every key that model does not read on bench_name (keeps "model", "seed"). */
void cfg_project(run_config *c, const char *model, const char *bench_name);

#endif
