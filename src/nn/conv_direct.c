/* conv_direct.c — direct 3×3 convolution (stride 1, zero padding 1) without im2col and
 * sgemm, for PAH's backbone: conv 1 (c_in = 1, K = 9: forward fused with bias + ReLU +
 * max-pool, weight and bias gradients fused with the un-pool) and conv 2's forward and input
 * gradient. Output / gradients in the channel-major batch layout CBHW of conv_batch.c (plane
 * of channel c of image b at (c·B + b)·H·W), input NCHW or CBHW. Declared in nn.h (convd_*);
 * nn layer: called by models (pah.c) and tests.
 *
 * Why: im2col turns a 9-deep GEMM into 9× the image's bytes, and OpenBLAS's Haswell
 * kernels (what an AVX2 machine runs) handle the K = 9 shapes badly (22 GFLOP/s for the
 * weight gradient, perf_roofline). Here each image's input planes are copied once into
 * three zero-padded flat planes (docs/performance.md "Kernel round five"):
 *   copy k = dx + 1 of channel ci holds the plane at offset W + 1, zeros around it, and
 *   for dx = −1 its last column zeroed, for dx = +1 its first column zeroed,
 * so tap (dy, dx) of output pixel i = y·W + x is copy[dx+1][W + 1 + i + dy·W + dx] for every
 * i: the zero padding's wrapped columns land on the zeroed column or the zero margins, and
 * each tap is one contiguous vector load. The SIMD kernels work on register tiles (pixel
 * vectors × output channels for the forward, output channels × taps for the gradient).
 *
 * Contract of the levels (cpu.h): every level gives the same bits.
 *   forward: z[co, i] = the fused multiply-add chain over (ci, ky, kx) in that order, the
 *     first term a plain product: s = x₀·w₀, s = fma(x_t, w_t, s) (fmaf at the scalar level;
 *     vfmadd at AVX2 and AVX-512 — both round once per step). The input gradient is this
 *     forward on dz with the weights transposed and flipped.
 *   weight (bias) gradient: 16 partial sums per weight (bias), lane k = i mod 16 of each image
 *     plane, each the chain p = fma(dz[i], x_t[i], p) (p = p + dz[i]) over the images in order
 *     and i ascending, starting at +0; then dw += (r0 + r2) + (r1 + r3) with
 *     r_k = (p_k + p_k+8) + (p_k+4 + p_k+12): the fixed tree of convd_reduce16. AVX-512 holds
 *     the 16 lanes in one register, AVX2 makes two passes (lanes 0–7, then 8–15) —
 *     independent chains, so the same bits.
 * The scalar level uses fmaf (glibc picks the FMA instruction where the CPU has one).
 * The results differ from im2col + sgemm (conv_batch.c) in the last bits (the sums are
 * grouped differently). */
#include "nn.h"

#include <math.h>
#include <string.h>

#include "cpu.h"

#if CLS_X86_SIMD
#include <immintrin.h>
#endif

/* Floats of one padded copy: the plane, W + 1 zeros before, W + 1 after and 16 more (a
 * vector load at the last pixel reads up to 15 past it), rounded to 16. */
static long pad_len(int H, int W) { return ((long)H * W + 2L * (W + 1) + 16 + 15) & ~15L; }


/* The three padded copies of every input channel of image b (see the file comment). */
static void pad_image(float *pad, const float *x, int B, int b, int c_in, int H, int W,
                      int x_nchw) {
    long HW = (long)H * W, L = pad_len(H, W), o = W + 1;
    for (int ci = 0; ci < c_in; ci++) {
        const float *s = x + (x_nchw ? (long)b * c_in + ci : (long)ci * B + b) * HW;
        for (int k = 0; k < 3; k++) {
            float *p = pad + (long)(ci * 3 + k) * L;
            memset(p, 0, sizeof(float) * (size_t)o);
            memcpy(p + o, s, sizeof(float) * (size_t)HW);
            memset(p + o + HW, 0, sizeof(float) * (size_t)(L - o - HW));
            if (k == 0)
                for (int y = 0; y < H; y++) p[o + (long)y * W + W - 1] = 0.0f;
            if (k == 2)
                for (int y = 0; y < H; y++) p[o + (long)y * W] = 0.0f;
        }
    }
}

