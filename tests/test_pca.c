/* test_pca.c — the weight-space analysis: ScaLAPACK PCA against LAPACK DGESVD on 1 x 1,
 * 1 x 2 and 2 x 1 grids (Gram and scatter shapes, small and default block sizes), the
 * LAPACK path against a matrix of known singular values, the task-separation score, the
 * probe section of the result codec, and the crashtest pipeline end to end
 * (run_execute → probes → analysis_apply on a group → extras).
 *
 * Run by tests/run.sh as one process (the 2-rank grids are skipped) and by tests/t_pca.sh
 * under `mpirun -np 2` (everything). Only rank 0 prints; a case fails when it failed on
 * any rank. */
#include <math.h>
#include <mpi.h>
#include <string.h>

#include "analysis_mpi.h"
#include "model.h"
#include "pca.h"
#include "result.h"
#include "rng.h"
#include "test.h"
#include "test_run.h"
#include "util.h"

static int world_rank, world_size;

/* A case run by every rank; its outcome is the worst over ranks. */
#define RUN_MPI_TEST(fn)                                                                   \
    do {                                                                                   \
        if (!test_wanted(#fn)) break;                                                      \
        test_case_failed = 0;                                                              \
        test_case_skipped = 0;                                                             \
        test_current = #fn;                                                                \
        fflush(stdout);                                                                    \
        fn();                                                                              \
        int any_ = 0;                                                                      \
        MPI_Allreduce(&test_case_failed, &any_, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);      \
        test_cases_run++;                                                                  \
        if (any_) test_cases_failed++;                                                     \
        if (world_rank == 0) printf("%s - %s\n", any_ ? "not ok" : "ok", #fn);             \
        fflush(stdout);                                                                    \
    } while (0)

/* n × d matrix: low-rank structure (rank 6, distinct strengths) plus noise and a mean. */
static float *test_matrix(int n, int d, uint64_t seed) {
    rng_t r;
    rng_init(&r, seed, 1);
    float *x = xmalloc(sizeof(float) * (size_t)n * (size_t)d);
    float *u = xmalloc(sizeof(float) * (size_t)n * 6), *v = xmalloc(sizeof(float) * (size_t)d * 6);
    rng_fill_normal(&r, u, (long)n * 6, 0, 1);
    rng_fill_normal(&r, v, (long)d * 6, 0, 1);
    rng_fill_normal(&r, x, (long)n * d, 0, 0.1f);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double s = 3.0 + 0.01 * j;
            for (int c = 0; c < 6; c++) s += (6 - c) * 0.9 * u[i * 6 + c] * v[j * 6 + c];
            x[(long)i * d + j] += (float)s;
        }
    free(u);
    free(v);
    return x;
}

/* Compares a ScaLAPACK result with the LAPACK reference: singular values relative to σ₁,
 * explained variance, and every score column up to sign. Returns the max errors. */
static void compare(const pca_result *a, const pca_result *b, double *sv_err, double *score_err) {
    *sv_err = *score_err = INFINITY;
    CHECK(a->n == b->n && a->d == b->d && a->k == b->k, "shapes %dx%d k%d vs %dx%d k%d", a->n,
          a->d, a->k, b->n, b->d, b->k);
    if (a->k != b->k || a->n != b->n) return;
    double se = 0, ce = 0, smax = 0;
    for (int c = 0; c < a->k; c++) {
        se = fmax(se, fabs(a->sv[c] - b->sv[c]) / b->sv[0]);
        se = fmax(se, fabs(a->explained[c] - b->explained[c]));
        double dot = 0;
        for (int i = 0; i < a->n; i++) dot += a->scores[i * a->k + c] * b->scores[i * b->k + c];
        double sgn = dot < 0 ? -1 : 1;
        for (int i = 0; i < a->n; i++) {
            ce = fmax(ce, fabs(a->scores[i * a->k + c] - sgn * b->scores[i * b->k + c]));
            smax = fmax(smax, fabs(b->scores[i * b->k + c]));
        }
    }
    *sv_err = se;
    *score_err = ce / smax;
    CHECK(fabs(a->total_ss - b->total_ss) <= 1e-10 * b->total_ss, "total %.12g vs %.12g",
          a->total_ss, b->total_ss);
}

/* The LAPACK path recovers singular values built into the matrix: X = mean + Q₁ diag(s) Q₂ᵀ
 * with orthonormal columns (Gram–Schmidt, centred so that centring leaves it unchanged). */
static void orthonormal_centred(double *q, int n, int k, rng_t *r) {
    for (int c = 0; c < k; c++) {
        for (int i = 0; i < n; i++) q[i * k + c] = rng_normal(r);
        double m = 0;
        for (int i = 0; i < n; i++) m += q[i * k + c];
        for (int i = 0; i < n; i++) q[i * k + c] -= m / n;
        for (int p = 0; p < c; p++) {
            double dot = 0;
            for (int i = 0; i < n; i++) dot += q[i * k + c] * q[i * k + p];
            for (int i = 0; i < n; i++) q[i * k + c] -= dot * q[i * k + p];
        }
        double nn = 0;
        for (int i = 0; i < n; i++) nn += q[i * k + c] * q[i * k + c];
        for (int i = 0; i < n; i++) q[i * k + c] /= sqrt(nn);
    }
}

static void test_lapack_known_singular_values(void) {
    if (world_rank != 0) return;
    const int n = 40, d = 25, k = 4;
    const double s[4] = {10, 5, 2, 0.5};
    rng_t r;
    rng_init(&r, 7, 0);
    double *q1 = xmalloc(sizeof(double) * n * k), *q2 = xmalloc(sizeof(double) * d * k);
    orthonormal_centred(q1, n, k, &r);
    orthonormal_centred(q2, d, k, &r);
    float *x = xmalloc(sizeof(float) * n * d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = 1.5 - 0.1 * j;
            for (int c = 0; c < k; c++) v += q1[i * k + c] * s[c] * q2[j * k + c];
            x[i * d + j] = (float)v;
        }
    pca_result p;
    int rc = pca_lapack(x, n, d, 6, &p);
    CHECK(rc == 0, "pca_lapack: %s", cls_geterr());
    if (rc == 0) {
        double tot = 0, err = 0;
        for (int c = 0; c < k; c++) tot += s[c] * s[c];
        for (int c = 0; c < k; c++) {
            err = fmax(err, fabs(p.sv[c] - s[c]));
            err = fmax(err, fabs(p.explained[c] - s[c] * s[c] / tot) * 10);
        }
        /* float storage of x limits the agreement to ~1e-6 relative */
        printf("# LAPACK vs constructed singular values: max error %.3g\n", err);
        CHECK(err < 1e-4, "singular values off by %g", err);
        CHECK(p.k == 6 && p.sv[4] < 1e-4 && p.sv[5] < 1e-4, "null components %g %g", p.sv[4], p.sv[5]);
        pca_free(&p);
    }
    free(q1);
    free(q2);
    free(x);
}

/* ScaLAPACK == LAPACK on one grid, for Gram-shaped (n ≤ d) and scatter-shaped matrices,
 * smaller and larger than a block, and two block sizes (m > nb with few components is the
 * case where PDSYEVR's back-transformation workspace falls short: pdsyevr_count). */
static void check_grid(int nprow, int npcol) {
    const int shapes[4][2] = {{37, 53}, {61, 23}, {150, 170}, {200, 90}};
    const int nbs[2] = {4, 64};
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < 2; b++) {
            int n = shapes[s][0], d = shapes[s][1], k = 5;
            pca_grid g;
            int rc = pca_grid_init(&g, MPI_COMM_WORLD, nprow, npcol, nbs[b]);
            CHECK(rc == 0, "grid %dx%d: %s", nprow, npcol, cls_geterr());
            if (rc) return;
            float *x = world_rank == 0 ? test_matrix(n, d, 100 + (uint64_t)s) : NULL;
            pca_result a, ref;
            rc = pca_scalapack(&g, x, n, d, k, &a);
            CHECK(rc == 0, "pca_scalapack %dx%d on %dx%d nb %d: %s", n, d, nprow, npcol, nbs[b],
                  cls_geterr());
            if (world_rank == 0 && rc == 0) {
                int rr = pca_lapack(x, n, d, k, &ref);
                CHECK(rr == 0, "pca_lapack: %s", cls_geterr());
                double se, ce;
                if (rr == 0) {
                    compare(&a, &ref, &se, &ce);
                    printf("# grid %dx%d nb %2d, %dx%d (%s): max sv error %.3g, max score error %.3g\n",
                           nprow, npcol, nbs[b], n, d, n <= d ? "Gram" : "scatter", se, ce);
                    CHECK(se < 1e-10, "singular values differ by %g", se);
                    CHECK(ce < 1e-8, "scores differ by %g", ce);
                    pca_free(&ref);
                }
                /* signs are normalised the same way on both paths */
                for (int c = 0; rr == 0 && c < a.k; c++) {
                    int imax = 0;
                    for (int i = 1; i < n; i++)
                        if (fabs(a.scores[i * k + c]) > fabs(a.scores[imax * k + c])) imax = i;
                    CHECK(a.scores[imax * k + c] > 0, "sign of component %d", c);
                }
            }
            pca_free(&a);
            free(x);
            pca_grid_free(&g);
        }
}

static void skip_or_run(int nprow, int npcol, const char *name) {
    if (!test_wanted(name)) return;
    if (world_size < nprow * npcol) {
        if (world_rank == 0)
            printf("ok - %s # SKIP needs %d ranks (tests/t_pca.sh runs it under mpirun -np 2)\n",
                   name, nprow * npcol);
        return;
    }
    test_case_failed = 0;
    check_grid(nprow, npcol);
    int any = 0;
    MPI_Allreduce(&test_case_failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    test_cases_run++;
    if (any) test_cases_failed++;
    if (world_rank == 0) printf("%s - %s\n", any ? "not ok" : "ok", name);
}

/* The same input twice gives bit-identical output; a non-finite or constant matrix is
 * refused on every rank (no hang, no crash). */
static void test_scalapack_deterministic_and_refuses_bad_input(void) {
    pca_grid g;
    int rc = pca_grid_init(&g, MPI_COMM_WORLD, 0, 0, 8);
    CHECK(rc == 0, "grid: %s", cls_geterr());
    if (rc) return;
    const int n = 30, d = 41;
    float *x = world_rank == 0 ? test_matrix(n, d, 5) : NULL;
    pca_result a, b;
    int ra = pca_scalapack(&g, x, n, d, 3, &a), rb = pca_scalapack(&g, x, n, d, 3, &b);
    CHECK(ra == 0 && rb == 0, "pca_scalapack failed");
    if (world_rank == 0 && ra == 0 && rb == 0)
        CHECK(!memcmp(a.scores, b.scores, sizeof(double) * n * 3) &&
                  !memcmp(a.sv, b.sv, sizeof(double) * 3),
              "two identical analyses differ");
    pca_free(&a);
    pca_free(&b);
    if (x) x[17] = NAN;
    CHECK(pca_scalapack(&g, x, n, d, 3, &a) == -1, "a NaN entry was accepted");
    if (x)
        for (int i = 0; i < n * d; i++) x[i] = 2.5f;
    CHECK(pca_scalapack(&g, x, n, d, 3, &a) == -1, "a constant matrix was accepted");
    CHECK(pca_scalapack(&g, x, 1, d, 3, &a) == -1, "one sample was accepted");
    free(x);
    pca_grid_free(&g);
}

static void test_separation_score(void) {
    if (world_rank != 0) return;
    /* 1-D scores: task 0 at {-1, -3}, task 1 at {1, 3}: means ±2, overall 0.
     * SB = 2·4 + 2·4 = 16, SW = 4 · 1 = 4. */
    const double z[4] = {-1, -3, 1, 3};
    const int t[4] = {0, 0, 1, 1};
    double ratio, r2;
    pca_task_separation(z, 4, 1, 1, t, 2, &ratio, &r2);
    CHECK_NEAR(ratio, 4.0, 1e-12, "SB/SW");
    CHECK_NEAR(r2, 0.8, 1e-12, "SB/(SB+SW)");
    /* kuse limits the space: a second column of pure within-task noise changes SW only */
    const double z2[8] = {-1, 1, -3, -1, 1, 1, 3, -1};
    pca_task_separation(z2, 4, 2, 1, t, 2, &ratio, &r2);
    CHECK_NEAR(ratio, 4.0, 1e-12, "SB/SW in the first column");
    pca_task_separation(z2, 4, 2, 2, t, 2, &ratio, &r2);
    CHECK_NEAR(ratio, 16.0 / 8.0, 1e-12, "SB/SW in two columns");
    /* one task only, or perfect clusters */
    const int one[4] = {1, 1, 1, 1};
    pca_task_separation(z, 4, 1, 1, one, 2, &ratio, &r2);
    CHECK(isnan(ratio) && isnan(r2), "one task gives %g %g", ratio, r2);
    const double tight[4] = {-2, -2, 2, 2};
    pca_task_separation(tight, 4, 1, 1, t, 2, &ratio, &r2);
    CHECK(isinf(ratio) && r2 == 1.0, "perfect separation gives %g %g", ratio, r2);
}

/* Probes survive result_pack/result_unpack bit for bit; a result without probes encodes
 * as before (no section); damaged sections are refused. */
static void test_result_probe_codec(void) {
    if (world_rank != 0) return;
    run_result r, back;
    result_init(&r);
    result_alloc(&r, 2, 2);
    result_set_scalar(&r, "x", "x", 1.0);
    char *plain, *buf;
    size_t plain_len, len;
    result_pack(&r, &plain, &plain_len);
    float *data = xmalloc(sizeof(float) * 6);
    int *task = xmalloc(sizeof(int) * 3);
    for (int i = 0; i < 6; i++) data[i] = (float)i - 2.5f;
    data[4] = -0.0f;
    for (int i = 0; i < 3; i++) task[i] = i % 2;
    result_add_probe(&r, 1, data, 3, 2, task);
    result_add_probe(&r, 0, xmalloc(4), 0, 1, xmalloc(4));   /* empty: not added, freed */
    CHECK(r.nprobe == 1, "nprobe %d", r.nprobe);
    result_pack(&r, &buf, &len);
    CHECK(len == plain_len + 12 + 12 + 3 * 4 + 6 * 4, "packed %zu bytes", len);
    CHECK(!memcmp(buf, plain, plain_len), "the section must only be appended");
    CHECK(result_unpack(&back, buf, len) == 0, "unpack failed");
    CHECK(back.nprobe == 1 && back.probe[0].stage == 1 && back.probe[0].rows == 3 &&
              back.probe[0].cols == 2 && back.probe[0].row_task[2] == 0 &&
              !memcmp(back.probe[0].data, r.probe[0].data, sizeof(float) * 6),
          "probe changed in transit");
    result_free(&back);
    /* every truncation is refused, except the one that cuts the whole section */
    int bad_accept = 0;
    for (size_t cut = plain_len + 1; cut < len; cut++)
        if (result_unpack(&back, buf, cut) == 0) {
            bad_accept++;
            result_free(&back);
        }
    CHECK(bad_accept == 0, "%d truncated buffers accepted", bad_accept);
    /* nprobe 0, negative task, zero rows, reserved bits */
    const size_t off_n = plain_len + 8, off_rows = plain_len + 16, off_task = plain_len + 28;
    const size_t offs[4] = {off_n, off_task + 3, off_rows, plain_len + 6};
    const unsigned char vals[4] = {0, 0x80, 0, 1};
    for (int c = 0; c < 4; c++) {
        char *mut = xmalloc(len);
        memcpy(mut, buf, len);
        if (c == 0 || c == 2) memset(mut + offs[c], vals[c], 4);
        else mut[offs[c]] = (char)vals[c];
        CHECK(result_unpack(&back, mut, len) == -1, "damaged section %d accepted", c);
        free(mut);
    }
    result_drop_probes(&r);
    CHECK(r.nprobe == 0 && !r.probe, "drop");
    free(plain);
    free(buf);
    result_free(&r);
}

/* SB/SW of the raw rows (the PC space keeps every dimension when cols ≤ components, and
 * SB/SW is invariant under translation and rotation). */
static double raw_separation(const result_probe *p, int ntasks) {
    double *z = xmalloc(sizeof(double) * (size_t)p->rows * (size_t)p->cols);
    for (long i = 0; i < (long)p->rows * p->cols; i++) z[i] = p->data[i];
    double ratio, r2;
    pca_task_separation(z, p->rows, p->cols, p->cols, p->row_task, ntasks, &ratio, &r2);
    free(z);
    return ratio;
}

/* The crashtest pipeline: run_execute collects one probe per stage; analysis_apply on the
 * whole world (a 1 × 2 grid under mpirun -np 2) turns them into extras that match the
 * matrices, the LAPACK fallback and the analytic prediction, and drops the probes. */
static void test_crashtest_pipeline(void) {
    analysis_group *ag = analysis_group_init(MPI_COMM_WORLD);
    if (world_rank != 0) {
        analysis_member_loop(ag);
        analysis_group_free(ag);
        return;
    }
    run_config cfg;
    make_cfg(&cfg, "crashtest", "teacher_student", "benchmark.blocks", "3", "benchmark.block_size",
             "5", "benchmark.test_size", "20", "analysis.samples_per_task", "300",
             "analysis.plot_points", "5", NULL);
    CHECK(cfg_get(&cfg, "analysis.when") && !strcmp(cfg_get(&cfg, "analysis.when"), "stage"),
          "crashtest reads analysis.when (default stage)");
    run_result r, r2;
    run_execute(&cfg, &r);
    run_execute(&cfg, &r2);
    CHECK(r.status == RUN_STATUS_OK && r.nprobe == 3, "status %d, %d probes", r.status, r.nprobe);
    double expect[3];
    for (int i = 0; i < r.nprobe && i < 3; i++) {
        CHECK(r.probe[i].stage == i && r.probe[i].rows == 600 && r.probe[i].cols == 4,
              "probe %d: stage %d, %dx%d", i, r.probe[i].stage, r.probe[i].rows, r.probe[i].cols);
        expect[i] = raw_separation(&r.probe[i], r.ntasks);
    }
    analysis_apply(ag, &cfg, &r);
    analysis_apply(NULL, &cfg, &r2);   /* LAPACK fallback */
    CHECK(r.nprobe == 0 && r2.nprobe == 0, "probes not dropped");
    const result_extra *sep = result_find(&r, "ws_separation"), *sep2 = result_find(&r2, "ws_separation");
    const result_extra *ev = result_find(&r, "ws_explained"), *pt = result_find(&r, "ws_point_task");
    const result_extra *pc1 = result_find(&r, "ws_pc1"), *ranks = result_find(&r, "ws_ranks");
    CHECK(sep && sep2 && ev && pt && pc1 && ranks, "extras missing");
    if (sep && sep2 && ev && pt && pc1 && ranks) {
        CHECK(ranks->data[0] == world_size, "ws_ranks %g", ranks->data[0]);
        CHECK(ev->shape[0] == 3 && ev->shape[1] == 10 && pt->shape[0] == 10, "extra shapes");
        for (int s = 0; s < 3; s++) {
            /* (n r² (T−1) + (T−1) D) / ((nT − T) D), n = 300, T = 2, D = 4, r = s + 1 */
            double rr = (s + 1.0) * (s + 1.0), predict = (300 * rr + 4) / ((600.0 - 2) * 4);
            printf("# stage %d: separation %.4f (matrix %.4f, LAPACK %.4f, predicted %.4f)\n", s,
                   sep->data[s], expect[s], sep2->data[s], predict);
            CHECK(fabs(sep->data[s] - expect[s]) < 1e-9 * expect[s], "ScaLAPACK vs matrix");
            CHECK(fabs(sep2->data[s] - expect[s]) < 1e-9 * expect[s], "LAPACK vs matrix");
            CHECK(fabs(sep->data[s] - predict) < 0.3 * predict, "far from the prediction");
            CHECK(s == 0 || sep->data[s] > sep->data[s - 1], "separation must grow with r");
            double evsum = 0;
            for (int c = 0; c < 4; c++) evsum += ev->data[s * 10 + c];
            CHECK(fabs(evsum - 1) < 1e-9 && isnan(ev->data[s * 10 + 4]),
                  "4 components explain everything (sum %g)", evsum);
        }
        CHECK(pt->data[0] == 0 && pt->data[4] == 0 && pt->data[5] == 1 && pt->data[9] == 1,
              "point slots: 5 of task 0 then 5 of task 1");
        for (int i = 0; i < 3 * 10; i++) CHECK(isfinite(pc1->data[i]), "pc1[%d] unset", i);
    }
    result_free(&r);
    result_free(&r2);
    cfg_free(&cfg);
    analysis_group_free(ag);
}

/* analysis.when = end collects the last stage only; none collects nothing; models without
 * a weights hook do not read the analysis keys (their run identity is unchanged). */
static void test_when_end_none_and_identity(void) {
    if (world_rank != 0) return;
    const char *whens[3] = {"end", "none", "stage"};
    int expect[3] = {1, 0, 4};
    for (int w = 0; w < 3; w++) {
        run_config cfg;
        make_cfg(&cfg, "crashtest", "teacher_student", "benchmark.blocks", "4",
                 "benchmark.block_size", "5", "benchmark.test_size", "20", "analysis.when",
                 whens[w], "analysis.samples_per_task", "10", NULL);
        run_result r;
        run_execute(&cfg, &r);
        CHECK(r.nprobe == expect[w], "analysis.when %s: %d probes", whens[w], r.nprobe);
        if (w == 0 && r.nprobe == 1) CHECK(r.probe[0].stage == 3, "end probe at stage %d", r.probe[0].stage);
        analysis_apply(NULL, &cfg, &r);
        const result_extra *sep = result_find(&r, "ws_separation");
        CHECK(w == 1 ? sep == NULL : sep && isnan(sep->data[0]) == (w == 0) && isfinite(sep->data[3]),
              "analysis.when %s: stage-wise extras", whens[w]);
        result_free(&r);
        cfg_free(&cfg);
    }
    run_config f;
    make_cfg(&f, "finetune", "teacher_student", "analysis.when", "end", NULL);
    CHECK(!cfg_get(&f, "analysis.when"), "finetune has no weights hook: analysis keys dropped");
    CHECK(param_find("analysis.components", NULL) != NULL, "analysis keys are registered");
    cfg_free(&f);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    RUN_MPI_TEST(test_lapack_known_singular_values);
    skip_or_run(1, 1, "test_scalapack_equals_lapack_grid_1x1");
    skip_or_run(1, 2, "test_scalapack_equals_lapack_grid_1x2");
    skip_or_run(2, 1, "test_scalapack_equals_lapack_grid_2x1");
    RUN_MPI_TEST(test_scalapack_deterministic_and_refuses_bad_input);
    RUN_MPI_TEST(test_separation_score);
    RUN_MPI_TEST(test_result_probe_codec);
    RUN_MPI_TEST(test_crashtest_pipeline);
    RUN_MPI_TEST(test_when_end_none_and_identity);
    pca_finalize();
    int failed = test_cases_failed + (world_rank == 0 ? test_unknown_selected() : 0);
    MPI_Finalize();
    return failed ? 1 : 0;
}
