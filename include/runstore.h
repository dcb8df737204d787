/* runstore.h — compact storage of a sweep's run configurations (issue 23: a million runs).
 *
 * A run configuration is a sorted list of (key, value) texts. Stored one by one, 10⁶ runs
 * of ~20 keys took ~1.6 GB (two malloc'd strings per entry). Here every distinct text is
 * kept once (interned, in arena blocks), every distinct sorted key list once (a "key set"),
 * and a run is its key set's number plus one 32-bit value number per key: ~4 bytes per key
 * and run. The configuration text of a run is rebuilt on demand (sweep_cfg, sweep_get in
 * sweep.h, which are built on this module).
 *
 * Sweep layer: used by sweep.c (expansion) and runstore.c's sweep_* accessors only; other
 * code goes through the accessors of sweep.h. */
#ifndef CLS_RUNSTORE_H
#define CLS_RUNSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct runstore runstore;

runstore *runstore_new(void);
void runstore_free(runstore *st);
/* Stores cfg (keys sorted, as run_config keeps them); returns its key set and the offset of
 * its value numbers. The texts are copied; cfg is not changed. */
void runstore_put(runstore *st, const run_config *cfg, uint32_t *keyset, uint64_t *off);
/* The number of keys of key set ks, and key j of it. */
int runstore_nkeys(const runstore *st, uint32_t ks);
const char *runstore_key(const runstore *st, uint32_t ks, int j);
/* Value j of the run stored at (ks, off). */
const char *runstore_val(const runstore *st, uint32_t ks, uint64_t off, int j);
/* The value of key for the run at (ks, off), or NULL when the run does not hold key. The
 * text lives as long as the store. */
const char *runstore_get(const runstore *st, uint32_t ks, uint64_t off, const char *key);
/* Bytes held (texts, key sets, value numbers, hash tables): for the performance notes. */
size_t runstore_bytes(const runstore *st);

#endif
