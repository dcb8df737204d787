/* registry.c — the table of models and the parameter registry built from the model and
 * benchmark tables: which keys exist, which a model reads, their defaults, and the
 * completion of a configuration (defaults, model-scoped training overrides, resolved
 * train.* values) (model.h, registry.h). Models layer: called by the run layer, the sweep
 * expander, the CLI and the tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "bench.h"
#include "config.h"
#include "model.h"
#include "registry.h"
#include "train.h"
#include "util.h"

/* One line per model in each list: add a model by adding its two lines. */
extern const model_ops finetune_ops;
extern const model_ops ewc_ops;
extern const model_ops hsf_ops;
extern const model_ops ewgn_ops;
extern const model_ops gated_ops;

extern const model_ops pah_ops;
extern const model_ops si_ops;
extern const model_ops mas_ops;
extern const model_ops lwf_ops;
extern const model_ops er_ops;
extern const model_ops agem_ops;
extern const model_ops derpp_ops;
extern const model_ops joint_ops;
const model_ops *const model_table[] = {
    &finetune_ops,
    &ewc_ops,
    &hsf_ops,
    &ewgn_ops,
    &gated_ops,
    &pah_ops,
    &si_ops,
    &mas_ops,
    &lwf_ops,
    &er_ops,
    &agem_ops,
    &derpp_ops,
    &joint_ops,
};
const int model_count = (int)(sizeof model_table / sizeof model_table[0]);

/* Test-only models: valid when a sweep names them, never in a default suite. */
extern const model_ops crashtest_ops;
static const model_ops *const test_model_table[] = {&crashtest_ops};
#define TEST_MODEL_COUNT (int)(sizeof test_model_table / sizeof test_model_table[0])

/* Program models (`programs:` of a sweep, external.c) and C plugins (plugin.c), registered
 * by the sweep parser. */
extern const model_ops external_ops;
const model_ops *plugin_find_run(const run_config *cfg);
static model_ops **prog_table;
static int prog_count;
#define ALL_MODELS (model_count + TEST_MODEL_COUNT + prog_count)

/* Model i of the suite followed by the test-only models, then the program models. */
static const model_ops *model_at(int i) {
    if (i < model_count) return model_table[i];
    if (i < model_count + TEST_MODEL_COUNT) return test_model_table[i - model_count];
    return prog_table[i - model_count - TEST_MODEL_COUNT];
}

const model_ops *model_find(const char *name) {
    for (int i = 0; i < ALL_MODELS; i++)
        if (!strcmp(model_at(i)->name, name)) return model_at(i);
    return NULL;
}

const model_ops *model_find_run(const run_config *cfg) {
    const char *name = cfg_get(cfg, "model");
    if (!name) return NULL;
    /* A program model's run carries its command: a worker rank that never parsed the sweep
     * file runs it with the template ops. */
    if (cfg_get(cfg, "plugin.path")) return plugin_find_run(cfg);   /* plugin.c */
    if (cfg_get(cfg, "program.command")) {
        const model_ops *m = model_find(name);
        return m && m->init == external_ops.init ? m : &external_ops;
    }
    return model_find(name);
}

int model_register_program(const char *name, unsigned kinds, const param_spec *params,
                           int nparams) {
    const model_ops *old = model_find(name);
    model_ops *m = NULL;
    int slot = -1;
    for (int i = 0; old && i < prog_count; i++)
        if (prog_table[i] == old) {   /* a sweep parsed again: replace */
            slot = i;
            if (old->init == external_ops.init) m = prog_table[i];
        }
    if (old && slot < 0) {
        cls_seterr("'%s' is already a built-in model: choose another name", name);
        return -1;
    }
    if (m) {
        m->kinds = kinds;
        param_spec *p = xmalloc(sizeof *p * (size_t)(nparams ? nparams : 1));
        memcpy(p, params, sizeof *p * (size_t)nparams);
        m->params = p;   /* the old list stays allocated: specs may still be referenced */
        m->nparams = nparams;
        return 0;
    }
    m = xmalloc(sizeof *m);
    *m = external_ops;
    m->name = xstrdup(name);
    m->kinds = kinds;
    param_spec *p = xmalloc(sizeof *p * (size_t)(nparams ? nparams : 1));
    memcpy(p, params, sizeof *p * (size_t)nparams);
    m->params = p;
    m->nparams = nparams;
    if (slot >= 0) {   /* it was a plugin */
        prog_table[slot] = m;
        return 0;
    }
    prog_table = xrealloc(prog_table, sizeof *prog_table * (size_t)(prog_count + 1));
    prog_table[prog_count++] = m;
    return 0;
}

