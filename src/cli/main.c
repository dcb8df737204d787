/* main.c — the clsweep command line: run, expand, single, status, params, merge. */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis_mpi.h"
#include "bench.h"
#include "data.h"
#include "model.h"
#include "output.h"
#include "registry.h"
#include "run.h"
#include "scheduler.h"
#include "sweep.h"
#include "util.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

static void usage(FILE *f) {
    fprintf(f,
            "clsweep %s — MPI-distributed continual-learning experiment sweeper\n\n"
            "usage:\n"
            "  clsweep run SWEEP.yaml [--output FILE.nc] [--quiet] [--grace SECONDS] [--shard I/N]\n"
            "        run (or resume) a sweep; under mpirun/srun rank 0 is the master\n"
            "  clsweep expand SWEEP.yaml      list the runs without running them\n"
            "  clsweep single --model M --benchmark B [--seed N] [--set key=value ...]\n"
            "        one model run; prints R and the metrics\n"
            "  clsweep status FILE.nc         summarise a result file\n"
            "  clsweep merge OUT.nc PART.nc... [--sweep SWEEP.yaml] [--force]\n"
            "        combine the files of --shard jobs into one (exit 3: runs missing)\n"
            "  clsweep params [MODEL]         list the configuration keys, defaults and choices\n"
            "\nexit codes: 0 done, 2 error, 3 interrupted (resumable)\n",
            CLS_VERSION);
}

static void blas_threads(void) {
    const char *e = getenv("CLSWEEP_BLAS_THREADS");
    if (openblas_set_num_threads) openblas_set_num_threads(e ? atoi(e) : 1);
}

/* "I/N" with 0 <= I < N, both plain decimal numbers and nothing else ("0/2x", " 1/2",
 * "+1/2" are refused). 0, or -1. */
static int parse_shard(const char *s, int *index, int *count) {
    long v[2];
    for (int k = 0; k < 2; k++) {
        if (*s < '0' || *s > '9') return -1;
        char *end;
        errno = 0;
        v[k] = strtol(s, &end, 10);
        if (errno || v[k] > 1000000000L || *end != (k ? '\0' : '/')) return -1;
        s = end + 1;
    }
    if (v[1] < 1 || v[0] >= v[1]) return -1;
    *index = (int)v[0];
    *count = (int)v[1];
    return 0;
}

static int cmd_run(int argc, char **argv) {
    sched_options o;
    memset(&o, 0, sizeof o);
    o.grace_seconds = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) o.output = argv[++i];
        else if (!strcmp(argv[i], "--quiet")) o.quiet = 1;
        else if (!strcmp(argv[i], "--grace") && i + 1 < argc) o.grace_seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--shard") && i + 1 < argc) {
            if (parse_shard(argv[++i], &o.shard_index, &o.shard_count)) {
                fprintf(stderr, "clsweep: --shard expects I/N with 0 <= I < N, got '%s'\n", argv[i]);
                return SCHED_EXIT_ERROR;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "clsweep run: unknown option '%s'\n", argv[i]);
            return SCHED_EXIT_ERROR;
        } else if (!o.sweep_path) o.sweep_path = argv[i];
        else {
            fprintf(stderr, "clsweep run: unexpected argument '%s'\n", argv[i]);
            return SCHED_EXIT_ERROR;
        }
    }
    if (!o.sweep_path) {
        usage(stderr);
        return SCHED_EXIT_ERROR;
    }
    /* Before MPI_Init: SLURM's warning signal may arrive while the job is still starting. */
    sched_install_signals();
    blas_threads();
    MPI_Init(NULL, NULL);
    int rc = sched_run(&o);
    MPI_Finalize();
    data_cache_free();
    return rc;
}

static int cmd_expand(int argc, char **argv) {
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    sweep_t s;
    if (sweep_load(&s, argv[0])) {
        fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        return 2;
    }
    for (int i = 0; i < s.nruns; i++) {
        char *c = cfg_to_string(&s.runs[i].cfg);
        printf("%s %s\n", s.runs[i].id, c);
        free(c);
    }
    fprintf(stderr, "%d runs (%d before deduplication), output %s\n", s.nruns, s.n_before_dedup,
            s.output);
    sweep_free(&s);
    return 0;
}

static void print_result(const run_config *cfg, const run_result *r) {
    char *c = cfg_to_string(cfg);
    printf("config: %s\n", c);
    free(c);
    printf("status: %s%s%s\n", run_status_name(r->status), r->message[0] ? ": " : "", r->message);
    if (r->R) {
        printf("metric: %s (%s is better)\n", r->metric, r->higher_is_better ? "higher" : "lower");
        printf("R0    ");
        for (int t = 0; t < r->ntasks; t++) printf(" %8.4f", r->R0[t]);
        printf("\n");
        for (int s = 0; s < r->nstages; s++) {
            printf("R[%2d] ", s);
            for (int t = 0; t < r->ntasks; t++) printf(" %8.4f", r->R[(long)s * r->ntasks + t]);
            printf("\n");
        }
    }
    printf("acc %.6g  bwt %.6g  fwt %.6g  forgetting %.6g  wall %.2f s\n", r->acc, r->bwt, r->fwt,
           r->forgetting, r->wall_seconds);
    for (int i = 0; i < r->nextra; i++) {
        const result_extra *e = &r->extra[i];
        if (e->ndim == 0) {
            printf("%s %.6g\n", e->name, e->data[0]);
        } else if (e->ndim == 1 && e->shape[0] <= 64) {
            printf("%s[%s]", e->name, e->dim[0]);
            for (int k = 0; k < e->shape[0]; k++) printf(" %.4g", e->data[k]);
            printf("\n");
        } else {
            printf("%s: %d x %d array over (%s, %s)\n", e->name, e->shape[0],
                   e->ndim > 1 ? e->shape[1] : 1, e->dim[0], e->ndim > 1 ? e->dim[1] : "-");
        }
    }
}

