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
#include "train.h"
#include "util.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

static void usage(FILE *f) {
    fprintf(f,
            "clsweep %s — MPI-distributed continual-learning experiment sweeper\n\n"
            "usage:\n"
            "  clsweep run SWEEP.yaml [--output FILE.nc] [--quiet | --progress] [--grace SECONDS]\n"
            "              [--shard I/N]\n"
            "        run (or resume) a sweep; under mpirun/srun rank 0 is the master\n"
            "  clsweep expand SWEEP.yaml [--swept]\n"
            "        list the runs (resolved configurations; --swept: only the keys that vary)\n"
            "        and the training budget per model\n"
            "  clsweep single --model M --benchmark B [--seed N] [--set key=value ...]\n"
            "  clsweep single --sweep SWEEP.yaml --model M [--benchmark B] [--seed N] [--set ...]\n"
            "        one model run; prints R and the metrics (--sweep: M may be a program or\n"
            "        plugin declared there; without --benchmark, M's first run of the sweep)\n"
            "  clsweep status FILE.nc         summarise a result file\n"
            "  clsweep merge OUT.nc PART.nc... [--sweep SWEEP.yaml] [--force]\n"
            "        combine the files of --shard jobs into one (exit 3: runs missing)\n"
            "  clsweep params [--sweep SWEEP.yaml] [MODEL|BENCHMARK]\n"
            "        list the configuration keys, defaults, choices (--sweep: with the\n"
            "        programs and plugins it declares)\n"
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
    int progress = 0;
    sched_options o;
    memset(&o, 0, sizeof o);
    o.grace_seconds = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) o.output = argv[++i];
        else if (!strcmp(argv[i], "--quiet")) o.quiet = 1;
        else if (!strcmp(argv[i], "--progress")) progress = 1;
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
    if (progress && o.quiet) {
        fprintf(stderr, "clsweep run: --progress and --quiet contradict each other\n");
        return SCHED_EXIT_ERROR;
    }
    sweep_force_progress(progress);   /* progress lines even when the file says quiet: true */
    /* Before MPI_Init: SLURM's warning signal may arrive while the job is still starting. */
    sched_install_signals();
    blas_threads();
    MPI_Init(NULL, NULL);
    int rc = sched_run(&o);
    MPI_Finalize();
    data_cache_free();
    return rc;
}

/* One row of the budget table: a model and one distinct training budget of its runs. */
typedef struct {
    const char *model;
    train_budget tb;
    int nruns;
} budget_row;

static int same_budget(const train_budget *a, const train_budget *b) {
    return !strcmp(a->optimizer, b->optimizer) && a->lr == b->lr && a->batch == b->batch &&
           a->examples == b->examples && a->steps == b->steps;
}

/* Whether run r's model can run the sweep's benchmark (else it is recorded unsupported). */
static int supported(const sweep_t *s, int i) {
    /* the store interns texts: equal names are equal pointers, so the last answer is reused */
    static const char *last_m, *last_b;
    static int last;
    const char *mn = sweep_str(s, i, "model"), *bn = sweep_str(s, i, "benchmark.name");
    if (mn == last_m && bn == last_b) return last;
    const model_ops *m = model_find(mn);
    const bench_spec *b = bench_find(bn);
    last_m = mn;
    last_b = bn;
    return last = m && b && (m->kinds & (unsigned)b->kind);
}

/* The benchmark.* part of run r's configuration: runs with equal text see the same data. */
static char *bench_point(const sweep_t *s, int r) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&buf, &len, &cap, "%s", "");
    for (int i = 0; i < sweep_nkeys(s, r); i++)
        if (!strncmp(sweep_key(s, r, i), "benchmark.", 10))
            cls_strappend(&buf, &len, &cap, "%s%s=%s", len ? " " : "", sweep_key(s, r, i),
                          sweep_val(s, r, i));
    return buf;
}

/* Per model, the optimiser, step size, batch, examples and gradient steps of one block
 * (nominal sizes), and a warning for every benchmark setting under which the models of the
 * sweep see different numbers of examples per block. Returns the number of warnings. */