/* Start of tap t = ky·3 + kx of channel ci in the padded copies: element i is the tap's
 * input for output pixel i. */
static inline const float *tap_ptr(const float *pad, int ci, int t, int W, long L) {
    int dy = t / 3 - 1, dx = t % 3 - 1;
    return pad + (long)(ci * 3 + dx + 1) * L + (W + 1) + (long)dy * W + dx;
}

/* ---- forward: per image, per input channel, per vector of pixels, all output channels ---- */

static void fwd_image_c(float *z, const float *pad, const float *w, int B, int b, int c_in,
                        int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W);
    for (int ci = 0; ci < c_in; ci++) {
        const float *tp[9];
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) tp[t] = tap_ptr(pad, ci, t, W, L);
        for (int co = 0; co < c_out; co++) {
            const float *wc = w + ((long)co * c_in + ci) * 9;
            float *zp = z + ((long)co * B + b) * HW;
            for (long i = 0; i < HW; i++) {
                float s = ci ? fmaf(tp[0][i], wc[0], zp[i]) : tp[0][i] * wc[0];
#pragma GCC unroll 9
                for (int t = 1; t < 9; t++) s = fmaf(tp[t][i], wc[t], s);
                zp[i] = s;
            }
        }
    }
}

/* Register tiles: R pixel vectors × C output channels of accumulators, each the chain over
 * (ci, t) of the file comment (the first term a product), so the tile shape does not change
 * the bits. Per (ci, t): R tap loads and C weight broadcasts for R·C fused multiply-adds.
 * Full tiles: AVX2 2 × 4 (8 of its 16 registers), AVX-512 4 × 4; the rest of the pixels one
 * (masked) vector at a time, the rest of the channels one at a time. */
#define FWD_TILE(NAME, TGT, VEC, LANES, LOAD, SET1, MUL, FMA)                                     \
    TGT static inline __attribute__((always_inline)) void NAME(                                 \
        VEC acc[][4], const float *pad, const float *w, int c_in, int W, long L, long i, int co0, \
        int R, int C) {                                                                         \
        const float *w0 = w + (long)co0 * c_in * 9, *base = pad + (W + 1) + i;                  \
        const long wc = (long)c_in * 9, sW = W;                                                 \
        _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                                   \
            VEC wv = SET1(w0[c * wc]);                                                          \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                 \
                acc[r][c] = MUL(LOAD(base - sW - 1 + r * LANES), wv);                           \
        }                                                                                       \
        for (int ci = 0; ci < c_in; ci++) {                                                     \
            /* tap t = (dy + 1)·3 + dx + 1 is copy dx + 1 at offset dy·W + dx */                \
            const float *cp = base + (long)ci * 3 * L;                                          \
            const float *wp = w0 + (long)ci * 9;                                                \
            _Pragma("GCC unroll 9") for (int t = 0; t < 9; t++) {                               \
                if (!ci && !t) continue;                                                        \
                const int dy = t / 3 - 1, dx = t % 3 - 1;                                       \
                const float *tp = cp + (dx + 1) * L + dy * sW + dx;                             \
                VEC xv[4];                                                                      \
                _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) xv[r] = LOAD(tp + r * LANES); \
                _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) {                           \
                    VEC wv = SET1(wp[c * wc + t]);                                              \
                    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                         \
                        acc[r][c] = FMA(xv[r], wv, acc[r][c]);                                  \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

#if CLS_X86_SIMD
FWD_TILE(tile_avx2, CLS_TARGET_AVX2, __m256, 8, _mm256_loadu_ps, _mm256_set1_ps, _mm256_mul_ps,
         _mm256_fmadd_ps)
FWD_TILE(tile_avx512, CLS_TARGET_AVX512, __m512, 16, _mm512_loadu_ps, _mm512_set1_ps,
         _mm512_mul_ps, _mm512_fmadd_ps)

/* c_in = 1 (conv 1): the 9 taps of a pixel vector loaded once and kept in registers for all
 * output channels (measured faster than the tiles there: 76 vs 53 GFLOP/s at AVX-512). */
CLS_TARGET_AVX2 static void fwd1_image_avx2(float *z, const float *pad, const float *w, int B,
                                           int b, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int ci = 0; ci < c_in; ci++) {
        const float *tp[9];
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) tp[t] = tap_ptr(pad, ci, t, W, L);
        for (long i = 0; i < HW; i += 8) {
            int full = HW - i >= 8;
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(HW - i)), lane);
            __m256 x[9];
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++)   /* the margins make the 8 loads safe; lanes past HW unused */
                x[t] = _mm256_loadu_ps(tp[t] + i);
            for (int co = 0; co < c_out; co++) {
                const float *wc = w + ((long)co * c_in + ci) * 9;
                float *zp = z + ((long)co * B + b) * HW + i;
                __m256 s;
                if (ci)
                    s = _mm256_fmadd_ps(x[0], _mm256_broadcast_ss(wc),
                                        full ? _mm256_loadu_ps(zp) : _mm256_maskload_ps(zp, m));
                else
                    s = _mm256_mul_ps(x[0], _mm256_broadcast_ss(wc));
#pragma GCC unroll 9
                for (int t = 1; t < 9; t++) s = _mm256_fmadd_ps(x[t], _mm256_broadcast_ss(wc + t), s);
                if (full) _mm256_storeu_ps(zp, s);
                else _mm256_maskstore_ps(zp, m, s);
            }
        }
    }
}

