/* layers.c — forward/backward pairs for the numerics core (see nn.h). Row-major float32;
 * the matrix products go to OpenBLAS, everything else is plain loops the compiler can
 * vectorise. Every backward accumulates. */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu.h"

/* Element-wise hot loops must vectorise: CLS_HOT_LOOP (cpu.h). */
#define HOT_LOOP CLS_HOT_LOOP

/* ---- dense ---- */

void dense_forward(float *out, const float *inp, const float *w, const float *b,
                   int B, int n_in, int n_out) {
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < B; i++) memcpy(out + (long)i * n_out, b, (size_t)n_out * sizeof(float));
        beta = 1.0f;
    }
    if (B == 1) {
        /* gemv skips gemm's packing, which dominates at batch 1 */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, n_in, 1.0f, w, n_in, inp, 1,
                    beta, out, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n_out, n_in, 1.0f,
                    inp, n_in, w, n_in, beta, out, n_out);
    }
}

HOT_LOOP void dense_backward(float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int B, int n_in, int n_out) {
    if (dinp) {
        if (B == 1)
            cblas_sgemv(CblasRowMajor, CblasTrans, n_out, n_in, 1.0f, w, n_in, dout, 1,
                        1.0f, dinp, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n_in, n_out, 1.0f,
                        dout, n_out, w, n_in, 1.0f, dinp, n_in);
    }
    if (dw) {
        if (B == 1)
            cblas_sger(CblasRowMajor, n_out, n_in, 1.0f, dout, 1, inp, 1, dw, n_in);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, B, 1.0f,
                        dout, n_out, inp, n_in, 1.0f, dw, n_in);
    }
    if (db) {
        for (int i = 0; i < B; i++) {
            const float *d = dout + (long)i * n_out;
            for (int o = 0; o < n_out; o++) db[o] += d[o];
        }
    }
}

/* ---- per-sample dense ---- */
/* One gemv per sample (each sample has its own matrix); the weight gradient is an outer
 * product written as axpy loops, which vectorise and skip sger's call overhead. */

void pdense_forward(float *out, const float *inp, const float *w, int B, int n_in, int n_out) {
    for (int b = 0; b < B; b++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, n_in, 1.0f, w + (long)b * n_out * n_in,
                    n_in, inp + (long)b * n_in, 1, 0.0f, out + (long)b * n_out, 1);
}

HOT_LOOP void pdense_backward(float *dinp, float *dw, const float *dout, const float *inp,
                     const float *w, int B, int n_in, int n_out) {
    for (int b = 0; b < B; b++) {
        const float *d = dout + (long)b * n_out;
        if (dinp)
            cblas_sgemv(CblasRowMajor, CblasTrans, n_out, n_in, 1.0f, w + (long)b * n_out * n_in,
                        n_in, d, 1, 1.0f, dinp + (long)b * n_in, 1);
        if (dw) {
            const float *x = inp + (long)b * n_in;
            float *dwb = dw + (long)b * n_out * n_in;
            for (int o = 0; o < n_out; o++) {
                float g = d[o];
                float *drow = dwb + (long)o * n_in;
                for (int i = 0; i < n_in; i++) drow[i] += g * x[i];
            }
        }
    }
}

/* ---- conv2d 3×3, pad 1 ---- */
/* col (c_in·9, H·W): row ci·9 + ky·3 + kx matches the layout of one output channel's
 * weights, so the convolution is one gemm per sample. */

long conv2d_col_size(int c_in, int H, int W) { return (long)c_in * 9 * H * W; }

/* Row r of col for kernel tap kx: r[x] = src[x + kx − 1], 0 outside the image. A plain
 * loop, kept from becoming memcpy/memset calls (the rows are 14–28 floats: a call per row
 * cost more than the copy). */
