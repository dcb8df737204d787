/* prune.h — stage-aware successive halving (issue 21): the sweep's `prune:` settings, their
 * parsing (src/sweep/prune_cfg.c), and the master's book of rung values and decisions
 * (src/sweep/prune.c), built on the decision rule of search_prune.h. Sweep layer: called by
 * sweep.c (parsing), the scheduler's master (prune_sched.c) and the tests.
 *
 * A rung is the boundary after stage s (0-based) when s + 1 >= min_stages and stages
 * remain. At a rung a run's value is its stage report's metric (run.h: acc_seen or
 * acc_all). Asynchronous (ASHA): a run arriving at a rung continues iff it is in the top
 * 1/eta of the runs of its group that arrived there before it (depends on arrival order).
 * Synchronous: a rung's decisions are made once every run of the group has reached it or
 * ended; runs keep computing meanwhile (speculatively), and a run pruned at rung s is
 * recorded as it was after stage s whatever it computed since — so the recorded results are
 * a pure function of the runs' values. A pruned run is recorded in a canonical form
 * (prune_canonical): status pruned, R rows after its rung NaN, no end-of-stream metrics,
 * extras only acc_seen and stage_reached. */
#ifndef CLS_PRUNE_H
#define CLS_PRUNE_H

#include <yaml.h>

#include "result.h"
#include "run.h"
#include "search_prune.h"

#define PRUNE_MAX_KEYS 8

enum { PRUNE_ACC_SEEN = 0, PRUNE_ACC_ALL = 1 };

typedef struct {
    int enabled;
    int metric;                       /* PRUNE_ACC_SEEN | PRUNE_ACC_ALL */
    double eta;                       /* > 1 (default 3) */
    int min_stages;                   /* >= 1 (default 1) */
    int synchronous;                  /* default 0 */
    int ngroup;
    char group_by[PRUNE_MAX_KEYS][64];/* keys whose values form a group (default: model) */
} prune_spec;

const char *prune_metric_name(int metric);

/* Parses the `prune:` mapping node of doc (from the sweep file at path) into *sp. Keys:
 * metric (acc_seen | acc_all), eta (number > 1), min_stages (integer >= 1), group_by (list
 * of keys among `known` [nknown]), synchronous (true | false). 0, or -1 with cls_seterr
 * "path:line:col: message" naming what was expected. */
int prune_parse(const char *path, yaml_document_t *doc, yaml_node_t *node,
                const char *const *known, int nknown, prune_spec *sp);

/* ---- the master's book ---- */
typedef struct prune_state prune_state;

/* For the runs cfg[i] (i < nruns) with member[i] != 0 (the runs of this shard), grouped by
 * sp->group_by; ids[i] break ties in synchronous decisions. */
prune_state *prune_new(const prune_spec *sp, const run_config *const *cfg, const uint64_t *ids,
                       const unsigned char *member, int nruns);
void prune_free(prune_state *ps);

/* A run's stage report: records its value; returns 1 when the run continues, 0 when it
 * stops here. Asynchronous: decided now (a decision taken before for this run and rung is
 * returned again). Synchronous: call prune_settle first when it returns; the answer is
 * whether the run has not been pruned. */
int prune_on_report(prune_state *ps, int idx, const run_stage_report *rep);

/* A final result of run idx (from the run, or read back on resume): records its values
 * (its acc_seen extra, or R), and when the run is pruned (status pruned or a decision)
 * brings r into the canonical pruned form. */
void prune_on_result(prune_state *ps, int idx, run_result *r);

/* Synchronous mode: makes every decision that has become possible. A run with a recorded
 * result (results[i] != NULL) that a decision prunes is brought into the canonical form
 * and passed to changed(i, ctx) (to journal it); returns -1 when changed fails, else the
 * number of runs changed. Asynchronous mode: 0. */
int prune_settle(prune_state *ps, run_result **results, int (*changed)(int idx, void *ctx),
                 void *ctx);

/* Whether run idx has been pruned; counts of decisions (for the summary). */
int prune_is_pruned(const prune_state *ps, int idx);
void prune_counts(const prune_state *ps, int *ndecisions, int *npruned);

/* The canonical pruned form of r, pruned at the rung after stage (0-based); message is
 * used when non-NULL (else r's is kept). */
void prune_canonical(run_result *r, int stage, const char *message);

#endif
