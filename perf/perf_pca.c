/* perf_pca.c — the weight-space analysis (pca_scalapack, docs/weightspace.md) on EWGN-sized
 * matrices: n samples × 15,680 generated weights (784 · 20), on 1 and 2 ranks; wall time
 * (with its phases) and peak memory per rank (getrusage maxrss), one process launch per
 * point so that maxrss belongs to that point alone. Prints "name | value | unit | notes".
 *
 * Launched without arguments (perf/run.sh), the program re-launches itself under
 * `$MPIRUN -np P` (default "mpirun --oversubscribe --bind-to none") for every point; it
 * never initialises MPI itself then. Sizes: CLSWEEP_BENCH_PCA_N (comma-separated sample
 * counts, default "200,1000,2000"; the paper-scale 10000 takes ~4.5 min and 2.2 GB on one
 * rank of an idle Xeon: docs/weightspace.md), CLSWEEP_BENCH_PCA_D (features, default 15680), CLSWEEP_BENCH_PCA_RANKS
 * (default "1,2"). With --child N D [lapack] it measures one point under MPI. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pca.h"
#include "rng.h"
#include "util.h"

/* n × d floats: two tasks of per-sample "generated weights" (shared low-rank part, a task
 * offset, noise), so the spectrum looks like a trained EWGN's rather than white noise. */
static float *make_matrix(int n, int d) {
    float *x = xmalloc(sizeof(float) * (size_t)n * (size_t)d);
    rng_t r;
    rng_init(&r, 2024, 9);
    rng_fill_normal(&r, x, (long)n * d, 0, 0.05f);
    float *basis = xmalloc(sizeof(float) * 8 * (size_t)d);
    rng_fill_normal(&r, basis, 8L * d, 0, 1);
    for (int i = 0; i < n; i++) {
        float coef[8];
        rng_fill_normal(&r, coef, 8, 0, 1);
        coef[0] += (i % 2) ? 2.0f : -2.0f;   /* task */
        float *row = x + (size_t)i * d;
        for (int c = 0; c < 8; c++) {
            float a = coef[c] / (float)(c + 1);
            for (int j = 0; j < d; j++) row[j] += a * basis[(size_t)c * d + j];
        }
    }
    free(basis);
    return x;
}

static int child(int n, int d, int lapack) {
    MPI_Init(NULL, NULL);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *x = rank == 0 ? make_matrix(n, d) : NULL;
    pca_grid g;
    if (pca_grid_init(&g, MPI_COMM_WORLD, 0, 0, 64)) {
        fprintf(stderr, "perf_pca: %s\n", cls_geterr());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = cls_now();
    pca_result res;
    int rc = pca_scalapack(&g, x, n, d, 10, &res);
    double t = cls_now() - t0, ph[PCA_NPHASES];
    pca_phase_seconds(ph);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mb = ru.ru_maxrss / 1024.0, *all = xmalloc(sizeof(double) * (size_t)size);
    MPI_Gather(&mb, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        char mem[256] = "";
        size_t len = 0;
        for (int r = 0; r < size; r++)
            len += (size_t)snprintf(mem + len, sizeof mem - len, "%s%.0f", r ? " / " : "", all[r]);
        if (rc) printf("pca %dx%d on %d rank(s) | failed | - | %s\n", n, d, size, cls_geterr());
        else
            printf("pca %dx%d on %d rank(s) | %.2f | s | distribute %.2f, %s %.2f, eigen (PDSYEVR) "
                   "%.2f, scores %.2f; top-10 explained %.3f\n",
                   n, d, size, t, ph[0], n <= d ? "Gram (PDSYRK)" : "scatter (PDSYRK)", ph[1], ph[2],
                   ph[3], res.explained[0]);
        printf("pca %dx%d on %d rank(s) peak memory | %s | MiB per rank | maxrss, rank 0 holds the "
               "float matrix (%.0f MiB)\n", n, d, size, mem, (double)n * d * 4 / 1048576.0);
        if (lapack && size == 1 && !rc) {
            pca_result ref;
            double tl = cls_now();
            int rl = pca_lapack(x, n, d, 10, &ref);
            tl = cls_now() - tl;
            double err = 0;
            for (int c = 0; !rl && c < 10; c++) {
                double e = (res.sv[c] - ref.sv[c]) / ref.sv[0];
                err = e > err ? e : -e > err ? -e : err;
            }
            printf("LAPACK dgesvd reference %dx%d | %.2f | s | full thin SVD on 1 rank; max sv "
                   "difference %.1e of sv1\n", n, d, tl, err);
            pca_free(&ref);
        }
        pca_free(&res);
        fflush(stdout);
    }
    free(all);
    free(x);
    pca_grid_free(&g);
    pca_finalize();
    MPI_Finalize();
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "--child"))
        return child(atoi(argv[2]), atoi(argv[3]), argc >= 5 && !strcmp(argv[4], "lapack"));
    const char *ns = getenv("CLSWEEP_BENCH_PCA_N"), *ds = getenv("CLSWEEP_BENCH_PCA_D");
    const char *rs = getenv("CLSWEEP_BENCH_PCA_RANKS"), *mpirun = getenv("MPIRUN");
    if (!ns) ns = "200,1000,2000";
    if (!rs) rs = "1,2";
    if (!mpirun) mpirun = "mpirun --oversubscribe --bind-to none";
    int d = ds ? atoi(ds) : 15680;
    /* mpirun refuses root without these; they change nothing for other users. */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
    int failures = 0;
    for (const char *r = rs; *r;) {
        int p = atoi(r);
        for (const char *q = ns; *q;) {
            int n = atoi(q);
            char cmd[1024];
            snprintf(cmd, sizeof cmd, "%s -np %d %s --child %d %d%s", mpirun, p, argv[0], n, d,
                     p == 1 && n <= 1000 ? " lapack" : "");
            fflush(stdout);
            if (n > 0 && p > 0 && system(cmd) != 0) failures++;
            q = strchr(q, ',');
            q = q ? q + 1 : "";
        }
        r = strchr(r, ',');
        r = r ? r + 1 : "";
    }
    return failures ? 1 : 0;
}
