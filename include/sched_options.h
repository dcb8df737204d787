/* sched_options.h — the options of `clsweep run` as the scheduler takes them (sweep layer):
 * filled by the CLI, read by scheduler.c and the master's setup (sched_master.c). */
#ifndef CLS_SCHED_OPTIONS_H
#define CLS_SCHED_OPTIONS_H

typedef struct {
    const char *sweep_path;
    const char *output;     /* override of the sweep's output path, or NULL */
    int quiet;              /* no progress lines */
    double grace_seconds;   /* < 0: take the sweep's options.grace_seconds */
    int shard_index, shard_count;   /* job-array sharding (count 0 = no sharding) */
} sched_options;

#endif
