/* pca.c — top-k PCA with ScaLAPACK on a BLACS grid and with LAPACK on one process (see
 * pca.h for the method and why it is the Gram/scatter eigenproblem, not PDGESVD).
 *
 * Layout: A = Xcᵀ (d × n) is distributed block-cyclically with square nb × nb blocks from
 * grid position (0, 0); local arrays are column-major with leading dimension
 * max(1, local rows). The root owns the whole matrix and sends each grid process its
 * local part in column chunks (bounded send buffer), so memory per non-root rank is its
 * share of A plus its share of the m × m cross-product and eigenvectors.
 *
 * Analysis layer: called by analysis.c (a group's analyses) and the tests. */
#include "pca.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cls_mpi.h"
#include "util.h"

/* ---- BLACS (C interface), ScaLAPACK and LAPACK (Fortran convention: every argument by
 * reference, CHARACTER arguments followed by hidden size_t lengths). PBLAS (pdsyrk_,
 * pdgemm_) is written in C and takes no hidden lengths. ---- */
void Cblacs_pinfo(int *mypnum, int *nprocs);
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctxt, char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);
void Cblacs_exit(int cont);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
void pdsyrk_(const char *uplo, const char *trans, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja,
             const int *desca, const double *beta, double *c, const int *ic, const int *jc,
             const int *descc);
void pdgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja,
             const int *desca, const double *b, const int *ib, const int *jb,
             const int *descb, const double *beta, double *c, const int *ic, const int *jc,
             const int *descc);
void pdsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
              const int *ia, const int *ja, const int *desca, const double *vl,
              const double *vu, const int *il, const int *iu, int *m, int *nz, double *w,
              double *z, const int *iz, const int *jz, const int *descz, double *work,
              const int *lwork, int *iwork, const int *liwork, int *info, size_t ljobz,
              size_t lrange, size_t luplo);
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
             const int *lda, double *s, double *u, const int *ldu, double *vt, const int *ldvt,
             double *work, const int *lwork, int *info, size_t ljobu, size_t ljobvt);


/* Doubles per message when distributing A (32 MiB). */
#define PCA_CHUNK_DOUBLES (4L << 20)

static int blacs_used;
static double phase_seconds[PCA_NPHASES];

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* Global index of local index l on process iproc of nprocs (block size nb, source 0). */
static long l2g(long l, int nb, int iproc, int nprocs) {
    return (l / nb) * (long)nb * nprocs + (long)iproc * nb + l % nb;
}

static int numroc(int n, int nb, int iproc, int nprocs) {
    int zero = 0;
    return numroc_(&n, &nb, &iproc, &zero, &nprocs);
}

/* ---- the grid ---- */

int pca_grid_init(pca_grid *g, MPI_Comm comm, int nprow, int npcol, int nb) {
    memset(g, 0, sizeof *g);
    g->ctxt = -1;
    g->comm = g->gcomm = MPI_COMM_NULL;
    int size, rank;
    CLS_MPI_CHECK(MPI_Comm_size(comm, &size));
    CLS_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    if (nprow <= 0 || npcol <= 0) {
        nprow = 1;
        for (int r = 1; r * r <= size; r++)
            if (size % r == 0) nprow = r;
        npcol = size / nprow;
    }
    if ((long)nprow * npcol > size) {
        cls_seterr("a %d x %d process grid needs %d ranks, the communicator has %d", nprow,
                   npcol, nprow * npcol, size);
        return -1;
    }
    CLS_MPI_CHECK(MPI_Comm_dup(comm, &g->comm));
    g->rank = rank;
    g->size = size;
    g->nb = nb > 0 ? nb : 64;
    g->nprow = nprow;
    g->npcol = npcol;
    g->myrow = g->mycol = -1;
    /* BLACS sees only the grid's ranks (it would leak its maps on ranks outside a grid). */
    int in = rank < nprow * npcol, bad = 0;
    CLS_MPI_CHECK(MPI_Comm_split(g->comm, in ? 0 : MPI_UNDEFINED, rank, &g->gcomm));
    if (in) {
        int me, np, pr, pc;
        Cblacs_pinfo(&me, &np);
        blacs_used = 1;
        int handle = Csys2blacs_handle(g->gcomm);
        int ctxt = handle;
        char order[] = "Row";
        Cblacs_gridinit(&ctxt, order, nprow, npcol);
        Cfree_blacs_system_handle(handle);
        g->ctxt = ctxt;
        Cblacs_gridinfo(ctxt, &pr, &pc, &g->myrow, &g->mycol);
        /* The distribution and the gathers address grid (r, c) as rank r·npcol + c. */
        bad = pr != nprow || pc != npcol || g->myrow != rank / npcol || g->mycol != rank % npcol;
    }
    int anybad = 0;
    CLS_MPI_CHECK(MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, g->comm));
    if (anybad) {
        cls_seterr("BLACS laid out the %d x %d grid in an unexpected order", nprow, npcol);
        pca_grid_free(g);
        return -1;
    }
    return 0;
}

