/* conv_batch.c — batched 3×3 convolution (stride 1, zero padding 1) and the 2×2 max-pool
 * epilogue with an optional fused bias + ReLU, in the channel-major batch layout CBHW: the
 * plane of channel c of image b lies at (c·B + b)·H·W, so a channel's values over the whole
 * batch are one contiguous row and every pass (forward, weight gradient, input gradient) is
 * ONE sgemm over the batch instead of one per image. The im2col matrix of a forward is kept
 * (when it fits its buffer) and reused by the weight gradient. Declared in nn.h (the convb_
 * and pool2b_ functions); nn layer: called by models (pah.c) and tests. */
#include "nn.h"

#include <cblas.h>
#include <string.h>

#include "cpu.h"

#if CLS_X86_SIMD
#include <immintrin.h>
#endif

/* Offset (in planes) of channel c of image b: NCHW (b·C + c) or CBHW (c·B + b). */
static inline long plane_of(int c, int b, int C, int B, int nchw) {
    return nchw ? (long)b * C + c : (long)c * B + b;
}

long convb_col_size(int c_in, int B, int H, int W) { return (long)c_in * 9 * B * H * W; }

/* Images per im2col chunk for a col buffer of cap floats (at least 1, at most B). */
int convb_chunk(int c_in, int B, int H, int W, long cap) {
    long per = (long)c_in * 9 * H * W;
    long n = per > 0 ? cap / per : B;
    if (n < 1) n = 1;
    return n > B ? B : (int)n;
}

/* The copy, add and compare loops are plain C that GCC vectorises for the build's -march
 * (CLS_HOT_LOOP). AVX2/AVX-512 clones of them were measured SLOWER on PAH's rows of 7–28
 * floats (vector prologue/epilogue per row: 182 vs 258 batches/s at AVX-512 vs SSE), so
 * there is no wider variant; the level does not change these kernels. */
#define INL static inline __attribute__((always_inline))

/* Tap (dy, dx) = (ky − 1, kx − 1) of one H×W plane: r[y·W + x] = in[(y+dy)·W + x+dx], 0
 * outside the plane. Within the valid rows this is ONE contiguous shifted copy (r[i] =
 * in[i + dy·W + dx]) whose wrapped border column is then zeroed — instead of a loop per row
 * of 7–28 floats, whose vector prologue/epilogue cost more than the copy. The first (dx < 0)
 * or last (dx > 0) element of the range is the border column anyway and is not read (it
 * would lie outside the plane). */
INL void tap_plane(float *restrict r, const float *restrict in, int dy, int dx, int H, int W) {
    int y0 = dy < 0 ? 1 : 0, y1 = dy > 0 ? H - 1 : H;
    long a = (long)y0 * W, e = (long)y1 * W;
    const float *s = in + (long)dy * W + dx;
    if (dx < 0 && a < e) a++;
    if (dx > 0 && a < e) e--;
    for (long i = a; i < e; i++) r[i] = s[i];
    if (dx < 0)
        for (int y = y0; y < y1; y++) r[(long)y * W] = 0.0f;
    if (dx > 0)
        for (int y = y0; y < y1; y++) r[(long)y * W + W - 1] = 0.0f;
    if (dy < 0)
        for (int x = 0; x < W; x++) r[x] = 0.0f;
    if (dy > 0)
        for (int x = 0; x < W; x++) r[(long)(H - 1) * W + x] = 0.0f;
}

/* Adjoint of tap_plane: in[(y+dy)·W + x+dx] += r[y·W + x] over the valid (y, x); r's border
 * column is zeroed first (r is the caller's scratch) so the add is one contiguous loop. */
INL void tap_plane_add(float *restrict in, float *restrict r, int dy, int dx, int H, int W) {
    int y0 = dy < 0 ? 1 : 0, y1 = dy > 0 ? H - 1 : H;
    long a = (long)y0 * W, e = (long)y1 * W;
    float *d = in + (long)dy * W + dx;
    if (dx < 0) {
        for (int y = y0; y < y1; y++) r[(long)y * W] = 0.0f;
        if (a < e) a++;
    }
    if (dx > 0) {
        for (int y = y0; y < y1; y++) r[(long)y * W + W - 1] = 0.0f;
        if (a < e) e--;
    }
    for (long i = a; i < e; i++) d[i] += r[i];
}

