/* registry.h — the parameter registry, built from the model and benchmark tables (models
 * layer, src/models/registry.c): which configuration keys exist, which a model reads on a
 * benchmark, and the defaults. Called by the sweep expander, the CLI and the tests. */
#ifndef CLS_REGISTRY_H
#define CLS_REGISTRY_H

#include "config.h"

/* Finds the spec of key for a given model (NULL = any model). Looks in the model's params,
 * then in every benchmark's params. Returns NULL if no such key. */
const param_spec *param_find(const char *key, const char *model);
/* A model-scoped training or anytime-curve key "MODEL.train.X" / "MODEL.eval.X" (MODEL a
 * known model): copies MODEL into model[n], points *rest at "train.X" / "eval.X" and
 * returns 1; else 0. Such a key overrides train.X / eval.X for that model only
 * (cfg_fill_defaults applies and removes it). */
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