static inline void tap_row(float *restrict r, const float *restrict src, int kx, int W) {
    int x0 = kx == 0 ? 1 : 0, x1 = kx == 2 ? W - 1 : W;   /* valid x: 0 <= x+kx-1 < W */
    const float *s = src + (kx - 1);
    if (x0 > 0) r[0] = 0.0f;
    if (x1 < W) r[W - 1] = 0.0f;
    for (int x = x0; x < x1; x++) r[x] = s[x];
}

CLS_HOT_LOOP_OPTS("no-tree-loop-distribute-patterns") static void im2col3(float *col, const float *img, int c_in, int H, int W) {
    long HW = (long)H * W;
    for (int ci = 0; ci < c_in; ci++) {
        const float *in = img + ci * HW;
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                float *row = col + ((long)(ci * 3 + ky) * 3 + kx) * HW;
                for (int y = 0; y < H; y++) {
                    float *r = row + (long)y * W;
                    int iy = y + ky - 1;
                    if (iy < 0 || iy >= H) {
                        for (int x = 0; x < W; x++) r[x] = 0.0f;
                        continue;
                    }
                    tap_row(r, in + (long)iy * W, kx, W);
                }
            }
        }
    }
}

/* img += col2im(col): the adjoint of im2col3. */
HOT_LOOP static void col2im3_add(float *img, const float *col, int c_in, int H, int W) {
    long HW = (long)H * W;
    for (int ci = 0; ci < c_in; ci++) {
        float *in = img + ci * HW;
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                const float *row = col + ((long)(ci * 3 + ky) * 3 + kx) * HW;
                int x0 = kx == 0 ? 1 : 0;
                int x1 = kx == 2 ? W - 1 : W;
                for (int y = 0; y < H; y++) {
                    int iy = y + ky - 1;
                    if (iy < 0 || iy >= H) continue;
                    const float *r = row + (long)y * W;
                    float *dst = in + (long)iy * W + (kx - 1);
                    for (int x = x0; x < x1; x++) dst[x] += r[x];
                }
            }
        }
    }
}

/* Σ_p d[p] over n values with 16 partial sums (vectorises; the order of the additions is
 * fixed, so the result is deterministic). The same loop is built for 256- and 512-bit
 * vectors (lane k of the partial sums is the same sum at every width: same bits at every
 * level: test_convb compares the conv bias gradient across levels). */
static inline __attribute__((always_inline)) float sum16_body(const float *d, long n) {
    float acc[16] = {0};
    long p = 0;
    for (; p + 16 <= n; p += 16)
        for (int k = 0; k < 16; k++) acc[k] += d[p + k];
    for (; p < n; p++) acc[p & 15] += d[p];
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}
HOT_LOOP static float sum16_base(const float *d, long n) { return sum16_body(d, n); }
#if CLS_X86_SIMD
CLS_TARGET_AVX2 HOT_LOOP static float sum16_avx2(const float *d, long n) { return sum16_body(d, n); }
CLS_TARGET_AVX512 HOT_LOOP static float sum16_avx512(const float *d, long n) {
    return sum16_body(d, n);
}
#endif
float nn_sum16(const float *d, long n) {
#if CLS_X86_SIMD
    int isa = cpu_level();
    if (isa >= CPU_AVX512) return sum16_avx512(d, n);
    if (isa >= CPU_AVX2) return sum16_avx2(d, n);
#endif
    return sum16_base(d, n);
}

HOT_LOOP void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                             float *col, int B, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, K = (long)c_in * 9;
    for (int s = 0; s < B; s++) {
        float *o = out + (long)s * c_out * HW;
        float beta = 0.0f;
        if (b) {
            for (int co = 0; co < c_out; co++) {
                float bc = b[co];
                float *oc = o + co * HW;
                for (long p = 0; p < HW; p++) oc[p] = bc;
            }
            beta = 1.0f;
        }
        im2col3(col, inp + (long)s * c_in * HW, c_in, H, W);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c_out, (int)HW, (int)K, 1.0f,
                    w, (int)K, col, (int)HW, beta, o, (int)HW);
    }
}

