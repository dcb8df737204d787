/* ncbg.h — a rewrite of the sweep file in the background (issue 23: the master keeps
 * dispatching while the .nc of a large sweep is written). Sweep layer: called by the
 * scheduler's master (sched_master.c) only. */
#ifndef CLS_NCBG_H
#define CLS_NCBG_H

typedef struct ncbg ncbg;

/* Runs work(ctx) in a forked child, which sees the caller's memory as it is now
 * (copy-on-write) and leaves with _exit (no stdio flush, no MPI, no atexit). The child dies
 * with the caller. NULL with cls_seterr when it cannot be started. */
ncbg *ncbg_start(int (*work)(void *ctx), void *ctx);
/* Whether it has ended: 1 = still running (only when wait is 0); 0 = work returned 0;
 * -1 = it failed (cls_seterr: its message, or how the child died). bg is freed unless 1. */
int ncbg_poll(ncbg *bg, int wait);
/* Ends it now (SIGKILL) and waits for the child; bg is freed. What it wrote is the caller's
 * to clean up (a temporary file: journal_remove_temps). */
void ncbg_cancel(ncbg *bg);
/* When it was started (cls_now). */
double ncbg_started(const ncbg *bg);

#endif