/* col (c_in·9, nb·H·W), row ci·9 + ky·3 + kx, column (b − b0)·H·W + y·W + x, for the images
 * b0 .. b0+nb−1 of x (layout NCHW or CBHW with B images). */
INL void im2col_body(float *col, const float *x, int c_in, int B, int b0, int nb, int H, int W,
                     int x_nchw) {
    long HW = (long)H * W, N = (long)nb * HW;
    for (int ci = 0; ci < c_in; ci++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                float *row = col + ((long)(ci * 3 + ky) * 3 + kx) * N;
                for (int b = 0; b < nb; b++)
                    tap_plane(row + (long)b * HW, x + plane_of(ci, b0 + b, c_in, B, x_nchw) * HW,
                              ky - 1, kx - 1, H, W);
            }
}

/* dx += col2im(dcol) for the images b0 .. b0+nb−1: the adjoint of im2col_chunk (dcol's
 * border-column entries are zeroed on the way: it is scratch). */
INL void col2im_body(float *dx, float *dcol, int c_in, int B, int b0, int nb, int H, int W,
                     int x_nchw) {
    long HW = (long)H * W, N = (long)nb * HW;
    for (int ci = 0; ci < c_in; ci++)
        for (int b = 0; b < nb; b++) {
            float *in = dx + plane_of(ci, b0 + b, c_in, B, x_nchw) * HW;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    tap_plane_add(in, dcol + ((long)(ci * 3 + ky) * 3 + kx) * N + (long)b * HW,
                                  ky - 1, kx - 1, H, W);
        }
}

/* One plane, plain max-pool: the obvious loop's comparisons (window order, strict >, NaN
 * wins): the same values and argmax as maxpool2_forward. */
INL void pool_plane_body(float *restrict o, int *restrict a, const float *restrict in, int H,
                         int W) {
    int Ho = H / 2, Wo = W / 2;
    for (int oy = 0; oy < Ho; oy++) {
        const float *restrict r0 = in + (long)2 * oy * W, *restrict r1 = r0 + W;
        float *restrict orow = o + (long)oy * Wo;
        int *restrict arow = a + (long)oy * Wo;
        const int base = 2 * oy * W;
        for (int ox = 0; ox < Wo; ox++) {
            const int i0 = base + 2 * ox;
            float v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
            float best = v0;
            int bi = i0;
            int take = (v1 > best) | (v1 != v1);
            best = take ? v1 : best;
            bi = take ? i0 + 1 : bi;
            take = (v2 > best) | (v2 != v2);
            best = take ? v2 : best;
            bi = take ? i0 + W : bi;
            take = (v3 > best) | (v3 != v3);
            best = take ? v3 : best;
            bi = take ? i0 + W + 1 : bi;
            orow[ox] = best;
            arow[ox] = bi;
        }
    }
}

/* With ReLU: v = z + b, v = v > 0 ? v : 0 (act_forward's ReLU: NaN becomes 0), then the
 * same compares; after the ReLU no value is NaN, so "NaN wins" needs no test and the loop is
 * plain selects that GCC vectorises (with the NaN tests and a relu flag inside, it stayed
 * scalar with branches: 38 % of a PAH batch). */
CLS_HOT_LOOP_OPTS("no-trapping-math", "no-tree-loop-distribute-patterns")
static void pool_plane_relu_c(float *restrict o, int *restrict a, const float *restrict in, float b,
                            int H, int W) {
    int Ho = H / 2, Wo = W / 2;
    for (int oy = 0; oy < Ho; oy++) {
        const float *restrict r0 = in + (long)2 * oy * W, *restrict r1 = r0 + W;
        float *restrict orow = o + (long)oy * Wo;
        int *restrict arow = a + (long)oy * Wo;
        const int base = 2 * oy * W;
        for (int ox = 0; ox < Wo; ox++) {
            const int i0 = base + 2 * ox;
            float v0 = r0[2 * ox] + b, v1 = r0[2 * ox + 1] + b;
            float v2 = r1[2 * ox] + b, v3 = r1[2 * ox + 1] + b;
            v0 = v0 > 0.0f ? v0 : 0.0f;
            v1 = v1 > 0.0f ? v1 : 0.0f;
            v2 = v2 > 0.0f ? v2 : 0.0f;
            v3 = v3 > 0.0f ? v3 : 0.0f;
            float best = v0;
            int bi = i0;
            int take = v1 > best;
            best = take ? v1 : best;
            bi = take ? i0 + 1 : bi;
            take = v2 > best;
            best = take ? v2 : best;
            bi = take ? i0 + W : bi;
            take = v3 > best;
            best = take ? v3 : best;
            bi = take ? i0 + W + 1 : bi;
            orow[ox] = best;
            arow[ox] = bi;
        }
    }
}


