/* npy.h — reader for NumPy .npy files (format versions 1.0, 2.0 and 3.0), the data layer's
 * way to take a researcher's own arrays (docs/spec.md, "Your own data").
 *
 * Accepted: C-order arrays of 1 to 4 dimensions with little-endian or byte-sized dtypes
 * uint8 (|u1), int8 (|i1), int16/uint16, int32/uint32, int64/uint64 (<i2 <u2 <i4 <u4 <i8
 * <u8), float32 (<f4) and float64 (<f8). Everything else — Fortran order, big-endian data,
 * object or structured dtypes, more than 4 dimensions, a header that is not the literal
 * dictionary numpy writes, a payload whose length does not match the shape — is an error
 * naming the path and what was expected, never a crash. The reader is fuzzed
 * (tests/fuzz/fuzz_npy.c) and allocates only after checking the file is long enough.
 *
 * Called by the data layer (src/data/) and by tests; calls only util. */
#ifndef CLS_NPY_H
#define CLS_NPY_H

#include <stdint.h>

typedef enum {
    NPY_U8 = 0, NPY_I8, NPY_U16, NPY_I16, NPY_U32, NPY_I32, NPY_U64, NPY_I64, NPY_F32, NPY_F64
} npy_dtype;

#define NPY_MAX_DIMS 4

typedef struct {
    npy_dtype dtype;
    int itemsize;            /* bytes per element */
    int ndims;               /* 0 (a scalar) to NPY_MAX_DIMS */
    long dims[NPY_MAX_DIMS];
    long count;              /* product of dims (1 for a scalar) */
    void *data;              /* count * itemsize bytes, native (little-endian) layout */
} npy_array;

/* Reads path. On success returns 0 and fills a (caller frees with npy_free); on failure
 * returns -1, a is zeroed and cls_seterr says "PATH: what was wrong (expected ...)". */
int npy_read(npy_array *a, const char *path);
/* Writes a as a version 1.0 .npy file (used by tests and tools). 0 or -1 with cls_seterr. */
int npy_write(const npy_array *a, const char *path);
void npy_free(npy_array *a);
/* The numpy spelling of a dtype ("uint8", "float32", ...). */
const char *npy_dtype_name(npy_dtype t);
/* Element i as a double / as an integer (exact for integer dtypes; float values truncated). */
double npy_get_f64(const npy_array *a, long i);
int64_t npy_get_i64(const npy_array *a, long i);
/* 1 for the integer dtypes. */
int npy_is_integer(npy_dtype t);

#endif
