/* npy.c — NumPy .npy reader/writer (include/npy.h). The reader trusts nothing: it checks
 * the magic, the version, the header's length and that it is exactly the Python dictionary
 * literal numpy writes ({'descr': ..., 'fortran_order': ..., 'shape': (...), }), every
 * dimension, and that the file holds exactly the payload the shape asks for — before it
 * allocates anything. Called by the data layer and tests; calls only util. */
#include "npy.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A header longer than this is not one we can use (ours are < 200 bytes; numpy's own limit
 * for simple dtypes is far below it). */
#define NPY_MAX_HEADER (1L << 16)
/* Largest payload accepted: 64 GiB, and never more than the file holds. */
#define NPY_MAX_BYTES (1LL << 36)

static const struct {
    const char *descr;   /* without the byte-order character */
    npy_dtype t;
    int size;
    const char *name;
} dtypes[] = {
    {"u1", NPY_U8, 1, "uint8"},    {"i1", NPY_I8, 1, "int8"},
    {"u2", NPY_U16, 2, "uint16"},  {"i2", NPY_I16, 2, "int16"},
    {"u4", NPY_U32, 4, "uint32"},  {"i4", NPY_I32, 4, "int32"},
    {"u8", NPY_U64, 8, "uint64"},  {"i8", NPY_I64, 8, "int64"},
    {"f4", NPY_F32, 4, "float32"}, {"f8", NPY_F64, 8, "float64"},
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *npy_dtype_name(npy_dtype t) {
    for (int i = 0; i < NDTYPES; i++)
        if (dtypes[i].t == t) return dtypes[i].name;
    return "?";
}

int npy_is_integer(npy_dtype t) { return t != NPY_F32 && t != NPY_F64; }

void npy_free(npy_array *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- the header dictionary: a tiny parser for exactly the literal numpy writes ---- */

typedef struct {
    const char *s, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t')) c->s++;
}

static int eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->s < c->end && *c->s == ch) {
        c->s++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") without escapes, into out (at most cap-1 chars). */
static int read_str(cursor *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"')) return -1;
    char q = *c->s++;
    size_t n = 0;
    while (c->s < c->end && *c->s != q) {
        if (*c->s == '\\' || n + 1 >= cap) return -1;
        out[n++] = *c->s++;
    }
    if (c->s >= c->end) return -1;
    c->s++;
    out[n] = 0;
    return 0;
}

static int read_word(cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->s) >= n && !memcmp(c->s, w, n)) {
        c->s += n;
        return 1;
    }
    return 0;
}

/* A tuple of non-negative integers: (), (n,), (a, b), (a, b, c, ) ... */
static int read_shape(cursor *c, npy_array *a) {
    if (!eat(c, '(')) return -1;
    a->ndims = 0;
    for (;;) {
        if (eat(c, ')')) return 0;
        skip_ws(c);
        if (c->s >= c->end || !isdigit((unsigned char)*c->s)) return -1;
        long long v = 0;
        while (c->s < c->end && isdigit((unsigned char)*c->s)) {
            v = v * 10 + (*c->s++ - '0');
            if (v > (1LL << 40)) return -1;
        }
        if (c->s < c->end && (*c->s == 'L' || *c->s == 'l')) c->s++;   /* Python 2 longs */
        if (a->ndims >= NPY_MAX_DIMS) return -2;
        a->dims[a->ndims++] = (long)v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return 0;
        return -1;
    }
}

