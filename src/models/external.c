/* external.c — a model that is an external program declared under `programs:` in a sweep
 * (docs/extending.md). Models layer: its model_ops are registered by the sweep parser
 * (model_register_program, registry.c) and found for a run by model_find_run; it calls the
 * data layer (bench, npy) and util only.
 *
 * The program runs once per run, inside the run's (isolated) process, so the run's time and
 * memory limits cover it (RLIMIT_AS is inherited; PR_SET_PDEATHSIG kills it with the run).
 * init() writes the run's task stream once per benchmark configuration and seed into a
 * cache directory (stream.json + per-task .npy), writes the resolved run configuration as
 * JSON, starts the program (argv, no shell) and waits for it; the program writes its
 * report to the file named by $CLSWEEP_REPORT (its prints go to a log, so they cannot
 * corrupt it). train_block(s)/eval_task then replay the reported R rows, so clsweep
 * computes ACC/BWT/FWT/forgetting exactly as for a built-in model, and a missing or bad
 * row fails the run at the stage it belongs to. Under stage reports (prune:, the
 * environment variable CLSWEEP_STAGE_REPORTS=1 set by run.c) the program is followed
 * instead: init returns once the first R row is there, train_block(s) waits for row s, and
 * a run stopped at a rung frees the model, which stops the program (SIGTERM, SIGKILL 1 s
 * later): a pruned run's remaining stages are not computed. Report lines (text, one per
 * line):
 *   R <stage> <m_0> ... <m_{T-1}>   metric of every task after stage (stage -1: before training)
 *   X <name> <value>                 a scalar extra (stored as ext_<name>)
 *   L <stage> <step> <loss>          a per-step loss (its mean per stage: extra ext_loss)
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "files.h"
#include "model.h"
#include "npy.h"
#include "stop.h"
#include "util.h"

struct model {
    int ntasks, nstages;
    double *R;          /* (nstages + 1, ntasks): row 0 = before training */
    int *have;          /* (nstages + 1) */
    int cur;            /* row eval_task reads (stage + 1) */
    char why[512];      /* why the rows stop (exit status, malformed line) */
    int nextras;
    char (*xname)[64];
    double *xval;
    double *loss_sum;   /* (nstages) sum and count of the L lines of each stage */
    long *loss_n;
    /* the program: waited for in init, or (under prune:, CLSWEEP_STAGE_REPORTS set by
     * run.c) followed while it runs, so a pruned run stops it at the stage boundary */
    int live;           /* rows are read as the program writes them */
    int done;           /* the program has ended and its whole report is read */
    pid_t pid;
    int killed;         /* 1: the run's deadline, 2: a stop request */
    double deadline;    /* CLSWEEP_RUN_DEADLINE (monotonic seconds), 0 none */
    int lock_fd;        /* the stream cache's lock while the program reads it */
    char dir[2048], cpath[4200], rpath[4200], lpath[4200];
};

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* The identity of the stream: every benchmark.* key and the seed, and for the files
 * benchmark the content hash of its data files (benchmark.data_hash as the expander set it,
 * or computed here when the run has none, e.g. `clsweep single`), so new data in the same
 * paths never reuses an old stream. -1 with cls_seterr when the data cannot be hashed. */
static int stream_hash(const run_config *cfg, uint64_t *out) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < cfg->n; i++)
        if (!strncmp(cfg->e[i].key, "benchmark.", 10) || !strcmp(cfg->e[i].key, "seed")) {
            h = fnv(h, cfg->e[i].key, strlen(cfg->e[i].key) + 1);
            h = fnv(h, cfg->e[i].val, strlen(cfg->e[i].val) + 1);
        }
    const char *bn = cfg_get(cfg, "benchmark.name"), *dh = cfg_get(cfg, "benchmark.data_hash");
    if (bn && !strcmp(bn, "files") && (!dh || !*dh)) {
        uint64_t fh;
        if (files_data_hash(cfg, &fh)) return -1;
        h = fnv(h, &fh, sizeof fh);
    }
    *out = h;
    return 0;
}

static int write_arr(const char *dir, const char *name, npy_dtype dt, int isz, int nd,
                     const long *dims, void *data) {
    npy_array a;
    memset(&a, 0, sizeof a);
    a.dtype = dt;
    a.itemsize = isz;
    a.ndims = nd;
    a.count = 1;
    for (int i = 0; i < nd; i++) a.count *= (a.dims[i] = dims[i]);
    a.data = data;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return npy_write(&a, path);
}

