/* safefile.c — file-system helpers of the result files: mkdir -p, whole-file reads, and the
 * atomic, link-safe replacement every result file goes through (safefile.h). Called by the
 * sweep-output modules only (journal.c, ncfile.c, merge.c). */
#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "util.h"

char *sf_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

int sf_mkdir_p(const char *dir) {
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

int sf_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        cls_seterr("cannot open %s to sync it: %s", dir, strerror(errno));
        return -1;
    }
    /* Some file systems cannot fsync a directory (EINVAL); the rename is still done. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
        cls_seterr("fsync %s: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int sf_write_all(int fd, const void *buf, size_t n) {
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

int sf_read_whole(int fd, const char *path, unsigned char **data, size_t *len) {
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

/* Whether an existing path may be replaced. 0, or -1 with cls_seterr. */
static int replaceable(const char *path, int (*is_ours)(const char *), const char *what) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        cls_seterr("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        cls_seterr("refusing to replace %s: it is a symbolic link (clsweep never writes "
                   "through links; give the real path)", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cls_seterr("refusing to replace %s: not a regular file", path);
        return -1;
    }
    if (is_ours && !is_ours(path)) {
        cls_seterr("refusing to overwrite %s: it exists and is not a %s; move it away or "
                   "choose another output path", path, what ? what : "clsweep file");
        return -1;
    }
    return 0;
}

int sf_replaceable(const char *path, int (*is_ours)(const char *path), const char *what) {
    return replaceable(path, is_ours, what);
}

int sf_replace(const char *path, const void *data, size_t n, int (*is_ours)(const char *path),
               const char *what) {
    int status = -1, fd = -1;
    char *dir = sf_dir_of(path), *tmp = NULL;
    if (sf_mkdir_p(dir)) {
        cls_adderr("cannot write %s", path);
        goto done;
    }
    if (replaceable(path, is_ours, what)) goto done;
    size_t tl = strlen(path) + 16;
    tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT | O_EXCL: never follows a planted link */
    if (fd < 0) {
        cls_seterr("cannot create a temporary file next to %s: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) || sf_write_all(fd, data, n) || fsync(fd)) {
        cls_seterr("cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    int rc = close(fd);
    fd = -1;
    if (rc) {
        cls_seterr("cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    /* Checked again just before the rename: the file may have appeared meanwhile. */
    if (replaceable(path, is_ours, what)) goto done;
    if (rename(tmp, path) != 0) {
        cls_seterr("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
    /* On failure the new file is in place; only its durability across a power cut is in
     * doubt, which the caller still hears about. */
    if (sf_fsync_dir(dir)) goto done;
    status = 0;
done:
    if (fd >= 0) close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dir);
    return status;
}
