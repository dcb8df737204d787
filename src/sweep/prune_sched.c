/* prune_sched.c — successive halving in the scheduler (see prune_sched.h): the master keeps
 * the book (prune.c) and answers stage reports; the workers pass their runs' reports on.
 * Sweep layer: called by sched_master.c and sched_worker.c only. */
#include "prune_sched.h"

#include <stdio.h>
#include <stdlib.h>

#include "cls_mpi.h"
#include "prune.h"
#include "sched_proto.h"
#include "stop.h"
#include "util.h"

/* The master's book and what it works on, file-scope: one master per process. */
static prune_state *book;
static const sweep_t *bsw;
static run_result **bresults;
static journal_t *bjournal;
static int bquiet;
static uint64_t *book_ids;   /* the runs' ids (ties), kept with the book */
static int settle_failed;

int prune_master_init(const sweep_t *sw, run_result **results, journal_t *j,
                      const sched_options *o, int quiet) {
    prune_master_free();
    settle_failed = 0;
    if (!sw->prune.enabled) return 0;
    bsw = sw;
    bresults = results;
    bjournal = j;
    bquiet = quiet;
    int n = sw->nruns;
    /* the run store keeps configurations packed: rebuild them for the grouping keys */
    run_config *cfgs = xmalloc(sizeof(*cfgs) * (size_t)(n ? n : 1));
    const run_config **cfg = xmalloc(sizeof(*cfg) * (size_t)(n ? n : 1));
    uint64_t *ids = xmalloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    unsigned char *member = xmalloc((size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        sweep_cfg(sw, i, &cfgs[i]);
        cfg[i] = &cfgs[i];
        ids[i] = sw->runs[i].hash;
        member[i] = !(o->shard_count > 0 && i % o->shard_count != o->shard_index);
    }
    book = prune_new(&sw->prune, cfg, ids, member, n);
    for (int i = 0; i < n; i++) cfg_free(&cfgs[i]);
    free(cfgs);
    free(cfg);
    free(member);
    free(book_ids);
    book_ids = ids;
    for (int i = 0; i < n; i++)
        if (results[i]) prune_on_result(book, i, results[i]);
    return prune_master_settle();
}

void prune_master_free(void) {
    prune_free(book);
    book = NULL;
    free(book_ids);
    book_ids = NULL;
}

void prune_master_result(int idx, run_result *r) {
    if (book) prune_on_result(book, idx, r);
}

static int journal_changed(int idx, void *ctx) {
    (void)ctx;
    return journal_append(bjournal, bsw->runs[idx].id, bresults[idx], 0);
}

int prune_master_settle(void) {
    if (!book) return 0;
    return prune_settle(book, bresults, journal_changed, NULL) < 0 ? -1 : 0;
}

/* The answer to run idx's report. A failure to journal is reported by the next record. */
static int decide(int idx, const run_stage_report *rep) {
    if (!book) return 1;
    int keep = prune_on_report(book, idx, rep);
    if (bsw->prune.synchronous) {
        if (prune_master_settle() && !settle_failed) {
            settle_failed = 1;
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        }
        keep = !prune_is_pruned(book, idx);
    }
    return keep;
}

int prune_solo_hook(void *ctx, const run_stage_report *rep) {
    return decide(*(const int *)ctx, rep);
}

int prune_master_poll(void) {
    if (!book) return 0;
    int flag = 0;
    MPI_Status st;
    CLS_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_STAGE, MPI_COMM_WORLD, &flag, &st));
    if (!flag) return 0;
    int count = 0;
    CLS_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &count));
    unsigned char buf[PROTO_STAGE_SIZE];
    if (count != PROTO_STAGE_SIZE) {
        /* Not a report this program sends: take it off the queue and stop that run. */
        char *junk = xmalloc((size_t)count + 1);
        CLS_MPI_CHECK(MPI_Recv(junk, count, MPI_BYTE, st.MPI_SOURCE, TAG_STAGE, MPI_COMM_WORLD,
                               MPI_STATUS_IGNORE));
        free(junk);
        fprintf(stderr, "clsweep: malformed stage report from rank %d\n", st.MPI_SOURCE);
        unsigned char a[PROTO_DECIDE_SIZE];
        proto_decision_pack(a, -1, 0);
        CLS_MPI_CHECK(MPI_Send(a, PROTO_DECIDE_SIZE, MPI_BYTE, st.MPI_SOURCE, TAG_DECIDE,
                               MPI_COMM_WORLD));
        return 1;
    }
    CLS_MPI_CHECK(MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, TAG_STAGE, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
    int32_t idx;
    run_stage_report rep;
    proto_stage_unpack(buf, &idx, &rep);
    int keep = idx >= 0 && idx < bsw->nruns ? decide(idx, &rep) : 0;
    unsigned char a[PROTO_DECIDE_SIZE];
    proto_decision_pack(a, idx, keep);
    CLS_MPI_CHECK(MPI_Send(a, PROTO_DECIDE_SIZE, MPI_BYTE, st.MPI_SOURCE, TAG_DECIDE,
                           MPI_COMM_WORLD));
    return 1;
}

int prune_worker_hook(void *ctx, const run_stage_report *rep) {
    int32_t idx = *(const int32_t *)ctx;
    unsigned char buf[PROTO_STAGE_SIZE];
    proto_stage_pack(buf, idx, rep);
    CLS_MPI_CHECK(MPI_Send(buf, PROTO_STAGE_SIZE, MPI_BYTE, 0, TAG_STAGE, MPI_COMM_WORLD));
    double backoff = 1e-5;
    for (;;) {
        int flag = 0;
        CLS_MPI_CHECK(MPI_Iprobe(0, TAG_DECIDE, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE));
        if (flag) break;
        if (stop_launcher_gone()) return 0;
        cls_sleep_backoff(&backoff, 0.01);
    }
    unsigned char a[PROTO_DECIDE_SIZE];
    CLS_MPI_CHECK(MPI_Recv(a, PROTO_DECIDE_SIZE, MPI_BYTE, 0, TAG_DECIDE, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
    int32_t got;
    int keep;
    proto_decision_unpack(a, &got, &keep);
    return got == idx && keep;
}

void prune_master_summary(void) {
    if (!book || bquiet) return;
    int nd, np;
    prune_counts(book, &nd, &np);
    fprintf(stderr, "clsweep: prune (%s, %s, eta %g): %d rung decision(s), %d run(s) pruned\n",
            prune_metric_name(bsw->prune.metric),
            bsw->prune.synchronous ? "synchronous" : "asynchronous", bsw->prune.eta, nd, np);
}