void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, float *col, int B, int c_in, int H, int W, int c_out) {
    long HW = (long)H * W, K = (long)c_in * 9;
    float *dcol = col + conv2d_col_size(c_in, H, W);
    for (int s = 0; s < B; s++) {
        const float *d = dout + (long)s * c_out * HW;
        if (db)
            for (int co = 0; co < c_out; co++) db[co] += nn_sum16(d + co * HW, HW);
        if (dw) {
            im2col3(col, inp + (long)s * c_in * HW, c_in, H, W);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c_out, (int)K, (int)HW, 1.0f,
                        d, (int)HW, col, (int)HW, 1.0f, dw, (int)K);
        }
        if (dinp) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)HW, c_out, 1.0f,
                        w, (int)K, d, (int)HW, 0.0f, dcol, (int)HW);
            col2im3_add(dinp + (long)s * c_in * HW, dcol, c_in, H, W);
        }
    }
}

/* ---- max-pool 2×2 ---- */

/* Branch-free: the data-dependent branches of the obvious loop mispredicted about half the
 * time (40 % of a PAH training batch); selects vectorise across ox. The comparisons and their
 * order are the obvious loop's (window order, strict >, NaN wins), so outputs and argmax are
 * identical. no-trapping-math lets GCC if-convert the ordered compare; no result changes. */
CLS_HOT_LOOP_OPTS("no-trapping-math")
void maxpool2_forward(float *out, int *argmax, const float *inp, int B, int C, int H, int W) {
    int Ho = H / 2, Wo = W / 2;
    long planes = (long)B * C;
    for (long p = 0; p < planes; p++) {
        const float *in = inp + p * H * W;
        float *o = out + p * Ho * Wo;
        int *a = argmax + p * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            const float *restrict r0 = in + (long)2 * oy * W, *restrict r1 = r0 + W;
            float *restrict orow = o + (long)oy * Wo;
            int *restrict arow = a + (long)oy * Wo;
            const int base = 2 * oy * W;
            for (int ox = 0; ox < Wo; ox++) {
                const int i0 = base + 2 * ox;
                float best = r0[2 * ox];
                int bi = i0;
                float v = r0[2 * ox + 1];
                int take = (v > best) | (v != v);   /* NaN propagates, as in PyTorch */
                best = take ? v : best;
                bi = take ? i0 + 1 : bi;
                v = r1[2 * ox];
                take = (v > best) | (v != v);
                best = take ? v : best;
                bi = take ? i0 + W : bi;
                v = r1[2 * ox + 1];
                take = (v > best) | (v != v);
                best = take ? v : best;
                bi = take ? i0 + W + 1 : bi;
                orow[ox] = best;
                arow[ox] = bi;
            }
        }
    }
}

void maxpool2_backward(float *dinp, const float *dout, const int *argmax, int B, int C, int H, int W) {
    long n = (long)(H / 2) * (W / 2);
    long planes = (long)B * C;
    for (long p = 0; p < planes; p++) {
        float *din = dinp + p * H * W;
        const float *d = dout + p * n;
        const int *a = argmax + p * n;
        for (long i = 0; i < n; i++) din[a[i]] += d[i];
    }
}

/* ---- batch normalisation over (B, ·, HW) per channel, batch statistics (train mode) ---- */