static int64_t *labels64(const int *y, int n) {
    int64_t *o = xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) o[i] = y[i];
    return o;
}

/* Writes task t's arrays into dir and its manifest entry into tasks. */
static int write_task(const bench_t *b, int t, const char *dir, json_t *tasks) {
    const task_t *k = &b->tasks[t];
    json_t *jt = json_object();
    json_array_append_new(tasks, jt);
    json_object_set_new(jt, "name", json_string(k->name));
    int img = b->img_c > 0;
    for (int split = 0; split < 2; split++) {
        int n = split ? k->n_test : k->n_train;
        const char *sn = split ? "test" : "train";
        long dims[4] = {n, img ? b->img_c : b->in_dim, b->img_h, b->img_w};
        char name[96];
        snprintf(name, sizeof name, "task%d_%s_x.npy", t, sn);
        if (write_arr(dir, name, NPY_F32, 4, img ? 4 : 2, dims,
                      split ? k->x_test : k->x_train)) return -1;
        char key[32];
        snprintf(key, sizeof key, "%s_x", sn);
        json_object_set_new(jt, key, json_string(name));
        json_object_set_new(jt, split ? "n_test" : "n_train", json_integer(n));
        const int *y = split ? k->y_test : k->y_train;
        const float *tg = split ? k->t_test : k->t_train;
        snprintf(key, sizeof key, "%s_y", sn);
        snprintf(name, sizeof name, "task%d_%s_y.npy", t, sn);
        if (y) {
            int64_t *y64 = labels64(y, n);
            int rc = write_arr(dir, name, NPY_I64, 8, 1, dims, y64);
            free(y64);
            if (rc) return -1;
            json_object_set_new(jt, key, json_string(name));
        } else if (tg) {
            long td[2] = {n, b->out_dim};
            if (write_arr(dir, name, NPY_F32, 4, 2, td, (void *)tg)) return -1;
            json_object_set_new(jt, key, json_string(name));
        }
    }
    json_t *cl = json_array();
    for (int i = 0; i < k->nclasses; i++) json_array_append_new(cl, json_integer(k->classes[i]));
    json_object_set_new(jt, "classes", cl);
    json_object_set_new(jt, "class_mask", k->class_mask ? json_true() : json_false());
    return 0;
}

/* The stream.json manifest of b (tasks filled by write_task). */
static json_t *manifest(const bench_t *b) {
    json_t *m = json_object();
    json_object_set_new(m, "format", json_integer(1));
    json_object_set_new(m, "benchmark", json_string(b->name));
    json_object_set_new(m, "kind", json_string(b->kind == BENCH_KIND_CLASSIFICATION ? "classification"
                                               : b->kind == BENCH_KIND_REGRESSION ? "regression"
                                               : "reconstruction"));
    json_object_set_new(m, "metric", json_string(b->metric));
    json_object_set_new(m, "higher_is_better", json_boolean(b->higher_is_better));
    json_object_set_new(m, "in_dim", json_integer(b->in_dim));
    json_object_set_new(m, "out_dim", json_integer(b->out_dim));
    json_t *shape = json_array();
    if (b->img_c > 0) {
        json_array_append_new(shape, json_integer(b->img_c));
        json_array_append_new(shape, json_integer(b->img_h));
        json_array_append_new(shape, json_integer(b->img_w));
    } else {
        json_array_append_new(shape, json_integer(b->in_dim));
    }
    json_object_set_new(m, "x_shape", shape);
    json_object_set_new(m, "labels", json_string("global class ids 0..out_dim-1 (int64); a "
                                                 "task-incremental task restricts the output "
                                                 "to its 'classes' when class_mask is true"));
    json_object_set_new(m, "ntasks", json_integer(b->ntasks));
    json_object_set_new(m, "block_size", json_integer(b->block_size));
    json_object_set_new(m, "seed", json_integer((json_int_t)b->seed));
    json_t *st = json_array();
    for (int s = 0; s < b->nstages; s++) json_array_append_new(st, json_integer(b->stage_task[s]));
    json_object_set_new(m, "stage_task", st);
    json_object_set_new(m, "tasks", json_array());
    return m;
}

