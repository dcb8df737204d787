/* linalg.c — Haar-random orthogonal matrices via LAPACK QR (OpenBLAS ships LAPACK). */
#include "linalg.h"

#include <stdlib.h>

#include "util.h"

/* Fortran LAPACK: column-major, every argument by reference. */
extern void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau,
                    float *work, const int *lwork, int *info);
extern void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda,
                    const float *tau, float *work, const int *lwork, int *info);

int linalg_haar_orthogonal(float *q, int n, rng_t *r) {
    if (n <= 0) {
        cls_seterr("linalg_haar_orthogonal: n = %d", n);
        return -1;
    }
    long nn = (long)n * n;
    /* a is column-major: a[i + j·n] = A(i, j) */
    float *a = xmalloc((size_t)nn * sizeof(float));
    float *tau = xmalloc((size_t)n * sizeof(float));
    float *sign = xmalloc((size_t)n * sizeof(float));
    float *work = NULL;
    int ret = -1, info = 0, lwork = -1;
    float wq;
    for (long i = 0; i < nn; i++) a[i] = rng_normal(r);

    sgeqrf_(&n, &n, a, &n, tau, &wq, &lwork, &info);
    if (info != 0) {
        cls_seterr("sgeqrf workspace query failed (info %d)", info);
        goto done;
    }
    lwork = (int)wq;
    sorgqr_(&n, &n, &n, a, &n, tau, &wq, &(int){-1}, &info);
    if (info != 0) {
        cls_seterr("sorgqr workspace query failed (info %d)", info);
        goto done;
    }
    if ((int)wq > lwork) lwork = (int)wq;
    if (lwork < n) lwork = n;
    work = xmalloc((size_t)lwork * sizeof(float));

    sgeqrf_(&n, &n, a, &n, tau, work, &lwork, &info);
    if (info != 0) {
        cls_seterr("sgeqrf failed (info %d)", info);
        goto done;
    }
    /* Q·diag(sign R_jj) makes the factorisation unique, hence Q Haar (Mezzadri 2007) */
    for (int j = 0; j < n; j++) sign[j] = a[j + (long)j * n] < 0.0f ? -1.0f : 1.0f;
    sorgqr_(&n, &n, &n, a, &n, tau, work, &lwork, &info);
    if (info != 0) {
        cls_seterr("sorgqr failed (info %d)", info);
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) q[(long)i * n + j] = a[i + (long)j * n] * sign[j];
    ret = 0;
done:
    free(work);
    free(sign);
    free(tau);
    free(a);
    return ret;
}
