/* ncbg.c — a rewrite of the sweep file in a forked child (ncbg.h; issue 23). Sweep layer:
 * called by sched_master.c only.
 *
 * The child writes from a copy-on-write view of the master's memory, so what it writes is
 * the results as they were at the fork, whatever the master records meanwhile; the master
 * hands out and journals runs while it runs, and compacts the journal only after it has
 * ended well (sched_master.c). The child's error message comes back through a pipe. */
#include "ncbg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safefile.h"
#include "util.h"

struct ncbg {
    pid_t pid;
    int fd;        /* read end of the child's message pipe */
    double t0;
};

ncbg *ncbg_start(int (*work)(void *ctx), void *ctx) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC)) {
        cls_seterr("cannot start the background .nc write: pipe: %s", strerror(errno));
        return NULL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cls_seterr("cannot start the background .nc write: fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return NULL;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(pfd[0]);
        if (work(ctx) == 0) _exit(0);
        const char *msg = cls_geterr();
        if (sf_write_all(pfd[1], msg, strlen(msg))) _exit(3);
        _exit(1);
    }
    close(pfd[1]);
    ncbg *bg = xcalloc(1, sizeof *bg);
    bg->pid = pid;
    bg->fd = pfd[0];
    bg->t0 = cls_now();
    return bg;
}

int ncbg_poll(ncbg *bg, int wait) {
    int ws = 0;
    pid_t r;
    while ((r = waitpid(bg->pid, &ws, wait ? 0 : WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == 0) return 1;
    /* The child has ended: its message (if any) is in the pipe, whole (< PIPE_BUF). */
    char msg[1024];
    size_t got = 0;
    for (;;) {
        ssize_t k = read(bg->fd, msg + got, sizeof msg - 1 - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
        if (got == sizeof msg - 1) break;
    }
    msg[got] = 0;
    close(bg->fd);
    int status = 0;
    if (r < 0) {
        cls_seterr("background .nc write: waitpid: %s", strerror(errno));
        status = -1;
    } else if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        if (msg[0])
            cls_seterr("%s", msg);
        else if (WIFSIGNALED(ws))
            cls_seterr("the background .nc write died (signal %d, %s)", WTERMSIG(ws),
                       strsignal(WTERMSIG(ws)));
        else
            cls_seterr("the background .nc write failed (exit %d)", WEXITSTATUS(ws));
        status = -1;
    }
    free(bg);
    return status;
}

void ncbg_cancel(ncbg *bg) {
    if (!bg) return;
    kill(bg->pid, SIGKILL);
    while (waitpid(bg->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(bg->fd);
    free(bg);
}

double ncbg_started(const ncbg *bg) { return bg->t0; }