void pca_grid_free(pca_grid *g) {
    if (g->ctxt >= 0) Cblacs_gridexit(g->ctxt);
    g->ctxt = -1;
    if (g->gcomm != MPI_COMM_NULL) MPI_Comm_free(&g->gcomm);
    g->gcomm = MPI_COMM_NULL;
    if (g->comm != MPI_COMM_NULL) MPI_Comm_free(&g->comm);
    g->comm = MPI_COMM_NULL;
}

void pca_finalize(void) {
    if (blacs_used) Cblacs_exit(1);
    blacs_used = 0;
}

void pca_phase_seconds(double out[PCA_NPHASES]) {
    memcpy(out, phase_seconds, sizeof phase_seconds);
}

void pca_free(pca_result *r) {
    free(r->sv);
    free(r->explained);
    free(r->scores);
    memset(r, 0, sizeof *r);
}

/* ---- shared steps ---- */

/* Validates x and computes its column means (d, malloc'd) and total scatter. */
static int centre_stats(const float *x, int n, int d, int k, double **mean_out, double *total) {
    *mean_out = NULL;
    if (!x || n < 2 || d < 1 || k < 1) {
        cls_seterr("PCA needs at least 2 samples, 1 feature and 1 component (got %d x %d, k %d)",
                   n, d, k);
        return -1;
    }
    double *mean = xcalloc((size_t)d, sizeof *mean);
    for (long i = 0; i < n; i++) {
        const float *row = x + i * d;
        for (int j = 0; j < d; j++) mean[j] += row[j];
    }
    for (int j = 0; j < d; j++) mean[j] /= n;
    double ss = 0;
    for (long i = 0; i < n; i++) {
        const float *row = x + i * d;
        for (int j = 0; j < d; j++) {
            double v = row[j] - mean[j];
            ss += v * v;
        }
    }
    if (!isfinite(ss)) {
        cls_seterr("the %d x %d matrix has non-finite entries", n, d);
        free(mean);
        return -1;
    }
    if (ss <= 0) {
        cls_seterr("the %d x %d matrix has zero variance", n, d);
        free(mean);
        return -1;
    }
    *mean_out = mean;
    *total = ss;
    return 0;
}

static void result_alloc_k(pca_result *out, int n, int d, int k, double total) {
    out->n = n;
    out->d = d;
    out->k = k;
    out->total_ss = total;
    out->sv = xmalloc(sizeof(double) * (size_t)k);
    out->explained = xmalloc(sizeof(double) * (size_t)k);
    out->scores = xmalloc(sizeof(double) * (size_t)n * (size_t)k);
}

/* Flips each score column so that its largest-magnitude entry is positive. */
static void fix_signs(pca_result *r) {
    for (int c = 0; c < r->k; c++) {
        double best = 0;
        for (long i = 0; i < r->n; i++) {
            double v = r->scores[i * r->k + c];
            if (fabs(v) > fabs(best)) best = v;
        }
        if (best < 0)
            for (long i = 0; i < r->n; i++) r->scores[i * r->k + c] = -r->scores[i * r->k + c];
    }
}

/* Self-check of a finished result: the score columns must be orthogonal with squared norms
 * σ² (ScaLAPACK has been seen to return wrong vectors with INFO = 0; this catches it). */
static int scores_consistent(const pca_result *r) {
    double s1 = r->sv[0] * r->sv[0];
    if (!(s1 > 0)) return 0;
    for (int a = 0; a < r->k; a++)
        for (int b = a; b < r->k; b++) {
            double dot = 0;
            for (long i = 0; i < r->n; i++) dot += r->scores[i * r->k + a] * r->scores[i * r->k + b];
            double want = a == b ? r->sv[a] * r->sv[a] : 0;
            if (!(fabs(dot - want) <= 1e-6 * s1)) return 0;
        }
    return 1;
}

/* ---- ScaLAPACK path ---- */

