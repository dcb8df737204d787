/* util.c — error buffer, checked allocation, clocks, hashing, string building, and the
 * low-level file plumbing written once (write_all, mkdir -p, back-off sleep). Core layer:
 * callable from every module; calls nothing of the project's but itself. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char err_buf[2048];

void cls_seterr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
}

void cls_adderr(const char *fmt, ...) {
    char prefix[1024], old[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    size_t np = strlen(prefix), no = strlen(old);
    if (np > sizeof err_buf - 3) np = sizeof err_buf - 3;
    if (np + 2 + no > sizeof err_buf - 1) no = sizeof err_buf - 1 - np - 2;
    memcpy(err_buf, prefix, np);
    memcpy(err_buf + np, ": ", 2);
    memcpy(err_buf + np + 2, old, no);
    err_buf[np + 2 + no] = 0;
}

const char *cls_geterr(void) { return err_buf; }

static int oom_exit_code;

void cls_set_oom_exit(int code) { oom_exit_code = code; }

static void oom(size_t n) {
    fprintf(stderr, "clsweep: out of memory allocating %zu bytes\n", n);
    if (oom_exit_code) _exit(oom_exit_code);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

double cls_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rusage_seconds(int who) {
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

double cls_cputime(void) { return rusage_seconds(RUSAGE_SELF); }

double cls_cputime_total(void) { return rusage_seconds(RUSAGE_SELF) + rusage_seconds(RUSAGE_CHILDREN); }

uint64_t cls_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void cls_strappend(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t avail = *cap - *len;
        va_start(ap, fmt);
        int k = vsnprintf(*buf ? *buf + *len : NULL, *buf ? avail : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (*buf && (size_t)k < avail) {
            *len += (size_t)k;
            return;
        }
        size_t ncap = (*cap ? *cap * 2 : 256);
        while (ncap < *len + (size_t)k + 1) ncap *= 2;
        *buf = xrealloc(*buf, ncap);
        *cap = ncap;
    }
}

int cls_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* mkdir of every prefix of p ending before a '/' (and of p itself when whole). */
static int mkdir_prefixes(const char *path, int whole) {
    char *p = xstrdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/') continue;
        if (i == n && !whole) break;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) && errno != EEXIST) {
            cls_seterr("cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        p[i] = c;
    }
    free(p);
    return 0;
}

int cls_mkdir_parents(const char *path) { return mkdir_prefixes(path, 0); }

int cls_mkdir_p(const char *dir) {
    char *p = xstrdup(dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    int rc = n ? mkdir_prefixes(p, 1) : 0;
    struct stat st;
    if (rc == 0 && n && (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
        cls_seterr("%s is not a directory", p);
        rc = -1;
    }
    free(p);
    return rc;
}

void cls_sleep_backoff(double *backoff, double max) {
    struct timespec ts;
    ts.tv_sec = (time_t)*backoff;
    ts.tv_nsec = (long)((*backoff - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    *backoff *= 2;
    if (*backoff > max) *backoff = max;
}
