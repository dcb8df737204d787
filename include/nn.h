/* nn.h — the numerics core: layers as forward/backward pairs of free functions.
 *
 * Conventions (llm.c style): float32, row-major throughout; outputs first, sizes last;
 * inputs are const; every backward ACCUMULATES (+=) into its gradient buffers, so the
 * caller zeroes gradients once per step; a NULL gradient pointer means "not needed".
 * Shapes are written (B, n) = B rows of n floats. */
#ifndef CLS_NN_H
#define CLS_NN_H

/* ---- dense: out = inp · wᵀ + b ---- */
/* out (B, n_out); inp (B, n_in); w (n_out, n_in); b (n_out) or NULL. */
void dense_forward(float *out, const float *inp, const float *w, const float *b,
                   int B, int n_in, int n_out);
/* dinp (B, n_in) or NULL; dw (n_out, n_in); db (n_out) or NULL; dout (B, n_out). */
void dense_backward(float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int B, int n_in, int n_out);

/* ---- per-sample dense with generated weights: out[b] = w[b] · inp[b] ---- */
/* out (B, n_out); inp (B, n_in); w (B, n_out, n_in) — one weight matrix per sample. */
void pdense_forward(float *out, const float *inp, const float *w, int B, int n_in, int n_out);
/* dinp (B, n_in) or NULL; dw (B, n_out, n_in) or NULL (gradient of the generated weights). */
void pdense_backward(float *dinp, float *dw, const float *dout, const float *inp,
                     const float *w, int B, int n_in, int n_out);

/* ---- conv2d, 3×3 kernel, stride 1, zero padding 1 (same size) ---- */
/* out (B, c_out, H, W); inp (B, c_in, H, W); w (c_out, c_in, 3, 3); b (c_out) or NULL.
 * col is scratch of conv2d_col_size(c_in, H, W) floats (im2col for one sample). */
long conv2d_col_size(int c_in, int H, int W);
void conv2d_forward(float *out, const float *inp, const float *w, const float *b, float *col,
                    int B, int c_in, int H, int W, int c_out);
/* dinp (B, c_in, H, W) or NULL; dw (c_out, c_in, 3, 3); db (c_out) or NULL.
 * col is scratch of 2 * conv2d_col_size(c_in, H, W) floats. */
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, float *col, int B, int c_in, int H, int W, int c_out);

/* ---- max-pool 2×2, stride 2 (H, W even) ---- */
/* out (B, C, H/2, W/2); argmax (B, C, H/2, W/2): flat index into the sample-channel plane. */
void maxpool2_forward(float *out, int *argmax, const float *inp, int B, int C, int H, int W);
/* dinp (B, C, H, W) accumulates dout at the argmax positions. */
void maxpool2_backward(float *dinp, const float *dout, const int *argmax, int B, int C, int H, int W);

/* ---- batch normalisation, training mode (batch statistics always; no running averages) ----
 * Per channel c over the B·HW values: out = gamma·(x − mean)/sqrt(var + eps) + beta with the
 * biased variance (PyTorch BatchNorm2d in train mode, eps 1e-5 there). inp/out/xhat
 * (B, C, HW); mean, rstd (C) receive the statistics (kept for the backward). */
void batchnorm_forward(float *out, float *xhat, float *mean, float *rstd, const float *inp,
                       const float *gamma, const float *beta, int B, int C, int HW, float eps);
/* dinp (B, C, HW) or NULL, dgamma/dbeta (C) or NULL: all accumulate; the gradient flows
 * through the batch statistics. xhat, rstd from the forward. */
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *xhat, const float *rstd, const float *gamma,
                        int B, int C, int HW);

/* ---- global average pooling: out (B, C) = mean over the HW values of each plane ---- */
void gap_forward(float *out, const float *inp, int B, int C, int HW);
/* dinp (B, C, HW) += dout / HW. */
void gap_backward(float *dinp, const float *dout, int B, int C, int HW);

/* ---- element-wise activations over n values ---- */
typedef enum {
    ACT_IDENTITY = 0,
    ACT_RELU,
    ACT_LEAKY_RELU,   /* slope 0.01 for x < 0 (PyTorch default) */
    ACT_GELU,         /* exact: x·Φ(x) (PyTorch nn.GELU default) */
    ACT_TANH,
    ACT_SIGMOID,
    ACT_GAUSSIAN,     /* exp(−x²) */
} act_kind;
/* Parses "relu", "leaky_relu", "gelu", "tanh", "sigmoid", "gaussian", "identity";
 * returns -1 for anything else. */
int act_parse(const char *name);
const char *act_name(act_kind k);
/* out may alias inp. */
void act_forward(act_kind k, float *out, const float *inp, long n);
/* dinp += dout · f'(inp); out = f(inp) is given too (cheaper derivatives for tanh/sigmoid/
 * gaussian). dinp may alias dout only when dinp is zero beforehand is NOT allowed: distinct. */