CLS_TARGET_AVX512 static void fwd1_image_avx512(float *z, const float *pad, const float *w, int B,
                                               int b, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W);
    for (int ci = 0; ci < c_in; ci++) {
        const float *tp[9];
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) tp[t] = tap_ptr(pad, ci, t, W, L);
        for (long i = 0; i < HW; i += 16) {
            __mmask16 m = (__mmask16)(HW - i >= 16 ? 0xFFFFu : (1u << (HW - i)) - 1u);
            __m512 x[9];
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) x[t] = _mm512_loadu_ps(tp[t] + i);
            for (int co = 0; co < c_out; co++) {
                const float *wc = w + ((long)co * c_in + ci) * 9;
                float *zp = z + ((long)co * B + b) * HW + i;
                __m512 s = ci ? _mm512_fmadd_ps(x[0], _mm512_set1_ps(wc[0]), _mm512_maskz_loadu_ps(m, zp))
                              : _mm512_mul_ps(x[0], _mm512_set1_ps(wc[0]));
#pragma GCC unroll 9
                for (int t = 1; t < 9; t++) s = _mm512_fmadd_ps(x[t], _mm512_set1_ps(wc[t]), s);
                _mm512_mask_storeu_ps(zp, m, s);
            }
        }
    }
}
/* The margins of the padded copies make every tap load safe (lanes past HW are not stored). */
CLS_TARGET_AVX2 static void fwd_image_avx2(float *z, const float *pad, const float *w, int B,
                                           int b, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W), zs = (long)B * HW;
    float *zb = z + (long)b * HW;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 acc[2][4];
    int co = 0;
    for (; co + 4 <= c_out; co += 4) {
        long i = 0;
        for (; i + 16 <= HW; i += 16) {
            tile_avx2(acc, pad, w, c_in, W, L, i, co, 2, 4);
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 2; r++) _mm256_storeu_ps(zb + (co + c) * zs + i + 8 * r, acc[r][c]);
        }
        for (; i < HW; i += 8) {
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(HW - i)), lane);
            tile_avx2(acc, pad, w, c_in, W, L, i, co, 1, 4);
            for (int c = 0; c < 4; c++) _mm256_maskstore_ps(zb + (co + c) * zs + i, m, acc[0][c]);
        }
    }
    for (; co < c_out; co++)
        for (long i = 0; i < HW; i += 8) {
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(HW - i)), lane);
            tile_avx2(acc, pad, w, c_in, W, L, i, co, 1, 1);
            _mm256_maskstore_ps(zb + co * zs + i, m, acc[0][0]);
        }
}

