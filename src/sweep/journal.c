/* journal.c — the append-only journal "<output>.journal" of finished runs (output.h).
 * Called by the scheduler (open, append, sync, close, read for resume) and by nothing else.
 *
 * A 12-byte file header "CLSJOURNAL1\n" (or, for a journal compacted by journal_compact,
 * the 20-byte "CLSJOURNAL2\n" + u32 runs of the sweep file it continues + u32 CRC-32 of the
 * 16 bytes before; issue 23), then records:
 *     "CLSJ"  u32 payload length  u32 CRC-32 (zlib) of payload  payload
 *     payload = run id (16 hex characters, no NUL) + result_pack() bytes
 * (integers little-endian). A record is valid when its frame fits in the file, its CRC
 * matches, its id is 16 hex digits and its result unpacks. journal_read skips invalid
 * bytes up to the next valid record, counting each damaged stretch once (a kill -9
 * mid-write leaves exactly one, at the tail; a stretch followed by valid records is damage
 * in the middle, reported as such). journal_open cuts a damaged tail off before appending,
 * so new records never hide behind garbage, and holds an exclusive flock so that two
 * processes cannot append to one journal. The journal is opened without following a
 * symbolic link, and only when the output file next to it (the path without ".journal"),
 * if present, is a clsweep results file: a foreign file at the output path is never
 * overwritten later. Temporary files of the output left by a kill during a rewrite
 * ("<output>.tmp.XXXXXX") are removed once the lock is held. */
#include "output.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "safefile.h"
#include "util.h"

static const char JOURNAL_HEADER[] = "CLSJOURNAL1\n";
#define JOURNAL_HEADER_LEN 12
/* A compacted journal (issue 23, journal_compact): "CLSJOURNAL2\n", u32 nbase, u32 CRC-32
 * of the 16 bytes before it; its records come after the runs of the sweep file. */
static const char JOURNAL_HEADER2[] = "CLSJOURNAL2\n";
#define JOURNAL_HEADER2_LEN 20
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

/* Walks the records after the header; calls fn for each valid one (when fn is non-NULL) and
 * counts the damage in *dmg (when non-NULL). Returns the end offset of the last valid record
 * (or of the header). */
static size_t journal_scan(const unsigned char *d, size_t n, size_t hlen,
                           void (*fn)(const char *, run_result *, void *), void *ctx,
                           journal_damage *dmg) {
    size_t pos = hlen, valid_end = hlen;
    int in_bad = 0;
    journal_damage dm = {0, 0, 0, 0, 0};
    while (pos < n) {
        run_result r;
        size_t k = journal_record_at(d, n, pos, fn ? &r : NULL);
        if (!k) {
            if (!in_bad) dm.nmiddle++;
            in_bad = 1;
            dm.bytes_middle++;
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
        dm.nrecords++;
        pos += k;
        valid_end = pos;
    }
    if (in_bad) { /* the last stretch has no valid record after it: a torn tail */
        dm.nmiddle--;
        dm.bytes_middle -= n - valid_end;
        dm.torn_tail = 1;
    }
    if (dmg) *dmg = dm;
    return valid_end;
}

/* Checks the header of journal data. 0 = good (its length in *hlen, the runs the sweep file
 * holds besides the records in *nbase: 0 unless compacted), 1 = empty or a torn header (a
 * crash while creating), -1 = not a journal (cls_seterr). */
static int journal_check_header(const unsigned char *d, size_t n, const char *path, size_t *hlen,
                                uint32_t *nbase) {
    *hlen = JOURNAL_HEADER_LEN;
    *nbase = 0;
    if (n >= JOURNAL_HEADER_LEN && !memcmp(d, JOURNAL_HEADER2, JOURNAL_HEADER_LEN)) {
        /* written whole and renamed into place: never torn */
        if (n < JOURNAL_HEADER2_LEN ||
            (uint32_t)crc32(crc32(0L, Z_NULL, 0), d, 16) != get_u32(d + 16)) {
            cls_seterr("%s: damaged header of a compacted journal; the sweep file next to it "
                       "holds the runs recorded before the compaction", path);
            return -1;
        }
        *hlen = JOURNAL_HEADER2_LEN;
        *nbase = get_u32(d + 12);
        return 0;
    }
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

/* The output file of a journal "<out>.journal", if present, must be a clsweep results file
 * (a resume over a foreign file would overwrite it at the first rewrite). 0 or -1. */
static int check_output_next_to(const char *path) {
    size_t n = strlen(path), k = strlen(".journal");
    if (n <= k || strcmp(path + n - k, ".journal")) return 0;
    char *out = xstrdup(path);
    out[n - k] = 0;
    struct stat st;
    int rc = 0;
    if (lstat(out, &st) == 0 && !output_is_ours(out)) {
        cls_seterr("refusing to overwrite %s: it exists and is not a clsweep results file "
                   "(%s); move it away or choose another output path",
                   out, S_ISLNK(st.st_mode) ? "a symbolic link" : "no clsweep title");
        rc = -1;
    }
    free(out);
    return rc;
}

/* Removes the temporary files "<out>.tmp.XXXXXX" a kill during a rewrite of <out> left
 * behind (the caller holds the journal's lock, so no rewrite of <out> is under way). Only
 * regular files with exactly that name pattern are removed; links are left alone. */
static void remove_stale_temps(const char *path) {
    size_t n = strlen(path), k = strlen(".journal");
    if (n <= k || strcmp(path + n - k, ".journal")) return;
    char *dir = sf_dir_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base) - k;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        const char *nm = e->d_name;
        if (strlen(nm) != blen + 11 || strncmp(nm, base, blen) || strncmp(nm + blen, ".tmp.", 5))
            continue;
        size_t pl = strlen(dir) + strlen(nm) + 2;
        char *p = xmalloc(pl);
        snprintf(p, pl, "%s/%s", dir, nm);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) unlink(p);
        free(p);
    }
    if (d) closedir(d);
    free(dir);
}

