/* status.c — `clsweep status FILE.nc` (output_status in output.h): runs per model and
 * status, then every configuration of each model (seeds pooled). Called by the command line
 * only. Reads the file through the schema check of ncread.c.
 *
 * Every configuration is listed: first those with ok runs, ranked by the mean acc of their
 * ok runs (best first for the model's metric direction), with the sample standard deviation
 * (ddof 1, "sd"), the number of ok runs n and a 95 % Student-t confidence interval of the
 * mean (mean ± t(0.975, n-1) sd / sqrt(n); none for n = 1); then those without an ok run,
 * unranked, with their status counts ("diverged ×3"). Runs that are not ok are counted on
 * every line. Grouping and the "what sets this configuration apart" column use hash tables:
 * linear time in the runs (10^6 runs: seconds). */
#include "output.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncguard.h"
#include "ncschema.h"
#include "util.h"

/* The statuses a file can hold: every status before RUN_STATUS_ABANDONED (abandoned is never
 * stored; a status appended before it is counted and printed without further change). A
 * stored string that names no stored status counts as "unknown" (slot NSTORED). */
#define NSTORED ((int)RUN_STATUS_ABANDONED)

/* ---- a string → int hash table (open addressing, keys not owned) ---- */
typedef struct {
    const char **key;
    size_t *klen;
    int *val;
    size_t cap, n;
} strmap;

static uint64_t hash_bytes(const char *s, size_t n) { return cls_fnv1a(CLS_FNV_INIT, s, n); }

static void map_init(strmap *m, size_t expect) {
    m->cap = 16;
    while (m->cap < 2 * expect + 16) m->cap *= 2;
    m->n = 0;
    m->key = xcalloc(m->cap, sizeof *m->key);
    m->klen = xcalloc(m->cap, sizeof *m->klen);
    m->val = xcalloc(m->cap, sizeof *m->val);
}

static void map_free(strmap *m) {
    free(m->key);
    free(m->klen);
    free(m->val);
}

/* The slot of key (length n): its value when present, else *added = 1 and val set to
 * fresh. Keys must outlive the map. */
static int *map_get(strmap *m, const char *key, size_t n, int fresh, int *added) {
    if (2 * (m->n + 1) > m->cap) {
        strmap g;
        map_init(&g, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                int a;
                *map_get(&g, m->key[i], m->klen[i], m->val[i], &a) = m->val[i];
            }
        map_free(m);
        *m = g;
    }
    size_t i = (size_t)hash_bytes(key, n) & (m->cap - 1);
    while (m->key[i] && (m->klen[i] != n || memcmp(m->key[i], key, n))) i = (i + 1) & (m->cap - 1);
    *added = !m->key[i];
    if (*added) {
        m->key[i] = key;
        m->klen[i] = n;
        m->val[i] = fresh;
        m->n++;
    }
    return &m->val[i];
}

/* ---- statistics ---- */

/* The 0.975 quantile of Student's t with df degrees of freedom (table to 30, then the
 * Cornish-Fisher expansion, error < 1e-4). */
static double t975(int df) {
    static const double tab[31] = {NAN,    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469,
                                   2.3646, 2.3060,  2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
                                   2.1448, 2.1314,  2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                   2.0796, 2.0739,  2.0687, 2.0639, 2.0595, 2.0555, 2.0518,
                                   2.0484, 2.0452,  2.0423};
    if (df < 1) return NAN;
    if (df <= 30) return tab[df];
    double z = 1.959963985, v = df;
    return z + (z * z * z + z) / (4 * v) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
}

/* ---- grouping ---- */
typedef struct {
    int model;          /* index into the model list */
    char *config;       /* without model= and seed= */
    double sum, sumsq;  /* over ok runs with a finite acc (shifted by the first, for accuracy) */
    double shift;
    int nacc, nruns;
    int count[NSTORED + 1]; /* by stored status; the last: unknown */
} cfg_group;

/* The config string without its model= and seed= entries (new string). */
static char *config_without_seed(const char *cfg) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&out, &len, &cap, "%s", "");
    const char *p = cfg ? cfg : "";
    while (*p) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k && strncmp(p, "seed=", 5) && strncmp(p, "model=", 6))
            cls_strappend(&out, &len, &cap, "%s%.*s", len ? " " : "", (int)k, p);
        p += k;
    }
    return out;
}

