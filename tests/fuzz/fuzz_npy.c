/* fuzz_npy.c — libFuzzer harness: arbitrary bytes as a .npy file. The bytes go into a memfd
 * read through /proc/self/fd/N, exactly as npy_read reads a real file. npy_read must accept
 * them with a consistent shape (the payload exactly count × itemsize bytes) or reject them
 * with a message naming the path; never crash, leak or allocate more than the file holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "npy.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memfd < 0) {
        memfd = memfd_create("fuzz_npy", 0);
        if (memfd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();
    npy_array a;
    if (npy_read(&a, path) == 0) {
        long count = 1;
        for (int d = 0; d < a.ndims; d++) {
            if (a.dims[d] < 0) abort();
            count *= a.dims[d];
        }
        if (a.ndims < 0 || a.ndims > NPY_MAX_DIMS || count != a.count || !a.data) abort();
        if ((size_t)a.count * (size_t)a.itemsize > size) abort();
        for (long i = 0; i < a.count && i < 16; i++) (void)npy_get_f64(&a, i);
        npy_free(&a);
    } else if (!strstr(cls_geterr(), path)) {
        fprintf(stderr, "error message without the path: %s\n", cls_geterr());
        abort();
    }
    return 0;
}