CLS_TARGET_AVX512 static void fwd_image_avx512(float *z, const float *pad, const float *w, int B,
                                               int b, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W), zs = (long)B * HW;
    float *zb = z + (long)b * HW;
    __m512 acc[4][4];
    int co = 0;
    for (; co + 4 <= c_out; co += 4) {
        long i = 0;
        for (; i + 64 <= HW; i += 64) {
            tile_avx512(acc, pad, w, c_in, W, L, i, co, 4, 4);
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 4; r++) _mm512_storeu_ps(zb + (co + c) * zs + i + 16 * r, acc[r][c]);
        }
        for (; i < HW; i += 16) {
            __mmask16 m = (__mmask16)(HW - i >= 16 ? 0xFFFFu : (1u << (HW - i)) - 1u);
            tile_avx512(acc, pad, w, c_in, W, L, i, co, 1, 4);
            for (int c = 0; c < 4; c++) _mm512_mask_storeu_ps(zb + (co + c) * zs + i, m, acc[0][c]);
        }
    }
    for (; co < c_out; co++)
        for (long i = 0; i < HW; i += 16) {
            __mmask16 m = (__mmask16)(HW - i >= 16 ? 0xFFFFu : (1u << (HW - i)) - 1u);
            tile_avx512(acc, pad, w, c_in, W, L, i, co, 1, 1);
            _mm512_mask_storeu_ps(zb + co * zs + i, m, acc[0][0]);
        }
}
#endif

/* ---- weight and bias gradients: 16 partial sums each (lane = pixel mod 16) ---- */

/* part (c_out, c_in, 9, 16) and, when pb, pb (c_out, 16) += image b's terms. */
static void dw_image_c(float *part, float *pb, const float *dz, const float *pad, int B, int b,
                       int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W);
    for (int co = 0; co < c_out; co++) {
        const float *d = dz + ((long)co * B + b) * HW;
        for (int ci = 0; ci < c_in; ci++)
            for (int t = 0; t < 9; t++) {
                const float *tp = tap_ptr(pad, ci, t, W, L);
                float *p = part + (((long)co * c_in + ci) * 9 + t) * 16;
                for (long i = 0; i < HW; i++) p[i & 15] = fmaf(d[i], tp[i], p[i & 15]);
            }
        if (pb)
            for (long i = 0; i < HW; i++) pb[co * 16 + (i & 15)] += d[i];
    }
}

#if CLS_X86_SIMD
/* Register tiles of the weight gradient: NC output channels × NT taps of one input channel
 * (NC·NT accumulators, plus NC bias sums when bias): per pixel vector NC dz loads and NT tap
 * loads for NC·NT fused multiply-adds. Every accumulator is its own chain (co, ci, t, lane),
 * so the tiling does not change the bits. The empty asm keeps a tap in a register for all
 * NC channels (GCC otherwise re-loads it as a memory operand of each FMA: 50 → 82 GFLOP/s
 * for conv 1's weight gradient at AVX-512). */
#define DW_ACC(co, t) (part + (((long)(co) * c_in + ci) * 9 + (t)) * 16)

