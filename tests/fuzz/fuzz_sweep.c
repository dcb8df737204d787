/* fuzz_sweep.c — libFuzzer harness: arbitrary bytes as a sweep file. sweep_load_text must
 * either expand it or fail with a "path:line:col" message; never crash, hang, leak or trip
 * a sanitizer. Each expanded run's config must survive cfg_pack/cfg_unpack unchanged and
 * hash to its run id. Built and run by `make fuzz` (see tests/fuzz/run.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sweep.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    sweep_t s;
    if (sweep_load_text(&s, "fuzz.yaml", text) == 0) {
        if (s.nruns <= 0 || !s.name || !s.output) abort();
        for (int i = 0; i < s.nruns; i++) {
            char *buf;
            size_t len;
            run_config cfg;
            sweep_cfg(&s, i, &cfg);
            cfg_pack(&cfg, &buf, &len);
            cfg_free(&cfg);
            run_config back;
            if (cfg_unpack(&back, buf, len)) abort();
            if (cfg_hash(&back) != s.runs[i].hash) abort();
            char id[17];
            snprintf(id, sizeof id, "%016llx", (unsigned long long)s.runs[i].hash);
            if (strcmp(id, s.runs[i].id)) abort();
            cfg_free(&back);
            free(buf);
        }
    } else {
        /* Every parse error starts with the path it names. */
        if (strncmp(cls_geterr(), "fuzz.yaml", 9)) {
            fprintf(stderr, "error message without the path: %s\n", cls_geterr());
            abort();
        }
    }
    sweep_free(&s);
    free(text);
    return 0;
}
