/* fuzz_idx.c — libFuzzer harness: arbitrary bytes as an IDX file (plain or gzip). The bytes
 * go into a memfd and idx_read reads it through /proc/self/fd/N, exactly as it reads a real
 * file. idx_read must accept it with consistent dimensions or reject it with a message that
 * names the path; never crash, leak or over-allocate. An accepted array must write and
 * read back identically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "idx.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memfd < 0) {
        memfd = memfd_create("fuzz_idx", 0);
        if (memfd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();
    idx_array a;
    if (idx_read(&a, path) == 0) {
        long count = 1;
        for (int d = 0; d < a.ndims; d++) {
            if (a.dims[d] <= 0) abort();
            count *= a.dims[d];
        }
        if (a.ndims < 1 || a.ndims > 4 || count != a.count || !a.data) abort();
        /* Accepted: the file holds the header plus exactly count bytes (when plain). */
        if (size >= 2 && data[0] == 0 && (size_t)(4 + 4 * a.ndims + a.count) != size) abort();
        idx_free(&a);
    } else if (!strstr(cls_geterr(), path)) {
        fprintf(stderr, "error message without the path: %s\n", cls_geterr());
        abort();
    }
    return 0;
}
