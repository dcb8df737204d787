/* test_npy.c — the .npy reader on files written by numpy 1.24 (tests/data/npy/, made with
 * np.save and numpy.lib.format.write_array), a write/read round trip, and every malformed
 * case with its message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netcdf.h>

#include "arrays.h"
#include "idx.h"
#include "npy.h"
#include "test.h"
#include "util.h"

#define FIX "tests/data/npy/"

static void test_numpy_files(void) {
    npy_array a;
    CHECK(npy_read(&a, FIX "u8_2x3x4x1.npy") == 0, "%s", cls_geterr());
    CHECK(a.dtype == NPY_U8 && a.ndims == 4 && a.dims[0] == 2 && a.dims[1] == 3 &&
              a.dims[2] == 4 && a.dims[3] == 1 && a.count == 24, "u8 shape");
    for (long i = 0; i < a.count; i++) CHECK(((uint8_t *)a.data)[i] == i, "u8 value %ld", i);
    npy_free(&a);

    CHECK(npy_read(&a, FIX "f32_3x2.npy") == 0, "%s", cls_geterr());
    CHECK(a.dtype == NPY_F32 && a.ndims == 2 && a.dims[0] == 3 && a.dims[1] == 2, "f32 shape");
    for (long i = 0; i < 6; i++)
        CHECK(((float *)a.data)[i] == ((float)i - 2.5f) / 4.0f, "f32 value %ld", i);
    CHECK(npy_get_f64(&a, 5) == 0.625, "get_f64");
    npy_free(&a);

    CHECK(npy_read(&a, FIX "i64_5.npy") == 0, "%s", cls_geterr());
    CHECK(a.dtype == NPY_I64 && a.ndims == 1 && a.count == 5 && npy_is_integer(a.dtype), "i64");
    CHECK(npy_get_i64(&a, 1) == 9 && npy_get_i64(&a, 3) == -1 &&
              npy_get_i64(&a, 4) == (int64_t)1 << 40, "i64 values");
    npy_free(&a);

    CHECK(npy_read(&a, FIX "i32_5.npy") == 0 && a.dtype == NPY_I32 && npy_get_i64(&a, 3) == 7,
          "i32");
    npy_free(&a);
    CHECK(npy_read(&a, FIX "f64_2.npy") == 0 && a.dtype == NPY_F64 &&
              npy_get_f64(&a, 1) == -2.25, "f64");
    npy_free(&a);
    CHECK(npy_read(&a, FIX "f32_v2.npy") == 0 && a.count == 4 && npy_get_f64(&a, 3) == 3.0,
          "format 2.0: %s", cls_geterr());
    npy_free(&a);
    CHECK(npy_read(&a, FIX "u8_empty.npy") == 0 && a.count == 0 && a.dims[0] == 0 &&
              a.dims[1] == 3, "empty array");
    npy_free(&a);
    CHECK(npy_read(&a, FIX "u8_scalar.npy") == 0 && a.ndims == 0 && a.count == 1 &&
              npy_get_i64(&a, 0) == 7, "scalar");
    npy_free(&a);
}

/* Each malformed file fails with a message naming the path and the expectation. */
static void expect_error(const char *path, const char *needle) {
    npy_array a;
    int r = npy_read(&a, path);
    CHECK(r == -1, "%s accepted", path);
    CHECK(strstr(cls_geterr(), path) != NULL, "message without the path: %s", cls_geterr());
    CHECK(strstr(cls_geterr(), needle) != NULL, "%s: message '%s' lacks '%s'", path,
          cls_geterr(), needle);
    CHECK(a.data == NULL && a.count == 0, "%s: array not zeroed", path);
}

static void test_malformed(void) {
    expect_error(FIX "f32_fortran.npy", "Fortran-order");
    expect_error(FIX "f32_bigendian.npy", "big-endian");
    expect_error(FIX "obj.npy", "unsupported dtype");
    expect_error(FIX "u8_5d.npy", "more than 4 dimensions");
    expect_error(FIX "f32_truncated.npy", "holds 21");
    expect_error(FIX "f32_trailing.npy", "holds 28");
    expect_error(FIX "does_not_exist.npy", "cannot open");
    expect_error("tests/data/npy", "not a regular file");
    expect_error("tests/test_npy.c", "not a .npy file");
}

/* Hand-made headers: each must be refused (or, for the last, accepted). */
static void write_raw(const char *path, int major, const char *dict, long claim_len,
                      const void *payload, size_t plen) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    long hl = claim_len >= 0 ? claim_len : (long)strlen(dict);
    int n = 10;
    if (major == 1) {
        pre[8] = (unsigned char)(hl & 0xff);
        pre[9] = (unsigned char)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++) pre[8 + i] = (unsigned char)(hl >> (8 * i));
        n = 12;
    }
    fwrite(pre, 1, (size_t)n, f);
    fwrite(dict, 1, strlen(dict), f);
    if (plen) fwrite(payload, 1, plen, f);
    fclose(f);
}