int model_register_ops(model_ops *m) {
    const model_ops *old = model_find(m->name);
    for (int i = 0; old && i < prog_count; i++)
        if (prog_table[i] == old) {   /* a sweep parsed again: the new one replaces it */
            prog_table[i] = m;
            return 0;
        }
    if (old) {
        cls_seterr("'%s' is already a built-in model: choose another name", m->name);
        return -1;
    }
    prog_table = xrealloc(prog_table, sizeof *prog_table * (size_t)(prog_count + 1));
    prog_table[prog_count++] = m;
    return 0;
}

int model_extra_count(void) { return prog_count; }
const model_ops *model_extra_at(int i) { return i >= 0 && i < prog_count ? prog_table[i] : NULL; }

const char *model_names(void) {
    static char buf[512];
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < model_count && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "",
                                model_table[i]->name);
    return buf;
}

static const param_spec *find_in(const param_spec *p, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].key, key)) return &p[i];
    return NULL;
}

int param_scoped_split(const char *key, char *model, size_t n, const char **rest) {
    const char *dot = strchr(key, '.');
    if (!dot || (strncmp(dot + 1, "train.", 6) && strncmp(dot + 1, "eval.", 5)) ||
        (size_t)(dot - key) >= n)
        return 0;
    memcpy(model, key, (size_t)(dot - key));
    model[dot - key] = 0;
    if (!model_find(model)) return 0;
    *rest = dot + 1;
    return 1;
}

const param_spec *param_find(const char *key, const char *model) {
    const param_spec *s;
    char owner[64];
    const char *rest;
    if (param_scoped_split(key, owner, sizeof owner, &rest)) {
        /* "ewgn.train.lr": the train.* key of that model only */
        if (model && strcmp(model, owner)) return NULL;
        const model_ops *m = model_find(owner);
        return find_in(m->params, m->nparams, rest);
    }
    for (int i = 0; i < ALL_MODELS; i++) {
        const model_ops *m = model_at(i);
        if (model && strcmp(m->name, model)) continue;
        if ((s = find_in(m->params, m->nparams, key))) return s;
    }
    for (int i = 0; i < bench_nspecs; i++)
        if ((s = find_in(bench_specs[i].params, bench_specs[i].nparams, key))) return s;
    return find_in(analysis_params, analysis_nparams, key);
}

/* Does model m read its key on benchmark b (model_ops.reads_key)? */
static int reads_on(const model_ops *m, const char *key, const bench_spec *b) {
    return !m->reads_key || !b || m->reads_key(key, (unsigned)b->kind);
}

int param_model_reads(const char *model, const char *bench_name, const char *key) {
    const model_ops *m = model_find(model);
    char owner[64];
    const char *rest;
    if (param_scoped_split(key, owner, sizeof owner, &rest))
        return !strcmp(owner, model) && param_model_reads(model, bench_name, rest);
    if (m && find_in(m->params, m->nparams, key)) return reads_on(m, key, bench_find(bench_name));
    /* The weight-space analysis keys belong to every model that has a weights hook. */
    if (m && m->weights && find_in(analysis_params, analysis_nparams, key)) return 1;
    const bench_spec *b = bench_find(bench_name);
    return b && find_in(b->params, b->nparams, key) != NULL;
}

