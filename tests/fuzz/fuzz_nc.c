/* fuzz_nc.c — libFuzzer harness for the NetCDF result-file readers (issue 17 item 4): a
 * damaged or hostile file at a sweep's output path, given to `clsweep status`, `merge` or a
 * resume. The readers must refuse it with a message or read it; never crash, over-read,
 * leak, or allocate far more than the file holds.
 *
 * NetCDF-4 files are 16-64 KiB, over the runner's -max_len, so an input is one of:
 *   - a whole file, when it starts with the HDF5 or classic NetCDF signature (raw mode);
 *   - otherwise patches to a valid clsweep file built at start-up (2 runs, R, extras over
 *     stage x path and over block, a string axis): each 4 bytes = u24 offset (mod the file's
 *     length, little-endian) + the byte written there. The empty input is the valid file.
 * The bytes are written to a regular temporary file; output_read and output_status read it,
 * and when output_read accepts it, output_merge (sweep re-parsed from the file) writes it
 * again, which must succeed unless the stored sweep text is refused.
 *
 * Damage inside libhdf5's own structures can crash the library itself (H5HG_read on a
 * damaged global heap: corpus/nc/crash-global-heap). The readers read such files first in a
 * forked child (src/sweep/ncguard.c), so the crash, or the child's sanitizer report (printed
 * to the log, with ncguard.c's child_read in its stack), ends only the child and the reader
 * refuses the file: handled, not a finding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "output.h"
#include "result.h"
#include "sweep.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* HDF5 leaks on some of its own error paths when a damaged file fails to open (allocations
 * made and lost inside libhdf5, nothing of clsweep's on the stack): not a finding here. */
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

static unsigned char *base;
static size_t base_len;
static char path[256], out[256];

static const char YAML[] = "name: fz\nbenchmark: {name: teacher_student}\nmodels: [finetune, ewc]\n"
                           "grid:\n  ewc.lambda: [1, 10]\n";

static void build_base(void) {
    sweep_t s;
    if (sweep_load_text(&s, "fz.yaml", YAML)) abort();
    run_result r[2], *res[8] = {0};
    for (int k = 0; k < 2; k++) {
        result_init(&r[k]);
        snprintf(r[k].metric, sizeof r[k].metric, "mse");
        result_alloc(&r[k], 2 + k, 2);
        for (int i = 0; i < (2 + k) * 2; i++) r[k].R[i] = 0.25f * (float)i;
        r[k].acc = 0.5 * k;
        double *g = result_array(&r[k], "gates", "g", "stage", 2 + k, "path", 2);
        g[0] = 1;
        double *b = result_array(&r[k], "switch_time", "s", "block", 3 - k, NULL, 0);
        b[0] = 2;
        result_set_scalar(&r[k], "spec", "x", 3.5);
        if (k < s.nruns) res[k] = &r[k];
    }
    if (s.nruns > 8 || output_write(path, &s, res)) abort();
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    base_len = (size_t)ftell(f);
    rewind(f);
    base = malloc(base_len);
    if (!base || fread(base, 1, base_len, f) != base_len) abort();
    fclose(f);
    for (int k = 0; k < 2; k++) result_free(&r[k]);
    sweep_free(&s);
}

static void count(const char *id, run_result *r, void *ctx) {
    if (strlen(id) > 16) abort();
    (*(int *)ctx)++;
    result_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!base) {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof path, "%s/fuzz_nc.%ld.nc", tmp, (long)getpid());
        snprintf(out, sizeof out, "%s/fuzz_nc.%ld.out.nc", tmp, (long)getpid());
        build_base();
    }
    int raw = size >= 4 && (!memcmp(data, "\x89HDF", 4) || !memcmp(data, "CDF", 3));
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (raw) {
        fwrite(data, 1, size, f);
    } else {
        unsigned char *b = malloc(base_len);
        if (!b) abort();
        memcpy(b, base, base_len);
        for (size_t i = 0; i + 4 <= size; i += 4) {
            size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8 | (size_t)data[i + 2] << 16) % base_len;
            b[off] = data[i + 3];
        }
        fwrite(b, 1, base_len, f);
        free(b);
    }
    fclose(f);
    int n = 0;
    int rc = output_read(path, count, &n);
    FILE *devnull = fopen("/dev/null", "w");
    output_status(path, devnull);
    fclose(devnull);
    if (rc == 0) {
        char *parts[1] = {path};
        merge_stats st;
        unlink(out);
        if (output_merge(NULL, out, parts, 1, &st) == 0 && st.nmerged + st.nstray > n) abort();
        unlink(out);
    }
    return 0;
}