#if CLS_X86_SIMD
/* The first n (< 8) floats of v to dst with plain 128/64/32-bit stores: tails of the AVX2
 * rows (vmaskmovps stores are microcoded on AMD cores; memcpy of a stack buffer cost a call). */
CLS_TARGET_AVX2 static inline void store_tail8(float *dst, __m256 v, int n) {
    __m128 x = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(dst, x);
        x = _mm256_extractf128_ps(v, 1);
        dst += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)dst, x);
        x = _mm_movehl_ps(x, x);
        dst += 2;
        n -= 2;
    }
    if (n) _mm_store_ss(dst, x);
}
/* The first n (< 16) floats of (v0, v1). */
CLS_TARGET_AVX2 static inline void store_tail16(float *dst, __m256 v0, __m256 v1, int n) {
    if (n >= 8) {
        _mm256_storeu_ps(dst, v0);
        if (n > 8) store_tail8(dst + 8, v1, n - 8);
    } else {
        store_tail8(dst, v0, n);
    }
}
#endif

/* AVX2 / AVX-512 rows of pool_plane_relu: 8 / 16 windows at a time, the even and odd columns
 * of the two input rows deinterleaved, then the same operations in the same order — add, the
 * ReLU as max(v, 0) (= v > 0 ? v : 0, NaN → 0, −0 → +0), the three strict > compares and
 * selects — so values and argmax are bit-identical to the C loop. Tails: masked loads; the
 * AVX2 stores through store_tail8. */
#if CLS_X86_SIMD
CLS_TARGET_AVX2 static inline void pool8_avx2(__m256 *best, __m256i *bi, const float *r0,
                                              const float *r1, float b, int i0, int W,
                                              __m256i mlo, __m256i mhi) {
    const __m256 zero = _mm256_setzero_ps(), bv = _mm256_set1_ps(b);
    __m256 a0 = _mm256_maskload_ps(r0, mlo), a1 = _mm256_maskload_ps(r0 + 8, mhi);
    __m256 c0 = _mm256_maskload_ps(r1, mlo), c1 = _mm256_maskload_ps(r1 + 8, mhi);
#define EVEN(x, y) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(x, y, 0x88)), 0xD8))
#define ODD(x, y) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(x, y, 0xDD)), 0xD8))
    __m256 v0 = _mm256_max_ps(_mm256_add_ps(EVEN(a0, a1), bv), zero);
    __m256 v1 = _mm256_max_ps(_mm256_add_ps(ODD(a0, a1), bv), zero);
    __m256 v2 = _mm256_max_ps(_mm256_add_ps(EVEN(c0, c1), bv), zero);
    __m256 v3 = _mm256_max_ps(_mm256_add_ps(ODD(c0, c1), bv), zero);
#undef EVEN
#undef ODD
    __m256i i = _mm256_add_epi32(_mm256_set1_epi32(i0), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    __m256 bs = v0, t;
    __m256i ix = i;
    t = _mm256_cmp_ps(v1, bs, _CMP_GT_OQ);
    bs = _mm256_blendv_ps(bs, v1, t);
    ix = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(ix), _mm256_castsi256_ps(_mm256_add_epi32(i, _mm256_set1_epi32(1))), t));
    t = _mm256_cmp_ps(v2, bs, _CMP_GT_OQ);
    bs = _mm256_blendv_ps(bs, v2, t);
    ix = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(ix), _mm256_castsi256_ps(_mm256_add_epi32(i, _mm256_set1_epi32(W))), t));
    t = _mm256_cmp_ps(v3, bs, _CMP_GT_OQ);
    bs = _mm256_blendv_ps(bs, v3, t);
    ix = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(ix), _mm256_castsi256_ps(_mm256_add_epi32(i, _mm256_set1_epi32(W + 1))), t));
    *best = bs;
    *bi = ix;
}