static int cmd_single(int argc, char **argv) {
    const char *model = NULL, *bench = NULL;
    run_config cfg;
    cfg_init(&cfg);
    int rc = 2;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--benchmark") && i + 1 < argc) bench = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) cfg_set(&cfg, "seed", argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "clsweep single: --set expects key=value, got '%s'\n", kv);
                goto done;
            }
            *eq = 0;
            const param_spec *ps = param_find(kv, model);
            if (!ps) {
                char *keys = param_list_keys("");
                fprintf(stderr, "clsweep single: unknown key '%s': expected one of %s\n", kv, keys);
                free(keys);
                goto done;
            }
            char canon[512];
            if (param_canonicalise(ps, eq + 1, canon, sizeof canon)) {
                fprintf(stderr, "clsweep single: %s\n", cls_geterr());
                goto done;
            }
            cfg_set(&cfg, kv, canon);
        } else {
            fprintf(stderr, "clsweep single: unknown argument '%s'\n", argv[i]);
            goto done;
        }
    }
    if (!model || !bench) {
        fprintf(stderr, "clsweep single: --model and --benchmark are required (models: %s)\n",
                model_names());
        goto done;
    }
    if (cfg_fill_defaults(&cfg, model, bench)) {
        fprintf(stderr, "clsweep single: %s\n", cls_geterr());
        goto done;
    }
    for (int i = 0; i < cfg.n; i++) {   /* --set keys the run will not see */
        const char *k = cfg.e[i].key;
        if (strcmp(k, "model") && strcmp(k, "seed") && strcmp(k, "benchmark.name") &&
            !param_model_reads(model, bench, k))
            fprintf(stderr, "clsweep single: note: %s is not read by %s on %s; ignored\n", k, model,
                    bench);
    }
    cfg_project(&cfg, model, bench);
    blas_threads();
    run_result r;
    run_execute(&cfg, &r);
    analysis_apply(NULL, &cfg, &r);   /* weight-space analysis on one process (LAPACK path) */
    print_result(&cfg, &r);
    rc = r.status == RUN_STATUS_OK ? 0 : r.status == RUN_STATUS_FAILED ? 2 : 1;
    result_free(&r);
done:
    cfg_free(&cfg);
    data_cache_free();
    return rc;
}

static void print_params(const param_spec *p, int n) {
    static const char *tn[] = {"int", "float", "str", "bool", "intlist"};
    for (int i = 0; i < n; i++)
        printf("  %-26s %-7s default %-8s %s%s%s%s\n", p[i].key, tn[p[i].type], p[i].def[0] ? p[i].def : "-",
               p[i].help, p[i].choices ? "  {" : "", p[i].choices ? p[i].choices : "", p[i].choices ? "}" : "");
}

static int cmd_params(int argc, char **argv) {
    for (int i = 0; i < model_count; i++) {
        const model_ops *m = model_table[i];
        if (argc > 0 && strcmp(argv[0], m->name)) continue;
        printf("model %s\n", m->name);
        print_params(m->params, m->nparams);
    }
    if (argc == 0) {
        printf("weight-space analysis (models with a weights hook)\n");
        print_params(analysis_params, analysis_nparams);
    }
    if (argc == 0)
        for (int i = 0; i < bench_nspecs; i++) {
            printf("benchmark %s\n", bench_specs[i].name);
            print_params(bench_specs[i].params, bench_specs[i].nparams);
        }
    return 0;
}

static int cmd_merge(int argc, char **argv) {
    const char *sweep = NULL, *out = NULL;
    int force = 0, nparts = 0;
    char **parts = xcalloc((size_t)argc + 1, sizeof *parts);
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--sweep") && i + 1 < argc) sweep = argv[++i];
        else if (!strcmp(argv[i], "--force")) force = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "clsweep merge: unknown option '%s'\n", argv[i]);
            free(parts);
            return 2;
        } else if (!out) out = argv[i];
        else parts[nparts++] = argv[i];
    }
    merge_stats st;
    int rc = 2;
    struct stat sb;
    if (!out || nparts == 0) {
        fprintf(stderr, "usage: clsweep merge OUT.nc PART.nc... [--sweep SWEEP.yaml] [--force]\n");
    } else if (!force && stat(out, &sb) == 0) {
        fprintf(stderr, "clsweep merge: %s exists (is it a part?); pass --force to overwrite it\n", out);
    } else if (output_merge(sweep, out, parts, nparts, &st)) {
        fprintf(stderr, "clsweep merge: error: %s\n", cls_geterr());
    } else {
        fprintf(stderr, "clsweep merge: %s: %d of %d runs from %d part(s)", out, st.nmerged,
                st.nruns, nparts);
        if (st.nduplicates) fprintf(stderr, ", %d duplicate(s)", st.nduplicates);
        if (st.nstray) fprintf(stderr, ", %d result(s) of no run of the sweep left out", st.nstray);
        if (st.nmissing) fprintf(stderr, "; %d run(s) MISSING", st.nmissing);
        fprintf(stderr, "\n");
        rc = st.nmissing ? 3 : 0;
    }
    free(parts);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clsweep %s\n", CLS_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "expand")) return cmd_expand(argc - 2, argv + 2);
    if (!strcmp(cmd, "single")) return cmd_single(argc - 2, argv + 2);
    if (!strcmp(cmd, "params")) return cmd_params(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge")) return cmd_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "status")) {
        if (argc != 3) {
            usage(stderr);
            return 2;
        }
        if (output_status(argv[2], stdout)) {
            fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
            return 2;
        }
        return 0;
    }
    fprintf(stderr, "clsweep: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