void batchnorm_forward(float *out, float *xhat, float *mean, float *rstd, const float *inp,
                       const float *gamma, const float *beta, int B, int C, int HW, float eps) {
    double n = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double s = 0.0, s2 = 0.0;
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) s += x[i];
        }
        double mu = s / n;
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) s2 += (x[i] - mu) * (x[i] - mu);
        }
        float r = (float)(1.0 / sqrt(s2 / n + eps));
        mean[c] = (float)mu;
        rstd[c] = r;
        for (int b = 0; b < B; b++) {
            long o = ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                float xh = (inp[o + i] - (float)mu) * r;
                xhat[o + i] = xh;
                out[o + i] = gamma[c] * xh + beta[c];
            }
        }
    }
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *xhat, const float *rstd, const float *gamma,
                        int B, int C, int HW) {
    double n = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double sd = 0.0, sdx = 0.0;
        for (int b = 0; b < B; b++) {
            long o = ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                sd += dout[o + i];
                sdx += (double)dout[o + i] * xhat[o + i];
            }
        }
        if (dgamma) dgamma[c] += (float)sdx;
        if (dbeta) dbeta[c] += (float)sd;
        if (!dinp) continue;
        float k = gamma[c] * rstd[c], md = (float)(sd / n), mdx = (float)(sdx / n);
        for (int b = 0; b < B; b++) {
            long o = ((long)b * C + c) * HW;
            for (int i = 0; i < HW; i++) dinp[o + i] += k * (dout[o + i] - md - xhat[o + i] * mdx);
        }
    }
}

/* ---- global average pooling ---- */

void gap_forward(float *out, const float *inp, int B, int C, int HW) {
    long planes = (long)B * C;
    for (long p = 0; p < planes; p++) {
        const float *x = inp + p * HW;
        double s = 0.0;
        for (int i = 0; i < HW; i++) s += x[i];
        out[p] = (float)(s / HW);
    }
}

void gap_backward(float *dinp, const float *dout, int B, int C, int HW) {
    long planes = (long)B * C;
    for (long p = 0; p < planes; p++) {
        float g = dout[p] / (float)HW;
        float *d = dinp + p * HW;
        for (int i = 0; i < HW; i++) d[i] += g;
    }
}

/* ---- activations ---- */

#define LEAKY_SLOPE 0.01f
#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

static const char *act_names[] = {"identity", "relu", "leaky_relu", "gelu",
                                  "tanh", "sigmoid", "gaussian"};

int act_parse(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < (int)(sizeof act_names / sizeof act_names[0]); k++)
        if (strcmp(name, act_names[k]) == 0) return k;
    return -1;
}

const char *act_name(act_kind k) {
    if ((int)k < 0 || (int)k >= (int)(sizeof act_names / sizeof act_names[0])) return "?";
    return act_names[k];
}

static inline float sigmoidf_stable(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

HOT_LOOP void act_forward(act_kind k, float *out, const float *inp, long n) {
    switch (k) {
    case ACT_IDENTITY:
        if (out != inp) memmove(out, inp, (size_t)n * sizeof(float));
        break;
    case ACT_RELU:
        for (long i = 0; i < n; i++) {
            float v = inp[i];
            out[i] = v > 0.0f ? v : 0.0f;   /* not fmaxf: NaN must propagate */
        }
        break;
    case ACT_LEAKY_RELU:
        for (long i = 0; i < n; i++) {
            float v = inp[i];
            out[i] = (v > 0.0f ? 1.0f : LEAKY_SLOPE) * v;
        }
        break;
    case ACT_GELU:
        for (long i = 0; i < n; i++) {
            float x = inp[i];
            out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
        }
        break;
    case ACT_TANH:
        for (long i = 0; i < n; i++) out[i] = tanhf(inp[i]);
        break;
    case ACT_SIGMOID:
        for (long i = 0; i < n; i++) out[i] = sigmoidf_stable(inp[i]);
        break;
    case ACT_GAUSSIAN:
        for (long i = 0; i < n; i++) out[i] = expf(-inp[i] * inp[i]);
        break;
    }
}

/* Derivatives use out where that is cheaper; with out == NULL they recompute from inp.
 * relu/leaky fall back to out when inp is NULL (same sign); gelu/gaussian need inp. */
HOT_LOOP void act_backward(act_kind k, float *dinp, const float *dout, const float *inp,
                  const float *out, long n) {
    const float *x = inp ? inp : out;
    switch (k) {
    case ACT_IDENTITY:
        for (long i = 0; i < n; i++) dinp[i] += dout[i];
        break;
    case ACT_RELU:
        for (long i = 0; i < n; i++) {
            float g = dout[i];   /* unconditional loads let the loop vectorise */
            dinp[i] += x[i] > 0.0f ? g : 0.0f;
        }
        break;
    case ACT_LEAKY_RELU:
        for (long i = 0; i < n; i++) dinp[i] += (x[i] > 0.0f ? 1.0f : LEAKY_SLOPE) * dout[i];
        break;
    case ACT_GELU:
        for (long i = 0; i < n; i++) {
            float v = inp[i];
            float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));
            float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dinp[i] += dout[i] * (cdf + v * pdf);
        }
        break;
    case ACT_TANH:
        if (out)
            for (long i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
        else
            for (long i = 0; i < n; i++) {
                float t = tanhf(inp[i]);
                dinp[i] += dout[i] * (1.0f - t * t);
            }
        break;
    case ACT_SIGMOID:
        if (out)
            for (long i = 0; i < n; i++) dinp[i] += dout[i] * out[i] * (1.0f - out[i]);
        else
            for (long i = 0; i < n; i++) {
                float s = sigmoidf_stable(inp[i]);
                dinp[i] += dout[i] * s * (1.0f - s);
            }
        break;
    case ACT_GAUSSIAN:
        if (out)
            for (long i = 0; i < n; i++) dinp[i] += dout[i] * (-2.0f * inp[i] * out[i]);
        else
            for (long i = 0; i < n; i++) {
                float v = inp[i];
                dinp[i] += dout[i] * (-2.0f * v * expf(-v * v));
            }
        break;
    }
}

