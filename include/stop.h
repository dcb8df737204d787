/* stop.h — the process's stop state (core layer): which stop signal arrived, when it was
 * first noticed, the grace period of the run in progress, and whether the process that
 * launched this rank is still there. Called by the run layer (between stages, in the
 * isolation wait), the scheduler and the analysis group's idle loops; calls nothing above
 * core.
 *
 * Stop signals: SIGTERM, SIGINT, SIGHUP (a closed terminal, some launchers) and SIGUSR1
 * (SLURM's --signal warning) all mean "stop handing out runs; let the runs in flight
 * finish within the grace period". The handler only records the signal (and, while a run
 * executes in this process without a run process of its own, arms a hard deadline: see
 * stop_hard_deadline). */
#ifndef CLS_STOP_H
#define CLS_STOP_H

#include <signal.h>

/* Exit codes of clsweep run (every layer that ends the process uses these). */
enum {
    CLS_EXIT_OK = 0,          /* every run of the sweep has a final status in the file */
    CLS_EXIT_ERROR = 2,       /* bad sweep file, unwritable output, ... */
    CLS_EXIT_INCOMPLETE = 3,  /* stopped (signal, launcher gone): valid partial file, resumable */
};

/* The last stop signal received by this process, 0 when none. */
extern volatile sig_atomic_t cls_stop_signal;

/* Installs the stop handlers; call it before MPI_Init (a signal may come while the job
 * starts) and again after it (MPI may install handlers of its own). The first call also
 * records the parent process when this process was started by an MPI launcher
 * (mpirun/orted, srun/PMIx), for stop_launcher_gone. */
void stop_install_signals(void);
/* Records the time the stop was first noticed (a no-op without a stop); call it from
 * polling loops so that the grace period counts from the signal, not from the next stage. */
void stop_note(void);
/* Seconds since the stop was first noticed, or -1 when no stop was requested. */
double stop_elapsed(void);
/* The grace period of the run in progress (seconds; default 60). */
void stop_set_grace(double seconds);
double stop_grace(void);
/* 1 when a run should give up now: a stop was requested and the grace period is over, or
 * the launcher is gone. Called between training stages by run_execute. */
int stop_should_abandon(void);

/* 1 when this process was started by an MPI launcher (mpirun's daemon, slurmstepd) and
 * that parent is gone: the process was re-parented, so the job was killed around it (kill
 * -9 of mpirun, a lost node) and nobody will collect its results. Always 0 for a process
 * not started by a launcher (a plain `clsweep run` may outlive its shell under nohup). */
int stop_launcher_gone(void);

/* In a forked run process: the launcher to watch becomes the rank that forked it (when the
 * rank itself was started by a launcher). */
void stop_child_init(void);

/* While armed (on != 0), a stop signal also arms alarm(grace + 10 s) whose handler writes
 * a line to stderr and _exit(exit_code)s: the deadline of a run executed in this process
 * (options.isolate: false), which cannot be killed on its own. Disarming cancels a pending
 * alarm. */
void stop_hard_deadline(int on, int exit_code);

#endif
