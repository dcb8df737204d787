/* plugin_load.h — C plugins as models (models layer, src/models/plugin.c): loading a shared
 * object built against clsweep/plugin.h with dlopen, checking its ABI, and registering it in
 * the model registry. Called by the sweep parser (a sweep's `plugin:` models) and, through
 * model_find_run (registry.c), by the run executor on ranks that never parsed the sweep. */
#ifndef CLS_PLUGIN_LOAD_H
#define CLS_PLUGIN_LOAD_H

#include <stdint.h>

#include "config.h"
#include "model.h"

/* Loads the plugin `path` (as written in the sweep file: relative to dir, the absolute
 * directory of the sweep file, or absolute) and registers it as model `name` (NULL: the
 * name the plugin declares). Sets *model to the registered name (owned by the registry).
 * 0, or -1 with cls_seterr naming the .so and what was expected. */
int plugin_declare(const char *dir, const char *path, const char *name, const char **model);
/* The ops that run cfg, a run of a plugin model (cfg has "plugin.path"): the registered
 * plugin, loading it first on a process that never parsed the sweep. When the .so cannot be
 * loaded or its content hash is not the run's plugin.hash, ops whose init fails with the
 * reason. */
const model_ops *plugin_find_run(const run_config *cfg);
/* The identity of a run: cfg_hash of cfg without the keys that only say where things are
 * (program.dir, plugin.dir: the absolute directory of the sweep file), so that moving the
 * project directory leaves run ids alone. */
uint64_t model_identity_hash(const run_config *cfg);
/* 1 for a location-only key (left out of the identity). */
int model_key_is_location(const char *key);

#endif