/* Local part of A = Xcᵀ for grid position (r, c), local columns [jl0, jl1), into dst
 * (leading dimension ld). A's column j is sample j; its rows are features. */
static void pack_cols(double *dst, int ld, const float *x, const double *mean, int d, int mloc,
                      int r, int c, const pca_grid *g, int jl0, int jl1) {
    for (int jl = jl0; jl < jl1; jl++) {
        const float *row = x + l2g(jl, g->nb, c, g->npcol) * d;
        double *col = dst + (size_t)(jl - jl0) * (size_t)ld;
        for (int il = 0; il < mloc; il += g->nb) {
            long j0 = l2g(il, g->nb, r, g->nprow);
            int len = imin(g->nb, mloc - il);
            for (int t = 0; t < len; t++) col[il + t] = (double)row[j0 + t] - mean[j0 + t];
        }
    }
}

/* Columns per message for a process with mloc local rows. */
static int chunk_cols(int mloc) {
    long c = PCA_CHUNK_DOUBLES / (mloc > 0 ? mloc : 1);
    return c < 1 ? 1 : c > INT32_MAX ? INT32_MAX : (int)c;
}

/* Root: sends every grid process its part of A and fills its own. Others: receive. */
static void distribute(const pca_grid *g, const float *x, const double *mean, int n, int d,
                       double *A, int mA, int nA) {
    if (g->rank == 0) {
        double *buf = NULL;
        for (int q = 1; q < g->nprow * g->npcol; q++) {
            int r = q / g->npcol, c = q % g->npcol;
            int mloc = numroc(d, g->nb, r, g->nprow), nloc = numroc(n, g->nb, c, g->npcol);
            if (mloc == 0 || nloc == 0) continue;
            int cc = chunk_cols(mloc);
            buf = xmalloc(sizeof(double) * (size_t)mloc * (size_t)imin(cc, nloc));
            for (int j0 = 0; j0 < nloc; j0 += cc) {
                int j1 = imin(nloc, j0 + cc);
                pack_cols(buf, mloc, x, mean, d, mloc, r, c, g, j0, j1);
                CLS_MPI_CHECK(MPI_Send(buf, mloc * (j1 - j0), MPI_DOUBLE, q, TAG_PCA_BLOCK, g->comm));
            }
            free(buf);
            buf = NULL;
        }
        pack_cols(A, imax(1, mA), x, mean, d, mA, 0, 0, g, 0, nA);
        return;
    }
    if (mA == 0 || nA == 0) return;
    int cc = chunk_cols(mA);
    for (int j0 = 0; j0 < nA; j0 += cc) {
        int j1 = imin(nA, j0 + cc);
        CLS_MPI_CHECK(MPI_Recv(A + (size_t)j0 * (size_t)mA, mA * (j1 - j0), MPI_DOUBLE, 0,
                         TAG_PCA_BLOCK, g->comm, MPI_STATUS_IGNORE));
    }
}

/* Local columns [*jl0, *jl1) of process column c that hold global columns [j0, j0 + N). */
static void local_cols(const pca_grid *g, int c, int j0, int N, int *jl0, int *jl1) {
    int lo = numroc(j0, g->nb, c, g->npcol), hi = numroc(j0 + N, g->nb, c, g->npcol);
    *jl0 = lo;
    *jl1 = hi;
}

/* Gathers global columns [j0, j0 + N) of a distributed matrix with M rows (local array loc,
 * leading dimension lld) on the root into out (M, N) row-major, which the root allocates. */
