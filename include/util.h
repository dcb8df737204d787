/* util.h — error reporting, checked allocation, timing, hashing: shared by every module.
 *
 * Error convention: library functions return 0 (or a non-NULL pointer) on success and
 * -1 (or NULL) on failure after calling cls_seterr() with a human-readable message.
 * Only main() decides to print and exit. Each rank is single-threaded, so the last-error
 * buffer is a plain static. */
#ifndef CLS_UTIL_H
#define CLS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define CLS_VERSION "0.1.0"

/* Records an error message (printf format). Later calls overwrite earlier ones. */
void cls_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepends context to the current error: "ctx: previous message". */
void cls_adderr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error message ("" when none). The buffer is owned by the library. */
const char *cls_geterr(void);

/* malloc/calloc/realloc that abort with a message on out-of-memory (a run cannot recover
 * from it; the sweep isolates runs at a higher level). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Makes out-of-memory in x*alloc exit the process with code (instead of abort), so that a
 * forked run process can report "memory limit exceeded". 0 restores abort. */
void cls_set_oom_exit(int code);

/* Monotonic wall clock in seconds. */
double cls_now(void);
/* CPU time of this process in seconds (user + system). */
double cls_cputime(void);
/* CPU time of this process plus its terminated, waited-for children (forked run processes). */
double cls_cputime_total(void);

/* 64-bit FNV-1a over bytes, continuing from h (start with CLS_FNV_INIT). */
#define CLS_FNV_INIT 0xcbf29ce484222325ULL
uint64_t cls_fnv1a(uint64_t h, const void *data, size_t n);

/* write(2) of all n bytes, retrying on EINTR and short writes. 0, or -1 (errno set). */
int cls_write_all(int fd, const void *buf, size_t n);
/* mkdir -p of every directory above path (its last component is not created; "a/b/f.nc"
 * creates a and a/b). 0, or -1 with cls_seterr naming the directory. */
int cls_mkdir_parents(const char *path);
/* mkdir -p dir itself and its parents (trailing slashes ignored); -1 with cls_seterr also
 * when dir ends up not being a directory. */
int cls_mkdir_p(const char *dir);
/* Sleeps *backoff seconds, then doubles it up to max: the idle wait of polling loops. */
void cls_sleep_backoff(double *backoff, double max);

/* snprintf into a growing heap string: appends to *buf (len *len, capacity *cap). */
void cls_strappend(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