/* ---- losses ---- */

/* Row max m and log Σ_c exp(z_c/T − m) over unmasked classes. Callers form
 * (z_c/T − m) − logsum: the exact subtraction first keeps precision for huge logits. */
static void row_lse(const float *z, const int *mask, float invT, int C, float *m, float *logsum) {
    float mx = -INFINITY;
    for (int c = 0; c < C; c++)
        if (!mask || mask[c]) mx = fmaxf(mx, z[c] * invT);
    double s = 0.0;
    for (int c = 0; c < C; c++)
        if (!mask || mask[c]) s += exp((double)(z[c] * invT - mx));
    *m = mx;
    *logsum = (float)log(s);
}

float softmax_xent_forward(float *probs, const float *logits, const int *labels,
                           const int *mask, int B, int C) {
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (long)b * C;
        float mx, ls;
        row_lse(z, mask, 1.0f, C, &mx, &ls);
        int y = labels[b];
        /* a masked label has probability 0: infinite loss, which the caller sees */
        loss += (mask && !mask[y]) ? INFINITY : (double)ls - (double)(z[y] - mx);
        if (probs) {
            float *p = probs + (long)b * C;
            for (int c = 0; c < C; c++)
                p[c] = (!mask || mask[c]) ? expf((z[c] - mx) - ls) : 0.0f;
        }
    }
    return (float)(loss / B);
}

void softmax_xent_backward(float *dlogits, const float *probs, const int *labels,
                           const int *mask, float scale, int B, int C) {
    float s = scale / (float)B;
    for (int b = 0; b < B; b++) {
        const float *p = probs + (long)b * C;
        float *d = dlogits + (long)b * C;
        if (mask) {
            for (int c = 0; c < C; c++)
                if (mask[c]) d[c] += s * p[c];
            if (mask[labels[b]]) d[labels[b]] -= s;
        } else {
            for (int c = 0; c < C; c++) d[c] += s * p[c];
            d[labels[b]] -= s;
        }
    }
}

HOT_LOOP float mse_forward(const float *pred, const float *target, int B, int n, int half) {
    double acc = 0.0;
    long N = (long)B * n;
    for (long i = 0; i < N; i++) {
        double d = (double)pred[i] - (double)target[i];
        acc += d * d;
    }
    return half ? (float)(0.5 * acc / B) : (float)(acc / (double)N);
}

