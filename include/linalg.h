/* linalg.h — small dense linear algebra on top of OpenBLAS/LAPACK. */
#ifndef CLS_LINALG_H
#define CLS_LINALG_H

#include "rng.h"

/* Fills q (n, n), row-major, with a Haar-random orthogonal matrix: QR of a Gaussian matrix
 * (LAPACK sgeqrf/sorgqr) with the signs of diag(R) folded into Q (Mezzadri 2007).
 * Returns 0, or -1 with cls_seterr on LAPACK failure. */
int linalg_haar_orthogonal(float *q, int n, rng_t *r);

#endif
