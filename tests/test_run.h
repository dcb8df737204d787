/* test_run.h — helpers for tests that execute whole model runs: build an effective
 * configuration and run it. Header-only (static), like test.h. */
#ifndef CLS_TEST_RUN_H
#define CLS_TEST_RUN_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "model.h"
#include "run.h"
#include "util.h"

/* Builds a config: model, benchmark, then "key", "value" pairs, NULL-terminated; filled with
 * defaults and projected onto the keys the model reads, as the sweep expander does. */
static void make_cfg(run_config *c, const char *model, const char *bench, ...) {
    cfg_init(c);
    va_list ap;
    va_start(ap, bench);
    const char *k;
    while ((k = va_arg(ap, const char *))) cfg_set(c, k, va_arg(ap, const char *));
    va_end(ap);
    if (cfg_fill_defaults(c, model, bench)) {
        fprintf(stderr, "%s\n", cls_geterr());
        abort();
    }
    cfg_project(c, model, bench);
}

/* Executes the run described by c into r, then frees c. */
static __attribute__((unused)) void run_cfg(run_result *r, run_config *c) {
    run_execute(c, r);
    cfg_free(c);
}

#endif