HOT_LOOP void mse_backward(float *dpred, const float *pred, const float *target, float scale,
                  int B, int n, int half) {
    long N = (long)B * n;
    float s = half ? scale / (float)B : 2.0f * scale / (float)N;
    for (long i = 0; i < N; i++) dpred[i] += s * (pred[i] - target[i]);
}

/* KL(p_s ‖ p_t) of one row; lps_c = (s_c/T − ms) − ls, likewise lpt. */
static double kd_row(const float *s, const float *t, const int *mask, float invT, int C,
                     float ms, float ls, float mt, float lt) {
    double kl = 0.0;
    for (int c = 0; c < C; c++) {
        if (mask && !mask[c]) continue;
        float lps = (s[c] * invT - ms) - ls, lpt = (t[c] * invT - mt) - lt;
        kl += (double)expf(lps) * ((double)lps - (double)lpt);
    }
    return kl;
}

/* Student first (KL(p_s ‖ p_t)), as the PAH code passes the student to kl_div; keep it. */
float kd_forward(const float *student, const float *teacher, const int *mask,
                 float T, int B, int C) {
    float invT = 1.0f / T;
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *s = student + (long)b * C, *t = teacher + (long)b * C;
        float ms, ls, mt, lt;
        row_lse(s, mask, invT, C, &ms, &ls);
        row_lse(t, mask, invT, C, &mt, &lt);
        total += kd_row(s, t, mask, invT, C, ms, ls, mt, lt);
    }
    return (float)((double)T * T * total / B);
}

/* d/dz_c Σ p(lp − lq) = p_c (lp_c − lq_c − KL); z = s/T gives the extra 1/T. */
void kd_backward(float *dstudent, const float *student, const float *teacher, const int *mask,
                 float T, float scale, int B, int C) {
    float invT = 1.0f / T;
    float g = scale * T / (float)B;   /* T² · (1/T) · scale / B */
    for (int b = 0; b < B; b++) {
        const float *s = student + (long)b * C, *t = teacher + (long)b * C;
        float *d = dstudent + (long)b * C;
        float ms, ls, mt, lt;
        row_lse(s, mask, invT, C, &ms, &ls);
        row_lse(t, mask, invT, C, &mt, &lt);
        float kl = (float)kd_row(s, t, mask, invT, C, ms, ls, mt, lt);
        for (int c = 0; c < C; c++) {
            if (mask && !mask[c]) continue;
            float lps = (s[c] * invT - ms) - ls, lpt = (t[c] * invT - mt) - lt;
            d[c] += g * expf(lps) * (lps - lpt - kl);
        }
    }
}

/* ---- bilinear resize, align_corners=False ---- */

/* PyTorch's source index: (dst + ½)·(in/out) − ½, clamped at 0; the upper neighbour is
 * clamped to the last pixel. */
static inline void bilinear_src(int dst, int n_in, float scale, int *i0, int *i1, float *l1) {
    float src = ((float)dst + 0.5f) * scale - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int i = (int)src;
    if (i > n_in - 1) i = n_in - 1;
    *i0 = i;
    *i1 = i < n_in - 1 ? i + 1 : i;
    *l1 = src - (float)i;
}

void resize_bilinear_forward(float *out, const float *inp, int B, int C, int Hi, int Wi,
                             int Ho, int Wo) {
    float sy = (float)Hi / (float)Ho, sx = (float)Wi / (float)Wo;
    long planes = (long)B * C;
    for (long p = 0; p < planes; p++) {
        const float *in = inp + p * Hi * Wi;
        float *o = out + p * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            int y0, y1;
            float ly;
            bilinear_src(oy, Hi, sy, &y0, &y1, &ly);
            const float *r0 = in + (long)y0 * Wi, *r1 = in + (long)y1 * Wi;
            for (int ox = 0; ox < Wo; ox++) {
                int x0, x1;
                float lx;
                bilinear_src(ox, Wi, sx, &x0, &x1, &lx);
                float top = (1.0f - lx) * r0[x0] + lx * r0[x1];
                float bot = (1.0f - lx) * r1[x0] + lx * r1[x1];
                o[oy * Wo + ox] = (1.0f - ly) * top + ly * bot;
            }
        }
    }
}

