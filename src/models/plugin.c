/* plugin.c — C plugins as models (plugin_load.h; the plugin side is the installed header
 * include/clsweep/plugin.h, docs/extending.md). Models layer: called by the sweep parser
 * (plugin_declare) and, through model_find_run (registry.c), by the run executor; it calls
 * the registry, the data layer's bench_t and core only.
 *
 * plugin_declare dlopens the .so (RTLD_NOW: an unresolved symbol is an error now, not in the
 * middle of a run), checks `clsweep_plugin_abi` against CLSWEEP_PLUGIN_ABI, calls
 * `clsweep_plugin_entry`, checks the descriptor (its own abi and size, name, required
 * operations, params) and registers model_ops whose operations are trampolines into the
 * plugin. Each of the plugin's keys K becomes "<model>.K" with the plugin's type, default
 * and range, so it is validated, deduplicated and hashed like a built-in key; three more
 * keys travel with every run: plugin.path (as written in the sweep file), plugin.dir (the
 * absolute directory of the sweep file: location only, left out of the run id) and
 * plugin.hash (FNV-1a 64 of the .so's bytes). A process that never parsed the sweep (an MPI
 * worker, the isolated run's child) loads the plugin from the run's configuration and
 * refuses it when its bytes no longer match plugin.hash. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "clsweep/plugin.h"
#include "model.h"
#include "plugin_load.h"
#include "train.h"
#include "util.h"

typedef struct {
    char *name;                 /* the model name it is registered under */
    char *abs;                  /* absolute path of the .so */
    char hash[24];
    void *handle;
    const clsweep_plugin *d;
    uint32_t abi;               /* the ABI it was built for: 1, or 2 with host->step */
    model_ops ops;
} plug_t;

static plug_t **plugs;
static int nplugs;

struct clsweep_run {
    const run_config *cfg;
    const char *model;
    struct model *owner;        /* for host->step: the model being trained ... */
    const bench_t *bench;       /* ... on this benchmark (set by pl_train) */
    char err[512];
    int nx;
    char (*xname)[64];
    double *xval;
};

struct model {
    const plug_t *pl;
    void *state;
    clsweep_stream s;
    clsweep_task *tasks;
    struct clsweep_run run;
};

/* ---------------------------------------------------------------- host table */

static const char *h_get(const clsweep_run *r, const char *key) {
    char full[256];
    snprintf(full, sizeof full, "%s.%s", r->model, key);
    const char *v = strchr(key, '.') ? NULL : cfg_get(r->cfg, full);
    return v ? v : cfg_get(r->cfg, key);
}

static long long h_get_int(const clsweep_run *r, const char *key, long long def) {
    const char *v = h_get(r, key);
    return v ? strtoll(v, NULL, 10) : def;
}

static double h_get_float(const clsweep_run *r, const char *key, double def) {
    const char *v = h_get(r, key);
    return v ? strtod(v, NULL) : def;
}

static void h_error(clsweep_run *r, const char *msg) {
    snprintf(r->err, sizeof r->err, "%s", msg ? msg : "(no message)");
}

