/* ncdisk.h — writing a large NetCDF sweep file to disk without building it in memory
 * (issue 23: master RSS at a million runs). Sweep layer: called by ncfile.c only. */
#ifndef CLS_NCDISK_H
#define CLS_NCDISK_H

/* Replaces path with the file fill(nc, ctx) writes into a NetCDF-4 file created at a new
 * temporary name "<path>.tmp.XXXXXX" (unpredictable; created by HDF5 with O_EXCL, so no
 * link is followed), with the same guarantees as sf_replace (safefile.h): the temporary
 * file is fsync'd and renamed over path only when path is absent or a regular file for
 * which is_ours is 1; the directory is fsync'd; on failure path is untouched and no
 * temporary file is left. fill runs in a forked child (which reads the caller's data
 * copy-on-write): an HDF5 failure on a full disk, which can leave the library's state
 * broken (docs/reliability.md), ends the child, not the caller. 0, or -1 with cls_seterr
 * (the child's message, "…: No space left on device" when the file system is full). */
int ncd_write(const char *path, int (*fill)(int nc, void *ctx), void *ctx,
              int (*is_ours)(const char *path), const char *what);

#endif
