/* abi1.c — a test plugin (tests/t_curve_models.sh) built for plugin ABI 1, before the host's
 * `step`: still loaded and run, but it records no anytime curve, so eval.every for it is
 * refused at expand time. Exports the ABI-1 symbols by hand (the header is ABI 2 now). */
#include <stdlib.h>

#include <clsweep/plugin.h>

static void *init(const clsweep_host *h, clsweep_run *r, const clsweep_stream *s) {
    (void)h, (void)r, (void)s;
    return malloc(1);
}
static int train(void *m, clsweep_run *r, const clsweep_stream *s, int stage) {
    (void)m, (void)r, (void)s, (void)stage;
    return CLSWEEP_OK;
}
static double eval(void *m, clsweep_run *r, const clsweep_stream *s, int t) {
    (void)m, (void)r, (void)s;
    return 0.5 + 0.01 * t;
}
static void release(void *m) { free(m); }
static const clsweep_plugin desc = {
    .abi = 1, .size = sizeof(clsweep_plugin), .name = "old", .version = "1",
    .kinds = CLSWEEP_KIND_CLASSIFICATION, .init = init, .train_stage = train,
    .evaluate = eval, .free = release,
};
const uint32_t clsweep_plugin_abi = 1;
const clsweep_plugin *clsweep_plugin_entry(void);
const clsweep_plugin *clsweep_plugin_entry(void) { return &desc; }
