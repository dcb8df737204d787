/* analysis.c — the weight-space analysis: analysis.* keys, and the leader/member protocol
 * that runs pca_scalapack on a group's grid (analysis.h, analysis_mpi.h). Analysis layer:
 * called by the registry (keys), the run layer (stage selection), the scheduler and the CLI.
 * Probe collection itself is the run layer's (src/run/probe.c).
 *
 * Group protocol, on the group communicator (leader = rank 0; tags from cls_mpi.h):
 *   TAG_WS_ANALYSE leader → member: int32 count; then `count` pca_scalapack calls follow
 *                  (the grid is created on the first one, on every rank alike)
 *   TAG_WS_STOP    leader → member: empty; the grid is released (collective) and the
 *                  member returns */
#include "analysis_mpi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cls_mpi.h"
#include "pca.h"
#include "stop.h"
#include "util.h"

const param_spec analysis_params[] = {
    {"analysis.when", PARAM_STR, "stage", "stage|end|none", 0, 0,
     "weight-space analysis after every stage, after the last only, or never"},
    {"analysis.samples_per_task", PARAM_INT, "100", NULL, 1, 100000,
     "probe samples per task: rows of the analysed matrix"},
    {"analysis.components", PARAM_INT, "10", NULL, 1, 1000,
     "principal components kept (explained variance; separation space)"},
    {"analysis.plot_points", PARAM_INT, "20", NULL, 0, 10000,
     "samples per task whose 2-D PC coordinates are stored"},
};
const int analysis_nparams = (int)(sizeof analysis_params / sizeof analysis_params[0]);

struct analysis_group {
    MPI_Comm comm;
    int rank, size;
    int grid_state;     /* 0 not yet created, 1 ready, -1 creation failed */
    pca_grid grid;
};

/* An int key of cfg, or def when the config does not carry it. */
static int cfg_int_or(const run_config *cfg, const char *key, int def) {
    return cfg_get(cfg, key) ? (int)cfg_int(cfg, key) : def;
}

int analysis_wants_stage(const run_config *cfg, int stage, int nstages) {
    const char *when = cfg_get(cfg, "analysis.when");
    if (!when || !strcmp(when, "none")) return 0;
    return strcmp(when, "end") || stage == nstages - 1;
}

int analysis_samples_per_task(const run_config *cfg) {
    return cfg_int_or(cfg, "analysis.samples_per_task", 100);
}

/* ---- the group ---- */

analysis_group *analysis_group_init(MPI_Comm comm) {
    analysis_group *g = xcalloc(1, sizeof *g);
    g->comm = comm;
    CLS_MPI_CHECK(MPI_Comm_rank(comm, &g->rank));
    CLS_MPI_CHECK(MPI_Comm_size(comm, &g->size));
    g->grid.ctxt = -1;
    g->grid.comm = MPI_COMM_NULL;
    return g;
}

/* Same call on every rank of the group, at the same point of the protocol. */
static void ensure_grid(analysis_group *g) {
    if (g->grid_state) return;
    g->grid_state = pca_grid_init(&g->grid, g->comm, 0, 0, 64) ? -1 : 1;
    if (g->grid_state < 0 && g->rank == 0)
        fprintf(stderr, "clsweep: weight-space analysis falls back to LAPACK: %s\n", cls_geterr());
}

void analysis_group_free(analysis_group *g) {
    if (!g) return;
    if (g->rank == 0)
        for (int q = 1; q < g->size; q++)
            CLS_MPI_CHECK(MPI_Send(NULL, 0, MPI_BYTE, q, TAG_WS_STOP, g->comm));
    if (g->grid_state > 0) pca_grid_free(&g->grid);
    if (g->grid_state) pca_finalize();
    free(g);
}