static int print_budgets(const sweep_t *s, FILE *f) {
    budget_row *rows = xcalloc((size_t)s->nruns + 1, sizeof *rows);
    train_budget *tb = xcalloc((size_t)s->nruns + 1, sizeof *tb);
    int nrows = 0, nwarn = 0;
    for (int i = 0; i < s->nruns; i++) {
        if (!supported(s, i)) continue;
        run_config cfg;
        sweep_cfg_view(s, i, &cfg);
        model_budget(&cfg, &tb[i]);
        cfg_free(&cfg);
        const char *m = sweep_str(s, i, "model");
        int j = 0;
        while (j < nrows && !(!strcmp(rows[j].model, m) && same_budget(&rows[j].tb, &tb[i]))) j++;
        if (j == nrows) {
            rows[nrows].model = m;
            rows[nrows++].tb = tb[i];
        }
        rows[j].nruns++;
    }
    fprintf(f, "training budget per block (nominal sizes; examples = epochs x training examples "
               "per task, or steps x batch):\n");
    fprintf(f, "  %-10s %-9s %-10s %6s %14s %12s %6s\n", "model", "optimizer", "lr", "batch",
            "examples/block", "steps/block", "runs");
    for (int j = 0; j < nrows; j++) {
        const train_budget *b = &rows[j].tb;
        if (!b->optimizer[0])
            fprintf(f, "  %-10s %-9s %-10s %6s %14s %12s %6d\n", rows[j].model, "-", "-", "-", "-",
                    "-", rows[j].nruns);
        else
            fprintf(f, "  %-10s %-9s %-10.4g %6d %14.0f %12.0f %6d\n", rows[j].model, b->optimizer,
                    b->lr, b->batch, b->examples, b->steps, rows[j].nruns);
    }
    /* Equal data per block: compare the models within each benchmark setting. */
    char **done = xcalloc((size_t)s->nruns + 1, sizeof *done);
    int ndone = 0;
    for (int i = 0; i < s->nruns; i++) {
        if (!supported(s, i) || !tb[i].optimizer[0]) continue;
        char *pt = bench_point(s, i);
        int seen = 0;
        for (int d = 0; d < ndone && !seen; d++) seen = !strcmp(done[d], pt);
        if (seen) {
            free(pt);
            continue;
        }
        done[ndone++] = pt;
        double lo = tb[i].examples, hi = tb[i].examples;
        const char *mlo = sweep_str(s, i, "model"), *mhi = mlo;
        for (int k = i + 1; k < s->nruns; k++) {
            if (!supported(s, k) || !tb[k].optimizer[0]) continue;
            char *q = bench_point(s, k);
            int same = !strcmp(q, pt);
            free(q);
            if (!same) continue;
            if (tb[k].examples < lo) lo = tb[k].examples, mlo = sweep_str(s, k, "model");
            if (tb[k].examples > hi) hi = tb[k].examples, mhi = sweep_str(s, k, "model");
        }
        if (lo != hi) {
            fprintf(f, "warning: the models of this sweep see different data per block: %s %.0f "
                       "examples, %s %.0f (at %s); make the difference explicit or equal it\n",
                    mlo, lo, mhi, hi, pt);
            nwarn++;
        }
    }
    for (int d = 0; d < ndone; d++) free(done[d]);
    free(done);
    free(rows);
    free(tb);
    return nwarn;
}

/* Whether two runs holding key hold different values of it (seed included). */
static int key_varies(const sweep_t *s, const char *key) {
    const char *first = NULL;
    for (int i = 0; i < s->nruns; i++) {
        const char *v = sweep_get(s, i, key);
        if (!v) continue;
        if (!first) first = v;
        else if (strcmp(v, first)) return 1;
    }
    return 0;
}