CLS_TARGET_AVX2 static void pool_plane_relu_avx2(float *restrict o, int *restrict a,
                                                 const float *restrict in, float b, int H, int W) {
    int Ho = H / 2, Wo = W / 2;
    const __m256i all = _mm256_set1_epi32(-1), lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int oy = 0; oy < Ho; oy++) {
        const float *r0 = in + (long)2 * oy * W, *r1 = r0 + W;
        float *orow = o + (long)oy * Wo;
        int *arow = a + (long)oy * Wo;
        int base = 2 * oy * W, ox = 0;
        __m256 bs;
        __m256i ix;
        for (; ox + 8 <= Wo; ox += 8) {
            pool8_avx2(&bs, &ix, r0 + 2 * ox, r1 + 2 * ox, b, base + 2 * ox, W, all, all);
            _mm256_storeu_ps(orow + ox, bs);
            _mm256_storeu_si256((__m256i *)(arow + ox), ix);
        }
        if (ox < Wo && Wo >= 8) {   /* tail: the last 8 windows again (same values), full width */
            ox = Wo - 8;
            pool8_avx2(&bs, &ix, r0 + 2 * ox, r1 + 2 * ox, b, base + 2 * ox, W, all, all);
            _mm256_storeu_ps(orow + ox, bs);
            _mm256_storeu_si256((__m256i *)(arow + ox), ix);
        } else if (ox < Wo) {
            int r = Wo - ox;
            __m256i mlo = _mm256_cmpgt_epi32(_mm256_set1_epi32(2 * r), lane);
            __m256i mhi = _mm256_cmpgt_epi32(_mm256_set1_epi32(2 * r - 8), lane);
            pool8_avx2(&bs, &ix, r0 + 2 * ox, r1 + 2 * ox, b, base + 2 * ox, W, mlo, mhi);
            store_tail8(orow + ox, bs, r);
            store_tail8((float *)(arow + ox), _mm256_castsi256_ps(ix), r);
        }
    }
}

CLS_TARGET_AVX512 static void pool_plane_relu_avx512(float *restrict o, int *restrict a,
                                                     const float *restrict in, float b, int H,
                                                     int W) {
    int Ho = H / 2, Wo = W / 2;
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512 zero = _mm512_setzero_ps(), bv = _mm512_set1_ps(b);
    for (int oy = 0; oy < Ho; oy++) {
        const float *r0 = in + (long)2 * oy * W, *r1 = r0 + W;
        float *orow = o + (long)oy * Wo;
        int *arow = a + (long)oy * Wo;
        int base = 2 * oy * W;
        for (int ox = 0; ox < Wo; ox += 16) {
            int r = Wo - ox < 16 ? Wo - ox : 16;
            __mmask16 m = (__mmask16)(r == 16 ? 0xFFFFu : (1u << r) - 1u);
            __mmask16 mlo = (__mmask16)(r >= 8 ? 0xFFFFu : (1u << (2 * r)) - 1u);
            __mmask16 mhi = (__mmask16)(r == 16 ? 0xFFFFu : r > 8 ? (1u << (2 * (r - 8))) - 1u : 0u);
            __m512 a0 = _mm512_maskz_loadu_ps(mlo, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(mhi, r0 + 2 * ox + 16);
            __m512 c0 = _mm512_maskz_loadu_ps(mlo, r1 + 2 * ox), c1 = _mm512_maskz_loadu_ps(mhi, r1 + 2 * ox + 16);
            __m512 v0 = _mm512_max_ps(_mm512_add_ps(_mm512_permutex2var_ps(a0, ev, a1), bv), zero);
            __m512 v1 = _mm512_max_ps(_mm512_add_ps(_mm512_permutex2var_ps(a0, od, a1), bv), zero);
            __m512 v2 = _mm512_max_ps(_mm512_add_ps(_mm512_permutex2var_ps(c0, ev, c1), bv), zero);
            __m512 v3 = _mm512_max_ps(_mm512_add_ps(_mm512_permutex2var_ps(c0, od, c1), bv), zero);
            __m512i i = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ox), ev);
            __m512 bs = v0;
            __m512i ix = i;
            __mmask16 t = _mm512_cmp_ps_mask(v1, bs, _CMP_GT_OQ);
            bs = _mm512_mask_mov_ps(bs, t, v1);
            ix = _mm512_mask_mov_epi32(ix, t, _mm512_add_epi32(i, _mm512_set1_epi32(1)));
            t = _mm512_cmp_ps_mask(v2, bs, _CMP_GT_OQ);
            bs = _mm512_mask_mov_ps(bs, t, v2);
            ix = _mm512_mask_mov_epi32(ix, t, _mm512_add_epi32(i, _mm512_set1_epi32(W)));
            t = _mm512_cmp_ps_mask(v3, bs, _CMP_GT_OQ);
            bs = _mm512_mask_mov_ps(bs, t, v3);
            ix = _mm512_mask_mov_epi32(ix, t, _mm512_add_epi32(i, _mm512_set1_epi32(W + 1)));
            _mm512_mask_storeu_ps(orow + ox, m, bs);
            _mm512_mask_storeu_epi32(arow + ox, m, ix);
        }
    }
}
#endif