void act_backward(act_kind k, float *dinp, const float *dout, const float *inp,
                  const float *out, long n);

/* ---- losses: each returns the mean loss over the batch ---- */
/* Softmax cross-entropy. logits (B, C); labels (B) in [0, C). probs (B, C) receives the
 * softmax (may be NULL). If mask is non-NULL (C ints of 0/1), classes with mask 0 are
 * excluded (task-incremental heads): logits there are treated as −∞. */
float softmax_xent_forward(float *probs, const float *logits, const int *labels,
                           const int *mask, int B, int C);
/* dlogits += scale · (probs − onehot) / B (0 on masked classes). probs from forward. */
void softmax_xent_backward(float *dlogits, const float *probs, const int *labels,
                           const int *mask, float scale, int B, int C);

/* Mean squared error: mean over batch of ½·Σ_out (pred − target)²  when half != 0,
 * or mean over all B·n elements of (pred − target)² when half == 0 (PyTorch MSELoss). */
float mse_forward(const float *pred, const float *target, int B, int n, int half);
/* Σ_p d[p] over n values with 16 partial sums in a fixed order (deterministic; vectorises):
 * the bias gradients of the convolutions (src/nn/layers.c). */
float nn_sum16(const float *d, long n);
/* dpred += scale · d/dpred of the same loss. */
void mse_backward(float *dpred, const float *pred, const float *target, float scale,
                  int B, int n, int half);

/* Temperature-scaled distillation, student first (as the PAH code calls kl_div):
 * KD = T² · mean_b Σ_c p_s log(p_s / p_t),  p_s = softmax(s/T), p_t = softmax(t/T).
 * student, teacher (B, C). mask as for softmax_xent (NULL = all classes). */
float kd_forward(const float *student, const float *teacher, const int *mask,
                 float T, int B, int C);
/* dstudent += scale · dKD/dstudent (teacher is treated as constant). */
void kd_backward(float *dstudent, const float *student, const float *teacher, const int *mask,
                 float T, float scale, int B, int C);

/* ---- bilinear resize (PyTorch F.interpolate, mode='bilinear', align_corners=False) ---- */
/* out (B, C, Ho, Wo); inp (B, C, Hi, Wi). */
void resize_bilinear_forward(float *out, const float *inp, int B, int C, int Hi, int Wi,
                             int Ho, int Wo);
/* dinp (B, C, Hi, Wi) += adjoint of the resize applied to dout (B, C, Ho, Wo). */
void resize_bilinear_backward(float *dinp, const float *dout, int B, int C, int Hi, int Wi,
                              int Ho, int Wo);

/* ---- gated linear paths: out = Σ_p c_p · inp · w_pᵀ (Proca et al. 2024, docs/spec.md §4.4) ---- */
/* out (B, n_out); inp (B, n_in); w (P, n_out, n_in); c (P) scalar gates.
 * weff (n_out, n_in) receives Σ_p c_p w_p (kept for the backward). */
void gated_linear_forward(float *out, float *weff, const float *inp, const float *w,
                          const float *c, int B, int P, int n_in, int n_out);
/* dinp (B, n_in) or NULL; dw (P, n_out, n_in) or NULL; dc (P) or NULL; all accumulate.
 * g (n_out, n_in) is scratch (receives doutᵀ·inp, the gradient of weff); weff from forward. */
void gated_linear_backward(float *dinp, float *dw, float *dc, float *g, const float *dout,
                           const float *inp, const float *w, const float *c,
                           const float *weff, int B, int P, int n_in, int n_out);

/* Gate regulariser of the gated network (authors' lcs/joint_learning.py):
 * R(c) = (a·R_nonneg + b·R_L1) / (a + b), R_nonneg = 10·Σ_p max(−c_p, 0),
 * R_L1 = 10·½(‖c‖₁ − 1)²; weights a = 1, b = 10 (docs/spec.md §4.4). a + b must be > 0.
 * Subgradient 0 at the kinks (c_p = 0). */
float gate_reg_forward(const float *c, int P, float a, float b);
/* dc += scale · dR/dc. */
void gate_reg_backward(float *dc, const float *c, float scale, int P, float a, float b);

/* ---- batched conv 3×3 / max-pool 2×2 in the channel-major batch layout (conv_batch.c) ----
 * CBHW: the plane of channel c of image b lies at (c·B + b)·H·W (a channel's values over the
 * batch are one row), so each pass is one sgemm over the whole batch. x_nchw / p_nchw say
 * whether that argument is in NCHW (plane b·C + c) instead. col buffers hold col_cap floats;
 * with col_cap >= convb_col_size(c_in, B, H, W) the whole batch is one sgemm, otherwise it is
 * cut into chunks of convb_chunk(...) images. */
