/* sched_worker.c — a worker rank (group leader) of the scheduler (see sched_worker.h and the
 * protocol in sched_proto.h). Sweep layer: called by scheduler.c only; executes runs through
 * the run layer (isolate.h) and analyses them through analysis_mpi.h. */
#include "sched_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cls_mpi.h"
#include "isolate.h"
#include "prune_sched.h"
#include "sched_proto.h"
#include "stop.h"
#include "util.h"

static int worker_cancelled;   /* the master sent TAG_CANCEL */

/* The job is gone around this rank: nobody will collect a result. */
static void exit_if_orphaned(void) {
    if (!stop_launcher_gone()) return;
    fprintf(stderr, "clsweep: worker: the launcher of this job is gone; exiting\n");
    fflush(stderr);
    _exit(CLS_EXIT_INCOMPLETE);
}

/* 1 when runs not yet started should be dropped: a stop signal here, or the master's. */
static int worker_stopping(void) {
    if (!worker_cancelled) {
        int flag = 0;
        CLS_MPI_CHECK(MPI_Iprobe(0, TAG_CANCEL, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE));
        if (flag) {
            CLS_MPI_CHECK(MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
            worker_cancelled = 1;
        }
    }
    return worker_cancelled || cls_stop_signal;
}

/* Results not yet sent (one TAG_RESULT message per batch, sched_proto.h) and when the
 * oldest of them was added. */
static proto_result_batch batch;
static double batch_t0;

static void flush_results(void) {
    if (!batch.count) return;
    CLS_MPI_CHECK(MPI_Send(batch.p, (int)batch.len, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD));
    proto_batch_clear(&batch);
}

/* Adds run idx's result to the batch; sends the batch when it is PROTO_BATCH_SECONDS old,
 * when stopping, or with now (the end of a chunk, stage reports to follow). */
static void send_result(int32_t idx, run_result *r, int now) {
    int stopping = worker_stopping();
    if (!batch.count) batch_t0 = cls_now();
    proto_batch_add(&batch, idx, stopping ? PROTO_WORKER_STOPPING : 0, r);
    result_free(r);
    if (now || stopping || cls_now() - batch_t0 >= PROTO_BATCH_SECONDS) flush_results();
}

static void send_malformed(void) {
    run_result r;
    result_init(&r);
    result_fail(&r, RUN_STATUS_FAILED, "malformed work message");
    send_result(-1, &r, 1);
}

/* Executes one chunk and sends a result for every run in it, batched (sched_proto.h): all
 * of them are sent by the end of the chunk. Runs not started when a stop signal (or the
 * master's cancel) arrived go back as abandoned (not recorded; the master queues them
 * again). A damaged message gets a result with index -1. */
static void worker_chunk(analysis_group *ag, const char *buf, size_t count) {
    proto_work_reader rd;
    if (proto_work_open(&rd, buf, count)) {
        send_malformed();
        return;
    }
    for (;;) {
        int32_t idx = -1;
        run_config cfg;
        int k = proto_work_next(&rd, &idx, &cfg);
        if (k == 0) {
            flush_results();
            return;
        }
        if (k < 0) {
            send_malformed();
            return;
        }
        run_result r;
        if (worker_stopping()) {
            result_init(&r);
            result_fail(&r, RUN_STATUS_ABANDONED, "stop requested before the run started");
        } else {
            run_isolated_staged(&cfg, &rd.lim, rd.lim.report_stages ? prune_worker_hook : NULL,
                                &idx, &r);
            exit_if_orphaned();
            if (r.status == RUN_STATUS_ABANDONED) result_drop_probes(&r);
            else analysis_apply(ag, &cfg, &r);
        }
        cfg_free(&cfg);
        /* With stage reports (prune:) the master sees each result before the next report. */
        send_result(idx, &r, rd.lim.report_stages);
    }
}

void worker_loop(analysis_group *ag) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        double backoff = 1e-5;
        for (;;) {
            CLS_MPI_CHECK(MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st));
            if (flag) break;
            exit_if_orphaned();
            cls_sleep_backoff(&backoff, 0.01);
        }
        int count = 0;
        CLS_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &count));
        char *buf = xmalloc((size_t)count + 1);
        CLS_MPI_CHECK(MPI_Recv(buf, count, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        if (st.MPI_TAG == TAG_CANCEL) {
            worker_cancelled = 1;
            free(buf);
            continue;
        }
        if (st.MPI_TAG != TAG_WORK) {
            free(buf);
            proto_batch_free(&batch);
            return;
        }
        worker_chunk(ag, buf, (size_t)count);
        free(buf);
    }
}
