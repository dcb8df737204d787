/* protocol.h — the continual-learning tuning protocol (issue 21): the sweep's `protocol:`
 * settings, their parsing with located errors, the phase-2 placeholders of the expansion,
 * and the selection (a pure function of the finished phase-1 results). Sweep layer:
 * implemented by src/sweep/protocol.c (settings, expansion, selection) and
 * src/sweep/protocol_sched.c (the master's side); called by sweep.c (parsing, expansion),
 * sched_master.c (through protocol_sched.h) and the tests.
 *
 *   protocol:
 *     tune: {tasks: 2, seeds: [100, 101]}   # phase 1: the first k tasks, the tune seeds
 *     select: {metric: acc, per: model}     # best configuration per model, mean over seeds
 *     evaluate: {seeds: 5}                  # phase 2: full stream, fresh seeds, the winner
 *
 * Phase 1 is the sweep's grid (or random draws) × tune seeds, each run's configuration
 * marked protocol.phase=1 and, with tasks: k, benchmark.tune_tasks=k (bench_init keeps
 * the first k tasks of the stream). Phase 2 is models × evaluate seeds placeholders
 * (protocol.phase=2, protocol.selected="(selected at run time)"), filled when every phase-1
 * run of their model has a final result: the winner's configuration with the evaluate seed,
 * protocol.selected = the winner's id (its lowest phase-1 run id). A filled run's id is
 * the hash of its configuration, like every run. */
#ifndef CLS_PROTOCOL_H
#define CLS_PROTOCOL_H

#include <yaml.h>

#include "config.h"
#include "result.h"

#define PROTOCOL_MAX_SEEDS 100000
#define PROTOCOL_PENDING "(selected at run time)"

enum { PROTO_SEL_ACC = 0, PROTO_SEL_BWT, PROTO_SEL_FWT, PROTO_SEL_FORGETTING };

typedef struct {
    int enabled;
    int tasks;                    /* phase 1: first k tasks (0: the whole stream) */
    size_t tasks_line, tasks_col; /* where tasks: was given (1-based), for errors */
    int ntune;
    long long *tune_seeds;
    int metric;                   /* PROTO_SEL_* */
    int neval;
    long long *eval_seeds;        /* disjoint from tune_seeds */
} protocol_spec;

const char *protocol_metric_name(int metric);

/* Parses the `protocol:` mapping node of doc (the sweep file at path). 0, or -1 with
 * cls_seterr "path:line:col: message". */
int protocol_parse(const char *path, yaml_document_t *doc, yaml_node_t *node, protocol_spec *sp);
void protocol_spec_free(protocol_spec *sp);

/* Expansion: marks a phase-1 configuration (after projection). */
void protocol_mark_tune(const protocol_spec *sp, run_config *cfg);
/* Checks tune.tasks against the stream of a phase-1 run (cfg, id): 0, or -1 with
 * cls_seterr "path:line:col: ..." at tasks:. */
int protocol_check_tasks(const protocol_spec *sp, const char *path, const run_config *cfg,
                         const char *id);
/* The placeholder of phase-2 run (model, evaluate seed e) into out (initialised here). */
void protocol_placeholder(const protocol_spec *sp, const char *bench, const char *model, int e,
                          run_config *out);


/* ---- the selection ---- */
typedef struct {
    char model[64];
    int ready;            /* every phase-1 run of the model has a final result */
    int found;            /* an eligible candidate exists */
    int winner_run;       /* index of the winner's first phase-1 run (-1: none) */
    char winner_id[17];   /* its lowest phase-1 run id */
    double mean;          /* the winner's mean metric over the tune seeds */
    double runner_up;     /* the second-best candidate's mean (NaN: none) */
    double margin;        /* |mean - runner_up| (NaN: none) */
    int nseeds;           /* tune seeds averaged */
    int ncandidates;      /* eligible candidates */
    int nineligible;      /* candidates left out (a run failed, diverged, pruned, unsupported) */
    int all_unsupported;  /* every phase-1 run is unsupported (the model cannot run here) */
} protocol_choice;

/* A candidate's runs: phase-1 run indices sharing everything but the seed. The selection
 * over nruns phase-1 runs of one model: phase1[k] are run indices, results[i] their final
 * results (NULL: not finished), ids[i] the runs' ids, cand[k] the candidate key of run
 * phase1[k] (its configuration without the seed). A candidate is eligible when every one of
 * its runs ended ok with a finite metric; the best mean wins (acc: higher when the metric
 * is higher-is-better, else lower; bwt, fwt: higher; forgetting: lower); ties go to the
 * lower candidate id. Pure function of its inputs. */
void protocol_select(const protocol_spec *sp, const char *model, const int *phase1, int n,
                     run_result *const *results, const char *const *ids,
                     const char *const *cand, protocol_choice *out);

/* The extras a phase-2 result carries (the selection, for the record) and phase 1's. */
void protocol_annotate(run_result *r, int phase, const protocol_choice *c);

#endif