long convb_col_size(int c_in, int B, int H, int W);
int convb_chunk(int c_in, int B, int H, int W, long col_cap);
/* z (c_out, B·H·W) CBHW = conv(x) WITHOUT bias; col receives the im2col matrix. Returns 1
 * when col then holds the whole batch (reusable by convb_backward: col_valid = 1). */
int convb_forward(float *z, const float *x, const float *w, float *col, long col_cap,
                  int B, int c_in, int H, int W, int c_out, int x_nchw);
/* z (C, B·HW) += bias[c] per channel row. */
void convb_add_bias(float *z, const float *bias, int B, int C, int HW);
/* From dz (c_out, B·H·W) CBHW: dw (c_out, c_in, 3, 3) and db (c_out) or NULL accumulate;
 * dx (x's layout) or NULL accumulates the input gradient. col: the forward's im2col when
 * col_valid, else scratch (recomputed from x); dcol scratch of col_cap floats. */
void convb_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                    const float *w, float *col, int col_valid, float *dcol, long col_cap,
                    int B, int c_in, int H, int W, int c_out, int x_nchw);
/* p, argmax (C, B, H/2, W/2) CBHW (or NCHW when p_nchw) = max-pool 2×2 of z (C, B, H, W) CBHW,
 * with, when relu, bias (C, or NULL) added and ReLU applied first (fused: the values and argmax
 * of act_forward(ACT_RELU, z + b) then maxpool2_forward); without relu bias is ignored.
 * argmax: index into the (c, b) plane; comparisons as maxpool2_forward's (NaN wins). */
void pool2b_forward(float *p, int *argmax, const float *z, const float *bias, int relu, int B,
                    int C, int H, int W, int p_nchw);
/* dz (CBHW) += dp at the argmax positions; with p (the pooled forward output) non-NULL only
 * where p > 0 (the fused ReLU's derivative). */
void pool2b_backward(float *dz, const float *dp, const float *p, const int *argmax, int B, int C,
                     int H, int W, int p_nchw);
/* The same gradient written, not accumulated: dz = memset 0 + pool2b_backward, bit for bit,
 * in one pass (every element of dz is written; it needs no clearing first). */
void pool2b_backward_set(float *dz, const float *dp, const float *p, const int *argmax, int B,
                         int C, int H, int W, int p_nchw);

/* One (channel, image) plane of pool2b_forward with relu / of pool2b_backward_set with p
 * (the same kernels and bits; argmax indexes the plane). */
void pool2b_plane_relu(float *p, int *argmax, const float *z, float bias, int H, int W);
void pool2b_unpool_plane(float *dz, const float *dp, const float *p, const int *argmax, int H,
                         int W);

/* ---- direct 3×3 convolution for few input channels (conv_direct.c): PAH's conv 1 ----
 * The contract of convb_forward (z CBHW, no bias; x NCHW when x_nchw, else CBHW) and of the
 * weight and bias gradients of convb_backward (dw, db accumulate; db may be NULL), without
 * im2col / sgemm; the same bits at every ISA level (fused multiply-add chains, 16 partial
 * sums per weight and per bias). scratch: convd_scratch_size(c_in, c_out, H, W) floats. */
long convd_scratch_size(int c_in, int c_out, int H, int W);
void convd_forward(float *z, const float *x, const float *w, float *scratch, int B, int c_in,
                   int H, int W, int c_out, int x_nchw);
void convd_backward_w(float *dw, float *db, const float *dz, const float *x, float *scratch,
                      int B, int c_in, int H, int W, int c_out, int x_nchw);
/* dx (c_in, B, H, W) CBHW = the input gradient from dz (c_out, B, H, W) CBHW, WRITTEN (not
 * accumulated): convd_forward of dz with the transposed, flipped weights. scratch:
 * convd_scratch_size_x(c_in, c_out, H, W) floats. */
long convd_scratch_size_x(int c_in, int c_out, int H, int W);
void convd_backward_x(float *dx, const float *dz, const float *w, float *scratch, int B, int c_in,
                      int H, int W, int c_out);
/* Fused with the ReLU max-pool, per image while its planes are in cache: p, argmax
 * (c_out, B, H/2, W/2) CBHW (NCHW when p_nchw) = pool2b_forward(relu, bias) of
 * convd_forward's z, and (p CBHW) the
 * gradients of convd_backward_w from dz = pool2b_backward_set(dp, p, argmax) — bit for bit,
 * without the (c_out, B, H, W) tensors z and dz. */
void convd_forward_pool(float *p, int *argmax, const float *x, const float *w, const float *bias,
                        float *scratch, int B, int c_in, int H, int W, int c_out, int x_nchw,
                        int p_nchw);
void convd_backward_pool(float *dw, float *db, const float *dp, const float *p, const int *argmax,
                         const float *x, float *scratch, int B, int c_in, int H, int W, int c_out,
                         int x_nchw);

#endif