static void h_scalar(clsweep_run *r, const char *name, double v) {
    if (!name || !*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_") != strlen(name) || strlen(name) > 48)
        return;
    for (int i = 0; i < r->nx; i++)
        if (!strcmp(r->xname[i], name)) {
            r->xval[i] = v;
            return;
        }
    r->xname = xrealloc(r->xname, sizeof *r->xname * (size_t)(r->nx + 1));
    r->xval = xrealloc(r->xval, sizeof *r->xval * (size_t)(r->nx + 1));
    snprintf(r->xname[r->nx], 64, "%s", name);
    r->xval[r->nx++] = v;
}

/* ABI 2: an optimiser step of train_stage, for the anytime curve (train.h). */
static void h_step(clsweep_run *r) {
    if (r->owner && r->bench) train_curve_tick(r->owner, r->bench);
}

static const clsweep_host host = {
    .abi = CLSWEEP_PLUGIN_ABI,
    .get = h_get,
    .get_int = h_get_int,
    .get_float = h_get_float,
    .error = h_error,
    .scalar = h_scalar,
    .step = h_step,
};

/* ---------------------------------------------------------------- trampolines */

static const plug_t *plug_by_name(const char *name) {
    for (int i = 0; name && i < nplugs; i++)
        if (!strcmp(plugs[i]->name, name)) return plugs[i];
    return NULL;
}

static double pl_cost(const run_config *cfg) {
    const plug_t *p = plug_by_name(cfg_get(cfg, "model"));
    if (!p || !p->d->cost) return 1.0;
    struct clsweep_run r = {.cfg = cfg, .model = p->name};
    double c = p->d->cost(&host, &r);
    free(r.xname);
    free(r.xval);
    return isfinite(c) && c > 0 ? c : 1.0;
}

static model_t *pl_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    const plug_t *p = plug_by_name(cfg_get(cfg, "model"));
    if (!p) {
        cls_seterr("plugin model '%s' is not loaded", cfg_get(cfg, "model"));
        return NULL;
    }
    model_t *m = xcalloc(1, sizeof *m);
    m->pl = p;
    m->run.cfg = cfg;
    m->run.model = p->name;
    m->run.owner = m;
    m->tasks = xcalloc((size_t)b->ntasks, sizeof *m->tasks);
    for (int t = 0; t < b->ntasks; t++) {
        const task_t *k = &b->tasks[t];
        m->tasks[t] = (clsweep_task){k->name, k->n_train, k->n_test, k->x_train, k->x_test,
                                     k->y_train, k->y_test, k->t_train, k->t_test, k->classes,
                                     k->nclasses, k->class_mask != NULL};
    }
    m->s = (clsweep_stream){b->name, (int)b->kind, b->metric, b->higher_is_better, b->in_dim,
                            b->out_dim, b->img_c, b->img_h, b->img_w, b->ntasks, m->tasks,
                            b->nstages, b->stage_task, b->block_size, seed};
    m->state = p->d->init(&host, &m->run, &m->s);
    if (!m->state) {
        cls_seterr("plugin %s: %s", p->name, m->run.err[0] ? m->run.err : "init returned NULL");
        free(m->tasks);
        free(m->run.xname);
        free(m->run.xval);
        free(m);
        return NULL;
    }
    return m;
}

static run_status pl_train(model_t *m, const bench_t *b, int stage) {
    m->run.err[0] = 0;
    m->run.bench = b;
    int rc = m->pl->d->train_stage(m->state, &m->run, &m->s, stage);
    m->run.bench = NULL;
    if (rc == CLSWEEP_OK) return RUN_STATUS_OK;
    if (rc == CLSWEEP_DIVERGED) return RUN_STATUS_DIVERGED;
    cls_seterr("plugin %s: %s", m->pl->name,
               m->run.err[0] ? m->run.err : rc == CLSWEEP_FAILED ? "train_stage failed"
                                          : "train_stage returned an unknown status");
    return RUN_STATUS_FAILED;
}

/* The plugin's stream, with task t's test arrays those of b (the anytime curve hands in its
 * subset of the test set, curve.c) for the duration of the call. */
static double pl_eval(model_t *m, const bench_t *b, int t) {
    const task_t *k = &b->tasks[t];
    clsweep_task *pt = &m->tasks[t], saved = *pt;
    pt->n_test = k->n_test;
    pt->x_test = k->x_test;
    pt->y_test = k->y_test;
    pt->t_test = k->t_test;
    double v = m->pl->d->evaluate(m->state, &m->run, &m->s, t);
    *pt = saved;
    return v;
}

static void pl_after(model_t *m, const bench_t *b, int stage, run_result *res) {
    (void)b;
    (void)res;
    if (m->pl->d->after_stage) m->pl->d->after_stage(m->state, &m->run, &m->s, stage);
}