/* AVX2: lanes h .. h+7 of the 16 partial sums (pixels i ≡ h..h+7 mod 16). */
CLS_TARGET_AVX2 static inline __attribute__((always_inline)) void dw_tile_avx2(
    float *part, float *pb, const float *const *d, const float *const *tp, int c_in, int ci,
    int co0, int NC, int t0, int NT, long HW, int h, int bias) {
    __m256 s[4][9], sb[4];
    _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) {
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) s[c][k] = _mm256_loadu_ps(DW_ACC(co0 + c, t0 + k) + h);
        sb[c] = bias ? _mm256_loadu_ps(pb + (co0 + c) * 16 + h) : _mm256_setzero_ps();
    }
    long i = h;
    for (; i + 8 <= HW; i += 16) {
        __m256 dv[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) dv[c] = _mm256_loadu_ps(d[c] + i);
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) {
            __m256 xv = _mm256_loadu_ps(tp[t0 + k] + i);
            __asm__("" : "+x"(xv));
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) s[c][k] = _mm256_fmadd_ps(dv[c], xv, s[c][k]);
        }
        if (bias)
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) sb[c] = _mm256_add_ps(sb[c], dv[c]);
    }
    if (i < HW) {   /* fewer than 8 pixels left in this half: blend, keep the other lanes */
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(HW - i)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 mf = _mm256_castsi256_ps(m), dv[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) dv[c] = _mm256_maskload_ps(d[c] + i, m);
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) {
            __m256 xv = _mm256_loadu_ps(tp[t0 + k] + i);
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++)
                s[c][k] = _mm256_blendv_ps(s[c][k], _mm256_fmadd_ps(dv[c], xv, s[c][k]), mf);
        }
        if (bias)
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++)
                sb[c] = _mm256_blendv_ps(sb[c], _mm256_add_ps(sb[c], dv[c]), mf);
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) {
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) _mm256_storeu_ps(DW_ACC(co0 + c, t0 + k) + h, s[c][k]);
        if (bias) _mm256_storeu_ps(pb + (co0 + c) * 16 + h, sb[c]);
    }
}

/* AVX2 tiles: 2 channels × taps 0–4, then × taps 5–8 (10 + 2 and 8 accumulators of 16). */
CLS_TARGET_AVX2 static void dw_image_avx2(float *part, float *pb, const float *dz, const float *pad,
                                          int B, int b, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W);
    for (int co = 0; co < c_out; co += 2) {
        const float *d[2];
        d[0] = dz + ((long)co * B + b) * HW;
        d[1] = co + 1 < c_out ? dz + ((long)(co + 1) * B + b) * HW : d[0];
        for (int ci = 0; ci < c_in; ci++) {
            const float *tp[9];
            for (int t = 0; t < 9; t++) tp[t] = tap_ptr(pad, ci, t, W, L);
            int bias = pb && !ci;   /* the bias rides with input channel 0 */
            for (int h = 0; h < 16; h += 8) {
                if (co + 1 < c_out) {
                    dw_tile_avx2(part, pb, d, tp, c_in, ci, co, 2, 0, 5, HW, h, bias);
                    dw_tile_avx2(part, pb, d, tp, c_in, ci, co, 2, 5, 4, HW, h, 0);
                } else {
                    dw_tile_avx2(part, pb, d, tp, c_in, ci, co, 1, 0, 9, HW, h, bias);
                }
            }
        }
    }
}

/* AVX-512: all 16 lanes; masked lanes of the tail keep their partial sums. */
CLS_TARGET_AVX512 static inline __attribute__((always_inline)) void dw_tile_avx512(
    float *part, float *pb, const float *const *d, const float *const *tp, int c_in, int ci,
    int co0, int NC, int t0, int NT, long HW, int bias) {
    __m512 s[4][9], sb[4];
    _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) {
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) s[c][k] = _mm512_loadu_ps(DW_ACC(co0 + c, t0 + k));
        sb[c] = bias ? _mm512_loadu_ps(pb + (co0 + c) * 16) : _mm512_setzero_ps();
    }
    long i = 0;
    for (; i + 16 <= HW; i += 16) {
        __m512 dv[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) dv[c] = _mm512_loadu_ps(d[c] + i);
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) {
            __m512 xv = _mm512_loadu_ps(tp[t0 + k] + i);
            __asm__("" : "+v"(xv));
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) s[c][k] = _mm512_fmadd_ps(dv[c], xv, s[c][k]);
        }
        if (bias)
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) sb[c] = _mm512_add_ps(sb[c], dv[c]);
    }
    if (i < HW) {
        __mmask16 m = (__mmask16)((1u << (HW - i)) - 1u);
        __m512 dv[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) dv[c] = _mm512_maskz_loadu_ps(m, d[c] + i);
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) {
            __m512 xv = _mm512_loadu_ps(tp[t0 + k] + i);
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++)
                s[c][k] = _mm512_mask3_fmadd_ps(dv[c], xv, s[c][k], m);
        }
        if (bias)
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) sb[c] = _mm512_mask_add_ps(sb[c], m, sb[c], dv[c]);
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) {
        _Pragma("GCC unroll 9") for (int k = 0; k < NT; k++) _mm512_storeu_ps(DW_ACC(co0 + c, t0 + k), s[c][k]);
        if (bias) _mm512_storeu_ps(pb + (co0 + c) * 16, sb[c]);
    }
}