static int parse_header(const char *path, const char *h, long len, npy_array *a) {
    cursor c = {h, h + len};
    /* the header ends in '\n' (padding spaces before it) */
    while (c.end > c.s && (c.end[-1] == '\n' || c.end[-1] == ' ' || c.end[-1] == '\0')) c.end--;
    int have_descr = 0, have_order = 0, have_shape = 0;
    char key[32], descr[32];
    if (!eat(&c, '{')) goto bad;
    for (;;) {
        if (eat(&c, '}')) break;
        if (read_str(&c, key, sizeof key) || !eat(&c, ':')) goto bad;
        if (!strcmp(key, "descr")) {
            if (have_descr++ || read_str(&c, descr, sizeof descr)) goto bad;
        } else if (!strcmp(key, "fortran_order")) {
            if (have_order++) goto bad;
            if (read_word(&c, "True")) {
                cls_seterr("%s: Fortran-order array (expected C order: save with "
                           "numpy.ascontiguousarray)", path);
                return -1;
            }
            if (!read_word(&c, "False")) goto bad;
        } else if (!strcmp(key, "shape")) {
            if (have_shape++) goto bad;
            int r = read_shape(&c, a);
            if (r == -2) {
                cls_seterr("%s: more than %d dimensions (expected (N, D), (N, H, W), "
                           "(N, H, W, C) or (N, C, H, W))", path, NPY_MAX_DIMS);
                return -1;
            }
            if (r) goto bad;
        } else {
            cls_seterr("%s: unexpected key '%s' in the .npy header (expected descr, "
                       "fortran_order, shape)", path, key);
            return -1;
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        goto bad;
    }
    skip_ws(&c);
    if (c.s != c.end || !have_descr || !have_order || !have_shape) goto bad;
    /* descr: byte order + kind + size */
    char order = descr[0];
    const char *code = descr + 1;
    int found = -1;
    for (int i = 0; i < NDTYPES; i++)
        if (!strcmp(code, dtypes[i].descr)) found = i;
    if (found < 0 || (order != '<' && order != '|' && order != '=' && order != '>')) {
        cls_seterr("%s: unsupported dtype '%s' (expected one of uint8, int8, int16, uint16, "
                   "int32, uint32, int64, uint64, float32, float64)", path, descr);
        return -1;
    }
    if (order == '>' && dtypes[found].size > 1) {
        cls_seterr("%s: big-endian dtype '%s' (expected little-endian: save with "
                   "arr.astype(arr.dtype.newbyteorder('<')))", path, descr);
        return -1;
    }
    if (order == '|' && dtypes[found].size > 1) goto bad;
    a->dtype = dtypes[found].t;
    a->itemsize = dtypes[found].size;
    return 0;
bad:
    cls_seterr("%s: malformed .npy header (expected numpy's dictionary {'descr': ..., "
               "'fortran_order': False, 'shape': (...)})", path);
    return -1;
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) {
    return le16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int npy_read(npy_array *a, const char *path) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) {
        cls_seterr("%s: cannot open .npy file: %s", path, strerror(errno));
        return -1;
    }
    char *hdr = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        cls_seterr("%s: not a regular file (expected a .npy file)", path);
        goto fail;
    }
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        cls_seterr("%s: not a .npy file (expected the magic \\x93NUMPY)", path);
        goto fail;
    }
    int major = pre[6];
    long hlen, off;
    if (major == 1) {
        hlen = le16(pre + 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            cls_seterr("%s: truncated .npy header", path);
            goto fail;
        }
        hlen = (long)le32(pre + 8);
        off = 12;
    } else {
        cls_seterr("%s: .npy format version %d.%d (expected 1.0, 2.0 or 3.0)", path, major,
                   pre[7]);
        goto fail;
    }
    if (hlen <= 0 || hlen > NPY_MAX_HEADER || off + hlen > (long)st.st_size) {
        cls_seterr("%s: .npy header length %ld is out of range (file has %lld bytes)", path,
                   hlen, (long long)st.st_size);
        goto fail;
    }
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        cls_seterr("%s: out of memory", path);
        goto fail;
    }
    if (fread(hdr, 1, (size_t)hlen, f) != (size_t)hlen) {
        cls_seterr("%s: truncated .npy header", path);
        goto fail;
    }
    hdr[hlen] = 0;
    if (parse_header(path, hdr, hlen, a)) goto fail;
    free(hdr);
    hdr = NULL;
    long long count = 1;
    for (int d = 0; d < a->ndims; d++)
        if (__builtin_mul_overflow(count, (long long)a->dims[d], &count) || count > NPY_MAX_BYTES) {
            cls_seterr("%s: shape is too large", path);
            goto fail;
        }
    long long bytes = count * a->itemsize;
    long long have = (long long)st.st_size - (off + hlen);
    if (bytes > NPY_MAX_BYTES || have != bytes) {
        cls_seterr("%s: the shape asks for %lld bytes of %s data but the file holds %lld "
                   "(truncated or not a plain array)", path, bytes, npy_dtype_name(a->dtype),
                   have);
        goto fail;
    }
    a->count = (long)count;
    a->data = malloc(bytes ? (size_t)bytes : 1);
    if (!a->data) {
        cls_seterr("%s: out of memory for %lld bytes", path, bytes);
        goto fail;
    }
    if (bytes && fread(a->data, 1, (size_t)bytes, f) != (size_t)bytes) {
        cls_seterr("%s: read error: %s", path, ferror(f) ? strerror(errno) : "short file");
        goto fail;
    }
    fclose(f);
    return 0;
fail:
    free(hdr);
    free(a->data);
    memset(a, 0, sizeof *a);
    fclose(f);
    return -1;
}

int npy_write(const npy_array *a, const char *path) {
    const char *code = NULL;
    for (int i = 0; i < NDTYPES; i++)
        if (dtypes[i].t == a->dtype) code = dtypes[i].descr;
    if (!code || a->ndims < 0 || a->ndims > NPY_MAX_DIMS) {
        cls_seterr("%s: cannot write this array", path);
        return -1;
    }
    char dict[256], shape[128] = "";
    size_t n = 0;
    for (int d = 0; d < a->ndims; d++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%ld,%s", a->dims[d],
                              d + 1 < a->ndims ? " " : "");
    if (a->ndims > 1) shape[n - 1] = 0;   /* "(3, 4)" but "(3,)" */
    int len = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }",
                       a->itemsize == 1 ? '|' : '<', code, shape);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wbx");
    if (!f && errno == EEXIST) {
        cls_seterr("%s: exists (refusing to overwrite)", path);
        return -1;
    }
    if (!f) {
        cls_seterr("%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    unsigned hl = (unsigned)(len + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t bytes = (size_t)a->count * (size_t)a->itemsize;
    ok = ok && (bytes == 0 || fwrite(a->data, 1, bytes, f) == bytes);
    if (fclose(f) || !ok) {
        cls_seterr("%s: write error: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

double npy_get_f64(const npy_array *a, long i) {
    const unsigned char *p = (const unsigned char *)a->data + (size_t)i * (size_t)a->itemsize;
    switch (a->dtype) {
    case NPY_U8: return *(const uint8_t *)p;
    case NPY_I8: return *(const int8_t *)p;
    case NPY_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case NPY_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case NPY_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case NPY_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case NPY_U64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    case NPY_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case NPY_F32: { float v; memcpy(&v, p, 4); return v; }
    case NPY_F64: { double v; memcpy(&v, p, 8); return v; }
    }
    return 0.0;
}

int64_t npy_get_i64(const npy_array *a, long i) {
    const unsigned char *p = (const unsigned char *)a->data + (size_t)i * (size_t)a->itemsize;
    switch (a->dtype) {
    case NPY_U64: { uint64_t v; memcpy(&v, p, 8); return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }
    case NPY_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case NPY_F32: case NPY_F64: {
        double d = npy_get_f64(a, i);
        return d != d ? 0 : d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
    }
    default: return (int64_t)npy_get_f64(a, i);
    }
}
