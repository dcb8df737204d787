/* resstore.h — compact storage of a sweep's finished results (issue 23: master RSS at a
 * million runs).
 *
 * The master used to hold one malloc'd run_result per finished run (~0.4 KB of struct plus
 * R, R0 and each extra's ~0.3 KB descriptor: ~1.4 KB a run). Here everything that repeats
 * from run to run — the metric, higher_is_better, the R shape, the extras' names, long
 * names, dimensions and shapes — is one interned *template*; every distinct message is
 * stored once; and a run is its template number, status, message number and its numbers
 * (R, R0, acc/bwt/fwt/forgetting/wall_seconds, the extras' values), packed in arena blocks.
 * A result with probes (never reaches the master in practice) is stored as result_pack
 * bytes. resstore_get rebuilds an equal run_result (bit for bit).
 *
 * Sweep layer: used by the scheduler's master (sched_master.c, sched_resume.c) and the
 * NetCDF writer (ncfile.c). */
#ifndef CLS_RESSTORE_H
#define CLS_RESSTORE_H

#include <stddef.h>

#include "result.h"

typedef struct resstore resstore;

resstore *resstore_new(int nruns);
void resstore_free(resstore *rs);
/* Stores (a copy of) r as run idx's result, replacing an earlier one. */
void resstore_put(resstore *rs, int idx, const run_result *r);
/* Forgets run idx's result (it reads as absent). */
void resstore_drop(resstore *rs, int idx);
/* 1 when run idx has a result. */
int resstore_has(const resstore *rs, int idx);
/* Run idx's status (-1 when absent). */
int resstore_status(const resstore *rs, int idx);
/* Run idx's template number: runs with the same one have the same shape, metric and
 * extras (names, dimensions, shapes); -1 when absent. */
long resstore_template(const resstore *rs, int idx);
/* The lengths of run idx's message and metric texts (strlen of what resstore_get gives),
 * without rebuilding the result. 0, or -1 when absent. */
int resstore_text_lens(const resstore *rs, int idx, size_t *message, size_t *metric);
/* Rebuilds run idx's result into *r (caller result_frees it). 0, or -1 when absent. */
int resstore_get(const resstore *rs, int idx, run_result *r);
/* Bytes held, for the performance notes. */
size_t resstore_bytes(const resstore *rs);

#endif
