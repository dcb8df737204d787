/* test_idx.c — IDX reader/writer on good and malformed files (each failure must name the
 * path and what was expected), a mutation smoke-fuzz, and the real data sets when present
 * (skipped, not failed, when `make data` / `make deps` has not been run). */
#include "data.h"
#include "idx.h"
#include "rng.h"
#include "test.h"
#include "util.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const uint8_t *b, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f) return;
        if (n) gzwrite(f, b, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) return;
        if (n) fwrite(b, 1, n, f);
        fclose(f);
    }
}

/* A valid 3-d file (2, 3, 4) with data 0..23; returns its length. */
static size_t good_bytes(uint8_t *b) {
    const uint8_t head[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    memcpy(b, head, sizeof head);
    for (int i = 0; i < 24; i++) b[sizeof head + i] = (uint8_t)i;
    return sizeof head + 24;
}

/* Reading path must fail with a message that names the path and contains want. */
static void expect_fail(const char *path, const char *want) {
    idx_array a;
    memset(&a, 0x5a, sizeof a);
    cls_seterr("(no error set)");
    int rc = idx_read(&a, path);
    CHECK(rc == -1, "%s: expected failure, got %d", path, rc);
    CHECK(a.data == NULL && a.count == 0 && a.ndims == 0, "%s: array not zeroed on failure", path);
    CHECK(strstr(cls_geterr(), path) != NULL, "message lacks the path: %s", cls_geterr());
    CHECK(strstr(cls_geterr(), want) != NULL, "message lacks '%s': %s", want, cls_geterr());
    if (rc == 0) idx_free(&a);
}

static void check_good(const char *path) {
    idx_array a;
    int rc = idx_read(&a, path);
    CHECK(rc == 0, "%s: %s", path, cls_geterr());
    if (rc != 0) return;
    CHECK(a.ndims == 3 && a.dims[0] == 2 && a.dims[1] == 3 && a.dims[2] == 4,
          "shape %d (%d,%d,%d)", a.ndims, a.dims[0], a.dims[1], a.dims[2]);
    CHECK(a.count == 24, "count %ld", a.count);
    int same = 1;
    for (int i = 0; i < 24 && a.count == 24; i++) same &= a.data[i] == i;
    CHECK(same, "data differs");
    idx_free(&a);
    CHECK(a.data == NULL, "idx_free leaves data");
}

static void test_good_plain_and_gz(void) {
    uint8_t b[64];
    size_t n = good_bytes(b);
    char p[128];
    tmp_path(p, sizeof p, "good.idx");
    write_bytes(p, b, n, 0);
    check_good(p);
    tmp_path(p, sizeof p, "good.idx.gz");
    write_bytes(p, b, n, 1);
    check_good(p);
    /* gzip detection is by content, not by name. */
    tmp_path(p, sizeof p, "gz-without-suffix");
    write_bytes(p, b, n, 1);
    check_good(p);
}

static void test_malformed(void) {
    uint8_t b[64], m[64];
    size_t n = good_bytes(b);
    char p[128];
    for (int gz = 0; gz < 2; gz++) {
        const char *sfx = gz ? ".gz" : "";
        char name[64];

        snprintf(name, sizeof name, "truncated-data%s", sfx);
        tmp_path(p, sizeof p, name);
        write_bytes(p, b, n - 1, gz);
        expect_fail(p, "truncated");

        snprintf(name, sizeof name, "truncated-header%s", sfx);
        tmp_path(p, sizeof p, name);
        write_bytes(p, b, 10, gz);
        expect_fail(p, "truncated");

        snprintf(name, sizeof name, "short-magic%s", sfx);
        tmp_path(p, sizeof p, name);
        write_bytes(p, b, 3, gz);
        expect_fail(p, "truncated");

        snprintf(name, sizeof name, "wrong-magic%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        m[0] = 0x1f;
        m[1] = 0x07;
        write_bytes(p, m, n, gz);
        expect_fail(p, "expected magic 00 00 08");

        snprintf(name, sizeof name, "zero-ndims%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        m[3] = 0;
        write_bytes(p, m, n, gz);
        expect_fail(p, "expected magic 00 00 08");

        snprintf(name, sizeof name, "five-ndims%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        m[3] = 5;
        write_bytes(p, m, n, gz);
        expect_fail(p, "expected magic 00 00 08");

        snprintf(name, sizeof name, "wrong-type%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        m[2] = 0x0d; /* float: valid IDX, unsupported here */
        write_bytes(p, m, n, gz);
        expect_fail(p, "expected 0x08");

        snprintf(name, sizeof name, "zero-dim%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        m[11] = 0;
        write_bytes(p, m, n, gz);
        expect_fail(p, "expected every dimension > 0");

        snprintf(name, sizeof name, "huge-dims%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        memset(m + 4, 0xff, 12); /* 3 x (2^32 - 1) */
        write_bytes(p, m, n, gz);
        expect_fail(p, "too large");

        snprintf(name, sizeof name, "large-dims%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        /* 2^16 x 2^15 x 4 = 2^33 bytes: each dimension fine, the product not. */
        m[4] = 0, m[5] = 1, m[6] = 0, m[7] = 0;
        m[8] = 0, m[9] = 0, m[10] = 0x80, m[11] = 0;
        write_bytes(p, m, n, gz);
        expect_fail(p, "too large");

        snprintf(name, sizeof name, "claims-1GB%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        /* Allowed size (2^30) but the data is not there: truncated, not allocated. */
        m[4] = 0, m[5] = 0, m[6] = 0x04, m[7] = 0;
        m[8] = 0, m[9] = 0, m[10] = 0x04, m[11] = 0;
        m[12] = 0, m[13] = 0, m[14] = 0x04, m[15] = 0;
        write_bytes(p, m, n, gz);
        expect_fail(p, "truncated");

        snprintf(name, sizeof name, "trailing%s", sfx);
        tmp_path(p, sizeof p, name);
        memcpy(m, b, n);
        m[n] = 0x42;
        write_bytes(p, m, n + 1, gz);
        expect_fail(p, "trailing garbage");

        snprintf(name, sizeof name, "empty%s", sfx);
        tmp_path(p, sizeof p, name);
        write_bytes(p, b, 0, gz);
        expect_fail(p, "empty file");
    }
    tmp_path(p, sizeof p, "does-not-exist.gz");
    expect_fail(p, "cannot open");
    /* A directory: opening works, reading fails. */
    expect_fail(tmpdir, "error");
}

static void test_corrupt_gzip(void) {
    uint8_t b[64];
    size_t n = good_bytes(b);
    char p[128];
    tmp_path(p, sizeof p, "corrupt.gz");
    write_bytes(p, b, n, 1);
    FILE *f = fopen(p, "rb");
    uint8_t z[256];
    size_t zn = f ? fread(z, 1, sizeof z, f) : 0;
    if (f) fclose(f);
    CHECK(zn > 20, "gzip file too short (%zu)", zn);
    if (zn <= 20) return;

    /* Cut inside the deflate stream. */
    write_bytes(p, z, zn - 12, 0);
    expect_fail(p, "truncated");
    /* Wrong CRC in the trailer. */
    z[zn - 8] ^= 0xff;
    write_bytes(p, z, zn, 0);
    expect_fail(p, "error");
    /* Gzip magic followed by garbage. */
    memset(z + 2, 0xee, 30);
    write_bytes(p, z, 32, 0);
    expect_fail(p, p);
}

static void test_roundtrip(void) {
    char p[128];
    idx_array a = {.ndims = 2, .dims = {37, 29}, .count = 37 * 29};
    a.data = xmalloc((size_t)a.count);
    for (long i = 0; i < a.count; i++) a.data[i] = (uint8_t)(i * 7 + 3);
    for (int gz = 0; gz < 2; gz++) {
        tmp_path(p, sizeof p, gz ? "rt.idx.gz" : "rt.idx");
        CHECK(idx_write(&a, p) == 0, "write %s: %s", p, cls_geterr());
        /* The plain file must really be plain and the .gz really compressed. */
        FILE *f = fopen(p, "rb");
        uint8_t head[2] = {0, 0};
        if (f) {
            CHECK(fread(head, 1, 2, f) == 2, "short file %s", p);
            fclose(f);
        }
        CHECK(gz ? (head[0] == 0x1f && head[1] == 0x8b) : (head[0] == 0 && head[1] == 0),
              "%s starts %02x %02x", p, head[0], head[1]);
        idx_array r;
        CHECK(idx_read(&r, p) == 0, "read %s: %s", p, cls_geterr());
        CHECK(r.ndims == 2 && r.dims[0] == 37 && r.dims[1] == 29 && r.count == a.count,
              "shape %d (%d, %d)", r.ndims, r.dims[0], r.dims[1]);
        if (r.data && r.count == a.count)
            CHECK(memcmp(r.data, a.data, (size_t)a.count) == 0, "data differs in %s", p);
        idx_free(&r);
        /* No temporary left behind. */
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", p, (long)getpid());
        CHECK(access(tmp, F_OK) != 0, "temporary %s left behind", tmp);
    }
    /* Invalid arrays are refused, not written. */
    idx_array bad = a;
    bad.count = 5;
    tmp_path(p, sizeof p, "bad.idx");
    CHECK(idx_write(&bad, p) == -1, "count mismatch accepted");
    bad = a;
    bad.ndims = 0;
    CHECK(idx_write(&bad, p) == -1, "ndims 0 accepted");
    CHECK(access(p, F_OK) != 0, "bad.idx was created");
    tmp_path(p, sizeof p, "no-such-dir/x.idx.gz");
    CHECK(idx_write(&a, p) == -1, "write into a missing directory succeeded");
    CHECK(strstr(cls_geterr(), "no-such-dir") != NULL, "message: %s", cls_geterr());
    idx_free(&a);
}

/* Random byte flips, truncations and extensions of valid files: every read either succeeds
 * with a consistent array or fails with the path in the message. */
static void test_mutations(void) {
    uint8_t b[64], m[96];
    size_t n = good_bytes(b);
    char p[128];
    rng_t r;
    rng_init(&r, 7, 0);
    int ok = 0, bad = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(m, b, n);
        size_t len = n;
        int kind = (int)rng_below(&r, 3);
        if (kind == 0) {
            int flips = 1 + (int)rng_below(&r, 3);
            for (int k = 0; k < flips; k++) m[rng_below(&r, (uint32_t)len)] = (uint8_t)rng_u32(&r);
        } else if (kind == 1) {
            len = rng_below(&r, (uint32_t)len + 1);
        } else {
            size_t extra = 1 + rng_below(&r, 16);
            for (size_t k = 0; k < extra; k++) m[len + k] = (uint8_t)rng_u32(&r);
            len += extra;
        }
        tmp_path(p, sizeof p, it % 2 ? "mut.gz" : "mut");
        write_bytes(p, m, len, it % 2);
        idx_array a;
        if (idx_read(&a, p) == 0) {
            long prod = 1;
            for (int d = 0; d < a.ndims; d++) prod *= a.dims[d];
            CHECK(a.ndims >= 1 && a.ndims <= 4 && prod == a.count && a.data, "inconsistent");
            CHECK(len == (size_t)(4 + 4 * a.ndims) + (size_t)a.count, "length %zu accepted", len);
            idx_free(&a);
            ok++;
        } else {
            CHECK(strstr(cls_geterr(), p) != NULL, "message lacks path: %s", cls_geterr());
            bad++;
        }
    }
    CHECK(bad > 300, "only %d of 400 mutations rejected", bad);
    printf("# mutations: %d accepted, %d rejected\n", ok, bad);
}

static void test_data_errors_name_setup(void) {
    char saved[1024] = "";
    const char *env = getenv("FASHION_MNIST_DIR");
    int had = env != NULL;
    if (had) snprintf(saved, sizeof saved, "%s", env);
    setenv("FASHION_MNIST_DIR", tmpdir, 1);
    data_cache_free();
    CHECK(data_get(DATA_FASHION, 0) == NULL, "Fashion loaded from an empty directory");
    CHECK(strstr(cls_geterr(), tmpdir) && strstr(cls_geterr(), "make deps") &&
              strstr(cls_geterr(), "FASHION_MNIST_DIR"),
          "message: %s", cls_geterr());
    if (had) setenv("FASHION_MNIST_DIR", saved, 1);
    else unsetenv("FASHION_MNIST_DIR");

    const char *denv = getenv("CLSWEEP_DATA");
    had = denv != NULL;
    if (had) snprintf(saved, sizeof saved, "%s", denv);
    setenv("CLSWEEP_DATA", tmpdir, 1);
    CHECK(data_get(DATA_MNIST, 0) == NULL, "MNIST loaded from an empty directory");
    CHECK(strstr(cls_geterr(), tmpdir) && strstr(cls_geterr(), "make data"), "message: %s",
          cls_geterr());
    if (had) setenv("CLSWEEP_DATA", saved, 1);
    else unsetenv("CLSWEEP_DATA");
    CHECK(data_get((data_source)7, 1) == NULL, "unknown source accepted");
}

/* Labels outside 0..9 and image/label count mismatches are refused by data_get. */
static void test_data_validation(void) {
    char dir[128], p[192];
    snprintf(dir, sizeof dir, "%s/fake", tmpdir);
    CHECK(mkdir(dir, 0777) == 0, "mkdir %s", dir);
    idx_array im = {.ndims = 3, .dims = {3, 28, 28}, .count = 3 * 784};
    idx_array lb = {.ndims = 1, .dims = {3}, .count = 3};
    im.data = xcalloc((size_t)im.count, 1);
    lb.data = xcalloc(3, 1);
    im.data[5] = 255;
    lb.data[1] = 9;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    CHECK(idx_write(&im, p) == 0, "%s", cls_geterr());
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", dir);
    CHECK(idx_write(&lb, p) == 0, "%s", cls_geterr());

    const char *env = getenv("FASHION_MNIST_DIR");
    char saved[1024] = "";
    int had = env != NULL;
    if (had) snprintf(saved, sizeof saved, "%s", env);
    setenv("FASHION_MNIST_DIR", dir, 1);

    data_cache_free();
    const dataset *d = data_get(DATA_FASHION, 0);
    CHECK(d != NULL, "%s", cls_geterr());
    if (d) {
        CHECK(d->n == 3 && d->dim == 784 && d->h == 28 && d->w == 28, "shape");
        CHECK(d->x[5] == 1.0f && d->x[4] == 0.0f && d->y[1] == 9, "values");
        CHECK(data_get(DATA_FASHION, 0) == d, "not cached");
    }

    lb.data[2] = 10;
    CHECK(idx_write(&lb, p) == 0, "%s", cls_geterr());
    data_cache_free();
    CHECK(data_get(DATA_FASHION, 0) == NULL, "label 10 accepted");
    CHECK(strstr(cls_geterr(), p) && strstr(cls_geterr(), "expected 0..9"), "message: %s",
          cls_geterr());

    idx_array lb2 = {.ndims = 1, .dims = {2}, .count = 2};
    lb2.data = xcalloc(2, 1);
    CHECK(idx_write(&lb2, p) == 0, "%s", cls_geterr());
    CHECK(data_get(DATA_FASHION, 0) == NULL, "count mismatch accepted");
    CHECK(strstr(cls_geterr(), "expected 3 labels"), "message: %s", cls_geterr());

    if (had) setenv("FASHION_MNIST_DIR", saved, 1);
    else unsetenv("FASHION_MNIST_DIR");
    data_cache_free();
    idx_free(&im);
    idx_free(&lb);
    idx_free(&lb2);
}

static void check_dataset(const dataset *d, const char *what, int nmin, int nmax) {
    CHECK(d != NULL, "%s: %s", what, cls_geterr());
    if (!d) return;
    CHECK(d->n >= nmin && d->n <= nmax, "%s: n = %d, expected %d..%d", what, d->n, nmin, nmax);
    CHECK(d->dim == 784 && d->h == 28 && d->w == 28, "%s: shape", what);
    int per[10] = {0}, badlab = 0, badpx = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->y[i] < 0 || d->y[i] > 9) badlab++;
        else per[d->y[i]]++;
    }
    for (long i = 0; i < (long)d->n * d->dim; i++) badpx += !(d->x[i] >= 0.0f && d->x[i] <= 1.0f);
    CHECK(badlab == 0 && badpx == 0, "%s: %d bad labels, %d bad pixels", what, badlab, badpx);
    for (int c = 0; c < 10; c++) CHECK(per[c] > 0, "%s: no samples of class %d", what, c);
    /* Classes are interleaved, not in blocks: the first 100 samples hold several classes. */
    int seen = 0;
    for (int c = 0; c < 10; c++) {
        int any = 0;
        for (int i = 0; i < 100 && i < d->n; i++) any |= d->y[i] == c;
        seen += any;
    }
    CHECK(seen >= 5, "%s: first 100 samples hold only %d classes", what, seen);
}

static void test_mnist_data(void) {
    REQUIRE_DATA(DATA_MNIST);
    const dataset *tr = data_get(DATA_MNIST, 1), *te = data_get(DATA_MNIST, 0);
    check_dataset(tr, "MNIST train", 8000, 9000);
    check_dataset(te, "MNIST test", 1000, 2000);
    if (tr && te) CHECK(tr->n + te->n == 10000, "train %d + test %d != 10000", tr->n, te->n);
}

static void test_fashion_data(void) {
    REQUIRE_DATA(DATA_FASHION);
    const dataset *tr = data_get(DATA_FASHION, 1), *te = data_get(DATA_FASHION, 0);
    check_dataset(tr, "Fashion train", 60000, 60000);
    check_dataset(te, "Fashion test", 10000, 10000);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/clsweep-test-idx-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_good_plain_and_gz);
    RUN_TEST(test_malformed);
    RUN_TEST(test_corrupt_gzip);
    RUN_TEST(test_roundtrip);
    RUN_TEST(test_mutations);
    RUN_TEST(test_data_errors_name_setup);
    RUN_TEST(test_data_validation);

    data_cache_free();
    RUN_TEST(test_mnist_data);
    RUN_TEST(test_fashion_data);
    data_cache_free();

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test_idx: could not remove %s\n", tmpdir);
    TEST_EXIT();
}