static int seen_key(char **keys, int n, const char *k) {
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], k)) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *param_list_keys(const char *prefix) {
    int cap = 256, n = 0;
    char **keys = xmalloc(sizeof(char *) * (size_t)cap);
    size_t plen = strlen(prefix);
    for (int pass = 0; pass < 3; pass++) {
        int count = pass == 2 ? 1 : pass ? bench_nspecs : model_count;
        for (int i = 0; i < count; i++) {
            const param_spec *p = pass == 2 ? analysis_params
                                  : pass ? bench_specs[i].params : model_table[i]->params;
            int np = pass == 2 ? analysis_nparams
                     : pass ? bench_specs[i].nparams : model_table[i]->nparams;
            for (int j = 0; j < np; j++) {
                if (strncmp(p[j].key, prefix, plen) || seen_key(keys, n, p[j].key)) continue;
                if (n == cap) keys = xrealloc(keys, sizeof(char *) * (size_t)(cap *= 2));
                keys[n++] = (char *)p[j].key;
            }
        }
    }
    qsort(keys, (size_t)n, sizeof(char *), cmp_str);
    char *buf = NULL;
    size_t len = 0, bcap = 0;
    cls_strappend(&buf, &len, &bcap, "%s", "");
    for (int i = 0; i < n; i++) cls_strappend(&buf, &len, &bcap, "%s%s", i ? ", " : "", keys[i]);
    free(keys);
    return buf;
}

int cfg_fill_defaults(run_config *c, const char *model, const char *bench_name) {
    const model_ops *m = model_find(model);
    if (!m) {
        cls_seterr("unknown model '%s': expected one of %s", model, model_names());
        return -1;
    }
    const bench_spec *b = bench_find(bench_name);
    if (!b) {
        cls_seterr("unknown benchmark '%s'", bench_name);
        return -1;
    }
    /* Model-scoped training overrides ("ewgn.train.batch_size") replace the shared value for
     * their model and disappear, so that a run's identity depends only on what it uses. */
    for (int i = c->n - 1; i >= 0; i--) {
        char owner[64];
        const char *rest;
        if (!param_scoped_split(c->e[i].key, owner, sizeof owner, &rest)) continue;
        if (!strcmp(owner, model)) {
            char *k = xstrdup(rest), *v = xstrdup(c->e[i].val);
            cfg_unset(c, c->e[i].key);
            cfg_set(c, k, v);
            free(k);
            free(v);
            i = c->n;   /* the list moved: scan again (few keys, rare) */
        } else {
            cfg_unset(c, c->e[i].key);
        }
    }
    /* The registry's strings (model and benchmark tables, their parameter tables) live as
     * long as the process: borrowed, not copied (cfg_set_static). */
    cfg_set_static(c, "model", m->name);
    cfg_set_static(c, "benchmark.name", b->name);
    if (!cfg_get(c, "seed")) cfg_set(c, "seed", "0");
    for (int i = 0; i < m->nparams; i++)
        if (reads_on(m, m->params[i].key, b) && !cfg_get(c, m->params[i].key))
            cfg_set_static(c, m->params[i].key, m->params[i].def);
    for (int i = 0; i < b->nparams; i++)
        if (!cfg_get(c, b->params[i].key)) cfg_set_static(c, b->params[i].key, b->params[i].def);
    for (int i = 0; m->weights && i < analysis_nparams; i++)
        if (!cfg_get(c, analysis_params[i].key))
            cfg_set_static(c, analysis_params[i].key, analysis_params[i].def);
    if (reads_on(m, "train.optimizer", b) && find_in(m->params, m->nparams, "train.optimizer"))
        train_resolve_config(c);
    /* Without an anytime curve (eval.every 0, the default) the eval.* keys change nothing the
     * run computes, so they are not part of its configuration or identity: a run's id is the
     * same whether or not its model can record a curve (README "Output", R_curve). */
    const char *every = cfg_get(c, "eval.every");
    char *end = NULL;
    if (every && *every && strtod(every, &end) == 0 && end && !*end) {
        cfg_unset(c, "eval.every");
        cfg_unset(c, "eval.subset");
    }
    return 0;
}

void model_budget(const run_config *cfg, train_budget *out) {
    const char *name = cfg_get(cfg, "model");
    const model_ops *m = name ? model_find(name) : NULL;
    memset(out, 0, sizeof *out);
    if (m && m->budget) m->budget(cfg, out);
    else if (cfg_get(cfg, "train.optimizer")) train_budget_shared(cfg, out);
}

void cfg_project(run_config *c, const char *model, const char *bench_name) {
    for (int i = c->n - 1; i >= 0; i--) {
        const char *k = c->e[i].key;
        if (!strcmp(k, "model") || !strcmp(k, "seed") || !strcmp(k, "benchmark.name")) continue;
        if (!param_model_reads(model, bench_name, k)) cfg_unset(c, k);
    }
}
