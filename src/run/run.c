/* run.c — executes one model run: benchmark → model → train stage by stage → evaluate every
 * task after every stage → metrics; the anytime curve (eval.every) through curve.c. Model trouble becomes a status, never an abort. Run
 * layer (run.h): called by the isolation wrapper (isolate.c), `clsweep single`, the tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#include "bench.h"
#include "curve.h"
#include "metrics.h"
#include "model.h"
#include "probe.h"
#include "stop.h"
#include "util.h"

/* Retention (EWGN paper): 100 · R[last][t0] / R[after first training of t0][t0], where t0 is
 * the first task trained; only for higher-is-better metrics. */
static void add_retention(run_result *res, const bench_t *b) {
    if (!res->higher_is_better || res->nstages < 2) return;
    int t0 = b->stage_task[0];
    double first = res->R[t0], last = res->R[(long)(res->nstages - 1) * res->ntasks + t0];
    if (first > 0)
        result_set_scalar(res, "retention", "100 * R[last][first task] / R[0][first task] (%)",
                          100.0 * last / first);
}

/* benchmark.task_scores: after stage s, scores every task again with its score_mask in place
 * of its class_mask (each task among its own classes) on the same trained model, into the
 * extra R_task (stage, task). Returns 0, or 1 when a score is not finite. Not for program
 * models (their eval_task replays the program's own scores, which no mask can change). */
static int add_task_scores(const run_config *cfg, const model_ops *ops, model_t *m, bench_t *b,
                           int s, run_result *res) {
    if (!b->ntasks || !b->tasks[0].score_mask || cfg_get(cfg, "program.command")) return 0;
    double *rt = result_array(res, "R_task", "accuracy of each task among its own classes "
                              "(task-incremental scoring of the class-trained model)",
                              "stage", b->nstages, "task", b->ntasks);
    int bad = 0;
    for (int t = 0; t < b->ntasks; t++) {
        int *keep = b->tasks[t].class_mask;
        b->tasks[t].class_mask = b->tasks[t].score_mask;
        double v = ops->eval_task(m, b, t);
        b->tasks[t].class_mask = keep;
        rt[(long)s * b->ntasks + t] = v;
        if (!isfinite(v)) bad = 1;
    }
    if (!bad && s == b->nstages - 1 && s > 0) {
        int t0 = b->stage_task[0];
        double first = rt[t0], last = rt[(long)s * b->ntasks + t0];
        if (first > 0)
            result_set_scalar(res, "retention_task", "100 * R_task[last][first task] / "
                              "R_task[0][first task] (%)", 100.0 * last / first);
    }
    return bad;
}

/* The stage report after stage s, recorded in the "acc_seen" extra. */
static void stage_report(run_result *res, const bench_t *b, int s, run_stage_report *rep) {
    const float *row = res->R + (long)s * b->ntasks;
    double seen = 0, all = 0;
    int nseen = 0;
    for (int t = 0; t < b->ntasks; t++) {
        all += row[t];
        int trained = 0;
        for (int u = 0; u <= s && !trained; u++) trained = b->stage_task[u] == t;
        if (trained) {
            seen += row[t];
            nseen++;
        }
    }
    memset(rep, 0, sizeof *rep);   /* padding too: it travels through a pipe */
    rep->stage = s;
    rep->nstages = b->nstages;
    rep->higher_is_better = b->higher_is_better;
    rep->acc_seen = nseen ? seen / nseen : NAN;
    rep->acc_all = b->ntasks ? all / b->ntasks : NAN;
    result_array(res, "acc_seen", "mean metric over the tasks trained so far, after each stage",
                 "stage", b->nstages, NULL, 0)[s] = rep->acc_seen;
}

void run_execute(const run_config *cfg, run_result *res) { run_execute_staged(cfg, res, NULL, NULL); }

