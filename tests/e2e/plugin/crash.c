/* crash.c — a test plugin (tests/t_plugin.sh) that predicts nothing useful and, with
 * crash.mode=segv, dereferences NULL in its second stage: its run must fail cleanly (the
 * isolated child dies) while the sweep's other runs finish. mode=fail reports an error;
 * mode=hang never returns from stage 1 (the run's time limit must end it). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clsweep/plugin.h>

typedef struct { const clsweep_host *h; char mode[16]; } st;

static void *init(const clsweep_host *h, clsweep_run *r, const clsweep_stream *s) {
    (void)s;
    st *m = calloc(1, sizeof *m);
    m->h = h;
    const char *v = h->get(r, "mode");
    strncpy(m->mode, v ? v : "ok", sizeof m->mode - 1);
    return m;
}
static int train(void *mm, clsweep_run *r, const clsweep_stream *s, int stage) {
    st *m = mm;
    (void)s;
    if (stage == 1 && !strcmp(m->mode, "segv")) *(volatile int *)(size_t)m->mode[15] = 1;
    while (stage == 1 && !strcmp(m->mode, "hang")) sleep(1);
    if (stage == 1 && !strcmp(m->mode, "fail")) {
        m->h->error(r, "deliberate failure in stage 1");
        return CLSWEEP_FAILED;
    }
    return CLSWEEP_OK;
}
static double eval(void *m, clsweep_run *r, const clsweep_stream *s, int t) {
    (void)m, (void)r, (void)s;
    return 0.1 * t;
}
static void release(void *m) { free(m); }
static const clsweep_param params[] = {{"mode", CLSWEEP_STR, "ok", 0, 0, "ok|segv|fail|hang"}};
static const clsweep_plugin desc = {
    .abi = CLSWEEP_PLUGIN_ABI, .size = sizeof(clsweep_plugin), .name = "crashy", .version = "1",
    .kinds = CLSWEEP_KIND_CLASSIFICATION, .params = params, .nparams = 1,
    .init = init, .train_stage = train, .evaluate = eval, .free = release,
};
CLSWEEP_PLUGIN_EXPORT(desc)
