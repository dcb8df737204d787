/* fuzz_result.c — libFuzzer harness for the two binary codecs that cross process
 * boundaries: result_unpack (MPI result messages, the crash-isolation pipe, the journal) and
 * cfg_unpack (MPI work messages). The first byte picks the codec. Whatever unpacks must
 * re-pack to exactly the same bytes (the encodings are canonical), and a malformed buffer
 * must be rejected without a crash, an over-read or a large allocation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    char *again = NULL;
    size_t alen = 0;
    if (data[0] & 1) {
        run_config c;
        if (cfg_unpack(&c, buf, len)) return 0;
        /* Later duplicates replace earlier keys, so only the set of keys is canonical:
         * check that a second round trip is the identity. */
        cfg_pack(&c, &again, &alen);
        run_config c2;
        if (cfg_unpack(&c2, again, alen)) abort();
        char *again2;
        size_t alen2;
        cfg_pack(&c2, &again2, &alen2);
        if (alen2 != alen || memcmp(again, again2, alen)) abort();
        free(again2);
        cfg_free(&c2);
        cfg_free(&c);
    } else {
        run_result r;
        if (result_unpack(&r, buf, len)) return 0;
        result_pack(&r, &again, &alen);
        if (alen != len || memcmp(again, buf, len)) {
            fprintf(stderr, "result_pack(result_unpack(b)) != b (%zu vs %zu bytes)\n", alen, len);
            abort();
        }
        result_free(&r);
    }
    free(again);
    return 0;
}