static void rm_dir(const char *dir) {
    /* only files we wrote: task*.npy, stream.json */
    char p[4096];
    for (int t = 0; t < 10000; t++) {
        int gone = 0;
        const char *parts[] = {"train_x", "train_y", "test_x", "test_y"};
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s/task%d_%s.npy", dir, t, parts[i]);
            if (unlink(p) && errno == ENOENT) gone++;
        }
        if (gone == 4) break;
    }
    snprintf(p, sizeof p, "%s/stream.json", dir);
    unlink(p);
    rmdir(dir);
}

/* ---- the stream cache (docs/extending.md, "Stream cache") ----
 * $TMPDIR/clsweep-streams-<uid> (or $CLSWEEP_STREAM_CACHE): created 0700; an existing one
 * must be a real directory (not a symbolic link) of this user that nobody else can write.
 * Each stream directory is written under a temporary name and renamed into place; a run
 * holds a shared flock on its stream.json while its program runs (and touches its mtime);
 * after writing a new stream, entries are evicted least recently used first until the cache
 * holds at most $CLSWEEP_STREAM_CACHE_MB MiB (default 2048), skipping streams in use. */

static int secure_cache_dir(const char *cache) {
    if (mkdir(cache, 0700) && errno == ENOENT) {
        if (cls_mkdir_parents(cache)) return -1;
        (void)mkdir(cache, 0700);
    }
    struct stat st;
    const char *bad = NULL;
    if (lstat(cache, &st)) {
        cls_seterr("stream cache %s: cannot create: %s", cache, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) bad = "is a symbolic link";
    else if (!S_ISDIR(st.st_mode)) bad = "is not a directory";
    else if (st.st_uid != getuid()) bad = "is owned by another user";
    else if (st.st_mode & 022) bad = "is writable by group or others";
    if (bad) {
        cls_seterr("stream cache %s %s (uid %d, mode %04o): refused; expected a directory of "
                   "uid %d with mode 0700 (remove it, or set CLSWEEP_STREAM_CACHE)", cache, bad,
                   (int)st.st_uid, (unsigned)(st.st_mode & 07777), (int)getuid());
        return -1;
    }
    return 0;
}

/* Opens man with a shared lock (the stream is in use) and marks it used now: the fd, or -1
 * when it is gone (evicted meanwhile). */
static int lock_stream(const char *man) {
    int fd = open(man, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    while (flock(fd, LOCK_SH) && errno == EINTR) {}
    if (fstat(fd, &st) || st.st_nlink == 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    (void)futimens(fd, NULL);
    return fd;
}

/* Bytes of the regular files directly in dir. */
static long long dir_bytes(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    long long n = 0;
    struct dirent *e;
    char p[4600];
    struct stat st;
    while ((e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!lstat(p, &st) && S_ISREG(st.st_mode)) n += (long long)st.st_size;
    }
    closedir(d);
    return n;
}

typedef struct { char name[64]; double used; long long bytes; } cache_entry;

static int by_use(const void *a, const void *b) {
    const cache_entry *x = a, *y = b;
    return (x->used > y->used) - (x->used < y->used);
}

/* Removes stream directory cache/name unless a run holds it: locked exclusively, renamed
 * away (new runs write a fresh one), its files unlinked (a run that opened stream.json
 * before sees nlink 0 and starts again). 1 when removed. */
static int evict_one(const char *cache, const char *name) {
    char dir[4200], man[4300], gone[4200];
    snprintf(dir, sizeof dir, "%s/%s", cache, name);
    snprintf(man, sizeof man, "%s/stream.json", dir);
    int fd = open(man, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        return 0;   /* in use */
    }
    snprintf(gone, sizeof gone, "%s/.evict-%s-%d", cache, name, (int)getpid());
    int rc = rename(dir, gone) == 0;
    if (rc) rm_dir(gone);
    if (fd >= 0) close(fd);
    return rc;
}

/* LRU eviction down to the size cap; keep (just written) stays. Leftover temporaries of
 * writers that died more than an hour ago go too. */
static void evict_streams(const char *cache, const char *keep) {
    const char *mb = getenv("CLSWEEP_STREAM_CACHE_MB");
    double cap = (mb && *mb ? strtod(mb, NULL) : 2048.0) * 1048576.0;
    DIR *d = opendir(cache);
    if (!d) return;
    cache_entry *v = NULL;
    int n = 0;
    long long total = 0;
    struct dirent *e;
    double now = (double)time(NULL);
    while ((e = readdir(d))) {
        char p[4200], m[4300];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", cache, e->d_name);
        if (lstat(p, &st) || !S_ISDIR(st.st_mode)) continue;
        if ((!strncmp(e->d_name, ".tmp-stream-", 12) || !strncmp(e->d_name, ".evict-", 7)) &&
            now - (double)st.st_mtime > 3600) {
            rm_dir(p);
            continue;
        }
        if (strncmp(e->d_name, "stream-", 7) || strlen(e->d_name) >= 64) continue;
        snprintf(m, sizeof m, "%s/stream.json", p);
        double used = lstat(m, &st) ? 0 : (double)st.st_mtim.tv_sec + 1e-9 * st.st_mtim.tv_nsec;
        v = xrealloc(v, sizeof *v * (size_t)(n + 1));
        snprintf(v[n].name, sizeof v[n].name, "%s", e->d_name);
        v[n].used = used;
        total += v[n].bytes = dir_bytes(p);
        n++;
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, by_use);
    for (int i = 0; i < n && (double)total > cap; i++)
        if (strcmp(v[i].name, keep) && evict_one(cache, v[i].name)) total -= v[i].bytes;
    free(v);
}

/* The stream directory of b under cache (written once: temp dir, then rename), locked
 * shared in *lock_fd (close it when the program is done). Returns the manifest path (caller
 * frees) or NULL with cls_seterr. */
static char *ensure_stream(const run_config *cfg, const bench_t *b, const char *cache,
                           int *lock_fd) {
    if (strlen(cache) > 2000) {
        cls_seterr("stream cache path too long");
        return NULL;
    }
    uint64_t sh;
    if (secure_cache_dir(cache) || stream_hash(cfg, &sh)) return NULL;
    char final[4096], man[4200], tmp[4096], name[64];
    snprintf(name, sizeof name, "stream-%016llx", (unsigned long long)sh);
    snprintf(final, sizeof final, "%s/%s", cache, name);
    snprintf(man, sizeof man, "%s/stream.json", final);
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((*lock_fd = lock_stream(man)) >= 0) return xstrdup(man);
        snprintf(tmp, sizeof tmp, "%s/.tmp-stream-XXXXXX", cache);
        if (!mkdtemp(tmp)) {
            cls_seterr("%s: cannot create a temporary stream directory: %s", cache,
                       strerror(errno));
            return NULL;
        }
        json_t *m = manifest(b);
        json_t *tasks = json_object_get(m, "tasks");
        for (int t = 0; t < b->ntasks; t++)
            if (write_task(b, t, tmp, tasks)) {
                json_decref(m);
                rm_dir(tmp);
                return NULL;
            }
        char mp[4200];
        snprintf(mp, sizeof mp, "%s/stream.json", tmp);
        int rc = json_dump_file(m, mp, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(m);
        if (rc) {
            cls_seterr("%s: cannot write the stream manifest", mp);
            rm_dir(tmp);
            return NULL;
        }
        if (rename(tmp, final)) rm_dir(tmp);   /* another run made it first */
        if ((*lock_fd = lock_stream(man)) >= 0) {
            evict_streams(cache, name);
            return xstrdup(man);
        }
    }
    cls_seterr("%s: cannot create the stream directory (evicted while being created?)", final);
    return NULL;
}

/* The run configuration as JSON, typed by the registry. */
static int write_config(const run_config *cfg, const char *path) {
    json_t *o = json_object();
    const char *tt = cfg_get(cfg, "program.types");
    json_t *types = tt ? json_loads(tt, 0, NULL) : NULL;
    for (int i = 0; i < cfg->n; i++) {
        const char *k = cfg->e[i].key, *v = cfg->e[i].val;
        /* the program's own params by program.types (a worker rank has no registry entry
         * for them); the others by the registry */
        const char *pt = json_string_value(json_object_get(types, k));
        const param_spec *sp = pt ? NULL : param_find(k, NULL);
        int ty = pt ? (!strcmp(pt, "int") ? PARAM_INT : !strcmp(pt, "float") ? PARAM_FLOAT
                       : !strcmp(pt, "bool") ? PARAM_BOOL : PARAM_STR)
                    : sp ? (int)sp->type : PARAM_STR;
        json_t *jv = NULL;
        if (!strcmp(k, "program.command") || !strcmp(k, "program.types")) jv = json_loads(v, 0, NULL);
        else if (!strcmp(k, "seed") || ty == PARAM_INT) jv = json_integer(strtoll(v, NULL, 10));
        else if (ty == PARAM_FLOAT) jv = json_real(strtod(v, NULL));
        else if (ty == PARAM_BOOL) jv = json_boolean(!strcmp(v, "true"));
        else if (ty == PARAM_INTLIST) jv = json_loads(v, 0, NULL);
        json_object_set_new(o, k, jv ? jv : json_string(v));
    }
    json_decref(types);
    int rc = json_dump_file(o, path, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(o);
    if (rc) cls_seterr("%s: cannot write the run configuration", path);
    return rc ? -1 : 0;
}

/* Forgets what a report said (before it is read again). */
static void reset_report(model_t *m) {
    for (long i = 0; i < (long)(m->nstages + 1) * m->ntasks; i++) m->R[i] = NAN;
    memset(m->have, 0, sizeof(int) * (size_t)(m->nstages + 1));
    memset(m->loss_sum, 0, sizeof(double) * (size_t)m->nstages);
    memset(m->loss_n, 0, sizeof(long) * (size_t)m->nstages);
    m->nextras = 0;
    m->why[0] = 0;
}

/* Parses the report; rows past the first bad line are dropped and m->why says why. live:
 * the program is still writing, so a last line without its newline is not read yet. */
static void read_report(model_t *m, const char *path, int live) {
    reset_report(m);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!live) snprintf(m->why, sizeof m->why, "no report file (%s)", strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    int ln = 0, next = 0;   /* the stage of the next row (R -1 is optional, first) */
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        if (live && line[got - 1] != '\n') break;
        ln++;
        char *s = line, *end;
        size_t L = strlen(s);
        while (L && (s[L - 1] == '\n' || s[L - 1] == '\r')) s[--L] = 0;
        if (!L) continue;
        if (s[0] == 'R' && s[1] == ' ') {
            long st = strtol(s + 2, &end, 10);
            int first = next == 0 && !m->have[0];
            if (end == s + 2 || st >= m->nstages || !(st == next || (st == -1 && first))) {
                snprintf(m->why, sizeof m->why, "report line %d: expected 'R %d <%d metrics>' "
                         "(stages in order), got '%.60s'", ln, next, m->ntasks, s);
                break;
            }
            double *row = m->R + (st + 1) * m->ntasks;
            char *q = end;
            int k = 0, bad = 0;
            for (; k < m->ntasks; k++) {
                row[k] = strtod(q, &end);
                if (end == q) { bad = 1; break; }
                q = end;
            }
            while (*q == ' ' || *q == '\t') q++;
            if (bad || *q) {
                snprintf(m->why, sizeof m->why, "report line %d: stage %ld: expected %d task "
                         "metrics, got %s", ln, st, m->ntasks, bad ? "fewer" : "more");
                break;
            }
            m->have[st + 1] = 1;
            if (st >= 0) next = (int)st + 1;
        } else if (s[0] == 'X' && s[1] == ' ') {
            char name[64];
            double v;
            int used = 0;
            if (sscanf(s + 2, "%63[A-Za-z0-9_] %lf %n", name, &v, &used) < 2 || s[2 + used]) {
                snprintf(m->why, sizeof m->why, "report line %d: expected 'X name value'", ln);
                break;
            }
            m->xname = xrealloc(m->xname, sizeof *m->xname * (size_t)(m->nextras + 1));
            m->xval = xrealloc(m->xval, sizeof *m->xval * (size_t)(m->nextras + 1));
            snprintf(m->xname[m->nextras], 64, "%s", name);
            m->xval[m->nextras++] = v;
        } else if (s[0] == 'L' && s[1] == ' ') {
            long a, b2;
            double v;
            int used = 0;
            if (sscanf(s + 2, "%ld %ld %lf %n", &a, &b2, &v, &used) < 3 || s[2 + used] ||
                a < 0 || a >= m->nstages) {
                snprintf(m->why, sizeof m->why, "report line %d: expected 'L stage step loss' "
                         "with 0 <= stage < %d", ln, m->nstages);
                break;
            }
            m->loss_sum[a] += v;
            m->loss_n[a]++;
        } else {
            snprintf(m->why, sizeof m->why, "report line %d: malformed: '%.60s' (expected R, X "
                     "or L)", ln, s);
            break;
        }
    }
    free(line);
    fclose(f);
}

/* The last bytes of the program's log, for messages. */
static void log_tail(const char *path, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, sz > (long)n - 1 ? sz - (long)n + 1 : 0, SEEK_SET);
    size_t k = fread(out, 1, n - 1, f);
    out[k] = 0;
    for (size_t i = 0; i < k; i++)
        if (out[i] == '\n') out[i] = ' ';
    fclose(f);
}

/* Starts argv with the run's environment; returns its pid, or -1 with cls_seterr. */
static pid_t start_program(json_t *argv, const char *dir, const char *manifest_path,
                           const char *config_path, const char *report_path,
                           const char *log_path, const char *client_dir, const char *threads,
                           const char *pdir) {
    size_t n = json_array_size(argv);
    if (!n) {
        cls_seterr("program.command is empty");
        return -1;
    }
    char **av = xmalloc(sizeof(char *) * (n + 1));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(argv, i));
        av[i] = (char *)(s ? s : "");
    }
    av[n] = NULL;
    /* words naming files relative to the sweep file's directory (as the parser hashed them) */
    char **own = xcalloc(n + 1, sizeof *own);
    for (size_t i = 0; pdir && i < n; i++) {
        struct stat st;
        if (av[i][0] == '/' || !(i > 0 || strchr(av[i], '/'))) continue;
        size_t L = strlen(pdir) + strlen(av[i]) + 2;
        own[i] = xmalloc(L);
        snprintf(own[i], L, "%s/%s", pdir, av[i]);
        if (!stat(own[i], &st) && S_ISREG(st.st_mode)) av[i] = own[i];
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        for (size_t i = 0; i < n; i++) free(own[i]);
        free(own);
        free(av);
        cls_seterr("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        setenv("CLSWEEP_STREAM", manifest_path, 1);
        setenv("CLSWEEP_CONFIG", config_path, 1);
        setenv("CLSWEEP_REPORT", report_path, 1);
        setenv("CLSWEEP_RUN_DIR", dir, 1);
        setenv("OMP_NUM_THREADS", threads, 1);
        setenv("OPENBLAS_NUM_THREADS", threads, 1);
        setenv("MKL_NUM_THREADS", threads, 1);
        const char *slr = getenv("SLURM_LOCALID");
        if (slr && !getenv("CLSWEEP_KEEP_CUDA")) setenv("CUDA_VISIBLE_DEVICES", slr, 1);
        if (client_dir) {
            const char *pp = getenv("PYTHONPATH");
            char buf[8192];
            snprintf(buf, sizeof buf, "%s%s%s", client_dir, pp && *pp ? ":" : "", pp ? pp : "");
            setenv("PYTHONPATH", buf, 1);
        }
        execvp(av[0], av);
        fprintf(stderr, "clsweep: cannot execute '%s': %s\n", av[0], strerror(errno));
        _exit(127);
    }
    for (size_t i = 0; i < n; i++) free(own[i]);
    free(own);
    free(av);
    return pid;
}

/* The program has ended with wait status st (or could not start: st = -1): its whole report
 * is read, m->why says why rows are missing, and the run directory is removed. */
static void finish_program(model_t *m, int st) {
    m->done = 1;
    m->pid = 0;
    if (st == -1) {
        reset_report(m);
        snprintf(m->why, sizeof m->why, "%s", cls_geterr());
    } else {
        read_report(m, m->rpath, 0);
        int clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!clean && !strncmp(m->why, "no report file", 14)) m->why[0] = 0;
        if (m->killed && !m->why[0]) {
            snprintf(m->why, sizeof m->why, m->killed == 1 ? "the program ran into the run's "
                     "time limit and was killed" : "stop requested: the program was killed");
        } else if (!m->why[0] && !clean) {
            char tail[200];
            log_tail(m->lpath, tail, sizeof tail);
            if (WIFSIGNALED(st))
                snprintf(m->why, sizeof m->why, "the program was killed by signal %d; log: %s",
                         WTERMSIG(st), tail);
            else
                snprintf(m->why, sizeof m->why, "the program exited with status %d; log: %s",
                         WEXITSTATUS(st), tail);
        } else if (!m->why[0]) {
            snprintf(m->why, sizeof m->why, "the program exited 0 without reporting this stage");
        }
    }
    unlink(m->cpath);
    unlink(m->rpath);
    if (getenv("CLSWEEP_KEEP_LOGS")) fprintf(stderr, "clsweep: program log kept in %s\n", m->lpath);
    else {
        unlink(m->lpath);
        rmdir(m->dir);
    }
    if (m->lock_fd >= 0) close(m->lock_fd);
    m->lock_fd = -1;
}