/* expand --swept: per run its id, model and the keys that vary; then runs per model. */
static void print_swept(const sweep_t *s) {
    const char **keys = xcalloc(1, sizeof *keys), **fixed = xcalloc(1, sizeof *fixed);
    int nkeys = 0, nfixed = 0;   /* fixed: keys found not to vary (each key checked once) */
    for (int i = 0; i < s->nruns; i++)
        for (int e = 0; e < sweep_nkeys(s, i); e++) {
            const char *k = sweep_key(s, i, e);
            int seen = !strcmp(k, "model");
            for (int j = 0; j < nkeys && !seen; j++) seen = !strcmp(keys[j], k);
            for (int j = 0; j < nfixed && !seen; j++) seen = !strcmp(fixed[j], k);
            if (seen) continue;
            if (!key_varies(s, k)) {
                fixed = xrealloc(fixed, sizeof *fixed * (size_t)(nfixed + 1));
                fixed[nfixed++] = k;
                continue;
            }
            keys = xrealloc(keys, sizeof *keys * (size_t)(nkeys + 1));
            keys[nkeys++] = k;
        }
    free(fixed);
    for (int i = 0; i < s->nruns; i++) {
        printf("%s %-9s", s->runs[i].id, sweep_str(s, i, "model"));
        for (int j = 0; j < nkeys; j++) {
            const char *v = sweep_get(s, i, keys[j]);
            if (v) printf(" %s=%s", keys[j], v);
        }
        printf("\n");
    }
    free(keys);
}

