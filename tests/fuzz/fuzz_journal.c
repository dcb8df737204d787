/* fuzz_journal.c — libFuzzer harness: arbitrary bytes as an existing "<output>.journal"
 * (what a resumed sweep reads after a crash, a full disk or a stray file at that path).
 * journal_read must return the intact records or reject a non-journal; journal_open must cut
 * a damaged tail so that a record appended afterwards is read back as the last record, and
 * no damaged stretch is added. The bytes live in a regular temporary file (journal_open
 * refuses links, and /proc/self/fd/N is one). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "result.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int n;
    char last[17];
} seen_t;

static void on_record(const char *id, run_result *r, void *ctx) {
    seen_t *s = ctx;
    if (strlen(id) != 16) abort();
    s->n++;
    snprintf(s->last, sizeof s->last, "%s", id);
    result_free(r);
}

static char path[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof path, "%s/fuzz_journal.%ld", tmp, (long)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
    seen_t before = {0, ""}, after = {0, ""};
    int bad_before = 0, bad_after = 0;
    if (journal_read(path, on_record, &before, &bad_before)) return 0; /* not a journal */
    journal_t j;
    if (journal_open(&j, path)) {
        fprintf(stderr, "journal_read accepted what journal_open rejects: %s\n", cls_geterr());
        abort();
    }
    run_result r;
    result_init(&r);
    result_alloc(&r, 2, 2);
    snprintf(r.metric, sizeof r.metric, "mse");
    if (journal_append(&j, "0123456789abcdef", &r, 1)) abort();
    result_free(&r);
    journal_close(&j);
    if (journal_read(path, on_record, &after, &bad_after)) abort();
    if (after.n != before.n + 1 || strcmp(after.last, "0123456789abcdef") || bad_after > bad_before) {
        fprintf(stderr, "after open+append: %d records (was %d), last %s, %d damaged (was %d)\n",
                after.n, before.n, after.last, bad_after, bad_before);
        abort();
    }
    return 0;
}