/* One look at the running program: 1 when it has ended (finish_program done). A stop
 * request (the run is abandoned) or the run's deadline (kill the program shortly before it,
 * so that the rows reported so far are kept) ends it. */
static int poll_program(model_t *m) {
    int status;
    pid_t r = waitpid(m->pid, &status, WNOHANG);
    if (r == m->pid) {
        finish_program(m, status);
        return 1;
    }
    if (r < 0 && errno != EINTR) {
        cls_seterr("waitpid: %s", strerror(errno));
        finish_program(m, -1);
        return 1;
    }
    int late = m->deadline > 0 && cls_now() > m->deadline - 1.0;
    if (late || stop_should_abandon()) {
        kill(m->pid, SIGKILL);
        while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR) {}
        m->killed = late ? 1 : 2;
        finish_program(m, status);
        return 1;
    }
    return 0;
}

/* Live: reads the report as the program writes it until row (stage + 1 index) is there
 * (row -1: any R row; row > nstages: none, to the program's end), or the program has
 * ended. */
static void follow_program(model_t *m, int row) {
    while (!m->done) {
        if (poll_program(m)) return;
        read_report(m, m->rpath, 1);
        if (row < 0 ? m->have[0] || (m->nstages > 0 && m->have[1])
                    : row <= m->nstages && m->have[row])
            return;
        usleep(20000);
    }
}

