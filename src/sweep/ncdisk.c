/* ncdisk.c — a large sweep file written to disk by a child process (ncdisk.h; issue 23).
 * Sweep layer: called by ncfile.c (output_write*) only, for files of more runs than are
 * built in memory.
 *
 * Why a child: ncfile.c builds small files in memory and write(2)s them, because an
 * ENOSPC inside HDF5's own flush leaves its state broken (nc_abort and exit() then
 * segfault; tests/t_bad_env.sh). A memory image of 10^6 runs is ~0.8 GB, so large files
 * go to disk through HDF5 — in a forked child that writes the temporary file and exits
 * (_exit: no HDF5 shutdown, no stdio flush, never MPI). Its error message comes back
 * through a pipe; if it dies on a signal or fails while the file system is (nearly) full,
 * the caller reports "TMP: No space left on device" or the crash, removes the temporary
 * file, and path is untouched. The child dies with its parent (PR_SET_PDEATHSIG); a
 * temporary file left by a kill is removed by the next run (journal_open). */
#include "ncdisk.h"

#include <errno.h>
#include <fcntl.h>
#include <netcdf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safefile.h"
#include "util.h"

/* The temporary name while a child writes it (reachable from here in the child, which
 * leaves with _exit: no leak report under valgrind). */
static char *writing;

/* The child: creates tmp, fills it, syncs it; its message (if any) to fd. Never returns. */
static void child(const char *tmp, int (*fill)(int, void *), void *ctx, int fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int nc = -1, rc = nc_create(tmp, NC_NETCDF4 | NC_NOCLOBBER, &nc);
    if (rc != NC_NOERR) {
        cls_seterr("cannot create %s: NetCDF: %s", tmp, nc_strerror(rc));
    } else if (fill(nc, ctx) == 0) {
        rc = nc_close(nc);
        if (rc != NC_NOERR) {
            cls_seterr("cannot write %s: NetCDF: %s", tmp, nc_strerror(rc));
        } else {
            int f = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (f >= 0 && fsync(f) == 0) _exit(0);
            cls_seterr("cannot write %s: %s", tmp, strerror(errno));
        }
    }
    const char *msg = cls_geterr();
    if (sf_write_all(fd, msg, strlen(msg))) _exit(3);
    _exit(1);
}

/* Whether the file system of dir has (nearly) no room left. */
static int fs_full(const char *dir) {
    struct statvfs v;
    return statvfs(dir, &v) == 0 && (unsigned long long)v.f_bavail * v.f_frsize < (1ull << 20);
}

int ncd_write(const char *path, int (*fill)(int nc, void *ctx), void *ctx,
              int (*is_ours)(const char *path), const char *what) {
    int status = -1, pfd[2] = {-1, -1};
    char *dir = sf_dir_of(path), *tmp = NULL, msg[1024] = "";
    if (sf_mkdir_p(dir)) {
        cls_adderr("cannot write %s", path);
        goto done;
    }
    if (sf_replaceable(path, is_ours, what)) goto done;
    size_t tl = strlen(path) + 16;
    tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* an unpredictable free name; HDF5 recreates it O_EXCL */
    if (fd < 0) {
        cls_seterr("cannot create a temporary file next to %s: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    close(fd);
    unlink(tmp);
    if (pipe2(pfd, O_CLOEXEC)) {
        cls_seterr("cannot write %s: pipe: %s", path, strerror(errno));
        goto done;
    }
    fflush(NULL);
    writing = tmp;
    pid_t pid = fork();
    if (pid < 0) {
        writing = NULL;
        cls_seterr("cannot write %s: fork: %s", path, strerror(errno));
        goto done;
    }
    if (pid == 0) {
        close(pfd[0]);
        child(writing, fill, ctx, pfd[1]);
    }
    writing = NULL;
    close(pfd[1]);
    pfd[1] = -1;
    size_t got = 0;
    for (;;) {
        ssize_t k = read(pfd[0], msg + got, sizeof msg - 1 - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
        if (got == sizeof msg - 1) break;
    }
    msg[got] = 0;
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        if (fs_full(dir))
            cls_seterr("cannot write %s: %s", tmp, strerror(ENOSPC));
        else if (msg[0])
            cls_seterr("%s", msg);
        else if (WIFSIGNALED(ws))
            cls_seterr("cannot write %s: the writing process died (signal %d, %s)", tmp,
                       WTERMSIG(ws), strsignal(WTERMSIG(ws)));
        else
            cls_seterr("cannot write %s: the writing process failed (exit %d)", tmp, WEXITSTATUS(ws));
        goto done;
    }
    /* Checked again just before the rename: the file may have appeared meanwhile. */
    if (sf_replaceable(path, is_ours, what)) goto done;
    struct stat st;
    if (lstat(tmp, &st) != 0 || !S_ISREG(st.st_mode)) {
        cls_seterr("cannot write %s: the temporary file %s is gone or not a regular file", path, tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        cls_seterr("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
    if (sf_fsync_dir(dir)) goto done;
    status = 0;
done:
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
    if (tmp) {
        struct stat lt;
        if (lstat(tmp, &lt) == 0 && S_ISREG(lt.st_mode)) unlink(tmp);
        free(tmp);
    }
    free(dir);
    return status;
}