static void pool_plane_relu(float *restrict o, int *restrict a, const float *restrict in, float b,
                            int H, int W) {
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) return pool_plane_relu_avx512(o, a, in, b, H, W);
    if (isa >= CPU_AVX2) return pool_plane_relu_avx2(o, a, in, b, H, W);
#endif
    pool_plane_relu_c(o, a, in, b, H, W);
}

CLS_HOT_LOOP_OPTS("no-trapping-math", "no-tree-loop-distribute-patterns")
static void pool_plane_plain(float *restrict o, int *restrict a, const float *restrict in, int H,
                             int W) {
    pool_plane_body(o, a, in, H, W);
}

CLS_HOT_LOOP_OPTS("no-tree-loop-distribute-patterns")
static void im2col_chunk_base(float *col, const float *x, int c_in, int B, int b0, int nb, int H,
                              int W, int x_nchw) {
    im2col_body(col, x, c_in, B, b0, nb, H, W, x_nchw);
}

CLS_HOT_LOOP static void col2im_chunk_add_base(float *dx, float *dcol, int c_in, int B, int b0,
                                               int nb, int H, int W, int x_nchw) {
    col2im_body(dx, dcol, c_in, B, b0, nb, H, W, x_nchw);
}

/* Since tap_plane copies a whole plane (196–784 floats) in one loop, the 256/512-bit
 * versions of these copies and adds pay (the old per-row loops of 7–28 floats did not).
 * Copies, zeros and one add per element: every level gives the same bits. */
#if CLS_X86_SIMD
CLS_TARGET_AVX2 CLS_HOT_LOOP_OPTS("no-tree-loop-distribute-patterns")
static void im2col_chunk_avx2(float *col, const float *x, int c_in, int B, int b0, int nb, int H,
                              int W, int x_nchw) {
    im2col_body(col, x, c_in, B, b0, nb, H, W, x_nchw);
}
CLS_TARGET_AVX512 CLS_HOT_LOOP_OPTS("no-tree-loop-distribute-patterns")
static void im2col_chunk_avx512(float *col, const float *x, int c_in, int B, int b0, int nb,
                                int H, int W, int x_nchw) {
    im2col_body(col, x, c_in, B, b0, nb, H, W, x_nchw);
}
CLS_TARGET_AVX2 CLS_HOT_LOOP static void col2im_chunk_add_avx2(float *dx, float *dcol, int c_in,
                                                               int B, int b0, int nb, int H, int W,
                                                               int x_nchw) {
    col2im_body(dx, dcol, c_in, B, b0, nb, H, W, x_nchw);
}
CLS_TARGET_AVX512 CLS_HOT_LOOP static void col2im_chunk_add_avx512(float *dx, float *dcol,
                                                                   int c_in, int B, int b0,
                                                                   int nb, int H, int W,
                                                                   int x_nchw) {
    col2im_body(dx, dcol, c_in, B, b0, nb, H, W, x_nchw);
}
#endif

static void im2col_chunk(float *col, const float *x, int c_in, int B, int b0, int nb, int H,
                         int W, int x_nchw) {
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) return im2col_chunk_avx512(col, x, c_in, B, b0, nb, H, W, x_nchw);
    if (isa >= CPU_AVX2) return im2col_chunk_avx2(col, x, c_in, B, b0, nb, H, W, x_nchw);
#endif
    im2col_chunk_base(col, x, c_in, B, b0, nb, H, W, x_nchw);
}

static void col2im_chunk_add(float *dx, float *dcol, int c_in, int B, int b0, int nb, int H,
                             int W, int x_nchw) {
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) return col2im_chunk_add_avx512(dx, dcol, c_in, B, b0, nb, H, W, x_nchw);
    if (isa >= CPU_AVX2) return col2im_chunk_add_avx2(dx, dcol, c_in, B, b0, nb, H, W, x_nchw);
