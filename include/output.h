/* output.h — results on disk: the append-only journal and the NetCDF-4 sweep file.
 *
 * Durability design: every finished run is appended to "<output>.journal" as a framed
 * record (magic, length, CRC32, packed result) and fsync'd (once per chunk of runs) before
 * more work is handed to the worker that computed it; a torn last record (kill -9 mid-write) is detected by its CRC and ignored. The
 * NetCDF file is regenerated from all finished runs into "<output>.tmp" and renamed over
 * <output> (atomic on POSIX), so the .nc is always a complete, readable file. */
#ifndef CLS_OUTPUT_H
#define CLS_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include "result.h"
#include "sweep.h"

/* ---- journal ---- */
typedef struct {
    FILE *f;
    char *path;
} journal_t;

/* Opens (creating) the journal for appending. 0 or -1 with cls_seterr. */
int journal_open(journal_t *j, const char *path);
/* Appends one record (run id + packed result) and fflushes it (it then survives a kill of
 * the process); if sync, also fsyncs it (it then survives a crash of the machine). 0 or -1. */
int journal_append(journal_t *j, const char *run_id, const run_result *r, int sync);
/* fflush + fsync. 0 or -1. */
int journal_sync(journal_t *j);
void journal_close(journal_t *j);
/* Reads every intact record of the journal at path and calls fn(run_id, result, ctx) for
 * each (fn takes ownership of the result and must result_free it). A missing file reads
 * as empty. A torn or corrupt tail is skipped (counted in *nbad if non-NULL). 0, or -1
 * when the file exists but is not a clsweep journal. */
int journal_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                 void *ctx, int *nbad);

/* ---- NetCDF sweep file ---- */
/* Writes the sweep file for the finished runs: results[i] is the result of s->runs[i] or
 * NULL if run i has not finished (it is left out). Written to path.tmp, synced, renamed.
 * 0, or -1 with cls_seterr (nothing at path is damaged on failure). */
int output_write(const char *path, const sweep_t *s, run_result *const *results);

/* Reads the run ids and results of an existing sweep file (for resume when the journal is
 * gone, and for `clsweep status`/`merge`). Calls fn as journal_read does. 0, or -1 with
 * cls_seterr when path is not a readable clsweep file. */
int output_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                void *ctx);

/* Prints a summary of a sweep file (runs per model and status, best configs by acc). */
int output_status(const char *path, FILE *out);

/* ---- merging job-array shards ---- */
typedef struct {
    int nruns;         /* runs of the sweep */
    int nmerged;       /* runs written to the merged file */
    int nmissing;      /* runs of the sweep found in no part (nruns - nmerged) */
    int nduplicates;   /* results seen in more than one part (identical, or failed + retried) */
    int nstray;        /* results whose run id is not in the sweep (left out) */
} merge_stats;

/* Merges the sweep files parts[0..nparts-1] (written by `clsweep run --shard I/N`, or any
 * partial files of one sweep) into the sweep file out, written as output_write does, so it
 * equals the file of the unsharded sweep. The sweep is loaded from sweep_path, or when that
 * is NULL re-parsed from the parts' global attribute sweep_yaml (every part must hold the
 * same text). A run found in several parts must have the same results there (wall_seconds
 * aside; a failed result is superseded by a non-failed one, as a resume retries it), else
 * it is an error. Runs found in no part are left out (counted in stats->nmissing).
 * Returns 0 and fills *stats (if non-NULL), or -1 with cls_seterr; out is untouched on
 * failure. */
int output_merge(const char *sweep_path, const char *out, char *const *parts, int nparts,
                 merge_stats *stats);

#endif
