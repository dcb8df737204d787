/* arrays.h — reads one array of a user's data set from a file, whatever its format:
 *   PATH.npy            NumPy .npy (include/npy.h says which dtypes)
 *   PATH.gz / .idx / *-ubyte   IDX, plain or gzip (uint8, the MNIST format)
 *   PATH.nc:VARIABLE    a variable of a NetCDF(-4) file (integer or floating point)
 * into an npy_array (native layout, caller frees with npy_free). Errors name the path and
 * what was expected. Called by the data layer and tests; calls npy, idx, netCDF, util. */
#ifndef CLS_ARRAYS_H
#define CLS_ARRAYS_H

#include "npy.h"

typedef enum { ARRAY_UNKNOWN = 0, ARRAY_NPY, ARRAY_IDX, ARRAY_NETCDF } array_format;

/* The format a path's name says (".npy", ".nc", ".gz"/".idx"/"-ubyte"). */
array_format array_format_of(const char *path);
/* 0, or -1 with cls_seterr. */
int array_read(npy_array *a, const char *spec);

#endif
