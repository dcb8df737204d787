/* idx.c — IDX reader/writer (plain or gzip through zlib). The reader trusts nothing in the
 * file: it checks the magic, every dimension and the exact length, and it grows its buffer
 * with the bytes actually read, so a header that claims gigabytes costs nothing until the
 * data is really there (the reader is meant to survive fuzzing). */
#include "idx.h"

#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 4
/* Largest payload accepted: 2 GiB, far beyond any image set this project reads. */
#define IDX_MAX_BYTES (1L << 31)
/* zlib's gzread/gzwrite take unsigned and return int: move at most this much per call. */
#define IDX_IO_CHUNK (1 << 24)

/* Why a gz read came up short: zlib's message when it had one, else "end of file".
 * zlib prefixes its messages with the path, which our messages already start with. */
static const char *gz_reason(gzFile f, const char *path) {
    int code = Z_OK;
    const char *msg = gzerror(f, &code); /* for Z_ERRNO zlib stores strerror's text */
    if (code == Z_OK || !msg || !*msg) return "end of file";
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    return msg;
}

/* Reads up to n bytes; returns the count read (short only at end of data) or -1 on a
 * read/decompression error. */
static long gz_read_full(gzFile f, uint8_t *buf, long n) {
    long got = 0;
    while (got < n) {
        long want = n - got;
        if (want > IDX_IO_CHUNK) want = IDX_IO_CHUNK;
        int r = gzread(f, buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += r;
    }
    return got;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int idx_read(idx_array *a, const char *path) {
    memset(a, 0, sizeof *a);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        cls_seterr("%s: cannot open IDX file: %s", path,
                   errno ? strerror(errno) : "out of memory");
        return -1;
    }
    uint8_t *data = NULL;
    uint8_t head[4 + 4 * IDX_MAX_DIMS];

    long got = gz_read_full(f, head, 4);
    if (got < 0) {
        cls_seterr("%s: read error: %s", path, gz_reason(f, path));
        goto fail;
    }
    if (got == 0) {
        cls_seterr("%s: empty file, expected an IDX header (magic 00 00 08 0N)", path);
        goto fail;
    }
    if (got < 4) {
        cls_seterr("%s: truncated: expected a 4-byte IDX magic, found %ld byte(s)", path, got);
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0 || head[3] < 1 || head[3] > IDX_MAX_DIMS) {
        cls_seterr("%s: not an IDX file: expected magic 00 00 08 0N with N in 1..%d, "
                   "found %02x %02x %02x %02x", path, IDX_MAX_DIMS,
                   head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[2] != IDX_TYPE_UBYTE) {
        cls_seterr("%s: unsupported IDX data type 0x%02x: expected 0x08 (unsigned byte)",
                   path, head[2]);
        goto fail;
    }
    int ndims = head[3];
    got = gz_read_full(f, head + 4, 4L * ndims);
    if (got < 0) {
        cls_seterr("%s: read error in IDX header: %s", path, gz_reason(f, path));
        goto fail;
    }
    if (got < 4L * ndims) {
        cls_seterr("%s: truncated: expected %d dimension(s) (%d header bytes), found %ld bytes",
                   path, ndims, 4 * ndims, got);
        goto fail;
    }
    long count = 1;
    for (int d = 0; d < ndims; d++) {
        uint32_t v = be32(head + 4 + 4 * d);
        if (v == 0) {
            cls_seterr("%s: dimension %d is 0: expected every dimension > 0", path, d);
            goto fail;
        }
        if (v > INT_MAX) {
            cls_seterr("%s: IDX dimension %d too large: %lu, expected at most %d", path, d,
                       (unsigned long)v, INT_MAX);
            goto fail;
        }
        /* count <= IDX_MAX_BYTES before the multiply, v < 2^31: no 64-bit overflow. */
        count *= (long)v;
        if (count > IDX_MAX_BYTES) {
            cls_seterr("%s: IDX dimensions too large: their product exceeds %ld bytes "
                       "(at dimension %d, %lu)", path, IDX_MAX_BYTES, d, (unsigned long)v);
            goto fail;
        }
        a->dims[d] = (int)v;
    }

    /* Grow with the data actually present instead of trusting the header's size. */
    long cap = count < (1L << 20) ? count : (1L << 20), have = 0;
    data = xmalloc((size_t)cap);
    for (;;) {
        got = gz_read_full(f, data + have, cap - have);
        if (got < 0) {
            cls_seterr("%s: read error after %ld of %ld data bytes: %s", path, have, count,
                       gz_reason(f, path));
            goto fail;
        }
        have += got;
        if (have < cap) {
            cls_seterr("%s: truncated: expected %ld data bytes after the header, found %ld (%s)",
                       path, count, have, gz_reason(f, path));
            goto fail;
        }
        if (cap == count) break;
        cap = cap * 2 < count ? cap * 2 : count;
        data = xrealloc(data, (size_t)cap);
    }
    /* Exact length: one more byte means trailing garbage; this read also makes zlib check
     * the gzip trailer (CRC and length). */
    uint8_t extra;
    got = gz_read_full(f, &extra, 1);
    if (got < 0) {
        cls_seterr("%s: read error at end of data: %s", path, gz_reason(f, path));
        goto fail;
    }
    if (got > 0) {
        cls_seterr("%s: trailing garbage: expected exactly %ld data bytes for the declared "
                   "dimensions, found more", path, count);
        goto fail;
    }
    int zerr = gzclose(f);
    f = NULL;
    if (zerr != Z_OK) {
        cls_seterr("%s: error closing IDX file (zlib code %d)", path, zerr);
        goto fail;
    }
    a->ndims = ndims;
    a->count = count;
    a->data = data;
    return 0;

fail:
    if (f) gzclose(f);
    free(data);
    memset(a, 0, sizeof *a);
    return -1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int idx_write(const idx_array *a, const char *path) {
    if (a->ndims < 1 || a->ndims > IDX_MAX_DIMS) {
        cls_seterr("%s: cannot write IDX: expected 1..%d dimensions, got %d", path,
                   IDX_MAX_DIMS, a->ndims);
        return -1;
    }
    long count = 1;
    for (int d = 0; d < a->ndims; d++) {
        if (a->dims[d] <= 0) {
            cls_seterr("%s: cannot write IDX: dimension %d is %d, expected > 0", path, d,
                       a->dims[d]);
            return -1;
        }
        count *= a->dims[d];
        if (count > IDX_MAX_BYTES) {
            cls_seterr("%s: cannot write IDX: more than %ld bytes", path, IDX_MAX_BYTES);
            return -1;
        }
    }
    if (count != a->count || !a->data) {
        cls_seterr("%s: cannot write IDX: count %ld does not match dimensions (%ld) or no data",
                   path, a->count, count);
        return -1;
    }

    /* Write to a temporary name and rename, so an interrupted write never leaves a
     * plausible-looking file behind (make data checks only that the files exist). */
    size_t plen = strlen(path);
    char *tmp = xmalloc(plen + 32);
    memcpy(tmp, path, plen);
    snprintf(tmp + plen, 32, ".tmp%ld", (long)getpid());
    /* "T": transparent (uncompressed) output through the same code path. */
    errno = 0;
    gzFile f = gzopen(tmp, ends_with(path, ".gz") ? "wb9" : "wbT");
    if (!f) {
        cls_seterr("%s: cannot create: %s", tmp, errno ? strerror(errno) : "out of memory");
        free(tmp);
        return -1;
    }
    uint8_t head[4 + 4 * IDX_MAX_DIMS];
    head[0] = 0;
    head[1] = 0;
    head[2] = IDX_TYPE_UBYTE;
    head[3] = (uint8_t)a->ndims;
    for (int d = 0; d < a->ndims; d++) {
        uint32_t v = (uint32_t)a->dims[d];
        head[4 + 4 * d] = (uint8_t)(v >> 24);
        head[5 + 4 * d] = (uint8_t)(v >> 16);
        head[6 + 4 * d] = (uint8_t)(v >> 8);
        head[7 + 4 * d] = (uint8_t)v;
    }
    int ok = gzwrite(f, head, (unsigned)(4 + 4 * a->ndims)) == 4 + 4 * a->ndims;
    for (long off = 0; ok && off < count; off += IDX_IO_CHUNK) {
        long n = count - off < IDX_IO_CHUNK ? count - off : IDX_IO_CHUNK;
        ok = gzwrite(f, a->data + off, (unsigned)n) == (int)n;
    }
    const char *why = ok ? NULL : gz_reason(f, tmp);
    char whybuf[256] = "";
    if (why) snprintf(whybuf, sizeof whybuf, "%s", why);
    errno = 0;
    int zerr = gzclose(f);
    if (ok && zerr != Z_OK) {
        ok = 0;
        snprintf(whybuf, sizeof whybuf, "%s",
                 zerr == Z_ERRNO && errno ? strerror(errno) : "zlib error on close");
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        snprintf(whybuf, sizeof whybuf, "rename from %s: %s", tmp, strerror(errno));
    }
    if (!ok) {
        remove(tmp);
        cls_seterr("%s: write failed: %s", path, whybuf);
    }
    free(tmp);
    return ok ? 0 : -1;
}

void idx_free(idx_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
