/* curve_check.h — the sweep's check that eval.every (the anytime curve) is never silently
 * dropped: a run whose model records no curve (external programs, C plugins of ABI 1) must not get a
 * nonzero eval.every. Sweep layer (src/sweep/curve_check.c): called by sweep.c only. */
#ifndef CLS_CURVE_CHECK_H
#define CLS_CURVE_CHECK_H

#include <yaml.h>

#include "config.h"

/* cfg: a point's configuration filled for model (before the projection onto the keys model
 * reads). 0 when cfg has no nonzero eval.every or model reads eval.every on bench; else -1
 * with "path:line:column: ..." set at the sweep file's first eval.every key. */
int curve_check_run(const run_config *cfg, const char *model, const char *bench,
                    yaml_document_t *doc, const char *path);
/* Random search draws an axis only for the models that read it: a drawn eval.every (key)
 * for a model that records no curve would be dropped. NULL when key is not eval.every or
 * model reads it; else the message (static storage) for the axis' location. */
const char *curve_check_axis(const char *key, const char *model, const char *bench);

#endif