int journal_open(journal_t *j, const char *path) {
    unsigned char *data = NULL;
    size_t n = 0;
    int fd = -1;
    j->f = NULL;
    j->path = NULL;
    j->held_fd = 0;
    char *dir = sf_dir_of(path);
    int rc = sf_mkdir_p(dir);
    free(dir);
    if (rc) {
        cls_adderr("journal %s", path);
        return -1;
    }
    if (check_output_next_to(path)) return -1;
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        if (errno == ELOOP)
            cls_seterr("refusing to open journal %s: it is a symbolic link", path);
        else
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
    remove_stale_temps(path);
    if (sf_read_whole(fd, path, &data, &n)) goto fail;
    size_t hlen;
    uint32_t nbase;
    int hdr = journal_check_header(data, n, path, &hlen, &nbase);
    if (hdr < 0) goto fail;
    size_t keep = hdr == 1 ? 0 : journal_scan(data, n, hlen, NULL, NULL, NULL);
    if (keep < n && ftruncate(fd, (off_t)keep) != 0) {
        cls_seterr("cannot cut the damaged tail of journal %s: %s", path, strerror(errno));
        goto fail;
    }
    if (keep == 0) {
        if (sf_write_all(fd, JOURNAL_HEADER, JOURNAL_HEADER_LEN) || fsync(fd)) {
            cls_seterr("cannot write journal %s: %s", path, strerror(errno));
            goto fail;
        }
        dir = sf_dir_of(path);
        rc = sf_fsync_dir(dir);
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
    setvbuf(j->f, NULL, _IOFBF, 1 << 16);   /* the master flushes once per message */
    j->path = xstrdup(path);
    return 0;
fail:
    free(data);
    if (fd >= 0) close(fd);
    return -1;
}

/* Appends one record to the stdio buffer only (journal_append_buffered's body). 0 or -1. */
static int journal_put(journal_t *j, const char *run_id, const run_result *r) {
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
    return 0;
}

int journal_append_buffered(journal_t *j, const char *run_id, const run_result *r) {
    return journal_put(j, run_id, r);
}

int journal_flush(journal_t *j) {
    if (!j || !j->f) {
        cls_seterr("journal_flush: journal is not open");
        return -1;
    }
    if (fflush(j->f) != 0) {
        cls_seterr("%s: write failed: %s", j->path, strerror(errno));
        return -1;
    }
    return 0;
}

int journal_append(journal_t *j, const char *run_id, const run_result *r, int sync) {
    if (journal_put(j, run_id, r)) return -1;
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
    if (j->held_fd > 0) close(j->held_fd);
    j->held_fd = 0;
    free(j->path);
    j->f = NULL;
    j->path = NULL;
}

int journal_read_damage(const char *path,
                        void (*fn)(const char *run_id, run_result *r, void *ctx), void *ctx,
                        journal_damage *dmg) {
    unsigned char *data = NULL;
    size_t n = 0;
    journal_damage none = {0, 0, 0, 0, 0};
    if (dmg) *dmg = none;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        cls_seterr("cannot open journal %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = sf_read_whole(fd, path, &data, &n);
    close(fd);
    if (rc) return -1;
    size_t hlen;
    uint32_t nbase;
    int hdr = journal_check_header(data, n, path, &hlen, &nbase);
    if (hdr < 0) {
        free(data);
        return -1;
    }
    if (hdr == 1) {
        if (dmg) dmg->torn_tail = n > 0;
    } else {
        journal_scan(data, n, hlen, fn, ctx, dmg);
        if (dmg) dmg->nbase = (int)nbase;
    }
    free(data);
    return 0;
}

int journal_read(const char *path, void (*fn)(const char *run_id, run_result *r, void *ctx),
                 void *ctx, int *nbad) {
    journal_damage d;
    int rc = journal_read_damage(path, fn, ctx, &d);
    if (nbad) *nbad = d.nmiddle + d.torn_tail;
    return rc;
}

void journal_damage_describe(const journal_damage *d, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    if (d->nmiddle > 0)
        len += (size_t)snprintf(buf, size,
                                "skipped %d damaged stretch(es) (%zu bytes) between valid "
                                "records: the file was altered or the disk corrupted it; "
                                "runs recorded there are run again",
                                d->nmiddle, d->bytes_middle);
    if (d->torn_tail && len < size)
        snprintf(buf + len, size - len, "%signored a torn record at the end (an interrupted "
                 "write)", len ? "; " : "");
}

/* ---- compaction (issue 23) ---- */

void journal_remove_temps(const journal_t *j) {
    if (j && j->path) remove_stale_temps(j->path);
}

/* Appends bytes [from, end) of the journal file at path to fd. 0, or -1 with errno. */
static int copy_tail(const char *path, long long from, int fd) {
    int in = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return -1;
    char buf[1 << 16];
    off_t pos = (off_t)from;
    for (;;) {
        ssize_t k = pread(in, buf, sizeof buf, pos);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            close(in);
            errno = e;
            return -1;
        }
        if (k == 0) break;
        if (sf_write_all(fd, buf, (size_t)k)) {
            int e = errno;
            close(in);
            errno = e;
            return -1;
        }
        pos += k;
    }
    close(in);
    return 0;
}

int journal_compact(journal_t *j, uint32_t nbase, long long keep_from) {
    if (!j || !j->f) {
        cls_seterr("journal_compact: journal is not open");
        return -1;
    }
    if (journal_sync(j)) return -1;
    size_t n = strlen(j->path), k = strlen(".journal");
    if (n <= k || strcmp(j->path + n - k, ".journal")) {
        cls_seterr("journal_compact: %s does not end in .journal", j->path);
        return -1;
    }
    /* "<out>.tmp.XXXXXX": a kill before the rename leaves a file remove_stale_temps knows */
    char *tmp = xmalloc(n + 16);
    snprintf(tmp, n + 16, "%.*s.tmp.XXXXXX", (int)(n - k), j->path);
    int fd = mkostemp(tmp, O_CLOEXEC | O_APPEND);
    if (fd < 0) {
        cls_seterr("cannot compact journal %s: %s", j->path, strerror(errno));
        free(tmp);
        return -1;
    }
    unsigned char h[JOURNAL_HEADER2_LEN];
    memcpy(h, JOURNAL_HEADER2, JOURNAL_HEADER_LEN);
    put_u32(h + 12, nbase);
    put_u32(h + 16, (uint32_t)crc32(crc32(0L, Z_NULL, 0), h, 16));
    mode_t mask = umask(0);
    umask(mask);
    char *dir = sf_dir_of(j->path);
    FILE *nf = NULL;
    if (fchmod(fd, 0644 & ~mask) || sf_write_all(fd, h, sizeof h) ||
        (keep_from >= 0 && copy_tail(j->path, keep_from, fd)) || fsync(fd) ||
        flock(fd, LOCK_EX | LOCK_NB) != 0 || !(nf = fdopen(fd, "ab"))) {
        cls_seterr("cannot compact journal %s: %s", j->path, strerror(errno));
        goto fail;
    }
    if (rename(tmp, j->path) != 0) {
        cls_seterr("cannot compact journal %s: rename: %s", j->path, strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    if (sf_fsync_dir(dir)) {
        cls_adderr("journal %s compacted", j->path);
        /* the new journal is in place; only its durability across a power cut is in doubt */
    }
    free(dir);
    /* The old journal is gone from the directory: empty it (its space back) but keep it open
     * and locked until journal_close, so that a process that opened it just before the
     * rename cannot take its lock and append to it. */
    int old = dup(fileno(j->f));
    fclose(j->f);
    if (old >= 0) {
        if (ftruncate(old, 0) != 0) { /* the space comes back at close */
        }
        if (j->held_fd > 0) close(j->held_fd);
        j->held_fd = old;
    }
    j->f = nf;
    setvbuf(j->f, NULL, _IOFBF, 1 << 16);
    return 0;
fail:
    if (nf) fclose(nf);
    else close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dir);
    return -1;
}

long long journal_size(const journal_t *j) {
    struct stat st;
    if (!j || !j->f || fstat(fileno(j->f), &st) != 0) return -1;
    return (long long)st.st_size;
}

int journal_read_base(const char *path, uint32_t *nbase) {
    *nbase = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        cls_seterr("cannot open journal %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char h[JOURNAL_HEADER2_LEN];
    ssize_t k = read(fd, h, sizeof h);
    close(fd);
    size_t hlen;
    if (k < 0) {
        cls_seterr("cannot read journal %s: %s", path, strerror(errno));
        return -1;
    }
    return journal_check_header(h, (size_t)k, path, &hlen, nbase) < 0 ? -1 : 0;
}