void run_execute_staged(const run_config *cfg, run_result *res, run_stage_hook hook, void *ctx) {
    double t_start = cls_now();
    result_init(res);
    const char *mname = cfg_get(cfg, "model");
    const model_ops *ops = mname ? model_find_run(cfg) : NULL;
    if (!ops) {
        result_fail(res, RUN_STATUS_FAILED, "unknown model '%s'", mname ? mname : "(none)");
        return;
    }
    uint64_t seed = (uint64_t)cfg_int(cfg, "seed");
    bench_t b;
    if (bench_init(&b, cfg, seed)) {
        result_fail(res, RUN_STATUS_FAILED, "%s", cls_geterr());
        res->wall_seconds = cls_now() - t_start;
        return;
    }
    snprintf(res->metric, sizeof res->metric, "%s", b.metric);
    res->higher_is_better = b.higher_is_better;
    if (!(ops->kinds & b.kind)) {
        result_fail(res, RUN_STATUS_UNSUPPORTED, "model %s does not support %s benchmarks (%s)",
                    ops->name, b.kind == BENCH_KIND_CLASSIFICATION ? "classification"
                               : b.kind == BENCH_KIND_REGRESSION ? "regression" : "reconstruction",
                    b.name);
        bench_free(&b);
        res->wall_seconds = cls_now() - t_start;
        return;
    }
    const char *why = ops->accepts ? ops->accepts(&b, cfg) : NULL;
    if (why) {
        result_fail(res, RUN_STATUS_UNSUPPORTED, "unsupported: %s", why);
        bench_free(&b);
        res->wall_seconds = cls_now() - t_start;
        return;
    }
    result_alloc(res, b.nstages, b.ntasks);
    /* Under stage reports (prune:) an external program is followed while it runs, so that a
     * pruned run stops it at the boundary (src/models/external.c, docs/extending.md). */
    if (hook) setenv("CLSWEEP_STAGE_REPORTS", "1", 1);
    else unsetenv("CLSWEEP_STAGE_REPORTS");
    model_t *m = ops->init(cfg, &b, seed);
    if (!m) {
        result_fail(res, RUN_STATUS_FAILED, "init: %s", cls_geterr());
        bench_free(&b);
        res->wall_seconds = cls_now() - t_start;
        return;
    }
    for (int t = 0; t < b.ntasks; t++) res->R0[t] = (float)ops->eval_task(m, &b, t);
    run_curve curve;   /* eval.every: the anytime curve (curve.h) */
    run_curve_begin(&curve, cfg, ops, m, &b);
    for (int s = 0; s < b.nstages; s++) {
        if (stop_should_abandon()) {
            if (stop_launcher_gone())
                result_fail(res, RUN_STATUS_ABANDONED, "the launcher is gone: abandoned at stage %d", s);
            else
                result_fail(res, RUN_STATUS_ABANDONED, "stop requested (signal %d), grace period "
                            "over: abandoned at stage %d", (int)cls_stop_signal, s);
            break;
        }
        cls_seterr("%s", "");
        run_curve_stage(&curve, s);
        run_status st = ops->train_block(m, &b, s);
        if (st != RUN_STATUS_OK) {
            result_fail(res, st, "stage %d (task %s): %s", s, b.tasks[b.stage_task[s]].name,
                        cls_geterr()[0] ? cls_geterr() : run_status_name(st));
            break;
        }
        run_curve_end_stage(&curve, m);
        int bad = 0;
        for (int t = 0; t < b.ntasks; t++) {
            double v = ops->eval_task(m, &b, t);
            res->R[(long)s * b.ntasks + t] = (float)v;
            if (!isfinite(v)) bad = 1;
        }
        if (!bad) bad = add_task_scores(cfg, ops, m, &b, s, res);
        if (bad) {
            result_fail(res, RUN_STATUS_DIVERGED, "stage %d: non-finite evaluation metric", s);
            break;
        }
        if (ops->after_stage) ops->after_stage(m, &b, s, res);
        run_collect_probe(cfg, ops, m, &b, s, res);
        if (hook) {
            run_stage_report rep;
            stage_report(res, &b, s, &rep);
            if (s + 1 < b.nstages && !hook(ctx, &rep)) {
                result_fail(res, RUN_STATUS_PRUNED, "pruned after stage %d of %d", s, b.nstages);
                break;
            }
        }
    }
    if (res->status == RUN_STATUS_OK) {
        cl_metrics cm;
        metrics_compute_stream(&cm, res->R, res->R0, b.nstages, b.ntasks, b.stage_task,
                               b.higher_is_better);
        res->acc = cm.acc;
        res->bwt = cm.bwt;
        res->fwt = cm.fwt;
        res->forgetting = cm.forgetting;
        add_retention(res, &b);
        metrics_add_extras(res, b.stage_task);
        if (ops->report) ops->report(m, &b, res);
    }
    run_curve_finish(&curve, res, &b);
    ops->free(m);
    bench_free(&b);
    res->wall_seconds = cls_now() - t_start;
}
