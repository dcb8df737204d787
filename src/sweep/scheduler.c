/* scheduler.c — running a sweep on MPI_COMM_WORLD (see scheduler.h): every rank's entry,
 * the rank groups, and the collective end. Sweep layer: called by the CLI only. The parts:
 *   sched_proto.c   the wire protocol (messages, explicit byte order)
 *   sched_master.c  rank 0: queue, dispatch, recording, the exit code
 *   sched_resume.c  matching earlier results to the runs (runindex.c)
 *   sched_worker.c  the other ranks: executing chunks of runs
 * Runs themselves execute in the run layer (src/run: run.c, isolate.c).
 *
 * Rank groups (ranks_per_run k): rank 0 announces k, the workers split into consecutive
 * groups of k (the last one smaller when k does not divide the number of workers) and
 * the master talks to group leaders only. A leader executes the run (in its forked child)
 * and then analyses the run's probe matrices with its group on a BLACS grid
 * (analysis_mpi.h); the other group members wait in analysis_member_loop.
 *
 * Every wait of a rank on its peers polls (MPI_Test/MPI_Iprobe with a sleep back-off) and
 * checks that the launcher is still there, so no rank outlives a killed job. */
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cls_mpi.h"
#include "sched_master.h"
#include "sched_worker.h"
#include "stop.h"
#include "util.h"

void sched_install_signals(void) { stop_install_signals(); }

/* Waits for req with a sleep back-off; leaves the process when the launcher is gone. */
static void wait_request(MPI_Request *req) {
    double backoff = 1e-5;
    for (;;) {
        int done = 0;
        CLS_MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) return;
        if (stop_launcher_gone()) {
            fprintf(stderr, "clsweep: the launcher of this job is gone; exiting\n");
            fflush(stderr);
            _exit(SCHED_EXIT_INCOMPLETE);
        }
        cls_sleep_backoff(&backoff, 0.01);
    }
}

/* Rank 0 announces ranks_per_run (*rpr), then every rank joins its group: workers
 * 1..size-1 in consecutive blocks of *rpr. Returns the group's communicator (MPI_COMM_SELF
 * when *rpr is 1; MPI_COMM_NULL on rank 0). Workers wait for the announcement polling,
 * not in a spinning MPI_Bcast, while the master loads the sweep. */
static MPI_Comm join_group(int rank, int *rpr) {
    MPI_Request req;
    CLS_MPI_CHECK(MPI_Ibcast(rpr, 1, MPI_INT, 0, MPI_COMM_WORLD, &req));
    wait_request(&req);
    if (*rpr <= 1) return rank ? MPI_COMM_SELF : MPI_COMM_NULL;
    MPI_Comm group = MPI_COMM_NULL;
    CLS_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, rank ? (rank - 1) / *rpr : MPI_UNDEFINED, rank, &group));
    return group;
}

/* The end, on every rank: rank 0's exit code to all, every rank's CPU seconds to rank 0
 * (cpus: size doubles on rank 0, NULL elsewhere). */
static void collective_end(int *rc, double cpu, double *cpus) {
    MPI_Request req;
    CLS_MPI_CHECK(MPI_Ibcast(rc, 1, MPI_INT, 0, MPI_COMM_WORLD, &req));
    wait_request(&req);
    CLS_MPI_CHECK(MPI_Igather(&cpu, 1, MPI_DOUBLE, cpus, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD, &req));
    wait_request(&req);
}

static int worker_rank(int rank) {
    int rpr = 1, grank = 0;
    MPI_Comm group = join_group(rank, &rpr);
    CLS_MPI_CHECK(MPI_Comm_rank(group, &grank));
    analysis_group *ag = analysis_group_init(group);
    if (grank == 0) worker_loop(ag);
    else analysis_member_loop(ag);
    if (stop_launcher_gone()) _exit(SCHED_EXIT_INCOMPLETE);
    analysis_group_free(ag);
    if (group != MPI_COMM_SELF) MPI_Comm_free(&group);
    int rc = SCHED_EXIT_OK;
    collective_end(&rc, cls_cputime_total(), NULL);
    return rc;
}

/* The groups' leaders (ranks 1, 1 + rpr, ...) into leaders; a note on uneven groups. */
static int make_leaders(int size, int rpr, int *leaders) {
    int nleaders = 0;
    for (int w = 1; w < size; w += rpr) leaders[nleaders++] = w;
    if (rpr > 1) {
        int nw = size - 1, last = nw - (nleaders - 1) * rpr;
        if (size == 1)
            fprintf(stderr, "clsweep: ranks_per_run %d: one process only, so every run and its "
                            "analysis use it alone (1 x 1 grid)\n", rpr);
        else if (last != rpr)
            fprintf(stderr, "clsweep: ranks_per_run %d: %d worker rank(s) form %d group(s); the "
                            "last group has %d rank(s)\n", rpr, nw, nleaders, last);
    }
    return nleaders;
}

int sched_run(const sched_options *o) {
    int rank = 0, size = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    CLS_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    CLS_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    stop_install_signals();
    if (rank != 0) return worker_rank(rank);
    double wall0 = cls_now();
    master_t m;
    int rc, setup_failed = master_setup(&m, o) != 0;
    int rpr = setup_failed ? 1 : m.sw.ranks_per_run;
    if (size > 1) join_group(rank, &rpr);
    int *leaders = xmalloc(sizeof(int) * (size_t)size);
    int nleaders = make_leaders(size, rpr, leaders);
    if (setup_failed) {
        fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        for (int l = 0; l < nleaders; l++)
            MPI_Send(NULL, 0, MPI_BYTE, leaders[l], TAG_STOP, MPI_COMM_WORLD);
        rc = SCHED_EXIT_ERROR;
    } else if (size == 1) {
        analysis_group *ag = analysis_group_init(MPI_COMM_SELF);
        rc = master_solo(&m, ag);
        analysis_group_free(ag);
    } else {
        rc = master_mpi(&m, leaders, nleaders, size);
    }
    free(leaders);
    int quiet = m.quiet;
    master_free(&m);
    double cpu = cls_cputime_total(), wall = cls_now() - wall0;
    double *cpus = xmalloc(sizeof(double) * (size_t)size);
    cpus[0] = cpu;
    if (size > 1) collective_end(&rc, cpu, cpus);
    /* The master's CPU share shows that it sleeps while the workers compute. */
    if (rc != SCHED_EXIT_ERROR && (!quiet || getenv("CLSWEEP_CPU_REPORT"))) {
        fprintf(stderr, "clsweep: CPU seconds over %.2f s wall: master %.3f (%.1f%%)", wall, cpus[0],
                wall > 0 ? 100.0 * cpus[0] / wall : 0.0);
        for (int r = 1; r < size; r++)
            fprintf(stderr, "%s%.2f", r == 1 ? ", workers (with their run processes) " : " ", cpus[r]);
        fprintf(stderr, "\n");
    }
    free(cpus);
    return rc;
}
