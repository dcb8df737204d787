/* stop.c — the stop state of the process (see stop.h): the stop-signal handler, the grace
 * period and the launcher check. Core layer: called by run execution, the scheduler and the
 * analysis loops; uses only util. */
#include "stop.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

volatile sig_atomic_t cls_stop_signal = 0;
static double seen_at = -1;                    /* cls_now() when the stop was noticed */
static double grace = 60;
static pid_t launcher = 0;                     /* parent pid when started by a launcher */
static volatile sig_atomic_t hard_armed = 0;   /* stop_hard_deadline */
static volatile sig_atomic_t hard_code = 3;
static volatile sig_atomic_t hard_seconds = 70;

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "clsweep: a run executing in this process (isolate: false) did not "
                              "stop within the grace period; exiting (every finished run is in "
                              "the journal: run the same command again to resume)\n";
    ssize_t k = write(2, msg, sizeof msg - 1);
    (void)k;
    _exit(hard_code);
}

static void on_stop(int sig) {
    cls_stop_signal = sig;
    if (hard_armed) alarm((unsigned)hard_seconds);
}

void stop_install_signals(void) {
    static int launcher_recorded;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGUSR1, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    /* Open MPI's mpirun/orted set OMPI_COMM_WORLD_SIZE (and PMIX_RANK); srun sets
     * SLURM_STEP_ID and PMIX_RANK or PMI_RANK. A singleton run has none of them. */
    if (!launcher_recorded && (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") ||
                               getenv("PMI_RANK") || getenv("SLURM_STEP_ID")))
        launcher = getppid();
    launcher_recorded = 1;
}

void stop_note(void) {
    if (cls_stop_signal && seen_at < 0) seen_at = cls_now();
}

double stop_elapsed(void) {
    stop_note();
    return seen_at < 0 ? -1 : cls_now() - seen_at;
}

void stop_set_grace(double seconds) {
    grace = seconds;
    double s = seconds + 10.0;
    hard_seconds = s < 1 ? 1 : s > 1e6 ? 1000000 : (sig_atomic_t)s;
}

double stop_grace(void) { return grace; }

void stop_child_init(void) {
    if (launcher) launcher = getppid();
}

int stop_launcher_gone(void) { return launcher > 1 && getppid() != launcher; }

int stop_should_abandon(void) {
    if (stop_launcher_gone()) return 1;
    double e = stop_elapsed();
    return e >= 0 && e > grace;
}

void stop_hard_deadline(int on, int exit_code) {
    hard_code = exit_code;
    if (on) {
        hard_armed = 1;
        if (cls_stop_signal) {   /* the signal came before arming: the clock runs from now */
            double left = grace - stop_elapsed() + 10.0;
            alarm(left < 1 ? 1u : (unsigned)left);
        }
    } else {
        hard_armed = 0;
        alarm(0);
    }
}