#endif
    col2im_chunk_add_base(dx, dcol, c_in, B, b0, nb, H, W, x_nchw);
}

int convb_forward(float *z, const float *x, const float *w, float *col, long col_cap,
                  int B, int c_in, int H, int W, int c_out, int x_nchw) {
    long HW = (long)H * W, K = (long)c_in * 9, ldz = (long)B * HW;
    int nb = convb_chunk(c_in, B, H, W, col_cap);
    for (int b0 = 0; b0 < B; b0 += nb) {
        int n = B - b0 < nb ? B - b0 : nb;
        im2col_chunk(col, x, c_in, B, b0, n, H, W, x_nchw);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c_out, (int)(n * HW), (int)K,
                    1.0f, w, (int)K, col, (int)(n * HW), 0.0f, z + (long)b0 * HW, (int)ldz);
    }
    return nb >= B;
}

CLS_HOT_LOOP void convb_add_bias(float *z, const float *bias, int B, int C, int HW) {
    long n = (long)B * HW;
    for (int c = 0; c < C; c++) {
        float bc = bias[c];
        float *r = z + (long)c * n;
        for (long i = 0; i < n; i++) r[i] += bc;
    }
}

void convb_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                    const float *w, float *col, int col_valid, float *dcol, long col_cap,
                    int B, int c_in, int H, int W, int c_out, int x_nchw) {
    long HW = (long)H * W, K = (long)c_in * 9, ldz = (long)B * HW;
    if (db)
        for (int co = 0; co < c_out; co++) db[co] += nn_sum16(dz + (long)co * ldz, ldz);
    int nb = convb_chunk(c_in, B, H, W, col_cap);
    if (col_valid && nb < B) col_valid = 0;
    for (int b0 = 0; b0 < B; b0 += nb) {
        int n = B - b0 < nb ? B - b0 : nb;
        const float *d = dz + (long)b0 * HW;
        if (dw) {
            if (!col_valid) im2col_chunk(col, x, c_in, B, b0, n, H, W, x_nchw);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c_out, (int)K, (int)(n * HW), 1.0f,
                        d, (int)ldz, col, (int)(n * HW), 1.0f, dw, (int)K);
        }
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)(n * HW), c_out, 1.0f,
                        w, (int)K, d, (int)ldz, 0.0f, dcol, (int)(n * HW));
            col2im_chunk_add(dx, dcol, c_in, B, b0, n, H, W, x_nchw);
        }
    }
}

/* ---- 2×2 max-pool over CBHW planes, optional fused bias + ReLU, output in either layout ---- */

void pool2b_forward(float *p, int *argmax, const float *z, const float *bias, int relu, int B,
                    int C, int H, int W, int p_nchw) {
    long HW = (long)H * W, HWo = (long)(H / 2) * (W / 2);
    for (int c = 0; c < C; c++)
        for (int b = 0; b < B; b++) {
            long po = plane_of(c, b, C, B, p_nchw) * HWo;
            if (relu)
                pool_plane_relu(p + po, argmax + po, z + ((long)c * B + b) * HW,
                                bias ? bias[c] : 0.0f, H, W);
            else
                pool_plane_plain(p + po, argmax + po, z + ((long)c * B + b) * HW, H, W);
        }
}

void pool2b_backward(float *dz, const float *dp, const float *p, const int *argmax, int B, int C,
                     int H, int W, int p_nchw) {
    long HW = (long)H * W, HWo = (long)(H / 2) * (W / 2);
    for (int c = 0; c < C; c++)
        for (int b = 0; b < B; b++) {
            long po = plane_of(c, b, C, B, p_nchw) * HWo;
            float *d = dz + ((long)c * B + b) * HW;
            const float *g = dp + po;
            const int *a = argmax + po;
            if (p) {
                const float *pv = p + po;
                for (long i = 0; i < HWo; i++)
                    if (pv[i] > 0.0f) d[a[i]] += g[i];
            } else {
                for (long i = 0; i < HWo; i++) d[a[i]] += g[i];
            }
        }
}