static double *gather(const pca_grid *g, const double *loc, int lld, int M, int j0, int N) {
    int jl0, jl1;
    if (g->rank != 0) {
        int mloc = numroc(M, g->nb, g->myrow, g->nprow);
        local_cols(g, g->mycol, j0, N, &jl0, &jl1);
        int nloc = jl1 - jl0;
        if (mloc == 0 || nloc == 0) return NULL;
        double *buf = xmalloc(sizeof(double) * (size_t)mloc * (size_t)nloc);
        for (int j = 0; j < nloc; j++)
            memcpy(buf + (size_t)j * mloc, loc + (size_t)(jl0 + j) * lld,
                   sizeof(double) * (size_t)mloc);
        CLS_MPI_CHECK(MPI_Send(buf, mloc * nloc, MPI_DOUBLE, 0, TAG_PCA_GATHER, g->comm));
        free(buf);
        return NULL;
    }
    double *out = xmalloc(sizeof(double) * (size_t)M * (size_t)N + 8);
    for (int q = 0; q < g->nprow * g->npcol; q++) {
        int r = q / g->npcol, c = q % g->npcol;
        int ml = numroc(M, g->nb, r, g->nprow);
        local_cols(g, c, j0, N, &jl0, &jl1);
        int nl = jl1 - jl0;
        if (ml == 0 || nl == 0) continue;
        const double *src = loc + (size_t)jl0 * lld;
        int ld = lld;
        double *buf = NULL;
        if (q != 0) {
            buf = xmalloc(sizeof(double) * (size_t)ml * (size_t)nl);
            CLS_MPI_CHECK(MPI_Recv(buf, ml * nl, MPI_DOUBLE, q, TAG_PCA_GATHER, g->comm,
                             MPI_STATUS_IGNORE));
            src = buf;
            ld = ml;
        }
        for (int jl = 0; jl < nl; jl++) {
            long j = l2g(jl0 + jl, g->nb, c, g->npcol) - j0;
            for (int il = 0; il < ml; il++)
                out[l2g(il, g->nb, r, g->nprow) * N + j] = src[(size_t)jl * ld + il];
        }
        free(buf);
    }
    return out;
}

/* How many eigenpairs to ask PDSYEVR for, at least k. PDSYEVR hands PDORMTR (the
 * back-transformation) a fixed workspace of max(18m, NP00·MQ00 + 2nb²) doubles, where MQ00
 * grows with the number of eigenvectors requested, while PDORMTR needs
 * max(nb(nb−1)/2, (MPC0 + NQC0)·nb) + nb² on every process; with few vectors and a large
 * block PDORMTR refuses, and PDSYEVR then returns untransformed vectors with INFO = 0
 * (ScaLAPACK 2.2). Asking for a few more vectors (about nb) avoids it at the cost of
 * 2·m²·nb flops. Returns -1 when no count ≤ m works. */
static int pdsyevr_count(const pca_grid *g, int m, int k) {
    long nb = g->nb;
    for (int kz = k; kz <= m; kz++) {
        long np00 = numroc(m, g->nb, 0, g->nprow), mq00 = numroc(kz, g->nb, 0, g->npcol);
        long size1 = 18L * m > np00 * mq00 + 2 * nb * nb ? 18L * m : np00 * mq00 + 2 * nb * nb;
        long need = 0;
        for (int r = 0; r < g->nprow; r++)
            for (int c = 0; c < g->npcol; c++) {
                long mpc0 = numroc(m - 1, g->nb, r, g->nprow), nqc0 = numroc(kz, g->nb, c, g->npcol);
                long lw = (mpc0 + nqc0) * nb > nb * (nb - 1) / 2 ? (mpc0 + nqc0) * nb : nb * (nb - 1) / 2;
                if (lw + nb * nb > need) need = lw + nb * nb;
            }
        if (need <= size1) return kz;
    }
    return -1;
}

/* The grid processes' part: returns 0, or an error code (ScaLAPACK info or -1). On the
 * root, fills out from the gathered eigenpairs. */