static void test_headers(void) {
    char dir[] = "/tmp/clsweep-npy-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char p[128];
    snprintf(p, sizeof p, "%s/x.npy", dir);
    uint8_t pay[6] = {1, 2, 3, 4, 5, 6};
    struct {
        int major;
        const char *dict;
        long claim;
        const char *needle;
    } bad[] = {
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), 'x': 1}\n", -1, "unexpected key"},
        {1, "{'descr': '|u1', 'fortran_order': False}\n", -1, "malformed"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,)\n", -1, "malformed"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }\n", 60000, "out of range"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (-6,), }\n", -1, "malformed"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999,), }\n", -1, "malformed"},
        {1, "{'descr': '<c8', 'fortran_order': False, 'shape': (6,), }\n", -1, "unsupported dtype"},
        {1, "{'descr': '|u1', 'fortran_order': Maybe, 'shape': (6,), }\n", -1, "malformed"},
        {1, "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (6,), }\n", -1, "malformed"},
        {4, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }\n", -1, "version 4"},
        {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576), }\n", -1, "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unlink(p);
        write_raw(p, bad[i].major, bad[i].dict, bad[i].claim, pay, sizeof pay);
        expect_error(p, bad[i].needle);
    }
    /* the same header, well formed, version 3.0, double quotes: accepted */
    unlink(p);
    write_raw(p, 3, "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (2, 3)}   \n", -1,
              pay, sizeof pay);
    npy_array a;
    CHECK(npy_read(&a, p) == 0 && a.count == 6 && a.dims[1] == 3 &&
              ((uint8_t *)a.data)[5] == 6, "v3 header: %s", cls_geterr());
    npy_free(&a);
    unlink(p);
    rmdir(dir);
}

static void test_roundtrip(void) {
    char dir[] = "/tmp/clsweep-npy-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char p[128];
    snprintf(p, sizeof p, "%s/r.npy", dir);
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i * 0.5f - 1.0f;
    npy_array w = {NPY_F32, 4, 3, {2, 3, 2, 0}, 12, v};
    CHECK(npy_write(&w, p) == 0, "%s", cls_geterr());
    CHECK(npy_write(&w, p) == -1 && strstr(cls_geterr(), "refusing"), "overwrite refused");
    npy_array a;
    CHECK(npy_read(&a, p) == 0 && a.ndims == 3 && a.count == 12 &&
              !memcmp(a.data, v, sizeof v), "round trip: %s", cls_geterr());
    npy_free(&a);
    /* a symlink at the target is not followed */
    char q[128];
    snprintf(q, sizeof q, "%s/link.npy", dir);
    CHECK(symlink(p, q) == 0, "symlink");
    CHECK(npy_write(&w, q) == -1, "write through a symlink refused");
    unlink(q);
    unlink(p);
    rmdir(dir);
}

/* array_read: the same 2×3 uint8 array as .npy, IDX (gzip) and a NetCDF variable. */
static void test_array_formats(void) {
    char dir[] = "/tmp/clsweep-arr-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    uint8_t v[6] = {1, 2, 3, 250, 0, 7};
    char p[160], q[160];
    snprintf(p, sizeof p, "%s/a.npy", dir);
    npy_array w = {NPY_U8, 1, 2, {2, 3}, 6, v};
    CHECK(npy_write(&w, p) == 0, "%s", cls_geterr());
    snprintf(q, sizeof q, "%s/a-idx3-ubyte.gz", dir);
    idx_array ia = {2, {2, 3}, 6, v};
    CHECK(idx_write(&ia, q) == 0, "%s", cls_geterr());
    char nc[160], ncv[180];
    snprintf(nc, sizeof nc, "%s/a.nc", dir);
    int id, d[2], var;
    CHECK(nc_create(nc, NC_NETCDF4 | NC_CLOBBER, &id) == NC_NOERR, "nc_create");
    nc_def_dim(id, "n", 2, &d[0]);
    nc_def_dim(id, "k", 3, &d[1]);
    nc_def_var(id, "x", NC_UBYTE, 2, d, &var);
    nc_enddef(id);
    nc_put_var_uchar(id, var, v);
    nc_close(id);
    const char *specs[3] = {p, q, ncv};
    snprintf(ncv, sizeof ncv, "%s:x", nc);
    for (int i = 0; i < 3; i++) {
        npy_array a;
        CHECK(array_read(&a, specs[i]) == 0, "%s: %s", specs[i], cls_geterr());
        CHECK(a.dtype == NPY_U8 && a.ndims == 2 && a.dims[0] == 2 && a.dims[1] == 3 &&
                  a.count == 6 && a.data && !memcmp(a.data, v, 6), "%s: contents", specs[i]);
        npy_free(&a);
    }
    npy_array a;
    snprintf(ncv, sizeof ncv, "%s:nope", nc);
    CHECK(array_read(&a, ncv) == -1 && strstr(cls_geterr(), "has no variable 'nope'"), "%s",
          cls_geterr());
    CHECK(array_read(&a, nc) == -1 && strstr(cls_geterr(), "needs a variable name"), "%s",
          cls_geterr());
    snprintf(ncv, sizeof ncv, "%s/none.nc:x", dir);
    CHECK(array_read(&a, ncv) == -1 && strstr(cls_geterr(), "no such file"), "%s", cls_geterr());
    CHECK(array_read(&a, "x.csv") == -1 && strstr(cls_geterr(), "unknown array file format"),
          "%s", cls_geterr());
    unlink(p);
    unlink(q);
    unlink(nc);
    rmdir(dir);
}

int main(void) {
    RUN_TEST(test_numpy_files);
    RUN_TEST(test_malformed);
    RUN_TEST(test_headers);
    RUN_TEST(test_roundtrip);
    RUN_TEST(test_array_formats);
    TEST_EXIT();
}