typedef struct {
    ncs_file f;
    char **model, **st, **config, **metric;
    double *acc;
    signed char *hib;
    int nmodels;
    const char **models;     /* (nmodels) */
    int *mcount;             /* (nmodels, NSTORED + 1) */
    int *mgroups;            /* (nmodels) configurations per model */
    int ngroups;
    cfg_group *groups;
    strmap tokens;           /* "model\x1f" token → groups of that model holding it */
    char **token_keys;       /* owned keys of tokens */
    size_t ntoken_keys, cap_token_keys;
} status_ctx;

static void ctx_free(status_ctx *c) {
    size_t n = c->f.n;
    ncs_free_strings(c->model, n);
    ncs_free_strings(c->st, n);
    ncs_free_strings(c->config, n);
    ncs_free_strings(c->metric, n);
    free(c->acc);
    free(c->hib);
    free(c->models);
    free(c->mcount);
    free(c->mgroups);
    for (int g = 0; g < c->ngroups; g++) free(c->groups[g].config);
    free(c->groups);
    if (c->tokens.key) map_free(&c->tokens);
    for (size_t i = 0; i < c->ntoken_keys; i++) free(c->token_keys[i]);
    free(c->token_keys);
    ncs_close(&c->f);
}

/* Counts the tokens of group g's config under its model (each once per group). */
static void count_tokens(status_ctx *c, const cfg_group *g) {
    const char *p = g->config, *m = c->models[g->model];
    while (*p) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k) {
            size_t ml = strlen(m);
            char *key = xmalloc(ml + 1 + k + 1);
            memcpy(key, m, ml);
            key[ml] = 0x1f;
            memcpy(key + ml + 1, p, k);
            key[ml + 1 + k] = 0;
            int added;
            int *v = map_get(&c->tokens, key, ml + 1 + k, 0, &added);
            (*v)++;
            if (added) {
                if (c->ntoken_keys == c->cap_token_keys) {
                    c->cap_token_keys = c->cap_token_keys ? 2 * c->cap_token_keys : 64;
                    c->token_keys = xrealloc(c->token_keys, c->cap_token_keys * sizeof *c->token_keys);
                }
                c->token_keys[c->ntoken_keys++] = key;
            } else {
                free(key);
            }
        }
        p += k;
    }
}

/* The entries of group g's config that not every configuration of its model shares (new
 * string). */
static char *config_distinct(status_ctx *c, const cfg_group *g) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&out, &len, &cap, "%s", "");
    const char *p = g->config, *m = c->models[g->model];
    size_t ml = strlen(m);
    char *key = NULL;
    size_t kcap = 0;
    while (*p) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k) {
            if (ml + k + 2 > kcap) key = xrealloc(key, kcap = 2 * (ml + k + 2));
            memcpy(key, m, ml);
            key[ml] = 0x1f;
            memcpy(key + ml + 1, p, k);
            int added;
            int cnt = *map_get(&c->tokens, key, ml + 1 + k, 0, &added);
            if (cnt < c->mgroups[g->model])
                cls_strappend(&out, &len, &cap, "%s%.*s", len ? " " : "", (int)k, p);
        }
        p += k;
    }
    free(key);
    return out;
}