static void pl_report(model_t *m, const bench_t *b, run_result *res) {
    (void)b;
    if (m->pl->d->report) m->pl->d->report(m->state, &m->run, &m->s);
    for (int i = 0; i < m->run.nx; i++) {
        char name[80];
        snprintf(name, sizeof name, "plugin_%s", m->run.xname[i]);
        result_set_scalar(res, name, "reported by the plugin", m->run.xval[i]);
    }
}

static void pl_free(model_t *m) {
    if (!m) return;
    m->pl->d->free(m->state);
    free(m->tasks);
    free(m->run.xname);
    free(m->run.xval);
    free(m);
}

/* ---------------------------------------------------------------- loading */

/* FNV-1a 64 of the file's bytes as 16 hex digits; -1 with cls_seterr. */
static int hash_so(const char *path, char out[24]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cls_seterr("plugin %s: cannot open: %s (expected a shared object built against "
                   "clsweep/plugin.h)", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        cls_seterr("plugin %s: not a regular file (expected a shared object)", path);
        return -1;
    }
    uint64_t h = CLS_FNV_INIT;
    unsigned char buf[65536];
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) != 0) {
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            cls_seterr("plugin %s: read: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        h = cls_fnv1a(h, buf, (size_t)k);
    }
    close(fd);
    snprintf(out, 24, "%016llx", (unsigned long long)h);
    return 0;
}

static int good_name(const char *s) {
    if (!s || !*s || strlen(s) > 48) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
           strlen(s);
}

/* Checks the descriptor d of the plugin at path; 0 or -1 with cls_seterr. */
static int check_desc(const char *path, const clsweep_plugin *d, uint32_t abi) {
    if (d->abi != abi || d->size != sizeof(clsweep_plugin)) {   /* ABI 1 and 2: one layout */
        cls_seterr("plugin %s: its descriptor says ABI %u, size %u; this clsweep expects ABI "
                   "%u, size %zu: rebuild it against the installed clsweep/plugin.h", path,
                   d->abi, d->size, CLSWEEP_PLUGIN_ABI, sizeof(clsweep_plugin));
        return -1;
    }
    if (!good_name(d->name)) {
        cls_seterr("plugin %s: name '%s': expected letters, digits, '_' or '-' (at most 48)",
                   path, d->name ? d->name : "(null)");
        return -1;
    }
    const char *missing = !d->init ? "init" : !d->train_stage ? "train_stage"
                          : !d->evaluate ? "evaluate" : !d->free ? "free" : NULL;
    if (missing) {
        cls_seterr("plugin %s: operation '%s' is NULL: init, train_stage, evaluate and free are "
                   "required", path, missing);
        return -1;
    }
    if (!(d->kinds & 7u)) {
        cls_seterr("plugin %s: kinds is 0: expected CLSWEEP_KIND_* bits", path);
        return -1;
    }
    if (d->nparams < 0 || d->nparams > 256 || (d->nparams && !d->params)) {
        cls_seterr("plugin %s: nparams %d: expected 0..256 entries in params", path, d->nparams);
        return -1;
    }
    for (int i = 0; i < d->nparams; i++) {
        const clsweep_param *q = &d->params[i];
        if (!q->key || !good_name(q->key) || strchr(q->key, '-') || !q->def ||
            q->type < CLSWEEP_INT || q->type > CLSWEEP_BOOL) {
            cls_seterr("plugin %s: param %d ('%s'): expected a key of letters, digits and '_', "
                       "a type CLSWEEP_INT|FLOAT|STR|BOOL and a default text", path, i,
                       q->key ? q->key : "(null)");
            return -1;
        }
    }
    return 0;
}

