/* ewgn_b1.h — the wide kernels of EWGN's fused batch-1 SGD step (src/models/ewgn_b1.c), for
 * a WGN hidden width H = EWGN_B1_H (the paper's 32). Called only by src/models/ewgn.c's
 * step_fast (and its tests/benchmark, which include that file); every other H runs the plain
 * C loops of ewgn.c, which are the reference these kernels reproduce bit for bit.
 *
 * Layout (see the top of ewgn.c): W2 is (D, C, H) with pixel d's (C, H) block contiguous,
 * b2 (D, C), W1t (D, H). nz[0..nnz) are the sample's nonzero pixels, xv their values.
 * Every kernel keeps the reference's order of operations exactly (no FMA, the same partial
 * sums), so results are identical to the C loops at every ISA level. The _avx512 variants
 * run the update pass at 512-bit width (element-wise, so the same bits) and the forward at
 * 256-bit width (its sums' order is that of 8 partial sums). */
#ifndef CLS_EWGN_B1_H
#define CLS_EWGN_B1_H

#define EWGN_B1_H 32

/* hpre = b1 + Σ_j xv[j]·W1t[nz[j]] (the terms added in j order). */
void ewgn_b1_hpre_avx2(float *hpre, const float *b1, const float *w1t, const int *nz,
                       const float *xv, int nnz);
/* z[j·C + c] = b2[d·C + c] + dot8(W2[d][c], h) for d = nz[j] (ewgn.c's dot8 order). */
void ewgn_b1_z_avx2(float *z, const float *w2, const float *b2, const float *h, const int *nz,
                    int nnz, int C);
/* logits[c] = b[c] + Σ_j xv[j]·g[j·C + c], the terms added in j order (g: g(z) of the
 * touched pixels, as fwd1 leaves it). */
void ewgn_b1_logits_avx2(float *lg, const float *b, const float *g, const float *xv, int nnz,
                         int C);
/* The fused update of every touched block, in j then c order (ewgn.c's block_sgd): with
 * dz = dlog[c]·gp[j·C + c] (rows with dz = 0 skipped), dh += dz·W2[d][c] (old W2, dh accumulated
 * from 0 over every block), W2[d][c] −= (lr·dz)·h, b2[d·C + c] −= lr·dz. */
void ewgn_b1_sgd_avx2(float *w2, float *b2, float *dh, const float *dlog, const float *gp,
                      const float *h, const int *nz, int nnz, int C, float lr);
void ewgn_b1_sgd_avx512(float *w2, float *b2, float *dh, const float *dlog, const float *gp,
                        const float *h, const int *nz, int nnz, int C, float lr);
/* The same with the EWC penalty step (ewgn.c's block_sgd_ewc; no row skipped): aw/sw the
 * anchor and shrink of W2 (same layout), ab/sb those of b2. */
void ewgn_b1_sgd_ewc_avx2(float *w2, float *b2, const float *aw, const float *sw,
                          const float *ab, const float *sb, float *dh, const float *dlog,
                          const float *gp, const float *h, const int *nz, int nnz, int C,
                          float lr, float prox);
void ewgn_b1_sgd_ewc_avx512(float *w2, float *b2, const float *aw, const float *sw,
                            const float *ab, const float *sb, float *dh, const float *dlog,
                            const float *gp, const float *h, const int *nz, int nnz, int C,
                            float lr, float prox);

#endif