static int scalapack_compute(const pca_grid *g, const float *x, const double *mean,
                             double total, int n, int d, int k, pca_result *out) {
    const int ione = 1, izero = 0, mone = -1;
    const double one = 1.0, zero = 0.0, vl = 0.0, vu = 0.0;
    int nb = g->nb, info = 0, ctxt = g->ctxt;
    int gram = n <= d, m = gram ? n : d;
    /* A = Xcᵀ: d × n */
    int mA = numroc(d, nb, g->myrow, g->nprow), nA = numroc(n, nb, g->mycol, g->npcol);
    int lldA = imax(1, mA), descA[9];
    descinit_(descA, &d, &n, &nb, &nb, &izero, &izero, &ctxt, &lldA, &info);
    if (info) return -1;
    double *A = xmalloc(sizeof(double) * ((size_t)lldA * (size_t)nA + 1));
    double t = cls_now();
    distribute(g, x, mean, n, d, A, mA, nA);
    phase_seconds[0] = cls_now() - t;
    t = cls_now();
    /* G = AᵀA (Gram, n ≤ d) or AAᵀ (scatter), m × m, upper triangle */
    int mG = numroc(m, nb, g->myrow, g->nprow), nG = numroc(m, nb, g->mycol, g->npcol);
    int lldG = imax(1, mG), descG[9];
    descinit_(descG, &m, &m, &nb, &nb, &izero, &izero, &ctxt, &lldG, &info);
    if (info) {
        free(A);
        return -1;
    }
    size_t gsize = (size_t)lldG * (size_t)nG + 1;
    double *G = xmalloc(sizeof(double) * gsize);
    double *Z = xmalloc(sizeof(double) * gsize);
    pdsyrk_("U", gram ? "T" : "N", &m, gram ? &d : &n, &one, A, &ione, &ione, descA, &zero, G,
            &ione, &ione, descG);
    if (gram) {
        free(A);
        A = NULL;
    }
    phase_seconds[1] = cls_now() - t;
    t = cls_now();
    /* Top kz ≥ k eigenpairs (ascending: w[kz-1] is the largest; the top k are the last k). */
    int kz = pdsyevr_count(g, m, k);
    if (kz < 0) {
        free(A);
        free(G);
        free(Z);
        return -2;
    }
    int il = m - kz + 1, iu = m, nfound = 0, nz = 0, jz = kz - k + 1;
    double *w = xmalloc(sizeof(double) * (size_t)m);
    double wq[3] = {0};
    int iwq[3] = {0};
    pdsyevr_("V", "I", "U", &m, G, &ione, &ione, descG, &vl, &vu, &il, &iu, &nfound, &nz, w, Z,
             &ione, &ione, descG, wq, &mone, iwq, &mone, &info, 1, 1, 1);
    int rc = info;
    if (!rc) {
        /* A little slack over the query: some ScaLAPACK versions under-report. */
        int lwork = (int)wq[0] + 2 * m + 1024, liwork = iwq[0] + 2 * m + 64;
        double *work = xmalloc(sizeof(double) * (size_t)lwork);
        int *iwork = xmalloc(sizeof(int) * (size_t)liwork);
        pdsyevr_("V", "I", "U", &m, G, &ione, &ione, descG, &vl, &vu, &il, &iu, &nfound, &nz, w,
                 Z, &ione, &ione, descG, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
        free(work);
        free(iwork);
        rc = info ? info : (nfound != kz || nz != kz) ? -1 : 0;
    }
    free(G);
    phase_seconds[2] = cls_now() - t;
    t = cls_now();
    double *S = NULL;
    if (!rc && gram) {
        S = gather(g, Z, lldG, m, kz - k, k);   /* n × k: eigenvectors U_k */
    } else if (!rc) {
        /* scores = Xc V_k = Aᵀ Z_k : n × k */
        int mS = numroc(n, nb, g->myrow, g->nprow), nS = numroc(k, nb, g->mycol, g->npcol);
        int lldS = imax(1, mS), descS[9];
        descinit_(descS, &n, &k, &nb, &nb, &izero, &izero, &ctxt, &lldS, &info);
        double *Sloc = xmalloc(sizeof(double) * ((size_t)lldS * (size_t)nS + 1));
        pdgemm_("T", "N", &n, &k, &d, &one, A, &ione, &ione, descA, Z, &ione, &jz, descG, &zero,
                Sloc, &ione, &ione, descS);
        S = gather(g, Sloc, lldS, n, 0, k);
        free(Sloc);
    }
    free(A);
    free(Z);
    if (!rc && g->rank == 0) {
        result_alloc_k(out, n, d, k, total);
        for (int c = 0; c < k; c++) {
            double lam = w[kz - 1 - c] > 0 ? w[kz - 1 - c] : 0;
            double s = sqrt(lam), scale = gram ? s : 1.0;
            out->sv[c] = s;
            out->explained[c] = lam / total;
            for (long i = 0; i < n; i++) out->scores[i * k + c] = S[i * k + (k - 1 - c)] * scale;
        }
        fix_signs(out);
        if (!scores_consistent(out)) {
            pca_free(out);
            rc = -3;
        }
    }
    free(S);
    free(w);
    phase_seconds[3] = cls_now() - t;
    return rc;
}

int pca_scalapack(pca_grid *g, const float *x, int n, int d, int k, pca_result *out) {
    memset(out, 0, sizeof *out);
    int hdr[4] = {0, 0, 0, 0};
    double *mean = NULL, total = 0;
    if (g->rank == 0 && centre_stats(x, n, d, k, &mean, &total) == 0) {
        hdr[0] = 1;
        hdr[1] = n;
        hdr[2] = d;
        hdr[3] = imin(k, imin(n, d));
    }
    CLS_MPI_CHECK(MPI_Bcast(hdr, 4, MPI_INT, 0, g->comm));
    if (!hdr[0]) return -1;
    int rc = 0;
    if (g->ctxt >= 0) rc = scalapack_compute(g, x, mean, total, hdr[1], hdr[2], hdr[3], out);
    free(mean);
    int err = rc != 0, anyerr = 0;
    CLS_MPI_CHECK(MPI_Allreduce(&err, &anyerr, 1, MPI_INT, MPI_MAX, g->comm));
    if (anyerr) {
        if (g->rank == 0)
            cls_seterr("ScaLAPACK PCA of a %d x %d matrix failed (info %d)", hdr[1], hdr[2], rc);
        pca_free(out);
        return -1;
    }
    return 0;
}

/* ---- LAPACK reference ---- */

int pca_lapack(const float *x, int n, int d, int k, pca_result *out) {
    memset(out, 0, sizeof *out);
    double *mean, total;
    if (centre_stats(x, n, d, k, &mean, &total)) return -1;
    k = imin(k, imin(n, d));
    int r = imin(n, d), one = 1, info = 0, lwork = -1;
    /* A = Xcᵀ (d × n, column-major) = U_A Σ VT_A, so the rows of VT_A are Xc's left
     * singular vectors. */
    double *A = xmalloc(sizeof(double) * (size_t)n * (size_t)d);
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) A[i * d + j] = (double)x[i * d + j] - mean[j];
    free(mean);
    double *s = xmalloc(sizeof(double) * (size_t)r);
    double *vt = xmalloc(sizeof(double) * (size_t)r * (size_t)n);
    double udummy = 0, wq = 0;
    dgesvd_("N", "S", &d, &n, A, &d, s, &udummy, &one, vt, &r, &wq, &lwork, &info, 1, 1);
    if (!info) {
        lwork = (int)wq + 1;
        double *work = xmalloc(sizeof(double) * (size_t)lwork);
        dgesvd_("N", "S", &d, &n, A, &d, s, &udummy, &one, vt, &r, work, &lwork, &info, 1, 1);
        free(work);
    }
    free(A);
    if (info) {
        cls_seterr("LAPACK dgesvd of a %d x %d matrix failed (info %d)", n, d, info);
        free(s);
        free(vt);
        return -1;
    }
    result_alloc_k(out, n, d, k, total);
    for (int c = 0; c < k; c++) {
        out->sv[c] = s[c];
        out->explained[c] = s[c] * s[c] / total;
        for (long i = 0; i < n; i++) out->scores[i * k + c] = vt[(size_t)i * r + c] * s[c];
    }
    fix_signs(out);
    free(s);
    free(vt);
    return 0;
}