/* Reads the columns and groups the runs. 0 or -1 with cls_seterr. */
static int group_runs(status_ctx *c) {
    size_t n = c->f.n;
    if (ncs_read_strings(&c->f, "model", &c->model) || ncs_read_strings(&c->f, "status", &c->st) ||
        ncs_read_strings(&c->f, "config", &c->config) ||
        ncs_read_strings(&c->f, "metric", &c->metric))
        return -1;
    c->acc = xmalloc((n ? n : 1) * sizeof *c->acc);
    c->hib = xmalloc(n ? n : 1);
    if (ncs_read_values(&c->f, "acc", c->acc) || ncs_read_values(&c->f, "higher_is_better", c->hib))
        return -1;
    strmap models, groups;
    map_init(&models, 16);
    map_init(&groups, n);
    c->models = xcalloc(n ? n : 1, sizeof *c->models);
    c->groups = xcalloc(n ? n : 1, sizeof *c->groups);
    char **keys = xcalloc(n ? n : 1, sizeof *keys); /* group keys "model\x1fconfig" */
    for (size_t k = 0; k < n; k++) {
        const char *m = c->model[k] ? c->model[k] : "";
        int added;
        int *mi = map_get(&models, m, strlen(m), c->nmodels, &added);
        if (added) c->models[c->nmodels++] = m;
        char *cfg = config_without_seed(c->config[k]);
        size_t ml = strlen(m), cl = strlen(cfg);
        char *key = xmalloc(ml + cl + 2);
        memcpy(key, m, ml);
        key[ml] = 0x1f;
        memcpy(key + ml + 1, cfg, cl + 1);
        int *gi = map_get(&groups, key, ml + 1 + cl, c->ngroups, &added);
        if (added) {
            keys[c->ngroups] = key;
            c->groups[c->ngroups].model = *mi;
            c->groups[c->ngroups].config = cfg;
            c->ngroups++;
        } else {
            free(key);
            free(cfg);
        }
        cfg_group *g = &c->groups[*gi];
        int sv = run_status_parse(c->st[k]);
        g->count[sv >= 0 && sv < NSTORED ? sv : NSTORED]++;
        g->nruns++;
        if (sv == RUN_STATUS_OK && isfinite(c->acc[k])) {
            if (!g->nacc) g->shift = c->acc[k]; /* shifted sums: no cancellation */
            double d = c->acc[k] - g->shift;
            g->sum += d;
            g->sumsq += d * d;
            g->nacc++;
        }
    }
    map_free(&models);
    map_free(&groups);
    for (int g = 0; g < c->ngroups; g++) free(keys[g]);
    free(keys);
    c->mcount = xcalloc((size_t)(c->nmodels ? c->nmodels : 1) * (NSTORED + 1), sizeof *c->mcount);
    c->mgroups = xcalloc((size_t)(c->nmodels ? c->nmodels : 1), sizeof *c->mgroups);
    map_init(&c->tokens, 64);
    for (int g = 0; g < c->ngroups; g++) {
        const cfg_group *G = &c->groups[g];
        c->mgroups[G->model]++;
        for (int s = 0; s <= NSTORED; s++) c->mcount[G->model * (NSTORED + 1) + s] += G->count[s];
        count_tokens(c, G);
    }
    return 0;
}

static int hib_sort; /* qsort comparator direction: single-threaded */

static double group_mean(const cfg_group *g) { return g->nacc ? g->shift + g->sum / g->nacc : NAN; }

/* Ranked (with an ok acc) before unranked; ranked by mean, unranked by most runs. */
static int cmp_group(const void *a, const void *b) {
    const cfg_group *x = *(cfg_group *const *)a, *y = *(cfg_group *const *)b;
    if (!x->nacc != !y->nacc) return x->nacc ? -1 : 1;
    if (!x->nacc && x->nruns != y->nruns) return (y->nruns > x->nruns) - (y->nruns < x->nruns);
    if (!x->nacc) return (x > y) - (x < y);
    double mx = group_mean(x), my = group_mean(y);
    if (mx == my) return (x > y) - (x < y); /* ties: file order */
    return (hib_sort ? mx > my : mx < my) ? -1 : 1;
}

/* "diverged ×3, failed ×1" for the runs of g that are not ok (new string). */
static char *other_runs(const cfg_group *g) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&out, &len, &cap, "%s", "");
    for (int s = 0; s <= NSTORED; s++) {
        if (s == RUN_STATUS_OK || !g->count[s]) continue;
        const char *name = s < NSTORED ? run_status_name((run_status)s) : "unknown";
        cls_strappend(&out, &len, &cap, "%s%s \xc3\x97%d", len ? ", " : "", name, g->count[s]);
    }
    if (g->count[RUN_STATUS_OK] > g->nacc)
        cls_strappend(&out, &len, &cap, "%sok without acc \xc3\x97%d", len ? ", " : "",
                      g->count[RUN_STATUS_OK] - g->nacc);
    return out;
}