/* AVX-512 tiles: 4 channels × taps 0–4, then × taps 5–8 (20 + 4 and 16 accumulators of 32);
 * the remaining channels 2 × 9 or 1 × 9. */
CLS_TARGET_AVX512 static void dw_image_avx512(float *part, float *pb, const float *dz,
                                              const float *pad, int B, int b, int c_in, int H,
                                              int W, int c_out) {
    long HW = (long)H * W, L = pad_len(H, W);
    for (int co = 0; co < c_out;) {
        int nc = c_out - co >= 4 ? 4 : c_out - co >= 2 ? 2 : 1;
        const float *d[4];
        for (int c = 0; c < 4; c++) d[c] = dz + ((long)(co + (c < nc ? c : 0)) * B + b) * HW;
        for (int ci = 0; ci < c_in; ci++) {
            const float *tp[9];
            for (int t = 0; t < 9; t++) tp[t] = tap_ptr(pad, ci, t, W, L);
            int bias = pb && !ci;
            if (nc == 4) {
                dw_tile_avx512(part, pb, d, tp, c_in, ci, co, 4, 0, 5, HW, bias);
                dw_tile_avx512(part, pb, d, tp, c_in, ci, co, 4, 5, 4, HW, 0);
            } else if (nc == 2) {
                dw_tile_avx512(part, pb, d, tp, c_in, ci, co, 2, 0, 9, HW, bias);
            } else {
                dw_tile_avx512(part, pb, d, tp, c_in, ci, co, 1, 0, 9, HW, bias);
            }
        }
        co += nc;
    }
}
#undef DW_ACC
#endif

typedef void (*dw_image_fn)(float *, float *, const float *, const float *, int, int, int, int,
                            int, int);
typedef void (*fwd_image_fn)(float *, const float *, const float *, int, int, int, int, int, int);

static dw_image_fn dw_kernel(void) {
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) return dw_image_avx512;
    if (isa >= CPU_AVX2) return dw_image_avx2;
#endif
    return dw_image_c;
}

static fwd_image_fn fwd_kernel(int c_in) {
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) return c_in == 1 ? fwd1_image_avx512 : fwd_image_avx512;
    if (isa >= CPU_AVX2) return c_in == 1 ? fwd1_image_avx2 : fwd_image_avx2;
#endif
    return fwd_image_c;
}

/* The fixed summation tree of the 16 partial sums (every level: plain C). */
static float convd_reduce16(const float *p) {
    float q[8], r[4];
    for (int k = 0; k < 8; k++) q[k] = p[k] + p[k + 8];
    for (int k = 0; k < 4; k++) r[k] = q[k] + q[k + 4];
    return (r[0] + r[2]) + (r[1] + r[3]);
}

/* Scratch layout: the padded copies, the weight partials, the bias partials, one image's
 * (c_out, H, W) planes (z or dz of the fused forms). */
long convd_scratch_size(int c_in, int c_out, int H, int W) {
    return 3L * c_in * pad_len(H, W) + 144L * c_in * c_out + 16L * c_out + (long)c_out * H * W;
}
static float *part_of(float *scratch, int c_in, int H, int W) {
    return scratch + 3L * c_in * pad_len(H, W);
}

void convd_forward(float *z, const float *x, const float *w, float *scratch, int B, int c_in,
                   int H, int W, int c_out, int x_nchw) {
    fwd_image_fn img = fwd_kernel(c_in);
    for (int b = 0; b < B; b++) {
        pad_image(scratch, x, B, b, c_in, H, W, x_nchw);
        img(z, scratch, w, B, b, c_in, H, W, c_out);
    }
}