/* ---- task separation ---- */

void pca_task_separation(const double *scores, int n, int k, int kuse, const int *task,
                         int ntasks, double *ratio, double *r2) {
    *ratio = *r2 = NAN;
    if (kuse > k) kuse = k;
    if (!scores || !task || n < 1 || kuse < 1 || ntasks < 1) return;
    double *mu = xcalloc((size_t)(ntasks + 1) * (size_t)kuse, sizeof *mu);
    double *all = mu + (size_t)ntasks * kuse;   /* overall mean */
    long *cnt = xcalloc((size_t)ntasks, sizeof *cnt);
    long total = 0;
    for (long i = 0; i < n; i++) {
        int t = task[i];
        if (t < 0 || t >= ntasks) continue;
        cnt[t]++;
        total++;
        for (int c = 0; c < kuse; c++) {
            mu[(size_t)t * kuse + c] += scores[i * k + c];
            all[c] += scores[i * k + c];
        }
    }
    int present = 0;
    for (int t = 0; t < ntasks; t++)
        if (cnt[t]) {
            present++;
            for (int c = 0; c < kuse; c++) mu[(size_t)t * kuse + c] /= cnt[t];
        }
    if (present >= 2) {
        for (int c = 0; c < kuse; c++) all[c] /= total;
        double sb = 0, sw = 0;
        for (int t = 0; t < ntasks; t++)
            for (int c = 0; c < kuse && cnt[t]; c++) {
                double v = mu[(size_t)t * kuse + c] - all[c];
                sb += cnt[t] * v * v;
            }
        for (long i = 0; i < n; i++) {
            int t = task[i];
            if (t < 0 || t >= ntasks) continue;
            for (int c = 0; c < kuse; c++) {
                double v = scores[i * k + c] - mu[(size_t)t * kuse + c];
                sw += v * v;
            }
        }
        if (sb + sw > 0) {
            *r2 = sb / (sb + sw);
            *ratio = sw > 0 ? sb / sw : INFINITY;
        }
    }
    free(mu);
    free(cnt);
}
