/* output.h — results on disk: the append-only journal (src/sweep/journal.c), the NetCDF-4
 * sweep file (src/sweep/ncfile.c, its schema in src/sweep/ncschema.h), `clsweep status`
 * (src/sweep/status.c) and `clsweep merge` (src/sweep/merge.c). Called by the scheduler and
 * the command line.
 *
 * Durability design: every finished run is appended to "<output>.journal" as a framed
 * record (magic, length, CRC32, packed result) and fsync'd (once per chunk of runs) before
 * more work is handed to the worker that computed it; a torn last record (kill -9 mid-write) is detected by its CRC and ignored. The
 * NetCDF file is regenerated from all finished runs into a temporary "<output>.tmp.XXXXXX"
 * (unpredictable name, created exclusively) and renamed over <output> (atomic on POSIX), so
 * the .nc is always a complete, readable file. No result file is written through a symbolic
 * link, and a file at the output path that is not a clsweep results file is never replaced. */
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
    int held_fd;   /* > 0: the journal replaced by journal_compact, kept locked until close */
} journal_t;

/* Opens (creating) the journal for appending. Refuses a symbolic link, and, when path is
 * "<out>.journal", an existing <out> that is not a clsweep results file. 0 or -1 with
 * cls_seterr. */
int journal_open(journal_t *j, const char *path);
/* Appends one record (run id + packed result) and fflushes it (it then survives a kill of
 * the process); if sync, also fsyncs it (it then survives a crash of the machine). 0 or -1. */
int journal_append(journal_t *j, const char *run_id, const run_result *r, int sync);
/* journal_append without the fflush: the record may stay in this process's buffer until
 * journal_flush or journal_sync (the master appends the results of one message, then
 * flushes once: one write(2) per message, not per run). 0 or -1. */
int journal_append_buffered(journal_t *j, const char *run_id, const run_result *r);
/* fflush (the records then survive a kill of the process). 0 or -1. */
int journal_flush(journal_t *j);
/* fflush + fsync. 0 or -1. */
int journal_sync(journal_t *j);
void journal_close(journal_t *j);
/* Reads every intact record of the journal at path and calls fn(run_id, result, ctx) for
 * each (fn takes ownership of the result and must result_free it). A missing file reads
 * as empty. A torn or corrupt tail is skipped (counted in *nbad if non-NULL). 0, or -1
 * when the file exists but is not a clsweep journal. */
int journal_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                 void *ctx, int *nbad);

/* What journal_read_damage skipped: damage in the middle (stretches followed by valid
 * records: the file was altered) is not the torn tail a kill leaves. */
typedef struct {
    int nrecords;        /* valid records read */
    int nmiddle;         /* damaged stretches with valid records after them */
    size_t bytes_middle; /* their bytes */
    int torn_tail;       /* 1 when the file ends in a torn record (or a torn header) */
    int nbase;           /* a compacted journal: runs of the sweep file it continues */
} journal_damage;
/* journal_read, reporting the damage in *dmg (if non-NULL). */
int journal_read_damage(const char *path,
                        void (*fn)(const char *run_id, run_result *r, void *ctx), void *ctx,
                        journal_damage *dmg);
/* Compaction (issue 23): once the sweep file next to the journal ("<out>.journal" → <out>)
 * has just been written with the runs recorded up to journal offset keep_from (nbase of
 * them; keep_from < 0: every run recorded so far), the journal is replaced — a new file with
 * the header "CLSJOURNAL2", nbase and a CRC, then the records from keep_from on (those
 * journaled while a background write ran), fsync'd, locked, renamed over it — and later
 * records go there. A resume then reads the sweep file first and the journal's records
 * after it (sched_resume.c). A kill at any moment leaves either the old journal or the new
 * one next to a sweep file that holds its base. Call it with the journal flushed. 0, or -1
 * with cls_seterr (the old journal is then still in use). */
int journal_compact(journal_t *j, uint32_t nbase, long long keep_from);
/* Removes the temporary files "<out>.tmp.XXXXXX" of the sweep file (a rewrite that was
 * stopped: ncbg_cancel); the journal's lock keeps other processes' away. */
void journal_remove_temps(const journal_t *j);
/* The base of the journal at path: the runs of the sweep file a compacted journal continues
 * (0 for an ordinary or missing journal). 0, or -1 with cls_seterr. */
int journal_read_base(const char *path, uint32_t *nbase);
/* The journal's size in bytes (-1 on error). */
long long journal_size(const journal_t *j);
/* One line for the user saying what was skipped ("" when nothing was). */
void journal_damage_describe(const journal_damage *d, char *buf, size_t size);

/* ---- NetCDF sweep file ---- */
/* Writes the sweep file for the finished runs: results[i] is the result of s->runs[i] or
 * NULL if run i has not finished (it is left out). Written to a temporary file, synced,
 * renamed over path; an existing path that is not a clsweep results file (or is a link) is
 * refused. 0, or -1 with cls_seterr (nothing at path is damaged on failure). */
int output_write(const char *path, const sweep_t *s, run_result *const *results);
/* The same file from a compact result store (resstore.h): the master's form at scale. Up
 * to 50,000 runs the file is built in memory as output_write does; above, it is written to
 * disk slice by slice by a child process (ncdisk.h). */
struct resstore;
int output_write_store(const char *path, const sweep_t *s, const struct resstore *rs);

/* Reads the run ids and results of an existing sweep file (for resume when the journal is
 * gone, and for `clsweep merge`). Calls fn as journal_read does. The schema (every fixed
 * variable's type and dimensions, the extras' dimensions, sizes against the file's size) is
 * checked before anything is allocated. Writing the results read back with output_write
 * gives the same file (variables, dimensions, values; wall_seconds included). 0, or -1 with
 * cls_seterr when path is not a readable clsweep file, naming what was expected. */
int output_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                void *ctx);

/* 1 when path is a readable NetCDF file with clsweep's title, else 0. */
int output_is_ours(const char *path);

/* Prints a summary of a sweep file: runs per model and status, then every configuration
 * (seeds pooled) of each model: ok ones ranked by mean acc with the sample sd (ddof 1), n
 * and a 95 % Student-t interval, then those with no ok run, with their status counts.
 * Linear time in the runs. 0, or -1 with cls_seterr (file not a valid clsweep file). */
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