/* One plane of pool2b_backward_set: every element of d is written once — the window's
 * gradient at its argmax, 0 elsewhere (the row and column an odd H or W leaves uncovered
 * too). The routed value is 0.0f + g, the sum the accumulating form makes into a cleared
 * plane (−0 becomes +0), so the result is bit-identical to memset + pool2b_backward at every
 * level (only selects, one exact add of +0 and interleaving stores). The portable loop is the
 * reference; GCC leaves it scalar (int compares selecting floats), so the AVX2 and AVX-512
 * variants below do one row of windows 8 / 16 at a time. */
typedef void (*unpool_row_fn)(float *restrict q0, float *restrict q1, const float *restrict g,
                              const float *restrict pv, const int *restrict a, int base, int n,
                              int W);

static void unpool_row_c(float *restrict q0, float *restrict q1, const float *restrict g,
                         const float *restrict pv, const int *restrict a, int base, int n, int W) {
    for (int i = 0; i < n; i++) {
        int k = a[i] - (base + 2 * i);
        float v = pv && !(pv[i] > 0.0f) ? 0.0f : 0.0f + g[i];
        q0[2 * i] = k == 0 ? v : 0.0f;
        q0[2 * i + 1] = k == 1 ? v : 0.0f;
        q1[2 * i] = k == W ? v : 0.0f;
        q1[2 * i + 1] = k == W + 1 ? v : 0.0f;
    }
}

#if CLS_X86_SIMD
/* Windows i .. i+7 of a row (lanes ≥ r masked off on load): the two rows' 16 floats each. */
CLS_TARGET_AVX2 static inline void unpool8_avx2(__m256 o[4], const float *g, const float *pv,
                                                const int *a, int base, __m256i m, int W) {
    const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256 zero = _mm256_setzero_ps();
    __m256i av = _mm256_maskload_epi32(a, m);
    __m256 v = _mm256_add_ps(zero, _mm256_maskload_ps(g, m));
    if (pv) v = _mm256_and_ps(v, _mm256_cmp_ps(_mm256_maskload_ps(pv, m), zero, _CMP_GT_OQ));
    __m256i k = _mm256_sub_epi32(av, _mm256_add_epi32(_mm256_set1_epi32(base), step));
    __m256 e0 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256())));
    __m256 e1 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(1))));
    __m256 e2 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(W))));
    __m256 e3 = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(W + 1))));
    __m256 l01 = _mm256_unpacklo_ps(e0, e1), h01 = _mm256_unpackhi_ps(e0, e1);
    __m256 l23 = _mm256_unpacklo_ps(e2, e3), h23 = _mm256_unpackhi_ps(e2, e3);
    o[0] = _mm256_permute2f128_ps(l01, h01, 0x20);
    o[1] = _mm256_permute2f128_ps(l01, h01, 0x31);
    o[2] = _mm256_permute2f128_ps(l23, h23, 0x20);
    o[3] = _mm256_permute2f128_ps(l23, h23, 0x31);
}

CLS_TARGET_AVX2 static void unpool_row_avx2(float *restrict q0, float *restrict q1,
                                            const float *restrict g, const float *restrict pv,
                                            const int *restrict a, int base, int n, int W) {
    const __m256i all = _mm256_set1_epi32(-1);
    __m256 o[4];
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        unpool8_avx2(o, g + i, pv ? pv + i : NULL, a + i, base + 2 * i, all, W);
        _mm256_storeu_ps(q0 + 2 * i, o[0]);
        _mm256_storeu_ps(q0 + 2 * i + 8, o[1]);
        _mm256_storeu_ps(q1 + 2 * i, o[2]);
        _mm256_storeu_ps(q1 + 2 * i + 8, o[3]);
    }
    if (i < n && n >= 8) {   /* tail: the last 8 windows again (the same values), full width */
        i = n - 8;
        unpool8_avx2(o, g + i, pv ? pv + i : NULL, a + i, base + 2 * i, all, W);
        _mm256_storeu_ps(q0 + 2 * i, o[0]);
        _mm256_storeu_ps(q0 + 2 * i + 8, o[1]);
        _mm256_storeu_ps(q1 + 2 * i, o[2]);
        _mm256_storeu_ps(q1 + 2 * i + 8, o[3]);
    } else if (i < n) {   /* short rows: masked loads, plain stores (store_tail16) */
        int r = n - i;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        unpool8_avx2(o, g + i, pv ? pv + i : NULL, a + i, base + 2 * i, m, W);
        store_tail16(q0 + 2 * i, o[0], o[1], 2 * r);
        store_tail16(q1 + 2 * i, o[2], o[3], 2 * r);
    }
}

