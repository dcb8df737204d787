/* pca.h — principal component analysis of an n × d matrix (n samples, d features),
 * distributed with ScaLAPACK over a BLACS process grid, plus a single-process LAPACK
 * reference (the tests check one against the other).
 *
 * Method (ScaLAPACK): the root centres the columns and distributes A = Xcᵀ (d × n; the
 * row-major X *is* A in column-major order, so no transpose is made) block-cyclically.
 * With m = min(n, d), the m × m cross-product — the Gram matrix Xc Xcᵀ when n ≤ d, the
 * scatter matrix Xcᵀ Xc otherwise — is formed with PDSYRK and only its top k eigenpairs are
 * computed with PDSYEVR (subset by index). Eigenvalues are σ², the squared singular values
 * of Xc. PC coordinates (scores U_k Σ_k = Xc V_k) come straight from the Gram
 * eigenvectors (scaled by σ), or from one PDGEMM Xc V_k in the scatter case. This costs
 * n·d·m (PDSYRK) + (4/3)m³ (tridiagonal reduction) instead of PDGESVD's full SVD
 * (≈ 4·n·d·m + 8·m³ with both singular-vector sets) and needs no d-dimensional loadings.
 * The squaring costs accuracy only in the smallest components (relative error
 * ≈ ε·σ₁²/σᵢ²), which the analysis does not use.
 *
 * Signs: each score column is flipped so that its entry of largest magnitude is positive
 * (ties: the first), on both paths. */
#ifndef CLS_PCA_H
#define CLS_PCA_H

#include <mpi.h>

typedef struct {
    int n, d, k;         /* samples, features, components returned */
    double total_ss;     /* ‖Xc‖_F²: total scatter (n − 1 times the summed variances) */
    double *sv;          /* (k) singular values of the centred matrix, descending */
    double *explained;   /* (k) explained-variance ratio sv² / total_ss */
    double *scores;      /* (n, k) row-major PC coordinates U_k Σ_k */
} pca_result;

/* A BLACS process grid over a communicator. Processes are laid out row-major: grid
 * position (r, c) is rank r·npcol + c of comm, so rank 0 (the root) is (0, 0). Ranks
 * beyond nprow·npcol are outside the grid (ctxt = -1) but still take part in the
 * communicator-wide steps of pca_scalapack. */
typedef struct {
    MPI_Comm comm;       /* private duplicate of the caller's communicator */
    MPI_Comm gcomm;      /* its grid ranks (BLACS' system context); NULL outside the grid */
    int rank, size;
    int ctxt;            /* BLACS context, -1 outside the grid */
    int nprow, npcol, myrow, mycol;
    int nb;              /* square block size of the block-cyclic distribution */
} pca_grid;

/* Creates an nprow × npcol grid with block size nb over comm (nprow = npcol = 0: the most
 * square grid using every rank, nprow ≤ npcol; nb ≤ 0: 64). Collective over comm.
 * Returns 0, or -1 with cls_seterr when the grid does not fit in comm (g left empty). */
int pca_grid_init(pca_grid *g, MPI_Comm comm, int nprow, int npcol, int nb);
/* Releases the grid (collective over its communicator). */
void pca_grid_free(pca_grid *g);
/* Releases BLACS' internal state once no grid is left (MPI stays usable). Optional; call
 * at most once, at the end. */
void pca_finalize(void);

/* Top-k PCA of x (n, d) row-major with ScaLAPACK on grid g. Collective over g->comm: x, n,
 * d and k are read on the root (rank 0) only; other ranks may pass NULL/0. k is clipped to
 * min(n, d). On the root *out receives the result (owned by the caller: pca_free); other
 * ranks get an empty *out. Returns 0, or -1 (on every rank) when the matrix cannot be
 * analysed — n < 2, d < 1, a non-finite entry, zero total variance — or ScaLAPACK reports
 * an error; cls_seterr says why on the root. */
int pca_scalapack(pca_grid *g, const float *x, int n, int d, int k, pca_result *out);

/* The same decomposition with LAPACK DGESVD on one process (reference and fallback).
 * Returns 0, or -1 with cls_seterr (same conditions as pca_scalapack). */
int pca_lapack(const float *x, int n, int d, int k, pca_result *out);

void pca_free(pca_result *r);

/* Wall seconds of the phases of this rank's last pca_scalapack call (for benchmarks):
 * distribution of A, cross-product (PDSYRK), eigenpairs (PDSYEVR), scores + gather. */
#define PCA_NPHASES 4
void pca_phase_seconds(double out[PCA_NPHASES]);

/* Task separation in the space of the first kuse score columns of scores (n, k):
 * between-task scatter SB = Σ_t n_t‖μ_t − μ‖² and within-task scatter
 * SW = Σ_i ‖z_i − μ_task(i)‖². *ratio = SB / SW (+inf when SW = 0 < SB), *r2 = SB / (SB + SW)
 * (the fraction of that variance explained by the task). Rows with a task outside
 * [0, ntasks) are ignored. Both are NaN with fewer than two tasks present or no scatter. */
void pca_task_separation(const double *scores, int n, int k, int kuse, const int *task,
                         int ntasks, double *ratio, double *r2);

#endif