static void print_group(status_ctx *c, const cfg_group *g, int rank, FILE *out) {
    char *d = config_distinct(c, g), *o = other_runs(g);
    const char *what = d[0] ? d : "(the only configuration)";
    if (!g->nacc) {
        fprintf(out, "  %4s  %-8s  %-8s  %4d  %-24s  %-18s  %s\n", "-", "-", "-", 0, "-", o, what);
    } else {
        double mean = group_mean(g), n = g->nacc;
        char sd[32] = "-", ci[64] = "-";
        if (g->nacc > 1) {
            double var = (g->sumsq - g->sum * g->sum / n) / (n - 1);
            double s = sqrt(var > 0 ? var : 0), h = t975(g->nacc - 1) * s / sqrt(n);
            snprintf(sd, sizeof sd, "%.4f", s);
            snprintf(ci, sizeof ci, "[%.4f, %.4f]", mean - h, mean + h);
        }
        fprintf(out, "  %4d  %-8.4f  %-8s  %4d  %-24s  %-18s  %s\n", rank, mean, sd, g->nacc, ci,
                o[0] ? o : "-", what);
    }
    free(d);
    free(o);
}

static void print_model(status_ctx *c, int mi, FILE *out) {
    size_t n = c->f.n;
    int hb = 1;
    const char *met = "";
    for (size_t k = 0; k < n; k++)
        if (!strcmp(c->model[k] ? c->model[k] : "", c->models[mi]) && c->st[k] &&
            !strcmp(c->st[k], "ok")) {
            hb = c->hib[k] != 0;
            met = c->metric[k] ? c->metric[k] : "";
            break;
        }
    const cfg_group **g = xmalloc((size_t)(c->ngroups ? c->ngroups : 1) * sizeof *g);
    int ng = 0, nranked = 0;
    for (int i = 0; i < c->ngroups; i++)
        if (c->groups[i].model == mi) {
            g[ng++] = &c->groups[i];
            nranked += c->groups[i].nacc > 0;
        }
    hib_sort = hb;
    qsort(g, (size_t)ng, sizeof *g, cmp_group);
    fprintf(out, "\n%s: %d configuration%s, %d ranked by mean acc over ok runs (%s, %s is better)"
                 "; sd = sample standard deviation (ddof 1), n = ok runs, 95%% CI of the mean "
                 "(Student t)\n",
            c->models[mi], ng, ng == 1 ? "" : "s", nranked, met[0] ? met : "metric",
            hb ? "higher" : "lower");
    fprintf(out, "  %4s  %-8s  %-8s  %4s  %-24s  %-18s  %s\n", "rank", "mean acc", "sd", "n",
            "95% CI", "runs not ok", "configuration");
    for (int q = 0; q < ng; q++) print_group(c, g[q], q + 1, out);
    free(g);
}

int output_status(const char *path, FILE *out) {
    status_ctx c;
    memset(&c, 0, sizeof c);
    int status = -1;
    char *name = NULL, *version = NULL;
    if (ncg_check(path, NCG_FULL) || ncs_open_checked(&c.f, path)) return -1; /* ncguard.h */
    if (group_runs(&c)) goto cleanup;
    int total = -1;
    if (nc_get_att_int(c.f.nc, NC_GLOBAL, "n_runs_total", &total) != NC_NOERR) total = -1;
    name = ncs_text_att(c.f.nc, NC_GLOBAL, "sweep_name");
    version = ncs_text_att(c.f.nc, NC_GLOBAL, "clsweep_version");
    size_t n = c.f.n;
    fprintf(out, "%s: sweep \"%s\", %zu", path, name ? name : "", n);
    if (total >= 0) fprintf(out, " of %d", total);
    fprintf(out, " runs finished (clsweep %s)\n", version && version[0] ? version : "?");
    if (n) {
        fprintf(out, "\n%-16s", "model");
        for (int sv = 0; sv < NSTORED; sv++) fprintf(out, " %11s", run_status_name((run_status)sv));
        fprintf(out, " %11s\n", "total");
        for (int mi = 0; mi < c.nmodels; mi++) {
            int tot = 0;
            const int *cnt = &c.mcount[mi * (NSTORED + 1)];
            fprintf(out, "%-16s", c.models[mi]);
            for (int sv = 0; sv < NSTORED; sv++) fprintf(out, " %11d", cnt[sv]);
            for (int sv = 0; sv <= NSTORED; sv++) tot += cnt[sv];
            fprintf(out, " %11d\n", tot);
        }
    }
    for (int mi = 0; mi < c.nmodels; mi++) print_model(&c, mi, out);
    status = 0;
cleanup:
    free(name);
    free(version);
    ctx_free(&c);
    return status;
}