void analysis_member_loop(analysis_group *g) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        double backoff = 1e-5;
        for (;;) {
            CLS_MPI_CHECK(MPI_Iprobe(0, MPI_ANY_TAG, g->comm, &flag, &st));
            if (flag) break;
            if (stop_launcher_gone()) return;   /* the job is gone: nobody to serve */
            cls_sleep_backoff(&backoff, 0.01);
        }
        int count = 0;
        if (st.MPI_TAG != TAG_WS_ANALYSE) {
            CLS_MPI_CHECK(MPI_Recv(NULL, 0, MPI_BYTE, 0, st.MPI_TAG, g->comm, MPI_STATUS_IGNORE));
            return;
        }
        CLS_MPI_CHECK(MPI_Recv(&count, 1, MPI_INT, 0, TAG_WS_ANALYSE, g->comm, MPI_STATUS_IGNORE));
        ensure_grid(g);
        for (int i = 0; i < count && g->grid_state > 0; i++) {
            pca_result r;
            pca_scalapack(&g->grid, NULL, 0, 0, 0, &r);
            pca_free(&r);
        }
    }
}

/* Records one analysed probe as extras. */
static void store(run_result *res, const result_probe *p, const pca_result *pr, int K, int P,
                  int ranks) {
    int ns = res->nstages, nt = res->ntasks, s = p->stage;
    double ratio, r2;
    pca_task_separation(pr->scores, pr->n, pr->k, pr->k, p->row_task, nt, &ratio, &r2);
    result_array(res, "ws_separation", "between/within-task scatter ratio in the top-k PC space",
                 "stage", ns, NULL, 0)[s] = ratio;
    result_array(res, "ws_task_r2", "share of the top-k PC scatter explained by the task",
                 "stage", ns, NULL, 0)[s] = r2;
    double *ev = result_array(res, "ws_explained", "explained-variance ratio of each top component",
                              "stage", ns, "ws_component", K);
    for (int c = 0; c < pr->k && c < K; c++) ev[(long)s * K + c] = pr->explained[c];
    if (P > 0 && nt > 0) {
        int np = nt * P;
        double *pt = result_array(res, "ws_point_task", "task of each plotted point", "ws_point", np,
                                  NULL, 0);
        double *x1 = result_array(res, "ws_pc1", "coordinate on principal component 1", "stage", ns,
                                  "ws_point", np);
        double *x2 = result_array(res, "ws_pc2", "coordinate on principal component 2", "stage", ns,
                                  "ws_point", np);
        int *used = xcalloc((size_t)nt, sizeof *used);
        for (int i = 0; i < pr->n; i++) {
            int t = p->row_task[i];
            if (t < 0 || t >= nt || used[t] >= P) continue;
            int slot = t * P + used[t]++;
            pt[slot] = t;
            x1[(long)s * np + slot] = pr->scores[(long)i * pr->k];
            x2[(long)s * np + slot] = pr->k > 1 ? pr->scores[(long)i * pr->k + 1] : 0.0;
        }
        free(used);
    }
    result_set_scalar(res, "ws_features", "columns of the weight-space matrix", p->cols);
    result_set_scalar(res, "ws_ranks", "ranks of the process grid of the weight-space analysis",
                      ranks);
}

void analysis_apply(analysis_group *g, const run_config *cfg, run_result *res) {
    if (res->nprobe == 0) return;
    double t0 = cls_now();
    int K = cfg_int_or(cfg, "analysis.components", 10);
    int P = cfg_int_or(cfg, "analysis.plot_points", 20);
    int count = res->nprobe;
    if (g) {
        for (int q = 1; q < g->size; q++)
            CLS_MPI_CHECK(MPI_Send(&count, 1, MPI_INT, q, TAG_WS_ANALYSE, g->comm));
        ensure_grid(g);
    }
    int distributed = g && g->grid_state > 0;
    for (int i = 0; i < count; i++) {
        const result_probe *p = &res->probe[i];
        /* A probe that does not fit the result is passed on as NULL: every rank then skips
         * it together. */
        int fits = p->stage >= 0 && p->stage < res->nstages;
        const float *x = fits ? p->data : NULL;
        pca_result pr;
        int rc = distributed ? pca_scalapack(&g->grid, x, p->rows, p->cols, K, &pr)
                             : pca_lapack(x, p->rows, p->cols, K, &pr);
        if (rc) {
            fprintf(stderr, "clsweep: weight-space analysis of stage %d skipped: %s\n", p->stage,
                    fits ? cls_geterr() : "stage out of range");
            continue;
        }
        store(res, p, &pr, K, P, distributed ? g->grid.nprow * g->grid.npcol : 1);
        pca_free(&pr);
    }
    result_drop_probes(res);
    res->wall_seconds += cls_now() - t0;
}
