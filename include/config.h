/* config.h — run configurations and parameter specs.
 *
 * A run configuration is a sorted list of (dotted key, canonical text value) pairs, e.g.
 * "model" = "ewc", "seed" = "3", "benchmark.name" = "split_mnist", "ewc.lambda" = "100".
 * Values are kept as canonical text so that the run identity (a hash of the text) is stable
 * and the config can be printed and stored as is. Canonical forms:
 *   int "%d"; float "%.9g"; bool "true"/"false"; string as is; intlist "[10,10]".
 *
 * Core layer. The registry — which keys exist, their type, default, valid choices/range, and
 * which keys each model and benchmark reads — is built from the model and benchmark tables
 * by the models layer (registry.h). */
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

/* own: CFG_OWN_KEY / CFG_OWN_VAL when that string is the list's (freed with it); a string
 * not owned is borrowed (cfg_set_static, cfg_copy_static) and must outlive the list. */
typedef struct { char *key; char *val; unsigned char own; } cfg_entry;
#define CFG_OWN_KEY 1
#define CFG_OWN_VAL 2

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
/* The same without copying: key and val must outlive c (static tables, the expander's own
 * strings; issue 23: expanding 10^6 runs without ~200 malloc/free a run). */
void cfg_set_static(run_config *c, const char *key, const char *val);
/* A copy of src whose strings are src's (borrowed): src must outlive dst and not change. */
void cfg_copy_static(run_config *dst, const run_config *src);
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

#endif
