/* output.c — results on disk: the append-only journal and the NetCDF-4 sweep file.
 *
 * ---- Journal ("<output>.journal") ----
 * A 12-byte file header "CLSJOURNAL1\n", then records:
 *     "CLSJ"  u32 payload length  u32 CRC-32 (zlib) of payload  payload
 *     payload = run id (16 hex characters, no NUL) + result_pack() bytes
 * (integers little-endian). A record is valid when its frame fits in the file, its CRC
 * matches, its id is 16 hex digits and its result unpacks. journal_read skips invalid
 * bytes up to the next valid record, counting each damaged stretch once in *nbad (a kill -9
 * mid-write leaves exactly one, at the tail). journal_open cuts a damaged tail off before
 * appending, so new records never hide behind garbage, and holds an exclusive flock so
 * that two processes cannot append to one journal.
 *
 * ---- NetCDF-4 sweep file schema (clsweep 0.1) ----
 * Dimensions
 *   run        finished runs (results[i] != NULL), in sweep order; unlimited when 0
 *   stage      max nstages over finished runs (at least 1)
 *   task       max ntasks over finished runs (at least 1)
 *   <dim>      one per dimension name used by array extras (e.g. path, block); size = max
 *              over runs (extras over "stage"/"task" share those dimensions)
 * Variables (per run; strings are NetCDF-4 variable-length strings)
 *   run_id(run)            string  16 hex digits, hash of the effective configuration
 *   model(run)             string  model name
 *   benchmark(run)         string  benchmark.name of the run's config
 *   seed(run)              int64   run seed (-1 if the config lacks one)
 *   config(run)            string  effective configuration "k1=v1 k2=v2 ..." (sorted keys)
 *   status(run)            string  ok | diverged | failed | unsupported (flag_values)
 *   message(run)           string  why a run failed or diverged ("" when ok)
 *   metric(run)            string  metric of R: "accuracy" or "mse"
 *   higher_is_better(run)  byte    1 for accuracy, 0 for losses
 *   nstages(run), ntasks(run) int  the run's own shape of R (the rest of R is fill)
 *   R(run, stage, task)    float   metric on task j after stage i; _FillValue NaN
 *   R0(run, task)          float   metric at initialisation (b_j); _FillValue NaN
 *   acc, bwt, fwt, forgetting (run)  double  docs/spec.md §5; _FillValue NaN; attribute
 *                                   "direction" states the sign convention (for mse
 *                                   metrics forgetting = increase in loss)
 *   wall_seconds(run)      double  seconds
 *   <axis>(run)            one per swept key of the sweep (grid and zip, in file order),
 *                          named by the key with '.' replaced by "__" (ewc.lambda →
 *                          ewc__lambda), attribute key = the dotted key. double with
 *                          _FillValue NaN (NaN where the run's config lacks the key, i.e.
 *                          the model does not read it) when every present value is a
 *                          number, else string ("" where absent). A key that equals a fixed
 *                          variable name (model, seed) is not duplicated.
 *   <extra>(run[, d0[, d1]]) double, _FillValue NaN: one per extra metric name (scalar,
 *                          1-D or 2-D); attribute clsweep_extra = the extra's name (the
 *                          variable is renamed extra_<name> if that name is taken),
 *                          long_name from the model. Cells beyond a run's shape are NaN.
 *   The per-run descriptors (run_id model benchmark seed <axes>) are listed in the
 *   "coordinates" attribute of the data variables, so xarray opens them as coordinates.
 * Global attributes
 *   title = "clsweep sweep results", sweep_name, sweep_file, sweep_yaml (full text),
 *   clsweep_version, n_runs_total, n_runs_finished, Conventions = "CF-1.8"
 *
 * Reading back (output_read): R and R0 are cut to nstages/ntasks; an array extra is cut
 * to its last row/column that is not all NaN, and an extra that is NaN everywhere for a run
 * is treated as absent for that run (so a NaN scalar extra is not returned).
 *
 * The file is built in memory (nc_create_mem), then written to "<path>.tmp" with plain
 * write(2), fsync'd, renamed over <path> and the directory fsync'd, so <path> is always
 * either the previous or the new complete file. Building in memory keeps I/O errors away
 * from HDF5: an ENOSPC inside HDF5's flush at nc_close leaves its state broken (nc_abort
 * and even exit() then segfault; found by tests/t_bad_env.sh), whereas a failed write(2)
 * of our own is an ordinary error message. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <netcdf_mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "util.h"

/* ------------------------------------------------------------------------------------ */
/* small file-system helpers                                                            */