void resize_bilinear_backward(float *dinp, const float *dout, int B, int C, int Hi, int Wi,
                              int Ho, int Wo) {
    float sy = (float)Hi / (float)Ho, sx = (float)Wi / (float)Wo;
    long planes = (long)B * C;
    for (long p = 0; p < planes; p++) {
        float *din = dinp + p * Hi * Wi;
        const float *d = dout + p * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            int y0, y1;
            float ly;
            bilinear_src(oy, Hi, sy, &y0, &y1, &ly);
            float *r0 = din + (long)y0 * Wi, *r1 = din + (long)y1 * Wi;
            for (int ox = 0; ox < Wo; ox++) {
                int x0, x1;
                float lx;
                bilinear_src(ox, Wi, sx, &x0, &x1, &lx);
                float g = d[oy * Wo + ox];
                float gt = (1.0f - ly) * g, gb = ly * g;
                r0[x0] += (1.0f - lx) * gt;
                r0[x1] += lx * gt;
                r1[x0] += (1.0f - lx) * gb;
                r1[x1] += lx * gb;
            }
        }
    }
}

/* ---- gated linear paths ---- */

/* Folding the gates into one effective matrix first makes the batch cost that of a single
 * dense layer, whatever P is. */
void gated_linear_forward(float *out, float *weff, const float *inp, const float *w,
                          const float *c, int B, int P, int n_in, int n_out) {
    long n = (long)n_out * n_in;
    memset(weff, 0, (size_t)n * sizeof(float));
    for (int p = 0; p < P; p++) cblas_saxpy((int)n, c[p], w + p * n, 1, weff, 1);
    dense_forward(out, inp, weff, NULL, B, n_in, n_out);
}

void gated_linear_backward(float *dinp, float *dw, float *dc, float *g, const float *dout,
                           const float *inp, const float *w, const float *c,
                           const float *weff, int B, int P, int n_in, int n_out) {
    long n = (long)n_out * n_in;
    /* g = doutᵀ · inp = dL/dweff; then dL/dw_p = c_p g and dL/dc_p = <w_p, g>. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, B, 1.0f, dout, n_out,
                inp, n_in, 0.0f, g, n_in);
    for (int p = 0; p < P; p++) {
        if (dw) cblas_saxpy((int)n, c[p], g, 1, dw + p * n, 1);
        if (dc) dc[p] += cblas_sdot((int)n, w + p * n, 1, g, 1);
    }
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n_in, n_out, 1.0f, dout,
                    n_out, weff, n_in, 1.0f, dinp, n_in);
}

float gate_reg_forward(const float *c, int P, float a, float b) {
    double neg = 0.0, l1 = 0.0;
    for (int p = 0; p < P; p++) {
        if (c[p] < 0) neg -= c[p];
        l1 += fabsf(c[p]);
    }
    double r_nonneg = 10.0 * neg, r_l1 = 10.0 * 0.5 * (l1 - 1.0) * (l1 - 1.0);
    return (float)((a * r_nonneg + b * r_l1) / (a + b));
}

void gate_reg_backward(float *dc, const float *c, float scale, int P, float a, float b) {
    double l1 = 0.0;
    for (int p = 0; p < P; p++) l1 += fabsf(c[p]);
    float wn = scale * a / (a + b), wl = scale * b / (a + b);
    float dl1 = (float)(10.0 * (l1 - 1.0));
    for (int p = 0; p < P; p++) {
        float sgn = (float)((c[p] > 0) - (c[p] < 0));
        dc[p] += wl * dl1 * sgn + (c[p] < 0 ? -10.0f * wn : 0.0f);
    }
}
