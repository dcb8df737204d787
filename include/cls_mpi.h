/* cls_mpi.h — the MPI plumbing shared by every module that talks MPI (the scheduler in
 * src/sweep, the analysis group and the PCA in src/analysis): ONE numbering of the message
 * tags and ONE check macro for MPI calls. Core layer (header only); include it only from
 * code that links MPI.
 *
 * Tags are unique across the program although they travel on different communicators
 * (MPI_COMM_WORLD for the scheduler, a group's communicator for the analysis), so a stray
 * message is never mistaken for another protocol's. */
#ifndef CLS_MPI_H
#define CLS_MPI_H

#include <mpi.h>
#include <stdio.h>

enum {
    /* scheduler (MPI_COMM_WORLD; see src/sweep/sched_proto.c) */
    TAG_WORK = 1,        /* master → worker: a chunk of runs */
    TAG_RESULT = 2,      /* worker → master: one run's result */
    TAG_STOP = 3,        /* master → worker: no more work, return */
    TAG_CANCEL = 4,      /* master → worker: stopping; drop runs not yet started */
    TAG_STAGE = 5,       /* worker → master: a run's stage report (successive halving) */
    TAG_DECIDE = 6,      /* master → worker: continue or stop that run */
    /* analysis group (the group's communicator; src/analysis/analysis.c) */
    TAG_WS_ANALYSE = 11, /* leader → member: int32 count of pca_scalapack calls */
    TAG_WS_STOP = 12,    /* leader → member: release the grid and return */
    /* distributed PCA (pca_grid's private communicator; src/analysis/pca.c) */
    TAG_PCA_BLOCK = 71,
    TAG_PCA_GATHER = 72,
};

/* Exit code of a job taken down by a failed MPI call (= SCHED_EXIT_ERROR). */
#define CLS_MPI_ABORT_CODE 2

/* Checks an MPI call: on failure prints the call, its place and MPI's message, then
 * aborts the job (MPI_ERRORS_RETURN is set on MPI_COMM_WORLD by the scheduler). */
#define CLS_MPI_CHECK(call)                                                          \
    do {                                                                             \
        int cls_mpi_rc_ = (call);                                                    \
        if (cls_mpi_rc_ != MPI_SUCCESS) {                                            \
            char cls_mpi_msg_[MPI_MAX_ERROR_STRING];                                 \
            int cls_mpi_len_ = 0;                                                    \
            MPI_Error_string(cls_mpi_rc_, cls_mpi_msg_, &cls_mpi_len_);              \
            fprintf(stderr, "clsweep: %s:%d: %s failed: %s\n", __FILE__, __LINE__,   \
                    #call, cls_mpi_msg_);                                            \
            MPI_Abort(MPI_COMM_WORLD, CLS_MPI_ABORT_CODE);                           \
        }                                                                            \
    } while (0)

#endif
