/* projcache.h — a memo of "does model M read key K on this benchmark" for the expansion of
 * large sweeps (issue 23): cfg_project asks the registry for every key of every run (a
 * linear search of the model and parameter tables); the answer depends only on (model,
 * benchmark, key), so it is asked once per distinct pair here.
 * Sweep layer: used by sweep.c only. */
#ifndef CLS_PROJCACHE_H
#define CLS_PROJCACHE_H

#include "config.h"

typedef struct projcache projcache;

/* A cache for one benchmark (bench_name is copied). */
projcache *projcache_new(const char *bench_name);
void projcache_free(projcache *pc);
/* Exactly cfg_project(c, model, bench_name): drops the keys model does not read, keeping
 * model, seed and benchmark.name. */
void projcache_project(projcache *pc, run_config *c, const char *model);

#endif