/* The model ops and key specs of plugin pl loaded from d (path as written, dir). */
static int make_ops(plug_t *pl, const char *path, const char *dir) {
    const clsweep_plugin *d = pl->d;
    static const param_spec curve[] = {TRAIN_CURVE_PARAM_SPECS};
    const int ncurve = pl->abi >= 2 ? 2 : 0;   /* ABI 2 plugins call host->step */
    param_spec *sp = xcalloc((size_t)d->nparams + 3 + (size_t)ncurve, sizeof *sp);
    sp[0] = (param_spec){"plugin.path", PARAM_STR, xstrdup(path), NULL, 0, 0,
                         "the plugin's .so as written in the sweep file"};
    sp[1] = (param_spec){"plugin.dir", PARAM_STR, xstrdup(dir), NULL, 0, 0,
                         "the directory plugin.path is relative to (not in the run id)"};
    sp[2] = (param_spec){"plugin.hash", PARAM_STR, xstrdup(pl->hash), NULL, 0, 0,
                         "content hash of the plugin's .so"};
    static const param_type ty[] = {PARAM_INT, PARAM_FLOAT, PARAM_STR, PARAM_BOOL};
    for (int i = 0; i < d->nparams; i++) {
        const clsweep_param *q = &d->params[i];
        char key[128], canon[512];
        snprintf(key, sizeof key, "%s.%s", pl->name, q->key);
        param_spec *s = &sp[i + 3];
        *s = (param_spec){xstrdup(key), ty[q->type], "", NULL, q->lo, q->hi,
                          q->help ? xstrdup(q->help) : "a plugin parameter"};
        if (q->type == CLSWEEP_STR || q->type == CLSWEEP_BOOL || !(q->lo < q->hi)) s->lo = 1, s->hi = 0;
        if (param_canonicalise(s, q->def, canon, sizeof canon)) {
            cls_seterr("plugin %s: the default of %s: %s", pl->abs, key, cls_geterr());
            return -1;
        }
        s->def = xstrdup(canon);
    }
    for (int i = 0; i < ncurve; i++) sp[d->nparams + 3 + i] = curve[i];
    pl->ops = (model_ops){
        .name = pl->name,
        .kinds = d->kinds & 7u,
        .params = sp,
        .nparams = d->nparams + 3 + ncurve,
        .cost = pl_cost,
        .init = pl_init,
        .train_block = pl_train,
        .eval_task = pl_eval,
        .after_stage = pl_after,
        .report = pl_report,
        .free = pl_free,
    };
    return 0;
}

/* Opens abs and returns its descriptor, or NULL with cls_seterr. */
static const clsweep_plugin *open_so(const char *abs, void **handle) {
    dlerror();
    void *h = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        cls_seterr("plugin %s: cannot load: %s", abs, e ? e : "dlopen failed");
        return NULL;
    }
    const uint32_t *abi = dlsym(h, "clsweep_plugin_abi");
    if (!abi) {
        cls_seterr("plugin %s: no symbol 'clsweep_plugin_abi': not a clsweep plugin (expected "
                   "a .so built against clsweep/plugin.h, ABI %u, with CLSWEEP_PLUGIN_EXPORT)",
                   abs, CLSWEEP_PLUGIN_ABI);
        dlclose(h);
        return NULL;
    }
    if (*abi != CLSWEEP_PLUGIN_ABI && *abi != 1) {
        cls_seterr("plugin %s: built for plugin ABI %u, this clsweep expects ABI %u (or 1): "
                   "rebuild it against the installed clsweep/plugin.h", abs, *abi,
                   CLSWEEP_PLUGIN_ABI);
        dlclose(h);
        return NULL;
    }
    const clsweep_plugin *(*entry)(void);
    *(void **)&entry = dlsym(h, "clsweep_plugin_entry");
    if (!entry) {
        cls_seterr("plugin %s: no symbol 'clsweep_plugin_entry' (expected the function that "
                   "CLSWEEP_PLUGIN_EXPORT defines)", abs);
        dlclose(h);
        return NULL;
    }
    const clsweep_plugin *d = entry();
    if (!d) {
        cls_seterr("plugin %s: clsweep_plugin_entry() returned NULL", abs);
        dlclose(h);
        return NULL;
    }
    if (check_desc(abs, d, *abi)) {
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return d;
}