CLS_TARGET_AVX512 static void unpool_row_avx512(float *restrict q0, float *restrict q1,
                                                const float *restrict g, const float *restrict pv,
                                                const int *restrict a, int base, int n, int W) {
    const __m512i step = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i c1 = _mm512_set1_epi32(1), cW = _mm512_set1_epi32(W), cW1 = _mm512_set1_epi32(W + 1);
    const __m512 zero = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        int r = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)(r == 16 ? 0xFFFFu : (1u << r) - 1u);
        __m512i av = _mm512_maskz_loadu_epi32(m, a + i);
        __m512 v = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(m, g + i));
        if (pv) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, pv + i), zero, _CMP_GT_OQ), v);
        __m512i k = _mm512_sub_epi32(av, _mm512_add_epi32(_mm512_set1_epi32(base + 2 * i), step));
        __m512 e0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_setzero_si512()), v);
        __m512 e1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, c1), v);
        __m512 e2 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, cW), v);
        __m512 e3 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, cW1), v);
        __mmask16 ma = (__mmask16)(r >= 8 ? 0xFFFFu : (1u << (2 * r)) - 1u);
        __mmask16 mb = (__mmask16)(r == 16 ? 0xFFFFu : r > 8 ? (1u << (2 * (r - 8))) - 1u : 0u);
        _mm512_mask_storeu_ps(q0 + 2 * i, ma, _mm512_permutex2var_ps(e0, ilo, e1));
        _mm512_mask_storeu_ps(q0 + 2 * i + 16, mb, _mm512_permutex2var_ps(e0, ihi, e1));
        _mm512_mask_storeu_ps(q1 + 2 * i, ma, _mm512_permutex2var_ps(e2, ilo, e3));
        _mm512_mask_storeu_ps(q1 + 2 * i + 16, mb, _mm512_permutex2var_ps(e2, ihi, e3));
    }
}
#endif

static void unpool_plane_set(unpool_row_fn row, float *restrict d, const float *restrict g,
                             const float *restrict pv, const int *restrict a, int H, int W) {
    int Ho = H / 2, Wo = W / 2;
    for (int oy = 0; oy < Ho; oy++) {
        float *r0 = d + (long)2 * oy * W, *r1 = r0 + W;
        long o = (long)oy * Wo;
        row(r0, r1, g + o, pv ? pv + o : NULL, a + o, 2 * oy * W, Wo, W);
        if (W & 1) {
            r0[W - 1] = 0.0f;
            r1[W - 1] = 0.0f;
        }
    }
    if (H & 1) memset(d + (long)(H - 1) * W, 0, sizeof(float) * (size_t)W);
}

/* One plane of pool2b_forward with relu (the fused bias + ReLU + pool) and of
 * pool2b_backward_set with p: the same kernels, for the direct convolution (conv_direct.c),
 * which pools and un-pools each image's planes while they are in cache. */
void pool2b_plane_relu(float *p, int *argmax, const float *z, float bias, int H, int W) {
    pool_plane_relu(p, argmax, z, bias, H, W);
}

/* The un-pool row kernel of this CPU's level. */
static unpool_row_fn unpool_row_pick(void) {
    unpool_row_fn row = unpool_row_c;
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) row = unpool_row_avx512;
    else if (isa >= CPU_AVX2) row = unpool_row_avx2;
#endif
    return row;
}

void pool2b_unpool_plane(float *dz, const float *dp, const float *p, const int *argmax, int H,
                         int W) {
    unpool_row_fn row = unpool_row_pick();
    unpool_plane_set(row, dz, dp, p, argmax, H, W);
}

void pool2b_backward_set(float *dz, const float *dp, const float *p, const int *argmax, int B,
                         int C, int H, int W, int p_nchw) {
    long HW = (long)H * W, HWo = (long)(H / 2) * (W / 2);
    unpool_row_fn row = unpool_row_pick();
    for (int c = 0; c < C; c++)
        for (int b = 0; b < B; b++) {
            long po = plane_of(c, b, C, B, p_nchw) * HWo;
            unpool_plane_set(row, dz + ((long)c * B + b) * HW, dp + po, p ? p + po : NULL,
                             argmax + po, H, W);
        }
}