/* The directory part of path ("." when none); caller frees. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

/* mkdir -p dir. 0 or -1 with cls_seterr. */
static int mkdir_p(const char *dir) {
    char *p = xstrdup(dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != 0) continue;
        char c = *q;
        *q = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            cls_seterr("cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *q = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cls_seterr("%s is not a directory", p);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

static int fsync_path(const char *path, int directory) {
    int fd = open(path, O_RDONLY | (directory ? O_DIRECTORY : 0));
    if (fd < 0) {
        cls_seterr("cannot open %s to sync it: %s", path, strerror(errno));
        return -1;
    }
    /* Some file systems cannot fsync a directory (EINVAL); the rename is still done. */
    if (fsync(fd) != 0 && !(directory && (errno == EINVAL || errno == ENOTSUP))) {
        cls_seterr("fsync %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Creates (truncates) path with exactly n bytes of data and fsyncs it. 0 or -1 with
 * cls_seterr (e.g. "No space left on device"). */
static int write_all(int fd, const void *buf, size_t n);
static int write_file_synced(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cls_seterr("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, n) || fsync(fd)) {
        cls_seterr("cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd)) {
        cls_seterr("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads the whole file. 0, 1 when it does not exist (*data NULL), -1 with cls_seterr. */
static int read_whole(int fd, const char *path, unsigned char **data, size_t *len) {
    struct stat st;
    *data = NULL;
    *len = 0;
    if (fstat(fd, &st) != 0) {
        cls_seterr("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cls_seterr("%s: not a regular file", path);
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    unsigned char *buf = xmalloc(n + 1);
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            cls_seterr("%s: read error: %s", path, strerror(errno));
            free(buf);
            return -1;
        }
        if (k == 0) break; /* shrank meanwhile */
        got += (size_t)k;
    }
    *data = buf;
    *len = got;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* journal                                                                              */

static const char JOURNAL_HEADER[] = "CLSJOURNAL1\n";
#define JOURNAL_HEADER_LEN 12
#define JOURNAL_MAGIC "CLSJ"
#define JOURNAL_FRAME 12 /* magic + length + crc */
#define RUN_ID_LEN 16

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int is_run_id(const unsigned char *p) {
    for (int i = 0; i < RUN_ID_LEN; i++) {
        unsigned char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* If a valid record starts at pos, unpacks it into *r (when r is non-NULL) and returns its
 * total size; else 0. */
static size_t journal_record_at(const unsigned char *d, size_t n, size_t pos, run_result *r) {
    if (n - pos < JOURNAL_FRAME || memcmp(d + pos, JOURNAL_MAGIC, 4)) return 0;
    uint32_t plen = get_u32(d + pos + 4), crc = get_u32(d + pos + 8);
    if (plen < RUN_ID_LEN || plen > n - pos - JOURNAL_FRAME) return 0;
    const unsigned char *payload = d + pos + JOURNAL_FRAME;
    if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), payload, plen) != crc) return 0;
    if (!is_run_id(payload)) return 0;
    run_result tmp;
    if (result_unpack(r ? r : &tmp, (const char *)payload + RUN_ID_LEN, plen - RUN_ID_LEN))
        return 0;
    if (!r) result_free(&tmp);
    return JOURNAL_FRAME + (size_t)plen;
}

/* Walks the records after the header; calls fn for each valid one (when fn is non-NULL).
 * Returns the end offset of the last valid record (or of the header). */
static size_t journal_scan(const unsigned char *d, size_t n,
                           void (*fn)(const char *, run_result *, void *), void *ctx,
                           int *nbad) {
    size_t pos = JOURNAL_HEADER_LEN, valid_end = JOURNAL_HEADER_LEN;
    int bad = 0, in_bad = 0;
    while (pos < n) {
        run_result r;
        size_t k = journal_record_at(d, n, pos, fn ? &r : NULL);
        if (!k) {
            if (!in_bad) bad++;
            in_bad = 1;
            pos++;
            continue;
        }
        in_bad = 0;
        if (fn) {
            char id[RUN_ID_LEN + 1];
            memcpy(id, d + pos + JOURNAL_FRAME, RUN_ID_LEN);
            id[RUN_ID_LEN] = 0;
            fn(id, &r, ctx);
        }
        pos += k;
        valid_end = pos;
    }
    if (nbad) *nbad = bad;
    return valid_end;
}

/* Checks the header of journal data. 0 = good, 1 = empty or a torn header (a crash while
 * creating), -1 = not a journal (cls_seterr). */
static int journal_check_header(const unsigned char *d, size_t n, const char *path) {
    if (n < JOURNAL_HEADER_LEN) {
        if (!memcmp(d, JOURNAL_HEADER, n)) return 1;
    } else if (!memcmp(d, JOURNAL_HEADER, JOURNAL_HEADER_LEN)) {
        return 0;
    }
    cls_seterr("%s: not a clsweep journal (it does not start with \"CLSJOURNAL1\"); move it "
               "away or choose another output path",
               path);
    return -1;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int journal_open(journal_t *j, const char *path) {
    unsigned char *data = NULL;
    size_t n = 0;
    int fd = -1;
    j->f = NULL;
    j->path = NULL;
    char *dir = dir_of(path);
    int rc = mkdir_p(dir);
    free(dir);
    if (rc) {
        cls_adderr("journal %s", path);
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        cls_seterr("cannot open journal %s: %s", path, strerror(errno));
        return -1;
    }
    /* Two masters appending to one journal (a job resubmitted while the old one still
     * runs) would interleave records: refuse. File systems without flock are let through. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        cls_seterr("journal %s is in use by another clsweep process (is the same sweep "
                   "already running?)",
                   path);
        goto fail;
    }
    if (read_whole(fd, path, &data, &n)) goto fail;
    int hdr = journal_check_header(data, n, path);
    if (hdr < 0) goto fail;
    size_t keep = hdr == 1 ? 0 : journal_scan(data, n, NULL, NULL, NULL);
    if (keep < n && ftruncate(fd, (off_t)keep) != 0) {
        cls_seterr("cannot cut the damaged tail of journal %s: %s", path, strerror(errno));
        goto fail;
    }
    if (keep == 0) {
        if (write_all(fd, JOURNAL_HEADER, JOURNAL_HEADER_LEN) || fsync(fd)) {
            cls_seterr("cannot write journal %s: %s", path, strerror(errno));
            goto fail;
        }
        dir = dir_of(path);
        rc = fsync_path(dir, 1);
        free(dir);
        if (rc) goto fail;
    }
    free(data);
    data = NULL;
    j->f = fdopen(fd, "ab");
    if (!j->f) {
        cls_seterr("cannot open journal %s: %s", path, strerror(errno));
        goto fail;
    }
    j->path = xstrdup(path);
    return 0;
fail:
    free(data);
    if (fd >= 0) close(fd);
    return -1;
}

int journal_append(journal_t *j, const char *run_id, const run_result *r, int sync) {
    if (!j || !j->f) {
        cls_seterr("journal_append: journal is not open");
        return -1;
    }
    if (!run_id || strlen(run_id) != RUN_ID_LEN || !is_run_id((const unsigned char *)run_id)) {
        cls_seterr("journal_append: bad run id '%s' (expected 16 hex digits)",
                   run_id ? run_id : "(null)");
        return -1;
    }
    char *packed;
    size_t plen;
    result_pack(r, &packed, &plen);
    size_t payload = RUN_ID_LEN + plen;
    if (payload > UINT32_MAX) {
        free(packed);
        cls_seterr("journal_append: result of run %s is too large", run_id);
        return -1;
    }
    unsigned char *rec = xmalloc(JOURNAL_FRAME + payload);
    memcpy(rec, JOURNAL_MAGIC, 4);
    put_u32(rec + 4, (uint32_t)payload);
    memcpy(rec + JOURNAL_FRAME, run_id, RUN_ID_LEN);
    memcpy(rec + JOURNAL_FRAME + RUN_ID_LEN, packed, plen);
    free(packed);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, rec + JOURNAL_FRAME, (uInt)payload);
    put_u32(rec + 8, (uint32_t)crc);
    size_t w = fwrite(rec, 1, JOURNAL_FRAME + payload, j->f);
    free(rec);
    if (w != JOURNAL_FRAME + payload) {
        cls_seterr("%s: write failed: %s", j->path, strerror(errno));
        return -1;
    }
    if (sync) return journal_sync(j);
    /* Through to the kernel at least: a record survives a kill of this process. */
    if (fflush(j->f) != 0) {
        cls_seterr("%s: write failed: %s", j->path, strerror(errno));
        return -1;
    }
    return 0;
}

int journal_sync(journal_t *j) {
    if (!j || !j->f) {
        cls_seterr("journal_sync: journal is not open");
        return -1;
    }
    if (fflush(j->f) != 0 || fsync(fileno(j->f)) != 0) {
        cls_seterr("%s: cannot sync: %s", j->path, strerror(errno));
        return -1;
    }
    return 0;
}

void journal_close(journal_t *j) {
    if (!j) return;
    if (j->f) fclose(j->f);
    free(j->path);
    j->f = NULL;
    j->path = NULL;
}

int journal_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                 void *ctx, int *nbad) {
    unsigned char *data = NULL;
    size_t n = 0;
    if (nbad) *nbad = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        cls_seterr("cannot open journal %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = read_whole(fd, path, &data, &n);
    close(fd);
    if (rc) return -1;
    int hdr = journal_check_header(data, n, path);
    if (hdr < 0) {
        free(data);
        return -1;
    }
    if (hdr == 1) {
        if (nbad) *nbad = n > 0;
    } else {
        journal_scan(data, n, fn, ctx, nbad);
    }
    free(data);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* NetCDF                                                                               */

/* Checked NetCDF call: on error records where and why, and jumps to this function's
 * cleanup label. nc_path (the file being accessed) must be in scope. */
#define NC_CHECK(call)                                                                   \
    do {                                                                                 \
        int nc_rc_ = (call);                                                             \
        if (nc_rc_ != NC_NOERR) {                                                        \
            cls_seterr("%s: NetCDF: %s (%s:%d)", nc_path, nc_strerror(nc_rc_), __FILE__, \
                       __LINE__);                                                        \
            goto cleanup;                                                                \
        }                                                                                \
    } while (0)

#define OUTPUT_TITLE "clsweep sweep results"

static const char *const fixed_vars[] = {
    "run_id", "model", "benchmark", "seed", "config", "status", "message", "metric",
    "higher_is_better", "nstages", "ntasks", "R", "R0", "acc", "bwt", "fwt", "forgetting",
    "wall_seconds"};
#define NFIXED ((int)(sizeof fixed_vars / sizeof fixed_vars[0]))

static int is_fixed_var(const char *name) {
    for (int i = 0; i < NFIXED; i++)
        if (!strcmp(fixed_vars[i], name)) return 1;
    return 0;
}

typedef struct {
    char name[RESULT_NAME_MAX];
    size_t size;
    int id;
} nc_dimdef;

typedef struct {
    char name[RESULT_NAME_MAX];    /* the extra's name */
    char var[RESULT_NAME_MAX + 8]; /* its variable name */
    char long_name[96];
    int ndim;
    int dim[2];                    /* indices into the dimension table */
    int src_run;                   /* sweep index of the run that defined it (messages) */
    int varid;
} nc_extradef;

typedef struct {
    char var[NC_MAX_NAME + 1];
    const char *key;
    int numeric;
    int varid;
} nc_axisdef;

static int find_dim(const nc_dimdef *d, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(d[i].name, name)) return i;
    return -1;
}

static int parse_number(const char *s, double *out) {
    if (!s || !*s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) return 0;
    *out = v;
    return 1;
}

static int put_text(int nc, int var, const char *name, const char *val) {
    if (!val) val = "";
    return nc_put_att_text(nc, var, name, strlen(val), val);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int output_write(const char *path, const sweep_t *s, run_result *const *results) {
    int status = -1, nc = -1, n = 0, ndims = 0, nextras = 0, naxes = 0;
    char *tmp = NULL, *dir = NULL, *coords = NULL;
    const char *nc_path = path;
    int *runs = NULL;            /* (n) sweep index of each finished run */
    nc_dimdef *dims = NULL;
    nc_extradef *ex = NULL;
    nc_axisdef *ax = NULL;
    const char **strs = NULL;    /* (n) */
    char **owned = NULL;         /* (n) config strings */
    float *fbuf = NULL;
    double *dbuf = NULL;
    int *ibuf = NULL;
    signed char *bbuf = NULL;

    /* ---- gather the shape of the file ---- */
    runs = xmalloc((size_t)(s->nruns > 0 ? s->nruns : 1) * sizeof *runs);
    for (int i = 0; i < s->nruns; i++)
        if (results && results[i]) runs[n++] = i;

    int cap_dims = 2;
    dims = xcalloc((size_t)cap_dims, sizeof *dims);
    snprintf(dims[0].name, sizeof dims[0].name, "stage");
    snprintf(dims[1].name, sizeof dims[1].name, "task");
    dims[0].size = dims[1].size = 1;
    ndims = 2;
    int cap_ex = 0;
    for (int k = 0; k < n; k++) {
        const run_result *r = results[runs[k]];
        dims[0].size = max_sz(dims[0].size, (size_t)(r->nstages > 0 ? r->nstages : 0));
        dims[1].size = max_sz(dims[1].size, (size_t)(r->ntasks > 0 ? r->ntasks : 0));
        for (int e = 0; e < r->nextra && r->extra; e++) {
            const result_extra *x = &r->extra[e];
            int nd = x->ndim;
            if (nd < 0 || nd > 2) {
                cls_seterr("%s: run %s: extra '%s' has %d dimensions (expected 0, 1 or 2)", path,
                           s->runs[runs[k]].id, x->name, nd);
                goto cleanup;
            }
            int di[2] = {-1, -1};
            for (int d = 0; d < nd; d++) {
                if (!strcmp(x->dim[d], "run") || !x->dim[d][0]) {
                    cls_seterr("%s: run %s: extra '%s' uses the reserved dimension name '%s'",
                               path, s->runs[runs[k]].id, x->name, x->dim[d]);
                    goto cleanup;
                }
                di[d] = find_dim(dims, ndims, x->dim[d]);
                if (di[d] < 0) {
                    if (ndims == cap_dims) {
                        cap_dims *= 2;
                        dims = xrealloc(dims, (size_t)cap_dims * sizeof *dims);
                    }
                    di[d] = ndims++;
                    memset(&dims[di[d]], 0, sizeof dims[0]);
                    snprintf(dims[di[d]].name, sizeof dims[0].name, "%s", x->dim[d]);
                }
                dims[di[d]].size =
                    max_sz(dims[di[d]].size, (size_t)(x->shape[d] > 0 ? x->shape[d] : 0));
            }
            int found = -1;
            for (int q = 0; q < nextras; q++)
                if (!strcmp(ex[q].name, x->name)) found = q;
            if (found >= 0) {
                nc_extradef *f = &ex[found];
                if (f->ndim != nd || (nd > 0 && f->dim[0] != di[0]) || (nd > 1 && f->dim[1] != di[1])) {
                    cls_seterr("%s: extra '%s' has different dimensions in runs %s and %s", path,
                               x->name, s->runs[f->src_run].id, s->runs[runs[k]].id);
                    goto cleanup;
                }
                continue;
            }
            if (nextras == cap_ex) {
                cap_ex = cap_ex ? 2 * cap_ex : 8;
                ex = xrealloc(ex, (size_t)cap_ex * sizeof *ex);
            }
            nc_extradef *f = &ex[nextras++];
            memset(f, 0, sizeof *f);
            snprintf(f->name, sizeof f->name, "%s", x->name);
            snprintf(f->long_name, sizeof f->long_name, "%s", x->long_name);
            f->ndim = nd;
            f->dim[0] = di[0];
            f->dim[1] = di[1];
            f->src_run = runs[k];
        }
    }
    /* dims[].size of 0 would make an unlimited dimension: keep every extra dim ≥ 1. */
    for (int d = 0; d < ndims; d++)
        if (dims[d].size == 0) dims[d].size = 1;

    ax = xcalloc((size_t)(s->naxes > 0 ? s->naxes : 1), sizeof *ax);
    for (int a = 0; a < s->naxes; a++) {
        const char *key = s->axes[a];
        char var[NC_MAX_NAME + 1];
        size_t len = 0;
        for (const char *p = key; *p && len + 3 < sizeof var; p++) {
            if (*p == '.') {
                var[len++] = '_';
                var[len++] = '_';
            } else {
                var[len++] = *p;
            }
        }
        var[len] = 0;
        if (is_fixed_var(var)) continue; /* model/seed: already stored */
        int dup = 0;
        for (int b = 0; b < naxes; b++)
            if (!strcmp(ax[b].var, var)) dup = 1;
        if (dup) continue;
        nc_axisdef *A = &ax[naxes++];
        snprintf(A->var, sizeof A->var, "%s", var);
        A->key = key;
        A->numeric = 1;
        for (int k = 0; k < n; k++) {
            double v;
            const char *txt = cfg_get(&s->runs[runs[k]].cfg, key);
            if (txt && !parse_number(txt, &v)) A->numeric = 0;
        }
    }
    /* Extras whose name is taken by another variable get a prefix. */
    for (int q = 0; q < nextras; q++) {
        snprintf(ex[q].var, sizeof ex[q].var, "%s", ex[q].name);
        for (;;) {
            int taken = is_fixed_var(ex[q].var);
            for (int a = 0; a < naxes && !taken; a++) taken = !strcmp(ax[a].var, ex[q].var);
            for (int p = 0; p < q && !taken; p++) taken = !strcmp(ex[p].var, ex[q].var);
            if (!taken) break;
            char prev[sizeof ex[q].var];
            memcpy(prev, ex[q].var, sizeof prev);
            snprintf(ex[q].var, sizeof ex[q].var, "extra_%.*s", (int)sizeof ex[q].var - 7, prev);
        }
    }
    {
        size_t len = 0, cap = 0;
        cls_strappend(&coords, &len, &cap, "run_id model benchmark seed");
        for (int a = 0; a < naxes; a++) cls_strappend(&coords, &len, &cap, " %s", ax[a].var);
    }

    /* ---- create ---- */
    dir = dir_of(path);
    if (mkdir_p(dir)) {
        cls_adderr("cannot write %s", path);
        goto cleanup;
    }
    tmp = xmalloc(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    nc_path = tmp;
    NC_CHECK(nc_create_mem(tmp, NC_NETCDF4 | NC_CLOBBER, 4096, &nc));

    int drun, dstage = 0, dtask = 0;
    NC_CHECK(nc_def_dim(nc, "run", (size_t)n, &drun));
    for (int d = 0; d < ndims; d++) NC_CHECK(nc_def_dim(nc, dims[d].name, dims[d].size, &dims[d].id));
    dstage = dims[0].id;
    dtask = dims[1].id;

    const float fnan = NAN;
    const double dnan = NAN;
    int v_id, v_model, v_bench, v_seed, v_config, v_status, v_msg, v_metric, v_hib, v_ns, v_nt;
    int v_R, v_R0, v_acc, v_bwt, v_fwt, v_forg, v_wall;
    int d1[1] = {drun};
    NC_CHECK(nc_def_var(nc, "run_id", NC_STRING, 1, d1, &v_id));
    NC_CHECK(put_text(nc, v_id, "long_name", "run identity: hash of the effective configuration"));
    NC_CHECK(nc_def_var(nc, "model", NC_STRING, 1, d1, &v_model));
    NC_CHECK(put_text(nc, v_model, "long_name", "model"));
    NC_CHECK(nc_def_var(nc, "benchmark", NC_STRING, 1, d1, &v_bench));
    NC_CHECK(put_text(nc, v_bench, "long_name", "benchmark (benchmark.name)"));
    NC_CHECK(nc_def_var(nc, "seed", NC_INT64, 1, d1, &v_seed));
    NC_CHECK(put_text(nc, v_seed, "long_name", "run seed (-1 when the config has none)"));
    NC_CHECK(nc_def_var(nc, "config", NC_STRING, 1, d1, &v_config));
    NC_CHECK(put_text(nc, v_config, "long_name",
                      "effective run configuration, key=value in key order"));
    NC_CHECK(nc_def_var(nc, "status", NC_STRING, 1, d1, &v_status));
    NC_CHECK(put_text(nc, v_status, "long_name", "run status"));
    NC_CHECK(put_text(nc, v_status, "flag_values", "ok diverged failed unsupported"));
    NC_CHECK(put_text(nc, v_status, "flag_meanings", "ok diverged failed unsupported"));
    NC_CHECK(put_text(nc, v_status, "coordinates", coords));
    NC_CHECK(nc_def_var(nc, "message", NC_STRING, 1, d1, &v_msg));
    NC_CHECK(put_text(nc, v_msg, "long_name", "why the run failed or diverged (empty when ok)"));
    NC_CHECK(nc_def_var(nc, "metric", NC_STRING, 1, d1, &v_metric));
    NC_CHECK(put_text(nc, v_metric, "long_name", "metric of R: accuracy or mse"));
    NC_CHECK(nc_def_var(nc, "higher_is_better", NC_BYTE, 1, d1, &v_hib));
    NC_CHECK(put_text(nc, v_hib, "long_name",
                      "1 when a higher metric is better (accuracy), 0 for losses (mse)"));
    NC_CHECK(nc_def_var(nc, "nstages", NC_INT, 1, d1, &v_ns));
    NC_CHECK(put_text(nc, v_ns, "long_name", "number of stages of this run (rows of R used)"));
    NC_CHECK(nc_def_var(nc, "ntasks", NC_INT, 1, d1, &v_nt));
    NC_CHECK(put_text(nc, v_nt, "long_name", "number of tasks of this run (columns of R used)"));

    int d3[3] = {drun, dstage, dtask}, d2[2] = {drun, dtask};
    NC_CHECK(nc_def_var(nc, "R", NC_FLOAT, 3, d3, &v_R));
    NC_CHECK(nc_put_att_float(nc, v_R, "_FillValue", NC_FLOAT, 1, &fnan));
    NC_CHECK(put_text(nc, v_R, "long_name", "metric on task after stage"));
    NC_CHECK(put_text(nc, v_R, "units", "1"));
    NC_CHECK(put_text(nc, v_R, "comment",
                      "R[run, i, j] = metric (see metric) on task j after training stage i; "
                      "cells beyond the run's nstages/ntasks are fill (NaN)"));
    NC_CHECK(put_text(nc, v_R, "coordinates", coords));
    NC_CHECK(nc_def_var(nc, "R0", NC_FLOAT, 2, d2, &v_R0));
    NC_CHECK(nc_put_att_float(nc, v_R0, "_FillValue", NC_FLOAT, 1, &fnan));
    NC_CHECK(put_text(nc, v_R0, "long_name", "metric on task at initialisation (b_j)"));
    NC_CHECK(put_text(nc, v_R0, "units", "1"));
    NC_CHECK(put_text(nc, v_R0, "coordinates", coords));

    struct {
        const char *name, *long_name, *direction;
        int *id;
    } scalars[] = {
        {"acc", "average metric over tasks after the last stage (ACC)",
         "plain mean of the last row of R: for accuracy higher is better; for mse metrics "
         "lower is better",
         &v_acc},
        {"bwt", "backward transfer (GEM, Lopez-Paz and Ranzato 2017)",
         "negative = forgetting. accuracy: mean_j<T-1 (R[T-1][j] - R[j][j]); for mse metrics "
         "the sign is flipped, mean (R[j][j] - R[T-1][j]), so negative still means the loss "
         "increased",
         &v_bwt},
        {"fwt", "forward transfer (GEM)",
         "positive = earlier training helped. accuracy: mean_j>=1 (R[j-1][j] - R0[j]); for mse "
         "metrics the sign is flipped, mean (R0[j] - R[j-1][j])",
         &v_fwt},
        {"forgetting", "forgetting (Chaudhry et al. 2018)",
         "positive = forgot. accuracy: mean_j<T-1 (max_l<T-1 R[l][j] - R[T-1][j]), the drop "
         "in accuracy; for mse metrics mean (R[T-1][j] - min_l<T-1 R[l][j]), the increase "
         "in loss",
         &v_forg},
    };
    for (size_t q = 0; q < sizeof scalars / sizeof scalars[0]; q++) {
        NC_CHECK(nc_def_var(nc, scalars[q].name, NC_DOUBLE, 1, d1, scalars[q].id));
        NC_CHECK(nc_put_att_double(nc, *scalars[q].id, "_FillValue", NC_DOUBLE, 1, &dnan));
        NC_CHECK(put_text(nc, *scalars[q].id, "long_name", scalars[q].long_name));
        NC_CHECK(put_text(nc, *scalars[q].id, "direction", scalars[q].direction));
        NC_CHECK(put_text(nc, *scalars[q].id, "coordinates", coords));
    }
    NC_CHECK(nc_def_var(nc, "wall_seconds", NC_DOUBLE, 1, d1, &v_wall));
    NC_CHECK(put_text(nc, v_wall, "long_name", "wall-clock time of the run"));
    NC_CHECK(put_text(nc, v_wall, "units", "s"));
    NC_CHECK(put_text(nc, v_wall, "coordinates", coords));

    for (int a = 0; a < naxes; a++) {
        char ln[NC_MAX_NAME + 32];
        NC_CHECK(nc_def_var(nc, ax[a].var, ax[a].numeric ? NC_DOUBLE : NC_STRING, 1, d1,
                            &ax[a].varid));
        if (ax[a].numeric)
            NC_CHECK(nc_put_att_double(nc, ax[a].varid, "_FillValue", NC_DOUBLE, 1, &dnan));
        NC_CHECK(put_text(nc, ax[a].varid, "key", ax[a].key));
        snprintf(ln, sizeof ln, "swept parameter %s", ax[a].key);
        NC_CHECK(put_text(nc, ax[a].varid, "long_name", ln));
    }
    for (int q = 0; q < nextras; q++) {
        int dd[3] = {drun, 0, 0};
        for (int d = 0; d < ex[q].ndim; d++) dd[d + 1] = dims[ex[q].dim[d]].id;
        NC_CHECK(nc_def_var(nc, ex[q].var, NC_DOUBLE, 1 + ex[q].ndim, dd, &ex[q].varid));
        NC_CHECK(nc_put_att_double(nc, ex[q].varid, "_FillValue", NC_DOUBLE, 1, &dnan));
        NC_CHECK(put_text(nc, ex[q].varid, "long_name",
                          ex[q].long_name[0] ? ex[q].long_name : ex[q].name));
        NC_CHECK(put_text(nc, ex[q].varid, "clsweep_extra", ex[q].name));
        NC_CHECK(put_text(nc, ex[q].varid, "coordinates", coords));
    }

    int ntotal = s->nruns;
    NC_CHECK(put_text(nc, NC_GLOBAL, "title", OUTPUT_TITLE));
    NC_CHECK(put_text(nc, NC_GLOBAL, "Conventions", "CF-1.8"));
    NC_CHECK(put_text(nc, NC_GLOBAL, "sweep_name", s->name));
    NC_CHECK(put_text(nc, NC_GLOBAL, "sweep_file", s->path));
    NC_CHECK(put_text(nc, NC_GLOBAL, "sweep_yaml", s->yaml));
    NC_CHECK(put_text(nc, NC_GLOBAL, "clsweep_version", CLS_VERSION));
    NC_CHECK(nc_put_att_int(nc, NC_GLOBAL, "n_runs_total", NC_INT, 1, &ntotal));
    NC_CHECK(nc_put_att_int(nc, NC_GLOBAL, "n_runs_finished", NC_INT, 1, &n));
    NC_CHECK(nc_enddef(nc));

    /* ---- data ---- */
    if (n > 0) {
        size_t S = dims[0].size, T = dims[1].size;
        size_t start[3] = {0, 0, 0}, count[3] = {(size_t)n, S, T};
        strs = xcalloc((size_t)n, sizeof *strs);
        owned = xcalloc((size_t)n, sizeof *owned);
        ibuf = xmalloc((size_t)n * sizeof *ibuf);
        bbuf = xmalloc((size_t)n * sizeof *bbuf);

        for (int k = 0; k < n; k++) strs[k] = s->runs[runs[k]].id;
        NC_CHECK(nc_put_vara_string(nc, v_id, start, count, strs));
        for (int k = 0; k < n; k++) {
            const char *m = cfg_get(&s->runs[runs[k]].cfg, "model");
            strs[k] = m ? m : "";
        }
        NC_CHECK(nc_put_vara_string(nc, v_model, start, count, strs));
        for (int k = 0; k < n; k++) {
            const char *b = cfg_get(&s->runs[runs[k]].cfg, "benchmark.name");
            strs[k] = b ? b : "";
        }
        NC_CHECK(nc_put_vara_string(nc, v_bench, start, count, strs));
        {
            long long *seeds = xmalloc((size_t)n * sizeof *seeds);
            for (int k = 0; k < n; k++) {
                const char *v = cfg_get(&s->runs[runs[k]].cfg, "seed");
                char *end = NULL;
                errno = 0;
                seeds[k] = v ? strtoll(v, &end, 10) : -1;
                if (v && (end == v || *end || errno)) seeds[k] = -1;
            }
            int rc = nc_put_vara_longlong(nc, v_seed, start, count, seeds);
            free(seeds);
            NC_CHECK(rc);
        }
        for (int k = 0; k < n; k++) strs[k] = owned[k] = cfg_to_string(&s->runs[runs[k]].cfg);
        NC_CHECK(nc_put_vara_string(nc, v_config, start, count, strs));
        for (int k = 0; k < n; k++) strs[k] = run_status_name(results[runs[k]]->status);
        NC_CHECK(nc_put_vara_string(nc, v_status, start, count, strs));
        for (int k = 0; k < n; k++) strs[k] = results[runs[k]]->message;
        NC_CHECK(nc_put_vara_string(nc, v_msg, start, count, strs));
        for (int k = 0; k < n; k++) strs[k] = results[runs[k]]->metric;
        NC_CHECK(nc_put_vara_string(nc, v_metric, start, count, strs));
        for (int k = 0; k < n; k++) bbuf[k] = results[runs[k]]->higher_is_better ? 1 : 0;
        NC_CHECK(nc_put_vara_schar(nc, v_hib, start, count, bbuf));
        for (int k = 0; k < n; k++) ibuf[k] = results[runs[k]]->nstages;
        NC_CHECK(nc_put_vara_int(nc, v_ns, start, count, ibuf));
        for (int k = 0; k < n; k++) ibuf[k] = results[runs[k]]->ntasks;
        NC_CHECK(nc_put_vara_int(nc, v_nt, start, count, ibuf));

        fbuf = xmalloc((size_t)n * S * T * sizeof *fbuf);
        for (size_t i = 0; i < (size_t)n * S * T; i++) fbuf[i] = NAN;
        for (int k = 0; k < n; k++) {
            const run_result *r = results[runs[k]];
            if (!r->R) continue;
            for (int i = 0; i < r->nstages; i++)
                for (int j = 0; j < r->ntasks; j++)
                    fbuf[((size_t)k * S + (size_t)i) * T + (size_t)j] = r->R[(size_t)i * (size_t)r->ntasks + (size_t)j];
        }
        NC_CHECK(nc_put_vara_float(nc, v_R, start, count, fbuf));
        for (size_t i = 0; i < (size_t)n * T; i++) fbuf[i] = NAN;
        for (int k = 0; k < n; k++) {
            const run_result *r = results[runs[k]];
            if (!r->R0) continue;
            for (int j = 0; j < r->ntasks; j++) fbuf[(size_t)k * T + (size_t)j] = r->R0[j];
        }
        size_t count2[2] = {(size_t)n, T};
        NC_CHECK(nc_put_vara_float(nc, v_R0, start, count2, fbuf));

        dbuf = xmalloc((size_t)n * sizeof *dbuf);
        for (int k = 0; k < n; k++) dbuf[k] = results[runs[k]]->acc;
        NC_CHECK(nc_put_vara_double(nc, v_acc, start, count, dbuf));
        for (int k = 0; k < n; k++) dbuf[k] = results[runs[k]]->bwt;
        NC_CHECK(nc_put_vara_double(nc, v_bwt, start, count, dbuf));
        for (int k = 0; k < n; k++) dbuf[k] = results[runs[k]]->fwt;
        NC_CHECK(nc_put_vara_double(nc, v_fwt, start, count, dbuf));
        for (int k = 0; k < n; k++) dbuf[k] = results[runs[k]]->forgetting;
        NC_CHECK(nc_put_vara_double(nc, v_forg, start, count, dbuf));
        for (int k = 0; k < n; k++) dbuf[k] = results[runs[k]]->wall_seconds;
        NC_CHECK(nc_put_vara_double(nc, v_wall, start, count, dbuf));

        for (int a = 0; a < naxes; a++) {
            if (ax[a].numeric) {
                for (int k = 0; k < n; k++) {
                    const char *v = cfg_get(&s->runs[runs[k]].cfg, ax[a].key);
                    if (!v || !parse_number(v, &dbuf[k])) dbuf[k] = NAN;
                }
                NC_CHECK(nc_put_vara_double(nc, ax[a].varid, start, count, dbuf));
            } else {
                for (int k = 0; k < n; k++) {
                    const char *v = cfg_get(&s->runs[runs[k]].cfg, ax[a].key);
                    strs[k] = v ? v : "";
                }
                NC_CHECK(nc_put_vara_string(nc, ax[a].varid, start, count, strs));
            }
        }

        for (int q = 0; q < nextras; q++) {
            size_t c0 = ex[q].ndim > 0 ? dims[ex[q].dim[0]].size : 1;
            size_t c1 = ex[q].ndim > 1 ? dims[ex[q].dim[1]].size : 1;
            size_t per = c0 * c1;
            double *eb = xmalloc((size_t)n * per * sizeof *eb);
            for (size_t i = 0; i < (size_t)n * per; i++) eb[i] = NAN;
            for (int k = 0; k < n; k++) {
                const result_extra *x = result_find(results[runs[k]], ex[q].name);
                if (!x || !x->data) continue;
                if (x->ndim == 0) {
                    eb[k] = x->data[0];
                    continue;
                }
                size_t s0 = (size_t)(x->shape[0] > 0 ? x->shape[0] : 0);
                size_t s1 = x->ndim > 1 ? (size_t)(x->shape[1] > 0 ? x->shape[1] : 0) : 1;
                for (size_t i = 0; i < s0; i++)
                    for (size_t j = 0; j < s1; j++) eb[(size_t)k * per + i * c1 + j] = x->data[i * s1 + j];
            }
            size_t ecount[3] = {(size_t)n, c0, c1};
            int rc = nc_put_vara_double(nc, ex[q].varid, start, ecount, eb);
            free(eb);
            NC_CHECK(rc);
        }
    }

    {
        NC_memio mem;
        memset(&mem, 0, sizeof mem);
        int rc = nc_close_memio(nc, &mem);
        if (rc == NC_NOERR) nc = -1; /* on failure the id stays open: cleanup aborts it */
        NC_CHECK(rc);
        rc = write_file_synced(tmp, mem.memory, mem.size);
        free(mem.memory);
        if (rc) goto cleanup;
    }
    if (rename(tmp, path) != 0) {
        cls_seterr("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto cleanup;
    }
    /* On failure the new file is in place; only its durability across a power cut is in
     * doubt, which the caller still hears about. */
    if (fsync_path(dir, 1)) goto cleanup;
    status = 0;

cleanup:
    if (nc >= 0) nc_abort(nc);
    if (status != 0 && tmp) unlink(tmp);
    if (owned)
        for (int k = 0; k < n; k++) free(owned[k]);
    free(owned);
    free(strs);
    free(fbuf);
    free(dbuf);
    free(ibuf);
    free(bbuf);
    free(coords);
    free(ax);
    free(ex);
    free(dims);
    free(runs);
    free(dir);
    free(tmp);
    return status;
}

/* ---- reading ---- */

/* Opens path and checks it is a clsweep file. 0 or -1 with cls_seterr. */
static int open_sweep_file(const char *path, int *ncp) {
    int nc, rc = nc_open(path, NC_NOWRITE, &nc);
    if (rc != NC_NOERR) {
        cls_seterr("%s: not a readable NetCDF file (%s)", path, nc_strerror(rc));
        return -1;
    }
    nc_type type;
    size_t len;
    char title[sizeof OUTPUT_TITLE] = "";
    if (nc_inq_att(nc, NC_GLOBAL, "title", &type, &len) != NC_NOERR || type != NC_CHAR ||
        len != strlen(OUTPUT_TITLE) || nc_get_att_text(nc, NC_GLOBAL, "title", title) != NC_NOERR ||
        memcmp(title, OUTPUT_TITLE, len)) {
        cls_seterr("%s: not a clsweep results file (no global attribute title = \"%s\")", path,
                   OUTPUT_TITLE);
        nc_close(nc);
        return -1;
    }
    *ncp = nc;
    return 0;
}

/* Reads a text attribute into a new string ("" when absent). */
static char *get_text_att(int nc, int var, const char *name) {
    nc_type type;
    size_t len;
    if (nc_inq_att(nc, var, name, &type, &len) != NC_NOERR || type != NC_CHAR) return xstrdup("");
    char *s = xmalloc(len + 1);
    if (nc_get_att_text(nc, var, name, s) != NC_NOERR) len = 0;
    s[len] = 0;
    return s;
}

/* Per-variable readers: the variable must exist and have n entries per run. */
static int read_strings(int nc, const char *nc_path, const char *name, size_t n, char ***out) {
    int var;
    *out = NULL;
    NC_CHECK(nc_inq_varid(nc, name, &var));
    *out = xcalloc(n ? n : 1, sizeof **out);
    if (n) NC_CHECK(nc_get_var_string(nc, var, *out));
    return 0;
cleanup:
    if (*out) free(*out);
    *out = NULL;
    cls_adderr("variable %s", name);
    return -1;
}

static void free_strings(char **s, size_t n) {
    if (!s) return;
    nc_free_string(n, s);
    free(s);
}

static int read_var(int nc, const char *nc_path, const char *name, nc_type want, size_t count,
                    void *out) {
    int var;
    NC_CHECK(nc_inq_varid(nc, name, &var));
    if (!count) return 0;
    switch (want) {
    case NC_DOUBLE: NC_CHECK(nc_get_var_double(nc, var, out)); break;
    case NC_FLOAT: NC_CHECK(nc_get_var_float(nc, var, out)); break;
    case NC_INT: NC_CHECK(nc_get_var_int(nc, var, out)); break;
    default: NC_CHECK(nc_get_var_schar(nc, var, out)); break;
    }
    return 0;
cleanup:
    cls_adderr("variable %s", name);
    return -1;
}

static int dim_len(int nc, const char *nc_path, const char *name, size_t *len) {
    int d;
    NC_CHECK(nc_inq_dimid(nc, name, &d));
    NC_CHECK(nc_inq_dimlen(nc, d, len));
    return 0;
cleanup:
    cls_adderr("dimension %s", name);
    return -1;
}

typedef struct {
    char name[RESULT_NAME_MAX];
    char long_name[96];
    int ndim;
    char dim[2][RESULT_NAME_MAX];
    size_t len[2];
    double *data; /* (run, len0, len1) */
} read_extra;

int output_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                void *ctx) {
    const char *nc_path = path;
    int nc = -1, status = -1, nex = 0;
    size_t n = 0, S = 0, T = 0;
    char **ids = NULL, **st = NULL, **msg = NULL, **metric = NULL;
    int *ns = NULL, *nt = NULL;
    signed char *hib = NULL;
    float *R = NULL, *R0 = NULL;
    double *acc = NULL, *bwt = NULL, *fwt = NULL, *forg = NULL, *wall = NULL;
    read_extra *ex = NULL;

    if (open_sweep_file(path, &nc)) return -1;
    if (dim_len(nc, path, "run", &n) || dim_len(nc, path, "stage", &S) ||
        dim_len(nc, path, "task", &T))
        goto cleanup;
    if (read_strings(nc, path, "run_id", n, &ids) || read_strings(nc, path, "status", n, &st) ||
        read_strings(nc, path, "message", n, &msg) || read_strings(nc, path, "metric", n, &metric))
        goto cleanup;
    ns = xmalloc((n ? n : 1) * sizeof *ns);
    nt = xmalloc((n ? n : 1) * sizeof *nt);
    hib = xmalloc(n ? n : 1);
    R = xmalloc(n * S * T * sizeof *R); /* xmalloc(0) is valid */
    R0 = xmalloc(n * T * sizeof *R0);
    acc = xmalloc((n ? n : 1) * sizeof(double));
    bwt = xmalloc((n ? n : 1) * sizeof(double));
    fwt = xmalloc((n ? n : 1) * sizeof(double));
    forg = xmalloc((n ? n : 1) * sizeof(double));
    wall = xmalloc((n ? n : 1) * sizeof(double));
    if (read_var(nc, path, "nstages", NC_INT, n, ns) || read_var(nc, path, "ntasks", NC_INT, n, nt) ||
        read_var(nc, path, "higher_is_better", NC_BYTE, n, hib) ||
        read_var(nc, path, "R", NC_FLOAT, n * S * T, R) ||
        read_var(nc, path, "R0", NC_FLOAT, n * T, R0) ||
        read_var(nc, path, "acc", NC_DOUBLE, n, acc) || read_var(nc, path, "bwt", NC_DOUBLE, n, bwt) ||
        read_var(nc, path, "fwt", NC_DOUBLE, n, fwt) ||
        read_var(nc, path, "forgetting", NC_DOUBLE, n, forg) ||
        read_var(nc, path, "wall_seconds", NC_DOUBLE, n, wall))
        goto cleanup;

    /* extras: every variable carrying a clsweep_extra attribute */
    int nvars;
    NC_CHECK(nc_inq_nvars(nc, &nvars));
    ex = xcalloc((size_t)(nvars > 0 ? nvars : 1), sizeof *ex);
    for (int v = 0; v < nvars; v++) {
        nc_type type;
        size_t alen;
        if (nc_inq_att(nc, v, "clsweep_extra", &type, &alen) != NC_NOERR || type != NC_CHAR)
            continue;
        read_extra *x = &ex[nex];
        char *name = get_text_att(nc, v, "clsweep_extra");
        char *ln = get_text_att(nc, v, "long_name");
        snprintf(x->name, sizeof x->name, "%s", name);
        snprintf(x->long_name, sizeof x->long_name, "%s", ln);
        free(name);
        free(ln);
        int vnd, vdims[NC_MAX_VAR_DIMS], drun;
        char vname[NC_MAX_NAME + 1];
        NC_CHECK(nc_inq_varname(nc, v, vname));
        NC_CHECK(nc_inq_varndims(nc, v, &vnd));
        NC_CHECK(nc_inq_dimid(nc, "run", &drun));
        if (vnd < 1 || vnd > 3 || !x->name[0]) {
            cls_seterr("%s: extra variable %s has %d dimensions (expected run + 0..2)", path,
                       vname, vnd);
            goto cleanup;
        }
        NC_CHECK(nc_inq_vardimid(nc, v, vdims));
        if (vdims[0] != drun) {
            cls_seterr("%s: extra variable %s does not start with dimension run", path, vname);
            goto cleanup;
        }
        x->ndim = vnd - 1;
        x->len[0] = x->len[1] = 1;
        for (int d = 0; d < x->ndim; d++) {
            char dn[NC_MAX_NAME + 1];
            NC_CHECK(nc_inq_dim(nc, vdims[d + 1], dn, &x->len[d]));
            snprintf(x->dim[d], sizeof x->dim[d], "%.*s", (int)sizeof x->dim[d] - 1, dn);
        }
        nex++;
        size_t cnt = n * x->len[0] * x->len[1];
        x->data = xmalloc((cnt ? cnt : 1) * sizeof *x->data);
        if (cnt) NC_CHECK(nc_get_var_double(nc, v, x->data));
    }

    for (size_t k = 0; k < n; k++) {
        if (ns[k] < 0 || nt[k] < 0 || (size_t)ns[k] > S || (size_t)nt[k] > T) {
            cls_seterr("%s: run %zu has nstages/ntasks %d/%d outside the file's %zu/%zu", path, k,
                       ns[k], nt[k], S, T);
            goto cleanup;
        }
        int sv = run_status_parse(st[k]);
        if (sv < 0) {
            cls_seterr("%s: run %zu has unknown status '%s'", path, k, st[k] ? st[k] : "");
            goto cleanup;
        }
        run_result r;
        result_init(&r);
        r.status = (run_status)sv;
        snprintf(r.message, sizeof r.message, "%s", msg[k] ? msg[k] : "");
        snprintf(r.metric, sizeof r.metric, "%s", metric[k] ? metric[k] : "");
        r.higher_is_better = hib[k] != 0;
        result_alloc(&r, ns[k], nt[k]);
        for (int i = 0; i < ns[k]; i++)
            for (int j = 0; j < nt[k]; j++)
                r.R[(size_t)i * (size_t)nt[k] + (size_t)j] = R[(k * S + (size_t)i) * T + (size_t)j];
        for (int j = 0; j < nt[k]; j++) r.R0[j] = R0[k * T + (size_t)j];
        r.acc = acc[k];
        r.bwt = bwt[k];
        r.fwt = fwt[k];
        r.forgetting = forg[k];
        r.wall_seconds = wall[k];
        for (int q = 0; q < nex; q++) {
            const read_extra *x = &ex[q];
            size_t per = x->len[0] * x->len[1];
            const double *d = x->data + k * per;
            if (x->ndim == 0) {
                if (!isnan(d[0])) result_set_scalar(&r, x->name, x->long_name, d[0]);
                continue;
            }
            /* cut to the last row / column holding a value */
            size_t rows = 0, cols = 0;
            for (size_t i = 0; i < x->len[0]; i++)
                for (size_t j = 0; j < x->len[1]; j++)
                    if (!isnan(d[i * x->len[1] + j])) {
                        if (i + 1 > rows) rows = i + 1;
                        if (j + 1 > cols) cols = j + 1;
                    }
            if (!rows) continue;
            double *out = result_array(&r, x->name, x->long_name, x->dim[0], (int)rows,
                                       x->ndim > 1 ? x->dim[1] : NULL, (int)cols);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < (x->ndim > 1 ? cols : 1); j++)
                    out[i * (x->ndim > 1 ? cols : 1) + j] = d[i * x->len[1] + j];
        }
        char id[RUN_ID_LEN + 1];
        snprintf(id, sizeof id, "%s", ids[k] ? ids[k] : "");
        fn(id, &r, ctx);
    }
    status = 0;

cleanup:
    if (nc >= 0) nc_close(nc);
    free_strings(ids, n);
    free_strings(st, n);
    free_strings(msg, n);
    free_strings(metric, n);
    for (int q = 0; q < nex; q++) free(ex[q].data);
    free(ex);
    free(ns);
    free(nt);
    free(hib);
    free(R);
    free(R0);
    free(acc);
    free(bwt);
    free(fwt);
    free(forg);
    free(wall);
    return status;
}

/* ---- status summary ---- */

typedef struct {
    const char *model;
    char *config; /* without model= and seed= */
    double sum, sumsq;
    int nacc, nruns;
} cfg_group;

/* The config string without its model= and seed= entries (new string). */
static char *config_without_seed(const char *cfg) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&out, &len, &cap, "%s", "");
    const char *p = cfg ? cfg : "";
    while (*p) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k && strncmp(p, "seed=", 5) && strncmp(p, "model=", 6))
            cls_strappend(&out, &len, &cap, "%s%.*s", len ? " " : "", (int)k, p);
        p += k;
    }
    return out;
}

/* Whether the space-separated list hay holds the token tok (length k). */
static int has_token(const char *hay, const char *tok, size_t k) {
    for (const char *p = hay; (p = strstr(p, tok)) != NULL; p++) {
        int starts = p == hay || p[-1] == ' ';
        int ends = p[k] == ' ' || p[k] == 0;
        if (starts && ends && !strncmp(p, tok, k)) return 1;
    }
    return 0;
}

/* The entries of cfg that not every configuration of the same model shares: what sets
 * this configuration apart (new string). */
static char *config_distinct(const char *cfg, const cfg_group *g, int ng, const char *model) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    cls_strappend(&out, &len, &cap, "%s", "");
    const char *p = cfg;
    while (*p) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        char *tok = xmalloc(k + 1);
        memcpy(tok, p, k);
        tok[k] = 0;
        int common = 1;
        for (int i = 0; i < ng && common; i++)
            if (!strcmp(g[i].model, model) && !has_token(g[i].config, tok, k)) common = 0;
        if (k && !common) cls_strappend(&out, &len, &cap, "%s%s", len ? " " : "", tok);
        free(tok);
        p += k;
    }
    return out;
}

static int hib_sort; /* qsort comparator direction: single-threaded */

static int cmp_group(const void *a, const void *b) {
    const cfg_group *x = a, *y = b;
    double mx = x->nacc ? x->sum / x->nacc : NAN, my = y->nacc ? y->sum / y->nacc : NAN;
    if (isnan(mx) || isnan(my)) return isnan(mx) - isnan(my);
    if (mx == my) return 0;
    return (hib_sort ? mx > my : mx < my) ? -1 : 1;
}

int output_status(const char *path, FILE *out) {
    int nc = -1, status = -1, nmodels = 0, ngroups = 0;
    size_t n = 0;
    char **model = NULL, **st = NULL, **config = NULL, **metric = NULL;
    double *acc = NULL;
    signed char *hib = NULL;
    char *name = NULL, *version = NULL;
    const char **models = NULL;
    int *counts = NULL; /* (nmodels, RUN_STATUS_COUNT) */
    cfg_group *groups = NULL;

    if (open_sweep_file(path, &nc)) return -1;
    if (dim_len(nc, path, "run", &n)) goto cleanup;
    if (read_strings(nc, path, "model", n, &model) || read_strings(nc, path, "status", n, &st) ||
        read_strings(nc, path, "config", n, &config) ||
        read_strings(nc, path, "metric", n, &metric))
        goto cleanup;
    acc = xmalloc((n ? n : 1) * sizeof *acc);
    hib = xmalloc(n ? n : 1);
    if (read_var(nc, path, "acc", NC_DOUBLE, n, acc) ||
        read_var(nc, path, "higher_is_better", NC_BYTE, n, hib))
        goto cleanup;
    int total = -1;
    if (nc_get_att_int(nc, NC_GLOBAL, "n_runs_total", &total) != NC_NOERR) total = -1;
    name = get_text_att(nc, NC_GLOBAL, "sweep_name");
    version = get_text_att(nc, NC_GLOBAL, "clsweep_version");

    models = xcalloc(n ? n : 1, sizeof *models);
    counts = xcalloc((n ? n : 1) * RUN_STATUS_COUNT, sizeof *counts);
    groups = xcalloc(n ? n : 1, sizeof *groups);
    for (size_t k = 0; k < n; k++) {
        const char *m = model[k] ? model[k] : "";
        int mi = 0;
        while (mi < nmodels && strcmp(models[mi], m)) mi++;
        if (mi == nmodels) models[nmodels++] = m;
        int sv = run_status_parse(st[k]);
        if (sv >= 0) counts[mi * RUN_STATUS_COUNT + sv]++;
        char *c = config_without_seed(config[k]);
        int gi = 0;
        while (gi < ngroups && (strcmp(groups[gi].model, m) || strcmp(groups[gi].config, c))) gi++;
        if (gi == ngroups) {
            groups[ngroups].model = m;
            groups[ngroups].config = c;
            ngroups++;
        } else {
            free(c);
        }
        groups[gi].nruns++;
        if (sv == RUN_STATUS_OK && !isnan(acc[k])) {
            groups[gi].sum += acc[k];
            groups[gi].sumsq += acc[k] * acc[k];
            groups[gi].nacc++;
        }
    }

    fprintf(out, "%s: sweep \"%s\", %zu", path, name, n);
    if (total >= 0) fprintf(out, " of %d", total);
    fprintf(out, " runs finished (clsweep %s)\n", version[0] ? version : "?");
    if (n) {
        fprintf(out, "\n%-16s", "model");
        for (int sv = 0; sv < RUN_STATUS_COUNT; sv++) fprintf(out, " %11s", run_status_name((run_status)sv));
        fprintf(out, " %11s\n", "total");
        for (int mi = 0; mi < nmodels; mi++) {
            int tot = 0;
            fprintf(out, "%-16s", models[mi]);
            for (int sv = 0; sv < RUN_STATUS_COUNT; sv++) {
                fprintf(out, " %11d", counts[mi * RUN_STATUS_COUNT + sv]);
                tot += counts[mi * RUN_STATUS_COUNT + sv];
            }
            fprintf(out, " %11d\n", tot);
        }
    }
    for (int mi = 0; mi < nmodels; mi++) {
        /* the groups of this model, best first */
        cfg_group *g = xmalloc((size_t)ngroups * sizeof *g);
        int ng = 0, hb = 1;
        const char *met = "";
        for (size_t k = 0; k < n; k++)
            if (!strcmp(model[k] ? model[k] : "", models[mi]) && st[k] && !strcmp(st[k], "ok")) {
                hb = hib[k] != 0;
                met = metric[k] ? metric[k] : "";
                break;
            }
        for (int gi = 0; gi < ngroups; gi++)
            if (!strcmp(groups[gi].model, models[mi]) && groups[gi].nacc) g[ng++] = groups[gi];
        hib_sort = hb;
        qsort(g, (size_t)ng, sizeof *g, cmp_group);
        if (ng) {
            fprintf(out, "\n%s: best configurations by mean acc (%s, %s is better):\n", models[mi],
                    met[0] ? met : "metric", hb ? "higher" : "lower");
            for (int q = 0; q < ng && q < 3; q++) {
                double mean = g[q].sum / g[q].nacc;
                double var = g[q].sumsq / g[q].nacc - mean * mean;
                char *d = config_distinct(g[q].config, groups, ngroups, models[mi]);
                fprintf(out, "  %d. acc %.4f +- %.4f (%d seed%s)  %s\n", q + 1, mean,
                        sqrt(var > 0 ? var : 0), g[q].nacc, g[q].nacc == 1 ? "" : "s",
                        d[0] ? d : "(the only configuration)");
                free(d);
            }
        }
        free(g);
    }
    status = 0;

cleanup:
    if (nc >= 0) nc_close(nc);
    free_strings(model, n);
    free_strings(st, n);
    free_strings(config, n);
    free_strings(metric, n);
    for (int gi = 0; gi < ngroups; gi++) free(groups[gi].config);
    free(groups);
    free(models);
    free(counts);
    free(acc);
    free(hib);
    free(name);
    free(version);
    return status;
}
