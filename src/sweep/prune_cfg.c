/* prune_cfg.c — parsing the sweep file's `prune:` mapping (prune.h) with located errors
 * (path:line:column). Sweep layer: called by sweep.c (sweep_load_text) only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "util.h"
#include "yamlnode.h"


static int num(const yaml_node_t *n, double *out) {
    if (n->type != YAML_SCALAR_NODE) return -1;
    char *end;
    errno = 0;
    double v = strtod(yn_txt(n), &end);
    if (end == yn_txt(n) || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_group_by(const char *path, yaml_document_t *doc, yaml_node_t *v,
                          const char *const *known, int nknown, prune_spec *sp) {
    if (v->type != YAML_SEQUENCE_NODE)
        return yn_fail(path, v, "expected prune.group_by to be a list of keys (e.g. [model]), got "
                     "%s", yn_kind(v));
    sp->ngroup = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *k = yaml_document_get_node(doc, *it);
        if (k->type != YAML_SCALAR_NODE)
            return yn_fail(path, k, "expected a key in prune.group_by, got %s", yn_kind(k));
        if (sp->ngroup == PRUNE_MAX_KEYS)
            return yn_fail(path, k, "prune.group_by holds at most %d keys", PRUNE_MAX_KEYS);
        int ok = 0;
        for (int i = 0; i < nknown && !ok; i++) ok = !strcmp(known[i], yn_txt(k));
        if (!ok) {
            char list[1024] = "";
            size_t off = 0;
            for (int i = 0; i < nknown && off < sizeof list - 80; i++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                        known[i]);
            return yn_fail(path, k, "unknown key '%s' in prune.group_by: expected one of %s",
                         yn_txt(k), list);
        }
        for (int i = 0; i < sp->ngroup; i++)
            if (!strcmp(sp->group_by[i], yn_txt(k)))
                return yn_fail(path, k, "'%s' is twice in prune.group_by", yn_txt(k));
        snprintf(sp->group_by[sp->ngroup++], sizeof sp->group_by[0], "%s", yn_txt(k));
    }
    return 0;
}

int prune_parse(const char *path, yaml_document_t *doc, yaml_node_t *node,
                const char *const *known, int nknown, prune_spec *sp) {
    memset(sp, 0, sizeof *sp);
    sp->enabled = 1;
    sp->eta = 3;
    sp->min_stages = 1;
    sp->ngroup = 1;
    snprintf(sp->group_by[0], sizeof sp->group_by[0], "model");
    if (node->type != YAML_MAPPING_NODE)
        return yn_fail(path, node, "expected a mapping for prune (e.g. {metric: acc_seen, eta: 3, "
                     "min_stages: 1, group_by: [model], synchronous: false}), got %s",
                     yn_kind(node));
    for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = yaml_document_get_node(doc, a->key);
        yaml_node_t *v = yaml_document_get_node(doc, a->value);
        if (k->type != YAML_SCALAR_NODE)
            return yn_fail(path, k, "expected a plain key in prune, got %s", yn_kind(k));
        const char *key = yn_txt(k);
        double x;
        if (!strcmp(key, "metric")) {
            if (v->type != YAML_SCALAR_NODE ||
                (strcmp(yn_txt(v), "acc_seen") && strcmp(yn_txt(v), "acc_all")))
                return yn_fail(path, v, "unknown prune.metric '%s': expected one of acc_seen (the "
                             "mean over the tasks trained so far), acc_all (over every task)",
                             yn_kind(v));
            sp->metric = strcmp(yn_txt(v), "acc_all") ? PRUNE_ACC_SEEN : PRUNE_ACC_ALL;
        } else if (!strcmp(key, "eta")) {
            if (num(v, &x) || x <= 1 || x > 1e6)
                return yn_fail(path, v, "expected prune.eta to be a number > 1 (keep the top "
                             "1/eta at each rung), got %s", yn_kind(v));
            sp->eta = x;
        } else if (!strcmp(key, "min_stages")) {
            if (num(v, &x) || x < 1 || x > 1e6 || x != floor(x))
                return yn_fail(path, v, "expected prune.min_stages to be an integer >= 1 (stages "
                             "before the first rung), got %s", yn_kind(v));
            sp->min_stages = (int)x;
        } else if (!strcmp(key, "synchronous")) {
            const char *t = v->type == YAML_SCALAR_NODE ? yn_txt(v) : "";
            if (!strcmp(t, "true") || !strcmp(t, "false"))
                sp->synchronous = !strcmp(t, "true");
            else
                return yn_fail(path, v, "expected prune.synchronous to be true or false, got %s",
                             yn_kind(v));
        } else if (!strcmp(key, "group_by")) {
            if (parse_group_by(path, doc, v, known, nknown, sp)) return -1;
        } else {
            return yn_fail(path, k, "unknown prune setting '%s': expected one of metric, eta, "
                         "min_stages, group_by, synchronous", key);
        }
    }
    return 0;
}