void convd_forward_pool(float *p, int *argmax, const float *x, const float *w, const float *bias,
                        float *scratch, int B, int c_in, int H, int W, int c_out, int x_nchw,
                        int p_nchw) {
    fwd_image_fn img = fwd_kernel(c_in);
    long HW = (long)H * W, HWo = (long)(H / 2) * (W / 2);
    float *zi = part_of(scratch, c_in, H, W) + 144L * c_in * c_out + 16L * c_out;
    for (int b = 0; b < B; b++) {
        pad_image(scratch, x, B, b, c_in, H, W, x_nchw);
        img(zi, scratch, w, 1, 0, c_in, H, W, c_out);
        for (int co = 0; co < c_out; co++) {
            long po = (p_nchw ? (long)b * c_out + co : (long)co * B + b) * HWo;
            pool2b_plane_relu(p + po, argmax + po, zi + co * HW, bias ? bias[co] : 0.0f, H, W);
        }
    }
}

/* dw, db (when non-NULL) += the reduced partial sums. */
static void reduce_into(float *dw, float *db, const float *part, long nw, int c_out) {
    for (long k = 0; k < nw; k++) dw[k] += convd_reduce16(part + k * 16);
    if (db)
        for (int co = 0; co < c_out; co++) db[co] += convd_reduce16(part + nw * 16 + co * 16);
}

void convd_backward_w(float *dw, float *db, const float *dz, const float *x, float *scratch,
                      int B, int c_in, int H, int W, int c_out, int x_nchw) {
    dw_image_fn img = dw_kernel();
    long nw = (long)c_out * c_in * 9;
    float *part = part_of(scratch, c_in, H, W);
    memset(part, 0, sizeof(float) * (size_t)(nw * 16 + 16L * c_out));
    for (int b = 0; b < B; b++) {
        pad_image(scratch, x, B, b, c_in, H, W, x_nchw);
        img(part, db ? part + nw * 16 : NULL, dz, scratch, B, b, c_in, H, W, c_out);
    }
    reduce_into(dw, db, part, nw, c_out);
}

void convd_backward_pool(float *dw, float *db, const float *dp, const float *p, const int *argmax,
                         const float *x, float *scratch, int B, int c_in, int H, int W, int c_out,
                         int x_nchw) {
    dw_image_fn img = dw_kernel();
    long nw = (long)c_out * c_in * 9, HW = (long)H * W, HWo = (long)(H / 2) * (W / 2);
    float *part = part_of(scratch, c_in, H, W), *dzi = part + nw * 16 + 16L * c_out;
    memset(part, 0, sizeof(float) * (size_t)(nw * 16 + 16L * c_out));
    for (int b = 0; b < B; b++) {
        pad_image(scratch, x, B, b, c_in, H, W, x_nchw);
        for (int co = 0; co < c_out; co++) {
            long po = ((long)co * B + b) * HWo;
            pool2b_unpool_plane(dzi + co * HW, dp + po, p + po, argmax + po, H, W);
        }
        img(part, db ? part + nw * 16 : NULL, dzi, scratch, 1, 0, c_in, H, W, c_out);
    }
    reduce_into(dw, db, part, nw, c_out);
}

/* ---- input gradient: the forward kernel on dz with the weights transposed and flipped ----
 * dx[ci, y, x] = Σ_co Σ_(ky,kx) w[co, ci, ky, kx] · dz[co, y − ky + 1, x − kx + 1], i.e. the
 * 3×3 zero-padded convolution of dz (c_out channels) with w'[ci, co, t] = w[co, ci, 8 − t]. */
long convd_scratch_size_x(int c_in, int c_out, int H, int W) {
    return 9L * c_in * c_out + convd_scratch_size(c_out, c_in, H, W);
}

void convd_backward_x(float *dx, const float *dz, const float *w, float *scratch, int B, int c_in,
                      int H, int W, int c_out) {
    float *wt = scratch;
    for (int ci = 0; ci < c_in; ci++)
        for (int co = 0; co < c_out; co++)
            for (int t = 0; t < 9; t++)
                wt[((long)ci * c_out + co) * 9 + t] = w[((long)co * c_in + ci) * 9 + 8 - t];
    convd_forward(dx, dz, wt, scratch + 9L * c_in * c_out, B, c_out, H, W, c_in, 0);
}