/* A pruned (or failed) live run: the program is stopped at the boundary — SIGTERM, then
 * SIGKILL after 1 s — and its files removed (docs/extending.md). */
static void stop_program(model_t *m) {
    if (!m->live || m->done || m->pid <= 0) return;
    int status;
    kill(m->pid, SIGTERM);
    double t0 = cls_now();
    while (waitpid(m->pid, &status, WNOHANG) == 0) {
        if (cls_now() - t0 > 1.0) {
            kill(m->pid, SIGKILL);
            while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR) {}
            break;
        }
        usleep(10000);
    }
    m->killed = 2;
    finish_program(m, status);
}

/* The directory of the Python client: $CLSWEEP_CLIENT_DIR, else <exe dir>/../clients/python. */
static char *client_dir(void) {
    const char *e = getenv("CLSWEEP_CLIENT_DIR");
    if (e) return xstrdup(e);
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 64);
    if (k <= 0) return NULL;
    exe[k] = 0;
    char *sl = strrchr(exe, '/');
    if (!sl) return NULL;
    *sl = 0;
    char out[4200];
    snprintf(out, sizeof out, "%s/../clients/python", exe);
    struct stat st;
    if (stat(out, &st)) {   /* tests live one level deeper (build/tests) */
        snprintf(out, sizeof out, "%s/../../clients/python", exe);
        if (stat(out, &st)) return NULL;
    }
    return xstrdup(out);
}

