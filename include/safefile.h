/* safefile.h — file-system helpers of the result files (journal, NetCDF sweep file, merge
 * output): creating directories, reading a whole file, and replacing a file atomically
 * without following symbolic links and without replacing a file that is not clsweep's.
 * Called only by the sweep-output modules (src/sweep/journal.c, ncfile.c, ncdisk.c, merge.c). */
#ifndef CLS_SAFEFILE_H
#define CLS_SAFEFILE_H

#include <stddef.h>

/* The directory part of path ("." when none); caller frees. */
char *sf_dir_of(const char *path);
/* mkdir -p dir. 0 or -1 with cls_seterr. */
int sf_mkdir_p(const char *dir);
/* fsyncs a directory (file systems that cannot are let through). 0 or -1 with cls_seterr. */
int sf_fsync_dir(const char *dir);
/* write(2) all n bytes, retrying on EINTR. 0, or -1 with errno set. */
int sf_write_all(int fd, const void *buf, size_t n);
/* Reads the whole regular file open at fd (path for messages) into a new buffer (one byte
 * more than *len is allocated). 0, or -1 with cls_seterr. */
int sf_read_whole(int fd, const char *path, unsigned char **data, size_t *len);

/* Replaces (or creates) path with exactly n bytes of data, atomically: the bytes go to a new
 * temporary file "<path>.tmp.XXXXXX" (an unpredictable name, created with O_EXCL, so no link
 * is followed) in path's directory (created if missing), which is fsync'd, renamed over
 * path, and the directory fsync'd. Refuses, leaving everything as it was, when path is a
 * symbolic link or not a regular file, or when is_ours is non-NULL and is_ours(path) is 0
 * (an existing file that is not the caller's kind); what = what kind the caller writes
 * ("clsweep results file"), for the message. 0, or -1 with cls_seterr; no temporary file
 * is left behind on failure. */
/* Whether an existing path may be replaced as sf_replace would (absent, or a regular file
 * that is_ours accepts; never a link). 0, or -1 with cls_seterr. */
int sf_replaceable(const char *path, int (*is_ours)(const char *path), const char *what);
int sf_replace(const char *path, const void *data, size_t n, int (*is_ours)(const char *path),
               const char *what);

#endif
