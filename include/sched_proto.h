/* sched_proto.h — the scheduler's wire protocol (sweep layer): packing and parsing of the
 * messages between master and workers. Tags are cls_mpi.h's. Called by the master
 * (sched_master.c) and the workers (sched_worker.c) only.
 *
 *   TAG_WORK   master → worker: a chunk of runs: int32 count, the run_limits (float64
 *              grace, float64 time_limit, float64 memory_mb, int32 isolate, int32
 *              report_stages), then per run
 *              int32 index, uint32 length, cfg_pack bytes
 *   TAG_RESULT worker → master: the results of some runs of one chunk, in chunk order
 *              (issue 23: one message per chunk of fast runs, not one per run): uint32
 *              count, then per run uint32 length and a record of that many bytes: int32
 *              index, uint32 flags, result_pack bytes. A worker sends what it has at the end
 *              of a chunk, when its oldest unsent result is PROTO_BATCH_SECONDS old, before
 *              a stage report, and when stopping. A result of status RUN_STATUS_ABANDONED
 *              is not a final result: the master queues the run again.
 *   TAG_STOP   master → worker: empty; the worker returns
 *   TAG_CANCEL master → worker: empty; the master is stopping: runs not yet started (the
 *              rest of a chunk, a prefetched chunk) go back as abandoned
 *   TAG_STAGE  worker → master (successive halving, report_stages): a run's stage report,
 *              PROTO_STAGE_SIZE bytes: int32 index, int32 stage, int32 nstages, int32
 *              higher_is_better, float64 acc_seen, float64 acc_all; the worker then waits
 *   TAG_DECIDE master → worker: the answer, PROTO_DECIDE_SIZE bytes: int32 index, uint32
 *              keep (1 continue, 0 stop the run at this stage)
 * Every integer and float is little-endian whatever the host (explicit byte order, not a
 * memcpy of a struct), so ranks on different hosts agree. Variable-size payloads are
 * received after MPI_Iprobe + MPI_Get_count. */
#ifndef CLS_SCHED_PROTO_H
#define CLS_SCHED_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "isolate.h"
#include "result.h"

/* TAG_RESULT flags */
#define PROTO_WORKER_STOPPING 1u   /* the worker is stopping: give it no more work */

/* Bytes of an encoded run_limits. */
#define PROTO_LIMITS_SIZE 32
void proto_put_limits(unsigned char *p, const run_limits *l);
void proto_get_limits(const unsigned char *p, run_limits *l);

/* TAG_STAGE and TAG_DECIDE payloads. */
#define PROTO_STAGE_SIZE 32
#define PROTO_DECIDE_SIZE 8
void proto_stage_pack(unsigned char *p, int32_t idx, const run_stage_report *r);
void proto_stage_unpack(const unsigned char *p, int32_t *idx, run_stage_report *r);
void proto_decision_pack(unsigned char *p, int32_t idx, int keep);
void proto_decision_unpack(const unsigned char *p, int32_t *idx, int *keep);

/* A TAG_WORK message for runs idx[0..k) with configurations cfg[0..k) (malloc'd; *len). */
char *proto_work_pack(const run_limits *lim, int k, const int *idx, const run_config *const *cfg,
                      size_t *len);

/* Reading a TAG_WORK message run by run. */
typedef struct {
    const unsigned char *buf;
    size_t len, off;
    int32_t count, next;
    run_limits lim;
} proto_work_reader;
/* 0, or -1 when the header is malformed. */
int proto_work_open(proto_work_reader *r, const char *buf, size_t len);
/* The next run: 1 (idx, cfg initialised here: cfg_free it), 0 at the end, -1 malformed. */
int proto_work_next(proto_work_reader *r, int32_t *idx, run_config *cfg);

/* A TAG_RESULT message (malloc'd; *len). */
char *proto_result_pack(int32_t idx, uint32_t flags, const run_result *r, size_t *len);
/* Parses one record of a TAG_RESULT message: 0 (r initialised here), or -1 when malformed
 * (r empty). */
int proto_result_unpack(const char *buf, size_t len, int32_t *idx, uint32_t *flags, run_result *r);

/* A worker holds results at most this long (s) before sending them. */
#define PROTO_BATCH_SECONDS 0.05

/* A TAG_RESULT message being built (zero-initialise; p/len is the message once count > 0). */
typedef struct {
    unsigned char *p;
    size_t len, cap;
    int count;
} proto_result_batch;
/* Appends run idx's record. */
void proto_batch_add(proto_result_batch *b, int32_t idx, uint32_t flags, const run_result *r);
/* Empties b (keeps its buffer); proto_batch_free releases it. */
void proto_batch_clear(proto_result_batch *b);
void proto_batch_free(proto_result_batch *b);

/* Reading a TAG_RESULT message record by record. */
typedef struct {
    const unsigned char *buf;
    size_t len, off;
    uint32_t count, next;
} proto_result_reader;
/* 0, or -1 when the header is malformed. */
int proto_results_open(proto_result_reader *rd, const char *buf, size_t len);
/* The next record: 1 (r initialised here), 0 at the end, -1 malformed (r empty). */
int proto_results_next(proto_result_reader *rd, int32_t *idx, uint32_t *flags, run_result *r);

#endif