/* Removes the run directories ("clsweep-run-<pid>-*" in tmp) of run processes that are gone
 * (killed for a time or memory limit before they could clean up). Only the files this
 * module writes are removed. */
static void collect_stale_runs(const char *tmp) {
    DIR *d = opendir(tmp);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = 0;
        if (sscanf(e->d_name, "clsweep-run-%d-", &pid) != 1 || pid <= 0) continue;
        if (kill(pid, 0) == 0 || errno != ESRCH) continue;
        char p[4096];
        const char *files[] = {"config.json", "report.txt", "program.log"};
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/%s/%s", tmp, e->d_name, files[i]);
            unlink(p);
        }
        snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
        rmdir(p);
    }
    closedir(d);
}

static model_t *ext_init(const run_config *cfg, const bench_t *b, uint64_t seed) {
    (void)seed;
    const char *cmd = cfg_get(cfg, "program.command");
    json_t *argv = cmd ? json_loads(cmd, 0, NULL) : NULL;
    if (!json_is_array(argv)) {
        json_decref(argv);
        cls_seterr("program.command is not a JSON list of strings");
        return NULL;
    }
    const char *tmpd = getenv("TMPDIR");
    char cache[2048], run[2048];
    const char *cenv = getenv("CLSWEEP_STREAM_CACHE");
    if (cenv) snprintf(cache, sizeof cache, "%s", cenv);
    else snprintf(cache, sizeof cache, "%s/clsweep-streams-%d", tmpd ? tmpd : "/tmp", (int)getuid());
    int lock_fd = -1;
    char *man = ensure_stream(cfg, b, cache, &lock_fd);
    if (!man) {
        json_decref(argv);
        return NULL;
    }
    collect_stale_runs(tmpd ? tmpd : "/tmp");
    snprintf(run, sizeof run, "%s/clsweep-run-%d-XXXXXX", tmpd ? tmpd : "/tmp", (int)getpid());
    if (!mkdtemp(run)) {
        cls_seterr("cannot create a run directory in %s: %s", tmpd ? tmpd : "/tmp", strerror(errno));
        if (lock_fd >= 0) close(lock_fd);
        free(man);
        json_decref(argv);
        return NULL;
    }
    char thr[32];
    const char *t = getenv("OMP_NUM_THREADS");
    snprintf(thr, sizeof thr, "%s", t && *t ? t : "1");
    model_t *m = xcalloc(1, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", run);
    snprintf(m->cpath, sizeof m->cpath, "%s/config.json", run);
    snprintf(m->rpath, sizeof m->rpath, "%s/report.txt", run);
    snprintf(m->lpath, sizeof m->lpath, "%s/program.log", run);
    m->lock_fd = lock_fd;
    m->ntasks = b->ntasks;
    m->nstages = b->nstages;
    m->R = xmalloc(sizeof(double) * (size_t)(b->nstages + 1) * (size_t)b->ntasks);
    m->have = xcalloc((size_t)b->nstages + 1, sizeof(int));
    m->loss_sum = xcalloc((size_t)b->nstages, sizeof(double));
    m->loss_n = xcalloc((size_t)b->nstages, sizeof(long));
    reset_report(m);
    const char *dls = getenv("CLSWEEP_RUN_DEADLINE");
    m->deadline = dls ? strtod(dls, NULL) : 0;
    const char *sr = getenv("CLSWEEP_STAGE_REPORTS");
    m->live = sr && !strcmp(sr, "1");
    m->pid = -1;
    if (!write_config(cfg, m->cpath)) {
        char *cd = client_dir();
        m->pid = start_program(argv, run, man, m->cpath, m->rpath, m->lpath, cd, thr,
                               cfg_get(cfg, "program.dir"));
        free(cd);
    }
    free(man);
    json_decref(argv);
    if (m->pid < 0) {
        finish_program(m, -1);
    } else if (m->live) {
        follow_program(m, -1);   /* R0: the optional R -1 comes first */
    } else {
        while (!poll_program(m)) usleep(20000);
    }
    m->cur = 0;
    return m;
}

static run_status ext_train_block(model_t *m, const bench_t *b, int stage) {
    (void)b;
    m->cur = stage + 1;
    if (m->live) follow_program(m, stage + 1);
    if (m->have[stage + 1]) return RUN_STATUS_OK;
    cls_seterr("%s", m->why);
    return RUN_STATUS_FAILED;
}

static double ext_eval_task(model_t *m, const bench_t *b, int t) {
    (void)b;
    return m->R[(long)m->cur * m->ntasks + t];
}

static void ext_after_stage(model_t *m, const bench_t *b, int stage, run_result *res) {
    if (!m->loss_n[stage]) return;
    double *l = result_array(res, "ext_loss", "mean training loss the program reported for the stage",
                             "stage", b->nstages, NULL, 0);
    l[stage] = m->loss_sum[stage] / (double)m->loss_n[stage];
}

static void ext_report(model_t *m, const bench_t *b, run_result *res) {
    (void)b;
    if (m->live) follow_program(m, m->nstages + 1);   /* its X lines: to its end */
    for (int i = 0; i < m->nextras; i++) {
        char name[80];
        snprintf(name, sizeof name, "ext_%s", m->xname[i]);
        result_set_scalar(res, name, "reported by the external program", m->xval[i]);
    }
}

static void ext_free(model_t *m) {
    if (!m) return;
    stop_program(m);
    free(m->R);
    free(m->have);
    free(m->loss_sum);
    free(m->loss_n);
    free(m->xname);
    free(m->xval);
    free(m);
}

/* The template of every program model: the registry copies it with the program's name,
 * kinds and params. */
const model_ops external_ops = {
    .name = "external",
    .kinds = BENCH_KIND_CLASSIFICATION | BENCH_KIND_REGRESSION | BENCH_KIND_RECONSTRUCTION,
    .init = ext_init,
    .train_block = ext_train_block,
    .eval_task = ext_eval_task,
    .after_stage = ext_after_stage,
    .report = ext_report,
    .free = ext_free,
};
