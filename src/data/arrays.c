/* arrays.c — one entry point for a user's array files (include/arrays.h): NumPy .npy, IDX
 * (plain or gzip, the MNIST format) and NetCDF variables, read into an npy_array. Called by
 * the file-defined benchmark (src/data/) and tests; calls npy.c, idx.c, netCDF and util. */
#include "arrays.h"

#include "idx.h"
#include "util.h"

#include <netcdf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

array_format array_format_of(const char *path) {
    if (ends_with(path, ".npy")) return ARRAY_NPY;
    if (ends_with(path, ".nc") || ends_with(path, ".nc4") || ends_with(path, ".netcdf"))
        return ARRAY_NETCDF;
    if (ends_with(path, ".gz") || ends_with(path, ".idx") || ends_with(path, "-ubyte") ||
        strstr(path, "-idx"))
        return ARRAY_IDX;
    return ARRAY_UNKNOWN;
}

static int read_idx(npy_array *a, const char *path) {
    idx_array ia;
    if (idx_read(&ia, path)) return -1;
    memset(a, 0, sizeof *a);
    a->dtype = NPY_U8;
    a->itemsize = 1;
    a->ndims = ia.ndims;
    for (int d = 0; d < ia.ndims; d++) a->dims[d] = ia.dims[d];
    a->count = ia.count;
    a->data = ia.data;   /* same allocator: ownership moves */
    return 0;
}

static int nc_fail(const char *path, const char *var, int status, const char *what) {
    if (var)
        cls_seterr("%s: %s '%s'%s%s", path, what, var, status ? ": " : "",
                   status ? nc_strerror(status) : "");
    else
        cls_seterr("%s: %s: %s", path, what, nc_strerror(status));
    return -1;
}

static int read_nc(npy_array *a, const char *path, const char *var) {
    memset(a, 0, sizeof *a);
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) {
        cls_seterr("%s: cannot open NetCDF file (%s)", path,
                   access(path, F_OK) ? "no such file" : "not a regular file");
        return -1;
    }
    if (!var || !*var) {
        cls_seterr("%s: a NetCDF file needs a variable name (write PATH.nc:VARIABLE, e.g. "
                   "train.nc:x)", path);
        return -1;
    }
    int nc, id, st2 = nc_open(path, NC_NOWRITE, &nc);
    if (st2) return nc_fail(path, NULL, st2, "cannot open NetCDF file");
    int rc = -1;
    nc_type t;
    int nd, dimids[NC_MAX_VAR_DIMS];
    if ((st2 = nc_inq_varid(nc, var, &id))) {
        nc_fail(path, var, 0, "has no variable");
        goto done;
    }
    if ((st2 = nc_inq_var(nc, id, NULL, &t, &nd, dimids, NULL))) {
        nc_fail(path, var, st2, "cannot read variable");
        goto done;
    }
    if (nd < 1 || nd > NPY_MAX_DIMS) {
        cls_seterr("%s: variable '%s' has %d dimensions (expected 1 to %d)", path, var, nd,
                   NPY_MAX_DIMS);
        goto done;
    }
    npy_dtype dt;
    switch (t) {
    case NC_UBYTE: dt = NPY_U8; break;
    case NC_BYTE: dt = NPY_I8; break;
    case NC_SHORT: dt = NPY_I16; break;
    case NC_USHORT: dt = NPY_U16; break;
    case NC_INT: dt = NPY_I32; break;
    case NC_UINT: dt = NPY_U32; break;
    case NC_INT64: dt = NPY_I64; break;
    case NC_UINT64: dt = NPY_U64; break;
    case NC_FLOAT: dt = NPY_F32; break;
    case NC_DOUBLE: dt = NPY_F64; break;
    default:
        cls_seterr("%s: variable '%s' has an unsupported type (expected an integer or "
                   "floating-point variable)", path, var);
        goto done;
    }
    static const int sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    a->dtype = dt;
    a->itemsize = sizes[dt];
    a->ndims = nd;
    long long count = 1;
    for (int d = 0; d < nd; d++) {
        size_t len;
        if ((st2 = nc_inq_dimlen(nc, dimids[d], &len))) {
            nc_fail(path, var, st2, "cannot read a dimension of");
            goto done;
        }
        a->dims[d] = (long)len;
        if (__builtin_mul_overflow(count, (long long)len, &count) || count > (1LL << 34)) {
            cls_seterr("%s: variable '%s' is too large", path, var);
            goto done;
        }
    }
    a->count = (long)count;
    a->data = malloc(count ? (size_t)count * (size_t)a->itemsize : 1);
    if (!a->data) {
        cls_seterr("%s: out of memory for variable '%s'", path, var);
        goto done;
    }
    if (count && (st2 = nc_get_var(nc, id, a->data))) {
        nc_fail(path, var, st2, "cannot read variable");
        goto done;
    }
    rc = 0;
done:
    nc_close(nc);
    if (rc) npy_free(a);
    return rc;
}

int array_read(npy_array *a, const char *spec) {
    memset(a, 0, sizeof *a);
    /* PATH.nc:VAR names a NetCDF variable */
    const char *colon = strrchr(spec, ':');
    if (colon && colon > spec) {
        size_t n = (size_t)(colon - spec);
        char *path = malloc(n + 1);
        if (!path) {
            cls_seterr("out of memory");
            return -1;
        }
        memcpy(path, spec, n);
        path[n] = 0;
        if (array_format_of(path) == ARRAY_NETCDF) {
            int r = read_nc(a, path, colon + 1);
            free(path);
            return r;
        }
        free(path);
    }
    switch (array_format_of(spec)) {
    case ARRAY_NPY: return npy_read(a, spec);
    case ARRAY_IDX: return read_idx(a, spec);
    case ARRAY_NETCDF: return read_nc(a, spec, NULL);
    default:
        cls_seterr("%s: unknown array file format (expected .npy, IDX (.gz, .idx, -ubyte) or "
                   "NetCDF PATH.nc:VARIABLE)", spec);
        return -1;
    }
}