/* Loads dir/path (or path when absolute) as model name (NULL: its own); registers it. */
static plug_t *load(const char *dir, const char *path, const char *name, const char *want_hash) {
    char full[4096];
    if (path[0] == '/') snprintf(full, sizeof full, "%s", path);
    else snprintf(full, sizeof full, "%s/%s", dir, path);
    char *abs = realpath(full, NULL);
    if (!abs) {
        cls_seterr("plugin %s: %s (expected a shared object built against clsweep/plugin.h)",
                   full, strerror(errno));
        return NULL;
    }
    plug_t *pl = xcalloc(1, sizeof *pl);
    pl->abs = abs;
    if (hash_so(abs, pl->hash)) goto bad;
    if (want_hash && strcmp(want_hash, pl->hash)) {
        cls_seterr("plugin %s: its content hash is %s, the run was expanded with %s: the .so "
                   "changed since the sweep was expanded (expand and run again)", abs, pl->hash,
                   want_hash);
        goto bad;
    }
    pl->d = open_so(abs, &pl->handle);
    if (!pl->d) goto bad;
    pl->abi = pl->d->abi;
    pl->name = xstrdup(name ? name : pl->d->name);
    if (make_ops(pl, path, dir) || model_register_ops(&pl->ops)) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cls_geterr());
        cls_seterr("plugin %s: %s", abs, why);
        goto bad;   /* the handle stays open: specs may point into it */
    }
    for (int i = 0; i < nplugs; i++)
        if (!strcmp(plugs[i]->name, pl->name)) {   /* declared again (a sweep parsed again) */
            plugs[i] = pl;
            return pl;
        }
    plugs = xrealloc(plugs, sizeof *plugs * (size_t)(nplugs + 1));
    plugs[nplugs++] = pl;
    return pl;
bad:
    free(pl->abs);
    free(pl);
    return NULL;
}

int plugin_declare(const char *dir, const char *path, const char *name, const char **model) {
    if (!*path || strlen(path) > 2000) {
        cls_seterr("plugin '%s': expected the path of a shared object (.so)", path);
        return -1;
    }
    plug_t *pl = load(dir, path, name, NULL);
    if (!pl) return -1;
    *model = pl->name;
    return 0;
}

/* The ops of a plugin that cannot run here: init fails with the reason. */
static char broken_why[1024];
static model_t *broken_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    (void)cfg, (void)b, (void)seed;
    cls_seterr("%s", broken_why);
    return NULL;
}
static model_ops broken_ops = {.name = "plugin", .kinds = 7u, .init = broken_init};

const model_ops *plugin_find_run(const run_config *cfg) {
    const char *name = cfg_get(cfg, "model"), *path = cfg_get(cfg, "plugin.path");
    const char *dir = cfg_get(cfg, "plugin.dir"), *hash = cfg_get(cfg, "plugin.hash");
    const plug_t *p = plug_by_name(name);
    if (p && hash && !strcmp(p->hash, hash)) return &p->ops;
    plug_t *pl = path && dir ? load(dir, path, name, hash) : NULL;
    if (pl) return &pl->ops;
    snprintf(broken_why, sizeof broken_why, "%s",
             path && dir ? cls_geterr() : "plugin.path or plugin.dir missing in the run");
    return &broken_ops;
}

int model_key_is_location(const char *key) {
    return !strcmp(key, "plugin.dir") || !strcmp(key, "program.dir");
}

uint64_t model_identity_hash(const run_config *cfg) {
    int any = 0;
    for (int i = 0; i < cfg->n; i++) any |= model_key_is_location(cfg->e[i].key);
    if (!any) return cfg_hash(cfg);
    run_config c;
    cfg_copy(&c, cfg);
    for (int i = c.n - 1; i >= 0; i--)
        if (model_key_is_location(c.e[i].key)) cfg_unset(&c, c.e[i].key);
    uint64_t h = cfg_hash(&c);
    cfg_free(&c);
    return h;
}
