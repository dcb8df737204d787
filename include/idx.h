/* idx.h — reader/writer for IDX files (the MNIST format), plain or gzip-compressed.
 *
 * Validates the magic (0x00 0x00 type ndims), dimensions and length; a bad file is an error
 * naming the path and what was expected, never a crash. Only unsigned-byte data (type 0x08)
 * is supported, which is what MNIST and Fashion-MNIST use. */
#ifndef CLS_IDX_H
#define CLS_IDX_H

#include <stdint.h>

typedef struct {
    int ndims;
    int dims[4];
    long count;        /* product of dims */
    uint8_t *data;     /* (count) */
} idx_array;

/* Reads path (gzip or plain, detected by content). On success returns 0 and fills a
 * (caller frees with idx_free). On failure returns -1, a is zeroed, cls_seterr names path. */
int idx_read(idx_array *a, const char *path);
/* Writes a as an IDX file (gzip-compressed when path ends in ".gz"). 0 or -1. */
int idx_write(const idx_array *a, const char *path);
void idx_free(idx_array *a);

#endif
