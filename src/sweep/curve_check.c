/* curve_check.c — eval.every for a model without a curve hook is an error, not a key the
 * projection silently drops (include/curve_check.h). Every built-in model and every C plugin
 * of ABI 2 (host->step) records the anytime curve; external programs and plugins of ABI 1
 * cannot (docs/extending.md), so a sweep that sets eval.every for them is refused with the location
 * of the key and the way out: scope it to the models that record one ("er.eval.every: 10").
 * Sweep layer: called by sweep.c (finish_run) only. */
#include "curve_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

int curve_check_run(const run_config *cfg, const char *model, const char *bench,
                    yaml_document_t *doc, const char *path) {
    const char *v = cfg_get(cfg, "eval.every");
    if (!v || strtod(v, NULL) == 0 || param_model_reads(model, bench, "eval.every")) return 0;
    size_t line = 0, col = 0;
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && !strcmp((const char *)n->data.scalar.value, "eval.every")) {
            line = n->start_mark.line;
            col = n->start_mark.column;
            break;
        }
    cls_seterr("%s:%zu:%zu: eval.every %s applies to %s, which records no anytime curve "
               "(external programs and C plugins of ABI 1 train outside clsweep's loops; "
               "docs/extending.md): scope it to the models that record one, e.g. "
               "'finetune.eval.every: %s', or remove it", path, line + 1, col + 1, v, model, v);
    return -1;
}

const char *curve_check_axis(const char *key, const char *model, const char *bench) {
    static char msg[512];
    if (strcmp(key, "eval.every") || param_model_reads(model, bench, "eval.every")) return NULL;
    snprintf(msg, sizeof msg, "eval.every is drawn for %s, which records no anytime curve "
             "(external programs and C plugins of ABI 1; docs/extending.md): scope it to the "
             "models that record one, e.g. 'finetune.eval.every', or remove it", model);
    return msg;
}
