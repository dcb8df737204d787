/* ncguard.c — a first read of a result file in a forked child (include/ncguard.h). Called
 * by the result-file readers of src/sweep only: output_read (merge parts, resume from a
 * .nc without journal), output_status, merge's title check and output_is_ours.
 *
 * Why: clsweep checks the schema of a file before it allocates, but that check itself runs
 * on what libnetcdf/libhdf5 report, and damage inside HDF5's own structures can crash the
 * library before clsweep sees anything (fuzz_nc: H5HG_read on a damaged global heap; a
 * damaged global-heap object size is a SIGSEGV in `clsweep status`). The child does the
 * same reads the caller is about to do (NCG_FULL: every value of every variable and every
 * attribute); if it dies, the caller refuses the file with a message instead of
 * crashing. The child never calls MPI, dies with its parent (PR_SET_PDEATHSIG) and leaves
 * with _exit (no atexit handler, no stdio flush, no HDF5 shutdown). Its stop-signal handlers
 * are the parent's (a stop does not make it die, so its death is never mistaken for
 * damage). Cost: the file is read once more (status on 10^5 runs: about twice the time,
 * 0.7-1.0 s -> 1.4-1.8 s side by side on a loaded machine). */
#include "ncguard.h"

#include <errno.h>
#include <stdint.h>
#include <netcdf.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ncschema.h"
#include "util.h"

/* Under sanitizers (the fuzz harness): a report in the child must end the child, not run
 * the fuzzer's death callback (which would record the parent's input as a crash). */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#define CHILD_OK 0
#define CHILD_REFUSED 3

/* Reads every attribute of variable var (NC_GLOBAL too), as the readers' ncs_text_att and
 * nc_get_att_* calls would, within the file's budget. */
static int read_atts(int nc, int var, size_t cap) {
    int natts;
    if (nc_inq_varnatts(nc, var, &natts) != NC_NOERR) return -1;
    for (int a = 0; a < natts; a++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        size_t len, sz;
        if (nc_inq_attname(nc, var, a, name) != NC_NOERR || nc_inq_att(nc, var, name, &t, &len) != NC_NOERR ||
            nc_inq_type(nc, t, NULL, &sz) != NC_NOERR)
            return -1;
        if (len > cap || (sz && len > cap / sz)) return -1;
        void *buf = xmalloc(len * sz + 1);
        int rc = nc_get_att(nc, var, name, buf);
        if (rc == NC_NOERR && t == NC_STRING) nc_free_string(len, buf);
        free(buf);
        if (rc != NC_NOERR) return -1;
    }
    return 0;
}

/* Reads every value of variable v (all of it: what output_read and status read of it). */
static int read_var(const ncs_file *f, int v) {
    nc_type t;
    int nd, dims[NC_MAX_VAR_DIMS];
    size_t sz, count = 1;
    if (nc_inq_var(f->nc, v, NULL, &t, &nd, dims, NULL) != NC_NOERR || nc_inq_type(f->nc, t, NULL, &sz) != NC_NOERR)
        return -1;
    for (int d = 0; d < nd; d++) {
        size_t len;
        if (nc_inq_dimlen(f->nc, dims[d], &len) != NC_NOERR) return -1;
        if (len && count > SIZE_MAX / len) return -1;
        count *= len;
    }
    if (t == NC_CHAR && nd == 2) {
        /* Text (run, <name>_strlen), deflated: read a few MiB of rows at a time. */
        size_t rows_total, width;
        if (nc_inq_dimlen(f->nc, dims[0], &rows_total) != NC_NOERR ||
            nc_inq_dimlen(f->nc, dims[1], &width) != NC_NOERR ||
            ncs_text_budget(f, "a text variable", rows_total, width))
            return -1;
        size_t rows = ncs_text_rows(width);
        char *tb = xmalloc(rows * width + 1);
        int rc = NC_NOERR;
        for (size_t k0 = 0; k0 < rows_total && width && rc == NC_NOERR; k0 += rows) {
            size_t st[2] = {k0, 0}, ct[2] = {rows_total - k0 < rows ? rows_total - k0 : rows, width};
            rc = nc_get_vara_text(f->nc, v, st, ct, tb);
        }
        free(tb);
        return rc == NC_NOERR ? 0 : -1;
    }
    if (ncs_budget(f, "a variable", count, 1, sz ? sz : 1)) return -1;
    void *buf = xmalloc(count * sz + 1);
    int rc = nc_get_var(f->nc, v, buf);
    if (rc == NC_NOERR && t == NC_STRING) nc_free_string(count, buf);
    free(buf);
    return rc == NC_NOERR ? 0 : -1;
}

/* NCG_OPEN: what output_is_ours does. NCG_FULL: the schema check, then every value of every
 * variable and every attribute (the reads output_read and status make, without building
 * results: cheaper than output_read itself). */
static int child_read(const char *path, ncg_depth depth) {
    int nc;
    if (depth == NCG_OPEN) {
        if (ncs_open(path, &nc)) return CHILD_REFUSED;
        nc_close(nc);
        return CHILD_OK;
    }
    ncs_file f;
    if (ncs_open_checked(&f, path)) return CHILD_REFUSED;
    int nvars, rc = nc_inq_nvars(f.nc, &nvars) == NC_NOERR ? 0 : -1;
    size_t cap = (size_t)(f.budget < ((size_t)1 << 40) ? f.budget : ((size_t)1 << 40));
    if (!rc) rc = read_atts(f.nc, NC_GLOBAL, cap);
    for (int v = 0; v < nvars && !rc; v++) rc = read_atts(f.nc, v, cap) || read_var(&f, v);
    ncs_close(&f);
    return rc ? CHILD_REFUSED : CHILD_OK;
}

int ncg_check(const char *path, ncg_depth depth) {
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        cls_seterr("%s: cannot start the process that checks the file: %s", path, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(CHILD_REFUSED);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
        _exit(child_read(path, depth));
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            cls_seterr("%s: lost the process that checks the file: %s", path, strerror(errno));
            return -1;
        }
    if (WIFEXITED(st) && (WEXITSTATUS(st) == CHILD_OK || WEXITSTATUS(st) == CHILD_REFUSED)) return 0;
    if (WIFSIGNALED(st))
        cls_seterr("%s: damaged: the HDF5 library crashed reading it (signal %d, %s); "
                   "the file was not used", path, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        cls_seterr("%s: damaged: the HDF5 library failed reading it (the reading process "
                   "ended with status %d); the file was not used", path, WEXITSTATUS(st));
    return -1;
}
