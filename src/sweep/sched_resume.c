/* sched_resume.c — resuming a sweep: matching the records of the journal (or of an existing
 * sweep file) to the sweep's runs by id (runindex: sorted index + binary search). Sweep layer:
 * called by master_setup (sched_master.c) only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "resstore.h"
#include "runindex.h"
#include "sched_master.h"
#include "util.h"

typedef struct {
    master_t *m;
    runindex ix;
    int nstray;
    int nread;      /* records read */
} resume_ctx;

static void resume_one(const char *id, run_result *r, void *ctx) {
    resume_ctx *rc = ctx;
    master_t *m = rc->m;
    rc->nread++;
    /* Failed runs are retried on resume, abandoned ones were never final; everything else
     * is final (a later record of a run replaces an earlier one). */
    int final = r->status != RUN_STATUS_FAILED && r->status != RUN_STATUS_ABANDONED;
    int i = runindex_find(&rc->ix, id);
    if (i >= 0 && final && m->rs) {   /* compact (resstore.h) */
        resstore_put(m->rs, i, r);
        result_free(r);
        return;
    }
    if (i >= 0 && final) {
        if (m->results[i]) {
            result_free(m->results[i]);
            free(m->results[i]);
        }
        m->results[i] = xmalloc(sizeof(run_result));
        *m->results[i] = *r;
        return;
    }
    if (i < 0 && final) rc->nstray++;
    result_free(r);
}

int sched_resume(master_t *m) {
    resume_ctx rc = {m, {0}, 0, 0};
    runindex_init(&rc.ix, &m->sw);
    struct stat st;
    int err = 0;
    journal_damage dmg;
    if (stat(m->journal_path, &st) == 0) {
        /* A compacted journal (journal_compact) continues the sweep file: read that first. */
        uint32_t nbase = 0;
        err = journal_read_base(m->journal_path, &nbase);
        if (!err && nbase > 0) {
            if (stat(m->out, &st) != 0) {
                cls_seterr("%s is a compacted journal: the %u runs recorded before its "
                           "compaction are in %s, which is missing; restore that file (or "
                           "remove the journal to run every run again)",
                           m->journal_path, nbase, m->out);
                err = -1;
            } else if ((err = output_read(m->out, resume_one, &rc)) == 0 && rc.nread < (int)nbase) {
                cls_seterr("%s holds %d runs, fewer than the %u its compacted journal %s "
                           "continues: it is not that journal's sweep file; restore it (or "
                           "remove the journal to run every run again)",
                           m->out, rc.nread, nbase, m->journal_path);
                err = -1;
            }
        }
        if (!err) err = journal_read_damage(m->journal_path, resume_one, &rc, &dmg);
        if (!err) {
            char what[512];
            journal_damage_describe(&dmg, what, sizeof what);
            /* damage in the middle is said even when quiet: results were lost */
            if (what[0] && (!m->quiet || dmg.nmiddle))
                fprintf(stderr, "clsweep: %s: %s\n", m->journal_path, what);
        }
    } else if (stat(m->out, &st) == 0) {
        if ((err = output_read(m->out, resume_one, &rc))) cls_adderr("refusing to overwrite %s", m->out);
    }
    runindex_free(&rc.ix);
    m->nstray = rc.nstray;
    if (err) return -1;
    if (rc.nstray && !m->quiet)
        fprintf(stderr, "clsweep: %d earlier result(s) belong to no run of this sweep; left out of %s\n",
                rc.nstray, m->out);
    return 0;
}