static int cmd_expand(int argc, char **argv) {
    const char *path = NULL;
    int swept = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--swept")) swept = 1;
        else if (argv[i][0] == '-' || path) {
            usage(stderr);
            return 2;
        } else path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    sweep_t s;
    if (sweep_load(&s, path)) {
        fprintf(stderr, "clsweep: error: %s\n", cls_geterr());
        return 2;
    }
    for (int i = 0; i < s.nwarnings; i++) fprintf(stderr, "%s\n", s.warnings[i]);
    if (swept) {
        print_swept(&s);
    } else {
        for (int i = 0; i < s.nruns; i++) {
            /* one line per run, written from the compact store without a copy */
            fputs(s.runs[i].id, stdout);
            for (int j = 0; j < sweep_nkeys(&s, i); j++) {
                fputc(' ', stdout);
                fputs(sweep_key(&s, i, j), stdout);
                fputc('=', stdout);
                fputs(sweep_val(&s, i, j), stdout);
            }
            fputc('\n', stdout);
        }
    }
    print_budgets(&s, stderr);
    /* runs per model, in the order of the sweep's models */
    fprintf(stderr, "runs per model:");
    {   /* linear: one pass, a short list of the distinct models in order of appearance */
        const char **names = xcalloc((size_t)s.nruns + 1, sizeof *names);
        int *counts = xcalloc((size_t)s.nruns + 1, sizeof *counts), nm = 0;
        for (int i = 0; i < s.nruns; i++) {
            const char *m = sweep_str(&s, i, "model");
            int j = 0;
            while (j < nm && strcmp(names[j], m)) j++;
            if (j == nm) names[nm++] = m;
            counts[j]++;
        }
        for (int j = 0; j < nm; j++) fprintf(stderr, " %s %d", names[j], counts[j]);
        free(names);
        free(counts);
    }
    fprintf(stderr, "\n%d runs (%d before deduplication), output %s\n", s.nruns, s.n_before_dedup,
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

/* `--sweep FILE` of single and params: loads the sweep so that its programs and plugins are
 * models (sweep_load registers them). 1 when given and loaded, 0 when absent, -1 on error. */
static int load_sweep_models(int argc, char **argv, const char *cmd, sweep_t *sw) {
    memset(sw, 0, sizeof *sw);
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--sweep")) {
            if (sweep_load(sw, argv[i + 1])) {
                fprintf(stderr, "clsweep %s: %s\n", cmd, cls_geterr());
                return -1;
            }
            return 1;
        }
    return 0;
}

static int cmd_single(int argc, char **argv) {
    const char *model = NULL, *bench = NULL;
    run_config cfg;
    cfg_init(&cfg);
    int rc = 2;
    sweep_t sw;
    int have_sweep = load_sweep_models(argc, argv, "single", &sw);
    if (have_sweep < 0) return 2;
    /* --model and --benchmark first: what a --set key means depends on them */
    for (int i = 0; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--benchmark")) bench = argv[i + 1];
    }
    if (have_sweep && model && !bench) {   /* the model's first run of the sweep */
        for (int r = 0; r < sw.nruns && !bench; r++)
            if (!strcmp(sweep_get(&sw, r, "model"), model)) {
                cfg_free(&cfg);
                sweep_cfg(&sw, r, &cfg);
                bench = sweep_get(&sw, r, "benchmark.name");   /* sw outlives cfg */
            }
        if (!bench) {
            fprintf(stderr, "clsweep single: the sweep has no run of model '%s'\n", model);
            goto done;
        }
    }
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "--model") || !strcmp(argv[i], "--benchmark") ||
             !strcmp(argv[i], "--sweep")) && i + 1 < argc) i++;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) cfg_set(&cfg, "seed", argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "clsweep single: --set expects key=value, got '%s'\n", kv);
                goto done;
            }
            *eq = 0;
            if (!strcmp(kv, "train.epochs")) {   /* the documented alias (data-set benchmarks) */
                const bench_spec *bs = bench ? bench_find(bench) : NULL;
                if (!bs || bs->batch_key) {
                    fprintf(stderr, "clsweep single: train.epochs %s; set benchmark.block_size\n",
                            bs ? "does not apply to a generated stream (blocks are steps)"
                               : "needs --benchmark first (an alias of benchmark.block_size)");
                    goto done;
                }
                kv = "benchmark.block_size";
            }
            const param_spec *ps = param_find(kv, model);
            if (!ps && model && param_find(kv, NULL)) {
                fprintf(stderr, "clsweep single: %s is not read by %s (it is a key of", kv, model);
                for (int m = 0, n = 0; m < model_count; m++)
                    if (param_find(kv, model_table[m]->name))
                        fprintf(stderr, "%s %s", n++ ? "," : "", model_table[m]->name);
                fprintf(stderr, "); nothing was run\n");
                goto done;
            }
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
    if (have_sweep) sweep_free(&sw);
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
    sweep_t sw;
    int have_sweep = load_sweep_models(argc, argv, "params", &sw);
    if (have_sweep < 0) return 2;
    if (have_sweep) {
        sweep_free(&sw);   /* its programs and plugins stay registered */
        argc -= 2;
        for (int i = 0; i < argc; i++)   /* drop "--sweep FILE" */
            if (!strcmp(argv[i], "--sweep")) {
                memmove(argv + i, argv + i + 2, sizeof *argv * (size_t)(argc - i));
                break;
            }
    }
    if (argc > 1) {
        fprintf(stderr, "usage: clsweep params [--sweep SWEEP.yaml] [MODEL|BENCHMARK]\n");
        return 2;
    }
    if (argc == 1 && !model_find(argv[0])) {
        const bench_spec *b = bench_find(argv[0]);
        if (!b) {
            fprintf(stderr, "clsweep params: unknown model or benchmark '%s': models: %s; "
                    "benchmarks:", argv[0], model_names());
            for (int i = 0; i < bench_nspecs; i++)
                fprintf(stderr, "%s %s", i ? "," : "", bench_specs[i].name);
            fprintf(stderr, "\n");
            return 2;
        }
        printf("benchmark %s\n", b->name);
        print_params(b->params, b->nparams);
        return 0;
    }
    for (int i = 0; i < model_count; i++) {
        const model_ops *m = model_table[i];
        if (argc > 0 && strcmp(argv[0], m->name)) continue;
        printf("model %s\n", m->name);
        print_params(m->params, m->nparams);
    }
    for (int i = 0; i < model_extra_count(); i++) {   /* the sweep's programs and plugins */
        const model_ops *m = model_extra_at(i);
        if (argc > 0 && strcmp(argv[0], m->name)) continue;
        printf("model %s (%s)\n", m->name, m->nparams && !strcmp(m->params[0].key, "plugin.path") ? "plugin" : "program");
        print_params(m->params, m->nparams);
    }
    if (argc == 0) {
        printf("model-scoped training overrides: MODEL.train.KEY sets train.KEY for MODEL only "
               "(e.g. ewgn.train.batch_size)\n"
               "alias: train.epochs = benchmark.block_size on data-set benchmarks\n");
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
